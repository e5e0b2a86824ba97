//! A fake OpenAI-compatible chat-completions server (protocols.md §6.1–§6.2), for the exact
//! 429 / 500 / timeout sequences and tool-call transcripts a real proxy cannot be made to play.
//!
//! Answers are scripted: each request takes the next [`Scripted`] answer from the queue, and when
//! the queue is empty the default answer (a function of the request, so a test can play a model
//! that reads its prompt). Errors use OpenAI's body (`{"error": {"message", "type", "param",
//! "code"}}`) and any headers the test gives (`Retry-After`, `retry-after-ms`). A request without
//! a bearer token, or with another key than the one configured, gets 401 as from OpenAI. Every
//! request is recorded with its key for assertions.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// 200 with this completion body.
    Completion(Value),
    /// An error status with headers and OpenAI's error body carrying `message`.
    Error {
        /// The status.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The error message.
        message: String,
    },
    /// Waits this long, then answers with the inner answer (a client timeout fires first).
    Delay(Duration, Box<Scripted>),
}

impl Scripted {
    /// A completion whose text is `content`.
    pub fn text(content: &str) -> Self {
        Self::Completion(completion(Some(content), &[]))
    }

    /// A completion calling tools: `(name, arguments)`.
    pub fn tool_calls(calls: &[(&str, Value)]) -> Self {
        Self::Completion(completion(None, calls))
    }

    /// An error with `status` and no extra headers.
    pub fn status(status: u16) -> Self {
        Self::Error {
            status,
            headers: Vec::new(),
            message: format!("fake error {status}"),
        }
    }

    /// 429 with `Retry-After: seconds`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::Error {
            status: 429,
            headers: vec![("retry-after".into(), retry_after_secs.to_string())],
            message: "Rate limit reached".into(),
        }
    }
}

/// A completion body in OpenAI's shape.
pub fn completion(content: Option<&str>, calls: &[(&str, Value)]) -> Value {
    let tool_calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, args))| {
            json!({"id": format!("call_{i}"), "type": "function",
                "function": {"name": name, "arguments": args.to_string()}})
        })
        .collect();
    let mut message = json!({"role": "assistant", "content": content, "refusal": null});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_760_000_000,
        "model": "fake-model",
        "choices": [{"index": 0, "logprobs": null, "message": message,
            "finish_reason": if calls.is_empty() { "stop" } else { "tool_calls" }}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    })
}

type Default = Box<dyn Fn(&Value) -> Scripted + Send + Sync>;

struct State {
    queue: VecDeque<Scripted>,
    default: Default,
    requests: Vec<(Option<String>, Value)>,
    key: Option<String>,
    /// What `/audio/transcriptions` hears in any audio.
    transcript: String,
}

