//! The bus on Pub/Sub, through Google's official `google-cloud-pubsub` SDK.
//!
//! * [`PubSubPublisher`] publishes events with their ordering key (the conversation) and
//!   attributes (event type and version, tenant, W3C `traceparent`). A publish that carries a
//!   dedupe key (ingest passes the provider's message id) is dropped when the key was published
//!   before ([`DedupeKeys`], in Firestore), so a webhook Twilio or Meta delivers twice is
//!   published once. The key is recorded only *after* the publish succeeded: a process that dies
//!   between the two leaves the key unrecorded, the provider's retry is published again, and the
//!   consumers — which drop a message they already recorded — see a duplicate instead of a loss.
//!   (Claiming first would lose the message: the retry would look like a duplicate of a message
//!   that was never published.)
//! * [`PullWorker`] consumes a subscription by streaming pull, for running outside Cloud Run (on
//!   Cloud Run the services receive push deliveries at `/pubsub/push/{subscription}`, see
//!   `atiende_platform::push`). Each message goes to the same [`MessageHandler`] the push route
//!   calls: `Ack` acks; `Retry` nacks after the backoff the handler asked for; `Reject` parks the
//!   message in the dead-letter store and acks it — never nacked forever. Messages of one
//!   ordering key are handled one after another, in order; different keys run concurrently.
//! * [`ensure_topology`] creates the topics and subscriptions (dead-letter topics included) where
//!   Terraform does not: on the emulator, in tests and for local runs.
//!
//! The SDK does not read `PUBSUB_EMULATOR_HOST`: [`PubSubSettings::endpoint`] passes the emulator's
//! address and anonymous credentials to every client (docs/adr/0008-gcp-adapters.md).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use atiende_domain::Topic;
use atiende_ports::{
    DeadLetter, DeadLetterStore, Delivery, EventPublisher, HandleOutcome, MessageHandler,
    OutgoingMessage, PortError, PublishOutcome,
};
use chrono::{DateTime, Utc};
use google_cloud_gax::error::rpc::Code;
use google_cloud_pubsub::client::{Publisher, Subscriber, SubscriptionAdmin, TopicAdmin};
use google_cloud_pubsub::model::{DeadLetterPolicy, Message, PushConfig, RetryPolicy};
use tokio::sync::{oneshot, watch};
use tracing::{error, info, warn};

use crate::store::FirestoreStores;

/// Where the Pub/Sub clients connect.
#[derive(Debug, Clone)]
pub struct PubSubSettings {
    /// The GCP project.
    pub project: String,
    /// `http://host:port` of an emulator (anonymous credentials); `None` for Google's service
    /// with Application Default Credentials.
    pub endpoint: Option<String>,
    /// Appended to every topic and subscription name, so tests sharing one emulator do not
    /// share topics (the emulator has no reset). Empty in production.
    pub suffix: String,
}

impl PubSubSettings {
    /// `projects/{p}/topics/{name}{suffix}`.
    pub fn topic_path(&self, name: &str) -> String {
        format!("projects/{}/topics/{name}{}", self.project, self.suffix)
    }

    /// `projects/{p}/subscriptions/{name}{suffix}`.
    pub fn subscription_path(&self, name: &str) -> String {
        format!(
            "projects/{}/subscriptions/{name}{}",
            self.project, self.suffix
        )
    }

    fn anonymous() -> google_cloud_auth::credentials::Credentials {
        google_cloud_auth::credentials::anonymous::Builder::new().build()
    }
}

/// Applies the emulator's endpoint and anonymous credentials to any of the SDK's builders.
macro_rules! connect {
    ($builder:expr, $settings:expr) => {{
        let builder = $builder;
        match &$settings.endpoint {
            Some(endpoint) => builder
                .with_endpoint(endpoint.clone())
                .with_credentials(PubSubSettings::anonymous()),
            None => builder,
        }
    }};
}

/// Whether an RPC error may go away on its own (the service or the network, not the request).
fn is_transient(error: &google_cloud_pubsub::Error) -> bool {
    error.is_timeout()
        || error.is_io()
        || error.is_connect()
        || error.is_transport()
        || matches!(
            error.status().map(|s| s.code),
            Some(
                Code::Unavailable
                    | Code::DeadlineExceeded
                    | Code::ResourceExhausted
                    | Code::Aborted
                    | Code::Internal
                    | Code::Unknown
            )
        )
}

