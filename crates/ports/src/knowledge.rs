//! A tenant's knowledge: the documents it uploaded and a keyword index over their passages.

use async_trait::async_trait;
use atiende_domain::{TenantId, knowledge::Passage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::PortError;

/// A document a tenant uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnowledgeDocument {
    /// Its id within the tenant.
    pub id: String,
    /// A title for listings.
    pub title: String,
    /// `text` or `catalog`.
    pub kind: String,
    /// SHA-256 of the content: re-uploading the same content changes nothing.
    pub content_hash: String,
    /// How many passages it was cut into.
    pub passages: usize,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// Where documents and their passages are kept (the source of truth; indexes are derived).
#[async_trait]
pub trait KnowledgeStore: Send + Sync {
    /// Stores `document` with its `passages`, replacing any earlier version of it atomically.
    async fn put_document(
        &self,
        tenant: &TenantId,
        document: &KnowledgeDocument,
        passages: &[Passage],
    ) -> Result<(), PortError>;
    /// A tenant's documents.
    async fn list_documents(&self, tenant: &TenantId) -> Result<Vec<KnowledgeDocument>, PortError>;
    /// Deletes a document and its passages; `false` if it did not exist.
    async fn delete_document(&self, tenant: &TenantId, document: &str) -> Result<bool, PortError>;
    /// Every passage of a tenant.
    async fn passages(&self, tenant: &TenantId) -> Result<Vec<Passage>, PortError>;
    /// A number that changes whenever the tenant's documents change, so derived indexes (in this
    /// process or another) know when to rebuild.
    async fn revision(&self, tenant: &TenantId) -> Result<u64, PortError>;
}

/// A passage found by a keyword search, with what the ranking knew.
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordHit {
    /// The passage.
    pub passage: Passage,
    /// The index's relevance score (BM25; comparable within one query only).
    pub score: f32,
    /// The share of the query's informative weight (IDF-weighted terms) the passage contains,
    /// 0–1: how much of the question the passage speaks to, comparable across queries.
    pub coverage: f32,
}

/// A keyword (BM25) index with statistics kept per tenant: one tenant's documents never change
/// another tenant's scores.
#[async_trait]
pub trait KeywordIndex: Send + Sync {
    /// Replaces everything indexed for `tenant` with `passages`, taken at store `revision`.
    async fn index_tenant(
        &self,
        tenant: &TenantId,
        revision: u64,
        passages: Vec<Passage>,
    ) -> Result<(), PortError>;
    /// The store revision the tenant's index was built from, if it was built.
    async fn indexed_revision(&self, tenant: &TenantId) -> Result<Option<u64>, PortError>;
    /// Searches a tenant's passages; `None` when nothing was ever indexed for the tenant.
    async fn search(
        &self,
        tenant: &TenantId,
        query: &str,
        limit: usize,
    ) -> Result<Option<Vec<KeywordHit>>, PortError>;
    /// Drops a tenant's index.
    async fn forget_tenant(&self, tenant: &TenantId) -> Result<(), PortError>;
}
