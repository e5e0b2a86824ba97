//! Reliability under hostile input and misbehaving providers (issue 15), as a bench binary whose
//! figures go to docs/reliability.md. atiende runs all in one in this process (embedded SQLite bus
//! and store) in front of the fake Twilio API and, for the model scenario, the fake LLM.
//!
//! * **retries** — N webhooks (default 1,000), each delivered three times in a shuffled,
//!   concurrent order, as Twilio does when it times out: exactly N replies, one per customer.
//! * **hostile** — M customers (default 200) write at a steady rate, once on a quiet service and
//!   once while K hostile requests (default 10,000: unsigned, forged, oversized, malformed,
//!   pathological, unknown tenants and sessions, web chat floods) hit every public route: no 5xx,
//!   every customer answered, and the customers' p99 reply latency compared with the quiet run.
//! * **model_down** — the language model fails every call: every customer gets the apology and
//!   is handed to a person.
//! * **send_down** — Twilio's API answers 503 for a while, then recovers: every reply is delivered
//!   once, in order per customer.
//! * **crashes** — the all-in-one as its own process, killed with SIGKILL at random moments while
//!   C customers (default 500) write, and started again on the same disk each time: every
//!   message answered, and how many twice (the one window: a send the provider took before the
//!   outbox recorded it).
//! * **disk_full** — the all-in-one's data directory on a small tmpfs (needs root to mount) is
//!   filled while customers write, then freed: webhooks refused meanwhile are retried as a
//!   provider would, and every message accepted before, during or after is answered once.
//! * **soak** — the all-in-one as its own process under a steady rate (`RATE` messages a second,
//!   default 5) for `SOAK_SECS` (default 3,600): its resident memory, open files and backlog
//!   (accepted, not yet answered) sampled every minute. `SOAK_WRAPPER` names a script that execs
//!   the service (under a heap profiler, say); built with `--features heap-stats`, the service's
//!   live heap bytes are sampled too.
//!
//! Run: `cargo bench -p atiende-e2e --bench reliability [-- SCENARIO...]` with `N`, `M`, `K`,
//! `OUTAGE_SECS` to scale.

// A bench binary fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atiende_domain::{ConversationId, ConversationState};
use atiende_e2e::{Stack, TWILIO_ACCOUNT};
use atiende_testkit::fake_llm::Scripted;
use atiende_testkit::fake_twilio::Failure;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const TOKEN: &str = "demo-twilio-auth-token-0000";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A deterministic shuffle (xorshift), so a run can be repeated.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let j = usize::try_from(seed % (i as u64 + 1)).unwrap();
        items.swap(i, j);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn quiet_stack_settings(s: &mut atiende_platform::Settings) {
    s.log.filter = "error".to_owned();
    // Every reply leaves from the demo's one number: measure the path, not the pacer.
    s.dispatcher.per_sender_per_second = 10_000;
}

