//! The four services as separate processes on Google's emulators (issue 6's numbers), as a bench
//! binary:
//!
//! * **start → ready**: from spawning a service's process to its `/health/ready` answering 200
//!   (Firestore and Pub/Sub reachable);
//! * **idle RSS**: each process's resident memory after the run, idle;
//! * **end to end**: from posting a signed Twilio webhook to ingest to the fake Twilio API
//!   receiving the reply — ingest → Pub/Sub → processor → Pub/Sub → dispatcher, with Firestore for
//!   state and the extractive engine (a zero-latency model: no LLM call), one customer after
//!   another;
//! * **Firestore operations per answered message**, per service and kind (document reads, queries,
//!   creates, updates, deletes), counted from the `firestore` crate's own debug
//!   events over 10 messages with the services restarted at `firestore=debug`; and the same for a
//!   burst of three messages answered as one turn (`processor.burst_window_ms = 2000`).
//!
//! Run: `. infra/emulators.sh && cargo bench -p atiende-e2e --features gcp --bench gcp_services`
//! (N messages, default 50, from `$N`). With `BENCH_ATIENDE_BIN_DIR=target/release` it runs the
//! services' own release binaries (built with `--features atiende-bootstrap/gcp`), and the
//! driver itself can be a debug build: `cargo test -p atiende-e2e --features gcp --bench
//! gcp_services`.

// A bench binary fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use atiende_e2e::processes::{ACCOUNT, FourServices, Service, send_webhook};
use atiende_testkit::FakeTwilio;

const BIN: &str = env!("CARGO_BIN_EXE_atiende-e2e-service");

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    assert!(
        std::env::var("PUBSUB_EMULATOR_HOST").is_ok()
            && std::env::var("FIRESTORE_EMULATOR_HOST").is_ok(),
        "start the emulators first: . infra/emulators.sh"
    );
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let twilio = FakeTwilio::start(&[(ACCOUNT, "demo-twilio-auth-token-0000")]);
    let dir = tempfile::tempdir().unwrap();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let FourServices {
        mut ingest,
        mut processor,
        mut dispatcher,
        mut admin,
    } = FourServices::new(BIN, &run, dir.path(), twilio.base_url(), &[]);
    // The services' own release binaries (`cargo build --release --features gcp …`), when
    // BENCH_ATIENDE_BIN_DIR names where they are; otherwise the bench build of the e2e binary.
    if let Ok(bins) = std::env::var("BENCH_ATIENDE_BIN_DIR") {
        for service in [&mut ingest, &mut processor, &mut dispatcher, &mut admin] {
            let binary = std::path::Path::new(&bins).join(format!("atiende-{}", service.name()));
            service.set_binary(binary);
        }
    }
    let mut ready = Vec::new();
    for service in [&mut ingest, &mut processor, &mut dispatcher, &mut admin] {
        let took = service.start().await;
        ready.push((service.name(), took));
    }
    // A second start of each, now that the topology and the demo tenant exist: what a Cloud Run
    // cold start pays.
    println!("start → ready (spawn to /health/ready 200):");
    for service in [&mut ingest, &mut processor, &mut dispatcher, &mut admin] {
        service.kill();
        let took = service.start().await;
        println!(
            "  {:<10} first {:>6.0} ms, restart {:>6.0} ms",
            service.name(),
            ready
                .iter()
                .find(|(n, _)| *n == service.name())
                .unwrap()
                .1
                .as_secs_f64()
                * 1e3,
            took.as_secs_f64() * 1e3
        );
    }
    println!("  (ingest's first start creates the topology, admin's loads the demo tenant)");

    let http = reqwest::Client::new();
    let prefix = u32::from_str_radix(&run[..5], 16).unwrap() % 100_000;
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n + 5 {
        let phone = format!("+1809{prefix:05}{i:02}");
        let sid = format!("SM{}{i:02}", &run[..30]);
        let before = twilio.sent().len();
        let started = Instant::now();
        send_webhook(&http, &ingest.url(), &sid, &phone, "¿Cuál es el horario?").await;
        while twilio.sent().len() == before {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no reply to message {i}"
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        // The first few warm the connections and caches.
        if i >= 5 {
            latencies.push(started.elapsed());
        }
    }
    latencies.sort();
    println!(
        "end to end, webhook → Twilio send, {n} messages: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.9).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("idle RSS:");
    for service in [&ingest, &processor, &dispatcher, &admin] {
        println!(
            "  {:<10} {:>6.1} MiB",
            service.name(),
            rss_kib(service.pid().unwrap()) as f64 / 1024.0
        );
    }

    // Firestore operations: the services again, logging the firestore crate's operations.
    for service in [&mut ingest, &mut processor, &mut dispatcher] {
        service.set_env("RUST_LOG", "info,firestore=debug");
        service.kill();
        service.start().await;
    }
    let marks =
        |services: &[&Service]| -> Vec<usize> { services.iter().map(|s| s.logs().len()).collect() };
    let counted = [&ingest, &processor, &dispatcher];
    let before = marks(&counted);
    let m = 10;
    for i in 0..m {
        let phone = format!("+1809{prefix:05}{:02}", 80 + i);
        let sid = format!("SM{}{:02}", &run[..30], 80 + i);
        let sent = twilio.sent().len();
        send_webhook(&http, &ingest.url(), &sid, &phone, "¿Cuál es el horario?").await;
        wait_for_sends(&twilio, sent + 1).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("Firestore operations per answered message ({m} messages):");
    print_operations(&counted, &before, m as f64);

    // A burst: three messages a customer sends within the window, answered as one turn.
    processor.set_env("ATIENDE_PROCESSOR__BURST_WINDOW_MS", "2000");
    processor.kill();
    processor.start().await;
    let counted = [&ingest, &processor, &dispatcher];
    let before = marks(&counted);
    let bursts = 3;
    for b in 0..bursts {
        let phone = format!("+1809{prefix:05}{:02}", 90 + b);
        let sent = twilio.sent().len();
        for (k, text) in ["hola", "una pregunta", "¿cuál es el horario?"]
            .iter()
            .enumerate()
        {
            let sid = format!("SM{}{:02}{k}", &run[..29], 90 + b);
            send_webhook(&http, &ingest.url(), &sid, &phone, text).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        wait_for_sends(&twilio, sent + 1).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("Firestore operations per burst of three messages answered once ({bursts} bursts):");
    print_operations(&counted, &before, bursts as f64);
}

async fn wait_for_sends(twilio: &FakeTwilio, n: usize) {
    let started = Instant::now();
    while twilio.sent().len() < n {
        assert!(started.elapsed() < Duration::from_secs(30), "no reply");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The firestore crate's debug events, by the operation each reports.
/// (Batch writes, used by the web chat, the budget's ledger and embeddings, log no event; none
/// is on this path.)
const OPERATIONS: [(&str, &str); 5] = [
    ("read", "Read document."),
    ("query", "Queried stream of documents."),
    ("create", "Created a new document."),
    ("update", "Updated the document."),
    ("delete", "Deleted a document"),
];

fn print_operations(services: &[&Service], before: &[usize], per: f64) {
    let mut total = 0.0;
    for (service, from) in services.iter().zip(before) {
        let logs = service.logs();
        let new = &logs[(*from).min(logs.len())..];
        let counts: Vec<String> = OPERATIONS
            .iter()
            .map(|(name, event)| {
                let n = new.matches(event).count() as f64 / per;
                total += n;
                format!("{name} {n:.1}")
            })
            .collect();
        println!("  {:<10} {}", service.name(), counts.join(", "));
    }
    println!("  total      {total:.1}");
}
