//! A tenant's knowledge: the documents it uploaded, and the two indexes hybrid retrieval fuses —
//! keyword (BM25) and dense (embedding vectors) — with the embedding model that feeds the second.
//!
//! Every search takes the tenant's id: there is no way to ask an index for "all tenants", so a
//! query cannot cross tenants by accident.

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

/// The stored record of a knowledge ingestion job: any admin instance answers for any job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// The job's id.
    pub id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When the process running it last said it was alive (or when it finished).
    pub heartbeat_at: DateTime<Utc>,
    /// Whether it finished (succeeded or failed).
    pub finished: bool,
    /// What the job reports (its state, progress and results), as JSON the use case defines.
    pub data: String,
}

/// Jobs kept per tenant; older ones are forgotten when a new one is stored.
pub const JOBS_KEPT: usize = 50;

/// Ingestion jobs' records, per tenant (the most recent [`JOBS_KEPT`]).
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Creates or replaces a job's record.
    async fn put_job(&self, tenant: &TenantId, job: &JobRecord) -> Result<(), PortError>;
    /// One of the tenant's jobs.
    async fn job(&self, tenant: &TenantId, id: &str) -> Result<Option<JobRecord>, PortError>;
    /// The tenant's most recent jobs, newest first.
    async fn jobs(&self, tenant: &TenantId, limit: usize) -> Result<Vec<JobRecord>, PortError>;
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
    /// The language whose analyzer the tenant's index was built with (its knowledge's language,
    /// [`atiende_domain::language::of_knowledge`]); `None` when unknown or not built. A process
    /// that did not build the index reads it here instead of reading every passage.
    async fn indexed_language(
        &self,
        _tenant: &TenantId,
    ) -> Result<Option<atiende_domain::Locale>, PortError> {
        Ok(None)
    }
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

/// Which side of a search a text is embedded for. Retrieval models such as e5 embed questions and
/// the passages that answer them differently (`query: ` / `passage: ` prefixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedRole {
    /// A customer's question.
    Query,
    /// A passage of the tenant's knowledge.
    Passage,
}

/// A text embedding model.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Names the model (and anything that changes its vectors): vectors of different models are
    /// never compared, and switching models re-embeds.
    fn model(&self) -> &str;
    /// The length of its vectors.
    fn dimensions(&self) -> usize;
    /// Embeds `texts`, one L2-normalized vector each, in order.
    async fn embed(&self, role: EmbedRole, texts: Vec<String>) -> Result<Vec<Vec<f32>>, PortError>;
}

/// Passage vectors kept between index builds, so a restart or another document's change does not
/// re-embed what is already embedded. Keyed by tenant, model and a hash of the embedded text.
#[async_trait]
pub trait EmbeddingCache: Send + Sync {
    /// The cached vectors among `keys`, by key.
    async fn get_embeddings(
        &self,
        tenant: &TenantId,
        model: &str,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<f32>>, PortError>;
    /// Stores vectors by key.
    async fn put_embeddings(
        &self,
        tenant: &TenantId,
        model: &str,
        entries: &[(String, Vec<f32>)],
    ) -> Result<(), PortError>;
    /// Deletes the tenant's vectors of `model` whose keys are not in `keep` (passages deleted or
    /// changed); returns how many were deleted.
    async fn retain_embeddings(
        &self,
        tenant: &TenantId,
        model: &str,
        keep: &[String],
    ) -> Result<usize, PortError>;
}

/// A passage found by a dense (vector) search.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseHit {
    /// The passage.
    pub passage: Passage,
    /// Cosine similarity between the question's and the passage's vectors (−1–1).
    pub similarity: f32,
}

/// A dense vector index, one slice per tenant.
#[async_trait]
pub trait VectorIndex: Send + Sync {
    /// Replaces everything indexed for `tenant` with `entries`, taken at store `revision` with
    /// vectors of `model`.
    async fn index_tenant(
        &self,
        tenant: &TenantId,
        revision: u64,
        model: &str,
        entries: Vec<(Passage, Vec<f32>)>,
    ) -> Result<(), PortError>;
    /// The store revision and model the tenant's index was built from, if it was built.
    async fn indexed_revision(&self, tenant: &TenantId)
    -> Result<Option<(u64, String)>, PortError>;
    /// The `limit` passages of `tenant` most similar to `vector`; `None` when nothing was ever
    /// indexed for the tenant.
    async fn search(
        &self,
        tenant: &TenantId,
        vector: &[f32],
        limit: usize,
    ) -> Result<Option<Vec<DenseHit>>, PortError>;
    /// Drops a tenant's vectors.
    async fn forget_tenant(&self, tenant: &TenantId) -> Result<(), PortError>;
}
