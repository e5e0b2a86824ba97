//! A tenant's daily counters ([`atiende_domain::stats`]): added to as things happen, summed for
//! a report; and its all-time totals, kept beside them for `/metrics`.

use async_trait::async_trait;
use atiende_domain::{TenantId, stats::Tally};
use chrono::NaiveDate;

use crate::PortError;

/// The daily counters of every tenant.
#[async_trait]
pub trait StatsLedger: Send + Sync {
    /// Adds `deltas` to `tenant`'s counters of `day`, and to its all-time totals. Concurrent
    /// writers add up (no lost update), on every backend.
    async fn add_stats(
        &self,
        tenant: &TenantId,
        day: NaiveDate,
        deltas: &[(String, f64)],
    ) -> Result<(), PortError>;

    /// `tenant`'s all-time totals (what `/metrics` reports as counters): one read.
    async fn totals(&self, tenant: &TenantId) -> Result<Tally, PortError>;

    /// The counters of each day from `from` to `to` (inclusive) that has any, in order.
    async fn stats(
        &self,
        tenant: &TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Tally)>, PortError>;
}
