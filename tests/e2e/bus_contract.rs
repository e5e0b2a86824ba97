//! One contract for the bus, run on the embedded bus (SQLite) and on Pub/Sub (Google's emulator,
//! Google's official SDK, streaming pull): per-key order with attributes kept, redelivery with a
//! counted attempt, poison messages parked and never redelivered, webhook dedupe, and messages
//! that exhaust their attempts ending somewhere someone can inspect.
//!
//! The Pub/Sub half needs `--features gcp`, `PUBSUB_EMULATOR_HOST` and `FIRESTORE_EMULATOR_HOST`
//! (dedupe keys and parked messages live in Firestore); see `state_contract::emulator`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use atiende_domain::Topic;
use atiende_ports::{
    DeadLetterStore, Delivery, EventPublisher, HandleOutcome, MessageHandler, OutgoingMessage,
    PublishOutcome,
};

const SUB: &str = "atiende-processor-inbound";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A bus under test: publish, subscribe a handler, look at what was parked.
struct TestBus {
    publisher: Arc<dyn EventPublisher>,
    dead_letters: Arc<dyn DeadLetterStore>,
    kind: Kind,
}

enum Kind {
    Embedded {
        bus: atiende_adapter_sqlite::SqliteBus,
        _dir: tempfile::TempDir,
    },
    #[cfg(feature = "gcp")]
    PubSub {
        settings: atiende_adapter_gcp::PubSubSettings,
        stop: tokio::sync::watch::Sender<bool>,
        workers: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    },
}

impl TestBus {
    fn embedded() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = atiende_adapter_sqlite::Db::open(
            dir.path(),
            atiende_adapter_sqlite::Durability::Normal,
        )
        .unwrap();
        let bus = atiende_adapter_sqlite::SqliteBus::new(
            db.clone(),
            atiende_adapter_sqlite::BusConfig {
                max_attempts: 5,
                min_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(100),
                ..atiende_adapter_sqlite::BusConfig::default()
            },
        );
        Self {
            publisher: Arc::new(bus.clone()),
            dead_letters: Arc::new(atiende_adapter_sqlite::SqliteStores::new(db)),
            kind: Kind::Embedded { bus, _dir: dir },
        }
    }

    #[cfg(feature = "gcp")]
    async fn pubsub() -> Option<Self> {
        Self::pubsub_with_keys(|firestore| Arc::new(firestore)).await
    }

    /// Pub/Sub with its dedupe keys kept by what `keys` makes of the Firestore store.
    #[cfg(feature = "gcp")]
    async fn pubsub_with_keys(
        keys: impl FnOnce(
            atiende_adapter_gcp::FirestoreStores,
        ) -> Arc<dyn atiende_adapter_gcp::DedupeKeys>,
    ) -> Option<Self> {
        if !crate::state_contract::emulator("PUBSUB_EMULATOR_HOST")
            || !crate::state_contract::emulator("FIRESTORE_EMULATOR_HOST")
        {
            return None;
        }
        let settings = atiende_adapter_gcp::PubSubSettings {
            project: "atiende-test".into(),
            endpoint: Some(format!(
                "http://{}",
                std::env::var("PUBSUB_EMULATOR_HOST").unwrap()
            )),
            // The emulator has no reset: each test gets its own topics.
            suffix: format!("-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]),
        };
        atiende_adapter_gcp::ensure_topology(
            &settings,
            &atiende_adapter_gcp::Topology {
                // The backstop for a worker that dies holding a message; the worker parks first.
                max_delivery_attempts: 10,
                ..atiende_adapter_gcp::Topology::default()
            },
        )
        .await
        .unwrap();
        let firestore = atiende_adapter_gcp::FirestoreStores::connect("atiende-test", "(default)")
            .await
            .unwrap();
        let publisher = atiende_adapter_gcp::PubSubPublisher::connect(&settings)
            .await
            .unwrap()
            .with_dedupe(keys(firestore.clone()), Duration::from_secs(3600));
        Some(Self {
            publisher: Arc::new(publisher),
            dead_letters: Arc::new(firestore),
            kind: Kind::PubSub {
                settings,
                stop: tokio::sync::watch::channel(false).0,
                workers: std::sync::Mutex::new(Vec::new()),
            },
        })
    }

    async fn subscribe(&self, subscription: &'static str, handler: Arc<dyn MessageHandler>) {
        match &self.kind {
            Kind::Embedded { bus, .. } => bus.subscribe(subscription, handler).unwrap(),
            #[cfg(feature = "gcp")]
            Kind::PubSub {
                settings,
                stop,
                workers,
            } => {
                let worker = atiende_adapter_gcp::PullWorker::connect(
                    settings,
                    subscription,
                    handler,
                    self.dead_letters.clone(),
                    atiende_adapter_gcp::PullOptions {
                        retry_backoff: Duration::from_millis(50),
                        max_attempts: 5,
                        ..atiende_adapter_gcp::PullOptions::default()
                    },
                )
                .await
                .unwrap();
                let handle = tokio::spawn(worker.run(stop.subscribe()));
                workers.lock().unwrap().push(handle);
            }
        }
    }

    /// Whether the message with `data` gave up and can be inspected in the dead-letter store.
    async fn dead_lettered(&self, data: &[u8]) -> bool {
        atiende_testkit::eventually(Duration::from_secs(10), || async {
            let parked = self.dead_letters.list(200).await.unwrap();
            parked
                .iter()
                .any(|l| l.data.as_bytes() == data)
                .then_some(())
        })
        .await
        .is_some()
    }

    async fn stop(self) {
        match self.kind {
            Kind::Embedded { bus, .. } => bus.shutdown(Duration::from_secs(2)).await,
            #[cfg(feature = "gcp")]
            Kind::PubSub { stop, workers, .. } => {
                let _ = stop.send(true);
                let running = std::mem::take(&mut *workers.lock().unwrap());
                for worker in running {
                    worker.await.unwrap();
                }
            }
        }
    }
}

