//! The bus: publishing events and handling their delivery.
//!
//! The contract is Pub/Sub's: at-least-once delivery, ordered per ordering key, acknowledged by
//! the handler's outcome. A handler that cannot make progress *now* asks for a retry; one handed
//! a message it can never process (undecodable, unknown version) rejects it, and the message is
//! parked in a dead-letter store someone can inspect — it is never retried forever.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use atiende_domain::{BusEvent, Topic};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::PortError;

/// Message attribute: the event type (`inbound_message.received`).
pub const ATTR_EVENT_TYPE: &str = "event_type";
/// Message attribute: the event's schema version.
pub const ATTR_EVENT_VERSION: &str = "event_version";
/// Message attribute: the tenant.
pub const ATTR_TENANT: &str = "tenant";
/// Message attribute: the W3C trace context of the publisher.
pub const ATTR_TRACEPARENT: &str = "traceparent";

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Messages with the same key are delivered in publish order, one at a time.
    pub ordering_key: Option<String>,
    /// String attributes (event type, version, tenant, trace context).
    pub attributes: BTreeMap<String, String>,
    /// The payload.
    pub data: Vec<u8>,
    /// When set, a second publish with the same key is dropped: ingest uses the provider's
    /// message id so a webhook delivered twice is published once.
    pub dedupe_key: Option<String>,
}

impl OutgoingMessage {
    /// Encodes `event` as JSON with the standard attributes and the event's ordering key.
    pub fn from_event(event: &BusEvent, traceparent: Option<&str>) -> Result<Self, PortError> {
        let data = serde_json::to_vec(event)
            .map_err(|e| PortError::permanent_from("cannot encode bus event", e))?;
        let mut attributes = BTreeMap::new();
        attributes.insert(ATTR_EVENT_TYPE.to_owned(), event.event_type().to_owned());
        attributes.insert(ATTR_EVENT_VERSION.to_owned(), event.version().to_string());
        attributes.insert(ATTR_TENANT.to_owned(), event.tenant().to_string());
        if let Some(tp) = traceparent {
            attributes.insert(ATTR_TRACEPARENT.to_owned(), tp.to_owned());
        }
        Ok(Self {
            ordering_key: Some(event.ordering_key()),
            attributes,
            data,
            dedupe_key: None,
        })
    }

    /// Sets the dedupe key.
    pub fn with_dedupe_key(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }
}

/// What happened to a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// The message is durably on the bus.
    Published {
        /// The bus's id for it.
        message_id: String,
    },
    /// A message with the same dedupe key was published before; nothing was published.
    Duplicate,
}

/// Publishes messages to topics.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes `message` on `topic`. Returning `Published` means the message survives a crash.
    async fn publish(
        &self,
        topic: Topic,
        message: OutgoingMessage,
    ) -> Result<PublishOutcome, PortError>;

    /// Encodes and publishes an event.
    async fn publish_event(
        &self,
        event: &BusEvent,
        traceparent: Option<&str>,
    ) -> Result<PublishOutcome, PortError> {
        let message = OutgoingMessage::from_event(event, traceparent)?;
        self.publish(event.topic(), message).await
    }
}

/// A message delivered to a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The subscription delivering it.
    pub subscription: String,
    /// The bus's id for the message.
    pub message_id: String,
    /// Its ordering key.
    pub ordering_key: Option<String>,
    /// Its attributes.
    pub attributes: BTreeMap<String, String>,
    /// Its payload.
    pub data: Vec<u8>,
    /// 1 on the first delivery, incremented on each redelivery.
    pub delivery_attempt: u32,
    /// When it was published.
    pub publish_time: DateTime<Utc>,
}

impl Delivery {
    /// Decodes the payload as a bus event.
    pub fn event(&self) -> Result<BusEvent, serde_json::Error> {
        serde_json::from_slice(&self.data)
    }

    /// The publisher's trace context, if it sent one.
    pub fn traceparent(&self) -> Option<&str> {
        self.attributes.get(ATTR_TRACEPARENT).map(String::as_str)
    }
}

/// What a handler did with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandleOutcome {
    /// Done (including "already done before"): acknowledge.
    Ack,
    /// Could not finish now; deliver again later.
    Retry {
        /// Why, for logs and the dead-letter record if attempts run out.
        reason: String,
        /// How long to wait at least, when known.
        after: Option<Duration>,
    },
    /// Can never be processed: acknowledge and park it in the dead-letter store.
    Reject {
        /// Why.
        reason: String,
    },
}

/// Handles deliveries of one subscription.
#[async_trait]
pub trait MessageHandler: Send + Sync {
    /// Processes one delivery. Must tolerate redelivery of a message it already handled.
    async fn handle(&self, delivery: &Delivery) -> HandleOutcome;
}