fn classify_ref(what: &str, error: &google_cloud_pubsub::Error) -> PortError {
    if is_transient(error) {
        PortError::transient(format!("{what}: {error}"))
    } else if error.status().is_some_and(|s| s.code == Code::NotFound) {
        PortError::permanent(format!(
            "{what}: the topic or subscription does not exist (terraform/ creates them; \
             gcp.create_topology on an emulator): {error}"
        ))
    } else {
        PortError::permanent(format!("{what}: {error}"))
    }
}

fn classify(what: &str, error: google_cloud_pubsub::Error) -> PortError {
    classify_ref(what, &error)
}

fn classify_publish(error: google_cloud_pubsub::error::PublishError) -> PortError {
    use google_cloud_pubsub::error::PublishError;
    match error {
        PublishError::Rpc(rpc) => classify_ref("cannot publish to Pub/Sub", &rpc),
        // The key was paused by an earlier failure (and has been resumed since): try again.
        PublishError::OrderingKeyPaused => {
            PortError::transient("publishing was paused for this conversation")
        }
        // Shutting down, or a kind of failure this SDK version does not name yet: the event is
        // not published, and the caller's retry may succeed.
        other @ PublishError::Shutdown | other => {
            PortError::transient(format!("cannot publish to Pub/Sub: {other}"))
        }
    }
}

/// Where the publisher remembers the dedupe keys it has published.
#[async_trait]
pub trait DedupeKeys: Send + Sync {
    /// Whether `key` was recorded and has not expired.
    async fn seen(&self, key: &str) -> Result<bool, PortError>;
    /// Records `key` until `expire_at`.
    async fn remember(&self, key: &str, expire_at: DateTime<Utc>) -> Result<(), PortError>;
}

#[async_trait]
impl DedupeKeys for FirestoreStores {
    async fn seen(&self, key: &str) -> Result<bool, PortError> {
        self.dedupe_key_seen(key, Utc::now()).await
    }

    async fn remember(&self, key: &str, expire_at: DateTime<Utc>) -> Result<(), PortError> {
        self.remember_dedupe_key(key, expire_at).await
    }
}

/// Publishes atiende's events to Pub/Sub topics.
pub struct PubSubPublisher {
    publishers: HashMap<&'static str, Publisher>,
    dedupe: Option<(Arc<dyn DedupeKeys>, Duration)>,
}

impl std::fmt::Debug for PubSubPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubSubPublisher")
            .field("topics", &self.publishers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl PubSubPublisher {
    /// A publisher for every topic of the bus.
    pub async fn connect(settings: &PubSubSettings) -> Result<Self, PortError> {
        let mut publishers = HashMap::new();
        for topic in Topic::ALL {
            let publisher = connect!(
                Publisher::builder(settings.topic_path(topic.name())),
                settings
            )
            // Latency over batching: one customer message is one event.
            .set_delay_threshold(Duration::from_millis(1))
            .build()
            .await
            .map_err(|e| PortError::transient_from("cannot build the Pub/Sub publisher", e))?;
            publishers.insert(topic.name(), publisher);
        }
        Ok(Self {
            publishers,
            dedupe: None,
        })
    }

    /// Drops publishes whose dedupe key was published within `ttl`, remembering keys in
    /// `keys` (Firestore).
    pub fn with_dedupe(mut self, keys: Arc<dyn DedupeKeys>, ttl: Duration) -> Self {
        self.dedupe = Some((keys, ttl));
        self
    }

    /// Sends everything still batched.
    pub async fn flush(&self) {
        for publisher in self.publishers.values() {
            publisher.flush().await;
        }
    }
}

#[async_trait]
impl EventPublisher for PubSubPublisher {
    async fn publish(
        &self,
        topic: Topic,
        message: OutgoingMessage,
    ) -> Result<PublishOutcome, PortError> {
        let publisher = self
            .publishers
            .get(topic.name())
            .ok_or_else(|| PortError::permanent(format!("no publisher for {}", topic.name())))?;
        // Only what enters from outside is deduplicated here: providers and desks deliver their
        // webhooks more than once. An outbound action published twice (a processor redelivered
        // after its publish) is sent once anyway — the dispatcher's outbox claims each action —
        // so its key would only cost a Firestore read and write per message.
        let dedupe = match (&self.dedupe, &message.dedupe_key) {
            (Some((keys, ttl)), Some(key)) if topic == Topic::Inbound => {
                let key = format!("{}:{key}", topic.name());
                if keys.seen(&key).await? {
                    return Ok(PublishOutcome::Duplicate);
                }
                Some((keys, key, *ttl))
            }
            _ => None,
        };
        let ordering_key = message.ordering_key.clone().unwrap_or_default();
        let mut pubsub_message = Message::new()
            .set_data(message.data)
            .set_attributes(message.attributes);
        if !ordering_key.is_empty() {
            pubsub_message = pubsub_message.set_ordering_key(ordering_key.clone());
        }
        match publisher.publish(pubsub_message).await {
            Ok(message_id) => {
                if let Some((keys, key, ttl)) = dedupe {
                    let expire_at = Utc::now()
                        + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(1));
                    // The message is out: failing the call now would only make the provider
                    // send it again. Unrecorded, a retry is published twice and the consumer
                    // drops the second.
                    if let Err(e) = keys.remember(&key, expire_at).await {
                        warn!(error = %e, "Could not record a published message's dedupe key; a retry of it would be published again.");
                    }
                }
                Ok(PublishOutcome::Published { message_id })
            }
            Err(e) => {
                // A failed publish pauses its ordering key in the SDK until resumed.
                if !ordering_key.is_empty() {
                    publisher.resume_publish(ordering_key);
                }
                Err(classify_publish(e))
            }
        }
    }
}

