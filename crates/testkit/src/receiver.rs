//! A stand-in for the tenant's own systems at the end of atiende's outgoing webhooks (its CRM,
//! its team chat): it records every call's headers and body, and can be told to fail the next
//! calls to exercise retries. What a real receiver would check (the signature) the tests check
//! on the recorded calls, with Python's `hmac`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::{HttpRequest, HttpResponse, web};

/// One recorded call.
#[derive(Debug, Clone)]
pub struct Received {
    /// The path it was posted to.
    pub path: String,
    /// Headers, lower-case names.
    pub headers: BTreeMap<String, String>,
    /// The raw body.
    pub body: String,
    /// The status the receiver answered.
    pub status: u16,
}

#[derive(Default)]
struct State {
    calls: Vec<Received>,
    failures: BTreeMap<String, VecDeque<(u16, Option<u64>)>>,
}

/// The receiver.
pub struct WebhookReceiver {
    base_url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl WebhookReceiver {
    /// Starts a receiver answering 200 to `POST` on any path.
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let (base_url, handle) = crate::spawn_server(move |cfg| {
            cfg.app_data(web::Data::from(Arc::clone(&shared)))
                .default_service(web::post().to(receive));
        });
        Self {
            base_url,
            state,
            handle,
        }
    }

    /// The URL of `path` on the receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The calls to `path` so far, oldest first.
    pub fn calls(&self, path: &str) -> Vec<Received> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.path == path)
            .cloned()
            .collect()
    }

    /// Makes the next `n` calls to `path` fail with HTTP `status`.
    pub fn fail_next(&self, path: &str, n: usize, status: u16) {
        self.fail_next_asking(path, n, status, None);
    }

    /// Makes the next `n` calls to `path` fail with HTTP `status`, asking to be retried after
    /// `retry_after` seconds (`Retry-After`).
    pub fn fail_next_asking(&self, path: &str, n: usize, status: u16, retry_after: Option<u64>) {
        self.lock()
            .failures
            .entry(path.to_owned())
            .or_default()
            .extend(std::iter::repeat_n((status, retry_after), n));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn receive(
    state: web::Data<Mutex<State>>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    let (status, retry_after) = s
        .failures
        .get_mut(request.path())
        .and_then(VecDeque::pop_front)
        .unwrap_or((200, None));
    s.calls.push(Received {
        path: request.path().to_owned(),
        headers: request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        status,
    });
    let mut response =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default());
    if let Some(secs) = retry_after {
        response.insert_header(("retry-after", secs.to_string()));
    }
    response.json(serde_json::json!({ "ok": status == 200 }))
}
