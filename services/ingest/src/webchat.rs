//! The built-in web chat: a page where a person picks a tenant and chats with its bot.
//!
//! It is a channel like WhatsApp: the visitor's messages go through ingest → bus → processor →
//! bus → dispatcher, whose web chat sender appends the reply to the session's transcript, which
//! the page polls. A session id is a random UUID that only the visitor's browser knows; it is the
//! visitor's identity (a username-only contact, with no phone number).
//!
//! * `GET /` — the page.
//! * `GET /webchat/{tenant}` — the tenant's public name, if it offers web chat (404 otherwise).
//!   There is deliberately no list of tenants: who a deployment serves is not public.
//! * `POST /webchat/{tenant}/sessions` — a new session.
//! * `POST /webchat/{tenant}/sessions/{session}/messages` — `{"text": "…"}`; 202.
//! * `GET /webchat/{tenant}/sessions/{session}/messages?after=N` — the transcript after `N`.
//!
//! Sessions expire `limits.webchat_session_hours` after they open (404 `session_expired`; the
//! page opens a new one), and opening sessions and sending messages are rate-limited per
//! address, session and tenant (429 with `Retry-After`; see `throttle`).

use actix_web::{HttpRequest, HttpResponse, web};
use atiende_domain::{
    Author, Channel, Contact, ContactIdentity, ConversationId, InboundMessage, Locale,
    MessageContent, ProviderMessageId, Tenant, UserId, i18n::SystemText,
};
use atiende_platform::{ApiError, http::header_str, trace::TraceParent};
use serde::Deserialize;
use serde_json::json;

use crate::Ingest;

/// The page, compiled into the binary.
const PAGE: &str = include_str!("webchat.html");

pub(crate) fn configure(cfg: &mut web::ServiceConfig, max_chars: usize) {
    cfg.route("/", web::get().to(page))
        .route("/webchat/{tenant}", web::get().to(tenant))
        .route("/webchat/{tenant}/sessions", web::post().to(create_session))
        .service(
            web::resource("/webchat/{tenant}/sessions/{session}/messages")
                // A public route: the body is buffered only up to what `limits.max_webchat_chars`
                // characters can take in JSON (six bytes for an escaped one), not the admin
                // API's upload limit.
                .app_data(atiende_platform::http::json_config(
                    max_chars.saturating_mul(6).saturating_add(1024),
                ))
                .route(web::post().to(post_message))
                .route(web::get().to(list_messages)),
        );
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        // The page loads nothing from elsewhere.
        .insert_header((
            "content-security-policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'",
        ))
        .body(PAGE)
}

async fn tenant(
    ingest: web::Data<Ingest>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = webchat_tenant(&ingest, &id).await?;
    // The page greets the visitor and suggests what to ask before anything is sent (nothing is
    // stored until the visitor writes).
    let welcome = tenant.welcome_message.clone().unwrap_or_else(|| {
        SystemText::Welcome {
            company: &tenant.company_name,
        }
        .render(tenant.language)
    });
    // The tenant's own questions when it wrote some (what its customers ask), else general ones.
    let general: &[&str] = match tenant.language {
        Locale::Es => &[
            "¿Cuál es el horario?",
            "¿Hacen entregas a domicilio?",
            "¿Qué formas de pago aceptan?",
            "Quiero una cotización",
            "Quiero hablar con una persona",
        ],
        Locale::En => &[
            "What are your opening hours?",
            "Do you deliver?",
            "How can I pay?",
            "I'd like a quote",
            "I'd like to talk to a person",
        ],
    };
    let suggestions: Vec<&str> = if tenant.assistant.suggestions.is_empty() {
        general.to_vec()
    } else {
        tenant
            .assistant
            .suggestions
            .iter()
            .map(String::as_str)
            .collect()
    };
    Ok(HttpResponse::Ok().json(json!({
        "id": tenant.id,
        "name": tenant.name,
        "language": tenant.language,
        "welcome": welcome,
        "suggestions": suggestions,
    })))
}

async fn webchat_tenant(ingest: &Ingest, id: &str) -> Result<std::sync::Arc<Tenant>, ApiError> {
    let tenant = ingest.tenant(id).await?;
    if !tenant.webchat_enabled {
        return Err(ApiError::NotFound {
            code: "channel_not_configured",
            message: format!("tenant {} does not offer web chat", tenant.id),
        });
    }
    Ok(tenant)
}

