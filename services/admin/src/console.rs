//! The built-in agent console: a page and a small API for a tenant's agents.
//!
//! An agent signs in with the key an operator created for them (`POST /admin/tenants/{id}/agents`);
//! the key travels as an `HttpOnly`, `SameSite=Strict` cookie (or a bearer token for scripts), and
//! it alone decides the tenant: there is no tenant in the console's URLs to tamper with, and a
//! conversation of another tenant answers 403.
//!
//! # Routes
//! * `GET /console` — the page.
//! * `POST /console/api/session` (`{"key"}`) signs in; `DELETE` signs out; `GET …/me` (the
//!   agent, and the tenant's canned replies).
//! * `GET /console/api/conversations` — the queue: waiting for a person first, then owned.
//! * `GET /console/api/history` — the latest resolved conversations.
//! * `GET /console/api/conversations/{cid}` — transcript, the handoff packet on top (reason,
//!   summary, sentiment, intent, lead fields), the customer panel, and the bot's decision traces.
//! * `POST /console/api/conversations/{cid}/take|reply|resolve` (`reply`: `{"text"}`) — queued
//!   for the processor; 202.
//! * `GET /console/api/conversations/{cid}/media/{key}` — a file of the conversation (what the
//!   customer sent, kept by the processor; what an agent sent), by the key its turn names.
//! * `POST /console/api/conversations/{cid}/files?name=…&caption=…` — sends the customer a file:
//!   the body is the file, its `Content-Type` one WhatsApp takes (JPEG/PNG, PDF and office
//!   documents, MP4, audio); 202, 413 beyond WhatsApp's limit for the kind or `media.max_bytes`,
//!   400 for another type.
//! * `GET /console/api/events` — server-sent events: `changed` whenever the queue or any
//!   conversation in it changes, so the page refreshes without polling the API itself. The
//!   stream watches the tenant's desk revision (one small read every half second, on SQLite an
//!   indexed query, on Firestore one document), never the queue itself.

use std::time::Duration;

use actix_web::{
    FromRequest, HttpRequest, HttpResponse,
    cookie::{Cookie, SameSite},
    http::header::{self, ContentDisposition, DispositionParam, DispositionType},
    web,
};
use atiende_domain::{Channel, ContactIdentity, Conversation, DeskAction, HandoffPacket};
use atiende_platform::{ApiError, http::header_str};
use atiende_ports::{AgentAccount, FetchedMedia};
use serde::Deserialize;
use serde_json::json;

use crate::Admin;

type Data = web::Data<Admin>;

const COOKIE: &str = "atiende_agent";
const PAGE: &str = include_str!("console.html");
/// How often the event stream looks for changes.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// A comment line this often keeps proxies from closing an idle stream.
const HEARTBEAT_EVERY: u32 = 30;

/// The largest JSON body the console takes: a sign-in key or an agent's reply (WhatsApp caps a
/// message at 4,096 characters).
const CONSOLE_JSON_LIMIT: usize = 64 * 1024;

pub(crate) fn configure(data: Data, cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/console").route(web::get().to(page)))
        .service(
            web::scope("/console/api")
                .app_data(data)
                // Public routes (sign-in takes no credential): a key or a reply is small, so no
                // request is buffered up to the admin API's upload limit.
                .app_data(atiende_platform::http::json_config(CONSOLE_JSON_LIMIT))
                .route("/session", web::post().to(sign_in))
                .route("/session", web::delete().to(sign_out))
                .route("/me", web::get().to(me))
                .route("/conversations", web::get().to(queue))
                .route("/history", web::get().to(history))
                .route("/conversations/{cid}", web::get().to(conversation))
                .route("/conversations/{cid}/take", web::post().to(take))
                .route("/conversations/{cid}/reply", web::post().to(reply))
                .route("/conversations/{cid}/resolve", web::post().to(resolve))
                .route("/conversations/{cid}/files", web::post().to(send_file))
                .route("/conversations/{cid}/media/{key}", web::get().to(media))
                .route("/events", web::get().to(events)),
        );
}

/// A signed-in agent, from the session cookie or a bearer key.
pub(crate) struct SignedIn(AgentAccount);

impl FromRequest for SignedIn {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let key = request
            .cookie(COOKIE)
            .map(|c| c.value().to_owned())
            .or_else(|| {
                header_str(request, "authorization")
                    .and_then(|h| h.strip_prefix("Bearer "))
                    .map(str::to_owned)
            });
        let admin = request.app_data::<Data>().cloned();
        Box::pin(async move {
            let admin =
                admin.ok_or_else(|| ApiError::Internal("the console is not registered".into()))?;
            let unauthorized = || ApiError::Unauthorized("sign in with your agent key".to_owned());
            let key = key.ok_or_else(unauthorized)?;
            admin
                .console
                .sign_in(&key)
                .await?
                .map(SignedIn)
                .ok_or_else(unauthorized)
        })
    }
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'"))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(PAGE)
}

