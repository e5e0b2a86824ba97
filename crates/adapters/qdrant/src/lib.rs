//! The knowledge indexes on a Qdrant server (`qdrant-client`, gRPC): the production twin of the
//! embedded tantivy and exact-vector indexes.
//!
//! One collection holds every tenant's points (Qdrant's recommended multitenancy: a `tenant`
//! payload index marked as the tenant key). Both halves of hybrid retrieval live in it:
//! * **keyword** points carry a sparse vector of the passage's analyzed terms — the same analyzer
//!   as the embedded index — weighted by BM25's term saturation; the collection's IDF modifier
//!   supplies the IDF, computed per query over the tenant's own points (Qdrant 1.19's IDF
//!   corpus), so scores are BM25 and per tenant;
//! * **dense** points carry the passage's embedding (cosine).
//!
//! Fusion is atiende's own Reciprocal Rank Fusion over both candidate lists, the same code for
//! both backends, so the admin's debug view shows what each retriever said and embedded and
//! server retrieval rank the same way.
//!
//! An index build writes the new revision's points, then a marker point naming the revision,
//! then deletes older revisions: searches read the marker and filter by its revision, so they
//! never see a half-built index. Requests are built in [`requests`] from a tenant [`Scope`]
//! only; errors are classified in [`errors`]. The collection is created by `atiende qdrant
//! setup` ([`QdrantKnowledge::setup`]).

pub mod errors;
pub mod requests;

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use atiende_analysis::{
    analyzer_for, coverage, group_weights, indexed_text, language_of, query_groups, tokens,
};
use atiende_domain::{Locale, TenantId, knowledge::Passage};
use atiende_ports::{DenseHit, KeywordHit, KeywordIndex, PortError, VectorIndex};
use qdrant_client::Qdrant;
use qdrant_client::qdrant::ScoredPoint;
use secrecy::{ExposeSecret, SecretString};

pub use errors::classify;
use requests::{IndexKind, Scope};

/// Points per upsert request.
const UPSERT_BATCH: usize = 256;

/// Where the Qdrant server is.
#[derive(Debug, Clone)]
pub struct QdrantSettings {
    /// gRPC URL, e.g. `http://localhost:6334`.
    pub url: String,
    /// API key, if the server wants one.
    pub api_key: Option<SecretString>,
    /// The collection.
    pub collection: String,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// The oldest Qdrant server (major, minor) atiende works with: 1.19 computes a sparse vector's
/// IDF over the points a query's filter selects.
pub const MIN_SERVER: (u64, u64) = (1, 19);

/// Whether a server reporting `version` ("1.19.0", "v1.20.1-dev") is at least [`MIN_SERVER`].
fn supported(version: &str) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= MIN_SERVER,
        _ => false,
    }
}

/// Both knowledge indexes on one Qdrant collection.
pub struct QdrantKnowledge {
    client: Qdrant,
    collection: String,
}

impl QdrantKnowledge {
    /// Connects (lazily: the first request opens the channel).
    pub fn connect(settings: &QdrantSettings) -> Result<Self, PortError> {
        let mut builder = Qdrant::from_url(&settings.url)
            .timeout(settings.timeout)
            .skip_compatibility_check();
        if let Some(key) = &settings.api_key {
            builder = builder.api_key(key.expose_secret().to_owned());
        }
        let client = builder.build().map_err(classify)?;
        Ok(Self {
            client,
            collection: settings.collection.clone(),
        })
    }

    /// Creates the collection for `dimensions`-long dense vectors, with its payload indexes (the
    /// seeds' `setup_qdrant.py`). `recreate` drops an existing collection first (switching to a
    /// model of another size); otherwise an existing collection is left as is. Returns whether
    /// it created it.
    pub async fn setup(&self, dimensions: u64, recreate: bool) -> Result<bool, PortError> {
        let exists = self
            .client
            .collection_exists(&self.collection)
            .await
            .map_err(classify)?;
        if exists && !recreate {
            return Ok(false);
        }
        if exists {
            self.client
                .delete_collection(&self.collection)
                .await
                .map_err(classify)?;
        }
        let (create, indexes) = requests::setup(&self.collection, dimensions);
        self.client
            .create_collection(create)
            .await
            .map_err(classify)?;
        for index in indexes {
            self.client
                .create_field_index(index)
                .await
                .map_err(classify)?;
        }
        Ok(true)
    }

