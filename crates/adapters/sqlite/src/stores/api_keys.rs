//! [`ApiKeyStore`] on SQLite: tenants' API keys, by the digest of their secret.

use async_trait::async_trait;
use atiende_domain::{TenantId, access::Role};
use atiende_ports::{ApiKey, ApiKeyStore, PortError};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::SqliteStores;
use crate::db::{Cached, DbError, from_millis, millis};

type Row = (String, String, String, String, i64, Option<i64>);

const COLUMNS: &str = "tenant, id, name, role, created_at, last_used_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn key((tenant, id, name, role, created_at, last_used_at): Row) -> Result<ApiKey, DbError> {
    Ok(ApiKey {
        tenant: TenantId::parse(tenant).map_err(|e| DbError::Corrupt(e.to_string()))?,
        role: Role::parse(&role).ok_or_else(|| DbError::Corrupt(format!("key role {role:?}")))?,
        id,
        name,
        created_at: from_millis(created_at),
        last_used_at: last_used_at.map(from_millis),
    })
}

#[async_trait]
impl ApiKeyStore for SqliteStores {
    async fn add(&self, key: &ApiKey, digest: &str) -> Result<(), PortError> {
        let key = key.clone();
        let digest = digest.to_owned();
        self.db
            .write(move |c| {
                let inserted = c.exec(
                    "INSERT INTO api_keys (tenant, id, name, role, created_at, digest)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                    params![
                        key.tenant.as_str(),
                        key.id,
                        key.name,
                        key.role.as_str(),
                        millis(key.created_at),
                        digest
                    ],
                )?;
                if inserted == 0 {
                    return Err(DbError::Conflict(format!("key {} already exists", key.id)));
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn find_by_digest(&self, digest: &str) -> Result<Option<ApiKey>, PortError> {
        let digest = digest.to_owned();
        let found = self
            .db
            .read(move |c| {
                Ok(c.row(
                    &format!("SELECT {COLUMNS} FROM api_keys WHERE digest = ?1"),
                    [digest],
                    row,
                )
                .optional()?)
            })
            .await?;
        Ok(found.map(key).transpose()?)
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, PortError> {
        let tenant = tenant.to_string();
        let rows: Vec<Row> = self
            .db
            .read(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM api_keys WHERE tenant = ?1 ORDER BY created_at, id"
                ))?;
                let rows = stmt.query_map([tenant], row)?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        Ok(rows.into_iter().map(key).collect::<Result<_, _>>()?)
    }

    async fn revoke(&self, tenant: &TenantId, id: &str) -> Result<bool, PortError> {
        let (tenant, id) = (tenant.to_string(), id.to_owned());
        let removed = self
            .db
            .write(move |c| {
                Ok(c.exec(
                    "DELETE FROM api_keys WHERE tenant = ?1 AND id = ?2",
                    params![tenant, id],
                )?)
            })
            .await?;
        Ok(removed > 0)
    }

    async fn touch(&self, tenant: &TenantId, id: &str, at: DateTime<Utc>) -> Result<(), PortError> {
        let (tenant, id) = (tenant.to_string(), id.to_owned());
        self.db
            .write(move |c| {
                c.exec(
                    "UPDATE api_keys SET last_used_at = ?3 WHERE tenant = ?1 AND id = ?2",
                    params![tenant, id, millis(at)],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }
}