/// A customer's message as Twilio signs it for a deployment whose public URL is `public`.
fn signed(public: &str, sid: &str, phone: &str, text: &str) -> (Vec<(String, String)>, String) {
    let params: Vec<(String, String)> = [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", TWILIO_ACCOUNT),
        ("From", &format!("whatsapp:{phone}")),
        ("To", "whatsapp:+14155238886"),
        ("Body", text),
        ("NumMedia", "0"),
        ("WaId", phone.trim_start_matches('+')),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let url = format!("{public}/webhooks/twilio/demo");
    let signature = atiende_adapter_twilio::signature::compute(TOKEN, &url, &params);
    (params, signature)
}

/// A customer's message as Twilio signs it for the stack's public URL.
fn form(stack: &Stack, sid: &str, phone: &str, text: &str) -> (Vec<(String, String)>, String) {
    signed(stack.running.public_url(), sid, phone, text)
}

/// The e2e service binary, which runs the all-in-one as its own process.
const BIN: &str = env!("CARGO_BIN_EXE_atiende-e2e-service");
/// The public URL the process's webhooks are signed for.
const PUBLIC: &str = "https://atiende.example.com";

/// The all-in-one as its own process on `data`, in front of `twilio`, with `extra` settings.
async fn all_in_one(
    twilio: &atiende_testkit::FakeTwilio,
    data: &std::path::Path,
    extra: &[(&str, &str)],
) -> atiende_testkit::process::ServiceProcess {
    all_in_one_as(BIN, twilio, data, extra).await
}

/// [`all_in_one`], started through `binary` (a wrapper that execs the service, e.g. under a
/// heap profiler).
async fn all_in_one_as(
    binary: &str,
    twilio: &atiende_testkit::FakeTwilio,
    data: &std::path::Path,
    extra: &[(&str, &str)],
) -> atiende_testkit::process::ServiceProcess {
    let mut env = vec![
        ("E2E_ATIENDE_SERVICE", "atiende"),
        ("TWILIO_API_BASE", twilio.base_url()),
        ("ATIENDE_PUBLIC_URL", PUBLIC),
        ("ATIENDE_DEMO", "true"),
        ("ATIENDE_LOG__FILTER", "error"),
        ("ATIENDE_KNOWLEDGE__EMBEDDER", "none"),
        ("ATIENDE_PROCESSOR__BURST_WINDOW_MS", "0"),
        ("ATIENDE_DISPATCHER__PER_SENDER_PER_SECOND", "10000"),
    ];
    env.extend_from_slice(extra);
    let mut service = atiende_testkit::process::ServiceProcess::start(binary, data, &env);
    service.wait_ready(Duration::from_secs(60)).await;
    service
}

async fn post_form(
    http: &reqwest::Client,
    base: &str,
    (params, signature): &(Vec<(String, String)>, String),
) -> u16 {
    http.post(format!("{base}/webhooks/twilio/demo"))
        .header("x-twilio-signature", signature)
        .form(params)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// Replies received per recipient (`whatsapp:+…`).
fn replies(stack: &Stack) -> BTreeMap<String, Vec<String>> {
    let mut by = BTreeMap::<String, Vec<String>>::new();
    for m in stack.twilio.sent() {
        by.entry(m.to).or_default().push(m.body.unwrap_or_default());
    }
    by
}

async fn wait_for_replies(stack: &Stack, n: usize, within: Duration) -> Duration {
    let start = Instant::now();
    while stack.twilio.sent().len() < n && start.elapsed() < within {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stack.running.wait_idle(Duration::from_secs(30)).await;
    start.elapsed()
}

async fn retries() {
    let n = env("N", 1000);
    let stack = Stack::start_with(quiet_stack_settings).await;
    let base = stack.running.local_url();
    let mut deliveries: Vec<_> = (0..n)
        .flat_map(|i| {
            let f = form(
                &stack,
                &format!("SM{i:032}"),
                &format!("+1809777{i:04}"),
                "¿Aceptan cheques?",
            );
            [f.clone(), f.clone(), f]
        })
        .collect();
    shuffle(&mut deliveries, 0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(16));
    let mut tasks = JoinSet::new();
    for delivery in deliveries {
        let (http, base, gate) = (stack.http.clone(), base.clone(), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            post_form(&http, &base, &delivery).await
        });
    }
    let mut statuses = BTreeMap::<u16, usize>::new();
    while let Some(status) = tasks.join_next().await {
        *statuses.entry(status.unwrap()).or_default() += 1;
    }
    wait_for_replies(&stack, n, Duration::from_secs(120)).await;
    let elapsed = started.elapsed();
    let by = replies(&stack);
    let doubled = by.values().filter(|r| r.len() > 1).count();
    println!(
        "retries: {} deliveries of {n} messages (answers {statuses:?}) -> {} replies to {} customers, {} missing, {doubled} answered twice, in {elapsed:.1?}",
        3 * n,
        by.values().map(Vec::len).sum::<usize>(),
        by.len(),
        n - by.len(),
    );
}

/// What a hostile client sends: a route, a body, headers.
/// Bodies built once: the load generator's own work should not be what slows the customers.
struct HostileBodies {
    big: reqwest::Body,
    fields: String,
    long_text: String,
}

impl HostileBodies {
    fn new() -> Self {
        Self {
            big: reqwest::Body::from("x".repeat(300 * 1024)),
            fields: (0..28_000).map(|f| format!("f{f}=&")).collect(),
            long_text: format!("{{\"text\": \"{}\"}}", "y".repeat(40_000)),
        }
    }
}

fn hostile_request(
    i: usize,
    bodies: &HostileBodies,
    http: &reqwest::Client,
    base: &str,
) -> reqwest::RequestBuilder {
    let big = || bodies.big.as_bytes().map_or_else(Vec::new, <[u8]>::to_vec);
    match i % 14 {
        // Twilio: unsigned, forged, pathological, oversized, unknown tenant, wrong type.
        0 => http
            .post(format!("{base}/webhooks/twilio/demo"))
            .form(&[("Body", "hola"), ("From", "whatsapp:+18095550000")]),
        1 => http
            .post(format!("{base}/webhooks/twilio/demo"))
            .header("x-twilio-signature", "Zm9yZ2VkIHNpZ25hdHVyZQ==")
            .form(&[("MessageSid", "SMforged"), ("Body", "hola")]),
        2 => http
            .post(format!("{base}/webhooks/twilio/demo"))
            .header("x-twilio-signature", "AAAA")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(bodies.fields.clone()),
        3 => http
            .post(format!("{base}/webhooks/twilio/demo"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big()),
        4 => http
            .post(format!("{base}/webhooks/twilio/nobody"))
            .form(&[("Body", "hola")]),
        5 => http
            .post(format!("{base}/webhooks/twilio/demo"))
            .header("content-type", "application/json")
            .body("{}"),
        // Meta: forged signature, malformed JSON, oversized, bad handshake.
        6 => http
            .post(format!("{base}/webhooks/meta/demo"))
            .header("x-hub-signature-256", "sha256=00")
            .body(r#"{"object":"whatsapp_business_account","entry":[]}"#),
        7 => http
            .post(format!("{base}/webhooks/meta/demo"))
            .body("{\"entry\": [[[[[[[[[[[[[[[[[[[[[[[[[[[["),
        8 => http.post(format!("{base}/webhooks/meta/demo")).body(big()),
        9 => http.get(format!(
            "{base}/webhooks/meta/demo?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1"
        )),
        // Desks: bad signatures and tokens.
        10 => http
            .post(format!("{base}/webhooks/chatwoot/demo"))
            .header("x-chatwoot-signature", "sha256=00")
            .header("x-chatwoot-timestamp", "1")
            .body(r#"{"event":"message_created"}"#),
        11 => http
            .post(format!("{base}/webhooks/rocketchat/demo"))
            .body(r#"{"token":"guess","text":"hola"}"#),
        // Web chat: a session flood, unknown sessions, oversized and malformed messages.
        12 => http.post(format!("{base}/webchat/demo/sessions")),
        _ => http
            .post(format!(
                "{base}/webchat/demo/sessions/00000000-0000-4000-8000-{i:012}/messages"
            ))
            .header("content-type", "application/json")
            .body(if i.is_multiple_of(2) {
                bodies.long_text.clone()
            } else {
                "{\"text\": ".to_owned()
            }),
    }
}

/// Customers writing at `per_second`; each one's reply latency (webhook sent → reply at Twilio).
async fn customers(stack: &Stack, round: &str, m: usize, per_second: f64) -> Vec<Duration> {
    let sent_at: Mutex<HashMap<String, Instant>> = Mutex::default();
    let latencies: Mutex<Vec<Duration>> = Mutex::default();
    let base = stack.running.local_url();
    let every = Duration::from_secs_f64(1.0 / per_second);
    let send = async {
        for i in 0..m {
            let phone = format!("+1809{round}{i:04}");
            let f = form(
                stack,
                &format!("SM{round}{i:030}"),
                &phone,
                "¿Aceptan cheques?",
            );
            sent_at
                .lock()
                .unwrap()
                .insert(format!("whatsapp:{phone}"), Instant::now());
            assert_eq!(
                post_form(&stack.http, &base, &f).await,
                200,
                "a customer was refused"
            );
            tokio::time::sleep(every).await;
        }
    };
    // Watches the fake Twilio API for each customer's reply.
    let watch = async {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = 0;
        while latencies.lock().unwrap().len() < m && Instant::now() < deadline {
            let sent = stack.twilio.sent();
            for reply in &sent[seen..] {
                if let Some(at) = sent_at.lock().unwrap().remove(&reply.to) {
                    latencies.lock().unwrap().push(at.elapsed());
                }
            }
            seen = sent.len();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::join!(send, watch);
    let mut l = latencies.into_inner().unwrap();
    assert_eq!(l.len(), m, "every customer answered");
    l.sort();
    l
}

async fn hostile() {
    let (m, k) = (env("M", 200), env("K", 10_000));
    let stack = Stack::start_with(quiet_stack_settings).await;
    let quiet = customers(&stack, "801", m, 20.0).await;

    let base = stack.running.local_url();
    let statuses: Arc<Mutex<BTreeMap<u16, usize>>> = Arc::default();
    let attack = {
        let (http, statuses) = (stack.http.clone(), statuses.clone());
        tokio::spawn(async move {
            let bodies = Arc::new(HostileBodies::new());
            let gate = Arc::new(Semaphore::new(16));
            let mut tasks = JoinSet::new();
            for i in 0..k {
                // Sixteen in flight, each built only when it may go.
                let permit = gate.clone().acquire_owned().await.unwrap();
                let (bodies, http, base, statuses) =
                    (bodies.clone(), http.clone(), base.clone(), statuses.clone());
                tasks.spawn(async move {
                    let _permit = permit;
                    let request = hostile_request(i, &bodies, &http, &base);
                    let status = request.send().await.map_or(0, |r| r.status().as_u16());
                    *statuses.lock().unwrap().entry(status).or_default() += 1;
                });
                while tasks.try_join_next().is_some() {}
            }
            while tasks.join_next().await.is_some() {}
        })
    };
    let started = Instant::now();
    let loaded = customers(&stack, "802", m, 20.0).await;
    attack.await.unwrap();
    let attack_time = started.elapsed();
    let statuses = statuses.lock().unwrap().clone();
    let server_errors: usize = statuses
        .iter()
        .filter(|(s, _)| **s >= 500 || **s == 0)
        .map(|(_, n)| n)
        .sum();
    let show = |l: &[Duration]| {
        format!(
            "p50 {:.1?} p99 {:.1?} max {:.1?}",
            percentile(l, 50.0),
            percentile(l, 99.0),
            l[l.len() - 1]
        )
    };
    println!("hostile: quiet   {m} customers at 20/s: {}", show(&quiet));
    println!(
        "hostile: loaded  {m} customers at 20/s beside {k} hostile requests in {attack_time:.1?}: {}",
        show(&loaded)
    );
    println!(
        "hostile: p99 ratio loaded/quiet {:.2}; hostile answers {statuses:?}; 5xx or no answer: {server_errors}",
        percentile(&loaded, 99.0).as_secs_f64() / percentile(&quiet, 99.0).as_secs_f64()
    );
}

async fn model_down() {
    let n = env("N", 100);
    let llm = atiende_testkit::FakeLlm::start();
    llm.set_default(|_| Scripted::status(500));
    let stack = Stack::start_with(|s| {
        quiet_stack_settings(s);
        s.llm.providers = vec![atiende_platform::config::LlmProvider {
            name: "down".into(),
            base_url: llm.base_url().into(),
            model: "gpt-4o-mini".into(),
            api_keys: vec![secrecy::SecretString::from("sk-down")],
            timeout_secs: 2,
            conversations_per_key: 1000,
            max_completion_tokens: false,
        }];
        s.llm.max_retries = 0;
    })
    .await;
    let base = stack.running.local_url();
    for i in 0..n {
        let f = form(
            &stack,
            &format!("SM{i:032}"),
            &format!("+1809888{i:04}"),
            "Necesito una cotización de 40 fundas de cemento para mañana",
        );
        assert_eq!(post_form(&stack.http, &base, &f).await, 200);
    }
    wait_for_replies(&stack, n, Duration::from_secs(120)).await;
    let store = stack.running.infra().stores().conversations.clone();
    let demo = atiende_domain::TenantId::parse("demo").unwrap();
    let mut handed = 0;
    for i in 0..n {
        let id = ConversationId::new(
            &demo,
            atiende_domain::Channel::TwilioWhatsApp,
            &format!("+1809888{i:04}"),
        );
        let c = store.load(&id).await.unwrap().unwrap().value;
        if c.state == ConversationState::WaitingForHuman {
            handed += 1;
        }
    }
    let by = replies(&stack);
    println!(
        "model_down: {n} turns with every model call failing ({} calls): {} customers answered, {handed} handed to a person",
        llm.calls(),
        by.len()
    );
}

async fn send_down() {
    let (customers, per_customer) = (env("N", 50), 3);
    let outage = Duration::from_secs(u64::try_from(env("OUTAGE_SECS", 60)).unwrap());
    // Production's redelivery backoff (1 s to 60 s) and attempts, not the tests' fast ones.
    let stack = Stack::start_with(|s| {
        quiet_stack_settings(s);
        let production = atiende_platform::Settings::default();
        s.bus = production.bus;
        s.dispatcher.send_attempts = production.dispatcher.send_attempts;
        s.dispatcher.first_retry_ms = production.dispatcher.first_retry_ms;
        s.dispatcher.max_retry_ms = production.dispatcher.max_retry_ms;
    })
    .await;
    stack.twilio.fail_next(
        1_000_000,
        Failure {
            status: 503,
            code: None,
            retry_after: None,
        },
    );
    let base = stack.running.local_url();
    let questions = ["¿Aceptan cheques?", "¿Hacen entregas?", "¿Dónde están?"];
    for (q, question) in questions.iter().enumerate() {
        for c in 0..customers {
            let f = form(
                &stack,
                &format!("SM{q}{c:031}"),
                &format!("+1809999{c:04}"),
                question,
            );
            assert_eq!(post_form(&stack.http, &base, &f).await, 200);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(outage).await;
    stack.twilio.recover();
    let started = Instant::now();
    wait_for_replies(&stack, customers * per_customer, Duration::from_secs(600)).await;
    let by = replies(&stack);
    let delivered: usize = by.values().map(Vec::len).sum();
    let (_, letters) = stack
        .admin(reqwest::Method::GET, "/admin/dead-letters", None)
        .await;
    // Every customer asked the same three questions in the same order: in order, their replies
    // are the same three texts in the same order.
    let reference = by.values().find(|r| r.len() == per_customer).cloned();
    let in_order = by
        .values()
        .filter(|r| Some(*r) == reference.as_ref())
        .count();
    println!(
        "send_down: Twilio down {outage:?} under {} messages, then back: {delivered} delivered within {:.1?} of recovery; {in_order} of {customers} customers answered thrice in order; {} dead letters",
        customers * per_customer,
        started.elapsed(),
        letters["dead_letters"].as_array().map_or(0, Vec::len),
    );
}

async fn crashes() {
    let (c, kills) = (env("C", 500), env("KILLS", 10));
    let twilio = atiende_testkit::FakeTwilio::start(&[(TWILIO_ACCOUNT, TOKEN)]);
    let dir = tempfile::tempdir().unwrap();
    let webhook = |i: usize| {
        signed(
            PUBLIC,
            &format!("SM{i:032}"),
            &format!("+1809444{i:04}"),
            "¿Aceptan cheques?",
        )
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut service = all_in_one(&twilio, dir.path(), &[]).await;
    // Kill after these message numbers (spread over the run, deterministic).
    let mut at: Vec<usize> = (1..=kills)
        .map(|k| k * c / (kills + 1) + (k * 7) % 13)
        .collect();
    at.sort_unstable();
    let (mut retried, mut restarts) = (0, Vec::new());
    for i in 0..c {
        let delivery = webhook(i);
        // A provider retries until it gets its 200: a message refused while atiende was down,
        // or whose 200 was lost in the kill, comes again.
        loop {
            let ok = post_form(&http, &service.url(), &delivery).await == 200;
            if ok {
                break;
            }
            retried += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if at.first() == Some(&i) {
            at.remove(0);
            // Kill while the last messages are still being answered.
            service.kill();
            let started = Instant::now();
            service = all_in_one(&twilio, dir.path(), &[]).await;
            restarts.push(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while twilio.sent().len() < c && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut by = BTreeMap::<String, usize>::new();
    for m in twilio.sent() {
        *by.entry(m.to).or_default() += 1;
    }
    let twice = by.values().filter(|n| **n > 1).count();
    service.kill();
    restarts.sort();
    println!(
        "crashes: {c} customers, {} SIGKILLs of the all-in-one (restart to ready p50 {:.0?}), {retried} webhook retries: {} answered, {} lost, {twice} answered twice",
        restarts.len(),
        restarts
            .get(restarts.len() / 2)
            .copied()
            .unwrap_or_default(),
        by.len(),
        c - by.len(),
    );
}

async fn disk_full() {
    let mount = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48M", "tmpfs"])
        .arg(mount.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        println!("disk_full: skipped (mounting a tmpfs needs root)");
        return;
    }
    let c = env("C", 100);
    let twilio = atiende_testkit::FakeTwilio::start(&[(TWILIO_ACCOUNT, TOKEN)]);
    let data = mount.path().join("data");
    let mut service = all_in_one(
        &twilio,
        &data,
        &[
            ("ATIENDE_BUS__MIN_BACKOFF_MS", "200"),
            ("ATIENDE_BUS__MAX_BACKOFF_MS", "2000"),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let delivery = |i: usize| {
        signed(
            PUBLIC,
            &format!("SM{i:032}"),
            &format!("+1809222{i:04}"),
            "¿Aceptan cheques?",
        )
    };
    let mut statuses = BTreeMap::<u16, usize>::new();
    let mut refused = Vec::new();
    // A third before the disk fills, a third while it is full, a third after it is freed.
    for i in 0..c / 3 {
        let status = post_form(&http, &service.url(), &delivery(i)).await;
        *statuses.entry(status).or_default() += 1;
        if status != 200 {
            refused.push(i);
        }
    }
    let junk = mount.path().join("junk");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&junk).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
    }
    for i in c / 3..2 * c / 3 {
        let status = post_form(&http, &service.url(), &delivery(i)).await;
        *statuses.entry(status).or_default() += 1;
        if status != 200 {
            refused.push(i);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let alive_while_full = http_ok(&service.url()).await;
    std::fs::remove_file(&junk).unwrap();
    for i in 2 * c / 3..c {
        refused.push(i);
    }
    // The provider retries what was refused; then the last third arrives.
    let mut retries = 0;
    for i in refused {
        loop {
            let status = post_form(&http, &service.url(), &delivery(i)).await;
            if status == 200 {
                break;
            }
            retries += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while twilio.sent().len() < c && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut by = BTreeMap::<String, usize>::new();
    for m in twilio.sent() {
        *by.entry(m.to).or_default() += 1;
    }
    service.kill();
    let _ = std::process::Command::new("umount")
        .arg(mount.path())
        .status();
    println!(
        "disk_full: {c} customers, disk full for the middle third (answers {statuses:?}, service {}), freed, {retries} provider retries: {} answered, {} lost, {} answered twice",
        if alive_while_full { "up" } else { "down" },
        by.len(),
        c - by.len(),
        by.values().filter(|n| **n > 1).count(),
    );
}

async fn http_ok(base: &str) -> bool {
    reqwest::get(format!("{base}/health/live"))
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// A process's resident memory (KiB) and open files, from `/proc`.
fn process_usage(pid: u32) -> (u64, usize) {
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    (rss, fds)
}

/// `atiende_process_heap_bytes` from the service's `/metrics`, when it reports it.
async fn heap_bytes(http: &reqwest::Client, base: &str) -> Option<u64> {
    let text = http
        .get(format!("{base}/metrics"))
        .bearer_auth("soak-admin-token-0000")
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix("atiende_process_heap_bytes ")?
            .trim()
            .parse()
            .ok()
    })
}

async fn soak() {
    let (secs, rate) = (env("SOAK_SECS", 3600), env("RATE", 5));
    let twilio = atiende_testkit::FakeTwilio::start(&[(TWILIO_ACCOUNT, TOKEN)]);
    let dir = tempfile::tempdir().unwrap();
    // `SOAK_WRAPPER`: a script that execs the service (so the pid sampled is the service's),
    // for instance under heaptrack's preload library, recording from the first allocation.
    let binary = std::env::var("SOAK_WRAPPER").unwrap_or_else(|_| BIN.to_owned());
    let mut service = all_in_one_as(
        &binary,
        &twilio,
        dir.path(),
        &[("ATIENDE_ADMIN_TOKEN", "soak-admin-token-0000")],
    )
    .await;
    let http = reqwest::Client::new();
    let questions = [
        "¿Aceptan cheques?",
        "¿Cuánto cuesta el cemento gris?",
        "¿Hacen entregas en Guaymate?",
        "¿Abren los domingos?",
    ];
    let started = Instant::now();
    let mut accepted = 0usize;
    let mut samples = Vec::new();
    let mut next_sample = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(u64::try_from(secs).unwrap()) {
        let second = Instant::now();
        for _ in 0..rate {
            // 500 customers in turn: conversations grow to their cap and stay there.
            let i = accepted;
            let delivery = signed(
                PUBLIC,
                &format!("SM{i:032}"),
                &format!("+1809333{:04}", i % 500),
                questions[i % questions.len()],
            );
            assert_eq!(post_form(&http, &service.url(), &delivery).await, 200);
            accepted += 1;
        }
        if started.elapsed() >= next_sample {
            let (rss, fds) = process_usage(service.pid());
            let backlog = accepted.saturating_sub(twilio.requests());
            // The program's own heap, when the service was built with `heap-stats`.
            let heap = heap_bytes(&http, &service.url())
                .await
                .map_or_else(String::new, |b| format!(" heap={:>6} KiB", b / 1024));
            println!(
                "soak: t={:>5}s accepted={accepted:>6} rss={:>6} KiB{heap} fds={fds:>4} backlog={backlog}",
                started.elapsed().as_secs(),
                rss
            );
            samples.push((rss, fds, backlog));
            next_sample += Duration::from_secs(60);
        }
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(second.elapsed())).await;
    }
    service.kill();
    let (first, last) = (
        samples[1.min(samples.len() - 1)],
        samples[samples.len() - 1],
    );
    let max_rss = samples.iter().map(|s| s.0).max().unwrap_or(0);
    let max_backlog = samples.iter().map(|s| s.2).max().unwrap_or(0);
    println!(
        "soak: {secs} s at {rate}/s, {accepted} messages: rss {} -> {} KiB (max {max_rss}), fds {} -> {}, backlog max {max_backlog}",
        first.0, last.0, first.1, last.1
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| chosen.is_empty() || chosen.iter().any(|c| c == name);
    if wants("retries") {
        retries().await;
    }
    if wants("hostile") {
        hostile().await;
    }
    if wants("model_down") {
        model_down().await;
    }
    if wants("send_down") {
        send_down().await;
    }
    if wants("crashes") {
        crashes().await;
    }
    // Needs root; only when asked for by name.
    if chosen.iter().any(|c| c == "disk_full") {
        disk_full().await;
    }
    // An hour: only when asked for by name.
    if chosen.iter().any(|c| c == "soak") {
        soak().await;
    }
}
