//! Chatwoot webhooks: what the tenant's agents did at Chatwoot (protocols.md §3.3).
//!
//! The webhook must be signed (`X-Chatwoot-Signature`, Chatwoot ≥ 4.11.2) with the tenant's
//! webhook secret; unsigned ones are refused, since anyone could otherwise speak to customers in
//! the tenant's name. The conversation Chatwoot names must belong to the tenant in the URL.

use actix_web::{HttpRequest, HttpResponse, web};
use atiende_adapter_chatwoot::{signature, webhook};
use atiende_domain::{ConversationId, DeskKind};
use atiende_platform::{
    ApiError,
    http::{header_str, read_body},
};
use secrecy::ExposeSecret;
use serde_json::json;
use tracing::debug;

use crate::Ingest;

/// `POST /webhooks/chatwoot/{tenant}`.
pub(crate) async fn webhook(
    ingest: web::Data<Ingest>,
    tenant: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let tenant = ingest.tenant(&tenant).await?;
    let chatwoot = tenant.chatwoot.as_ref().ok_or_else(|| ApiError::NotFound {
        code: "desk_not_configured",
        message: format!("tenant {} has no Chatwoot desk", tenant.id),
    })?;
    let body = read_body(&request, payload, ingest.limits.max_webhook_bytes).await?;
    signature::verify(
        chatwoot.webhook_secret.expose_secret(),
        &body,
        header_str(&request, "x-chatwoot-signature"),
        header_str(&request, "x-chatwoot-timestamp"),
        ingest.clock.now().timestamp(),
    )
    .map_err(crate::invalid_signature)?;
    let parsed = webhook::parse(&body, header_str(&request, "x-chatwoot-delivery"))
        .map_err(|e| ApiError::bad_body(e.to_string()))?;
    let action = match parsed {
        webhook::Parsed::Action(action) => action,
        webhook::Parsed::Ignored(why) => {
            debug!(tenant = %tenant.id, why, "Chatwoot webhook ignored.");
            return Ok(HttpResponse::Ok().json(json!({ "ignored": why })));
        }
    };
    let conversation = ConversationId::parse(&action.conversation)
        .ok()
        .filter(|c| c.tenant() == tenant.id)
        .ok_or_else(|| ApiError::Forbidden {
            code: "foreign_conversation",
            message: "the conversation does not belong to this tenant".to_owned(),
        })?;
    ingest
        .desk_event(
            &tenant,
            &request,
            conversation,
            DeskKind::Chatwoot,
            (action.id, action.agent, action.action),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "accepted": true })))
}