/// A message that will not be delivered again, kept for inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The store's id for the letter, assigned when it is recorded (empty before).
    #[serde(default)]
    pub id: String,
    /// The subscription that gave up.
    pub subscription: String,
    /// The bus's id for the message.
    pub message_id: String,
    /// Its ordering key.
    pub ordering_key: Option<String>,
    /// Its attributes.
    pub attributes: BTreeMap<String, String>,
    /// Its payload, as text when it is UTF-8 (lossy otherwise).
    pub data: String,
    /// Why it was given up on.
    pub reason: String,
    /// How many deliveries were attempted.
    pub attempts: u32,
    /// When it was parked.
    pub at: DateTime<Utc>,
}

impl DeadLetter {
    /// `delivery`, parked by the consumer of `subscription` for `reason`.
    pub fn of(delivery: &Delivery, subscription: &str, reason: String) -> Self {
        Self {
            id: String::new(),
            subscription: subscription.to_owned(),
            message_id: delivery.message_id.clone(),
            ordering_key: delivery.ordering_key.clone(),
            attributes: delivery.attributes.clone(),
            data: String::from_utf8_lossy(&delivery.data).into_owned(),
            reason,
            attempts: delivery.delivery_attempt,
            at: Utc::now(),
        }
    }

    /// `delivery`, parked because it still asked for a retry (`reason`) on its last allowed
    /// attempt.
    pub fn exhausted(delivery: &Delivery, subscription: &str, reason: &str) -> Self {
        let reason = format!(
            "gave up after {} attempts: {reason}",
            delivery.delivery_attempt
        );
        Self::of(delivery, subscription, reason)
    }
}

/// Where undeliverable messages are parked.
#[async_trait]
pub trait DeadLetterStore: Send + Sync {
    /// Parks a message.
    async fn record(&self, letter: DeadLetter) -> Result<(), PortError>;
    /// The most recent parked messages, newest first.
    async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, PortError>;
    /// The letter with `id`, if it is still parked.
    async fn get(&self, id: &str) -> Result<Option<DeadLetter>, PortError>;
    /// Removes the letter with `id` (once redriven); whether it was there.
    async fn remove(&self, id: &str) -> Result<bool, PortError>;
}

/// Checks the credentials a push delivery arrived with: a shared token between atiende's own
/// processes, or the OIDC token Google signs for Pub/Sub push on GCP.
#[async_trait]
pub trait PushAuthenticator: Send + Sync {
    /// `bearer` is the request's bearer token, if it had one. `Err` says why it is refused (for
    /// the log; the caller answers 401 without the reason).
    async fn verify(&self, bearer: Option<&str>) -> Result<(), String>;
}

/// The body Pub/Sub POSTs to a push subscription's endpoint (protocols.md §5.1).
///
/// The embedded bus sends the same envelope when it pushes to a service running in another
/// process, so a service handles its push route identically on one machine and on Cloud Run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushEnvelope {
    /// The message.
    pub message: PushMessage,
    /// `projects/{p}/subscriptions/{s}`.
    pub subscription: String,
    /// Present when the subscription has a dead-letter policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_attempt: Option<u32>,
}

/// The message inside a [`PushEnvelope`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "RawPushMessage")]
pub struct PushMessage {
    /// Base64 of the payload.
    pub data: String,
    /// The attributes.
    pub attributes: BTreeMap<String, String>,
    /// The bus's id.
    pub message_id: String,
    /// When it was published.
    pub publish_time: DateTime<Utc>,
    /// Present only when the publisher set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
}

/// Pub/Sub sends the id and the time under both camelCase and snake_case keys (protocols.md
/// §5.1); serde aliases would reject the duplicate, so both spellings are read and merged.
#[derive(Deserialize)]
struct RawPushMessage {
    #[serde(default)]
    data: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(rename = "messageId")]
    message_id_camel: Option<String>,
    #[serde(rename = "message_id")]
    message_id_snake: Option<String>,
    #[serde(rename = "publishTime")]
    publish_time_camel: Option<DateTime<Utc>>,
    #[serde(rename = "publish_time")]
    publish_time_snake: Option<DateTime<Utc>>,
    #[serde(rename = "orderingKey")]
    ordering_key: Option<String>,
}

impl TryFrom<RawPushMessage> for PushMessage {
    type Error = String;
    fn try_from(raw: RawPushMessage) -> Result<Self, Self::Error> {
        Ok(Self {
            data: raw.data,
            attributes: raw.attributes,
            message_id: raw
                .message_id_camel
                .or(raw.message_id_snake)
                .ok_or("message.messageId is missing")?,
            publish_time: raw
                .publish_time_camel
                .or(raw.publish_time_snake)
                .ok_or("message.publishTime is missing")?,
            ordering_key: raw.ordering_key,
        })
    }
}

