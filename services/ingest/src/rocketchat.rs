//! Rocket.Chat webhooks: what the tenant's agents did in Rocket.Chat (protocols.md §4.2, §4.3).
//!
//! One URL takes both of Rocket.Chat's webhooks. A call carrying `X-RocketChat-Livechat-Token`
//! is the Omnichannel webhook, checked against the tenant's livechat secret; any other is the
//! outgoing webhook, checked against the `token` in its body. Rocket.Chat signs neither, so a
//! wrong token is refused (403) before anything is read into a conversation. Rooms are traced
//! back to conversations through the links atiende recorded when it opened them; a room that
//! belongs to no conversation of this tenant is refused too.

use actix_web::{HttpRequest, HttpResponse, web};
use atiende_adapter_rocketchat::webhook::{self, Parsed, WebhookError};
use atiende_domain::DeskKind;
use atiende_platform::{
    ApiError,
    http::{header_str, read_body},
};
use secrecy::ExposeSecret;
use serde_json::json;
use tracing::debug;

use crate::Ingest;

/// `POST /webhooks/rocketchat/{tenant}`.
pub(crate) async fn webhook(
    ingest: web::Data<Ingest>,
    tenant: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let tenant = ingest.tenant(&tenant).await?;
    let rc = tenant
        .rocketchat
        .as_ref()
        .ok_or_else(|| ApiError::NotFound {
            code: "desk_not_configured",
            message: format!("tenant {} has no Rocket.Chat desk", tenant.id),
        })?;
    let body = read_body(&request, payload, ingest.limits.max_webhook_bytes).await?;
    let parsed = match header_str(&request, "x-rocketchat-livechat-token") {
        Some(given) => {
            let expected = rc.livechat_secret.as_ref().map(|s| s.expose_secret());
            if !webhook::token_matches(Some(given), expected.unwrap_or_default()) {
                return Err(crate::invalid_signature(WebhookError::BadToken));
            }
            webhook::parse_livechat(&body)
        }
        None => webhook::parse_outgoing(&body, rc.outgoing_token.expose_secret()),
    }
    .map_err(|e| match e {
        WebhookError::BadToken => crate::invalid_signature(e),
        WebhookError::Malformed(_) => ApiError::bad_body(e.to_string()),
    })?;
    let actions = match parsed {
        Parsed::Actions(actions) => actions,
        Parsed::Ignored(why) => {
            debug!(tenant = %tenant.id, why, "Rocket.Chat webhook ignored.");
            // An empty 200: a JSON body with `text` would be posted back into the room.
            return Ok(HttpResponse::Ok().finish());
        }
    };
    let mut applied = 0;
    for action in actions {
        // A room atiende did not open (another livechat, the integration's "Send Test"): the
        // token was right, so it is the tenant's own Rocket.Chat talking, not an attacker.
        // Rocket.Chat retries anything but a 200 ten times, so it is acknowledged and ignored.
        let Some(conversation) = ingest
            .desk_links
            .conversation_for(&tenant.id, DeskKind::RocketChat, &action.room)
            .await?
        else {
            debug!(tenant = %tenant.id, "Rocket.Chat event for a room atiende did not open; ignored.");
            continue;
        };
        applied += 1;
        ingest
            .desk_event(
                &tenant,
                &request,
                conversation,
                DeskKind::RocketChat,
                (action.id, action.agent, action.action),
            )
            .await?;
    }
    if applied == 0 {
        return Ok(HttpResponse::Ok().finish());
    }
    Ok(HttpResponse::Ok().json(json!({ "success": true })))
}