/// How a [`PullWorker`] consumes.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Messages leased at once (the SDK's flow control).
    pub max_outstanding: i64,
    /// The wait before nacking a message whose handler asked for a retry without saying when.
    pub retry_backoff: Duration,
    /// The longest wait before a nack, whatever the handler asked.
    pub max_retry_backoff: Duration,
    /// Deliveries after which a message still asking for a retry is parked in the dead-letter
    /// store and acked, as the embedded bus does. The subscription's own dead-letter topic
    /// (`max_delivery_attempts`, set higher) stays the backstop for a worker that dies holding
    /// a message; Google's emulator does not forward to it.
    pub max_attempts: u32,
}

impl Default for PullOptions {
    fn default() -> Self {
        Self {
            max_outstanding: 64,
            retry_backoff: Duration::from_millis(500),
            max_retry_backoff: Duration::from_secs(10),
            max_attempts: 50,
        }
    }
}

/// Consumes one subscription by streaming pull until stopped.
pub struct PullWorker {
    subscriber: Subscriber,
    path: String,
    name: String,
    handler: Arc<dyn MessageHandler>,
    dead_letters: Arc<dyn DeadLetterStore>,
    options: PullOptions,
}

impl std::fmt::Debug for PullWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullWorker")
            .field("subscription", &self.path)
            .finish_non_exhaustive()
    }
}

impl PullWorker {
    /// A worker for `subscription` (its short name).
    pub async fn connect(
        settings: &PubSubSettings,
        subscription: &str,
        handler: Arc<dyn MessageHandler>,
        dead_letters: Arc<dyn DeadLetterStore>,
        options: PullOptions,
    ) -> Result<Self, PortError> {
        let subscriber = connect!(Subscriber::builder(), settings)
            .build()
            .await
            .map_err(|e| PortError::transient_from("cannot build the Pub/Sub subscriber", e))?;
        Ok(Self {
            subscriber,
            path: settings.subscription_path(subscription),
            name: subscription.to_owned(),
            handler,
            dead_letters,
            options,
        })
    }

    /// Runs until `stop` turns true, then stops pulling, lets the messages in hand finish (their
    /// acks and nacks are sent) and returns.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut stream = self
            .subscriber
            .subscribe(&self.path)
            .set_max_outstanding_messages(self.options.max_outstanding)
            .set_shutdown_behavior(
                google_cloud_pubsub::subscriber::ShutdownBehavior::WaitForProcessing,
            )
            .build();
        let shutdown = stream.shutdown_token();
        let shared = Arc::new(Shared {
            name: self.name.clone(),
            handler: self.handler,
            dead_letters: self.dead_letters,
            options: self.options,
        });
        // The last message taken per ordering key: the next one waits for it.
        let mut tails: HashMap<String, oneshot::Receiver<()>> = HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        info!(subscription = %self.name, "Pulling.");
        loop {
            let next = tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                next = stream.next() => next,
            };
            let (message, handler) = match next {
                Some(Ok(pair)) => pair,
                Some(Err(e)) => {
                    warn!(subscription = %self.name, error = %e, "Streaming pull failed; the SDK reconnects.");
                    // A lasting error (a deleted subscription, revoked access) must not become a
                    // hot loop of retries and log lines.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                None => break,
            };
            let (done, tail) = oneshot::channel::<()>();
            let previous = if message.ordering_key.is_empty() {
                None
            } else {
                if tails.len() > 4096 {
                    tails.retain(|_, rx| {
                        matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty))
                    });
                }
                tails.insert(message.ordering_key.clone(), tail)
            };
            let shared = Arc::clone(&shared);
            tasks.spawn(async move {
                if let Some(previous) = previous {
                    // Err means the previous one finished (its sender dropped): go.
                    let _ = previous.await;
                }
                shared.handle(message, handler).await;
                drop(done);
            });
            while tasks.try_join_next().is_some() {}
        }
        info!(subscription = %self.name, in_flight = tasks.len(), "Stopping the pull; finishing the messages in hand.");
        while tasks.join_next().await.is_some() {}
        shutdown.shutdown().await;
    }
}