/// The payload a push envelope carries could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid push envelope: {0}")]
pub struct EnvelopeError(pub String);

impl PushEnvelope {
    /// The short subscription name from `projects/{p}/subscriptions/{s}` (or the name itself).
    pub fn subscription_name(&self) -> &str {
        self.subscription
            .rsplit('/')
            .next()
            .unwrap_or(&self.subscription)
    }
}

/// Decodes Pub/Sub's `data`: standard base64, padding optional.
pub fn decode_base64(input: &str) -> Result<Vec<u8>, EnvelopeError> {
    use base64::Engine as _;
    let trimmed = input.trim().trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .map_err(|e| EnvelopeError(format!("data is not base64: {e}")))
}

/// Encodes bytes as standard base64 with padding.
pub fn encode_base64(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(input)
}

impl TryFrom<PushEnvelope> for Delivery {
    type Error = EnvelopeError;
    fn try_from(envelope: PushEnvelope) -> Result<Self, Self::Error> {
        let subscription = envelope.subscription_name().to_owned();
        let data = decode_base64(&envelope.message.data)?;
        Ok(Self {
            subscription,
            message_id: envelope.message.message_id,
            ordering_key: envelope.message.ordering_key.filter(|k| !k.is_empty()),
            attributes: envelope.message.attributes,
            data,
            delivery_attempt: envelope.delivery_attempt.unwrap_or(1).max(1),
            publish_time: envelope.message.publish_time,
        })
    }
}

impl From<&Delivery> for PushEnvelope {
    fn from(d: &Delivery) -> Self {
        Self {
            message: PushMessage {
                data: encode_base64(&d.data),
                attributes: d.attributes.clone(),
                message_id: d.message_id.clone(),
                publish_time: d.publish_time,
                ordering_key: d.ordering_key.clone(),
            },
            subscription: format!("projects/atiende/subscriptions/{}", d.subscription),
            delivery_attempt: Some(d.delivery_attempt),
        }
    }
}

/// The backoff before redelivery number `attempt` (1-based): doubling from `min`, capped at `max`.
pub fn redelivery_backoff(attempt: u32, min: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    min.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_push_envelope_decodes() {
        // protocols.md §5.1, Google's example, with both camelCase and snake_case keys.
        let body = r#"{"message":{
           "data":"SGVsbG8gQ2xvdWQgUHViL1N1YiEgSGVyZSBpcyBteSBtZXNzYWdlIQ==",
           "attributes":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tenant":"acme"},
           "messageId":"2070443601311540","message_id":"2070443601311540",
           "publishTime":"2021-02-26T19:13:55.749Z","publish_time":"2021-02-26T19:13:55.749Z",
           "orderingKey":"wa:14155550123"},
         "subscription":"projects/myproject/subscriptions/mysubscription",
         "deliveryAttempt":3}"#;
        let envelope: PushEnvelope = serde_json::from_str(body).unwrap();
        let delivery = Delivery::try_from(envelope).unwrap();
        assert_eq!(delivery.data, b"Hello Cloud Pub/Sub! Here is my message!");
        assert_eq!(delivery.subscription, "mysubscription");
        assert_eq!(delivery.ordering_key.as_deref(), Some("wa:14155550123"));
        assert_eq!(delivery.delivery_attempt, 3);
        assert!(delivery.traceparent().unwrap().starts_with("00-4bf92f35"));
    }

    #[test]
    fn base64_round_trips_every_length() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(decode_base64(&encode_base64(&bytes)).unwrap(), bytes);
        }
        assert!(decode_base64("A").is_err());
        assert!(decode_base64("ab$d").is_err());
    }

    #[test]
    fn envelopes_round_trip_through_deliveries() {
        let d = Delivery {
            subscription: "atiende-processor-inbound".into(),
            message_id: "42".into(),
            ordering_key: Some("demo:twilio:+1809".into()),
            attributes: BTreeMap::from([("tenant".into(), "demo".into())]),
            data: b"{\"x\":1}".to_vec(),
            delivery_attempt: 2,
            publish_time: DateTime::from_timestamp(1_760_000_000, 0).unwrap(),
        };
        let json = serde_json::to_string(&PushEnvelope::from(&d)).unwrap();
        let back =
            Delivery::try_from(serde_json::from_str::<PushEnvelope>(&json).unwrap()).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn redelivery_backoff_doubles_up_to_the_cap() {
        let min = Duration::from_millis(500);
        let max = Duration::from_secs(60);
        assert_eq!(redelivery_backoff(1, min, max), min);
        assert_eq!(redelivery_backoff(3, min, max), Duration::from_secs(2));
        assert_eq!(redelivery_backoff(30, min, max), max);
    }
}
