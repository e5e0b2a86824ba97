//! What the assistant's tools and budget read and write: tenants' credit accounts and their
//! monthly model spending.

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
