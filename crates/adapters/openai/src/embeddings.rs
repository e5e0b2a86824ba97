//! OpenAI-compatible embeddings (`POST {base}/embeddings`): text-embedding-3-small, Gemini's and
//! Ollama's OpenAI endpoints, a LiteLLM proxy. The [`Embedder`] adapter for deployments that
//! prefer a hosted model to the embedded multilingual-e5-small.
//!
//! Texts go in batches; each batch is retried on 408/409/429/5xx and timeouts with backoff,
//! waiting what the provider's `Retry-After` asks up to a cap. Vectors are L2-normalized, so
//! they compare like the embedded model's. Caching by content hash is the knowledge service's
//! (the `EmbeddingCache` port), so a re-ingestion calls the provider only for changed text.

use std::time::Duration;

use async_trait::async_trait;
use atiende_ports::{EmbedRole, Embedder, LlmError, PortError};
use backon::{ExponentialBuilder, Retryable};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::{ErrorAnswer, classify};

/// The longest `Retry-After` waited for before giving up on a batch.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Where and how to reach an embeddings model.
#[derive(Debug, Clone)]
pub struct EmbeddingsEndpoint {
    /// The base URL, up to and excluding `/embeddings`.
    pub base_url: String,
    /// The model (`text-embedding-3-small`).
    pub model: String,
    /// The API key.
    pub api_key: Option<SecretString>,
    /// The vectors' length; sent as `dimensions` (models that support shortening honour it).
    pub dimensions: usize,
    /// Texts per request.
    pub batch: usize,
    /// How long one request may take.
    pub timeout: Duration,
}

/// An OpenAI-compatible embeddings model.
pub struct OpenAiEmbedder {
    client: reqwest::Client,
    endpoint: EmbeddingsEndpoint,
    url: String,
    name: String,
}

#[derive(Deserialize)]
struct EmbeddingList {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<f32>,
}

impl OpenAiEmbedder {
    /// An embedder reached through `client`.
    pub fn new(client: reqwest::Client, endpoint: EmbeddingsEndpoint) -> Self {
        let url = format!("{}/embeddings", endpoint.base_url.trim_end_matches('/'));
        let name = format!("openai:{}:{}", endpoint.model, endpoint.dimensions);
        Self {
            client,
            endpoint,
            url,
            name,
        }
    }

    async fn call(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        let provider = || "embeddings".to_owned();
        let mut request = self
            .client
            .post(&self.url)
            .timeout(self.endpoint.timeout)
            .json(&json!({"model": self.endpoint.model, "input": texts,
                "encoding_format": "float", "dimensions": self.endpoint.dimensions}));
        if let Some(key) = &self.endpoint.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                LlmError::Timeout {
                    provider: provider(),
                    after: self.endpoint.timeout,
                }
            } else {
                LlmError::Unavailable {
                    provider: provider(),
                    retry_after: None,
                    message: format!("connection failed: {}", e.without_url()),
                }
            }
        })?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let answer = ErrorAnswer {
                retry_after_ms: header("retry-after-ms"),
                retry_after: header("retry-after"),
                provider_retry_after: header("llm_provider-retry-after"),
                should_retry: header("x-should-retry"),
                body: response.text().await.unwrap_or_default(),
            };
            return Err(classify(&provider(), status, &answer, chrono::Utc::now()));
        }
        let invalid = |message: String| LlmError::InvalidResponse {
            provider: provider(),
            message,
        };
        let mut list: EmbeddingList = response
            .json()
            .await
            .map_err(|e| invalid(format!("not an embedding list: {e}")))?;
        if list.data.len() != texts.len() {
            return Err(invalid(format!(
                "{} vectors for {} texts",
                list.data.len(),
                texts.len()
            )));
        }
        list.data.sort_by_key(|item| item.index);
        list.data
            .into_iter()
            .map(|item| {
                if item.embedding.len() != self.endpoint.dimensions {
                    return Err(invalid(format!(
                        "a vector of {} dimensions, expected {}",
                        item.embedding.len(),
                        self.endpoint.dimensions
                    )));
                }
                Ok(normalize(item.embedding))
            })
            .collect()
    }
}

fn normalize(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    fn dimensions(&self) -> usize {
        self.endpoint.dimensions
    }

    async fn embed(
        &self,
        _role: EmbedRole,
        texts: Vec<String>,
    ) -> Result<Vec<Vec<f32>>, PortError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.endpoint.batch.max(1)) {
            let result = (|| self.call(batch))
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(Duration::from_millis(250))
                        .with_max_delay(Duration::from_secs(4))
                        .with_max_times(3)
                        .with_jitter(),
                )
                .sleep(tokio::time::sleep)
                .when(LlmError::is_retryable)
                .adjust(|e: &LlmError, planned| match e.retry_after() {
                    Some(asked) if asked > MAX_RETRY_AFTER => None,
                    Some(asked) => Some(asked),
                    None => planned,
                })
                .await;
            match result {
                Ok(batch_vectors) => vectors.extend(batch_vectors),
                Err(e) if e.is_retryable() => {
                    return Err(PortError::Transient {
                        message: format!("embedding failed: {e}"),
                        retry_after: e.retry_after(),
                        source: None,
                    });
                }
                Err(e) => return Err(PortError::permanent(format!("embedding failed: {e}"))),
            }
        }
        Ok(vectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atiende_testkit::{FakeLlm, fake_llm::Scripted};

    fn embedder(fake: &FakeLlm) -> OpenAiEmbedder {
        OpenAiEmbedder::new(
            reqwest::Client::new(),
            EmbeddingsEndpoint {
                base_url: fake.base_url().to_owned(),
                model: "text-embedding-3-small".into(),
                api_key: Some(SecretString::from("sk-test")),
                dimensions: 16,
                batch: 2,
                timeout: Duration::from_secs(2),
            },
        )
    }

    #[tokio::test]
    async fn texts_are_embedded_in_batches_normalized_and_in_order() {
        let fake = FakeLlm::start();
        let e = embedder(&fake);
        let texts: Vec<String> = ["uno", "dos", "uno"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let vectors = e.embed(EmbedRole::Passage, texts).await.unwrap();
        assert_eq!(vectors.len(), 3);
        assert_eq!(vectors[0], vectors[2], "equal texts, equal vectors");
        assert_ne!(vectors[0], vectors[1]);
        for v in &vectors {
            assert_eq!(v.len(), 16);
            let norm: f32 = v.iter().map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 1e-4);
        }
        let requests = fake.requests();
        assert_eq!(requests.len(), 2, "batches of two");
        assert_eq!(requests[0].1["model"], "text-embedding-3-small");
        assert_eq!(requests[0].1["dimensions"], 16);
        assert_eq!(e.model(), "openai:text-embedding-3-small:16");
    }

    #[tokio::test]
    async fn rate_limits_are_retried_and_rejections_are_permanent() {
        let fake = FakeLlm::start();
        let e = embedder(&fake);
        fake.push([Scripted::rate_limited(0), Scripted::status(503)]);
        let vectors = e
            .embed(EmbedRole::Query, vec!["hola".into()])
            .await
            .unwrap();
        assert_eq!(vectors.len(), 1);
        assert_eq!(fake.calls(), 3);
        fake.push([Scripted::status(400)]);
        let error = e
            .embed(EmbedRole::Query, vec!["hola".into()])
            .await
            .unwrap_err();
        assert!(!error.is_transient(), "{error}");
    }
}