struct Shared {
    name: String,
    handler: Arc<dyn MessageHandler>,
    dead_letters: Arc<dyn DeadLetterStore>,
    options: PullOptions,
}

impl Shared {
    async fn handle(
        &self,
        message: Message,
        ack: google_cloud_pubsub::subscriber::handler::Handler,
    ) {
        let delivery = delivery_of(&self.name, message, ack.delivery_attempt());
        match self.handler.handle(&delivery).await {
            HandleOutcome::Ack => ack.ack(),
            HandleOutcome::Retry { reason, .. }
                if delivery.delivery_attempt >= self.options.max_attempts =>
            {
                self.park(DeadLetter::exhausted(&delivery, &self.name, &reason), ack)
                    .await;
            }
            HandleOutcome::Retry { reason, after } => {
                let wait = after
                    .unwrap_or(self.options.retry_backoff)
                    .min(self.options.max_retry_backoff);
                warn!(subscription = %self.name, message_id = %delivery.message_id, reason = %atiende_domain::mask::scrub_digits(&reason), "Delivery will be retried.");
                tokio::time::sleep(wait).await;
                ack.nack();
            }
            HandleOutcome::Reject { reason } => {
                self.park(DeadLetter::of(&delivery, &self.name, reason), ack)
                    .await;
            }
        }
    }

    /// Records `letter` in the dead-letter store and acks its message; nacks it if it cannot be
    /// recorded (it must not be lost).
    async fn park(
        &self,
        letter: DeadLetter,
        ack: google_cloud_pubsub::subscriber::handler::Handler,
    ) {
        error!(subscription = %self.name, message_id = %letter.message_id, reason = %atiende_domain::mask::scrub_digits(&letter.reason), "Message dead-lettered.");
        match self.dead_letters.record(letter).await {
            Ok(()) => ack.ack(),
            // Not recorded: it must not be lost, so it comes back.
            Err(e) => {
                warn!(error = %e, "Could not park a message; it will be redelivered.");
                ack.nack();
            }
        }
    }
}

/// The port's view of a pulled message.
fn delivery_of(subscription: &str, message: Message, attempt: Option<i32>) -> Delivery {
    let publish_time = message
        .publish_time
        .as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds(), u32::try_from(t.nanos()).unwrap_or(0)))
        .unwrap_or_else(Utc::now);
    Delivery {
        subscription: subscription.to_owned(),
        message_id: message.message_id,
        ordering_key: Some(message.ordering_key).filter(|k| !k.is_empty()),
        attributes: message.attributes.into_iter().collect::<BTreeMap<_, _>>(),
        data: message.data.to_vec(),
        // Without a dead-letter policy Pub/Sub does not count attempts (0 or absent).
        delivery_attempt: attempt
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(1)
            .max(1),
        publish_time,
    }
}

/// How each subscription of the bus is delivered.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Push endpoints per subscription (its full URL); subscriptions not named here are pull.
    pub push_endpoints: BTreeMap<String, String>,
    /// Deliveries before a message moves to the dead-letter topic (5–100).
    pub max_delivery_attempts: i32,
    /// The ack deadline (10–600 s); for push also the request timeout.
    pub ack_deadline_secs: i32,
}

impl Default for Topology {
    fn default() -> Self {
        Self {
            push_endpoints: BTreeMap::new(),
            max_delivery_attempts: 10,
            ack_deadline_secs: 120,
        }
    }
}

/// The dead-letter topic of `topic`, and the subscription that keeps its messages.
pub fn dead_letter_names(topic: &str, subscription: &str) -> (String, String) {
    (
        format!("{topic}-dead-letter"),
        format!("{subscription}-dead-letter"),
    )
}

