//! [`TenantStore`] on SQLite: one JSON document per tenant ([`tenant_doc`]).
//!
//! Secrets are written to the document (they must be: the webhooks need them), which is why the
//! database file is created readable by its owner only.

use std::sync::Arc;

use async_trait::async_trait;
use atiende_domain::{Tenant, TenantId};
use atiende_ports::{PortError, TenantStore, tenant_doc};
use rusqlite::{OptionalExtension, params};

use super::SqliteStores;
use crate::db::{Cached, DbError, millis};

fn decode(doc: &str) -> Result<Arc<Tenant>, PortError> {
    Ok(Arc::new(tenant_doc::decode(doc)?))
}

#[async_trait]
impl TenantStore for SqliteStores {
    async fn get(&self, id: &TenantId) -> Result<Option<Arc<Tenant>>, PortError> {
        let id = id.to_string();
        let doc: Option<String> = self
            .db
            .read(move |c| {
                Ok(
                    c.row("SELECT doc FROM tenants WHERE id = ?1", [id], |r| r.get(0))
                        .optional()?,
                )
            })
            .await?;
        Ok(doc.as_deref().map(decode).transpose()?)
    }

    async fn list(&self) -> Result<Vec<Arc<Tenant>>, PortError> {
        let docs: Vec<String> = self
            .db
            .read(|c| {
                let mut stmt = c.prepare("SELECT doc FROM tenants ORDER BY id")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<Result<Vec<String>, _>>()?)
            })
            .await?;
        Ok(docs.iter().map(|d| decode(d)).collect::<Result<_, _>>()?)
    }

    async fn create(&self, tenant: &Tenant) -> Result<(), PortError> {
        let doc = tenant_doc::encode(tenant)?;
        let id = tenant.id.to_string();
        let (created, updated) = (millis(tenant.created_at), millis(tenant.updated_at));
        self.db
            .write(move |c| {
                let inserted = c.exec(
                    "INSERT INTO tenants (id, doc, created_at, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO NOTHING",
                    params![id, doc, created, updated],
                )?;
                if inserted == 0 {
                    return Err(DbError::Conflict(format!("tenant {id} already exists")));
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn update(&self, tenant: &Tenant) -> Result<(), PortError> {
        let doc = tenant_doc::encode(tenant)?;
        let id = tenant.id.to_string();
        let updated = millis(tenant.updated_at);
        self.db
            .write(move |c| {
                let changed = c.exec(
                    "UPDATE tenants SET doc = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, doc, updated],
                )?;
                if changed == 0 {
                    return Err(DbError::NotFound(format!("tenant {id}")));
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn delete(&self, id: &TenantId) -> Result<bool, PortError> {
        let id = id.to_string();
        Ok(self
            .db
            .write(move |c| {
                let deleted = c.exec("DELETE FROM tenants WHERE id = ?1", [&id])?;
                // Everything the tenant owns goes with it.
                for table in [
                    "conversations",
                    "delivery_status",
                    "outbox",
                    "webchat_sessions",
                    "webchat_messages",
                    "knowledge_documents",
                    "knowledge_passages",
                    "knowledge_revisions",
                    "embeddings",
                    "accounts",
                    "llm_usage",
                    "security_audit",
                    "agents",
                    "api_keys",
                    "daily_stats",
                    "ingestion_jobs",
                    "contact_aliases",
                ] {
                    c.exec(&format!("DELETE FROM {table} WHERE tenant = ?1"), [&id])?;
                }
                // Desk links are keyed by conversation, whose id starts with the tenant's.
                c.exec(
                    "DELETE FROM desk_links WHERE substr(conversation, 1, length(?1) + 1) = ?1 || ':'",
                    [&id],
                )?;
                Ok(deleted > 0)
            })
            .await?)
    }
}
