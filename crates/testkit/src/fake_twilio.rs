//! A fake of Twilio's Messages API (protocols.md §1.5).
//!
//! `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP Basic auth with the
//! account SID and auth token. It enforces what Twilio enforces and the senders must respect:
//! `To` with the `whatsapp:` prefix, `From` or `MessagingServiceSid`, `Body` and/or `MediaUrl`s *or* `ContentSid`
//! (never both), `Body` ≤ 1600 characters, `ContentVariables` a JSON object — and, for recipients
//! whose 24-hour window was closed with [`FakeTwilio::close_window`], error 63016 for free-form
//! bodies. Failures can be scripted with [`FakeTwilio::fail_next`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use serde_json::json;

/// A message the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioMessage {
    /// The SID it was given.
    pub sid: String,
    /// The account.
    pub account_sid: String,
    /// `To`.
    pub to: String,
    /// `From`, if sent.
    pub from: Option<String>,
    /// `MessagingServiceSid`, if sent.
    pub messaging_service_sid: Option<String>,
    /// `Body`, if sent.
    pub body: Option<String>,
    /// `ContentSid`, if sent.
    pub content_sid: Option<String>,
    /// `ContentVariables`, if sent.
    pub content_variables: Option<serde_json::Value>,
    /// `StatusCallback`, if sent.
    pub status_callback: Option<String>,
    /// Every `MediaUrl` (repeatable, at most 10), in order.
    pub media_urls: Vec<String>,
}

/// A scripted failure: HTTP status and Twilio error code.
#[derive(Debug, Clone, Copy)]
pub struct Failure {
    /// HTTP status.
    pub status: u16,
    /// Twilio error code (`None` for a bare status, like a load balancer's 503).
    pub code: Option<u32>,
    /// `Retry-After` seconds to send, if any.
    pub retry_after: Option<u64>,
}

#[derive(Default)]
struct State {
    accounts: HashMap<String, String>,
    sent: Vec<TwilioMessage>,
    failures: VecDeque<Failure>,
    closed_windows: HashSet<String>,
    requests: usize,
    /// Media by path: (content type, bytes).
    media: HashMap<String, (String, Vec<u8>)>,
}

