//! A fake of Chatwoot's Application API for an API-channel inbox (protocols.md §3.1, §3.4).
//!
//! Every route checks the `api_access_token` header and the account id. Contacts are unique by
//! `identifier` (a second create is 422, as in Chatwoot, and must go through search and
//! `contact_inboxes`); conversations get increasing display ids and keep their messages,
//! labels (replaced as a whole), priority, status and custom attributes for tests to inspect.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

/// A conversation as the fake holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatwootConversation {
    /// The display id.
    pub id: u64,
    /// The contact.
    pub contact_id: u64,
    /// `open`, `resolved`, `pending`, `snoozed`.
    pub status: String,
    /// Custom attributes.
    pub custom_attributes: serde_json::Map<String, Value>,
    /// Messages: `content`, `message_type`, `private`, and `attachments` when files came.
    pub messages: Vec<Value>,
    /// Labels.
    pub labels: Vec<String>,
    /// Priority.
    pub priority: Option<String>,
}

#[derive(Default)]
struct State {
    account: u64,
    token: String,
    contacts: Vec<(u64, String)>,
    conversations: BTreeMap<u64, ChatwootConversation>,
    failures: VecDeque<u16>,
}

/// The fake Chatwoot.
pub struct FakeChatwoot {
    base_url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

type Data = web::Data<Mutex<State>>;

impl FakeChatwoot {
    /// Starts the fake for `account`, accepting `token`.
    pub fn start(account: u64, token: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            account,
            token: token.to_owned(),
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let (base_url, handle) = crate::spawn_server(move |cfg| {
            cfg.app_data(web::Data::from(Arc::clone(&shared)))
                .route(
                    "/api/v1/accounts/{a}/contacts",
                    web::post().to(create_contact),
                )
                .route(
                    "/api/v1/accounts/{a}/contacts/search",
                    web::get().to(search),
                )
                .route(
                    "/api/v1/accounts/{a}/contacts/{id}/contact_inboxes",
                    web::post().to(contact_inbox),
                )
                .route(
                    "/api/v1/accounts/{a}/conversations",
                    web::post().to(create_conversation),
                )
                .route(
                    "/api/v1/accounts/{a}/conversations/{id}/{what}",
                    web::post().to(conversation_action),
                );
        });
        Self {
            base_url,
            state,
            handle,
        }
    }

    /// The base URL to configure as the tenant's `chatwoot.base_url`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The conversations so far, by display id.
    pub fn conversations(&self) -> Vec<ChatwootConversation> {
        self.lock().conversations.values().cloned().collect()
    }

