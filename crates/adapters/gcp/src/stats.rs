//! Tenants' daily counters on Firestore ([`StatsLedger`]).
//!
//! `tenants/{tenant}/daily_stats/{YYYY-MM-DD}` holds the day and a `counters` map;
//! `…/daily_stats/total` the all-time totals, written in the same batch. Counters
//! change by Firestore's increment transform only, so the processor and dispatcher instances
//! that count at once add up instead of overwriting each other; a report reads one document
//! per day, whatever the number of conversations.

use std::collections::BTreeMap;

use async_trait::async_trait;
use atiende_domain::{TenantId, stats::Tally};
use atiende_ports::{PortError, StatsLedger};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::store::{FirestoreStores, classify, doc_id, increment};

/// A tenant's days (sub-collection).
pub(crate) const DAILY_STATS: &str = "daily_stats";
/// The document (and `day`) of the all-time totals: it sorts after every date, so no period's
/// query reads it.
const TOTAL: &str = "total";

#[derive(Serialize, Deserialize, Default)]
struct DayDoc {
    day: String,
    #[serde(default)]
    counters: BTreeMap<String, f64>,
}

#[async_trait]
impl StatsLedger for FirestoreStores {
    async fn add_stats(
        &self,
        tenant: &TenantId,
        day: NaiveDate,
        deltas: &[(String, f64)],
    ) -> Result<(), PortError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let parent = self.tenant_parent(tenant.as_ref())?;
        let doc = DayDoc {
            day: day.to_string(),
            counters: BTreeMap::new(),
        };
        let total = DayDoc {
            day: TOTAL.to_owned(),
            counters: BTreeMap::new(),
        };
        let increments = || {
            deltas
                .iter()
                .map(|(name, value)| increment(&format!("counters.{name}"), *value))
                .collect::<Vec<_>>()
        };
        // The day and the all-time totals in one atomic batch.
        let mut batch = self.batch();
        for (id, doc) in [(day.to_string(), &doc), (TOTAL.to_owned(), &total)] {
            batch
                .update_object_at(
                    &parent,
                    DAILY_STATS,
                    doc_id(&id),
                    doc,
                    Some(vec!["day".to_owned()]),
                    None,
                    increments(),
                )
                .map_err(classify)?;
        }
        Self::commit(batch).await.map(|_| ())
    }

    async fn totals(&self, tenant: &TenantId) -> Result<Tally, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let doc: Option<DayDoc> = self
            .db()
            .fluent()
            .select()
            .by_id_in(DAILY_STATS)
            .parent(&parent)
            .obj()
            .one(doc_id(TOTAL))
            .await
            .map_err(classify)?;
        Ok(Tally(doc.map(|d| d.counters).unwrap_or_default()))
    }

    async fn stats(
        &self,
        tenant: &TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Tally)>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let (from, to) = (from.to_string(), to.to_string());
        let docs: Vec<DayDoc> = self
            .db()
            .fluent()
            .select()
            .from(DAILY_STATS)
            .parent(&parent)
            .filter(|q| {
                q.for_all([
                    q.field(firestore::path!(DayDoc::day))
                        .greater_than_or_equal(from.as_str()),
                    q.field(firestore::path!(DayDoc::day))
                        .less_than_or_equal(to.as_str()),
                ])
            })
            .order(|o| o.fields([o.field(firestore::path!(DayDoc::day)).asc()]))
            .obj()
            .query()
            .await
            .map_err(classify)?;
        docs.into_iter()
            .map(|d| {
                let day = NaiveDate::parse_from_str(&d.day, "%Y-%m-%d").map_err(|e| {
                    PortError::permanent(format!("corrupt stats day {:?}: {e}", d.day))
                })?;
                Ok((day, Tally(d.counters)))
            })
            .collect()
    }
}
