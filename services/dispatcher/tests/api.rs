//! Black-box tests of the dispatcher: outbound actions pushed in on port 0, sends observed at fake
//! Twilio and Meta APIs that follow protocols.md.

// A failing test should panic with the value it choked on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use atiende_bootstrap::{Embedded, test_settings};
use atiende_domain::{
    ActionId, ActionKind, BusEvent, Channel, Contact, ContactIdentity, ConversationId, Locale,
    OutboundAction, PhoneNumber, ProviderMessageId, TenantId, UserId,
};
use atiende_ports::{Outbox, OutboxState};
use atiende_testkit::{FakeMeta, FakeTwilio, TestServer, bus::envelope, fake_twilio::Failure};
use chrono::{Duration as Age, Utc};
use reqwest::StatusCode;

const SUB: &str = "atiende-dispatcher-outbound";
const PUBLIC: &str = "https://atiende.example.com";

struct Harness {
    _dir: tempfile::TempDir,
    infra: Embedded,
    server: TestServer,
    twilio: FakeTwilio,
    meta: FakeMeta,
    http: reqwest::Client,
}

async fn spawn() -> Harness {
    spawn_with(|_| {}).await
}

async fn spawn_with(edit: impl FnOnce(&mut atiende_platform::Settings)) -> Harness {
    let twilio = FakeTwilio::start(&[(
        "AC00000000000000000000000000000000",
        "demo-twilio-auth-token-0000",
    )]);
    let meta = FakeMeta::start(&[("106540352242922", "demo-access-token")]);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.demo = Some(true);
    settings.public_url = Some(PUBLIC.to_owned());
    settings.twilio.api_base = twilio.base_url().to_owned();
    settings.meta.graph_base = meta.base_url().to_owned();
    edit(&mut settings);
    let infra = Embedded::open(&settings, 0).await.unwrap();
    infra.load_demo_if_enabled().await.unwrap();
    let consumer = atiende_dispatcher::consumer(&infra);
    let server = TestServer::start(Arc::new(move |cfg| consumer.configure(cfg)));
    Harness {
        _dir: dir,
        infra,
        server,
        twilio,
        meta,
        http: reqwest::Client::new(),
    }
}

fn action(
    channel: Channel,
    cause: &str,
    kind: ActionKind,
    customer_wrote_hours_ago: i64,
) -> OutboundAction {
    let tenant = TenantId::parse("demo").unwrap();
    let phone = PhoneNumber::parse("+18095551010").unwrap();
    let conversation = ConversationId::new(&tenant, channel, phone.as_str());
    let cause = ProviderMessageId::parse(cause).unwrap();
    OutboundAction {
        id: ActionId::caused_by(&conversation, &cause, 0),
        tenant,
        conversation,
        channel,
        to: Contact::from_phone(phone).with_profile_name(Some("Juan")),
        kind,
        in_reply_to: Some(cause),
        last_customer_message_at: Some(Utc::now() - Age::hours(customer_wrote_hours_ago)),
        locale: Locale::Es,
        created_at: Utc::now(),
    }
}

fn reply(text: &str) -> ActionKind {
    ActionKind::Reply { text: text.into() }
}

