//! A keyword (BM25) index over tenants' knowledge, on tantivy.
//!
//! Each tenant gets its **own** in-memory index, so BM25's document frequencies — and therefore
//! every score — depend on that tenant's documents only: one tenant's vocabulary never skews
//! another's ranking (a test proves it). Indexes are derived data, rebuilt from the knowledge
//! store whenever its revision changes; a small business's knowledge indexes in milliseconds.
//!
//! The analyzer ([`atiende_analysis`], shared with the Qdrant adapter) is tuned for customer
//! messages in Spanish (and English): stop words, accent folding, question scaffolding, the Spanish
//! Snowball stemmer and synonym groups.
//!
//! Besides the BM25 score every hit carries its **coverage**: the IDF-weighted share of the
//! question's terms the passage contains. BM25 scores are only comparable within one query;
//! coverage is comparable across queries, which is what the responder needs to decide between
//! quoting a passage and saying "I don't know". A query term the tenant's documents never use
//! weighs as much as the rarest known term, so "¿tienen jacuzzi rojo?" does not match the red
//! waterproofing paint on the strength of "rojo" alone.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
pub use atiende_analysis::{analyzer, query_groups, terms};
use atiende_analysis::{analyzer_for, coverage, group_weights, indexed_text, language_of};
use atiende_domain::{TenantId, knowledge::Passage};
use atiende_ports::{KeywordHit, KeywordIndex, PortError};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::{Index, IndexReader, TantivyDocument, Term, doc};

/// The name the analyzer is registered under in each index.
const ANALYZER: &str = "atiende";
/// Writer memory for one tenant's build (tantivy's minimum per thread is 15 MB).
const WRITER_MEMORY: usize = 20_000_000;

struct TenantIndex {
    revision: u64,
    /// The knowledge's language: its analyzer indexed the passages and analyzes the queries.
    language: Option<atiende_domain::Locale>,
    reader: IndexReader,
    text: Field,
    position: Field,
    passages: Vec<Passage>,
    /// Each passage's analyzed terms, for coverage.
    terms: Vec<HashSet<String>>,
}

/// The tantivy keyword index: one in-memory index per tenant.
#[derive(Default)]
pub struct TantivyIndex {
    tenants: RwLock<HashMap<TenantId, Arc<TenantIndex>>>,
}

impl TantivyIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    fn tenant(&self, tenant: &TenantId) -> Option<Arc<TenantIndex>> {
        self.tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .cloned()
    }
}

fn build(revision: u64, passages: Vec<Passage>) -> tantivy::Result<TenantIndex> {
    let mut schema = Schema::builder();
    let text = schema.add_text_field(
        "text",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        ),
    );
    let position = schema.add_u64_field("position", NumericOptions::default().set_stored());
    let index = Index::create_in_ram(schema.build());
    let language = language_of(&passages);
    index
        .tokenizers()
        .register(ANALYZER, analyzer_for(language));
    let mut analyzer = analyzer_for(language);
    let mut writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
    let mut passage_terms = Vec::with_capacity(passages.len());
    for (i, passage) in passages.iter().enumerate() {
        let body = indexed_text(passage);
        passage_terms.push(terms(&mut analyzer, &body).into_iter().collect());
        writer.add_document(doc!(text => body, position => i as u64))?;
    }
    writer.commit()?;
    let reader = index.reader()?;
    Ok(TenantIndex {
        revision,
        language,
        reader,
        text,
        position,
        passages,
        terms: passage_terms,
    })
}

fn search(index: &TenantIndex, query: &str, limit: usize) -> tantivy::Result<Vec<KeywordHit>> {
    let mut analyzer = analyzer_for(index.language);
    let groups = query_groups(&mut analyzer, query);
    if groups.is_empty() || index.passages.is_empty() {
        return Ok(Vec::new());
    }
    let searcher = index.reader.searcher();
    let n = searcher.num_docs() as f64;
    let mut frequencies = Vec::new();
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for t in groups.iter().flatten() {
        let term = Term::from_field_text(index.text, t);
        frequencies.push(searcher.doc_freq(&term)? as f64);
        clauses.push((
            Occur::Should,
            Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
        ));
    }
    let weights = group_weights(&groups, n, &frequencies);
    let top = searcher.search(
        &BooleanQuery::new(clauses),
        &TopDocs::with_limit(limit.max(1)).order_by_score(),
    )?;
    let mut hits = Vec::with_capacity(top.len());
    for (score, address) in top {
        let stored: TantivyDocument = searcher.doc(address)?;
        let Some(i) = stored
            .get_first(index.position)
            .and_then(|v| v.as_u64())
            .and_then(|i| usize::try_from(i).ok())
        else {
            continue;
        };
        let (Some(passage), Some(passage_terms)) = (index.passages.get(i), index.terms.get(i))
        else {
            continue;
        };
        hits.push(KeywordHit {
            passage: passage.clone(),
            score,
            coverage: coverage(&groups, &weights, passage_terms),
        });
    }
    // Coverage first (how much of the question is answered), BM25 to break ties.
    hits.sort_by(|a, b| {
        b.coverage
            .total_cmp(&a.coverage)
            .then(b.score.total_cmp(&a.score))
    });
    Ok(hits)
}

fn to_port_error(e: tantivy::TantivyError) -> PortError {
    PortError::permanent_from("keyword index failure", e)
}

#[async_trait]
impl KeywordIndex for TantivyIndex {
    async fn index_tenant(
        &self,
        tenant: &TenantId,
        revision: u64,
        passages: Vec<Passage>,
    ) -> Result<(), PortError> {
        let built = tokio::task::spawn_blocking(move || build(revision, passages))
            .await
            .map_err(|e| PortError::permanent_from("index build task failed", e))?
            .map_err(to_port_error)?;
        self.tenants
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant.clone(), Arc::new(built));
        Ok(())
    }

    async fn indexed_revision(&self, tenant: &TenantId) -> Result<Option<u64>, PortError> {
        Ok(self.tenant(tenant).map(|t| t.revision))
    }

    async fn indexed_language(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<atiende_domain::Locale>, PortError> {
        Ok(self.tenant(tenant).and_then(|t| t.language))
    }

    async fn search(
        &self,
        tenant: &TenantId,
        query: &str,
        limit: usize,
    ) -> Result<Option<Vec<KeywordHit>>, PortError> {
        let Some(index) = self.tenant(tenant) else {
            return Ok(None);
        };
        search(&index, query, limit)
            .map(Some)
            .map_err(to_port_error)
    }

    async fn forget_tenant(&self, tenant: &TenantId) -> Result<(), PortError> {
        self.tenants
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(tenant);
        Ok(())
    }
}