    /// Makes the next `n` requests fail with HTTP `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut state = self.lock();
        state.failures.extend(std::iter::repeat_n(status, n));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for FakeChatwoot {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// The state, after the token, account and scripted-failure checks.
fn checked<'a>(
    state: &'a Data,
    request: &HttpRequest,
) -> Result<std::sync::MutexGuard<'a, State>, Box<HttpResponse>> {
    let mut guard = state.lock().unwrap_or_else(PoisonError::into_inner);
    let token = request
        .headers()
        .get("api_access_token")
        .and_then(|v| v.to_str().ok());
    if token != Some(guard.token.as_str()) {
        return Err(Box::new(HttpResponse::Unauthorized().json(
            json!({ "errors": ["You need to sign in or sign up before continuing."] }),
        )));
    }
    let account = request
        .match_info()
        .get("a")
        .and_then(|a| a.parse::<u64>().ok());
    if account != Some(guard.account) {
        return Err(Box::new(
            HttpResponse::NotFound().json(json!({ "error": "Resource could not be found" })),
        ));
    }
    if let Some(status) = guard.failures.pop_front() {
        return Err(Box::new(
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
                .json(json!({ "error": "scripted failure" })),
        ));
    }
    Ok(guard)
}

fn source_id(contact: u64) -> String {
    format!("source-{contact}")
}

async fn create_contact(state: Data, request: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    let mut s = match checked(&state, &request) {
        Ok(s) => s,
        Err(response) => return *response,
    };
    let identifier = body["identifier"].as_str().unwrap_or_default().to_owned();
    if body["inbox_id"].as_u64().is_none() {
        return HttpResponse::UnprocessableEntity().json(json!({ "message": "Inbox is required" }));
    }
    if !identifier.is_empty() && s.contacts.iter().any(|(_, i)| *i == identifier) {
        return HttpResponse::UnprocessableEntity()
            .json(json!({ "message": "Identifier has already been taken" }));
    }
    let id = s.contacts.len() as u64 + 1;
    s.contacts.push((id, identifier));
    HttpResponse::Ok().json(json!({ "payload": {
        "contact": { "id": id, "name": body["name"], "phone_number": body["phone_number"] },
        "contact_inbox": { "inbox_id": body["inbox_id"], "source_id": source_id(id) },
    }}))
}

async fn search(
    state: Data,
    request: HttpRequest,
    query: web::Query<BTreeMap<String, String>>,
) -> HttpResponse {
    let s = match checked(&state, &request) {
        Ok(s) => s,
        Err(response) => return *response,
    };
    let q = query.get("q").cloned().unwrap_or_default();
    let found: Vec<Value> = s
        .contacts
        .iter()
        .filter(|(_, identifier)| *identifier == q)
        .map(|(id, identifier)| json!({ "id": id, "identifier": identifier }))
        .collect();
    HttpResponse::Ok().json(json!({ "meta": { "count": found.len() }, "payload": found }))
}

async fn contact_inbox(
    state: Data,
    request: HttpRequest,
    path: web::Path<(u64, u64)>,
) -> HttpResponse {
    let s = match checked(&state, &request) {
        Ok(s) => s,
        Err(response) => return *response,
    };
    let (_, id) = path.into_inner();
    if !s.contacts.iter().any(|(c, _)| *c == id) {
        return HttpResponse::NotFound().json(json!({ "error": "Resource could not be found" }));
    }
    HttpResponse::Ok().json(json!({ "source_id": source_id(id), "inbox": { "id": 1 } }))
}

async fn create_conversation(
    state: Data,
    request: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let mut s = match checked(&state, &request) {
        Ok(s) => s,
        Err(response) => return *response,
    };
    let contact = body["contact_id"].as_u64().unwrap_or_default();
    if body["source_id"].as_str() != Some(source_id(contact).as_str()) {
        return HttpResponse::UnprocessableEntity()
            .json(json!({ "message": "source_id does not belong to the contact" }));
    }
    let id = s.conversations.len() as u64 + 1;
    s.conversations.insert(
        id,
        ChatwootConversation {
            id,
            contact_id: contact,
            status: body["status"].as_str().unwrap_or("pending").to_owned(),
            custom_attributes: body["custom_attributes"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..ChatwootConversation::default()
        },
    );
    HttpResponse::Ok()
        .json(json!({ "id": id, "inbox_id": body["inbox_id"], "status": body["status"] }))
}

/// A message body as Chatwoot takes it: JSON, or `multipart/form-data` with `content`,
/// `message_type`, `private` and files under `attachments[]` (protocols.md §3.4). Files are kept
/// as `{"file_name", "content_type", "data_base64"}`.
async fn read_body(request: &HttpRequest, payload: web::Payload) -> Result<Value, String> {
    let multipart = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    if !multipart {
        let bytes = payload
            .to_bytes()
            .await
            .map_err(|e| format!("unreadable body: {e}"))?;
        return serde_json::from_slice(&bytes).map_err(|e| format!("invalid JSON: {e}"));
    }
    let mut form = actix_multipart::Multipart::new(request.headers(), payload);
    let mut body = json!({});
    let mut attachments = Vec::new();
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| format!("invalid multipart: {e}"))?;
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let content_type = field.content_type().map(ToString::to_string);
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            bytes.extend_from_slice(&chunk.map_err(|e| format!("invalid multipart: {e}"))?);
        }
        match (name.as_str(), file_name) {
            ("attachments[]", Some(file_name)) => attachments.push(json!({
                "file_name": file_name,
                "content_type": content_type,
                "data_base64": base64::engine::general_purpose::STANDARD.encode(&bytes),
            })),
            ("attachments", _) => return Err("attachments must be attachments[]".into()),
            (_, None) => {
                body[name] = json!(String::from_utf8_lossy(&bytes));
            }
            (_, Some(_)) => return Err(format!("unexpected file field {name:?}")),
        }
    }
    if body["private"] == "true" {
        body["private"] = json!(true);
    } else if body["private"] == "false" {
        body["private"] = json!(false);
    }
    body["attachments"] = json!(attachments);
    Ok(body)
}

async fn conversation_action(
    state: Data,
    request: HttpRequest,
    path: web::Path<(u64, u64, String)>,
    payload: web::Payload,
) -> HttpResponse {
    let body = match read_body(&request, payload).await {
        Ok(body) => body,
        Err(why) => return HttpResponse::BadRequest().json(json!({ "error": why })),
    };
    let mut s = match checked(&state, &request) {
        Ok(s) => s,
        Err(response) => return *response,
    };
    let (_, id, what) = path.into_inner();
    let Some(c) = s.conversations.get_mut(&id) else {
        return HttpResponse::NotFound().json(json!({ "error": "Resource could not be found" }));
    };
    match what.as_str() {
        "messages" => {
            let mut message = json!({
                "content": body["content"],
                "message_type": body["message_type"].as_str().unwrap_or("outgoing"),
                "private": body["private"].as_bool().unwrap_or(false),
            });
            if body["attachments"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                message["attachments"] = body["attachments"].clone();
            }
            c.messages.push(message.clone());
            let mut answer = message;
            answer["id"] = json!(c.messages.len());
            answer["conversation_id"] = json!(id);
            HttpResponse::Ok().json(answer)
        }
        "labels" => {
            c.labels = body["labels"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            HttpResponse::Ok().json(json!({ "payload": c.labels }))
        }
        "toggle_priority" => {
            c.priority = body["priority"].as_str().map(str::to_owned);
            HttpResponse::Ok().finish()
        }
        "toggle_status" => {
            c.status = body["status"].as_str().unwrap_or("open").to_owned();
            HttpResponse::Ok().json(json!({ "meta": {}, "payload": {
                "success": true, "current_status": c.status, "conversation_id": id } }))
        }
        "custom_attributes" => {
            if let Some(attributes) = body["custom_attributes"].as_object() {
                c.custom_attributes.extend(attributes.clone());
            }
            HttpResponse::Ok().json(json!({ "custom_attributes": c.custom_attributes }))
        }
        _ => HttpResponse::NotFound().json(json!({ "error": "Resource could not be found" })),
    }
}