impl Harness {
    async fn push(&self, action: &OutboundAction) -> StatusCode {
        let event = BusEvent::OutboundActionRequestedV1 {
            action: action.clone(),
        };
        self.http
            .post(format!("{}/pubsub/push/{SUB}", self.server.url()))
            .json(&envelope(SUB, "1", &event, 1))
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn outbox(&self, state: OutboxState) -> Vec<atiende_ports::OutboxRecord> {
        Outbox::list(
            self.infra.stores().outbox.as_ref(),
            &TenantId::parse("demo").unwrap(),
            Some(state),
            10,
        )
        .await
        .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_is_sent_through_twilio_exactly_once() {
    let h = spawn().await;
    let a = action(Channel::TwilioWhatsApp, "SM1", reply("Hola *Juan*"), 0);
    assert_eq!(h.push(&a).await, StatusCode::NO_CONTENT);
    assert_eq!(
        h.push(&a).await,
        StatusCode::NO_CONTENT,
        "a redelivery is acknowledged"
    );
    let sent = h.twilio.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "whatsapp:+18095551010");
    assert_eq!(sent[0].from.as_deref(), Some("whatsapp:+14155238886"));
    assert_eq!(sent[0].body.as_deref(), Some("Hola *Juan*"));
    assert_eq!(
        sent[0].status_callback.as_deref(),
        Some("https://atiende.example.com/webhooks/twilio/demo/status")
    );
    let records = h.outbox(OutboxState::Sent).await;
    assert_eq!(
        records[0].provider_message_id.as_deref(),
        Some(sent[0].sid.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_replies_thread_to_the_customer_message() {
    let h = spawn().await;
    let a = action(Channel::MetaWhatsApp, "wamid.IN1", reply("¡Hola!"), 0);
    assert_eq!(h.push(&a).await, StatusCode::NO_CONTENT);
    let sent = h.meta.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to(), "18095551010");
    assert_eq!(sent[0].text(), Some("¡Hola!"));
    assert_eq!(sent[0].body["context"]["message_id"], "wamid.IN1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_window_the_reengagement_template_goes_instead() {
    let h = spawn().await;
    let a = action(
        Channel::TwilioWhatsApp,
        "SM2",
        reply("respuesta tardía"),
        30,
    );
    assert_eq!(h.push(&a).await, StatusCode::NO_CONTENT);
    let sent = h.twilio.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, None, "no free-form text outside the window");
    assert_eq!(
        sent[0].content_sid.as_deref(),
        Some("HX00000000000000000000000000000000")
    );
    assert_eq!(
        sent[0].content_variables,
        Some(serde_json::json!({"1": "Juan"}))
    );
    let meta = action(Channel::MetaWhatsApp, "wamid.IN2", reply("tarde"), 30);
    assert_eq!(h.push(&meta).await, StatusCode::NO_CONTENT);
    assert_eq!(h.meta.sent()[0].template(), Some("seguimiento_consulta"));
    assert!(
        h.outbox(OutboxState::Sent).await.iter().all(|r| r
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("template"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_window_without_a_template_the_reply_is_parked_with_the_reason() {
    let h = spawn().await;
    let patch = atiende_app::tenants::TenantPatch {
        templates: Some(Default::default()),
        ..Default::default()
    };
    h.infra
        .tenant_admin()
        .unwrap()
        .update("demo", patch)
        .await
        .unwrap();
    let a = action(Channel::TwilioWhatsApp, "SM3", reply("tarde"), 30);
    assert_eq!(h.push(&a).await, StatusCode::NO_CONTENT);
    assert!(h.twilio.sent().is_empty());
    let parked = h.outbox(OutboxState::Parked).await;
    assert!(
        parked[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("window is closed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_provider_says_the_window_closed_the_template_is_sent() {
    let h = spawn().await;
    h.twilio.close_window("whatsapp:+18095551010");
    let a = action(Channel::TwilioWhatsApp, "SM4", reply("hola"), 0);
    assert_eq!(h.push(&a).await, StatusCode::NO_CONTENT);
    let sent = h.twilio.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].content_sid.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_provider_errors_are_retried_and_permanent_ones_recorded() {
    let h = spawn().await;
    h.twilio.fail_next(
        2,
        Failure {
            status: 503,
            code: None,
            retry_after: None,
        },
    );
    let a = action(Channel::TwilioWhatsApp, "SM5", reply("hola"), 0);
    assert_eq!(h.push(&a).await, StatusCode::NO_CONTENT);
    assert_eq!(
        h.twilio.requests(),
        3,
        "two failures, then success, within one delivery"
    );
    assert_eq!(h.twilio.sent().len(), 1);

    h.twilio.fail_next(
        3,
        Failure {
            status: 429,
            code: Some(20429),
            retry_after: None,
        },
    );
    let b = action(Channel::TwilioWhatsApp, "SM6", reply("hola"), 0);
    assert_eq!(
        h.push(&b).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "handed back to the bus"
    );
    assert_eq!(
        h.push(&b).await,
        StatusCode::NO_CONTENT,
        "the redelivery succeeds"
    );
    assert_eq!(h.twilio.sent().len(), 2);

    h.twilio.fail_next(
        1,
        Failure {
            status: 400,
            code: Some(21211),
            retry_after: None,
        },
    );
    let c = action(Channel::TwilioWhatsApp, "SM7", reply("hola"), 0);
    assert_eq!(
        h.push(&c).await,
        StatusCode::NO_CONTENT,
        "permanent: acknowledged, not retried"
    );
    let failed = h.outbox(OutboxState::Failed).await;
    assert!(failed[0].detail.as_deref().unwrap().contains("21211"));
    assert_eq!(h.push(&c).await, StatusCode::NO_CONTENT);
    assert_eq!(
        h.twilio.requests(),
        3 + 4 + 1,
        "the failed action is not sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_chat_replies_land_in_the_visitors_transcript() {
    let h = spawn().await;
    let tenant = TenantId::parse("demo").unwrap();
    let session = "6f1c5b0e-2d1c-4c4e-9a57-0c2f4f7d9a10";
    h.infra
        .webchat()
        .create_session(&tenant, session, Utc::now())
        .await
        .unwrap();
    let identity = ContactIdentity::User(UserId::parse(session).unwrap());
    let conversation = ConversationId::new(&tenant, Channel::WebChat, &identity.key());
    let cause = ProviderMessageId::parse("wc-1").unwrap();
    let a = OutboundAction {
        id: ActionId::caused_by(&conversation, &cause, 0),
        tenant: tenant.clone(),
        conversation,
        channel: Channel::WebChat,
        to: Contact {
            identity,
            phone: None,
            profile_name: None,
            user_id: None,
        },
        kind: reply("¡Hola desde el chat!"),
        in_reply_to: Some(cause),
        last_customer_message_at: None,
        locale: Locale::Es,
        created_at: Utc::now(),
    };
    assert_eq!(h.push(&a).await, StatusCode::NO_CONTENT);
    let transcript = h
        .infra
        .webchat()
        .list_after(&tenant, session, 0, 10)
        .await
        .unwrap();
    assert_eq!(transcript[0].text, "¡Hola desde el chat!");
    assert!(h.twilio.sent().is_empty() && h.meta.sent().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_meta_token_is_a_permanent_failure() {
    let h = spawn().await;
    h.meta.fail_next(1, 401, 190);
    let a = action(Channel::MetaWhatsApp, "wamid.IN9", reply("hola"), 0);
    assert_eq!(h.push(&a).await, StatusCode::NO_CONTENT);
    assert!(
        h.outbox(OutboxState::Failed).await[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("190")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_to_one_customer_wait_for_the_pacer_instead_of_failing() {
    // Two back to back, then one every 100 ms: five sends need at least three waits.
    let h = Arc::new(
        spawn_with(|s| {
            s.dispatcher.per_recipient_burst = 2;
            s.dispatcher.per_recipient_per_minute = 600;
        })
        .await,
    );
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..5 {
        let h = Arc::clone(&h);
        tasks.push(tokio::spawn(async move {
            let a = action(
                Channel::TwilioWhatsApp,
                &format!("SMB{i}"),
                reply("hola"),
                0,
            );
            h.push(&a).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::NO_CONTENT);
    }
    assert_eq!(
        h.twilio.sent().len(),
        5,
        "every message of the burst is sent"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(280),
        "the burst was spaced out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_alone_and_stops_cleanly_on_sigterm() {
    atiende_testkit::process::assert_runs_alone_and_stops_cleanly(
        env!("CARGO_BIN_EXE_atiende-dispatcher"),
        &[("ATIENDE_BUS__PUSH_TOKEN", "push-secret")],
    )
    .await;
}
