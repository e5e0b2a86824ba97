//! A tenant's knowledge: ingesting documents and catalogs, and searching them.
//!
//! The store keeps documents and passages (the source of truth); the indexes are derived from it
//! and rebuilt when the store's revision for the tenant changes — including when another process
//! (the admin service) changed it.
//!
//! Search is **hybrid** when an embedding model is configured: keyword (BM25) candidates and dense
//! (embedding) candidates, fused by Reciprocal Rank Fusion ([`atiende_domain::retrieval`]). Each
//! result keeps what every retriever said about it, for the admin's debug view and the decision
//! trace. Without a model, or when it fails, search is keyword-only: slower to find paraphrases,
//! never silent.

use std::collections::HashMap;
use std::sync::Arc;

use atiende_domain::{
    Locale, TenantId, ValidationError,
    knowledge::Passage,
    language,
    retrieval::{DenseCalibration, rrf},
};
use atiende_ports::{
    Clock, EmbedRole, Embedder, EmbeddingCache, KeywordIndex, KnowledgeDocument, KnowledgeStore,
    VectorIndex,
};
use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::AppError;

pub mod formats;
pub mod jobs;

pub use formats::{DocumentKind, parse_catalog};
pub use jobs::{IngestProgress, IngestionJobs};

/// The largest document text accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 2 * 1024 * 1024;
/// The most passages one tenant may have.
pub const MAX_PASSAGES_PER_TENANT: usize = 50_000;
/// The most documents one tenant may have.
pub const MAX_DOCUMENTS_PER_TENANT: usize = 2_000;

/// A document to ingest.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DocumentInput {
    /// Plain text or Markdown given as a bare string (the seeds' `{"documents": ["…"]}`).
    Bare(String),
    /// A document with metadata.
    Full {
        /// Its id; derived from the content when absent.
        id: Option<String>,
        /// A title for listings.
        title: Option<String>,
        /// `text` (default; Markdown welcome), `faq` (CSV or JSON of questions and answers) or
        /// `catalog` (CSV of products).
        kind: Option<String>,
        /// The content.
        content: String,
    },
}

/// What happened to one ingested document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IngestedDocument {
    /// The document's id.
    pub id: String,
    /// How many passages it has.
    pub passages: usize,
    /// `true` when identical content was already stored (nothing changed).
    pub unchanged: bool,
}

/// How many candidates each retriever contributes before fusion.
pub const CANDIDATES: usize = 20;

/// Which retrievers a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// Keyword and dense, fused (keyword only when no model is configured).
    #[default]
    Hybrid,
    /// BM25 only.
    Keyword,
    /// Embeddings only (nothing when no model is configured).
    Dense,
}

/// The dense half of hybrid retrieval: a model, its index, and the cache of passage vectors.
pub struct DenseRetrieval {
    /// The embedding model.
    pub embedder: Arc<dyn Embedder>,
    /// The vector index.
    pub index: Arc<dyn VectorIndex>,
    /// Passage vectors kept between builds.
    pub cache: Arc<dyn EmbeddingCache>,
    /// How similarities become relevance.
    pub calibration: DenseCalibration,
}

/// A passage found by search, with what each retriever said about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Retrieved {
    /// The passage.
    pub passage: Passage,
    /// Its 1-based rank among the keyword candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword_rank: Option<usize>,
    /// Its BM25 score (comparable within one query only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bm25: Option<f32>,
    /// The share of the question's informative words it contains (0 when keyword search did not
    /// find it).
    pub coverage: f32,
    /// Its 1-based rank among the dense candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense_rank: Option<usize>,
    /// Cosine similarity to the question.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// Its Reciprocal Rank Fusion score: the order of results.
    pub fused: f32,
    /// 0–1, comparable across questions: its coverage, raised by its similarity
    /// ([`DenseCalibration`]); at 0.5 and above the passage answers the question.
    pub relevance: f32,
}

/// Whether a question asked in `asked_in` crosses languages to reach knowledge written in
/// `written_in` (an English question to a Spanish tenant): then keyword coverage says little,
/// and similarity decides ([`DenseCalibration::relevance_across`]).
pub fn crosses_languages(asked_in: Option<Locale>, written_in: Option<Locale>) -> bool {
    matches!((asked_in, written_in), (Some(q), Some(k)) if q != k)
}

/// Ingests and searches tenants' knowledge.
pub struct KnowledgeService {
    store: Arc<dyn KnowledgeStore>,
    index: Arc<dyn KeywordIndex>,
    dense: Option<DenseRetrieval>,
    clock: Arc<dyn Clock>,
    /// Each tenant's knowledge language, as of the last index build (or first search).
    languages: std::sync::RwLock<HashMap<TenantId, Option<Locale>>>,
}