/// The fake provider.
pub struct FakeLlm {
    base_url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

type Data = web::Data<Mutex<State>>;

impl FakeLlm {
    /// Starts a provider that answers "ok" when nothing is scripted and accepts any key.
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            queue: VecDeque::new(),
            default: Box::new(|_| Scripted::text("ok")),
            requests: Vec::new(),
            key: None,
            transcript: "hola".to_owned(),
        }));
        let shared = Arc::clone(&state);
        let (base_url, handle) = crate::spawn_server(move |cfg| {
            cfg.app_data(web::Data::from(Arc::clone(&shared)))
                .app_data(web::JsonConfig::default().limit(4 * 1024 * 1024))
                .route("/v1/chat/completions", web::post().to(complete))
                .route("/v1/embeddings", web::post().to(embeddings))
                .route("/v1/audio/transcriptions", web::post().to(transcribe));
        });
        Self {
            base_url: format!("{base_url}/v1"),
            state,
            handle,
        }
    }

    /// Makes `/audio/transcriptions` hear `text` in any audio from now on.
    pub fn set_transcript(&self, text: &str) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .transcript = text.to_owned();
    }

    /// The base URL (ends in `/v1`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Accepts only `key` from now on.
    pub fn require_key(&self, key: &str) {
        self.lock().key = Some(key.to_owned());
    }

    /// Queues answers, played in order.
    pub fn push(&self, answers: impl IntoIterator<Item = Scripted>) {
        self.lock().queue.extend(answers);
    }

    /// Sets the answer given when nothing is queued.
    pub fn set_default(&self, answer: impl Fn(&Value) -> Scripted + Send + Sync + 'static) {
        self.lock().default = Box::new(answer);
    }

    /// The requests received: the bearer key and the body.
    pub fn requests(&self) -> Vec<(Option<String>, Value)> {
        self.lock().requests.clone()
    }

    /// The tool results the last request carried back to the model (each tool message's JSON
    /// content), in order.
    pub fn tool_results(&self) -> Vec<Value> {
        self.requests()
            .last()
            .and_then(|(_, body)| body["messages"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter(|m| m["role"] == "tool")
            .filter_map(|m| serde_json::from_str(m["content"].as_str()?).ok())
            .collect()
    }

    /// How many requests arrived.
    pub fn calls(&self) -> usize {
        self.lock().requests.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn error(status: u16, headers: &[(String, String)], message: &str) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(code);
    for (name, value) in headers {
        response.insert_header((name.as_str(), value.as_str()));
    }
    let kind = match status {
        429 => "rate_limit_exceeded",
        401 => "invalid_api_key",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    };
    response.json(json!({"error": {"message": message, "type": kind, "param": null, "code": null}}))
}

/// OpenAI's transcription endpoint: a multipart form with `file` and `model` (the form is read
/// only as far as a fake needs: both parts must be there). Recorded as
/// `{"transcription": {"model", "file_bytes"}}`.
async fn transcribe(state: Data, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let multipart = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data; boundary="));
    let text = String::from_utf8_lossy(&body);
    let model = text
        .split("name=\"model\"\r\n\r\n")
        .nth(1)
        .and_then(|rest| rest.split("\r\n").next())
        .map(str::to_owned);
    let has_file = text.contains("name=\"file\"; filename=");
    let recorded = json!({"transcription": {"model": model, "file_bytes": body.len()}});
    let Some(state) = admit(&state, &request, &recorded) else {
        return unauthorized();
    };
    if !multipart || model.is_none() || !has_file {
        return error(400, &[], "a multipart form with file and model is required");
    }
    HttpResponse::Ok().json(json!({"text": state.transcript}))
}

/// Records the request and checks its bearer key; returns the state for the endpoint to take
/// its answer from, or `None` for a refused key (the caller answers OpenAI's 401).
fn admit<'a>(
    state: &'a Data,
    request: &HttpRequest,
    body: &Value,
) -> Option<std::sync::MutexGuard<'a, State>> {
    let key = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    state.requests.push((key.clone(), body.clone()));
    let refused = key.is_none() || state.key.as_ref().is_some_and(|k| Some(k) != key.as_ref());
    (!refused).then_some(state)
}

fn unauthorized() -> HttpResponse {
    error(401, &[], "Incorrect API key provided")
}

async fn complete(state: Data, request: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    let answer = {
        let Some(mut state) = admit(&state, &request, &body.0) else {
            return unauthorized();
        };
        match state.queue.pop_front() {
            Some(answer) => answer,
            None => (state.default)(&body.0),
        }
    };
    play(answer).await
}

/// `POST /v1/embeddings`: a deterministic vector per text (of `dimensions`, default 8), so equal
/// texts embed equally; scripted errors apply here too (a scripted completion is ignored).
async fn embeddings(state: Data, request: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    let Some(scripted) = admit(&state, &request, &body.0).map(|mut s| s.queue.pop_front()) else {
        return unauthorized();
    };
    if let Some(answer @ (Scripted::Error { .. } | Scripted::Delay(..))) = scripted {
        return play(answer).await;
    }
    let dims = body.0["dimensions"].as_u64().unwrap_or(8) as usize;
    let inputs: Vec<String> = match &body.0["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().unwrap_or("").to_owned())
            .collect(),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::Object(_) => {
            return error(400, &[], "input must be a string or an array of strings");
        }
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let mut seed = text.bytes().fold(1_469_598_103_934_665_603u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(1_099_511_628_211)
            });
            let vector: Vec<f64> = (0..dims)
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    ((seed >> 33) as f64 / f64::from(u32::MAX)) - 0.25
                })
                .collect();
            json!({"object": "embedding", "index": index, "embedding": vector})
        })
        .collect();
    HttpResponse::Ok().json(
        json!({"object": "list", "data": data, "model": body.0["model"],
        "usage": {"prompt_tokens": inputs.len() * 5, "total_tokens": inputs.len() * 5}}),
    )
}

async fn play(mut answer: Scripted) -> HttpResponse {
    loop {
        match answer {
            Scripted::Completion(body) => return HttpResponse::Ok().json(body),
            Scripted::Error {
                status,
                headers,
                message,
            } => return error(status, &headers, &message),
            Scripted::Delay(wait, inner) => {
                actix_web::rt::time::sleep(wait).await;
                answer = *inner;
            }
        }
    }
}
