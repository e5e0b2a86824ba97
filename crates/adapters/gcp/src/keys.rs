//! Tenants' API keys on Firestore ([`ApiKeyStore`]).
//!
//! A key is created by one admin instance and used at any other, so it lives in the shared
//! store. Layout, as for the console's agents:
//!
//! * `tenants/{tenant}/api_keys/{id}`: the key's record and the digest of its secret;
//! * `api_key_digests/{digest}`: which tenant and key a digest belongs to, so signing in is one
//!   read by digest. Written after the record and deleted before it; a sign-in checks the record
//!   too, so a digest document left behind by a revocation cut short opens nothing.

use async_trait::async_trait;
use atiende_domain::{TenantId, access::Role};
use atiende_ports::{ApiKey, ApiKeyStore, PortError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{FirestoreStores, classify, doc_id};

/// A tenant's keys (sub-collection).
pub(crate) const API_KEYS: &str = "api_keys";
/// Digests to keys (top level).
pub(crate) const API_KEY_DIGESTS: &str = "api_key_digests";

#[derive(Serialize, Deserialize)]
struct KeyDoc {
    id: String,
    name: String,
    role: String,
    created_at: i64,
    last_used_at: Option<i64>,
    digest: String,
}

#[derive(Serialize, Deserialize)]
struct DigestDoc {
    tenant: String,
    id: String,
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn key(tenant: &str, doc: KeyDoc) -> Result<ApiKey, PortError> {
    let corrupt = |what: String| PortError::permanent(format!("corrupt API key document: {what}"));
    Ok(ApiKey {
        tenant: TenantId::parse(tenant).map_err(|e| corrupt(e.to_string()))?,
        role: Role::parse(&doc.role).ok_or_else(|| corrupt(format!("role {:?}", doc.role)))?,
        id: doc.id,
        name: doc.name,
        created_at: at(doc.created_at),
        last_used_at: doc.last_used_at.map(at),
    })
}

impl FirestoreStores {
    async fn key_doc(&self, tenant: &str, id: &str) -> Result<Option<KeyDoc>, PortError> {
        let parent = self.tenant_parent(tenant)?;
        self.db()
            .fluent()
            .select()
            .by_id_in(API_KEYS)
            .parent(&parent)
            .obj()
            .one(doc_id(id))
            .await
            .map_err(classify)
    }

    async fn key_docs(&self, tenant: &TenantId) -> Result<Vec<KeyDoc>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        self.db()
            .fluent()
            .select()
            .from(API_KEYS)
            .parent(&parent)
            .obj()
            .query()
            .await
            .map_err(classify)
    }

    async fn delete_digest(&self, digest: &str) -> Result<(), PortError> {
        self.db()
            .fluent()
            .delete()
            .from(API_KEY_DIGESTS)
            .document_id(doc_id(digest))
            .execute()
            .await
            .map_err(classify)
    }

    /// Deletes the digest documents of a tenant's keys (part of deleting the tenant).
    pub(crate) async fn delete_api_key_digests(&self, tenant: &TenantId) -> Result<(), PortError> {
        for doc in self.key_docs(tenant).await? {
            self.delete_digest(&doc.digest).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ApiKeyStore for FirestoreStores {
    async fn add(&self, key: &ApiKey, digest: &str) -> Result<(), PortError> {
        let parent = self.tenant_parent(key.tenant.as_ref())?;
        let doc = KeyDoc {
            id: key.id.clone(),
            name: key.name.clone(),
            role: key.role.as_str().to_owned(),
            created_at: key.created_at.timestamp_millis(),
            last_used_at: key.last_used_at.map(|t| t.timestamp_millis()),
            digest: digest.to_owned(),
        };
        self.db()
            .fluent()
            .insert()
            .into(API_KEYS)
            .document_id(doc_id(&key.id))
            .parent(&parent)
            .object(&doc)
            .execute::<()>()
            .await
            .map_err(|e| match classify(e) {
                PortError::Conflict(_) => {
                    PortError::Conflict(format!("key {} already exists", key.id))
                }
                other @ (PortError::NotFound(_)
                | PortError::Transient { .. }
                | PortError::Permanent { .. }) => other,
            })?;
        let pointer = DigestDoc {
            tenant: key.tenant.to_string(),
            id: key.id.clone(),
        };
        self.db()
            .fluent()
            .update()
            .in_col(API_KEY_DIGESTS)
            .document_id(doc_id(digest))
            .object(&pointer)
            .execute::<()>()
            .await
            .map_err(classify)
    }

    async fn find_by_digest(&self, digest: &str) -> Result<Option<ApiKey>, PortError> {
        let pointer: Option<DigestDoc> = self
            .db()
            .fluent()
            .select()
            .by_id_in(API_KEY_DIGESTS)
            .obj()
            .one(doc_id(digest))
            .await
            .map_err(classify)?;
        let Some(pointer) = pointer else {
            return Ok(None);
        };
        match self.key_doc(&pointer.tenant, &pointer.id).await? {
            Some(doc) if doc.digest == digest => key(&pointer.tenant, doc).map(Some),
            Some(_) | None => Ok(None),
        }
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, PortError> {
        let mut keys = self
            .key_docs(tenant)
            .await?
            .into_iter()
            .map(|d| key(tenant.as_ref(), d))
            .collect::<Result<Vec<_>, _>>()?;
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn revoke(&self, tenant: &TenantId, id: &str) -> Result<bool, PortError> {
        let Some(doc) = self.key_doc(tenant.as_ref(), id).await? else {
            return Ok(false);
        };
        self.delete_digest(&doc.digest).await?;
        let parent = self.tenant_parent(tenant.as_ref())?;
        self.db()
            .fluent()
            .delete()
            .from(API_KEYS)
            .parent(&parent)
            .document_id(doc_id(id))
            .execute()
            .await
            .map_err(classify)?;
        Ok(true)
    }

    async fn touch(&self, tenant: &TenantId, id: &str, at: DateTime<Utc>) -> Result<(), PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let Some(mut doc) = self.key_doc(tenant.as_ref(), id).await? else {
            return Ok(());
        };
        doc.last_used_at = Some(at.timestamp_millis());
        // Only the one field: a concurrent revocation is not undone by a late write-back.
        self.db()
            .fluent()
            .update()
            .fields(firestore::paths!(KeyDoc::{last_used_at}))
            .in_col(API_KEYS)
            .precondition(firestore::FirestoreWritePrecondition::Exists(true))
            .document_id(doc_id(id))
            .parent(&parent)
            .object(&doc)
            .execute::<()>()
            .await
            .map_err(classify)
            .or_else(|e| match e {
                // Revoked meanwhile.
                PortError::NotFound(_) | PortError::Conflict(_) => Ok(()),
                other @ (PortError::Transient { .. } | PortError::Permanent { .. }) => Err(other),
            })
    }
}