impl KnowledgeService {
    /// Builds a keyword-only service; [`Self::with_dense`] makes it hybrid.
    pub fn new(
        store: Arc<dyn KnowledgeStore>,
        index: Arc<dyn KeywordIndex>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            index,
            dense: None,
            clock,
            languages: std::sync::RwLock::default(),
        }
    }

    /// The language the tenant's knowledge is written in, when one dominates: read from the
    /// passages at each index build, or from the index another process built (a tenant that
    /// writes in two languages has none).
    pub async fn knowledge_language(&self, tenant: &TenantId) -> Result<Option<Locale>, AppError> {
        if let Some(known) = self
            .languages
            .read()
            .ok()
            .and_then(|m| m.get(tenant).copied())
        {
            return Ok(known);
        }
        // Another process built the index: it recorded the language. Only an index that does not
        // (or none at all) costs a read of the passages, once.
        let language = match self.index.indexed_language(tenant).await? {
            Some(language) => Some(language),
            None => language::of_knowledge(&self.store.passages(tenant).await?),
        };
        self.remember_language(tenant, language);
        Ok(language)
    }

    fn remember_language(&self, tenant: &TenantId, language: Option<Locale>) {
        if let Ok(mut known) = self.languages.write() {
            known.insert(tenant.clone(), language);
        }
    }

    /// Adds dense retrieval: search becomes hybrid.
    pub fn with_dense(mut self, dense: DenseRetrieval) -> Self {
        self.dense = Some(dense);
        self
    }

    /// The embedding model, when search is hybrid.
    pub fn embedding_model(&self) -> Option<&str> {
        self.dense.as_ref().map(|d| d.embedder.model())
    }

    /// Ingests documents for `tenant`. Re-ingesting the same content is a no-op; changed content
    /// replaces the document's old passages.
    pub async fn ingest(
        &self,
        tenant: &TenantId,
        documents: Vec<DocumentInput>,
    ) -> Result<Vec<IngestedDocument>, AppError> {
        self.ingest_with_progress(tenant, documents, &IngestProgress::default())
            .await
    }

    /// [`Self::ingest`], counting its work in `progress` as it goes (for ingestion jobs).
    ///
    /// Every document is validated and cut before anything is stored, so a bad file in a batch
    /// changes nothing. New passages are embedded into the cache *before* their documents are
    /// stored: when the store's revision changes, every process rebuilding its index finds the
    /// vectors ready instead of embedding them again while a customer waits.
    pub async fn ingest_with_progress(
        &self,
        tenant: &TenantId,
        documents: Vec<DocumentInput>,
        progress: &IngestProgress,
    ) -> Result<Vec<IngestedDocument>, AppError> {
        if documents.is_empty() {
            return Err(
                ValidationError::new("documents", "at least one document is required").into(),
            );
        }
        let existing = self.store.list_documents(tenant).await?;
        let mut prepared = Vec::with_capacity(documents.len());
        for input in documents {
            prepared.push(prepare(input, &existing)?);
        }
        check_limits(&existing, &prepared)?;
        progress.start(
            prepared.len(),
            prepared.iter().map(|p| p.passages.len()).sum(),
        );
        if let Some(dense) = &self.dense {
            let passages: Vec<Passage> = prepared
                .iter()
                .flat_map(|p| p.passages.iter().cloned())
                .collect();
            // A model that fails now is not fatal: the documents are stored, searched by
            // keywords, and embedded again on the next index build.
            if let Err(e) = self
                .passage_vectors(dense, tenant, &passages, Some(progress))
                .await
            {
                warn!(error = %e, tenant = %tenant, "Could not embed the new passages; they are searchable by keywords.");
            }
        }
        let mut results = Vec::with_capacity(prepared.len());
        for document in prepared {
            if !document.unchanged {
                let stored = KnowledgeDocument {
                    id: document.id.clone(),
                    title: document.title,
                    kind: document.kind.as_str().to_owned(),
                    content_hash: document.hash,
                    passages: document.passages.len(),
                    created_at: self.clock.now(),
                };
                self.store
                    .put_document(tenant, &stored, &document.passages)
                    .await?;
            }
            progress.document_done();
            results.push(IngestedDocument {
                id: document.id,
                passages: document.count,
                unchanged: document.unchanged,
            });
        }
        self.refresh_index(tenant).await?;
        if results.iter().any(|r| !r.unchanged) {
            self.prune_cache(tenant).await;
        }
        Ok(results)
    }

    /// A tenant's documents.
    pub async fn documents(&self, tenant: &TenantId) -> Result<Vec<KnowledgeDocument>, AppError> {
        Ok(self.store.list_documents(tenant).await?)
    }

    /// Deletes a document.
    pub async fn delete(&self, tenant: &TenantId, document: &str) -> Result<(), AppError> {
        if !self.store.delete_document(tenant, document).await? {
            return Err(AppError::NotFound(format!("document {document}")));
        }
        self.refresh_index(tenant).await?;
        self.prune_cache(tenant).await;
        Ok(())
    }

    /// Drops cached vectors of passages the tenant no longer has (deleted or changed documents).
    /// Best effort: a failure leaves unused vectors behind, never a wrong answer. A vector an
    /// upload in flight cached a moment ago may go too; its index build embeds it again.
    async fn prune_cache(&self, tenant: &TenantId) {
        let Some(dense) = &self.dense else {
            return;
        };
        let result = async {
            let keys: Vec<String> = self
                .store
                .passages(tenant)
                .await?
                .iter()
                .map(|p| cache_key(&p.searchable_text()))
                .collect();
            dense
                .cache
                .retain_embeddings(tenant, dense.embedder.model(), &keys)
                .await
        }
        .await;
        match result {
            Ok(0) => {}
            Ok(pruned) => {
                tracing::info!(tenant = %tenant, pruned, "Pruned the vectors of passages gone.")
            }
            Err(e) => warn!(tenant = %tenant, error = %e, "Could not prune cached vectors."),
        }
    }

    /// Searches a tenant's knowledge (hybrid when a model is configured), rebuilding the indexes
    /// first if the store changed. Best first, at most `limit`.
    pub async fn search(
        &self,
        tenant: &TenantId,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Retrieved>, AppError> {
        self.search_with(tenant, query, limit, SearchMode::Hybrid)
            .await
    }

    /// Searches with the chosen retrievers.
    pub async fn search_with(
        &self,
        tenant: &TenantId,
        query: &str,
        limit: usize,
        mode: SearchMode,
    ) -> Result<Vec<Retrieved>, AppError> {
        self.ensure_fresh(tenant).await?;
        let vector = match mode {
            SearchMode::Keyword => None,
            SearchMode::Hybrid | SearchMode::Dense => self.embed_query(query).await,
        };
        self.search_fresh(tenant, query, vector.as_deref(), limit, mode)
            .await
    }

    /// Embeds a question for dense search; `None` without a model or when the model fails (the
    /// search then falls back to keywords).
    pub async fn embed_query(&self, query: &str) -> Option<Vec<f32>> {
        let dense = self.dense.as_ref()?;
        match dense
            .embedder
            .embed(EmbedRole::Query, vec![query.to_owned()])
            .await
        {
            Ok(mut vectors) => vectors.pop(),
            Err(e) => {
                warn!(error = %e, "Could not embed a question; searching by keywords only.");
                None
            }
        }
    }

    /// Rebuilds the tenant's indexes if the store changed since they were built.
    pub async fn ensure_fresh(&self, tenant: &TenantId) -> Result<(), AppError> {
        let revision = self.store.revision(tenant).await?;
        let keyword_fresh = self.index.indexed_revision(tenant).await? == Some(revision);
        let dense_fresh = match &self.dense {
            None => true,
            Some(d) => {
                d.index.indexed_revision(tenant).await?
                    == Some((revision, d.embedder.model().to_owned()))
            }
        };
        if !keyword_fresh || !dense_fresh {
            self.refresh_index(tenant).await?;
        }
        Ok(())
    }

    /// Searches indexes already known to be fresh, with an already embedded question (benchmarks
    /// time search and embedding separately through this).
    pub async fn search_fresh(
        &self,
        tenant: &TenantId,
        query: &str,
        vector: Option<&[f32]>,
        limit: usize,
        mode: SearchMode,
    ) -> Result<Vec<Retrieved>, AppError> {
        let depth = limit.max(CANDIDATES);
        let mut found: HashMap<String, Retrieved> = HashMap::new();
        if mode != SearchMode::Dense {
            let mut hits = self
                .index
                .search(tenant, query, depth)
                .await?
                .unwrap_or_default();
            // The keyword order every backend uses — coverage, then BM25 — with one tiebreak
            // for all: equal hits rank by passage id, so tantivy and Qdrant give fusion the same
            // ranks.
            hits.sort_by(|a, b| {
                b.coverage
                    .total_cmp(&a.coverage)
                    .then(b.score.total_cmp(&a.score))
                    .then_with(|| a.passage.id.cmp(&b.passage.id))
            });
            for (i, hit) in hits.into_iter().enumerate() {
                found.insert(
                    hit.passage.id.clone(),
                    Retrieved {
                        passage: hit.passage,
                        keyword_rank: Some(i + 1),
                        bm25: Some(hit.score),
                        coverage: hit.coverage,
                        dense_rank: None,
                        similarity: None,
                        fused: 0.0,
                        relevance: hit.coverage,
                    },
                );
            }
        }
        let crosses = if self.dense.is_some() && mode != SearchMode::Keyword {
            crosses_languages(
                language::detect(query),
                self.knowledge_language(tenant).await?,
            )
        } else {
            false
        };
        if let (Some(dense), Some(vector), false) =
            (&self.dense, vector, mode == SearchMode::Keyword)
        {
            let mut hits = dense
                .index
                .search(tenant, vector, depth)
                .await?
                .unwrap_or_default();
            hits.sort_by(|a, b| {
                b.similarity
                    .total_cmp(&a.similarity)
                    .then_with(|| a.passage.id.cmp(&b.passage.id))
            });
            for (i, hit) in hits.into_iter().enumerate() {
                let entry = found
                    .entry(hit.passage.id.clone())
                    .or_insert_with(|| Retrieved {
                        passage: hit.passage,
                        keyword_rank: None,
                        bm25: None,
                        coverage: 0.0,
                        dense_rank: None,
                        similarity: None,
                        fused: 0.0,
                        relevance: 0.0,
                    });
                entry.dense_rank = Some(i + 1);
                entry.similarity = Some(hit.similarity);
                entry.relevance = if crosses {
                    dense
                        .calibration
                        .relevance_across(entry.coverage, entry.similarity)
                } else {
                    dense
                        .calibration
                        .relevance(entry.coverage, entry.similarity)
                };
            }
        }
        let mut results: Vec<Retrieved> = found
            .into_values()
            .map(|mut r| {
                r.fused = rrf(r.keyword_rank.into_iter().chain(r.dense_rank));
                r
            })
            .collect();
        results.sort_by(|a, b| {
            b.fused
                .total_cmp(&a.fused)
                .then(b.relevance.total_cmp(&a.relevance))
                .then_with(|| a.passage.id.cmp(&b.passage.id))
        });
        results.truncate(limit);
        Ok(results)
    }

    async fn refresh_index(&self, tenant: &TenantId) -> Result<(), AppError> {
        let revision = self.store.revision(tenant).await?;
        let passages: Vec<Passage> = self.store.passages(tenant).await?;
        self.remember_language(tenant, language::of_knowledge(&passages));
        if let Some(dense) = &self.dense {
            match self.passage_vectors(dense, tenant, &passages, None).await {
                Ok(entries) => {
                    dense
                        .index
                        .index_tenant(tenant, revision, dense.embedder.model(), entries)
                        .await?;
                }
                Err(e) => {
                    // Never answer from vectors of passages that may be gone: drop them, search
                    // by keywords, and try again on the next search.
                    warn!(error = %e, tenant = %tenant, "Could not embed the knowledge; searching by keywords only.");
                    dense.index.forget_tenant(tenant).await?;
                }
            }
        }
        self.index.index_tenant(tenant, revision, passages).await?;
        Ok(())
    }

    /// Every passage with its vector: cached ones from the cache, the rest embedded (and cached).
    async fn passage_vectors(
        &self,
        dense: &DenseRetrieval,
        tenant: &TenantId,
        passages: &[Passage],
        progress: Option<&IngestProgress>,
    ) -> Result<Vec<(Passage, Vec<f32>)>, AppError> {
        let model = dense.embedder.model();
        let texts: Vec<String> = passages.iter().map(Passage::searchable_text).collect();
        let keys: Vec<String> = texts.iter().map(|t| cache_key(t)).collect();
        let mut cached = dense.cache.get_embeddings(tenant, model, &keys).await?;
        let missing: Vec<usize> = (0..keys.len())
            .filter(|&i| !cached.contains_key(&keys[i]))
            .collect();
        if let Some(progress) = progress {
            progress.embedded(keys.len() - missing.len());
        }
        // In slices, so a large ingestion is saved as it goes and a failure keeps what was done.
        for slice in missing.chunks(64) {
            let batch: Vec<String> = slice.iter().map(|&i| texts[i].clone()).collect();
            let vectors = dense.embedder.embed(EmbedRole::Passage, batch).await?;
            let entries: Vec<(String, Vec<f32>)> = slice
                .iter()
                .map(|&i| keys[i].clone())
                .zip(vectors)
                .collect();
            dense.cache.put_embeddings(tenant, model, &entries).await?;
            cached.extend(entries);
            if let Some(progress) = progress {
                progress.embedded(slice.len());
            }
        }
        // How many vectors a build had to compute: on Cloud Run a cold processor should find
        // every one in the shared cache (admin embeds at upload time).
        info!(tenant = %tenant, model, passages = keys.len(), embedded = missing.len(), "Passage vectors ready.");
        Ok(passages
            .iter()
            .zip(&keys)
            .filter_map(|(p, k)| cached.get(k).map(|v| (p.clone(), v.clone())))
            .collect())
    }
}

