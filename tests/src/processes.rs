//! The services as separate processes, as on Cloud Run: start one, wait until it is ready, kill
//! it; the environment that puts them on Google's emulators; signed webhooks to ingest. Used by
//! the four-process test and the end-to-end latency benchmark.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use atiende_adapter_twilio::signature as sig;

/// The demo tenant's Twilio account.
pub const ACCOUNT: &str = "AC00000000000000000000000000000000";
/// The public URL webhooks are signed against.
pub const PUBLIC_URL: &str = "https://atiende.example.com";

/// The settings that put `service` on the emulators named by `PUBSUB_EMULATOR_HOST` and
/// `FIRESTORE_EMULATOR_HOST`, with topics suffixed by `run` and its data under `dir`. Only admin
/// loads the demo tenant: the others find it, and its knowledge, in Firestore.
pub fn emulator_env(
    run: &str,
    dir: &Path,
    service: &str,
    twilio: &str,
) -> BTreeMap<String, String> {
    [
        ("ATIENDE_STORE__BACKEND", "firestore".to_owned()),
        ("ATIENDE_BUS__BACKEND", "pubsub".to_owned()),
        ("ATIENDE_GCP__PROJECT", "atiende-test".to_owned()),
        ("ATIENDE_GCP__TOPOLOGY_SUFFIX", format!("-{}", &run[..10])),
        // A push lost with a killed process comes back after the ack deadline: the shortest.
        ("ATIENDE_GCP__ACK_DEADLINE_SECS", "10".to_owned()),
        ("ATIENDE_DATA_DIR", dir.join(service).display().to_string()),
        ("ATIENDE_PUBLIC_URL", PUBLIC_URL.to_owned()),
        ("ATIENDE_KNOWLEDGE__EMBEDDER", "none".to_owned()),
        ("ATIENDE_PROCESSOR__BURST_WINDOW_MS", "0".to_owned()),
        ("ATIENDE_DEMO", (service == "admin").to_string()),
        // The fake desks and CRMs listen on 127.0.0.1.
        ("ATIENDE_ALLOW_PRIVATE_URLS", "true".to_owned()),
        ("ATIENDE_SHUTDOWN_GRACE_SECS", "5".to_owned()),
        // Google's emulator pushes without a token.
        ("ATIENDE_BUS__UNAUTHENTICATED_PUSH", "true".to_owned()),
        (
            "ATIENDE_DISPATCHER__PER_RECIPIENT_PER_MINUTE",
            "600".to_owned(),
        ),
        ("TWILIO_API_BASE", twilio.to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(
        ["PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"]
            .map(|k| (k.to_owned(), std::env::var(k).unwrap_or_default())),
    )
    .collect()
}

/// A free local port (released at once; the service binds it a moment later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One service process; killed when dropped.
pub struct Service {
    binary: PathBuf,
    name: &'static str,
    port: u16,
    env: BTreeMap<String, String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Service {
    /// A service `name` run by `binary` (the e2e package's `atiende-e2e-service`), logging to
    /// `{dir}/{name}.log`, on a free port.
    pub fn new(
        binary: &str,
        name: &'static str,
        dir: &Path,
        env: BTreeMap<String, String>,
    ) -> Self {
        Self {
            binary: PathBuf::from(binary),
            name,
            port: free_port(),
            env,
            log: dir.join(format!("{name}.log")),
            child: None,
        }
    }

    /// Runs it from `binary` instead (a service's own release binary, for the benchmark).
    pub fn set_binary(&mut self, binary: impl Into<PathBuf>) {
        self.binary = binary.into();
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Where it logs.
    pub fn log_path(&self) -> PathBuf {
        self.log.clone()
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `http://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts it and waits until `/health/ready` answers 200; returns how long that took.
    pub async fn start(&mut self) -> Duration {
        let spawned = std::time::Instant::now();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(&self.binary)
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
        // Polled every 10 ms: the start → ready figure of the benchmark is read off this loop.
        for _ in 0..6000 {
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
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if up.is_none() {
            panic!("{} did not become ready:\n{}", self.name, self.logs());
        }
        spawned.elapsed()
    }

    /// Sets (or replaces) one of its environment variables, for its next start.
    pub fn set_env(&mut self, key: &str, value: impl Into<String>) {
        self.env.insert(key.to_owned(), value.into());
    }

    /// Where it keeps local data (`ATIENDE_DATA_DIR`).
    pub fn data_dir(&self) -> PathBuf {
        self.env
            .get("ATIENDE_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_default()
    }

    /// Kills it (SIGKILL) and starts it again on a new, empty data directory, as Cloud Run starts
    /// a new instance with a disk of its own; returns how long it took to become ready.
    pub async fn restart_on_empty_disk(&mut self) -> Duration {
        self.kill();
        let previous = self.data_dir();
        let mut n = 1;
        let fresh = loop {
            let candidate = PathBuf::from(format!("{}-{n}", previous.display()));
            if !candidate.exists() {
                break candidate;
            }
            n += 1;
        };
        self.set_env("ATIENDE_DATA_DIR", fresh.display().to_string());
        self.start().await
    }

    /// Kills it (SIGKILL) and waits for it to go.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What it printed.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A tenant's WhatsApp number at Twilio: what its webhooks are signed with.
pub struct TwilioLine<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// Its Twilio account SID.
    pub account: &'a str,
    /// The account's auth token.
    pub token: &'a str,
    /// Its WhatsApp number.
    pub number: &'a str,
}

/// The demo tenant's line.
pub const DEMO_LINE: TwilioLine<'static> = TwilioLine {
    tenant: "demo",
    account: ACCOUNT,
    token: "demo-twilio-auth-token-0000",
    number: "+14155238886",
};

/// A Twilio webhook's form fields for a message to `line`.
pub fn webhook_params(
    line: &TwilioLine<'_>,
    sid: &str,
    from: &str,
    body: &str,
) -> Vec<(String, String)> {
    [
        ("MessageSid", sid),
        ("AccountSid", line.account),
        ("From", &format!("whatsapp:{from}")),
        ("To", &format!("whatsapp:{}", line.number)),
        ("Body", body),
        ("NumMedia", "0"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// Posts a Twilio webhook for `line` to ingest at `ingest`, signed as Twilio signs it; asserts it
/// is accepted.
pub async fn send_line_webhook(
    http: &reqwest::Client,
    ingest: &str,
    line: &TwilioLine<'_>,
    (sid, from, body): (&str, &str, &str),
) {
    post_line_params(http, ingest, line, webhook_params(line, sid, from, body)).await;
}

/// Posts a Twilio webhook with these `params` for `line` to ingest, signed as Twilio signs it;
/// asserts it is accepted.
pub async fn post_line_params(
    http: &reqwest::Client,
    ingest: &str,
    line: &TwilioLine<'_>,
    params: Vec<(String, String)>,
) {
    let sid = params
        .iter()
        .find(|(k, _)| k == "MessageSid")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let path = format!("/webhooks/twilio/{}", line.tenant);
    let signature = sig::compute(line.token, &format!("{PUBLIC_URL}{path}"), &params);
    let response = http
        .post(format!("{ingest}{path}"))
        .header("x-twilio-signature", signature)
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "ingest accepted {sid}");
}

/// Posts a Twilio webhook to the demo tenant at ingest (see [`send_line_webhook`]).
pub async fn send_webhook(http: &reqwest::Client, ingest: &str, sid: &str, from: &str, body: &str) {
    send_line_webhook(http, ingest, &DEMO_LINE, (sid, from, body)).await;
}

/// The four services on the emulators, not started yet: ingest creates the topics and the push
/// subscriptions to the processor and the dispatcher (Terraform's job on GCP) when it starts, so
/// start it first; Pub/Sub keeps what is published until the others are up.
pub struct FourServices {
    /// Webhooks and web chat.
    pub ingest: Service,
    /// The conversation brain.
    pub processor: Service,
    /// The sender.
    pub dispatcher: Service,
    /// The admin API.
    pub admin: Service,
}

impl FourServices {
    /// The four, run by `binary`, with topics suffixed by `run`, data and logs under `dir`,
    /// sending to the Twilio API at `twilio`, each with `extra` settings too.
    pub fn new(binary: &str, run: &str, dir: &Path, twilio: &str, extra: &[(&str, &str)]) -> Self {
        let env = |service: &str| {
            let mut env = emulator_env(run, dir, service, twilio);
            env.extend(
                extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            );
            env
        };
        let processor = Service::new(binary, "processor", dir, env("processor"));
        let dispatcher = Service::new(binary, "dispatcher", dir, env("dispatcher"));
        let mut ingest_env = env("ingest");
        ingest_env.insert("ATIENDE_GCP__CREATE_TOPOLOGY".into(), "true".into());
        ingest_env.insert("ATIENDE_BUS__PUSH__PROCESSOR".into(), processor.url());
        ingest_env.insert("ATIENDE_BUS__PUSH__DISPATCHER".into(), dispatcher.url());
        Self {
            ingest: Service::new(binary, "ingest", dir, ingest_env),
            processor,
            dispatcher,
            admin: Service::new(binary, "admin", dir, env("admin")),
        }
    }
}
