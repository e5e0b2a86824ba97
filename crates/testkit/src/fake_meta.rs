//! A fake of Meta's Graph API for WhatsApp messages (protocols.md §2.4).
//!
//! `POST /{version}/{phone_number_id}/messages` with a bearer token and a JSON body. It enforces
//! `messaging_product: "whatsapp"`, a `to`, and a `text` (body ≤ 4096 characters) or `template`
//! (name and language) payload, answers with Meta's success shape, and uses Graph error envelopes
//! for failures — 190 for a bad token, 131047 for free-form messages to recipients whose window was
//! closed with [`FakeMeta::close_window`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

/// Meta's rules for an interactive message (reply buttons in protocols.md §2.4; the list's
/// limits from Meta's interactive-list reference, not re-read there): a body of at most 1,024
/// characters; a list's button at most 20 characters and 1–10 rows in all, each with an id, a
/// title of at most 24 characters and a description of at most 72; at most 3 reply buttons of at
/// most 20 characters.
fn check_interactive(interactive: &Value) -> Result<(), &'static str> {
    let chars = |v: &Value| v.as_str().map(|s| s.chars().count());
    if !chars(&interactive["body"]["text"]).is_some_and(|n| (1..=1024).contains(&n)) {
        return Err("Param interactive['body']['text'] is required, at most 1024 characters.");
    }
    match interactive["type"].as_str() {
        Some("list") => {
            let action = &interactive["action"];
            if !chars(&action["button"]).is_some_and(|n| (1..=20).contains(&n)) {
                return Err("Param action['button'] is required, at most 20 characters.");
            }
            let rows: Vec<&Value> = action["sections"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|section| section["rows"].as_array().into_iter().flatten())
                .collect();
            if rows.is_empty() || rows.len() > 10 {
                return Err("A list has 1 to 10 rows.");
            }
            for row in rows {
                if row["id"].as_str().is_none_or(str::is_empty)
                    || !chars(&row["title"]).is_some_and(|n| (1..=24).contains(&n))
                    || chars(&row["description"]).is_some_and(|n| n > 72)
                {
                    return Err(
                        "Each row needs an id, a title of at most 24 characters and a description of at most 72.",
                    );
                }
            }
            Ok(())
        }
        Some("button") => {
            let buttons = interactive["action"]["buttons"]
                .as_array()
                .map_or(0, Vec::len);
            if !(1..=3).contains(&buttons) {
                return Err("Reply buttons are 1 to 3.");
            }
            Ok(())
        }
        _ => Err("Unsupported interactive type."),
    }
}

/// A message the fake accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaMessage {
    /// The id it was given (`wamid.…`).
    pub id: String,
    /// The sending phone number id.
    pub phone_number_id: String,
    /// The whole request body.
    pub body: Value,
}

impl MetaMessage {
    /// `to`.
    pub fn to(&self) -> &str {
        self.body["to"].as_str().unwrap_or_default()
    }

    /// The text body of a text message.
    pub fn text(&self) -> Option<&str> {
        self.body["text"]["body"].as_str()
    }

    /// The link of a media message (`image`, `document`, `audio`, `video`).
    pub fn media_link(&self) -> Option<&str> {
        let kind = self.body["type"].as_str()?;
        self.body[kind]["link"].as_str()
    }

    /// The template name of a template message.
    pub fn template(&self) -> Option<&str> {
        self.body["template"]["name"].as_str()
    }
}

#[derive(Default)]
struct State {
    tokens: HashMap<String, String>,
    sent: Vec<MetaMessage>,
    failures: VecDeque<(u16, i64)>,
    closed_windows: HashSet<String>,
    /// Media by id: (content type, bytes).
    media: HashMap<String, (String, Vec<u8>)>,
}

