//! Accepting inbound messages: the ingest service's use case.
//!
//! A webhook is acknowledged only after its message is durably on the bus. Publishing carries a
//! dedupe key built from the provider's message id, so a webhook retried by Twilio or Meta (they
//! retry on timeouts and errors) is published once; the processor is idempotent on top of that.
//!
//! One person is one conversation: WhatsApp may name a customer by phone number, by user id
//! (BSUID), or both. The number keys the conversation whenever it comes; a message carrying both
//! teaches the gateway which number a user id belongs to, and a later message with the user id
//! alone is keyed on that number too.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use atiende_domain::{
    BusEvent, Channel, ContactIdentity, ConversationId, DeliveryState, DeskEvent, InboundMessage,
    PhoneNumber, StatusUpdate, TenantId, Topic, UserId,
};
use atiende_ports::{
    ConversationStore, DeliveryLog, EventPublisher, OutgoingMessage, PublishOutcome,
};
use tracing::warn;

use crate::AppError;

/// Whether an inbound message was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Published for processing.
    Accepted,
    /// Seen before; dropped.
    Duplicate,
}

/// How many (tenant, user id, number) pairs an instance remembers having stored, so a customer
/// writing all day costs one alias write, not one per message.
const REMEMBERED: usize = 10_000;

/// Puts verified inbound messages on the bus and records delivery receipts.
pub struct InboundGateway {
    publisher: Arc<dyn EventPublisher>,
    delivery_log: Arc<dyn DeliveryLog>,
    aliases: Option<Arc<dyn ConversationStore>>,
    remembered: Mutex<HashSet<(TenantId, UserId, PhoneNumber)>>,
}

impl InboundGateway {
    /// Builds the gateway.
    pub fn new(publisher: Arc<dyn EventPublisher>, delivery_log: Arc<dyn DeliveryLog>) -> Self {
        Self {
            publisher,
            delivery_log,
            aliases: None,
            remembered: Mutex::new(HashSet::new()),
        }
    }

    /// Keeps one conversation per person across phone number and user id, with the aliases in
    /// `store`.
    #[must_use]
    pub fn with_aliases(mut self, store: Arc<dyn ConversationStore>) -> Self {
        self.aliases = Some(store);
        self
    }

    /// Keys `message` on the customer's number when only their user id came but a message
    /// before taught which number it is; remembers the pair when both came.
    async fn one_person_one_conversation(
        &self,
        message: &mut InboundMessage,
    ) -> Result<(), AppError> {
        let Some(store) = &self.aliases else {
            return Ok(());
        };
        if message.channel == Channel::WebChat {
            return Ok(());
        }
        match (&message.contact.identity, &message.contact.user_id) {
            (ContactIdentity::Phone(phone), Some(user)) => {
                let pair = (message.tenant.clone(), user.clone(), phone.clone());
                if self.lock().contains(&pair) {
                    return Ok(());
                }
                // Best effort: without it only a later user-id-only message is affected.
                match store.remember_phone(&message.tenant, user, phone).await {
                    Ok(()) => {
                        let mut remembered = self.lock();
                        if remembered.len() >= REMEMBERED {
                            remembered.clear();
                        }
                        remembered.insert(pair);
                    }
                    Err(e) => warn!(error = %e, "Could not remember a WhatsApp user id's number."),
                }
            }
            (ContactIdentity::User(user), _) => {
                if let Some(phone) = store.phone_of(&message.tenant, user).await? {
                    let user = user.clone();
                    message.contact.user_id = Some(user);
                    message.contact.identity = ContactIdentity::Phone(phone.clone());
                    message.contact.phone = Some(phone);
                    message.conversation = ConversationId::new(
                        &message.tenant,
                        message.channel,
                        &message.contact.identity.key(),
                    );
                }
            }
            (ContactIdentity::Phone(_), None) => {}
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<(TenantId, UserId, PhoneNumber)>> {
        self.remembered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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
        mut message: InboundMessage,
        traceparent: Option<&str>,
    ) -> Result<Acceptance, AppError> {
        self.one_person_one_conversation(&mut message).await?;
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
