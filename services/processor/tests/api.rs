//! Black-box tests of the processor: Pub/Sub push envelopes in on port 0, outbound actions out on
//! the embedded bus, state in the embedded store.

// A failing test should panic with the value it choked on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use atiende_bootstrap::{Embedded, test_settings};
use atiende_domain::{
    ActionKind, BusEvent, ConversationId, ConversationState, HandoffReason, Topic,
};
use atiende_testkit::{
    TestServer,
    bus::{Recorder, envelope},
};
use reqwest::StatusCode;
use secrecy::SecretString;

const SUB: &str = "atiende-processor-inbound";

struct Harness {
    _dir: tempfile::TempDir,
    infra: Embedded,
    server: TestServer,
    outbound: Arc<Recorder>,
    http: reqwest::Client,
}

async fn spawn_with(token: Option<&str>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.demo = Some(true);
    settings.bus.push_token = token.map(SecretString::from);
    let infra = Embedded::open(&settings, 0).await.unwrap();
    infra.load_demo_if_enabled().await.unwrap();
    let outbound = Recorder::new();
    infra
        .bus()
        .unwrap()
        .subscribe(Topic::Outbound.subscription(), outbound.clone())
        .unwrap();
    let consumer = atiende_processor::consumer(&infra).unwrap();
    let server = TestServer::start(Arc::new(move |cfg| consumer.configure(cfg)));
    Harness {
        _dir: dir,
        infra,
        server,
        outbound,
        http: reqwest::Client::new(),
    }
}

fn inbound(id: &str, text: &str) -> BusEvent {
    BusEvent::InboundMessageReceivedV1 {
        message: atiende_testkit::whatsapp_text("demo", "+18095551010", id, text),
    }
}

impl Harness {
    async fn push(&self, body: &serde_json::Value) -> reqwest::Response {
        self.push_with(body, None).await
    }

    async fn push_with(&self, body: &serde_json::Value, token: Option<&str>) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/pubsub/push/{SUB}", self.server.url()))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    fn replies(&self) -> Vec<ActionKind> {
        self.outbound
            .events()
            .into_iter()
            .map(|e| match e {
                BusEvent::OutboundActionRequestedV1 { action } => action.kind,
                other @ (BusEvent::InboundMessageReceivedV1 { .. }
                | BusEvent::DeskEventReceivedV1 { .. }
                | BusEvent::TurnDueV1 { .. }) => panic!("unexpected {other:?}"),
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_is_answered_from_the_tenants_knowledge() {
    let h = spawn_with(None).await;
    let response = h
        .push(&envelope(
            SUB,
            "1",
            &inbound("SM1", "¿Cuánto cuesta el cemento gris?"),
            1,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    h.outbound.wait_for(1, Duration::from_secs(5)).await;
    let ActionKind::Reply { text } = &h.replies()[0] else {
        panic!("{:?}", h.replies())
    };
    assert!(text.contains("RD$495"), "{text}");
    let delivery = &h.outbound.deliveries()[0];
    assert_eq!(
        delivery.ordering_key.as_deref(),
        Some("demo:twilio:+18095551010")
    );
    assert!(
        delivery
            .traceparent()
            .unwrap()
            .contains("4bf92f3577b34da6a3ce929d0e0e4736"),
        "trace continues"
    );
    let id = ConversationId::parse("demo:twilio:+18095551010").unwrap();
    let stored = h
        .infra
        .stores()
        .conversations
        .load(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.value.turns.len(), 2, "the question and the answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_message_is_answered_once() {
    let h = spawn_with(None).await;
    let body = envelope(SUB, "1", &inbound("SM2", "hola"), 1);
    assert_eq!(h.push(&body).await.status(), StatusCode::NO_CONTENT);
    let again = envelope(SUB, "1", &inbound("SM2", "hola"), 2);
    assert_eq!(h.push(&again).await.status(), StatusCode::NO_CONTENT);
    h.outbound.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.outbound.deliveries().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_parked_not_retried_and_bad_envelopes_are_400() {
    let h = spawn_with(None).await;
    let mut body = envelope(SUB, "7", &inbound("SM3", "hola"), 1);
    body["message"]["data"] = serde_json::json!("eyJub3QiOiAiYW4gZXZlbnQifQ=="); // {"not": "an event"}
    assert_eq!(h.push(&body).await.status(), StatusCode::NO_CONTENT);
    let mut body = envelope(SUB, "8", &inbound("SM4", "hola"), 1);
    body["message"]["data"] = serde_json::json!("%%% not base64");
    assert_eq!(h.push(&body).await.status(), StatusCode::NO_CONTENT);
    let letters = h.infra.stores().dead_letters.list(10).await.unwrap();
    assert_eq!(letters.len(), 2);
    assert!(
        letters
            .iter()
            .any(|l| l.message_id == "7" && l.reason.contains("undecodable"))
    );
    assert!(
        letters
            .iter()
            .any(|l| l.message_id == "8" && l.reason.contains("base64"))
    );
    let response = h
        .http
        .post(format!("{}/pubsub/push/{SUB}", h.server.url()))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_push_token_is_required() {
    let h = spawn_with(Some("s3cret")).await;
    let body = envelope(SUB, "1", &inbound("SM5", "hola"), 1);
    assert_eq!(h.push(&body).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.push_with(&body, Some("wrong")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.push_with(&body, Some("s3cret")).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_handoff_the_bot_stays_silent() {
    let h = spawn_with(None).await;
    h.push(&envelope(
        SUB,
        "1",
        &inbound("SM6", "Quiero hablar con un agente"),
        1,
    ))
    .await;
    h.outbound.wait_for(2, Duration::from_secs(5)).await;
    let replies = h.replies();
    let (ActionKind::Handoff { reason, notice, .. }, ActionKind::DeskHandoff { packet }) =
        (&replies[0], &replies[1])
    else {
        panic!("the customer is told and the desk gets the packet: {replies:?}")
    };
    assert_eq!(*reason, HandoffReason::CustomerRequested);
    assert!(notice.contains("persona"));
    assert!(notice.contains(packet.ticket.as_str()), "{notice}");
    assert_eq!(packet.summary, "Quiero hablar con un agente");
    assert_eq!(
        h.push(&envelope(
            SUB,
            "2",
            &inbound("SM7", "¿hola? ¿hay alguien?"),
            1
        ))
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        h.outbound.deliveries().len(),
        2,
        "no reply while a person owns the conversation (the console desk needs no relay)"
    );
    let id = ConversationId::parse("demo:twilio:+18095551010").unwrap();
    let stored = h
        .infra
        .stores()
        .conversations
        .load(&id)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(stored.state, ConversationState::WaitingForHuman);
    assert_eq!(
        stored.turns.last().unwrap().text,
        "¿hola? ¿hay alguien?",
        "the message is kept for the person"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_alone_and_stops_cleanly_on_sigterm() {
    atiende_testkit::process::assert_runs_alone_and_stops_cleanly(
        env!("CARGO_BIN_EXE_atiende-processor"),
        &[("ATIENDE_BUS__PUSH_TOKEN", "push-secret")],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alone_without_push_credentials_it_refuses_to_start_and_names_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_atiende-processor"))
        .env("ATIENDE_DATA_DIR", dir.path())
        .env("ATIENDE_PORT", "0")
        .env("ATIENDE_KNOWLEDGE__EMBEDDER", "none")
        .env_remove("ATIENDE_BUS__PUSH_TOKEN")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), output)
        .await
        .expect("it stops by itself")
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("bus.push_token")
            && said.contains("gcp.push_service_account")
            && said.contains("bus.unauthenticated_push"),
        "{said}"
    );
}