type Decide = dyn Fn(&Delivery) -> HandleOutcome + Send + Sync;

/// Records every delivery and answers what `decide` says.
struct Recorder {
    seen: Mutex<Vec<Delivery>>,
    decide: Box<Decide>,
}

impl Recorder {
    fn new(decide: impl Fn(&Delivery) -> HandleOutcome + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            seen: Mutex::new(Vec::new()),
            decide: Box::new(decide),
        })
    }

    fn seen(&self) -> Vec<Delivery> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl MessageHandler for Recorder {
    async fn handle(&self, delivery: &Delivery) -> HandleOutcome {
        self.seen.lock().unwrap().push(delivery.clone());
        (self.decide)(delivery)
    }
}

fn message(key: &str, data: &str) -> OutgoingMessage {
    OutgoingMessage {
        ordering_key: Some(key.to_owned()),
        attributes: BTreeMap::from([
            (
                "event_type".to_owned(),
                "inbound_message.received".to_owned(),
            ),
            ("event_version".to_owned(), "1".to_owned()),
            ("tenant".to_owned(), "demo".to_owned()),
            ("traceparent".to_owned(), TRACEPARENT.to_owned()),
        ]),
        data: data.as_bytes().to_vec(),
        dedupe_key: None,
    }
}

async fn wait_for(recorder: &Recorder, n: usize) -> Vec<Delivery> {
    atiende_testkit::eventually(Duration::from_secs(30), || async {
        let seen = recorder.seen();
        (seen.len() >= n).then_some(seen)
    })
    .await
    .unwrap_or_else(|| panic!("expected {n} deliveries, saw {}", recorder.seen().len()))
}

async fn messages_of_one_key_arrive_in_order_with_their_attributes(bus: TestBus) {
    let recorder = Recorder::new(|_| HandleOutcome::Ack);
    bus.subscribe(SUB, recorder.clone()).await;
    for i in 0..12 {
        let key = if i % 2 == 0 {
            "demo:twilio:+1809"
        } else {
            "demo:meta:+1829"
        };
        let published = bus
            .publisher
            .publish(Topic::Inbound, message(key, &format!("{key}#{i:02}")))
            .await
            .unwrap();
        assert!(matches!(published, PublishOutcome::Published { .. }));
    }
    let seen = wait_for(&recorder, 12).await;
    for key in ["demo:twilio:+1809", "demo:meta:+1829"] {
        let order: Vec<String> = seen
            .iter()
            .filter(|d| d.ordering_key.as_deref() == Some(key))
            .map(|d| String::from_utf8(d.data.clone()).unwrap())
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order.len(), 6, "{key}: {order:?}");
        assert_eq!(order, sorted, "per-key order");
    }
    let d = &seen[0];
    assert_eq!(d.subscription, SUB);
    assert_eq!(d.traceparent(), Some(TRACEPARENT));
    assert_eq!(d.attributes.get("tenant").map(String::as_str), Some("demo"));
    assert_eq!(
        d.attributes.get("event_type").map(String::as_str),
        Some("inbound_message.received")
    );
    bus.stop().await;
}