/// The fake Twilio API.
pub struct FakeTwilio {
    base_url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeTwilio {
    /// Starts the fake; `accounts` are `(AccountSid, AuthToken)` pairs it accepts.
    pub fn start(accounts: &[(&str, &str)]) -> Self {
        let state = Arc::new(Mutex::new(State {
            accounts: accounts
                .iter()
                .map(|(s, t)| ((*s).to_owned(), (*t).to_owned()))
                .collect(),
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let (base_url, handle) = crate::spawn_server(move |cfg| {
            cfg.app_data(web::Data::from(Arc::clone(&shared)))
                .route(
                    "/2010-04-01/Accounts/{sid}/Messages.json",
                    web::post().to(create_message),
                )
                .route(
                    "/2010-04-01/Accounts/{sid}/Messages/{message}/Media/{media}",
                    web::get().to(get_media),
                );
        });
        Self {
            base_url,
            state,
            handle,
        }
    }

    /// The base URL to configure as `TWILIO_API_BASE`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Serves `bytes` as a media file of `account`'s message `message`, as Twilio does for a
    /// customer's attachment (HTTP Basic with the account's credentials); returns its `MediaUrl`.
    pub fn add_media(
        &self,
        account: &str,
        message: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> String {
        let path = format!("/2010-04-01/Accounts/{account}/Messages/{message}/Media/ME{message}");
        self.lock()
            .media
            .insert(path.clone(), (content_type.to_owned(), bytes.to_vec()));
        format!("{}{path}", self.base_url)
    }

    /// Messages accepted so far.
    pub fn sent(&self) -> Vec<TwilioMessage> {
        self.lock().sent.clone()
    }

    /// Requests received so far, accepted or not.
    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    /// Makes the next `n` requests fail with `failure`.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut state = self.lock();
        for _ in 0..n {
            state.failures.push_back(failure);
        }
    }

    /// Forgets scripted failures not yet used: the API is healthy again.
    pub fn recover(&self) {
        self.lock().failures.clear();
    }

    /// Answers free-form messages to `to` (`whatsapp:+…`) with 63016, as when the customer's
    /// 24-hour window has closed.
    pub fn close_window(&self, to: &str) {
        self.lock().closed_windows.insert(to.to_owned());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn error(status: u16, code: u32, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default()).json(
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

/// Whether the request carries `account`'s SID and auth token as HTTP Basic credentials.
fn authorized(request: &HttpRequest, state: &State, account: &str) -> bool {
    request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
        .is_some_and(|(user, token)| user == account && state.accounts.get(account) == Some(&token))
}

async fn get_media(
    state: web::Data<Mutex<State>>,
    path: web::Path<(String, String, String)>,
    request: HttpRequest,
) -> HttpResponse {
    let (account, _, _) = path.into_inner();
    let state = state.lock().unwrap_or_else(PoisonError::into_inner);
    if !authorized(&request, &state, &account) {
        return error(401, 20003, "Authenticate");
    }
    match state.media.get(request.path()) {
        Some((content_type, bytes)) => HttpResponse::Ok()
            .content_type(content_type.as_str())
            .body(bytes.clone()),
        None => error(404, 20404, "The requested resource was not found"),
    }
}

async fn create_message(
    state: web::Data<Mutex<State>>,
    path: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let account = path.into_inner();
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    state.requests += 1;
    // HTTP Basic: AccountSid:AuthToken.
    if !authorized(&request, &state, &account) {
        return error(401, 20003, "Authenticate");
    }
    if let Some(failure) = state.failures.pop_front() {
        let mut response = match failure.code {
            Some(code) => error(failure.status, code, "scripted failure"),
            None => HttpResponse::build(
                actix_web::http::StatusCode::from_u16(failure.status).unwrap_or_default(),
            )
            .body("upstream unavailable"),
        };
        if let Some(secs) = failure.retry_after {
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(secs),
            );
        }
        return response;
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.get(k).cloned();
    let media_urls: Vec<String> = form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "MediaUrl")
        .map(|(_, v)| v.into_owned())
        .collect();
    if media_urls.len() > 10 {
        return error(400, 21623, "Too many media URLs: at most 10.");
    }
    if media_urls
        .iter()
        .any(|u| !u.starts_with("http://") && !u.starts_with("https://"))
    {
        return error(400, 21620, "Invalid media URL(s).");
    }
    let Some(to) = get("To").filter(|t| t.starts_with("whatsapp:")) else {
        return error(400, 21604, "A 'To' phone number is required.");
    };
    if get("From").is_none() && get("MessagingServiceSid").is_none() {
        return error(400, 21603, "A 'From' phone number is required.");
    }
    let body_text = get("Body");
    let content_sid = get("ContentSid");
    match (&body_text, &content_sid) {
        (None, None) if media_urls.is_empty() => {
            return error(400, 21602, "Message body is required.");
        }
        (Some(_), Some(_)) => {
            return error(400, 21619, "Remove Body when sending ContentSid.");
        }
        (None, Some(_)) if !media_urls.is_empty() => {
            return error(400, 21619, "Remove MediaUrl when sending ContentSid.");
        }
        (Some(b), None) if b.chars().count() > 1600 => {
            return error(
                400,
                21617,
                "The concatenated message body exceeds the 1600 character limit.",
            );
        }
        (_, None) if state.closed_windows.contains(&to) => {
            return error(
                400,
                63016,
                "Failed to send freeform message because you are outside the allowed window.",
            );
        }
        _ => {}
    }
    let content_variables = match get("ContentVariables") {
        Some(v) => match serde_json::from_str::<serde_json::Value>(&v) {
            Ok(value) if value.is_object() => Some(value),
            _ => return error(400, 21656, "ContentVariables must be a JSON object."),
        },
        None => None,
    };
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let message = TwilioMessage {
        sid: sid.clone(),
        account_sid: account.clone(),
        to: to.clone(),
        from: get("From"),
        messaging_service_sid: get("MessagingServiceSid"),
        body: body_text.clone(),
        content_sid,
        content_variables,
        status_callback: get("StatusCallback"),
        media_urls: media_urls.clone(),
    };
    state.sent.push(message);
    HttpResponse::Created().json(json!({
        "sid": sid,
        "account_sid": account,
        "from": get("From"),
        "to": to,
        "body": body_text,
        "status": "queued",
        "direction": "outbound-api",
        "num_segments": "1",
        "num_media": media_urls.len().to_string(),
        "messaging_service_sid": get("MessagingServiceSid"),
        "price": null,
        "price_unit": "USD",
        "error_code": null,
        "error_message": null,
        "api_version": "2010-04-01",
        "uri": format!("/2010-04-01/Accounts/{account}/Messages/{sid}.json"),
    }))
}