/// A session id is a UUID; anything else cannot exist.
fn session_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::NotFound {
            code: "unknown_session",
            message: "unknown web chat session".to_owned(),
        })
}

/// The session `raw` names, if it exists for `tenant` and has not expired
/// (`limits.webchat_session_hours` after it opened): an expired one answers 404
/// `session_expired`, and the page opens a new one.
async fn existing_session(ingest: &Ingest, tenant: &Tenant, raw: &str) -> Result<String, ApiError> {
    let session = session_id(raw)?;
    let Some(started) = ingest.webchat.session_started(&tenant.id, &session).await? else {
        return Err(ApiError::NotFound {
            code: "unknown_session",
            message: "unknown web chat session".to_owned(),
        });
    };
    let lifetime = chrono::Duration::hours(
        i64::try_from(ingest.limits.webchat_session_hours).unwrap_or(i64::MAX / 3_600_000),
    );
    if ingest.clock.now() >= started + lifetime {
        return Err(ApiError::NotFound {
            code: "session_expired",
            message: "this web chat session has expired; open a new one".to_owned(),
        });
    }
    Ok(session)
}

async fn create_session(
    ingest: web::Data<Ingest>,
    tenant: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tenant = webchat_tenant(&ingest, &tenant).await?;
    ingest.throttle.new_session(&request)?;
    let session = uuid::Uuid::new_v4().to_string();
    ingest
        .webchat
        .create_session(&tenant.id, &session, ingest.clock.now())
        .await?;
    Ok(HttpResponse::Created()
        .json(json!({ "session": session, "tenant": tenant.id, "name": tenant.name })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    text: String,
}

async fn post_message(
    ingest: web::Data<Ingest>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    body: web::Json<NewMessage>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, session) = path.into_inner();
    let tenant = webchat_tenant(&ingest, &tenant).await?;
    let session = existing_session(&ingest, &tenant, &session).await?;
    ingest
        .throttle
        .message(&request, tenant.id.as_str(), &session)?;
    let text = body.into_inner().text.trim().to_owned();
    if text.is_empty() {
        return Err(ApiError::BadRequest {
            code: "validation",
            message: "the message is empty".to_owned(),
        });
    }
    if text.chars().count() > ingest.limits.max_webchat_chars {
        return Err(ApiError::PayloadTooLarge {
            limit: ingest.limits.max_webchat_chars,
        });
    }
    let now = ingest.clock.now();
    let user = UserId::parse(&session).map_err(|e| ApiError::bad_body(e.to_string()))?;
    let identity = ContactIdentity::User(user);
    let message = InboundMessage {
        conversation: ConversationId::new(&tenant.id, Channel::WebChat, &identity.key()),
        tenant: tenant.id.clone(),
        channel: Channel::WebChat,
        provider_message_id: ProviderMessageId::parse(format!("wc-{}", uuid::Uuid::new_v4()))
            .map_err(|e| ApiError::bad_body(e.to_string()))?,
        contact: Contact {
            identity,
            phone: None,
            profile_name: None,
            user_id: None,
        },
        business_address: None,
        content: MessageContent::Text { body: text.clone() },
        sent_at: Some(now),
        received_at: now,
        in_reply_to: None,
        referral: None,
    };
    let seq = ingest
        .webchat
        .append(&tenant.id, &session, Author::Customer, &text, now)
        .await?;
    let trace = TraceParent::continue_or_start(header_str(&request, "traceparent"));
    ingest.accept(message, &trace.to_string()).await?;
    Ok(HttpResponse::Accepted().json(json!({ "seq": seq })))
}

#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: i64,
}

async fn list_messages(
    ingest: web::Data<Ingest>,
    path: web::Path<(String, String)>,
    query: web::Query<After>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, session) = path.into_inner();
    let tenant = webchat_tenant(&ingest, &tenant).await?;
    let session = existing_session(&ingest, &tenant, &session).await?;
    let entries = ingest
        .webchat
        .list_after(&tenant.id, &session, query.after, 200)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "messages": entries })))
}
