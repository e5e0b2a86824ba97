//! Shared set-up of the end-to-end tests: atiende all in one on a temporary data directory, in
//! front of fake Twilio and Meta APIs, with webhooks signed by independent implementations (the
//! official `twilio` Python SDK, Python's `hmac`).

// Test support fails loudly: a panic with the reason is the right outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

pub mod processes;

use atiende::Running;
use atiende_testkit::{FakeMeta, FakeTwilio, fake_twilio::TwilioMessage, python};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The admin token of the test stack.
pub const ADMIN_TOKEN: &str = "e2e-admin-token";
/// The demo tenant's Twilio account.
pub const TWILIO_ACCOUNT: &str = "AC00000000000000000000000000000000";

/// atiende and its providers.
pub struct Stack {
    /// The running atiende.
    pub running: Running,
    /// The fake Twilio API it sends to.
    pub twilio: FakeTwilio,
    /// The fake Graph API it sends to.
    pub meta: FakeMeta,
    /// An HTTP client.
    pub http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Stack {
    /// The demo tenant with default settings.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// The demo tenant with adjusted settings.
    pub async fn start_with(edit: impl FnOnce(&mut atiende_platform::Settings)) -> Self {
        atiende_platform::telemetry::init_for_tests();
        let twilio = FakeTwilio::start(&[(TWILIO_ACCOUNT, "demo-twilio-auth-token-0000")]);
        let meta = FakeMeta::start(&[("106540352242922", "demo-access-token")]);
        let dir = tempfile::tempdir().unwrap();
        let mut settings = atiende_bootstrap::test_settings(dir.path());
        settings.demo = Some(true);
        settings.admin_token = Some(ADMIN_TOKEN.into());
        settings.twilio.api_base = twilio.base_url().to_owned();
        settings.meta.graph_base = meta.base_url().to_owned();
        edit(&mut settings);
        let running = atiende::start(settings).await.unwrap();
        Self {
            running,
            twilio,
            meta,
            http: reqwest::Client::new(),
            dir,
        }
    }

    /// The data directory (the embedded database lives there).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// POSTs a Twilio webhook to `path`, signed by the official twilio SDK for the public URL.
    pub async fn twilio_webhook(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Response {
        let url = format!("{}{path}", self.running.public_url());
        let signature = python::twilio_signature("demo-twilio-auth-token-0000", &url, params).await;
        self.http
            .post(format!("{}{path}", self.running.local_url()))
            .header("x-twilio-signature", signature)
            .form(params)
            .send()
            .await
            .unwrap()
    }

    /// A customer writes `text` on WhatsApp through Twilio.
    pub async fn customer_says(&self, sid: &str, from: &str, text: &str) -> reqwest::Response {
        let wa_id = from.trim_start_matches('+');
        let from = format!("whatsapp:{from}");
        self.twilio_webhook(
            "/webhooks/twilio/demo",
            &[
                ("MessageSid", sid),
                ("SmsMessageSid", sid),
                ("SmsSid", sid),
                ("AccountSid", TWILIO_ACCOUNT),
                ("From", &from),
                ("To", "whatsapp:+14155238886"),
                ("Body", text),
                ("NumMedia", "0"),
                ("NumSegments", "1"),
                ("ProfileName", "Juan Peña"),
                ("WaId", wa_id),
                ("SmsStatus", "received"),
                ("ApiVersion", "2010-04-01"),
            ],
        )
        .await
    }

    /// A customer sends one attachment on WhatsApp through Twilio: `content_type` at `url`, with
    /// `caption` as its body. Ingest must accept it.
    pub async fn customer_sends_media(
        &self,
        (sid, from): (&str, &str),
        caption: &str,
        (content_type, url): (&str, &str),
    ) {
        let response = self
            .twilio_webhook(
                "/webhooks/twilio/demo",
                &[
                    ("MessageSid", sid),
                    ("AccountSid", TWILIO_ACCOUNT),
                    ("From", &format!("whatsapp:{from}")),
                    ("To", "whatsapp:+14155238886"),
                    ("Body", caption),
                    ("NumMedia", "1"),
                    ("MediaContentType0", content_type),
                    ("MediaUrl0", url),
                ],
            )
            .await;
        assert_eq!(response.status(), 200);
    }

    /// A customer sends a file with no words on WhatsApp through Twilio: `bytes` of
    /// `content_type`, which the fake Twilio keeps for the demo account to download.
    pub async fn customer_sends_file(
        &self,
        (sid, from): (&str, &str),
        content_type: &str,
        bytes: &[u8],
    ) {
        let url = self
            .twilio
            .add_media(TWILIO_ACCOUNT, sid, content_type, bytes);
        self.customer_sends_media((sid, from), "", (content_type, &url))
            .await;
    }

    /// POSTs a Meta notification, signed with Python's `hmac` and the demo app secret.
    pub async fn meta_webhook(&self, body: &str) -> reqwest::Response {
        let signature = python::meta_signature("demo-meta-app-secret", body).await;
        self.http
            .post(format!("{}/webhooks/meta/demo", self.running.local_url()))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// Waits until the fake Twilio holds `n` messages and returns them.
    pub async fn twilio_messages(&self, n: usize) -> Vec<TwilioMessage> {
        atiende_testkit::eventually(Duration::from_secs(15), || async {
            let sent = self.twilio.sent();
            (sent.len() >= n).then_some(sent)
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "expected {n} messages at Twilio, got {:?}",
                self.twilio.sent()
            )
        })
    }

    /// Waits until nothing is left on the bus, then a moment more.
    pub async fn settle(&self) {
        assert!(
            self.running.wait_idle(Duration::from_secs(15)).await,
            "the bus did not drain"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    /// Turns the demo tenant's satisfaction question on or off (its other assistant settings
    /// stay as they are).
    pub async fn set_csat(&self, on: bool) {
        self.set_assistant("csat", json!(on)).await;
    }

    /// Sets one of the demo tenant's assistant settings through the admin API (the patch
    /// merges: the others stay as they are).
    pub async fn set_assistant(&self, field: &str, value: Value) {
        let (status, body) = self
            .admin(
                Method::PATCH,
                "/admin/tenants/demo",
                Some(json!({ "assistant": { field: value } })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Calls the admin API.
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, ADMIN_TOKEN, body).await
    }

    /// Calls `path` with a bearer token and an optional JSON body; the status and the JSON
    /// answer (`null` when there is none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.running.local_url()))
            .bearer_auth(bearer);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// A web chat visitor of the demo tenant: the same ingest → processor → dispatcher path as
/// WhatsApp, without a signing SDK.
pub struct Visitor<'a> {
    stack: &'a Stack,
    /// The session's messages URL.
    pub url: String,
    /// The conversation id.
    pub conversation: String,
}

impl<'a> Visitor<'a> {
    /// Opens a web chat session.
    pub async fn open(stack: &'a Stack) -> Self {
        let base = stack.running.local_url();
        let session: Value = stack
            .http
            .post(format!("{base}/webchat/demo/sessions"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = session["session"].as_str().unwrap().to_owned();
        Self {
            stack,
            url: format!("{base}/webchat/demo/sessions/{session}/messages"),
            conversation: format!("demo:webchat:u.{session}"),
        }
    }

    /// Every message of the session so far (`author`, `text`), oldest first.
    pub async fn transcript(&self) -> Vec<Value> {
        let transcript: Value = self
            .stack
            .http
            .get(&self.url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        transcript["messages"].as_array().unwrap().clone()
    }

    /// What the bot has said so far.
    pub async fn bot_lines(&self) -> Vec<String> {
        self.transcript()
            .await
            .iter()
            .filter(|m| m["author"] == "bot")
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Says `text` and returns the bot's reply.
    pub async fn ask(&self, text: &str) -> String {
        let before = self.bot_lines().await.len();
        self.say(text).await;
        atiende_testkit::eventually(Duration::from_secs(15), || async {
            self.bot_lines().await.get(before).cloned()
        })
        .await
        .unwrap_or_else(|| panic!("no reply to {text:?}"))
    }

    /// Says `text`.
    pub async fn say(&self, text: &str) {
        let response = self
            .stack
            .http
            .post(&self.url)
            .json(&json!({ "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }

    /// The conversation's state, through the admin API.
    pub async fn state(&self) -> String {
        let (_, c) = self
            .stack
            .admin(
                Method::GET,
                &format!("/admin/tenants/demo/conversations/{}", self.conversation),
                None,
            )
            .await;
        c["state"].as_str().unwrap_or_default().to_owned()
    }
}

/// A Meta notification with one text message from `wa_id`, sent now (the 24-hour window counts
/// from Meta's timestamp).
pub fn meta_text(wa_id: &str, wamid: &str, text: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .to_string();
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": "15550783881", "phone_number_id": "106540352242922" },
                    "contacts": [{ "profile": { "name": "María" }, "wa_id": wa_id }],
                    "messages": [{
                        "from": wa_id, "id": wamid, "timestamp": now,
                        "type": "text", "text": { "body": text }
                    }]
                },
                "field": "messages"
            }]
        }]
    })
    .to_string()
}

/// Transcription at `llm`'s `/audio/transcriptions` with the key `sk-voice`, for voice notes of
/// at most 4 KiB.
pub fn transcription(llm: &atiende_testkit::FakeLlm) -> atiende_platform::config::TranscriptionApi {
    atiende_platform::config::TranscriptionApi {
        base_url: llm.base_url().to_owned(),
        model: "whisper-1".into(),
        api_key: Some(secrecy::SecretString::from("sk-voice")),
        timeout_secs: 5,
        max_bytes: 4096,
    }
}
