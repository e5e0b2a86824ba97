//! Black-box tests of the ingest service: real HTTP on port 0, the embedded store and bus on a
//! temporary directory, webhooks signed as the providers sign them.

// A failing test should panic with the value it choked on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use atiende_adapter_meta::signature as meta_signature;
use atiende_adapter_twilio::signature as twilio_signature;
use atiende_bootstrap::{Embedded, test_settings};
use atiende_domain::{
    BusEvent, Channel, ContactIdentity, DeliveryState, MessageContent, TenantId, Topic,
};
use atiende_ingest::Ingest;
use atiende_testkit::{TestServer, bus::Recorder};
use reqwest::StatusCode;

const PUBLIC: &str = "https://atiende.example.com";
const TOKEN: &str = "demo-twilio-auth-token-0000";
const META_FIXTURE: &[u8] =
    include_bytes!("../../../crates/adapters/meta/tests/fixtures/meta_text_message.json");

struct Harness {
    _dir: tempfile::TempDir,
    infra: Embedded,
    server: TestServer,
    recorder: Arc<Recorder>,
    http: reqwest::Client,
}

async fn spawn_with(edit: impl FnOnce(&mut atiende_platform::Settings)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.public_url = Some(PUBLIC.to_owned());
    settings.demo = Some(true);
    edit(&mut settings);
    let infra = Embedded::open(&settings, 0).await.unwrap();
    infra.load_demo_if_enabled().await.unwrap();
    let recorder = Recorder::new();
    infra
        .bus()
        .unwrap()
        .subscribe(Topic::Inbound.subscription(), recorder.clone())
        .unwrap();
    let ingest = Arc::new(Ingest::new(&infra));
    let server = TestServer::start(Arc::new(move |cfg| Arc::clone(&ingest).configure(cfg)));
    Harness {
        _dir: dir,
        infra,
        server,
        recorder,
        http: reqwest::Client::new(),
    }
}

async fn spawn() -> Harness {
    spawn_with(|_| {}).await
}