#[derive(Deserialize)]
struct SignIn {
    key: String,
}

fn whoami(account: &AgentAccount) -> serde_json::Value {
    json!({
        "tenant": account.tenant,
        "agent": { "id": account.agent.id, "name": account.agent.name },
    })
}

async fn sign_in(
    request: HttpRequest,
    admin: Data,
    body: web::Json<SignIn>,
) -> Result<HttpResponse, ApiError> {
    let Some(account) = admin.console.sign_in(&body.key).await? else {
        return Err(ApiError::Unauthorized("unknown agent key".to_owned()));
    };
    let cookie = Cookie::build(COOKIE, body.key.clone())
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(request.connection_info().scheme() == "https")
        .finish();
    tracing::info!(tenant = %account.tenant, agent = %account.agent.id, "Agent signed in.");
    Ok(HttpResponse::Ok().cookie(cookie).json(whoami(&account)))
}

async fn sign_out() -> HttpResponse {
    let mut cookie = Cookie::build(COOKIE, "").path("/console").finish();
    cookie.make_removal();
    HttpResponse::NoContent().cookie(cookie).finish()
}

/// The agent, and the tenant's ready answers.
async fn me(SignedIn(account): SignedIn, admin: Data) -> Result<HttpResponse, ApiError> {
    let tenant = admin.tenants.get(account.tenant.as_str()).await?;
    let mut view = whoami(&account);
    view["canned_replies"] = json!(tenant.canned_replies);
    view["company"] = json!(tenant.company_name);
    Ok(HttpResponse::Ok().json(view))
}

/// How the console names a customer: their WhatsApp profile name, else their number with most
/// digits hidden; a web chat visitor is a visitor (their id means nothing to a person).
fn label(c: &Conversation) -> String {
    if let Some(name) = c
        .contact
        .profile_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
    {
        return name.to_owned();
    }
    match (&c.contact.phone, &c.contact.identity) {
        (Some(phone), _) | (None, ContactIdentity::Phone(phone)) => phone.masked().to_string(),
        (None, ContactIdentity::User(user)) if c.channel == Channel::WebChat => {
            let id = user.as_str();
            format!("web ·{}", &id[id.len().saturating_sub(4)..])
        }
        (None, ContactIdentity::User(user)) => user.masked().to_string(),
    }
}

/// What the queue shows of a conversation.
fn summary(c: &Conversation) -> serde_json::Value {
    let last = c.turns.last();
    json!({
        "id": c.id,
        "state": c.state,
        "channel": c.channel,
        "label": label(c),
        "contact": c.contact.display_name(),
        "ticket": c.ticket,
        "reason": c.handoff_reason,
        "agent": c.agent.as_ref().map(|a| &a.name),
        "updated_at": c.updated_at,
        "last": last.map(|t| json!({ "author": t.author, "text": t.text })),
    })
}

async fn queue(SignedIn(account): SignedIn, admin: Data) -> Result<HttpResponse, ApiError> {
    let conversations = admin.console.queue(&account).await?;
    let views: Vec<_> = conversations.iter().map(summary).collect();
    Ok(HttpResponse::Ok().json(json!({ "conversations": views })))
}

async fn conversation(
    SignedIn(account): SignedIn,
    admin: Data,
    cid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = admin.console.conversation(&account, &cid).await?;
    Ok(HttpResponse::Ok().json(json!({
        "summary": summary(&c),
        "locale": c.locale,
        "turns": c.turns,
        "packet": packet(&c),
        "customer": {
            "label": label(&c),
            "name": c.contact.profile_name,
            "phone": c.contact.phone,
            "channel": c.channel,
            "since": c.created_at,
            "referral": c.referral,
            "lead": c.lead,
            "csat": c.csat,
            "earlier": c.earlier_episodes(),
        },
        "traces": c.traces,
    })))
}

/// What the agent needs on top when taking over: the handoff packet's reading of the
/// conversation as it stands now — why, a summary (the model's rolling one, or the customer's
/// latest informative messages), the mood and its trend, what they want, the lead fields.
fn packet(c: &Conversation) -> serde_json::Value {
    let (summary, summary_by) = HandoffPacket::summary_of(c);
    json!({
        "version": atiende_domain::desk::PACKET_VERSION,
        "reason": c.handoff_reason,
        "ticket": c.ticket,
        "summary": summary,
        "summary_by": summary_by,
        "sentiment": c.latest_sentiment(),
        "sentiment_trend": c.sentiment_trend(),
        "intent": c.latest_intent(),
        "lead": c.lead,
        "handoff_at": c.handoff_at,
    })
}