/// The fake Graph API.
pub struct FakeMeta {
    base_url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeMeta {
    /// Starts the fake; `numbers` are `(phone_number_id, access_token)` pairs it accepts.
    pub fn start(numbers: &[(&str, &str)]) -> Self {
        let state = Arc::new(Mutex::new(State {
            tokens: numbers
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect(),
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let (base_url, handle) = crate::spawn_server(move |cfg| {
            cfg.app_data(web::Data::from(Arc::clone(&shared)))
                .route("/{version}/{phone}/messages", web::post().to(send))
                .route("/media-download/{id}", web::get().to(download_media))
                .route("/{version}/{id}", web::get().to(media_url));
        });
        Self {
            base_url,
            state,
            handle,
        }
    }

    /// Holds `bytes` as the media `id` a customer sent: `GET /{version}/{id}` gives its download
    /// URL, which serves the bytes, both with any of the fake's access tokens (§2, media).
    pub fn add_media(&self, id: &str, content_type: &str, bytes: &[u8]) {
        self.lock()
            .media
            .insert(id.to_owned(), (content_type.to_owned(), bytes.to_vec()));
    }

    /// The base URL to configure as `META_GRAPH_BASE`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Messages accepted so far.
    pub fn sent(&self) -> Vec<MetaMessage> {
        self.lock().sent.clone()
    }

    /// Makes the next `n` requests fail with HTTP `status` and Graph error `code`.
    pub fn fail_next(&self, n: usize, status: u16, code: i64) {
        let mut state = self.lock();
        for _ in 0..n {
            state.failures.push_back((status, code));
        }
    }

    /// Answers free-form messages to `to` (digits) with 131047.
    pub fn close_window(&self, to: &str) {
        self.lock().closed_windows.insert(to.to_owned());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for FakeMeta {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn graph_error(status: u16, code: i64, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default()).json(
        json!({
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "error_data": { "messaging_product": "whatsapp", "details": message },
                "fbtrace_id": "AbCdEf"
            }
        }),
    )
}

/// Whether the request carries one of the fake's access tokens.
fn bearer_known(request: &HttpRequest, state: &State) -> bool {
    request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| state.tokens.values().any(|t| t == token))
}

/// `GET /{version}/{media-id}`: the media's metadata and a short-lived download URL.
async fn media_url(
    state: web::Data<Mutex<State>>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> HttpResponse {
    let (_, id) = path.into_inner();
    let state = state.lock().unwrap_or_else(PoisonError::into_inner);
    if !bearer_known(&request, &state) {
        return HttpResponse::Unauthorized()
            .json(json!({"error": {"code": 190, "message": "Invalid OAuth access token"}}));
    }
    let Some((content_type, bytes)) = state.media.get(&id) else {
        return HttpResponse::NotFound()
            .json(json!({"error": {"code": 100, "message": "Unsupported get request"}}));
    };
    let host = request.connection_info().host().to_owned();
    HttpResponse::Ok().json(json!({
        "messaging_product": "whatsapp",
        "url": format!("http://{host}/media-download/{id}"),
        "mime_type": content_type,
        "file_size": bytes.len(),
        "id": id,
    }))
}

/// The download URL: the bytes, with the same bearer token.
async fn download_media(
    state: web::Data<Mutex<State>>,
    path: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let state = state.lock().unwrap_or_else(PoisonError::into_inner);
    if !bearer_known(&request, &state) {
        return HttpResponse::Unauthorized().finish();
    }
    match state.media.get(&path.into_inner()) {
        Some((content_type, bytes)) => HttpResponse::Ok()
            .content_type(content_type.as_str())
            .body(bytes.clone()),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn send(
    state: web::Data<Mutex<State>>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (_version, phone) = path.into_inner();
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if token.is_none() || state.tokens.get(&phone).map(String::as_str) != token {
        return graph_error(401, 190, "Invalid OAuth access token.");
    }
    if let Some((status, code)) = state.failures.pop_front() {
        return graph_error(status, code, "scripted failure");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(400, 100, "Invalid JSON");
    };
    if body["messaging_product"] != "whatsapp" {
        return graph_error(400, 100, "The parameter messaging_product is required.");
    }
    let Some(to) = body["to"].as_str().map(str::to_owned) else {
        return graph_error(400, 100, "The parameter to is required.");
    };
    match body["type"].as_str() {
        Some("text") => {
            let Some(text) = body["text"]["body"].as_str() else {
                return graph_error(400, 100, "The parameter text['body'] is required.");
            };
            if text.chars().count() > 4096 {
                return graph_error(
                    400,
                    100,
                    "Param text['body'] must be at most 4096 characters long.",
                );
            }
            if state.closed_windows.contains(&to) {
                return graph_error(400, 131_047, "Re-engagement message");
            }
        }
        Some(kind @ ("image" | "document" | "audio" | "video")) => {
            let media = &body[kind];
            if media["link"].as_str().is_none() && media["id"].as_str().is_none() {
                return graph_error(400, 100, "A media message needs a link or an id.");
            }
            if media["caption"]
                .as_str()
                .is_some_and(|c| c.chars().count() > 1024)
            {
                return graph_error(
                    400,
                    100,
                    "Param caption must be at most 1024 characters long.",
                );
            }
            if state.closed_windows.contains(&to) {
                return graph_error(400, 131_047, "Re-engagement message");
            }
        }
        Some("interactive") => {
            if let Err(why) = check_interactive(&body["interactive"]) {
                return graph_error(400, 131_009, why);
            }
            if state.closed_windows.contains(&to) {
                return graph_error(400, 131_047, "Re-engagement message");
            }
        }
        Some("template") => {
            if body["template"]["name"].as_str().is_none()
                || body["template"]["language"]["code"].as_str().is_none()
            {
                return graph_error(400, 132_000, "Template name and language are required.");
            }
        }
        _ => return graph_error(400, 131_051, "Unsupported message type"),
    }
    let id = format!("wamid.{}", uuid::Uuid::new_v4().simple());
    state.sent.push(MetaMessage {
        id: id.clone(),
        phone_number_id: phone,
        body,
    });
    HttpResponse::Ok().json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to }],
        "messages": [{ "id": id }],
    }))
}