/// Creates the bus's topics and subscriptions, with ordering, retry and dead-letter policies, as
/// terraform/pubsub.tf does in production. What exists already is left as it is.
pub async fn ensure_topology(
    settings: &PubSubSettings,
    topology: &Topology,
) -> Result<(), PortError> {
    let topics = connect!(TopicAdmin::builder(), settings)
        .build()
        .await
        .map_err(|e| PortError::transient_from("cannot build the Pub/Sub admin client", e))?;
    let subscriptions = connect!(SubscriptionAdmin::builder(), settings)
        .build()
        .await
        .map_err(|e| PortError::transient_from("cannot build the Pub/Sub admin client", e))?;
    let exists = |r: Result<(), google_cloud_pubsub::Error>, what: &str| match r {
        Ok(()) => Ok(()),
        Err(e) if e.status().is_some_and(|s| s.code == Code::AlreadyExists) => Ok(()),
        Err(e) => Err(classify(what, e)),
    };
    for topic in Topic::ALL {
        let (name, subscription) = (topic.name(), topic.subscription());
        let (dlq_topic, dlq_subscription) = dead_letter_names(name, subscription);
        for t in [name, dlq_topic.as_str()] {
            exists(
                topics
                    .create_topic()
                    .set_name(settings.topic_path(t))
                    .send()
                    .await
                    .map(|_| ()),
                "cannot create a topic",
            )?;
        }
        exists(
            subscriptions
                .create_subscription()
                .set_name(settings.subscription_path(&dlq_subscription))
                .set_topic(settings.topic_path(&dlq_topic))
                .send()
                .await
                .map(|_| ()),
            "cannot create the dead-letter subscription",
        )?;
        let mut create = subscriptions
            .create_subscription()
            .set_name(settings.subscription_path(subscription))
            .set_topic(settings.topic_path(name))
            .set_enable_message_ordering(true)
            .set_ack_deadline_seconds(topology.ack_deadline_secs)
            .set_retry_policy(
                RetryPolicy::new()
                    .set_minimum_backoff(google_cloud_wkt::Duration::clamp(1, 0))
                    .set_maximum_backoff(google_cloud_wkt::Duration::clamp(60, 0)),
            )
            .set_dead_letter_policy(
                DeadLetterPolicy::new()
                    .set_dead_letter_topic(settings.topic_path(&dlq_topic))
                    .set_max_delivery_attempts(topology.max_delivery_attempts),
            );
        if let Some(endpoint) = topology.push_endpoints.get(topic.subscription()) {
            create = create.set_push_config(PushConfig::new().set_push_endpoint(endpoint.clone()));
        }
        exists(
            create.send().await.map(|_| ()),
            "cannot create a subscription",
        )?;
        info!(topic = %settings.topic_path(name), subscription = %settings.subscription_path(subscription), "Pub/Sub topology in place.");
    }
    Ok(())
}

/// `/health/ready`'s Pub/Sub check: the inbound topic can be read.
pub struct PubSubHealth {
    admin: TopicAdmin,
    topic: String,
}

impl std::fmt::Debug for PubSubHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubSubHealth")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl PubSubHealth {
    /// A check against `settings`' project.
    pub async fn connect(settings: &PubSubSettings) -> Result<Self, PortError> {
        let admin = connect!(TopicAdmin::builder(), settings)
            .build()
            .await
            .map_err(|e| PortError::transient_from("cannot build the Pub/Sub admin client", e))?;
        Ok(Self {
            admin,
            topic: settings.topic_path(Topic::Inbound.name()),
        })
    }
}

#[async_trait]
impl atiende_ports::HealthCheck for PubSubHealth {
    fn name(&self) -> &'static str {
        "pubsub"
    }

    async fn check(&self) -> Result<(), PortError> {
        self.admin
            .get_topic()
            .set_topic(self.topic.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("Pub/Sub is not reachable", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulled_messages_become_deliveries() {
        let message = Message::new()
            .set_data("{}")
            .set_message_id("42")
            .set_ordering_key("demo:twilio:+1809")
            .set_attributes([("tenant", "demo")]);
        let d = delivery_of("atiende-processor-inbound", message, Some(3));
        assert_eq!(d.message_id, "42");
        assert_eq!(d.ordering_key.as_deref(), Some("demo:twilio:+1809"));
        assert_eq!(d.attributes.get("tenant").map(String::as_str), Some("demo"));
        assert_eq!(d.delivery_attempt, 3);
        // No dead-letter policy: the attempt is not counted, and the first delivery is 1.
        let d = delivery_of("s", Message::new(), None);
        assert_eq!((d.delivery_attempt, d.ordering_key), (1, None));
    }
}
