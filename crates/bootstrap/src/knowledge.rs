//! The knowledge indexes and the embedding model `knowledge.*` chooses: tantivy and the exact
//! vector index in process, or a Qdrant server (`--features qdrant`); multilingual-e5-small, an
//! OpenAI-compatible embeddings API, or none (keyword-only search).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use atiende_adapter_e5::E5Embedder;
use atiende_adapter_openai::embeddings::{EmbeddingsEndpoint, OpenAiEmbedder};
use atiende_adapter_tantivy::TantivyIndex;
use atiende_adapter_vectors::ExactVectorIndex;
#[cfg(feature = "qdrant")]
use atiende_platform::Settings;
use atiende_platform::config::{EmbedderChoice, IndexChoice, KnowledgeSettings};
use atiende_ports::{Embedder, KeywordIndex, VectorIndex};
use tracing::{info, warn};

/// The keyword and vector indexes `knowledge.index` names.
pub(crate) async fn indexes(
    knowledge: &KnowledgeSettings,
) -> anyhow::Result<(Arc<dyn KeywordIndex>, Arc<dyn VectorIndex>)> {
    match knowledge.index {
        IndexChoice::Embedded => Ok((
            Arc::new(TantivyIndex::new()),
            Arc::new(ExactVectorIndex::new()),
        )),
        IndexChoice::Qdrant => qdrant_indexes(knowledge).await,
    }
}

#[cfg(feature = "qdrant")]
fn qdrant_knowledge(
    knowledge: &KnowledgeSettings,
) -> anyhow::Result<atiende_adapter_qdrant::QdrantKnowledge> {
    let q = &knowledge.qdrant;
    let client = atiende_adapter_qdrant::QdrantKnowledge::connect(
        &atiende_adapter_qdrant::QdrantSettings {
            url: q.url.clone(),
            api_key: q.api_key.clone(),
            collection: q.collection.clone(),
            timeout: Duration::from_millis(q.timeout_ms),
        },
    )?;
    info!(url = %q.url, collection = %q.collection, "Knowledge indexes on Qdrant.");
    Ok(client)
}

#[cfg(feature = "qdrant")]
async fn qdrant_indexes(
    knowledge: &KnowledgeSettings,
) -> anyhow::Result<(Arc<dyn KeywordIndex>, Arc<dyn VectorIndex>)> {
    let client = Arc::new(qdrant_knowledge(knowledge)?);
    // A server too old is refused; one not answering yet is the readiness check's business.
    match client.ensure_supported().await {
        Ok(version) => info!(%version, "Qdrant server version supported."),
        Err(e) if e.is_transient() => {
            warn!(error = %e, "Qdrant did not answer; its version is checked at setup.");
        }
        Err(e) => return Err(e).context("knowledge.qdrant.url"),
    }
    Ok((client.clone(), client))
}

#[cfg(not(feature = "qdrant"))]
async fn qdrant_indexes(
    _: &KnowledgeSettings,
) -> anyhow::Result<(Arc<dyn KeywordIndex>, Arc<dyn VectorIndex>)> {
    anyhow::bail!("knowledge.index = \"qdrant\" needs a binary built with `--features qdrant`")
}

/// `atiende qdrant setup`: creates the knowledge collection for the configured embedding model's
/// vector size (the seeds' `setup_qdrant.py`); `recreate` drops an existing one first. Returns
/// what it did, for the operator.
#[cfg(feature = "qdrant")]
pub async fn qdrant_setup(settings: &Settings, recreate: bool) -> anyhow::Result<String> {
    let dimensions = match embedder(&settings.knowledge)? {
        Some(embedder) => embedder.dimensions(),
        None => anyhow::bail!(
            "no embedding model is configured (knowledge.embedder): the collection's vector size follows the model"
        ),
    };
    let client = qdrant_knowledge(&settings.knowledge)?;
    client
        .ensure_supported()
        .await
        .with_context(|| format!("Qdrant at {}", settings.knowledge.qdrant.url))?;
    let collection = &settings.knowledge.qdrant.collection;
    let created = client
        .setup(u64::try_from(dimensions)?, recreate)
        .await
        .with_context(|| {
            format!(
                "cannot set up {collection} on {}",
                settings.knowledge.qdrant.url
            )
        })?;
    Ok(if created {
        format!(
            "created {collection} ({dimensions}-dimension dense vectors, sparse vectors with IDF, tenant index)"
        )
    } else {
        format!(
            "{collection} already exists (use --recreate to drop and create it for another model)"
        )
    })
}

/// The embedding model the settings ask for: `None` means keyword-only search.
pub fn embedder(settings: &KnowledgeSettings) -> anyhow::Result<Option<Arc<dyn Embedder>>> {
    if settings.embedder == EmbedderChoice::None {
        info!("Knowledge search is keyword-only (knowledge.embedder = none).");
        return Ok(None);
    }
    if settings.embedder == EmbedderChoice::OpenAi {
        let api = &settings.openai;
        anyhow::ensure!(
            api.dimensions > 0 && api.batch > 0,
            "knowledge.openai: dimensions and batch must be at least 1"
        );
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("cannot build the HTTP client")?;
        info!(model = %api.model, dimensions = api.dimensions, "Knowledge search is hybrid, with an OpenAI-compatible embeddings API.");
        return Ok(Some(Arc::new(OpenAiEmbedder::new(
            client,
            EmbeddingsEndpoint {
                base_url: api.base_url.clone(),
                model: api.model.clone(),
                api_key: api.api_key.clone(),
                dimensions: api.dimensions,
                batch: api.batch,
                timeout: Duration::from_secs(api.timeout_secs.max(1)),
            },
        ))));
    }
    let dir = settings
        .e5_dir
        .clone()
        .or_else(atiende_adapter_e5::default_model_dir);
    let loaded = match &dir {
        Some(dir) => E5Embedder::load(
            &atiende_adapter_e5::weights_in(dir),
            settings.embedding_threads,
        )
        .map_err(|e| e.to_string()),
        None => Err("no model directory (set knowledge.e5_dir)".to_owned()),
    };
    match (loaded, settings.embedder) {
        (Ok(e5), _) => {
            info!(
                model = atiende_adapter_e5::MODEL_NAME,
                threads = settings.embedding_threads,
                "Knowledge search is hybrid (keywords + embeddings)."
            );
            Ok(Some(Arc::new(e5)))
        }
        (Err(reason), EmbedderChoice::E5) => {
            anyhow::bail!("knowledge.embedder = e5, but the model cannot be loaded: {reason}")
        }
        (Err(reason), _) => {
            warn!(%reason, "Knowledge search is keyword-only: no embedding model. Run infra/models.sh for hybrid search.");
            Ok(None)
        }
    }
}
