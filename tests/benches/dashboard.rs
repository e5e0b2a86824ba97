//! The dashboard's query time at 100,000 conversations, and the console's update latency
//! (issue 16's numbers), as a bench binary.
//!
//! atiende runs all in one in this process (embedded SQLite). A year of a busy tenant is counted
//! the way the services count it — one `add_stats` call per conversation, with the deltas
//! `conversation_deltas` gives for a conversation answered by the bot (one in ten handed off,
//! resolved by a person after a wait), and the dispatcher's sent-message counts — then
//! `GET /admin/tenants/demo/stats` is timed over HTTP for a year, a month and CSV. Then the
//! console: an agent's event stream is open, a web chat visitor asks for a person, and the time
//! from the visitor's message being sent to the stream's `changed` event is measured (`K` times,
//! default 40, spread over the stream's half-second watch). Run: `cargo bench -p atiende-e2e --bench dashboard` (`N` conversations,
//! default 100,000).

// A bench binary fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use atiende_domain::{TenantId, stats};
use atiende_e2e::{ADMIN_TOKEN, Stack, Visitor};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What one conversation adds: begun, two customer messages, two answers sent free-form, and
/// for one in ten a handoff, a wait, a person's reply and resolution.
fn deltas(i: usize) -> Vec<(String, f64)> {
    let mut d = vec![
        (stats::CONVERSATIONS.to_owned(), 1.0),
        (stats::MESSAGES_IN.to_owned(), 2.0),
        (stats::BOT_REPLIES.to_owned(), 2.0),
        (stats::WHATSAPP_FREEFORM.to_owned(), 2.0),
        (
            stats::bucket(stats::ANSWER_MS, 400 + (i % 7) as u64 * 300),
            2.0,
        ),
        (stats::PROMPT_TOKENS.to_owned(), 1800.0),
        (stats::COMPLETION_TOKENS.to_owned(), 120.0),
        (stats::MODEL_COST_USD.to_owned(), 0.000_34),
    ];
    if i.is_multiple_of(10) {
        let reason = if i.is_multiple_of(20) {
            atiende_domain::HandoffReason::CustomerRequested
        } else {
            atiende_domain::HandoffReason::NegativeSentiment
        };
        d.extend([
            (stats::HANDOFFS.to_owned(), 1.0),
            (stats::handoffs_by(reason), 1.0),
            (
                stats::bucket(stats::HUMAN_WAIT_MS, 60_000 + (i % 13) as u64 * 40_000),
                1.0,
            ),
            (stats::AGENT_REPLIES.to_owned(), 1.0),
            (stats::RESOLVED_BY_PERSON.to_owned(), 1.0),
        ]);
    }
    if i.is_multiple_of(25) {
        d.push((stats::WHATSAPP_TEMPLATE.to_owned(), 1.0));
    }
    d
}

async fn time(stack: &Stack, path: &str, runs: usize) -> (Vec<Duration>, usize) {
    let mut samples = Vec::with_capacity(runs);
    let mut bytes = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let response = stack
            .http
            .get(format!("{}{path}", stack.running.local_url()))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        bytes = response.bytes().await.unwrap().len();
        samples.push(started.elapsed());
    }
    samples.sort();
    (samples, bytes)
}

/// Reads the event stream until its next `changed` event.
async fn next_change(stream: &mut reqwest::Response) {
    let mut seen = String::new();
    while let Some(chunk) = stream.chunk().await.unwrap() {
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if seen.contains("event: changed") {
            return;
        }
    }
    panic!("the event stream ended");
}

async fn console_latency(stack: &Stack, runs: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs {
        let mut stream = stack
            .http
            .get(format!("{}/console/api/events", stack.running.local_url()))
            .bearer_auth(atiende_demo::AGENT_KEY)
            .send()
            .await
            .unwrap();
        // The stream announces the queue once when it opens.
        next_change(&mut stream).await;
        let visitor = Visitor::open(stack).await;
        // Customers do not write in step with the stream's half-second watch: spread the
        // messages over it.
        let offset = u64::try_from(i * 487 % 500).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(offset)).await;
        let started = Instant::now();
        visitor.say("Quiero hablar con un agente, por favor").await;
        next_change(&mut stream).await;
        samples.push(started.elapsed());
    }
    samples.sort();
    samples
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let stack = Stack::start_with(|s| {
        s.log.filter = "error".into();
        // Every visitor of the console run comes from this one address.
        s.limits.webchat_sessions_per_ip_per_hour = 10_000;
        s.limits.webchat_messages_per_ip_per_minute = 10_000;
    })
    .await;
    let ledger = stack.running.infra().stores().stats.clone();
    let tenant = TenantId::parse("demo").unwrap();
    let first = chrono::NaiveDate::from_ymd_opt(2025, 12, 6).unwrap();
    let seeding = Instant::now();
    for i in 0..n {
        let day = first + chrono::Duration::days((i * 365 / n) as i64);
        ledger.add_stats(&tenant, day, &deltas(i)).await.unwrap();
    }
    println!(
        "counted {n} conversations over 365 days in {:.1?} ({:.0} conversations/s)",
        seeding.elapsed(),
        n as f64 / seeding.elapsed().as_secs_f64()
    );
    let year = "/admin/tenants/demo/stats?from=2025-12-06&to=2026-12-05";
    let answer: serde_json::Value = stack
        .http
        .get(format!("{}{year}", stack.running.local_url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["total"]["conversations"].as_f64(), Some(n as f64));
    for (label, path) in [
        ("a year (365 days), JSON", year.to_owned()),
        (
            "a month (30 days), JSON",
            "/admin/tenants/demo/stats?from=2026-11-06&to=2026-12-05".to_owned(),
        ),
        ("a year, CSV", format!("{year}&format=csv")),
    ] {
        let (samples, bytes) = time(&stack, &path, 50).await;
        println!(
            "{label:<26} n=50  p50 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}  {bytes} bytes",
            percentile(&samples, 50.0),
            percentile(&samples, 99.0),
            samples[samples.len() - 1]
        );
    }
    let runs: usize = std::env::var("K")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let samples = console_latency(&stack, runs).await;
    println!(
        "console: handoff -> event  n={runs:<3} p50 {:>8.2?}  p95 {:>8.2?}  max {:>8.2?}",
        percentile(&samples, 50.0),
        percentile(&samples, 95.0),
        samples[samples.len() - 1]
    );
    for page in ["/panel", "/console"] {
        let body = stack
            .http
            .get(format!("{}{page}", stack.running.local_url()))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        println!("page {page}: {} bytes, nothing else fetched", body.len());
    }
}
