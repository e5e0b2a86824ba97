//! The four services as separate processes on Google's emulators, as they run on Cloud Run:
//! ingest publishes to Pub/Sub, the emulator pushes to the processor's and the dispatcher's push
//! routes, state lives in Firestore, and replies reach a fake Twilio API. A processor killed
//! (SIGKILL) while customers are writing and started again loses no message and answers none
//! twice.
//!
//! Needs `--features gcp` and both emulators (`infra/test.sh`); skipped otherwise, except in CI.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use atiende_adapter_twilio::signature as sig;
use atiende_testkit::FakeTwilio;

const ACCOUNT: &str = "AC00000000000000000000000000000000";
const PUBLIC_URL: &str = "https://atiende.example.com";
const ADMIN_TOKEN: &str = "gcp-e2e-admin";

/// A free local port (released at once; the service binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One service process; killed when dropped.
struct Service {
    name: &'static str,
    port: u16,
    env: BTreeMap<String, String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Service {
    fn new(name: &'static str, dir: &Path, env: BTreeMap<String, String>) -> Self {
        Self {
            name,
            port: free_port(),
            env,
            log: dir.join(format!("{name}.log")),
            child: None,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_atiende-e2e-service"))
            .env("E2E_ATIENDE_SERVICE", self.name)
            .env("PORT", self.port.to_string())
            .envs(&self.env)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        let ready = format!("{}/health/ready", self.url());
        let client = reqwest::Client::new();
        let mut up = None;
        for _ in 0..300 {
            if let Some(child) = self.child.as_mut()
                && child.try_wait().ok().flatten().is_some()
            {
                break;
            }
            if let Ok(r) = client.get(&ready).send().await
                && r.status().is_success()
            {
                up = Some(());
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if up.is_none() {
            panic!("{} did not become ready:\n{}", self.name, self.logs());
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

fn webhook_params(sid: &str, from: &str, body: &str) -> Vec<(String, String)> {
    [
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT),
        ("From", &format!("whatsapp:{from}")),
        ("To", "whatsapp:+14155238886"),
        ("Body", body),
        ("NumMedia", "0"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

async fn send_webhook(http: &reqwest::Client, ingest: &str, sid: &str, from: &str, body: &str) {
    let params = webhook_params(sid, from, body);
    let signature = sig::compute(
        "12345",
        &format!("{PUBLIC_URL}/webhooks/twilio/demo"),
        &params,
    );
    let response = http
        .post(format!("{ingest}/webhooks/twilio/demo"))
        .header("x-twilio-signature", signature)
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "ingest accepted {sid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_on_the_emulators_answer_each_message_once_across_a_processor_crash() {
    let pubsub_ok = crate::state_contract::emulator("PUBSUB_EMULATOR_HOST");
    if !pubsub_ok || !crate::state_contract::emulator("FIRESTORE_EMULATOR_HOST") {
        return;
    }
    let twilio = FakeTwilio::start(&[(ACCOUNT, "12345")]);
    let dir = tempfile::tempdir().unwrap();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let common = |service: &str| -> BTreeMap<String, String> {
        [
            ("ATIENDE_STORE__BACKEND", "firestore".to_owned()),
            ("ATIENDE_BUS__BACKEND", "pubsub".to_owned()),
            ("ATIENDE_GCP__PROJECT", "atiende-test".to_owned()),
            ("ATIENDE_GCP__TOPOLOGY_SUFFIX", format!("-{}", &run[..10])),
            (
                "ATIENDE_DATA_DIR",
                dir.path().join(service).display().to_string(),
            ),
            ("ATIENDE_PUBLIC_URL", PUBLIC_URL.to_owned()),
            ("ATIENDE_KNOWLEDGE__EMBEDDER", "none".to_owned()),
            ("ATIENDE_PROCESSOR__BURST_WINDOW_MS", "0".to_owned()),
            // Only ingest loads the demo tenant: the processor finds it, and its knowledge, in Firestore.
            ("ATIENDE_DEMO", (service == "ingest").to_string()),
            ("ATIENDE_ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
            ("ATIENDE_SHUTDOWN_GRACE_SECS", "5".to_owned()),
            (
                "ATIENDE_DISPATCHER__PER_RECIPIENT_PER_MINUTE",
                "600".to_owned(),
            ),
            ("TWILIO_API_BASE", twilio.base_url().to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(
            ["PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"]
                .map(|k| (k.to_owned(), std::env::var(k).unwrap())),
        )
        .collect()
    };
    let mut processor = Service::new("processor", dir.path(), common("processor"));
    let mut dispatcher = Service::new("dispatcher", dir.path(), common("dispatcher"));
    let mut ingest_env = common("ingest");
    // Ingest creates the topics and the push subscriptions to the other two (Terraform's job on
    // GCP), before they start: Pub/Sub keeps what is published until they are up.
    ingest_env.insert("ATIENDE_GCP__CREATE_TOPOLOGY".into(), "true".into());
    ingest_env.insert("ATIENDE_BUS__PUSH__PROCESSOR".into(), processor.url());
    ingest_env.insert("ATIENDE_BUS__PUSH__DISPATCHER".into(), dispatcher.url());
    let mut ingest = Service::new("ingest", dir.path(), ingest_env);
    let mut admin = Service::new("admin", dir.path(), common("admin"));
    ingest.start().await;
    processor.start().await;
    dispatcher.start().await;
    admin.start().await;
    let logs = [&ingest, &processor, &dispatcher].map(|s| (s.name, s.log.clone()));
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

    // The emulator backs off pushing to an endpoint that refused connections: allow for it.
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
