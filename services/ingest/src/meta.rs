//! Meta webhooks: the verification handshake and notifications.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use atiende_adapter_meta::{parse_notification, signature};
use atiende_platform::{
    ApiError,
    http::{header_str, read_body},
    trace::TraceParent,
};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::Ingest;

fn no_meta(tenant: &atiende_domain::TenantId) -> ApiError {
    ApiError::NotFound {
        code: "channel_not_configured",
        message: format!("tenant {tenant} has no Meta channel"),
    }
}

/// `GET /webhooks/meta/{tenant}?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
pub(crate) async fn verify(
    ingest: web::Data<Ingest>,
    tenant: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let tenant = ingest.tenant(&tenant).await?;
    let meta = tenant.meta.as_ref().ok_or_else(|| no_meta(&tenant.id))?;
    match signature::verify_subscription(
        query.get("hub.mode").map(String::as_str),
        query.get("hub.verify_token").map(String::as_str),
        query.get("hub.challenge").map(String::as_str),
        meta.verify_token.expose_secret(),
    ) {
        Some(challenge) => Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(challenge.to_owned())),
        None => Err(ApiError::Forbidden {
            code: "invalid_verify_token",
            message: "the verify token does not match".to_owned(),
        }),
    }
}

/// `POST /webhooks/meta/{tenant}`: signed with `X-Hub-Signature-256` over the raw body.
pub(crate) async fn notification(
    ingest: web::Data<Ingest>,
    tenant: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let tenant = ingest.tenant(&tenant).await?;
    let meta = tenant.meta.as_ref().ok_or_else(|| no_meta(&tenant.id))?;
    let body = read_body(&request, payload, ingest.limits.max_webhook_bytes).await?;
    signature::verify(
        meta.app_secret.expose_secret(),
        &body,
        header_str(&request, "x-hub-signature-256"),
    )
    .map_err(crate::invalid_signature)?;
    let events = parse_notification(&body, &tenant.id, &meta.phone_number_id, ingest.clock.now())
        .map_err(|e| ApiError::bad_body(e.to_string()))?;
    ingest.park_skipped(&tenant.id, &events.skipped).await;
    let trace = TraceParent::continue_or_start(header_str(&request, "traceparent")).to_string();
    let (mut accepted, mut duplicates) = (0, 0);
    // If one of several messages fails transiently, the 503 makes Meta resend the whole batch;
    // the ones already accepted are then dropped as duplicates.
    for message in events.messages {
        match ingest.accept(message, &trace).await? {
            atiende_app::ingest::Acceptance::Accepted => accepted += 1,
            atiende_app::ingest::Acceptance::Duplicate => duplicates += 1,
        }
    }
    for status in &events.statuses {
        ingest.gateway.record_status(status).await?;
    }
    Ok(HttpResponse::Ok().json(json!({
        "accepted": accepted,
        "duplicates": duplicates,
        "statuses": events.statuses.len(),
    })))
}
