//! Human-desk latency on the embedded path (issue 5's numbers), as a bench binary:
//!
//! * **handoff**: from the moment ingest answered 200 to a customer's "I want a person" to the
//!   moment the conversation, with its packet, is in the store the console reads;
//! * **agent reply → WhatsApp**: from the console's `POST …/reply` to the fake Twilio API
//!   receiving the message.
//!
//! atiende runs all in one in this process (embedded SQLite bus and store) in front of the fake
//! Twilio API, with sender pacing lifted (every message here leaves from one number). Run: `cargo bench -p atiende-e2e --bench desk_latency` (N conversations, default
//! 200, from `$N`).

// A bench binary fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use atiende_domain::{ConversationId, ConversationState};
use atiende_e2e::{Stack, TWILIO_ACCOUNT};

/// Polls `ready` until it is true; panics after 10 s.
async fn until(mut ready: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label:<26} n={:<5} p50 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}",
        samples.len(),
        percentile(&samples, 50.0),
        percentile(&samples, 99.0),
        samples[samples.len() - 1]
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let stack = Stack::start_with(|s| {
        s.log.filter = "warn".to_owned();
        // Measure the path, not the pacer: one sender number sends every message here.
        s.dispatcher.per_sender_per_second = 10_000;
    })
    .await;
    let stores = stack.running.infra().stores().conversations.clone();
    let (mut handoffs, mut replies) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let phone = format!("+1809666{i:04}");
        let sid = format!("SM{i:032}");
        let from = format!("whatsapp:{phone}");
        let params: Vec<(String, String)> = [
            ("MessageSid", sid.as_str()),
            ("AccountSid", TWILIO_ACCOUNT),
            ("From", from.as_str()),
            ("To", "whatsapp:+14155238886"),
            ("Body", "Quiero hablar con una persona"),
            ("NumMedia", "0"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let url = format!("{}/webhooks/twilio/demo", stack.running.public_url());
        let signature = atiende_adapter_twilio::signature::compute(
            "demo-twilio-auth-token-0000",
            &url,
            &params,
        );
        let response = stack
            .http
            .post(format!(
                "{}/webhooks/twilio/demo",
                stack.running.local_url()
            ))
            .header("x-twilio-signature", signature)
            .form(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let accepted = Instant::now();
        let id = ConversationId::parse(format!("demo:twilio:{phone}")).unwrap();
        until(async || {
            stores.load(&id).await.unwrap().is_some_and(|c| {
                c.value.state == ConversationState::WaitingForHuman && c.value.ticket.is_some()
            })
        })
        .await;
        handoffs.push(accepted.elapsed());
        // The notice went out; wait for it so the reply is the next message at Twilio.
        let before = i * 2 + 1;
        until(async || stack.twilio.sent().len() >= before).await;

        let start = Instant::now();
        let response = stack
            .http
            .post(format!(
                "{}/console/api/conversations/{id}/reply",
                stack.running.local_url()
            ))
            .bearer_auth(atiende_demo::AGENT_KEY)
            .json(&serde_json::json!({ "text": "Hola, le atiende una persona." }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        until(async || stack.twilio.sent().len() > before).await;
        replies.push(start.elapsed());
    }
    report("handoff → console", handoffs);
    report("agent reply → Twilio API", replies);
}