/// The cache key of an embedded text: its SHA-256.
fn cache_key(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A document validated and cut, ready to store.
struct Prepared {
    id: String,
    title: String,
    kind: DocumentKind,
    hash: String,
    /// Empty when unchanged (nothing to store or embed).
    passages: Vec<Passage>,
    /// Its passage count (the stored one when unchanged).
    count: usize,
    unchanged: bool,
}

fn prepare(input: DocumentInput, existing: &[KnowledgeDocument]) -> Result<Prepared, AppError> {
    let (id, title, kind, content) = match input {
        DocumentInput::Bare(content) => (None, None, None, content),
        DocumentInput::Full {
            id,
            title,
            kind,
            content,
        } => (id, title, kind, content),
    };
    if content.trim().is_empty() {
        return Err(ValidationError::new("documents", "a document is empty").into());
    }
    if content.len() > MAX_DOCUMENT_BYTES {
        return Err(AppError::TooLarge(format!(
            "a document's text is larger than {MAX_DOCUMENT_BYTES} bytes"
        )));
    }
    let hash = hex::encode(Sha256::digest(content.as_bytes()));
    let id = match id {
        Some(id) => validate_document_id(id)?,
        None => format!("doc-{}", &hash[..12]),
    };
    let kind = DocumentKind::parse(kind.as_deref().unwrap_or("text"))?;
    let title = title.unwrap_or_else(|| first_line_title(&content));
    if let Some(old) = existing
        .iter()
        .find(|d| d.id == id && d.content_hash == hash && d.kind == kind.as_str())
    {
        return Ok(Prepared {
            id,
            title,
            kind,
            hash,
            passages: Vec::new(),
            count: old.passages,
            unchanged: true,
        });
    }
    let passages = kind.passages(&id, &content)?;
    if passages.is_empty() {
        return Err(ValidationError::new("documents", format!("{id} has no text")).into());
    }
    Ok(Prepared {
        id,
        title,
        kind,
        hash,
        count: passages.len(),
        passages,
        unchanged: false,
    })
}

/// The tenant's documents and passages after `prepared` is stored must stay within the limits.
fn check_limits(existing: &[KnowledgeDocument], prepared: &[Prepared]) -> Result<(), AppError> {
    let replaced = |d: &&KnowledgeDocument| prepared.iter().any(|p| p.id == d.id);
    let kept = existing.iter().filter(|d| !replaced(d));
    let documents = kept.clone().count() + prepared.len();
    let passages: usize =
        kept.map(|d| d.passages).sum::<usize>() + prepared.iter().map(|p| p.count).sum::<usize>();
    if documents > MAX_DOCUMENTS_PER_TENANT {
        return Err(AppError::TooLarge(format!(
            "a tenant may have at most {MAX_DOCUMENTS_PER_TENANT} documents"
        )));
    }
    if passages > MAX_PASSAGES_PER_TENANT {
        return Err(AppError::TooLarge(format!(
            "a tenant may have at most {MAX_PASSAGES_PER_TENANT} passages; this upload would make {passages}"
        )));
    }
    Ok(())
}

fn validate_document_id(id: String) -> Result<String, ValidationError> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(id)
    } else {
        Err(ValidationError::new(
            "document id",
            "use 1-100 letters, digits, '-', '_' or '.'",
        ))
    }
}

fn first_line_title(content: &str) -> String {
    let line = content
        .lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .find(|l| !l.is_empty())
        .unwrap_or("document");
    line.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_ids_are_restricted() {
        assert!(validate_document_id("productos.csv".into()).is_ok());
        assert!(validate_document_id("../etc".into()).is_err());
    }
}
