//! What the processor asks the dispatcher to do.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    ActionId, Channel, Contact, ConversationId, HandoffPacket, Lead, Locale, MediaRef,
    ProviderMessageId, TenantId,
};

/// One thing to deliver to a customer (and, for a handoff, to the human desk).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundAction {
    /// Deterministic id: the dispatcher sends each action at most once.
    pub id: ActionId,
    /// The tenant.
    pub tenant: TenantId,
    /// The conversation.
    pub conversation: ConversationId,
    /// The channel to send through.
    pub channel: Channel,
    /// The recipient.
    pub to: Contact,
    /// What to do.
    pub kind: ActionKind,
    /// The customer message this answers, used to thread the reply where the channel can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<ProviderMessageId>,
    /// When the customer last wrote as the action was decided: the dispatcher derives the
    /// service window from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_customer_message_at: Option<DateTime<Utc>>,
    /// The customer's language.
    pub locale: Locale,
    /// When the action was decided.
    pub created_at: DateTime<Utc>,
}

/// The kinds of outbound action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionKind {
    /// A free-form reply (sent as a template outside the service window).
    Reply {
        /// The text, formatted for WhatsApp.
        text: String,
    },
    /// A question answered by picking one of a few options (the satisfaction rating): an
    /// interactive list where the channel has one (Meta), the text alone elsewhere — the text
    /// says how to answer by typing, and a picked option reads as its title.
    Choose {
        /// The question.
        text: String,
        /// The label of the button that opens the list.
        button: String,
        /// The options, at most 10.
        options: Vec<Choice>,
    },
    /// An approved template, by the tenant's name for it.
    Template {
        /// The template's name in the tenant's configuration.
        name: String,
    },
    /// Tell the customer a person will continue, and hand the conversation to the desk.
    Handoff {
        /// Why.
        reason: HandoffReason,
        /// The notice sent to the customer.
        notice: String,
        /// A short summary for the person taking over.
        summary: String,
    },
    /// A person's reply from the desk, to the customer.
    AgentReply {
        /// The text, as the agent wrote it.
        text: String,
        /// The agent's name.
        agent: String,
        /// A file the agent sent with it (kept in the tenant's media store).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<MediaRef>,
    },
    /// Open the conversation at the tenant's desk with everything a person needs.
    DeskHandoff {
        /// The packet.
        packet: Box<HandoffPacket>,
    },
    /// Relay a customer's message to the desk while a person owns the conversation.
    DeskRelay {
        /// The text (for media, the caption).
        text: String,
        /// Media the customer sent.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        media: Vec<MediaRef>,
    },
    /// Announce a handoff in the team's chat (the tenant's alert webhook).
    Alert {
        /// The handoff.
        packet: Box<HandoffPacket>,
    },
    /// Push a lead to the tenant's CRM.
    PushLead {
        /// The lead.
        lead: Box<Lead>,
    },
}

/// One option of a [`ActionKind::Choose`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// Its id (Meta echoes it with the customer's pick).
    pub id: String,
    /// What the customer sees and, picked, what their answer reads as (at most 24 characters).
    pub title: String,
    /// A line under the title (at most 72 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl ActionKind {
    /// Whether the action is a side effect outside the conversation (an alert to the team, a
    /// lead to the CRM): nothing the customer sees waits on it.
    pub fn is_side_effect(&self) -> bool {
        matches!(self, Self::Alert { .. } | Self::PushLead { .. })
    }

    /// Whether the action goes to the human desk rather than to the customer.
    pub fn is_for_desk(&self) -> bool {
        matches!(
            self,
            Self::DeskHandoff { .. }
                | Self::DeskRelay { .. }
                | Self::Alert { .. }
                | Self::PushLead { .. }
        )
    }
}

/// Why a conversation was handed to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffReason {
    /// The customer asked for a person.
    CustomerRequested,
    /// The bot could not answer, offered a person and the customer accepted.
    AcceptedOffer,
    /// The bot could not answer several questions in a row.
    RepeatedFallback,
    /// The customer sent something only a person can look at.
    NeedsHumanReview,
    /// The customer is upset (sentiment below the threshold).
    NegativeSentiment,
    /// The model was not confident enough in its answer.
    LowConfidence,
    /// The customer asked the same thing again: the bot is going in circles.
    RepeatedQuestion,
    /// The model rated the matter urgent (priority at or above the threshold).
    HighPriority,
    /// The model asked for a person (its handoff flag or the `escalar_a_humano` tool).
    ModelRequested,
    /// A tenant's business rule (a quote above the amount a person must handle).
    BusinessRule,
    /// Every language model failed: a person answers rather than nobody.
    ModelUnavailable,
}

impl HandoffReason {
    /// The snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomerRequested => "customer_requested",
            Self::AcceptedOffer => "accepted_offer",
            Self::RepeatedFallback => "repeated_fallback",
            Self::NeedsHumanReview => "needs_human_review",
            Self::NegativeSentiment => "negative_sentiment",
            Self::LowConfidence => "low_confidence",
            Self::RepeatedQuestion => "repeated_question",
            Self::HighPriority => "high_priority",
            Self::ModelRequested => "model_requested",
            Self::BusinessRule => "business_rule",
            Self::ModelUnavailable => "model_unavailable",
        }
    }
}
