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
    TenantId, ValidationError,
    knowledge::{Passage, Product, product_passages, split_text_document},
    retrieval::{DenseCalibration, rrf},
};
use atiende_ports::{
    Clock, EmbedRole, Embedder, EmbeddingCache, KeywordIndex, KnowledgeDocument, KnowledgeStore,
    VectorIndex,
};
use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};
use tracing::warn;

use crate::AppError;

/// The largest document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 2 * 1024 * 1024;
/// The most passages one tenant may have.
pub const MAX_PASSAGES_PER_TENANT: usize = 50_000;

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
        /// `text` (default; Markdown welcome) or `catalog` (CSV of products).
        kind: Option<String>,
        /// The content.
        content: String,
    },
}

/// What happened to one ingested document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

/// Ingests and searches tenants' knowledge.
pub struct KnowledgeService {
    store: Arc<dyn KnowledgeStore>,
    index: Arc<dyn KeywordIndex>,
    dense: Option<DenseRetrieval>,
    clock: Arc<dyn Clock>,
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
        if documents.is_empty() {
            return Err(
                ValidationError::new("documents", "at least one document is required").into(),
            );
        }
        let existing = self.store.list_documents(tenant).await?;
        let mut total: usize = existing.iter().map(|d| d.passages).sum();
        let mut results = Vec::with_capacity(documents.len());
        for input in documents {
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
                return Err(ValidationError::new(
                    "documents",
                    format!("a document is larger than {MAX_DOCUMENT_BYTES} bytes"),
                )
                .into());
            }
            let hash = hex::encode(Sha256::digest(content.as_bytes()));
            let id = match id {
                Some(id) => validate_document_id(id)?,
                None => format!("doc-{}", &hash[..12]),
            };
            let kind = kind.unwrap_or_else(|| "text".to_owned());
            let passages = match kind.as_str() {
                "text" => split_text_document(&id, &content),
                "catalog" => product_passages(&id, parse_catalog(&content)?),
                _ => {
                    return Err(ValidationError::new("kind", "expected text or catalog").into());
                }
            };
            if passages.is_empty() {
                return Err(ValidationError::new("documents", "a document has no text").into());
            }
            if let Some(old) = existing.iter().find(|d| d.id == id) {
                if old.content_hash == hash {
                    results.push(IngestedDocument {
                        id,
                        passages: old.passages,
                        unchanged: true,
                    });
                    continue;
                }
                total = total.saturating_sub(old.passages);
            }
            total += passages.len();
            if total > MAX_PASSAGES_PER_TENANT {
                return Err(ValidationError::new(
                    "documents",
                    format!("a tenant may have at most {MAX_PASSAGES_PER_TENANT} passages"),
                )
                .into());
            }
            let document = KnowledgeDocument {
                title: title.unwrap_or_else(|| first_line_title(&content)),
                id: id.clone(),
                kind,
                content_hash: hash,
                passages: passages.len(),
                created_at: self.clock.now(),
            };
            self.store
                .put_document(tenant, &document, &passages)
                .await?;
            results.push(IngestedDocument {
                id,
                passages: passages.len(),
                unchanged: false,
            });
        }
        self.refresh_index(tenant).await?;
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
        Ok(())
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
            let hits = self
                .index
                .search(tenant, query, depth)
                .await?
                .unwrap_or_default();
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
        if let (Some(dense), Some(vector), false) =
            (&self.dense, vector, mode == SearchMode::Keyword)
        {
            let hits = dense
                .index
                .search(tenant, vector, depth)
                .await?
                .unwrap_or_default();
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
                entry.relevance = dense
                    .calibration
                    .relevance(entry.coverage, entry.similarity);
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
        if let Some(dense) = &self.dense {
            match self.passage_vectors(dense, tenant, &passages).await {
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
    ) -> Result<Vec<(Passage, Vec<f32>)>, AppError> {
        let model = dense.embedder.model();
        let texts: Vec<String> = passages.iter().map(Passage::searchable_text).collect();
        let keys: Vec<String> = texts
            .iter()
            .map(|t| hex::encode(Sha256::digest(t.as_bytes())))
            .collect();
        let mut cached = dense.cache.get_embeddings(tenant, model, &keys).await?;
        let missing: Vec<usize> = (0..keys.len())
            .filter(|&i| !cached.contains_key(&keys[i]))
            .collect();
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
        }
        Ok(passages
            .iter()
            .zip(&keys)
            .filter_map(|(p, k)| cached.get(k).map(|v| (p.clone(), v.clone())))
            .collect())
    }
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

/// Parses a product catalog in CSV. Headers may be Spanish or English:
/// `sku, nombre|name, categoria|category, precio|precio_dop|price[_xxx], unidad|unit,
/// existencia|stock, sucursal|branch`; a `moneda|currency` column or a `_xxx` suffix on the price
/// header gives the currency (default `DOP`).
pub fn parse_catalog(csv_text: &str) -> Result<Vec<Product>, ValidationError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(csv_text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ValidationError::new("catalog", format!("unreadable header: {e}")))?
        .clone();
    let find = |names: &[&str]| {
        headers.iter().position(|h| {
            let h = h.to_ascii_lowercase();
            names
                .iter()
                .any(|n| h == *n || h.starts_with(&format!("{n}_")))
        })
    };
    let col = |names: &[&str], what: &'static str| {
        find(names).ok_or_else(|| ValidationError::new("catalog", format!("missing column {what}")))
    };
    let sku = col(&["sku", "codigo", "code"], "sku")?;
    let name = col(&["nombre", "name", "producto", "product"], "nombre/name")?;
    let price = col(&["precio", "price"], "precio/price")?;
    let category = find(&["categoria", "category"]);
    let unit = find(&["unidad", "unit"]);
    let stock = find(&["existencia", "stock", "inventario"]);
    let branch = find(&["sucursal", "branch", "almacen"]);
    let currency_col = find(&["moneda", "currency"]);
    let header_currency = headers
        .get(price)
        .and_then(|h| h.rsplit_once('_'))
        .map(|(_, c)| c.to_ascii_uppercase())
        .filter(|c| c.len() == 3);

    let mut products = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record
            .map_err(|e| ValidationError::new("catalog", format!("row {}: {e}", line + 2)))?;
        let get = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("").to_owned();
        let price_text = get(Some(price)).replace([',', '$'], "");
        let product = Product {
            sku: get(Some(sku)),
            name: get(Some(name)),
            category: get(category),
            price: price_text.parse().map_err(|_| {
                ValidationError::new(
                    "catalog",
                    format!("row {}: price is not a number", line + 2),
                )
            })?,
            currency: currency_col
                .map(|c| get(Some(c)).to_ascii_uppercase())
                .filter(|c| !c.is_empty())
                .or_else(|| header_currency.clone())
                .unwrap_or_else(|| "DOP".to_owned()),
            unit: get(unit),
            stock: get(stock).parse().unwrap_or(0),
            branch: get(branch),
        };
        product.validate()?;
        products.push(product);
    }
    if products.is_empty() {
        return Err(ValidationError::new("catalog", "no product rows"));
    }
    Ok(products)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spanish_catalogs_parse_with_currency_from_the_header() {
        let csv = "sku,nombre,categoria,precio_dop,unidad,existencia,sucursal\n\
                   CEM-001,\"Cemento gris, funda 42.5 kg\",Construcción,495,funda,25,Centro\n";
        let products = parse_catalog(csv).unwrap();
        assert_eq!(products.len(), 1);
        assert_eq!(products[0].name, "Cemento gris, funda 42.5 kg");
        assert_eq!(products[0].currency, "DOP");
        assert_eq!(products[0].stock, 25);
    }

    #[test]
    fn catalogs_without_required_columns_or_numbers_are_rejected() {
        assert!(parse_catalog("name,price\nX,1\n").is_err());
        assert!(parse_catalog("sku,name,price\nA,X,abc\n").is_err());
        assert!(parse_catalog("sku,name,price\n").is_err());
    }

    #[test]
    fn document_ids_are_restricted() {
        assert!(validate_document_id("productos.csv".into()).is_ok());
        assert!(validate_document_id("../etc".into()).is_err());
    }
}
