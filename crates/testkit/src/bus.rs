//! Bus helpers: a handler that records what it receives, and push envelopes built from events.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use atiende_domain::BusEvent;
use atiende_ports::{Delivery, HandleOutcome, MessageHandler, OutgoingMessage, bus::PushEnvelope};

/// A [`MessageHandler`] that acknowledges and remembers every delivery.
#[derive(Default)]
pub struct Recorder {
    deliveries: Mutex<Vec<Delivery>>,
}

impl Recorder {
    /// A new recorder, shared.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// What it received so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The decoded events it received so far.
    pub fn events(&self) -> Vec<BusEvent> {
        self.deliveries()
            .iter()
            .map(|d| d.event().expect("a bus event"))
            .collect()
    }

    /// Waits until it has received at least `n` deliveries.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<BusEvent> {
        crate::eventually(timeout, || async {
            let events = self.events();
            (events.len() >= n).then_some(events)
        })
        .await
        .unwrap_or_else(|| panic!("expected {n} deliveries, got {:?}", self.events()))
    }
}

#[async_trait]
impl MessageHandler for Recorder {
    async fn handle(&self, delivery: &Delivery) -> HandleOutcome {
        self.deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(delivery.clone());
        HandleOutcome::Ack
    }
}

/// The push envelope Pub/Sub would POST for `event`.
pub fn envelope(
    subscription: &str,
    message_id: &str,
    event: &BusEvent,
    attempt: u32,
) -> serde_json::Value {
    let message = OutgoingMessage::from_event(
        event,
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    )
    .expect("encodable event");
    let delivery = Delivery {
        subscription: subscription.to_owned(),
        message_id: message_id.to_owned(),
        ordering_key: message.ordering_key,
        attributes: message.attributes,
        data: message.data,
        delivery_attempt: attempt,
        publish_time: chrono::Utc::now(),
    };
    serde_json::to_value(PushEnvelope::from(&delivery)).expect("serializable envelope")
}
