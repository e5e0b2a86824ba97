//! The human desk: where handed-off conversations go, and who may work them.
//!
//! [`HumanDesk`] is implemented by external desks (Chatwoot); the built-in console needs no
//! adapter because it reads conversations from the [`ConversationStore`](crate::ConversationStore)
//! and writes agents' actions to the bus like any desk webhook. [`AgentStore`] keeps the
//! console's agents and their sign-in keys, stored as SHA-256 digests only.

use std::time::Duration;

use async_trait::async_trait;
use atiende_domain::{
    Agent, ConversationId, DeskKind, HandoffPacket, Lead, MediaRef, OutboundAction, Tenant,
    TenantId,
};

use crate::PortError;

/// Why a desk call failed, classified for the retry decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeskError {
    /// May succeed later: the desk is down, rate-limited or timed out.
    #[error("the desk is temporarily unavailable: {message}")]
    Transient {
        /// What failed.
        message: String,
        /// How long the desk asked us to wait.
        retry_after: Option<Duration>,
    },
    /// Will not succeed as configured: bad credentials, unknown inbox.
    #[error("the desk refused the request: {message}")]
    Permanent {
        /// What the desk said.
        message: String,
    },
    /// The tenant has no settings for this desk.
    #[error("the tenant has no {0} configuration")]
    NotConfigured(&'static str),
}

impl DeskError {
    /// An HTTP answer other than a success from `service`, classified the same way for every
    /// desk and webhook: 408, 429 and 5xx may succeed later (after the server's `Retry-After`,
    /// when it gave one); anything else will not, and `detail` (" to /path: reason", or empty)
    /// says what was refused.
    pub fn from_status(
        service: &str,
        status: u16,
        retry_after: Option<Duration>,
        detail: &str,
    ) -> Self {
        if matches!(status, 408 | 429 | 500..=599) {
            Self::Transient {
                message: format!("{service} answered HTTP {status}"),
                retry_after,
            }
        } else {
            Self::Permanent {
                message: format!("{service} answered HTTP {status}{detail}"),
            }
        }
    }
}

/// An external desk conversations are handed to.
#[async_trait]
pub trait HumanDesk: Send + Sync {
    /// Which desk this is.
    fn kind(&self) -> DeskKind;
    /// Opens (or reopens) the conversation at the desk with the packet. Called again with the
    /// same action after a failure, it must not open a second conversation.
    async fn open(
        &self,
        tenant: &Tenant,
        action: &OutboundAction,
        packet: &HandoffPacket,
    ) -> Result<(), DeskError>;
    /// Relays a customer's message into the conversation at the desk.
    async fn relay(
        &self,
        tenant: &Tenant,
        action: &OutboundAction,
        text: &str,
        media: &[MediaRef],
    ) -> Result<(), DeskError>;
}

/// Where handoffs are announced to the team (a Slack-style incoming webhook).
#[async_trait]
pub trait Alerter: Send + Sync {
    /// Announces `packet` in the tenant's alert channel. Failures are classified like a desk's.
    async fn alert(&self, tenant: &Tenant, packet: &HandoffPacket) -> Result<(), DeskError>;
}

/// Where leads go: the tenant's CRM.
#[async_trait]
pub trait LeadSink: Send + Sync {
    /// Delivers `lead`. Delivering the same lead again must be harmless (the CRM deduplicates
    /// by `lead_id`); failures are classified like a desk's.
    async fn push(&self, tenant: &Tenant, lead: &Lead) -> Result<(), DeskError>;
}

/// Where a conversation lives at an external desk (the Chatwoot conversation id), so a
/// customer's later messages land in the same place.
#[async_trait]
pub trait DeskLinkStore: Send + Sync {
    /// The desk's reference for `conversation`, if it was opened there.
    async fn link(
        &self,
        conversation: &ConversationId,
        desk: DeskKind,
    ) -> Result<Option<String>, PortError>;
    /// The conversation of `tenant` whose reference at `desk` is `external` (a desk's webhook
    /// names its own room, not atiende's conversation). Scoped by tenant: two tenants' desks may
    /// number their rooms alike.
    async fn conversation_for(
        &self,
        tenant: &TenantId,
        desk: DeskKind,
        external: &str,
    ) -> Result<Option<ConversationId>, PortError>;
    /// Records the desk's reference for `conversation`.
    async fn set_link(
        &self,
        conversation: &ConversationId,
        desk: DeskKind,
        external: &str,
    ) -> Result<(), PortError>;
}

/// An agent of the built-in console, as listed to operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAccount {
    /// The tenant they work for.
    pub tenant: TenantId,
    /// Who they are.
    pub agent: Agent,
}

/// The console's agents. Keys are stored as SHA-256 digests; the key itself is shown once.
#[async_trait]
pub trait AgentStore: Send + Sync {
    /// Adds an agent whose key has `key_digest` (hex SHA-256). `Conflict` if the id is taken.
    async fn add(&self, account: &AgentAccount, key_digest: &str) -> Result<(), PortError>;
    /// The agent whose key has `key_digest`.
    async fn find_by_key(&self, key_digest: &str) -> Result<Option<AgentAccount>, PortError>;
    /// A tenant's agents.
    async fn list(&self, tenant: &TenantId) -> Result<Vec<AgentAccount>, PortError>;
    /// Removes an agent; `true` if it existed.
    async fn remove(&self, tenant: &TenantId, agent_id: &str) -> Result<bool, PortError>;
}
