//! [`StatsLedger`] on SQLite: one row per tenant, day and counter, added to in place, and the
//! all-time totals as the day `total`.

use async_trait::async_trait;
use atiende_domain::{TenantId, stats::Tally};
use atiende_ports::{PortError, StatsLedger};
use chrono::NaiveDate;
use rusqlite::params;

use super::SqliteStores;
use crate::db::{Cached, DbError};

/// The `day` of the all-time totals.
const TOTAL: &str = "total";

#[async_trait]
impl StatsLedger for SqliteStores {
    async fn add_stats(
        &self,
        tenant: &TenantId,
        day: NaiveDate,
        deltas: &[(String, f64)],
    ) -> Result<(), PortError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let (tenant, day, deltas) = (tenant.to_string(), day.to_string(), deltas.to_vec());
        self.db
            .write(move |c| {
                for (name, value) in &deltas {
                    // The day's counter and the all-time total (day `total`, which sorts after
                    // every date, so no period includes it).
                    for day in [day.as_str(), TOTAL] {
                        c.exec(
                            "INSERT INTO daily_stats (tenant, day, name, value) VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT (tenant, day, name) DO UPDATE SET value = value + excluded.value",
                            params![tenant, day, name, value],
                        )?;
                    }
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn totals(&self, tenant: &TenantId) -> Result<Tally, PortError> {
        let tenant = tenant.to_string();
        let rows: Vec<(String, f64)> = self
            .db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT name, value FROM daily_stats WHERE tenant = ?1 AND day = ?2",
                )?;
                let rows =
                    stmt.query_map(params![tenant, TOTAL], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        Ok(Tally(rows.into_iter().collect()))
    }

    async fn stats(
        &self,
        tenant: &TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Tally)>, PortError> {
        let (tenant, from, to) = (tenant.to_string(), from.to_string(), to.to_string());
        let rows: Vec<(String, String, f64)> = self
            .db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT day, name, value FROM daily_stats
                     WHERE tenant = ?1 AND day >= ?2 AND day <= ?3 ORDER BY day",
                )?;
                let rows = stmt.query_map(params![tenant, from, to], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        let mut days: Vec<(NaiveDate, Tally)> = Vec::new();
        for (day, name, value) in rows {
            let day = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                .map_err(|e| DbError::Corrupt(format!("stats day {day:?}: {e}")))?;
            if days.last().is_none_or(|(d, _)| *d != day) {
                days.push((day, Tally::default()));
            }
            if let Some((_, tally)) = days.last_mut() {
                tally.0.insert(name, value);
            }
        }
        Ok(days)
    }
}
