//! What the assistant's tools, budget and guard read and write: tenants' credit accounts, their
//! monthly model spending, and the security audit log.

use async_trait::async_trait;
use atiende_domain::{TenantId, assistant::Account};

use crate::PortError;

/// Tenants' credit accounts (private: never indexed, never searchable, only read by the
/// account-status tool after its authorization check).
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Replaces the tenant's accounts with `accounts`, atomically.
    async fn replace_accounts(
        &self,
        tenant: &TenantId,
        accounts: &[Account],
    ) -> Result<(), PortError>;
    /// The account numbered `number` (digits only).
    async fn account(&self, tenant: &TenantId, number: &str) -> Result<Option<Account>, PortError>;
    /// How many accounts the tenant has.
    async fn count_accounts(&self, tenant: &TenantId) -> Result<u64, PortError>;
}

/// One entry of the security audit log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The tenant.
    pub tenant: TenantId,
    /// The conversation.
    pub conversation: String,
    /// What was seen: a rule's name (`ignore_instructions`, `reveal_prompt`…), `model_flag`
    /// (the model reported a manipulation attempt) or `prompt_echo` (a reply quoted the
    /// instructions and was not sent).
    pub kind: String,
    /// The start of the customer's message.
    pub excerpt: String,
}

/// The security audit log: append-only (there is no way to change or remove an entry short of
/// deleting the tenant).
#[async_trait]
pub trait SecurityAudit: Send + Sync {
    /// Appends an entry.
    async fn append(&self, entry: &AuditEntry) -> Result<(), PortError>;
    /// The tenant's latest entries, newest first.
    async fn entries(&self, tenant: &TenantId, limit: usize) -> Result<Vec<AuditEntry>, PortError>;
}

/// Model spending per tenant and calendar month (`2026-11`).
#[async_trait]
pub trait UsageLedger: Send + Sync {
    /// Adds one turn's tokens and cost.
    async fn add_usage(
        &self,
        tenant: &TenantId,
        month: &str,
        prompt_tokens: u64,
        completion_tokens: u64,
        cost_usd: f64,
    ) -> Result<(), PortError>;
    /// Tokens (prompt, completion) and dollars spent in `month`.
    async fn usage(&self, tenant: &TenantId, month: &str) -> Result<(u64, u64, f64), PortError>;
}
