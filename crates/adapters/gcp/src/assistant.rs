//! What the assistant reads and writes besides conversations, on Firestore: tenants' credit
//! accounts ([`AccountStore`]), their monthly model spending ([`UsageLedger`]) and the security
//! audit log ([`SecurityAudit`]).
//!
//! On Cloud Run accounts are imported by admin and read by every processor instance, the budget
//! is one for all the instances answering a tenant at once, and the audit is written by a
//! processor and read by admin. Layout under `tenants/{tenant}`:
//!
//! * `accounts/{generation}~{number}` and `accounts_meta/state` (the current generation and the
//!   count): an import writes a new generation, switches the meta document to it and deletes the
//!   old one, so a reader sees the old accounts or the new ones, never a mix — the SQLite
//!   adapter's one transaction, without Firestore's 500-write transaction limit;
//! * `usage/{month}`: counters raised with server-side increments, so N processors spending at
//!   once each add their share and none overwrites another's (no read-modify-write);
//! * `audit/{auto id}`: entries, only ever created.

use async_trait::async_trait;
use atiende_domain::{TenantId, assistant::Account};
use atiende_ports::{AccountStore, AuditEntry, PortError, SecurityAudit, UsageLedger};
use serde::{Deserialize, Serialize};

use crate::store::{FirestoreStores, MAX_BATCH, classify, doc_id, increment};

/// A tenant's accounts (sub-collection).
pub(crate) const ACCOUNTS: &str = "accounts";
/// Which generation of a tenant's accounts is current.
pub(crate) const ACCOUNTS_META: &str = "accounts_meta";
const META_ID: &str = "state";
/// A tenant's model spending per month.
pub(crate) const USAGE: &str = "usage";
/// A tenant's security audit log.
pub(crate) const AUDIT: &str = "audit";

#[derive(Serialize, Deserialize)]
struct AccountsMeta {
    generation: String,
    count: i64,
}

#[derive(Serialize, Deserialize)]
struct AccountDoc {
    generation: String,
    record: String,
}

#[derive(Serialize, Deserialize, Default)]
struct UsageDoc {
    month: String,
    #[serde(default)]
    prompt_tokens: i64,
    #[serde(default)]
    completion_tokens: i64,
    #[serde(default)]
    cost_usd: f64,
}

#[derive(Serialize, Deserialize)]
struct AuditDoc {
    /// When it was written, in microseconds: the order entries are listed in.
    written: i64,
    entry: String,
}

fn account_id(generation: &str, number: &str) -> String {
    doc_id(&format!("{generation}~{number}"))
}

impl FirestoreStores {
    async fn accounts_meta(&self, parent: &str) -> Result<Option<AccountsMeta>, PortError> {
        self.db()
            .fluent()
            .select()
            .by_id_in(ACCOUNTS_META)
            .parent(parent)
            .obj()
            .one(META_ID)
            .await
            .map_err(classify)
    }

    /// Deletes the tenant's accounts of every generation but `keep`.
    async fn delete_accounts_except(&self, parent: &str, keep: &str) -> Result<(), PortError> {
        let docs = self
            .db()
            .fluent()
            .select()
            .fields(["generation"])
            .from(ACCOUNTS)
            .parent(parent)
            .filter(|q| q.for_all([q.field("generation").neq(keep)]))
            .query()
            .await
            .map_err(classify)?;
        for chunk in docs.chunks(MAX_BATCH) {
            let mut batch = self.batch();
            for doc in chunk {
                let id = doc.name.rsplit('/').next().unwrap_or_default();
                batch
                    .delete_by_id_at(parent, ACCOUNTS, id, None)
                    .map_err(classify)?;
            }
            Self::commit(batch).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl AccountStore for FirestoreStores {
    async fn replace_accounts(
        &self,
        tenant: &TenantId,
        accounts: &[Account],
    ) -> Result<(), PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let generation = uuid::Uuid::new_v4().simple().to_string();
        let docs = accounts
            .iter()
            .map(|a| {
                Ok((
                    account_id(&generation, &a.number),
                    AccountDoc {
                        generation: generation.clone(),
                        record: serde_json::to_string(a)?,
                    },
                ))
            })
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|e| PortError::permanent_from("cannot encode an account", e))?;
        for chunk in docs.chunks(MAX_BATCH) {
            let mut batch = self.batch();
            for (id, doc) in chunk {
                batch
                    .update_object_at(&parent, ACCOUNTS, id, doc, None, None, vec![])
                    .map_err(classify)?;
            }
            Self::commit(batch).await?;
        }
        // The switch: from here readers see the new accounts.
        let meta = AccountsMeta {
            generation: generation.clone(),
            count: i64::try_from(docs.len()).unwrap_or(i64::MAX),
        };
        self.db()
            .fluent()
            .update()
            .in_col(ACCOUNTS_META)
            .document_id(META_ID)
            .parent(&parent)
            .object(&meta)
            .execute::<()>()
            .await
            .map_err(classify)?;
        self.delete_accounts_except(&parent, &generation).await
    }

    async fn account(&self, tenant: &TenantId, number: &str) -> Result<Option<Account>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let Some(meta) = self.accounts_meta(&parent).await? else {
            return Ok(None);
        };
        let doc: Option<AccountDoc> = self
            .db()
            .fluent()
            .select()
            .by_id_in(ACCOUNTS)
            .parent(&parent)
            .obj()
            .one(account_id(&meta.generation, number))
            .await
            .map_err(classify)?;
        doc.map(|d| {
            serde_json::from_str(&d.record)
                .map_err(|e| PortError::permanent(format!("corrupt account document: {e}")))
        })
        .transpose()
    }