    /// Deletes the collection and everything in it (tests clean up with it).
    pub async fn drop_collection(&self) -> Result<(), PortError> {
        self.client
            .delete_collection(&self.collection)
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Checks that the server is at least [`MIN_SERVER`]: older servers compute the sparse
    /// vectors' IDF over every point of the collection — across all tenants — instead of the
    /// tenant's own, so one tenant's vocabulary would change another's scores without any error.
    /// Returns the server's version.
    pub async fn ensure_supported(&self) -> Result<String, PortError> {
        let reply = self.client.health_check().await.map_err(classify)?;
        if supported(&reply.version) {
            Ok(reply.version)
        } else {
            Err(PortError::permanent(format!(
                "Qdrant {} is too old: atiende needs {}.{} or later (per-tenant IDF over a filtered corpus)",
                reply.version, MIN_SERVER.0, MIN_SERVER.1
            )))
        }
    }

    /// Whether the server answers.
    pub async fn ping(&self) -> Result<(), PortError> {
        self.client.health_check().await.map_err(classify)?;
        Ok(())
    }

    async fn marker(
        &self,
        tenant: &TenantId,
        index: IndexKind,
    ) -> Result<Option<(u64, Option<String>)>, PortError> {
        let response = self
            .client
            .get_points(requests::get_marker(&self.collection, tenant, index))
            .await
            .map_err(classify)?;
        Ok(response.result.first().and_then(|point| {
            let payload =
                serde_json::Value::from(qdrant_client::Payload::from(point.payload.clone()));
            let revision = payload[requests::REVISION].as_u64()?;
            let model = payload["model"].as_str().map(str::to_owned);
            Some((revision, model))
        }))
    }

    /// Replaces a tenant's points of `index` with `points`, built at `revision`.
    async fn replace(
        &self,
        tenant: &TenantId,
        index: IndexKind,
        revision: u64,
        model: Option<&str>,
        points: Vec<qdrant_client::qdrant::PointStruct>,
    ) -> Result<(), PortError> {
        let mut points = points;
        while !points.is_empty() {
            let rest = points.split_off(points.len().min(UPSERT_BATCH));
            self.client
                .upsert_points(requests::upsert(&self.collection, points))
                .await
                .map_err(classify)?;
            points = rest;
        }
        self.client
            .upsert_points(requests::upsert(
                &self.collection,
                vec![requests::marker_point(tenant, index, revision, model)],
            ))
            .await
            .map_err(classify)?;
        self.client
            .delete_points(requests::delete_others(
                &self.collection,
                tenant,
                index,
                Some(revision),
            ))
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn forget(&self, tenant: &TenantId, index: IndexKind) -> Result<(), PortError> {
        self.client
            .delete_points(requests::delete_others(
                &self.collection,
                tenant,
                index,
                None,
            ))
            .await
            .map_err(classify)?;
        self.client
            .delete_points(
                qdrant_client::qdrant::DeletePointsBuilder::new(&self.collection)
                    .points(vec![requests::marker_id(tenant, index)])
                    .wait(true),
            )
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn count(&self, scope: &Scope, term: Option<&str>) -> Result<f64, PortError> {
        let response = self
            .client
            .count(requests::count(&self.collection, scope, term))
            .await
            .map_err(classify)?;
        #[allow(clippy::cast_precision_loss)]
        Ok(response.result.map_or(0.0, |r| r.count as f64))
    }
}

/// The passage (and, for keyword points, its terms) of a found point.
fn decode(point: &ScoredPoint) -> Result<(Passage, HashSet<String>), PortError> {
    let payload = serde_json::Value::from(qdrant_client::Payload::from(point.payload.clone()));
    let passage: Passage = serde_json::from_value(payload[requests::PASSAGE].clone())
        .map_err(|e| PortError::permanent_from("a Qdrant point without a passage", e))?;
    let terms = payload[requests::TERMS]
        .as_array()
        .map(|terms| {
            terms
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok((passage, terms))
}

/// The language a keyword marker's `analyzer:xx` names.
fn analyzer_language(name: Option<&str>) -> Option<Locale> {
    name.and_then(|n| n.strip_prefix("analyzer:"))
        .and_then(|l| Locale::parse(l).ok())
}

#[async_trait]
impl KeywordIndex for QdrantKnowledge {
    async fn index_tenant(
        &self,
        tenant: &TenantId,
        revision: u64,
        passages: Vec<Passage>,
    ) -> Result<(), PortError> {
        // The marker records the analyzer's language, so every process analyzes this tenant's
        // questions as its passages were.
        let language = language_of(&passages);
        let mut analyzer = analyzer_for(language);
        let analyzed: Vec<(Passage, Vec<String>)> = passages
            .into_iter()
            .map(|p| {
                let tokens = tokens(&mut analyzer, &indexed_text(&p));
                (p, tokens)
            })
            .collect();
        let points = requests::keyword_points(tenant, revision, &analyzed);
        let analyzer_name = format!("analyzer:{}", language.map_or("default", Locale::as_str));
        self.replace(
            tenant,
            IndexKind::Keyword,
            revision,
            Some(&analyzer_name),
            points,
        )
        .await
    }

    async fn indexed_revision(&self, tenant: &TenantId) -> Result<Option<u64>, PortError> {
        Ok(self
            .marker(tenant, IndexKind::Keyword)
            .await?
            .map(|(revision, _)| revision))
    }

    async fn indexed_language(&self, tenant: &TenantId) -> Result<Option<Locale>, PortError> {
        Ok(self
            .marker(tenant, IndexKind::Keyword)
            .await?
            .and_then(|(_, analyzer)| analyzer_language(analyzer.as_deref())))
    }

    async fn search(
        &self,
        tenant: &TenantId,
        query: &str,
        limit: usize,
    ) -> Result<Option<Vec<KeywordHit>>, PortError> {
        let Some((revision, analyzer_name)) = self.marker(tenant, IndexKind::Keyword).await? else {
            return Ok(None);
        };
        let language = analyzer_language(analyzer_name.as_deref());
        let groups = query_groups(&mut analyzer_for(language), query);
        if groups.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let scope = Scope::new(tenant, IndexKind::Keyword, revision);
        let terms: Vec<String> = groups.iter().flatten().cloned().collect();
        // Coverage weighs each question word by its IDF in this tenant, as the embedded index
        // does: the document count and each term's document frequency, counted exactly.
        let (found, n, frequencies) = futures_util::future::join3(
            self.client.query(requests::keyword_query(
                &self.collection,
                &scope,
                &terms,
                u64::try_from(limit.max(1)).unwrap_or(u64::MAX),
            )),
            self.count(&scope, None),
            futures_util::future::try_join_all(
                terms.iter().map(|t| self.count(&scope, Some(t.as_str()))),
            ),
        )
        .await;
        let found = found.map_err(classify)?;
        let n = n?;
        let frequencies = frequencies?;
        let weights = group_weights(&groups, n, &frequencies);
        let mut hits = Vec::with_capacity(found.result.len());
        for point in &found.result {
            let (passage, passage_terms) = decode(point)?;
            hits.push(KeywordHit {
                passage,
                score: point.score,
                coverage: coverage(&groups, &weights, &passage_terms),
            });
        }
        hits.sort_by(|a, b| {
            b.coverage
                .total_cmp(&a.coverage)
                .then(b.score.total_cmp(&a.score))
        });
        Ok(Some(hits))
    }

    async fn forget_tenant(&self, tenant: &TenantId) -> Result<(), PortError> {
        self.forget(tenant, IndexKind::Keyword).await
    }
}

#[async_trait]
impl VectorIndex for QdrantKnowledge {
    async fn index_tenant(
        &self,
        tenant: &TenantId,
        revision: u64,
        model: &str,
        entries: Vec<(Passage, Vec<f32>)>,
    ) -> Result<(), PortError> {
        let points = requests::dense_points(tenant, revision, model, entries);
        self.replace(tenant, IndexKind::Dense, revision, Some(model), points)
            .await
    }

    async fn indexed_revision(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<(u64, String)>, PortError> {
        Ok(self
            .marker(tenant, IndexKind::Dense)
            .await?
            .map(|(revision, model)| (revision, model.unwrap_or_default())))
    }

    async fn search(
        &self,
        tenant: &TenantId,
        vector: &[f32],
        limit: usize,
    ) -> Result<Option<Vec<DenseHit>>, PortError> {
        let Some((revision, _)) = self.marker(tenant, IndexKind::Dense).await? else {
            return Ok(None);
        };
        let scope = Scope::new(tenant, IndexKind::Dense, revision);
        let found = self
            .client
            .query(requests::dense_query(
                &self.collection,
                &scope,
                vector,
                u64::try_from(limit.max(1)).unwrap_or(u64::MAX),
            ))
            .await
            .map_err(classify)?;
        found
            .result
            .iter()
            .map(|point| {
                Ok(DenseHit {
                    passage: decode(point)?.0,
                    similarity: point.score,
                })
            })
            .collect::<Result<_, PortError>>()
            .map(Some)
    }

    async fn forget_tenant(&self, tenant: &TenantId) -> Result<(), PortError> {
        self.forget(tenant, IndexKind::Dense).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a server the adapter fails as a dependency that is down: transient, never a
    /// panic, so the knowledge service falls back to the other retriever and the bus retries.
    #[tokio::test]
    async fn an_unreachable_server_is_a_transient_failure() {
        let qdrant = QdrantKnowledge::connect(&QdrantSettings {
            url: "http://127.0.0.1:9".to_owned(),
            api_key: None,
            collection: "nowhere".to_owned(),
            timeout: Duration::from_secs(2),
        })
        .unwrap();
        let tenant = TenantId::parse("acme").unwrap();
        let error = KeywordIndex::search(&qdrant, &tenant, "cemento", 5)
            .await
            .unwrap_err();
        assert!(error.is_transient(), "{error}");
        let error = VectorIndex::indexed_revision(&qdrant, &tenant)
            .await
            .unwrap_err();
        assert!(error.is_transient(), "{error}");
    }
}
