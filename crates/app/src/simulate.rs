//! Dry runs of a tenant's assistant: a customer's message through the real processor — tenant,
//! conversation store, knowledge, engine, tools, handoff triggers — with the outbound actions
//! returned to the caller instead of published, so nothing reaches WhatsApp, a desk or a CRM.
//!
//! This is what `atiende eval` drives (the tenant test suite) and what the admin API's
//! `POST /admin/tenants/{id}/simulate` serves. Simulated conversations are ordinary WhatsApp
//! conversations of the number given: use test numbers, or `reset` to start one afresh.

use std::sync::Arc;

use async_trait::async_trait;
use atiende_domain::{
    ActionKind, Channel, Contact, Conversation, ConversationId, HandoffReason, InboundMessage,
    MessageContent, PhoneNumber, ProviderMessageId, TenantId, assistant::TurnTrace,
    turn::LeadFields,
};
use atiende_ports::{
    Clock, ConversationStore, EventPublisher, OutgoingMessage, PortError, PublishOutcome,
    TenantStore,
};
use serde::Serialize;

use crate::{
    AppError,
    engine::ConversationEngine,
    processor::{InboundProcessor, Processed},
    responder::ExtractiveResponder,
};

/// A publisher that publishes nothing: the simulator returns the actions instead.
struct Discard;

#[async_trait]
impl EventPublisher for Discard {
    async fn publish(
        &self,
        _: atiende_domain::Topic,
        _: OutgoingMessage,
    ) -> Result<PublishOutcome, PortError> {
        Ok(PublishOutcome::Duplicate)
    }
}

/// What one simulated message produced.
#[derive(Debug, Clone, Serialize)]
pub struct SimulatedTurn {
    /// The bot's texts to the customer, in order.
    pub replies: Vec<String>,
    /// The handoff, if the turn handed off.
    pub handoff: Option<HandoffReason>,
    /// The conversation's state after the turn.
    pub state: atiende_domain::ConversationState,
    /// The lead fields known after the turn.
    pub lead: LeadFields,
    /// Whether a lead went to the CRM.
    pub lead_pushed: bool,
    /// The turn's decision trace, when the engine decided it.
    pub trace: Option<TurnTrace>,
}

/// Runs dry turns.
pub struct Simulator {
    processor: InboundProcessor,
    conversations: Arc<dyn ConversationStore>,
    clock: Arc<dyn Clock>,
}

impl Simulator {
    /// A simulator over the real stores, knowledge and engine.
    pub fn new(
        tenants: Arc<dyn TenantStore>,
        conversations: Arc<dyn ConversationStore>,
        responder: Arc<ExtractiveResponder>,
        engine: Option<Arc<ConversationEngine>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let processor = InboundProcessor::new(
            tenants,
            conversations.clone(),
            Arc::new(Discard),
            responder,
            clock.clone(),
        );
        let processor = match engine {
            Some(engine) => processor.with_engine(engine),
            None => processor,
        };
        Self {
            processor,
            conversations,
            clock,
        }
    }

    /// Fulfils account, quote and contact requests without the model, as the processor does.
    #[must_use]
    pub fn with_skills(mut self, skills: Arc<crate::skills::Skills>) -> Self {
        self.processor = self.processor.with_skills(skills);
        self
    }

    /// Sends `text` as `from` (a WhatsApp number) to `tenant`; with `reset`, the number's
    /// conversation starts afresh first.
    pub async fn turn(
        &self,
        tenant: &TenantId,
        from: &str,
        text: &str,
        reset: bool,
    ) -> Result<SimulatedTurn, AppError> {
        let phone = PhoneNumber::parse(from)?;
        let id = ConversationId::new(tenant, Channel::TwilioWhatsApp, phone.as_str());
        let now = self.clock.now();
        if reset && let Some(stored) = self.conversations.load(&id).await? {
            let fresh = Conversation::start(
                id.clone(),
                tenant.clone(),
                Channel::TwilioWhatsApp,
                Contact::from_phone(phone.clone()),
                now,
            );
            self.conversations
                .save(&fresh, Some(stored.version))
                .await?;
        }
        let message = InboundMessage {
            conversation: id.clone(),
            tenant: tenant.clone(),
            channel: Channel::TwilioWhatsApp,
            provider_message_id: ProviderMessageId::parse(format!(
                "SIM{}",
                uuid::Uuid::new_v4().simple()
            ))?,
            contact: Contact::from_phone(phone),
            business_address: None,
            content: MessageContent::Text {
                body: text.to_owned(),
            },
            sent_at: None,
            received_at: now,
            in_reply_to: None,
            referral: None,
        };
        let actions = match self.processor.process(&message, None).await? {
            Processed::Handled { actions } => actions,
            Processed::UnknownTenant => {
                return Err(AppError::NotFound(format!("tenant {tenant}")));
            }
            Processed::AlreadyProcessed | Processed::UnknownConversation => Vec::new(),
        };
        let mut turn = SimulatedTurn {
            replies: Vec::new(),
            handoff: None,
            state: atiende_domain::ConversationState::Bot,
            lead: LeadFields::default(),
            lead_pushed: false,
            trace: None,
        };
        for action in actions {
            match action.kind {
                ActionKind::Reply { text }
                | ActionKind::Choose { text, .. }
                | ActionKind::AgentReply { text, .. } => {
                    turn.replies.push(text);
                }
                ActionKind::Handoff { reason, notice, .. } => {
                    turn.handoff = Some(reason);
                    turn.replies.push(notice);
                }
                ActionKind::PushLead { .. } => turn.lead_pushed = true,
                ActionKind::Template { .. }
                | ActionKind::DeskHandoff { .. }
                | ActionKind::DeskRelay { .. }
                | ActionKind::Alert { .. } => {}
            }
        }
        if let Some(stored) = self.conversations.load(&id).await? {
            turn.state = stored.value.state;
            turn.lead = stored.value.lead.clone();
            turn.trace = stored
                .value
                .traces
                .last()
                .filter(|t| t.at.is_some_and(|at| at >= now))
                .cloned();
        }
        Ok(turn)
    }
}