async fn a_retried_message_comes_back_with_its_attempt_counted(bus: TestBus) {
    let recorder = Recorder::new(|d| {
        if d.delivery_attempt < 3 {
            HandleOutcome::Retry {
                reason: "store unavailable".into(),
                after: Some(Duration::from_millis(10)),
            }
        } else {
            HandleOutcome::Ack
        }
    });
    bus.subscribe(SUB, recorder.clone()).await;
    bus.publisher
        .publish(Topic::Inbound, message("demo:twilio:+1809", "retry-me"))
        .await
        .unwrap();
    let seen = wait_for(&recorder, 3).await;
    let attempts: Vec<u32> = seen.iter().map(|d| d.delivery_attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
    // Acked on the third: no fourth delivery.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(recorder.seen().len(), 3);
    bus.stop().await;
}

async fn a_poison_message_is_parked_once_and_not_redelivered(bus: TestBus) {
    let recorder = Recorder::new(|_| HandleOutcome::Reject {
        reason: "unknown event version".into(),
    });
    bus.subscribe(SUB, recorder.clone()).await;
    let data = format!("poison-{}", uuid::Uuid::new_v4().simple());
    bus.publisher
        .publish(Topic::Inbound, message("demo:twilio:+1809", &data))
        .await
        .unwrap();
    wait_for(&recorder, 1).await;
    assert!(
        atiende_testkit::eventually(Duration::from_secs(10), || async {
            let letters = bus.dead_letters.list(200).await.unwrap();
            letters
                .into_iter()
                .find(|l| l.data == data)
                .filter(|l| l.reason.contains("unknown event version") && l.subscription == SUB)
        })
        .await
        .is_some(),
        "the rejected message is parked with its reason"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        recorder.seen().len(),
        1,
        "a rejected message is not redelivered"
    );
    bus.stop().await;
}

async fn a_publish_with_a_seen_dedupe_key_is_dropped(bus: TestBus) {
    let recorder = Recorder::new(|_| HandleOutcome::Ack);
    bus.subscribe(SUB, recorder.clone()).await;
    let key = format!("SM{}", uuid::Uuid::new_v4().simple());
    let first = bus
        .publisher
        .publish(
            Topic::Inbound,
            message("demo:twilio:+1809", "once").with_dedupe_key(&key),
        )
        .await
        .unwrap();
    assert!(matches!(first, PublishOutcome::Published { .. }));
    let again = bus
        .publisher
        .publish(
            Topic::Inbound,
            message("demo:twilio:+1809", "once").with_dedupe_key(&key),
        )
        .await
        .unwrap();
    assert_eq!(again, PublishOutcome::Duplicate);
    wait_for(&recorder, 1).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(recorder.seen().len(), 1);
    bus.stop().await;
}

async fn a_message_that_exhausts_its_attempts_is_dead_lettered(bus: TestBus) {
    let recorder = Recorder::new(|_| HandleOutcome::Retry {
        reason: "still failing".into(),
        after: Some(Duration::from_millis(10)),
    });
    bus.subscribe(SUB, recorder.clone()).await;
    let data = format!("exhausted-{}", uuid::Uuid::new_v4().simple());
    bus.publisher
        .publish(Topic::Inbound, message("demo:twilio:+1809", &data))
        .await
        .unwrap();
    // Five attempts (the configured maximum), then it leaves the subscription.
    wait_for(&recorder, 5).await;
    let parked = bus.dead_lettered(data.as_bytes()).await;
    let attempts: Vec<u32> = recorder.seen().iter().map(|d| d.delivery_attempt).collect();
    assert!(
        parked,
        "dead-lettered after 5 attempts (attempts seen: {attempts:?})"
    );
    bus.stop().await;
}

/// Stopping (SIGTERM) lets the message in hand finish and be acknowledged before returning.
async fn stopping_lets_the_message_in_hand_finish(bus: TestBus) {
    let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Arc::new(tokio::sync::Notify::new());
    struct Slow {
        finished: Arc<std::sync::atomic::AtomicUsize>,
        started: Arc<tokio::sync::Notify>,
    }
    #[async_trait]
    impl MessageHandler for Slow {
        async fn handle(&self, _: &Delivery) -> HandleOutcome {
            self.started.notify_one();
            tokio::time::sleep(Duration::from_millis(700)).await;
            self.finished
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            HandleOutcome::Ack
        }
    }
    bus.subscribe(
        SUB,
        Arc::new(Slow {
            finished: finished.clone(),
            started: started.clone(),
        }),
    )
    .await;
    bus.publisher
        .publish(Topic::Inbound, message("demo:twilio:+1809", "slow"))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), started.notified())
        .await
        .expect("the handler started");
    bus.stop().await;
    assert_eq!(
        finished.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "stop returned before the message in hand was done"
    );
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::TestBus::embedded()).await;
                }
            )*
        }
        mod pubsub {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    #[cfg(feature = "gcp")]
                    if let Some(bus) = super::TestBus::pubsub().await {
                        super::$name(bus).await;
                    }
                    #[cfg(not(feature = "gcp"))]
                    crate::state_contract::emulator("PUBSUB_EMULATOR_HOST");
                }
            )*
        }
    };
}

