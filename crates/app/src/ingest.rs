//! Accepting inbound messages: the ingest service's use case.
//!
//! A webhook is acknowledged only after its message is durably on the bus. Publishing carries a
//! dedupe key built from the provider's message id, so a webhook retried by Twilio or Meta (they
//! retry on timeouts and errors) is published once; the processor is idempotent on top of that.

use std::sync::Arc;

use atiende_domain::{BusEvent, DeliveryState, DeskEvent, InboundMessage, StatusUpdate, Topic};
use atiende_ports::{DeliveryLog, EventPublisher, OutgoingMessage, PublishOutcome};

use crate::AppError;

/// Whether an inbound message was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Published for processing.
    Accepted,
    /// Seen before; dropped.
    Duplicate,
}

/// Puts verified inbound messages on the bus and records delivery receipts.
pub struct InboundGateway {
    publisher: Arc<dyn EventPublisher>,
    delivery_log: Arc<dyn DeliveryLog>,
}

impl InboundGateway {
    /// Builds the gateway.
    pub fn new(publisher: Arc<dyn EventPublisher>, delivery_log: Arc<dyn DeliveryLog>) -> Self {
        Self {
            publisher,
            delivery_log,
        }
    }

    /// The dedupe key of an inbound message: tenant, channel and provider id.
    pub fn dedupe_key(message: &InboundMessage) -> String {
        format!(
            "in/{}/{}/{}",
            message.tenant, message.channel, message.provider_message_id
        )
    }

    /// Publishes `message` unless it was published before.
    pub async fn accept(
        &self,
        message: InboundMessage,
        traceparent: Option<&str>,
    ) -> Result<Acceptance, AppError> {
        let key = Self::dedupe_key(&message);
        self.publish(
            BusEvent::InboundMessageReceivedV1 { message },
            key,
            traceparent,
        )
        .await
    }

    /// Publishes an agent's action at a desk (a desk webhook, the console) on the same ordered
    /// stream as the customer's messages, unless it was published before.
    pub async fn accept_desk_event(
        &self,
        event: DeskEvent,
        traceparent: Option<&str>,
    ) -> Result<Acceptance, AppError> {
        let key = format!("desk/{}/{}", event.tenant, event.id);
        self.publish(BusEvent::DeskEventReceivedV1 { event }, key, traceparent)
            .await
    }

    async fn publish(
        &self,
        event: BusEvent,
        dedupe_key: String,
        traceparent: Option<&str>,
    ) -> Result<Acceptance, AppError> {
        let outgoing =
            OutgoingMessage::from_event(&event, traceparent)?.with_dedupe_key(dedupe_key);
        match self.publisher.publish(Topic::Inbound, outgoing).await? {
            PublishOutcome::Published { .. } => Ok(Acceptance::Accepted),
            PublishOutcome::Duplicate => Ok(Acceptance::Duplicate),
        }
    }

    /// Records a delivery receipt; returns the merged state.
    pub async fn record_status(&self, update: &StatusUpdate) -> Result<DeliveryState, AppError> {
        Ok(self.delivery_log.record_status(update).await?)
    }
}