/// Recently resolved conversations, for looking back (newest first).
async fn history(SignedIn(account): SignedIn, admin: Data) -> Result<HttpResponse, ApiError> {
    let conversations = admin.console.resolved(&account, 100).await?;
    let views: Vec<_> = conversations.iter().map(summary).collect();
    Ok(HttpResponse::Ok().json(json!({ "conversations": views })))
}

async fn act(
    account: &AgentAccount,
    admin: &Admin,
    cid: &str,
    action: DeskAction,
) -> Result<HttpResponse, ApiError> {
    let event = admin.console.act(account, cid, action).await?;
    Ok(HttpResponse::Accepted().json(json!({ "event": event })))
}

async fn take(
    SignedIn(account): SignedIn,
    admin: Data,
    cid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&account, &admin, &cid, DeskAction::Take).await
}

#[derive(Deserialize)]
struct Reply {
    text: String,
}

async fn reply(
    SignedIn(account): SignedIn,
    admin: Data,
    cid: web::Path<String>,
    body: web::Json<Reply>,
) -> Result<HttpResponse, ApiError> {
    let text = body.into_inner().text;
    act(&account, &admin, &cid, DeskAction::Reply { text }).await
}

async fn resolve(
    SignedIn(account): SignedIn,
    admin: Data,
    cid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(&account, &admin, &cid, DeskAction::Resolve).await
}

#[derive(Deserialize)]
struct FileQuery {
    name: Option<String>,
    #[serde(default)]
    caption: String,
}

async fn send_file(
    SignedIn(account): SignedIn,
    admin: Data,
    cid: web::Path<String>,
    query: web::Query<FileQuery>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let content_type = header_str(&request, "content-type")
        .unwrap_or_default()
        .to_owned();
    let bytes = atiende_platform::http::read_body(&request, payload, admin.max_file_bytes).await?;
    let FileQuery { name, caption } = query.into_inner();
    let file = FetchedMedia {
        content_type,
        bytes: bytes.to_vec(),
    };
    let event = admin
        .console
        .send_file(&account, &cid, file, name, caption)
        .await?;
    Ok(HttpResponse::Accepted().json(json!({ "event": event })))
}

/// Types a browser may show in the page; anything else downloads (an HTML or SVG file a
/// customer sent never runs in the console's origin, and the sandbox policy holds if it did).
fn shown_inline(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    [
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "application/pdf",
    ]
    .iter()
    .any(|t| ct.starts_with(t))
        || ct.starts_with("audio/")
        || ct.starts_with("video/")
}

async fn media(
    SignedIn(account): SignedIn,
    admin: Data,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cid, key) = path.into_inner();
    let (named, file) = admin.console.media(&account, &cid, &key).await?;
    let disposition = ContentDisposition {
        disposition: if shown_inline(&file.content_type) {
            DispositionType::Inline
        } else {
            DispositionType::Attachment
        },
        parameters: named
            .filename
            .map(|name| vec![DispositionParam::Filename(name)])
            .unwrap_or_default(),
    };
    Ok(HttpResponse::Ok()
        .content_type(file.content_type)
        .insert_header(disposition)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .body(file.bytes))
}

/// The tenant's desk revision: it changes whenever anything the page shows may have. One small
/// read per tick, however long the queue: the page itself re-reads the queue only on a change.
async fn fingerprint(admin: &Admin, account: &AgentAccount) -> Option<String> {
    admin.console.revision(account).await.ok()
}

async fn events(SignedIn(account): SignedIn, admin: Data) -> HttpResponse {
    // The store is the source of truth and may be written by another process (the processor
    // running as its own service), so the stream watches it rather than an in-process signal.
    let state = (admin, account, None::<String>, 0u32);
    let stream = futures_util::stream::unfold(state, |(admin, account, last, ticks)| async move {
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            let ticks = ticks.wrapping_add(1);
            let now = fingerprint(&admin, &account).await;
            if now.is_some() && now != last {
                let chunk = web::Bytes::from_static(b"event: changed\ndata: {}\n\n");
                return Some((
                    Ok::<_, actix_web::Error>(chunk),
                    (admin, account, now, ticks),
                ));
            }
            if ticks % HEARTBEAT_EVERY == 0 {
                let chunk = web::Bytes::from_static(b": keep-alive\n\n");
                return Some((Ok(chunk), (admin, account, last, ticks)));
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream)
}
