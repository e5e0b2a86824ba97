//! atiende's domain: the vocabulary of the system and the rules that need no IO.
//!
//! Everything here is plain data and pure functions — no async runtime, no network, no storage —
//! so every rule (the conversation state machine, the 24-hour service window, how a knowledge
//! document is cut into passages, which words ask for a human) is unit-tested in isolation and
//! shared unchanged by the embedded and the cloud deployments. The layering is enforced by a test
//! in `tests/` that reads `cargo metadata`.
//!
//! # Layout
//! * [`ids`]: validated identifiers (tenant, conversation, provider message, action).
//! * [`contact`]: who the customer is — a phone number *or* a username-only user id.
//! * [`channel`] and [`locale`]: where a message travels and which language it speaks.
//! * [`tenant`]: a business and its channel credentials and templates.
//! * [`access`]: the roles of tenants' API keys and what each may do.
//! * [`address`]: which network addresses a tenant-supplied URL may reach (SSRF guard).
//! * [`message`]: the normalized inbound message every channel is translated into.
//! * [`conversation`]: the conversation record and its state machine (bot ↔ human).
//! * [`csat`]: the satisfaction question after a resolution, and reading its answer.
//! * [`desk`]: the human desk — handoff packet, ticket numbers, what agents do.
//! * [`window`]: WhatsApp's 24-hour customer-service window.
//! * [`outbound`]: what the processor asks the dispatcher to do.
//! * [`events`]: the versioned, tagged events that travel on the bus.
//! * [`status`]: delivery receipts, merged monotonically.
//! * [`knowledge`]: passages of a tenant's knowledge and how documents are cut into them.
//! * [`retrieval`]: Reciprocal Rank Fusion and the relevance scale hybrid search reports.
//! * [`intent`], [`language`], [`i18n`], [`text`]: the small amount of language handling the bot
//!   needs without a language model.
//! * [`assistant`]: a tenant's assistant settings, its tools, credit accounts, decision traces.
//! * [`turn`]: the structured answer a language model gives for a turn, and its checks.
//! * [`guard`]: prompt-injection detection by rules.
//! * [`handoff`]: the handoff triggers, as one pure function of a turn's signals.
//! * [`sentiment`]: an offline sentiment score for Spanish and English.
//! * [`mask`]: how personal data appears in logs.
//! * [`stats`]: the daily counters of a tenant's service and the dashboard's figures.

pub mod access;
pub mod address;
pub mod assistant;
pub mod channel;
pub mod contact;
pub mod conversation;
pub mod csat;
pub mod desk;
pub mod events;
pub mod guard;
pub mod handoff;
pub mod hours;
pub mod i18n;
pub mod ids;
pub mod intent;
pub mod knowledge;
pub mod language;
pub mod lead;
pub mod locale;
pub mod mask;
pub mod message;
pub mod outbound;
pub mod policy;
pub mod retrieval;
pub mod sentiment;
pub mod skill;
pub mod stats;
pub mod status;
pub mod tenant;
pub mod text;
pub mod turn;
pub mod window;

pub use channel::Channel;
pub use contact::{Contact, ContactIdentity, PhoneNumber, UserId};
pub use conversation::{Author, Conversation, ConversationState, StateEvent, Turn};
pub use desk::{Agent, DeskAction, DeskEvent, DeskKind, DeskOutcome, HandoffPacket, TicketNumber};
pub use events::{BusEvent, Topic};
pub use hours::{BusinessHours, OpeningSpan};
pub use ids::{ActionId, ConversationId, ProviderMessageId, TenantId};
pub use lead::{Lead, Urgency};
pub use locale::Locale;
pub use message::{
    InboundMessage, MediaKind, MediaRef, MessageContent, Referral, is_media_key,
    is_outgoing_media_key, media_key, outgoing_media_key, sendable_media,
};
pub use outbound::{ActionKind, Choice, HandoffReason, OutboundAction};
pub use status::{DeliveryState, StatusUpdate};
pub use tenant::{
    AlertSettings, ChatwootSettings, CrmSettings, MetaSettings, RocketChatSettings, TemplateRef,
    Tenant, TwilioSettings,
};
pub use window::ServiceWindow;

/// Why a value was rejected when parsed from the outside world.
///
/// Domain constructors return this so that adapters and HTTP handlers can turn a bad field into a
/// `400` with a message the caller understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct ValidationError {
    /// The name of the field or value that was rejected.
    pub field: &'static str,
    /// A human-readable reason.
    pub reason: String,
}

impl ValidationError {
    /// Builds a validation error for `field`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}
