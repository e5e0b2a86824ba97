//! The embedded bus honours the Pub/Sub contract the services rely on.

// A failing test should panic with the value it choked on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use atiende_adapter_sqlite::{BusConfig, Db, Durability, SqliteBus, SqliteStores};
use atiende_domain::Topic;
use atiende_ports::{
    DeadLetterStore, Delivery, EventPublisher, HandleOutcome, MessageHandler, OutgoingMessage,
    PublishOutcome,
};

fn fast() -> BusConfig {
    BusConfig {
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        poll_interval: Duration::from_millis(50),
        max_attempts: 4,
        ..BusConfig::default()
    }
}

fn message(key: &str, body: &str) -> OutgoingMessage {
    OutgoingMessage {
        ordering_key: Some(key.to_owned()),
        attributes: BTreeMap::from([("tenant".to_owned(), "demo".to_owned())]),
        data: body.as_bytes().to_vec(),
        dedupe_key: None,
    }
}

/// Records deliveries; fails a body's first `fail_times` deliveries with Retry; rejects "poison".
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(String, String, u32)>>,
    fail_times: u32,
    delay: Duration,
    concurrent: Mutex<(usize, usize)>,
}

#[async_trait]
impl MessageHandler for Recorder {
    async fn handle(&self, d: &Delivery) -> HandleOutcome {
        {
            let mut c = self.concurrent.lock().unwrap();
            c.0 += 1;
            c.1 = c.1.max(c.0);
        }
        tokio::time::sleep(self.delay).await;
        let body = String::from_utf8(d.data.clone()).unwrap();
        self.seen.lock().unwrap().push((
            d.ordering_key.clone().unwrap_or_default(),
            body.clone(),
            d.delivery_attempt,
        ));
        self.concurrent.lock().unwrap().0 -= 1;
        if body == "poison" {
            return HandleOutcome::Reject {
                reason: "cannot parse".into(),
            };
        }
        if d.delivery_attempt <= self.fail_times {
            return HandleOutcome::Retry {
                reason: "not yet".into(),
                after: None,
            };
        }
        HandleOutcome::Ack
    }
}

