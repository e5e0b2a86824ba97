//! The processor: turns an inbound message into outbound actions.
//!
//! For each customer message it loads the conversation, records the message, decides what to do
//! — welcome, answer from the knowledge, offer or perform a handoff, acknowledge media — and
//! publishes the resulting actions before saving the conversation.
//!
//! Exactly-once effects on at-least-once delivery come from three facts:
//! * the conversation remembers recent inbound ids, so a redelivered message is recognized;
//! * action ids derive from the inbound message, so a re-run after a crash between publishing and
//!   saving republishes the *same* actions, which the bus (dedupe key) and the dispatcher (outbox)
//!   both drop;
//! * saving is optimistic: if another processor instance saved first, this one retries from a
//!   fresh read instead of answering from a stale one.

use std::sync::Arc;

use async_trait::async_trait;
use atiende_domain::{
    ActionId, ActionKind, BusEvent, Conversation, HandoffReason, InboundMessage, Locale,
    MessageContent, OutboundAction, Tenant, Topic,
    conversation::Recorded,
    i18n::SystemText,
    intent::{self, SmallTalk},
    language,
};
use atiende_ports::{
    Clock, ConversationStore, Delivery, EventPublisher, HandleOutcome, MessageHandler,
    OutgoingMessage, TenantStore,
};
use tracing::{debug, info, warn};

use crate::{
    AppError, handler,
    responder::{Answer, ExtractiveResponder},
};

/// After this many unanswered questions in a row the bot hands off without asking.
pub const MAX_UNANSWERED_IN_A_ROW: u32 = 3;

/// What processing an inbound message did.
#[derive(Debug, Clone, PartialEq)]
pub enum Processed {
    /// The message was handled and these actions were published.
    Handled {
        /// The actions, in order.
        actions: Vec<OutboundAction>,
    },
    /// The message had been processed before.
    AlreadyProcessed,
    /// The tenant no longer exists; the message was dropped.
    UnknownTenant,
}

/// The processor's use case.
pub struct InboundProcessor {
    tenants: Arc<dyn TenantStore>,
    conversations: Arc<dyn ConversationStore>,
    publisher: Arc<dyn EventPublisher>,
    responder: Arc<ExtractiveResponder>,
    clock: Arc<dyn Clock>,
}

