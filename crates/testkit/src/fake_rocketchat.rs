//! A fake of Rocket.Chat's livechat visitor API and incoming webhooks (protocols.md §4.1, §4.3).
//!
//! Visitors are known by token once registered (`POST /api/v1/livechat/visitor`); the visitor
//! route allows five calls a minute, as in Rocket.Chat, and answers 429 beyond. `GET
//! /api/v1/livechat/room?token=` returns the visitor's open room or opens one (`newRoom`), and
//! `invalid-token` for an unknown visitor. Messages need a known token and an open room of that
//! visitor (`invalid-token`, `invalid-room`, `room-closed` otherwise); a message whose `_id` was
//! already posted is answered with the stored one, as a retry would be. Errors are
//! `{"success": false, "error": …}` with status 400. Tests close rooms as an agent would and read
//! everything back. `/hooks/{id}/{token}` records incoming-webhook posts (the alert channel).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

/// A livechat room as the fake holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LivechatRoom {
    /// `_id`.
    pub id: String,
    /// The visitor's token.
    pub token: String,
    /// Whether an agent closed it.
    pub closed: bool,
    /// Messages: `_id`, `msg`.
    pub messages: Vec<Value>,
}

#[derive(Default)]
struct State {
    visitors: Vec<Value>,
    visitor_calls: VecDeque<Instant>,
    rooms: Vec<LivechatRoom>,
    hooks: Vec<(String, Value)>,
}

/// The fake Rocket.Chat.
pub struct FakeRocketChat {
    base_url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

type Data = web::Data<Mutex<State>>;

impl FakeRocketChat {
    /// Starts the fake.
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let (base_url, handle) = crate::spawn_server(move |cfg| {
            cfg.app_data(web::Data::from(Arc::clone(&shared)))
                .route("/api/v1/livechat/visitor", web::post().to(visitor))
                .route("/api/v1/livechat/room", web::get().to(room))
                .route("/api/v1/livechat/message", web::post().to(message))
                .route("/hooks/{id}/{token}", web::post().to(hook));
        });
        Self {
            base_url,
            state,
            handle,
        }
    }

    /// The base URL to configure as the tenant's `rocketchat.base_url`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// An incoming-webhook URL on this server.
    pub fn hook_url(&self) -> String {
        format!("{}/hooks/INTEGRATION/HOOKTOKEN", self.base_url)
    }

    /// The registered visitors, as posted.
    pub fn visitors(&self) -> Vec<Value> {
        self.lock().visitors.clone()
    }

    /// The rooms so far, oldest first.
    pub fn rooms(&self) -> Vec<LivechatRoom> {
        self.lock().rooms.clone()
    }

    /// The bodies posted to incoming webhooks, with the path token they used.
    pub fn hook_posts(&self) -> Vec<(String, Value)> {
        self.lock().hooks.clone()
    }

    /// Closes a room, as an agent ending the chat does.
    pub fn close_room(&self, id: &str) {
        if let Some(room) = self.lock().rooms.iter_mut().find(|r| r.id == id) {
            room.closed = true;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for FakeRocketChat {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn error(code: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({ "success": false, "error": code }))
}

fn lock(state: &Data) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn visitor(state: Data, body: web::Json<Value>) -> HttpResponse {
    let mut s = lock(&state);
    let now = Instant::now();
    while s
        .visitor_calls
        .front()
        .is_some_and(|t| now.duration_since(*t).as_secs() >= 60)
    {
        s.visitor_calls.pop_front();
    }
    if s.visitor_calls.len() >= 5 {
        return HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", "60"))
            .json(json!({ "success": false, "error": "error-too-many-requests" }));
    }
    s.visitor_calls.push_back(now);
    let visitor = &body["visitor"];
    let Some(token) = visitor["token"].as_str().filter(|t| !t.is_empty()) else {
        return error("Match error: Missing key 'token'");
    };
    let id = format!("visitor-{}", s.visitors.len() + 1);
    let mut stored = visitor.clone();
    stored["_id"] = json!(id);
    s.visitors.retain(|v| v["token"] != token);
    s.visitors.push(stored.clone());
    HttpResponse::Ok().json(json!({ "visitor": stored, "success": true }))
}

async fn room(
    state: Data,
    query: web::Query<std::collections::BTreeMap<String, String>>,
) -> HttpResponse {
    let mut s = lock(&state);
    let token = query.get("token").cloned().unwrap_or_default();
    if !s.visitors.iter().any(|v| v["token"] == token.as_str()) {
        return error("invalid-token");
    }
    if let Some(open) = s.rooms.iter().find(|r| r.token == token && !r.closed) {
        let id = open.id.clone();
        return HttpResponse::Ok().json(
            json!({ "room": { "_id": id, "open": true }, "newRoom": false, "success": true }),
        );
    }
    let id = format!("ROOM{}", s.rooms.len() + 1);
    s.rooms.push(LivechatRoom {
        id: id.clone(),
        token,
        closed: false,
        messages: Vec::new(),
    });
    HttpResponse::Ok()
        .json(json!({ "room": { "_id": id, "open": true }, "newRoom": true, "success": true }))
}

async fn message(state: Data, body: web::Json<Value>) -> HttpResponse {
    let mut s = lock(&state);
    let (Some(token), Some(rid), Some(msg)) = (
        body["token"].as_str(),
        body["rid"].as_str(),
        body["msg"].as_str(),
    ) else {
        return error("Match error: token, rid and msg are required");
    };
    if !s.visitors.iter().any(|v| v["token"] == token) {
        return error("invalid-token");
    }
    let Some(room) = s.rooms.iter_mut().find(|r| r.id == rid && r.token == token) else {
        return error("invalid-room");
    };
    if room.closed {
        return error("room-closed");
    }
    let id = body["_id"]
        .as_str()
        .map_or_else(|| format!("m{}", room.messages.len() + 1), str::to_owned);
    if let Some(existing) = room.messages.iter().find(|m| m["_id"] == id.as_str()) {
        return HttpResponse::Ok().json(json!({ "message": existing, "success": true }));
    }
    let stored = json!({ "_id": id, "rid": rid, "msg": msg, "token": token });
    room.messages.push(stored.clone());
    HttpResponse::Ok().json(json!({ "message": stored, "success": true }))
}

async fn hook(
    path: web::Path<(String, String)>,
    state: Data,
    body: web::Json<Value>,
) -> HttpResponse {
    let (_, token) = path.into_inner();
    if body.get("text").is_none() && body.get("attachments").is_none() {
        return error("missing text or attachments");
    }
    lock(&state).hooks.push((token, body.into_inner()));
    HttpResponse::Ok().json(json!({ "success": true }))
}