fn open(dir: &std::path::Path) -> (SqliteBus, SqliteStores) {
    let db = Db::open(dir, Durability::Normal).unwrap();
    (SqliteBus::new(db.clone(), fast()), SqliteStores::new(db))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_one_key_arrive_in_order_while_keys_run_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let (bus, _) = open(dir.path());
    let recorder = Arc::new(Recorder {
        delay: Duration::from_millis(5),
        ..Recorder::default()
    });
    bus.subscribe(Topic::Inbound.subscription(), recorder.clone())
        .unwrap();
    for i in 0..20 {
        for key in ["a", "b", "c", "d"] {
            bus.publish(Topic::Inbound, message(key, &format!("{key}{i}")))
                .await
                .unwrap();
        }
    }
    assert!(bus.wait_idle(Duration::from_secs(20)).await);
    let seen = recorder.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 80);
    for key in ["a", "b", "c", "d"] {
        let order: Vec<_> = seen
            .iter()
            .filter(|s| s.0 == key)
            .map(|s| s.1.clone())
            .collect();
        let expected: Vec<_> = (0..20).map(|i| format!("{key}{i}")).collect();
        assert_eq!(order, expected, "key {key} out of order");
    }
    assert!(
        recorder.concurrent.lock().unwrap().1 > 1,
        "different keys should overlap"
    );
    assert!(
        recorder.concurrent.lock().unwrap().1 <= 4,
        "one delivery per key at a time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_messages_block_only_their_own_key_and_are_redelivered() {
    let dir = tempfile::tempdir().unwrap();
    let (bus, _) = open(dir.path());
    let recorder = Arc::new(Recorder {
        fail_times: 2,
        ..Recorder::default()
    });
    bus.subscribe(Topic::Outbound.subscription(), recorder.clone())
        .unwrap();
    bus.publish(Topic::Outbound, message("k", "first"))
        .await
        .unwrap();
    bus.publish(Topic::Outbound, message("k", "second"))
        .await
        .unwrap();
    assert!(bus.wait_idle(Duration::from_secs(10)).await);
    let seen: Vec<_> = recorder
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| (s.1.clone(), s.2))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("first".into(), 1),
            ("first".into(), 2),
            ("first".into(), 3),
            ("second".into(), 1),
            ("second".into(), 2),
            ("second".into(), 3)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_and_exhausted_messages_are_dead_lettered_not_retried_forever() {
    let dir = tempfile::tempdir().unwrap();
    let (bus, stores) = open(dir.path());
    let recorder = Arc::new(Recorder {
        fail_times: 100,
        ..Recorder::default()
    });
    bus.subscribe(Topic::Inbound.subscription(), recorder.clone())
        .unwrap();
    bus.publish(Topic::Inbound, message("p", "poison"))
        .await
        .unwrap();
    bus.publish(Topic::Inbound, message("q", "never-works"))
        .await
        .unwrap();
    assert!(bus.wait_idle(Duration::from_secs(10)).await);
    let letters = stores.list(10).await.unwrap();
    assert_eq!(letters.len(), 2);
    let poison = letters.iter().find(|l| l.data == "poison").unwrap();
    assert_eq!(poison.reason, "cannot parse");
    assert_eq!(poison.attempts, 1);
    let exhausted = letters.iter().find(|l| l.data == "never-works").unwrap();
    assert_eq!(exhausted.attempts, 4);
    assert!(exhausted.reason.starts_with("gave up after 4 attempts"));
    assert_eq!(
        exhausted.attributes.get("tenant").map(String::as_str),
        Some("demo")
    );
    assert_eq!(recorder.seen.lock().unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dedupe_key_publishes_once() {
    let dir = tempfile::tempdir().unwrap();
    let (bus, _) = open(dir.path());
    let first = bus
        .publish(Topic::Inbound, message("k", "x").with_dedupe_key("SM1"))
        .await
        .unwrap();
    let again = bus
        .publish(Topic::Inbound, message("k", "x").with_dedupe_key("SM1"))
        .await
        .unwrap();
    assert!(matches!(first, PublishOutcome::Published { .. }));
    assert_eq!(again, PublishOutcome::Duplicate);
    assert_eq!(bus.pending(Topic::Inbound.subscription()).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_messages_survive_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (bus, _) = open(dir.path());
        for i in 0..5 {
            bus.publish(Topic::Outbound, message("k", &format!("m{i}")))
                .await
                .unwrap();
        }
        bus.shutdown(Duration::from_secs(1)).await;
    }
    let (bus, _) = open(dir.path());
    let recorder = Arc::new(Recorder::default());
    bus.subscribe(Topic::Outbound.subscription(), recorder.clone())
        .unwrap();
    assert!(bus.wait_idle(Duration::from_secs(10)).await);
    let bodies: Vec<_> = recorder
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.1.clone())
        .collect();
    assert_eq!(bodies, vec!["m0", "m1", "m2", "m3", "m4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_bus_delivers_a_subscription_from_a_shared_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = open(dir.path());
    let (second, _) = open(dir.path());
    let one = Arc::new(Recorder::default());
    let two = Arc::new(Recorder::default());
    first
        .subscribe(Topic::Inbound.subscription(), one.clone())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    second
        .subscribe(Topic::Inbound.subscription(), two.clone())
        .unwrap();
    for i in 0..10 {
        second
            .publish(Topic::Inbound, message("k", &format!("m{i}")))
            .await
            .unwrap();
    }
    assert!(first.wait_idle(Duration::from_secs(10)).await);
    assert_eq!(
        one.seen.lock().unwrap().len(),
        10,
        "the lock holder delivers everything"
    );
    assert!(
        two.seen.lock().unwrap().is_empty(),
        "the other waits for the lock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_messages_are_collected_and_pending_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (bus, stores) = open(dir.path());
    let recorder = Arc::new(Recorder::default());
    bus.subscribe(Topic::Inbound.subscription(), recorder.clone())
        .unwrap();
    for i in 0..5 {
        bus.publish(Topic::Inbound, message("k", &format!("m{i}")))
            .await
            .unwrap();
    }
    // Outbound has no consumer here: its message must survive collection.
    bus.publish(Topic::Outbound, message("o", "waiting"))
        .await
        .unwrap();
    let inbound = Topic::Inbound.subscription();
    let drained = wait_until(|| async { bus.pending(inbound).await.unwrap() == 0 }).await;
    assert!(drained);
    // The bus's own maintenance task may have collected some already (its first tick runs at
    // start), so what this call collects is at most the five; what is left is what matters.
    let (_, collected) = bus.collect_garbage().await.unwrap();
    assert!(
        collected <= 5,
        "only delivered messages are collected: {collected}"
    );
    let count = |db: atiende_adapter_sqlite::Db| async move {
        db.read(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM bus_messages", [], |r| {
                r.get::<_, i64>(0)
            })?)
        })
        .await
        .unwrap()
    };
    assert_eq!(
        count(stores.db().clone()).await,
        1,
        "the pending message is kept"
    );

    // Once the outbound message is consumed too, everything goes.
    let outbound = Arc::new(Recorder::default());
    bus.subscribe(Topic::Outbound.subscription(), outbound.clone())
        .unwrap();
    assert!(bus.wait_idle(Duration::from_secs(10)).await);
    let (_, collected) = bus.collect_garbage().await.unwrap();
    assert!(collected <= 1, "{collected}");
    assert_eq!(count(stores.db().clone()).await, 0);
}

async fn wait_until<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