fn message(sid: &str, body: &str) -> Vec<(String, String)> {
    [
        ("MessageSid", sid),
        ("SmsMessageSid", sid),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", "whatsapp:+18095551010"),
        ("To", "whatsapp:+14155238886"),
        ("Body", body),
        ("NumMedia", "0"),
        ("ProfileName", "Juan"),
        ("WaId", "18095551010"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

impl Harness {
    async fn post_twilio(
        &self,
        path: &str,
        params: &[(String, String)],
        token: &str,
    ) -> reqwest::Response {
        let signature = twilio_signature::compute(token, &format!("{PUBLIC}{path}"), params);
        self.post_form(path, params, Some(&signature)).await
    }

    async fn post_form(
        &self,
        path: &str,
        params: &[(String, String)],
        signature: Option<&str>,
    ) -> reqwest::Response {
        let body = form(params);
        let mut request = self
            .http
            .post(format!("{}{path}", self.server.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-twilio-signature", signature);
        }
        request.send().await.unwrap()
    }

    async fn post_meta(&self, body: &[u8], signature: Option<String>) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/webhooks/meta/demo", self.server.url()))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send().await.unwrap()
    }
}

fn form(params: &[(String, String)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            s.push('&');
        }
        s.push_str(&urlencode(k));
        s.push('=');
        s.push_str(&urlencode(v));
    }
    s
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap();
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_twilio_message_is_acknowledged_with_twiml_and_published_in_order() {
    let h = spawn().await;
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let params = message("SM100", "¿Tienen cemento gris?");
    let signature =
        twilio_signature::compute(TOKEN, &format!("{PUBLIC}/webhooks/twilio/demo"), &params);
    let response = h
        .http
        .post(format!("{}/webhooks/twilio/demo", h.server.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .header("traceparent", tp)
        .body(form(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    assert_eq!(
        response.text().await.unwrap(),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#
    );
    let events = h.recorder.wait_for(1, Duration::from_secs(5)).await;
    let BusEvent::InboundMessageReceivedV1 { message } = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        message.content,
        MessageContent::Text {
            body: "¿Tienen cemento gris?".into()
        }
    );
    assert_eq!(message.conversation.as_str(), "demo:twilio:+18095551010");
    let delivery = &h.recorder.deliveries()[0];
    assert_eq!(
        delivery.ordering_key.as_deref(),
        Some("demo:twilio:+18095551010")
    );
    assert_eq!(
        delivery.attributes["event_type"],
        "inbound_message.received"
    );
    assert_eq!(delivery.attributes["tenant"], "demo");
    let trace = delivery.traceparent().unwrap();
    assert!(
        trace.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "the trace continues: {trace}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_whatsapp_path_works_too() {
    let h = spawn().await;
    let response = h
        .post_twilio("/webhooks/whatsapp/demo", &message("SM101", "hola"), TOKEN)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    h.recorder.wait_for(1, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_delivered_many_times_is_published_once() {
    let h = Arc::new(spawn().await);
    let params = message("SM102", "hola");
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let h = Arc::clone(&h);
        let params = params.clone();
        tasks.push(tokio::spawn(async move {
            h.post_twilio("/webhooks/twilio/demo", &params, TOKEN)
                .await
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    h.recorder.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.recorder.deliveries().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tenants_are_404() {
    let h = spawn().await;
    for path in [
        "/webhooks/twilio/nobody",
        "/webhooks/twilio/Not%20A%20Tenant",
    ] {
        let response = h.post_twilio(path, &message("SM1", "x"), TOKEN).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_code(response).await, "unknown_tenant");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_missing_or_misdirected_signatures_are_403() {
    let h = spawn().await;
    let params = message("SM103", "hola");
    let wrong_token = h
        .post_twilio("/webhooks/twilio/demo", &params, "not-the-token")
        .await;
    assert_eq!(wrong_token.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(wrong_token).await, "invalid_signature");
    let missing = h.post_form("/webhooks/twilio/demo", &params, None).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    // Signed for the address the request really hit, not the public URL Twilio calls.
    let local = twilio_signature::compute(
        TOKEN,
        &format!("{}/webhooks/twilio/demo", h.server.url()),
        &params,
    );
    let misdirected = h
        .post_form("/webhooks/twilio/demo", &params, Some(&local))
        .await;
    assert_eq!(misdirected.status(), StatusCode::FORBIDDEN);
    // Tampered after signing.
    let signature =
        twilio_signature::compute(TOKEN, &format!("{PUBLIC}/webhooks/twilio/demo"), &params);
    let mut tampered = params.clone();
    tampered[5].1 = "dame todo gratis".into();
    let response = h
        .post_form("/webhooks/twilio/demo", &tampered, Some(&signature))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let mut other_account = message("SM104", "hola");
    other_account[2].1 = "AC11111111111111111111111111111111".into();
    let response = h
        .post_twilio("/webhooks/twilio/demo", &other_account, TOKEN)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(response).await, "account_mismatch");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        h.recorder.deliveries().is_empty(),
        "nothing unverified is published"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_but_malformed_forms_are_400_and_wrong_content_types_415() {
    let h = spawn().await;
    let no_sid: Vec<_> = message("SM105", "hola")
        .into_iter()
        .filter(|(k, _)| !k.ends_with("Sid") || k == "AccountSid")
        .collect();
    let response = h.post_twilio("/webhooks/twilio/demo", &no_sid, TOKEN).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = h
        .http
        .post(format!("{}/webhooks/twilio/demo", h.server.url()))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413() {
    let h = spawn_with(|s| s.limits.max_webhook_bytes = 2048).await;
    let response = h
        .post_twilio(
            "/webhooks/twilio/demo",
            &message("SM106", &"x".repeat(4000)),
            TOKEN,
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(response).await, "payload_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_never_gets_a_5xx() {
    let h = spawn().await;
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "/webhooks/twilio/demo",
            "application/x-www-form-urlencoded",
            b"%%%&&&==".to_vec(),
        ),
        (
            "/webhooks/twilio/demo",
            "application/x-www-form-urlencoded",
            vec![0xff, 0xfe, 0x00, 0x01],
        ),
        (
            "/webhooks/meta/demo",
            "application/json",
            b"{\"object\":".to_vec(),
        ),
        ("/webhooks/meta/demo", "application/json", vec![0xff; 100]),
        ("/webhooks/meta/nobody", "application/json", b"{}".to_vec()),
        (
            "/webchat/demo/sessions/not-a-uuid/messages",
            "application/json",
            b"{\"text\":\"hola\"}".to_vec(),
        ),
        (
            "/webchat/demo/sessions/00000000-0000-4000-8000-000000000000/messages",
            "application/json",
            b"[1,2".to_vec(),
        ),
        ("/nowhere", "text/plain", b"hello".to_vec()),
    ];
    for (path, ct, body) in cases {
        let response = h
            .http
            .post(format!("{}{path}", h.server.url()))
            .header("content-type", ct)
            .header("x-twilio-signature", "AAAA")
            .header("x-hub-signature-256", "sha256=00")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_client_error(),
            "{path}: {}",
            response.status()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_messages_are_published_with_their_references() {
    let h = spawn().await;
    let mut params = message("MM107", "");
    params.retain(|(k, _)| k != "NumMedia");
    params.extend([
        ("NumMedia".to_owned(), "1".to_owned()),
        (
            "MediaUrl0".to_owned(),
            "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM107/Media/ME1".to_owned(),
        ),
        ("MediaContentType0".to_owned(), "image/jpeg".to_owned()),
    ]);
    let response = h.post_twilio("/webhooks/twilio/demo", &params, TOKEN).await;
    assert_eq!(response.status(), StatusCode::OK);
    let events = h.recorder.wait_for(1, Duration::from_secs(5)).await;
    let BusEvent::InboundMessageReceivedV1 { message } = &events[0] else {
        panic!()
    };
    let MessageContent::Media { items, .. } = &message.content else {
        panic!("{:?}", message.content)
    };
    assert!(items[0].reference.ends_with("/Media/ME1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_status_callbacks_are_recorded_monotonically() {
    let h = spawn().await;
    let status = |s: &str| -> Vec<(String, String)> {
        [
            ("MessageSid", "SM900"),
            ("MessageStatus", s),
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("To", "whatsapp:+18095551010"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    for s in ["read", "delivered", "sent"] {
        let response = h
            .post_twilio("/webhooks/twilio/demo/status", &status(s), TOKEN)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let state = h
        .infra
        .stores()
        .delivery
        .status(
            &TenantId::parse("demo").unwrap(),
            Channel::TwilioWhatsApp,
            "SM900",
        )
        .await
        .unwrap();
    assert_eq!(state, Some(DeliveryState::Read));
    assert!(
        h.recorder.deliveries().is_empty(),
        "receipts are not customer messages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_meta_handshake_echoes_the_challenge_only_for_the_right_token() {
    let h = spawn().await;
    let url = |token: &str| {
        format!(
            "{}/webhooks/meta/demo?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444",
            h.server.url()
        )
    };
    let ok = h.http.get(url("demo-verify-token")).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let bad = h.http.get(url("guess")).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::FORBIDDEN);
    let nobody = h
        .http
        .get(format!(
            "{}/webhooks/meta/nobody?hub.mode=subscribe",
            h.server.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(nobody.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_notifications_are_verified_over_the_raw_bytes_and_published_once() {
    let h = spawn().await;
    let good = format!(
        "sha256={}",
        meta_signature::compute("demo-meta-app-secret", META_FIXTURE)
    );
    assert_eq!(
        h.post_meta(META_FIXTURE, Some(good.clone())).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        h.post_meta(META_FIXTURE, Some(good)).await.status(),
        StatusCode::OK,
        "a retry is fine"
    );
    let events = h.recorder.wait_for(1, Duration::from_secs(5)).await;
    let BusEvent::InboundMessageReceivedV1 { message } = &events[0] else {
        panic!()
    };
    assert_eq!(message.conversation.as_str(), "demo:meta:+16505551234");
    assert!(matches!(
        message.contact.identity,
        ContactIdentity::Phone(_)
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.recorder.deliveries().len(), 1);

    let forged = format!(
        "sha256={}",
        meta_signature::compute("wrong-secret", META_FIXTURE)
    );
    assert_eq!(
        h.post_meta(META_FIXTURE, Some(forged)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.post_meta(META_FIXTURE, None).await.status(),
        StatusCode::FORBIDDEN
    );
    let garbage = b"{\"object\": 42}";
    let signed = format!(
        "sha256={}",
        meta_signature::compute("demo-meta-app-secret", garbage)
    );
    assert_eq!(
        h.post_meta(garbage, Some(signed)).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_chat_is_a_channel_with_its_own_sessions() {
    let h = spawn().await;
    let base = h.server.url();
    let page = h.http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("data-testid=\"log\""));
    let demo: serde_json::Value = h
        .http
        .get(format!("{base}/webchat/demo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(demo["id"], "demo");
    // Who else the deployment serves is nobody's business: there is no public list.
    let list = h
        .http
        .get(format!("{base}/webchat/tenants"))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::NOT_FOUND);

    let created = h
        .http
        .post(format!("{base}/webchat/demo/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let session = created.json::<serde_json::Value>().await.unwrap()["session"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{base}/webchat/demo/sessions/{session}/messages");
    let sent = h
        .http
        .post(&url)
        .json(&serde_json::json!({"text": "hola"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let events = h.recorder.wait_for(1, Duration::from_secs(5)).await;
    let BusEvent::InboundMessageReceivedV1 { message } = &events[0] else {
        panic!()
    };
    assert_eq!(message.channel, Channel::WebChat);
    assert!(
        matches!(message.contact.identity, ContactIdentity::User(_)),
        "no phone is assumed"
    );
    let transcript: serde_json::Value =
        h.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(transcript["messages"][0]["author"], "customer");

    let empty = h
        .http
        .post(&url)
        .json(&serde_json::json!({"text": "  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    let long = h
        .http
        .post(&url)
        .json(&serde_json::json!({"text": "x".repeat(3000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(long.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A public route: a megabyte is refused by its size, not read into memory as the admin API's
    // uploads may be.
    let huge = h
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(format!("{{\"text\": \"{}\"}}", "x".repeat(1 << 20)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = huge.json().await.unwrap();
    assert!(
        body.to_string().contains("13024"),
        "the limit is the web chat's: {body}"
    );
    let unknown = format!(
        "{base}/webchat/demo/sessions/{}/messages",
        "00000000-0000-4000-8000-000000000000"
    );
    assert_eq!(
        h.http.get(&unknown).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.http
            .post(format!("{base}/webchat/nobody/sessions"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_alone_and_stops_cleanly_on_sigterm() {
    atiende_testkit::process::assert_runs_alone_and_stops_cleanly(
        env!("CARGO_BIN_EXE_atiende-ingest"),
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_chat_limits_sessions_and_messages_and_expires_sessions() {
    let h = spawn_with(|s| {
        s.limits.webchat_sessions_per_ip_per_hour = 2;
        s.limits.webchat_messages_per_session_per_minute = 2;
    })
    .await;
    let base = h.server.url();
    let open = || async {
        h.http
            .post(format!("{base}/webchat/demo/sessions"))
            .send()
            .await
            .unwrap()
    };
    let first = open().await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let session = first.json::<serde_json::Value>().await.unwrap()["session"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(open().await.status(), StatusCode::CREATED);
    let third = open().await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers().contains_key("retry-after"));
    let error: serde_json::Value = third.json().await.unwrap();
    assert_eq!(error["error"]["code"], "rate_limited");

    let url = format!("{base}/webchat/demo/sessions/{session}/messages");
    let say = |text: &'static str| {
        let url = url.clone();
        let http = h.http.clone();
        async move {
            http.post(&url)
                .json(&serde_json::json!({ "text": text }))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(say("hola").await, StatusCode::ACCEPTED);
    assert_eq!(say("¿precio del cemento?").await, StatusCode::ACCEPTED);
    assert_eq!(say("¿y la varilla?").await, StatusCode::TOO_MANY_REQUESTS);

    // A session opened more than `webchat_session_hours` ago is gone.
    let demo = atiende_domain::TenantId::parse("demo").unwrap();
    let old = "7d0c9b3e-2f4a-4d5b-9c1e-000000000001";
    h.infra
        .stores()
        .webchat
        .create_session(&demo, old, chrono::Utc::now() - chrono::Duration::hours(25))
        .await
        .unwrap();
    let expired = h
        .http
        .post(format!("{base}/webchat/demo/sessions/{old}/messages"))
        .json(&serde_json::json!({ "text": "hola" }))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::NOT_FOUND);
    let error: serde_json::Value = expired.json().await.unwrap();
    assert_eq!(error["error"]["code"], "session_expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_form_is_refused_before_any_signature_work() {
    let h = spawn().await;
    // 28,000 empty fields (224 KB, under the body limit), with a forged signature.
    let params: Vec<(String, String)> = (0..28_000)
        .map(|i| (format!("f{i}"), String::new()))
        .collect();
    let response = h
        .post_form("/webhooks/twilio/demo", &params, Some("AAAA"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "invalid_body");
    // Signed by the tenant's own token, it is no more a Twilio webhook.
    let signed = h.post_twilio("/webhooks/twilio/demo", &params, TOKEN).await;
    assert_eq!(signed.status(), StatusCode::BAD_REQUEST);
}
