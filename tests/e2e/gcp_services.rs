//! The four services as separate processes on Google's emulators, as they run on Cloud Run:
//! ingest publishes to Pub/Sub, the emulator pushes to the processor's and the dispatcher's push
//! routes, state lives in Firestore, and replies reach a fake Twilio API. A processor killed
//! (SIGKILL) while customers are writing and started again loses no message and answers none
//! twice.
//!
//! Needs `--features gcp` and both emulators (`infra/test.sh`); skipped otherwise, except in CI.

use std::time::Duration;

use atiende_e2e::processes::{ACCOUNT, FourServices, send_webhook};
use atiende_testkit::FakeTwilio;

const ADMIN_TOKEN: &str = "gcp-e2e-admin";
const BIN: &str = env!("CARGO_BIN_EXE_atiende-e2e-service");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_on_the_emulators_answer_each_message_once_across_a_processor_crash() {
    let pubsub_ok = crate::state_contract::emulator("PUBSUB_EMULATOR_HOST");
    if !pubsub_ok || !crate::state_contract::emulator("FIRESTORE_EMULATOR_HOST") {
        return;
    }
    let twilio = FakeTwilio::start(&[(ACCOUNT, "demo-twilio-auth-token-0000")]);
    let dir = tempfile::tempdir().unwrap();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let FourServices {
        mut ingest,
        mut processor,
        mut dispatcher,
        mut admin,
    } = FourServices::new(
        BIN,
        &run,
        dir.path(),
        twilio.base_url(),
        &[("ATIENDE_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    ingest.start().await;
    processor.start().await;
    dispatcher.start().await;
    admin.start().await;
    let logs = [&ingest, &processor, &dispatcher].map(|s| (s.name(), s.log_path()));
    let dump = |why: &str| {
        let mut out = why.to_owned();
        for (name, path) in &logs {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            out.push_str(&format!("\n--- {name}\n{text}"));
        }
        out
    };

    // A customer writes; the reply crosses three processes and two Pub/Sub hops.
    let http = reqwest::Client::new();
    // Fresh numbers and message ids per run: the emulator's Firestore outlives a test.
    let prefix = u32::from_str_radix(&run[..5], 16).unwrap() % 1_000_000;
    let phone = |i: usize| format!("+1809{prefix:06}{i}");
    let sid = |i: usize| format!("SM{}{i:02}", &run[..30]);
    send_webhook(
        &http,
        &ingest.url(),
        &sid(99),
        &phone(0),
        "¿Aceptan cheques?",
    )
    .await;
    let first = atiende_testkit::eventually(Duration::from_secs(30), || async {
        twilio
            .sent()
            .into_iter()
            .find(|m| m.to.ends_with(&phone(0)))
    })
    .await;
    let Some(first) = first else {
        panic!("{}", dump("no reply reached Twilio"));
    };
    assert!(
        first
            .body
            .as_deref()
            .is_some_and(|b| b.to_lowercase().contains("cheque")),
        "{first:?}"
    );

    // Five customers write while the processor dies and comes back.
    let customers: Vec<String> = (1..=5).map(phone).collect();
    for (i, from) in customers.iter().enumerate() {
        send_webhook(&http, &ingest.url(), &sid(i), from, "¿Cuál es el horario?").await;
        if i == 1 {
            processor.kill();
        }
    }
    // A webhook Twilio delivers twice is published once.
    send_webhook(
        &http,
        &ingest.url(),
        &sid(0),
        &customers[0],
        "¿Cuál es el horario?",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    processor.start().await;

    // A push refused or cut off by the crash comes back after the ack deadline (10 s here).
    let answered = atiende_testkit::eventually(Duration::from_secs(120), || async {
        let sent = twilio.sent();
        customers
            .iter()
            .all(|c| sent.iter().any(|m| m.to.ends_with(c.as_str())))
            .then_some(sent)
    })
    .await;
    if answered.is_none() {
        panic!("{}", dump("a message was lost across the processor crash"));
    }
    // Redeliveries settle; then every customer has exactly one answer.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sent = twilio.sent();
    for c in &customers {
        let replies = sent.iter().filter(|m| m.to.ends_with(c.as_str())).count();
        assert_eq!(replies, 1, "{c} got {replies} replies\n{}", dump(""));
    }

    // The admin service reads the same Firestore.
    let conversations: serde_json::Value = http
        .get(format!(
            "{}/admin/tenants/demo/conversations?limit=200",
            admin.url()
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = conversations.to_string();
    for c in &customers {
        assert!(
            listed.contains(c.trim_start_matches('+')),
            "admin lists {c}: {listed}"
        );
    }
}
