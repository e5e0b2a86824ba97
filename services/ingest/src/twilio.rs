//! Twilio webhooks: messages and status callbacks.

use actix_web::{HttpRequest, HttpResponse, web};
use atiende_adapter_twilio::{SignedForm, TwilioEvent};
use atiende_platform::{
    ApiError,
    http::{header_str, read_body},
    trace::TraceParent,
};
use secrecy::ExposeSecret;
use tracing::debug;

use crate::Ingest;

/// The acknowledgement Twilio expects: an empty TwiML document (an empty 200 body makes Twilio
/// report error 11200).
fn empty_twiml() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#)
}

pub(crate) async fn webhook(
    ingest: web::Data<Ingest>,
    tenant: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let tenant = ingest.tenant(&tenant).await?;
    let Some(twilio) = &tenant.twilio else {
        return Err(ApiError::NotFound {
            code: "channel_not_configured",
            message: format!("tenant {} has no Twilio channel", tenant.id),
        });
    };
    let body = read_body(&request, payload, ingest.limits.max_webhook_bytes).await?;
    if header_str(&request, "content-type")
        .is_some_and(|ct| !ct.starts_with("application/x-www-form-urlencoded"))
    {
        return Err(ApiError::UnsupportedMediaType(
            "Twilio webhooks are application/x-www-form-urlencoded".to_owned(),
        ));
    }
    if atiende_adapter_twilio::webhook::too_many_fields(&body) {
        return Err(ApiError::BadRequest {
            code: "invalid_body",
            message: format!(
                "a Twilio webhook has fewer than {} fields",
                atiende_adapter_twilio::webhook::MAX_FIELDS
            ),
        });
    }
    // Twilio signed the URL it was configured with: rebuild it from the public base URL, since
    // behind a proxy the request's own scheme and host differ.
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.path(), |p| p.as_str());
    let url = format!("{}{path}", ingest.public_url);
    let form = SignedForm::parse(&body)
        .verify(
            twilio.auth_token.expose_secret(),
            &url,
            header_str(&request, "x-twilio-signature"),
        )
        .map_err(crate::invalid_signature)?;
    if form
        .account_sid()
        .is_some_and(|sid| sid != twilio.account_sid)
    {
        return Err(ApiError::Forbidden {
            code: "account_mismatch",
            message: "the webhook is for another Twilio account".to_owned(),
        });
    }
    let event = form
        .into_event(&tenant.id, ingest.clock.now())
        .map_err(|e| ApiError::bad_body(e.to_string()))?;
    match event {
        TwilioEvent::Message(message) => {
            let trace = TraceParent::continue_or_start(header_str(&request, "traceparent"));
            ingest.accept(*message, &trace.to_string()).await?;
        }
        TwilioEvent::Status(status) => {
            ingest.gateway.record_status(&status).await?;
        }
        TwilioEvent::Ignored(what) => {
            debug!(tenant = %tenant.id, %what, "Acknowledged a Twilio callback atiende does not use.");
        }
    }
    Ok(empty_twiml())
}