    async fn count_accounts(&self, tenant: &TenantId) -> Result<u64, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        Ok(self
            .accounts_meta(&parent)
            .await?
            .map_or(0, |m| u64::try_from(m.count).unwrap_or(0)))
    }
}

#[async_trait]
impl UsageLedger for FirestoreStores {
    async fn add_usage(
        &self,
        tenant: &TenantId,
        month: &str,
        prompt_tokens: u64,
        completion_tokens: u64,
        cost_usd: f64,
    ) -> Result<(), PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let doc = UsageDoc {
            month: month.to_owned(),
            ..UsageDoc::default()
        };
        let mut batch = self.batch();
        // Only `month` is written from the object; the counters change by increments alone, so
        // concurrent turns add up instead of overwriting each other.
        batch
            .update_object_at(
                &parent,
                USAGE,
                doc_id(month),
                &doc,
                Some(vec!["month".to_owned()]),
                None,
                vec![
                    increment(
                        "prompt_tokens",
                        i64::try_from(prompt_tokens).unwrap_or(i64::MAX),
                    ),
                    increment(
                        "completion_tokens",
                        i64::try_from(completion_tokens).unwrap_or(i64::MAX),
                    ),
                    increment("cost_usd", cost_usd),
                ],
            )
            .map_err(classify)?;
        Self::commit(batch).await.map(|_| ())
    }

    async fn usage(&self, tenant: &TenantId, month: &str) -> Result<(u64, u64, f64), PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let doc: Option<UsageDoc> = self
            .db()
            .fluent()
            .select()
            .by_id_in(USAGE)
            .parent(&parent)
            .obj()
            .one(doc_id(month))
            .await
            .map_err(classify)?;
        Ok(doc.map_or((0, 0, 0.0), |d| {
            (
                u64::try_from(d.prompt_tokens).unwrap_or(0),
                u64::try_from(d.completion_tokens).unwrap_or(0),
                d.cost_usd,
            )
        }))
    }
}

#[async_trait]
impl SecurityAudit for FirestoreStores {
    async fn append(&self, entry: &AuditEntry) -> Result<(), PortError> {
        let parent = self.tenant_parent(entry.tenant.as_ref())?;
        let doc = AuditDoc {
            written: chrono::Utc::now().timestamp_micros(),
            entry: serde_json::to_string(entry)
                .map_err(|e| PortError::permanent_from("cannot encode an audit entry", e))?,
        };
        self.db()
            .fluent()
            .insert()
            .into(AUDIT)
            .generate_document_id()
            .parent(&parent)
            .object(&doc)
            .execute::<()>()
            .await
            .map_err(classify)
    }

    async fn entries(&self, tenant: &TenantId, limit: usize) -> Result<Vec<AuditEntry>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let limit = u32::try_from(limit.clamp(1, 1000)).unwrap_or(100);
        let docs: Vec<AuditDoc> = self
            .db()
            .fluent()
            .select()
            .from(AUDIT)
            .parent(&parent)
            .order(|o| o.fields([o.field(firestore::path!(AuditDoc::written)).desc()]))
            .limit(limit)
            .obj()
            .query()
            .await
            .map_err(classify)?;
        docs.iter()
            .map(|d| {
                serde_json::from_str(&d.entry)
                    .map_err(|e| PortError::permanent(format!("corrupt audit entry: {e}")))
            })
            .collect()
    }
}
