//! [`AccountStore`] and [`UsageLedger`] on SQLite. Accounts are stored as JSON records keyed by
//! tenant and number; replacing a tenant's accounts is one transaction.

use async_trait::async_trait;
use atiende_domain::{TenantId, assistant::Account};
use atiende_ports::{AccountStore, AuditEntry, PortError, SecurityAudit, UsageLedger};
use rusqlite::{OptionalExtension, params};

use super::SqliteStores;
use crate::db::{Cached, DbError};

#[async_trait]
impl AccountStore for SqliteStores {
    async fn replace_accounts(
        &self,
        tenant: &TenantId,
        accounts: &[Account],
    ) -> Result<(), PortError> {
        let tenant = tenant.to_string();
        let encoded: Vec<(String, String)> = accounts
            .iter()
            .map(|a| Ok((a.number.clone(), serde_json::to_string(a)?)))
            .collect::<Result<_, serde_json::Error>>()
            .map_err(DbError::from)?;
        self.db
            .write(move |c| {
                c.exec("DELETE FROM accounts WHERE tenant = ?1", [&tenant])?;
                let mut insert = c.prepare_cached(
                    "INSERT OR REPLACE INTO accounts (tenant, number, record) VALUES (?1, ?2, ?3)",
                )?;
                for (number, record) in &encoded {
                    insert.execute(params![tenant, number, record])?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn account(&self, tenant: &TenantId, number: &str) -> Result<Option<Account>, PortError> {
        let (tenant, number) = (tenant.to_string(), number.to_owned());
        let record: Option<String> = self
            .db
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT record FROM accounts WHERE tenant = ?1 AND number = ?2",
                )?
                .query_row(params![tenant, number], |r| r.get(0))
                .optional()?)
            })
            .await?;
        record
            .map(|r| serde_json::from_str(&r).map_err(|e| PortError::from(DbError::from(e))))
            .transpose()
    }

    async fn count_accounts(&self, tenant: &TenantId) -> Result<u64, PortError> {
        let tenant = tenant.to_string();
        let count: i64 = self
            .db
            .read(move |c| {
                Ok(c.row(
                    "SELECT COUNT(*) FROM accounts WHERE tenant = ?1",
                    [&tenant],
                    |r| r.get(0),
                )?)
            })
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

#[async_trait]
impl UsageLedger for SqliteStores {
    async fn add_usage(
        &self,
        tenant: &TenantId,
        month: &str,
        prompt_tokens: u64,
        completion_tokens: u64,
        cost_usd: f64,
    ) -> Result<(), PortError> {
        let (tenant, month) = (tenant.to_string(), month.to_owned());
        let (p, c_tokens) = (
            i64::try_from(prompt_tokens).unwrap_or(i64::MAX),
            i64::try_from(completion_tokens).unwrap_or(i64::MAX),
        );
        self.db
            .write(move |c| {
                c.exec(
                    "INSERT INTO llm_usage (tenant, month, prompt_tokens, completion_tokens, cost_usd)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (tenant, month) DO UPDATE SET
                       prompt_tokens = prompt_tokens + excluded.prompt_tokens,
                       completion_tokens = completion_tokens + excluded.completion_tokens,
                       cost_usd = cost_usd + excluded.cost_usd",
                    params![tenant, month, p, c_tokens, cost_usd],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn usage(&self, tenant: &TenantId, month: &str) -> Result<(u64, u64, f64), PortError> {
        let (tenant, month) = (tenant.to_string(), month.to_owned());
        let row: Option<(i64, i64, f64)> = self
            .db
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT prompt_tokens, completion_tokens, cost_usd FROM llm_usage WHERE tenant = ?1 AND month = ?2",
                )?
                .query_row(params![tenant, month], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?)
            })
            .await?;
        Ok(row.map_or((0, 0, 0.0), |(p, c, cost)| {
            (
                u64::try_from(p).unwrap_or(0),
                u64::try_from(c).unwrap_or(0),
                cost,
            )
        }))
    }
}

#[async_trait]
impl SecurityAudit for SqliteStores {
    async fn append(&self, entry: &AuditEntry) -> Result<(), PortError> {
        let tenant = entry.tenant.to_string();
        let encoded = serde_json::to_string(entry).map_err(DbError::from)?;
        self.db
            .write(move |c| {
                c.exec(
                    "INSERT INTO security_audit (tenant, entry) VALUES (?1, ?2)",
                    params![tenant, encoded],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn entries(&self, tenant: &TenantId, limit: usize) -> Result<Vec<AuditEntry>, PortError> {
        let (tenant, limit) = (tenant.to_string(), i64::try_from(limit).unwrap_or(i64::MAX));
        let rows: Vec<String> = self
            .db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT entry FROM security_audit WHERE tenant = ?1 ORDER BY seq DESC LIMIT ?2",
                )?;
                let rows = stmt
                    .query_map(params![tenant, limit], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        rows.iter()
            .map(|r| serde_json::from_str(r).map_err(|e| PortError::from(DbError::from(e))))
            .collect()
    }
}