contract!(
    messages_of_one_key_arrive_in_order_with_their_attributes,
    a_retried_message_comes_back_with_its_attempt_counted,
    a_poison_message_is_parked_once_and_not_redelivered,
    a_publish_with_a_seen_dedupe_key_is_dropped,
    a_message_that_exhausts_its_attempts_is_dead_lettered,
    stopping_lets_the_message_in_hand_finish,
);

/// Dedupe keys kept in Firestore, except that the first record fails as if the process died
/// right after publishing: the fault between the two steps of a webhook's publish.
#[cfg(feature = "gcp")]
struct DiesAfterPublishing {
    keys: atiende_adapter_gcp::FirestoreStores,
    died: std::sync::atomic::AtomicBool,
}

#[cfg(feature = "gcp")]
#[async_trait]
impl atiende_adapter_gcp::DedupeKeys for DiesAfterPublishing {
    async fn seen(&self, key: &str) -> Result<bool, atiende_ports::PortError> {
        self.keys.seen(key).await
    }

    async fn remember(
        &self,
        key: &str,
        expire_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), atiende_ports::PortError> {
        if !self.died.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(atiende_ports::PortError::transient("the process died"));
        }
        self.keys.remember(key, expire_at).await
    }
}

/// A webhook whose publish is cut off between the two steps — published, its dedupe key not yet
/// recorded — is not lost: the provider's retry is published again (the consumer, which records
/// the provider's message id, drops the copy), and only once recorded is a retry a duplicate.
#[cfg(feature = "gcp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_cut_off_before_its_dedupe_key_is_recorded_loses_nothing() {
    let Some(bus) = TestBus::pubsub_with_keys(|keys| {
        Arc::new(DiesAfterPublishing {
            keys,
            died: std::sync::atomic::AtomicBool::new(false),
        })
    })
    .await
    else {
        return;
    };
    let recorder = Recorder::new(|_| HandleOutcome::Ack);
    bus.subscribe(SUB, recorder.clone()).await;
    let key = format!("SM{}", uuid::Uuid::new_v4().simple());
    let publish = || {
        bus.publisher.publish(
            Topic::Inbound,
            message("demo:twilio:+1809", "retried").with_dedupe_key(&key),
        )
    };
    assert!(matches!(
        publish().await.unwrap(),
        PublishOutcome::Published { .. }
    ));
    // The provider retries (its first attempt got no answer): published, not lost.
    assert!(matches!(
        publish().await.unwrap(),
        PublishOutcome::Published { .. }
    ));
    // Now the key is recorded: a third delivery is a duplicate.
    assert_eq!(publish().await.unwrap(), PublishOutcome::Duplicate);
    let seen = wait_for(&recorder, 2).await;
    assert!(seen.iter().all(|d| d.data == b"retried"));
    bus.stop().await;
}