impl InboundProcessor {
    /// Builds the processor.
    pub fn new(
        tenants: Arc<dyn TenantStore>,
        conversations: Arc<dyn ConversationStore>,
        publisher: Arc<dyn EventPublisher>,
        responder: Arc<ExtractiveResponder>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            tenants,
            conversations,
            publisher,
            responder,
            clock,
        }
    }

    /// Processes one inbound message.
    pub async fn process(
        &self,
        message: &InboundMessage,
        traceparent: Option<&str>,
    ) -> Result<Processed, AppError> {
        let Some(tenant) = self.tenants.get(&message.tenant).await? else {
            return Ok(Processed::UnknownTenant);
        };
        let now = self.clock.now();
        let (mut conversation, version) =
            match self.conversations.load(&message.conversation).await? {
                Some(stored) => (stored.value, Some(stored.version)),
                None => (
                    Conversation::start(
                        message.conversation.clone(),
                        message.tenant.clone(),
                        message.channel,
                        message.contact.clone(),
                        now,
                    ),
                    None,
                ),
            };
        if conversation.record_customer_message(message) == Recorded::Duplicate {
            return Ok(Processed::AlreadyProcessed);
        }
        if conversation.locale.is_none() {
            conversation.locale = message.text().and_then(language::detect);
        }
        let locale = conversation.locale.unwrap_or(tenant.language);

        let kinds = self
            .decide(&tenant, &mut conversation, message, locale)
            .await?;
        let mut actions = Vec::with_capacity(kinds.len());
        for (index, kind) in kinds.into_iter().enumerate() {
            let text = match &kind {
                ActionKind::Reply { text } | ActionKind::Handoff { notice: text, .. } => {
                    Some(text.clone())
                }
                ActionKind::Template { .. } => None,
            };
            if let Some(text) = text {
                conversation.record_bot_message(&text, now);
            }
            actions.push(OutboundAction {
                id: ActionId::caused_by(
                    &conversation.id,
                    &message.provider_message_id,
                    u32::try_from(index).unwrap_or(u32::MAX),
                ),
                tenant: tenant.id.clone(),
                conversation: conversation.id.clone(),
                channel: conversation.channel,
                to: conversation.contact.clone(),
                kind,
                in_reply_to: Some(message.provider_message_id.clone()),
                last_customer_message_at: conversation.last_customer_message_at,
                locale,
                created_at: now,
            });
        }
        // Publish before saving: a crash in between re-runs this message and republishes the
        // same action ids, which the bus and the outbox drop. The reverse order could lose them.
        for action in &actions {
            let event = BusEvent::OutboundActionRequestedV1 {
                action: action.clone(),
            };
            let outgoing = OutgoingMessage::from_event(&event, traceparent)?
                .with_dedupe_key(format!("out/{}", action.id));
            self.publisher.publish(Topic::Outbound, outgoing).await?;
        }
        self.conversations.save(&conversation, version).await?;
        Ok(Processed::Handled { actions })
    }

    /// Decides what the bot does with a recorded customer message.
    async fn decide(
        &self,
        tenant: &Tenant,
        conversation: &mut Conversation,
        message: &InboundMessage,
        locale: Locale,
    ) -> Result<Vec<ActionKind>, AppError> {
        if !conversation.state.bot_may_reply() {
            // A person owns the conversation: the bot stays silent.
            return Ok(Vec::new());
        }
        let reply = |text: String| Ok(vec![ActionKind::Reply { text }]);
        let body = match &message.content {
            MessageContent::Text { body } => body.as_str(),
            MessageContent::Media { items, .. } => {
                let kind = items
                    .first()
                    .map_or(atiende_domain::MediaKind::Other, |m| m.kind);
                return reply(SystemText::MediaReceived { kind }.render(locale));
            }
            MessageContent::Location { .. } => {
                return reply(SystemText::LocationReceived.render(locale));
            }
            MessageContent::Reaction { .. } => return Ok(Vec::new()),
            MessageContent::Unsupported { .. } => {
                return reply(SystemText::UnsupportedReceived.render(locale));
            }
        };

        if intent::wants_human(body) {
            return self.hand_off(
                tenant,
                conversation,
                HandoffReason::CustomerRequested,
                locale,
            );
        }
        if conversation.handoff_offered {
            conversation.handoff_offered = false;
            match intent::yes_or_no(body) {
                Some(true) => {
                    return self.hand_off(
                        tenant,
                        conversation,
                        HandoffReason::AcceptedOffer,
                        locale,
                    );
                }
                Some(false) => {
                    conversation.unanswered_in_a_row = 0;
                    return reply(SystemText::OfferDeclined.render(locale));
                }
                None => {}
            }
        }
        match intent::small_talk(body) {
            Some(SmallTalk::Greeting) => {
                let text = match &tenant.welcome_message {
                    Some(welcome) if locale == tenant.language => welcome.clone(),
                    _ => SystemText::Welcome {
                        company: &tenant.company_name,
                    }
                    .render(locale),
                };
                return reply(text);
            }
            Some(SmallTalk::Thanks) => return reply(SystemText::YouAreWelcome.render(locale)),
            None => {}
        }
        match self.responder.answer(tenant, body, locale).await? {
            Answer::Found {
                text,
                passages,
                coverage,
            } => {
                debug!(conversation = %conversation.id.masked(), ?passages, coverage, "Answered from knowledge.");
                conversation.unanswered_in_a_row = 0;
                reply(text)
            }
            Answer::NotFound => {
                conversation.unanswered_in_a_row += 1;
                if conversation.unanswered_in_a_row >= MAX_UNANSWERED_IN_A_ROW {
                    return self.hand_off(
                        tenant,
                        conversation,
                        HandoffReason::RepeatedFallback,
                        locale,
                    );
                }
                conversation.handoff_offered = true;
                reply(
                    SystemText::DontKnow {
                        company: &tenant.company_name,
                    }
                    .render(locale),
                )
            }
        }
    }

    fn hand_off(
        &self,
        tenant: &Tenant,
        conversation: &mut Conversation,
        reason: HandoffReason,
        locale: Locale,
    ) -> Result<Vec<ActionKind>, AppError> {
        let now = self.clock.now();
        if conversation.hand_off(reason, now).is_err() {
            return Ok(Vec::new());
        }
        let summary = conversation
            .turns
            .iter()
            .rev()
            .filter(|t| t.author == atiende_domain::Author::Customer)
            .take(5)
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" / ");
        info!(conversation = %conversation.id.masked(), reason = reason.as_str(), "Conversation handed off.");
        Ok(vec![ActionKind::Handoff {
            reason,
            notice: SystemText::HandoffNotice {
                company: &tenant.company_name,
            }
            .render(locale),
            summary,
        }])
    }
}

#[async_trait]
impl MessageHandler for InboundProcessor {
    async fn handle(&self, delivery: &Delivery) -> HandleOutcome {
        let event = match handler::decode(delivery) {
            Ok(event) => event,
            Err(outcome) => return outcome,
        };
        let BusEvent::InboundMessageReceivedV1 { message } = event else {
            return handler::unexpected(&event, delivery);
        };
        match self.process(&message, delivery.traceparent()).await {
            Ok(Processed::Handled { actions }) => {
                debug!(conversation = %message.conversation.masked(), actions = actions.len(), "Inbound message processed.");
                HandleOutcome::Ack
            }
            Ok(Processed::AlreadyProcessed) => HandleOutcome::Ack,
            Ok(Processed::UnknownTenant) => {
                warn!(tenant = %message.tenant, "Dropped a message for a tenant that no longer exists.");
                HandleOutcome::Ack
            }
            Err(error) if error.is_transient() => HandleOutcome::Retry {
                reason: error.to_string(),
                after: error.retry_after(),
            },
            Err(error) => HandleOutcome::Reject {
                reason: error.to_string(),
            },
        }
    }
}
