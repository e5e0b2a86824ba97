//! Storage ports: tenants, conversations, delivery receipts, the outbox, the web chat transcript.

use std::sync::Arc;

use async_trait::async_trait;
use atiende_domain::{
    ActionId, Author, Channel, Conversation, ConversationId, ConversationState, DeliveryState,
    OutboundAction, StatusUpdate, Tenant, TenantId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::PortError;

/// Tenants and their configuration.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// The tenant with `id`, if it exists.
    async fn get(&self, id: &TenantId) -> Result<Option<Arc<Tenant>>, PortError>;
    /// Every tenant, ordered by id.
    async fn list(&self) -> Result<Vec<Arc<Tenant>>, PortError>;
    /// Creates a tenant; [`PortError::Conflict`] if the id is taken.
    async fn create(&self, tenant: &Tenant) -> Result<(), PortError>;
    /// Replaces a tenant; [`PortError::NotFound`] if it does not exist.
    async fn update(&self, tenant: &Tenant) -> Result<(), PortError>;
    /// Deletes a tenant and everything it owns; `false` if it did not exist.
    async fn delete(&self, id: &TenantId) -> Result<bool, PortError>;
}

/// A value with the version it was read at, for optimistic concurrency.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its version; a save must present it unchanged.
    pub version: u64,
}

/// Which conversations to list.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    /// Only conversations in this state.
    pub state: Option<ConversationState>,
    /// At most this many, most recently updated first.
    pub limit: usize,
}

/// Conversations, with optimistic concurrency: two processors can never both save over the same
/// version, so a message is never answered twice from a stale read.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// The conversation with `id`, if any.
    async fn load(&self, id: &ConversationId)
    -> Result<Option<Versioned<Conversation>>, PortError>;
    /// Saves `conversation` if its stored version is still `expected` (`None`: it must not
    /// exist yet). Returns the new version; [`PortError::Conflict`] if someone saved first.
    async fn save(
        &self,
        conversation: &Conversation,
        expected: Option<u64>,
    ) -> Result<u64, PortError>;
    /// A tenant's conversations.
    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ConversationFilter,
    ) -> Result<Vec<Conversation>, PortError>;
    /// A value that changes whenever a conversation of `tenant` that involves a person changes
    /// ([`involves_desk`]): what the agent console watches, one small read instead of its
    /// whole queue.
    async fn desk_revision(&self, tenant: &TenantId) -> Result<String, PortError>;
    /// The phone number WhatsApp user id `user` came with in `tenant`, when a message carried
    /// both ([`ConversationStore::remember_phone`]).
    async fn phone_of(
        &self,
        tenant: &TenantId,
        user: &atiende_domain::UserId,
    ) -> Result<Option<atiende_domain::PhoneNumber>, PortError>;
    /// Remembers that `user` is `phone` in `tenant`, so a later message with the user id alone
    /// reaches the conversation the number keys.
    async fn remember_phone(
        &self,
        tenant: &TenantId,
        user: &atiende_domain::UserId,
        phone: &atiende_domain::PhoneNumber,
    ) -> Result<(), PortError>;
}

/// Whether saving `conversation` can change what the agent console shows: it waits for or is
/// owned by a person, or was just resolved (leaving the queue). A conversation back with the
/// bot is not in the queue, so its saves cost the console nothing.
pub fn involves_desk(conversation: &Conversation) -> bool {
    conversation.state != atiende_domain::ConversationState::Bot
}

/// Delivery receipts of messages atiende sent.
#[async_trait]
pub trait DeliveryLog: Send + Sync {
    /// Records a receipt, merged monotonically with earlier ones; returns the resulting state.
    async fn record_status(&self, update: &StatusUpdate) -> Result<DeliveryState, PortError>;
    /// The state of one outbound message, if a receipt or a send recorded it.
    async fn status(
        &self,
        tenant: &TenantId,
        channel: Channel,
        provider_message_id: &str,
    ) -> Result<Option<DeliveryState>, PortError>;
}

/// Where an outbound action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// A send is under way (or was, when the process died).
    Sending,
    /// The provider accepted it.
    Sent,
    /// Not sent, on purpose: the window was closed with no template, or the channel is not
    /// configured. `detail` says why; someone can act on it.
    Parked,
    /// The provider refused it permanently.
    Failed,
}

impl OutboxState {
    /// The snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Parked => "parked",
            Self::Failed => "failed",
        }
    }

    /// Parses the snake-case name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "sending" => Some(Self::Sending),
            "sent" => Some(Self::Sent),
            "parked" => Some(Self::Parked),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// The dispatcher's record of one outbound action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// The action.
    pub action_id: ActionId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its conversation.
    pub conversation: ConversationId,
    /// Its channel.
    pub channel: Channel,
    /// Where it stands.
    pub state: OutboxState,
    /// The provider's id for the sent message.
    pub provider_message_id: Option<String>,
    /// Why it was parked or failed; which template was used.
    pub detail: Option<String>,
    /// How many times a send was started.
    pub attempts: u32,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The result of claiming an action for sending.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Go ahead and send; `attempts` counts this one.
    Claimed {
        /// Send attempts so far, including this one.
        attempts: u32,
    },
    /// It was finished before (sent, parked or failed): do not send again.
    AlreadyDone(OutboxRecord),
}

/// The dispatcher's outbox: one provider send per action, however often the action is delivered.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Claims `action` for sending.
    async fn claim(&self, action: &OutboundAction, now: DateTime<Utc>) -> Result<Claim, PortError>;
    /// Records how the send ended. The tenant names where the record is (one write, no lookup);
    /// another tenant's action is not found.
    async fn finish(
        &self,
        tenant: &TenantId,
        action: &ActionId,
        state: OutboxState,
        provider_message_id: Option<&str>,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), PortError>;
    /// A tenant's outbox records, newest first.
    async fn list(
        &self,
        tenant: &TenantId,
        state: Option<OutboxState>,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, PortError>;
}

/// One line of a web chat transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebChatEntry {
    /// Position in the session, increasing.
    pub seq: i64,
    /// Who wrote it.
    pub author: Author,
    /// The text.
    pub text: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The web chat's transcripts: the web chat is a channel whose "provider" is atiende itself.
#[async_trait]
pub trait WebChatStore: Send + Sync {
    /// Opens a session for a visitor.
    async fn create_session(
        &self,
        tenant: &TenantId,
        session: &str,
        now: DateTime<Utc>,
    ) -> Result<(), PortError>;
    /// When the session was opened, if it exists for this tenant (the caller decides whether
    /// it has expired).
    async fn session_started(
        &self,
        tenant: &TenantId,
        session: &str,
    ) -> Result<Option<DateTime<Utc>>, PortError>;
    /// Appends a line; returns its sequence number.
    async fn append(
        &self,
        tenant: &TenantId,
        session: &str,
        author: Author,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, PortError>;
    /// Lines after `after`, oldest first.
    async fn list_after(
        &self,
        tenant: &TenantId,
        session: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<WebChatEntry>, PortError>;
}
