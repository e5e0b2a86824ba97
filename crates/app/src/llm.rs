//! The language model as the engine sees it: an ordered chain of providers with retries,
//! circuit breakers, key pools, a deadline and a price table.
//!
//! A turn asks [`ModelChain::complete`] once. Each provider in the tenant's order is tried in
//! turn: skipped while its breaker is open; otherwise called with the conversation's pinned key
//! and retried on 408/409/429/5xx/timeouts with exponential backoff and jitter (`backon`),
//! waiting what the provider's `Retry-After` asks when it asks — unless that is longer than
//! [`RetryPolicy::max_retry_after`] or would pass the turn's deadline, in which case the next
//! provider is tried at once. A refused key (401/403) or a rejected request (400/404/422) goes to
//! the next provider without retrying. Every attempt is recorded for the turn's decision trace;
//! when the chain is exhausted the caller hands off with an apology instead of leaving the
//! customer unanswered.

pub mod breaker;
pub mod pool;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use atiende_ports::{ChatRequest, ChatResponse, LlmError, Usage};
use backon::{ExponentialBuilder, Retryable};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

pub use breaker::{BreakerPolicy, BreakerState, CircuitBreaker};
pub use pool::{KeyPool, PoolStatus, PooledKey};

/// How one provider's failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// The first backoff delay.
    pub min_delay: Duration,
    /// The longest backoff delay.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one moves to the next provider.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(5),
        }
    }
}

/// What a model costs, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Per million prompt tokens.
    pub input_per_mtok: f64,
    /// Per million completion tokens.
    pub output_per_mtok: f64,
}

impl Price {
    /// The cost of `usage`.
    pub fn cost(&self, usage: Usage) -> f64 {
        (f64::from(usage.prompt_tokens) * self.input_per_mtok
            + f64::from(usage.completion_tokens) * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// One configured provider: its keys and its breaker.
pub struct Provider {
    name: String,
    pool: KeyPool,
    breaker: CircuitBreaker,
}

impl Provider {
    /// A provider named `name` with its key pool.
    pub fn new(name: impl Into<String>, pool: KeyPool, breaker: BreakerPolicy) -> Self {
        Self {
            name: name.into(),
            pool,
            breaker: CircuitBreaker::new(breaker),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One call made while answering a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The provider.
    pub provider: String,
    /// The model.
    pub model: String,
    /// The key's public name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `ok` or the error's kind (`rate_limited`, `timeout`, `circuit_open`…).
    pub outcome: String,
    /// How long it took.
    pub latency_ms: u64,
}

/// A completion and how it was obtained.
#[derive(Debug, Clone)]
pub struct ChainAnswer {
    /// The completion.
    pub response: ChatResponse,
    /// The provider that answered.
    pub provider: String,
    /// The model that answered.
    pub model: String,
    /// Every call made, the successful one last.
    pub attempts: Vec<Attempt>,
    /// Whether a provider other than the first answered.
    pub fallback: bool,
    /// What the answer cost, in US dollars (0 when the model has no price).
    pub cost_usd: f64,
}

/// Every provider failed or was skipped.
#[derive(Debug, Clone, thiserror::Error)]
#[error("every model failed ({} attempts); last error: {}", attempts.len(), last.as_ref().map_or_else(|| "none".to_owned(), ToString::to_string))]
pub struct ChainExhausted {
    /// Every call made or skipped.
    pub attempts: Vec<Attempt>,
    /// The last error.
    pub last: Option<LlmError>,
}

/// The providers, tried in order.
pub struct ModelChain {
    providers: Vec<Provider>,
    retry: RetryPolicy,
    prices: HashMap<String, Price>,
}

/// The status of one provider, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderStatus {
    /// Its name.
    pub provider: String,
    /// Its breaker.
    pub breaker: &'static str,
    /// Its key pool.
    pub keys: PoolStatus,
}

impl ModelChain {
    /// A chain over `providers`, in their default order.
    pub fn new(
        providers: Vec<Provider>,
        retry: RetryPolicy,
        prices: HashMap<String, Price>,
    ) -> Self {
        Self {
            providers,
            retry,
            prices,
        }
    }

    /// The providers' names, in default order.
    pub fn provider_names(&self) -> Vec<&str> {
        self.providers.iter().map(|p| p.name.as_str()).collect()
    }

    /// The providers in `order` (names; unknown ones are skipped), or the default order.
    fn ordered<'a>(&'a self, order: &[String]) -> Vec<&'a Provider> {
        if order.is_empty() {
            return self.providers.iter().collect();
        }
        order
            .iter()
            .filter_map(|name| self.providers.iter().find(|p| &p.name == name))
            .collect()
    }

    /// The price of `model` (exact name, else the part after a `provider/` prefix).
    pub fn price(&self, model: &str) -> Option<Price> {
        self.prices.get(model).copied().or_else(|| {
            model
                .rsplit_once('/')
                .and_then(|(_, bare)| self.prices.get(bare).copied())
        })
    }

    /// Releases every key `conversation` holds (it ended).
    pub fn release(&self, conversation: &str) {
        for provider in &self.providers {
            provider.pool.release(conversation);
        }
    }

    /// Each provider's breaker and key pool.
    pub fn status(&self) -> Vec<ProviderStatus> {
        let now = Instant::now();
        self.providers
            .iter()
            .map(|p| ProviderStatus {
                provider: p.name.clone(),
                breaker: p.breaker.state(now).as_str(),
                keys: p.pool.status(),
            })
            .collect()
    }

    /// Completes `request` for `conversation` through the providers in `order` (empty: the
    /// default order), finishing by `deadline`.
    pub async fn complete(
        &self,
        order: &[String],
        conversation: &str,
        request: &ChatRequest,
        deadline: Instant,
    ) -> Result<ChainAnswer, ChainExhausted> {
        let mut attempts = Vec::new();
        let mut last = None;
        for (position, provider) in self.ordered(order).into_iter().enumerate() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let Some((key, model)) = provider.pool.acquire(conversation, now) else {
                continue;
            };
            if !provider.breaker.allow(now) {
                attempts.push(Attempt {
                    provider: provider.name.clone(),
                    model: model.model().to_owned(),
                    key: Some(key),
                    outcome: "circuit_open".to_owned(),
                    latency_ms: 0,
                });
                continue;
            }
            let tried = Mutex::new(Vec::new());
            let call = || async {
                let started = Instant::now();
                let remaining = deadline.saturating_duration_since(started);
                let result = match tokio::time::timeout(remaining, model.complete(request)).await {
                    Ok(result) => result,
                    Err(_) => Err(LlmError::Timeout {
                        provider: provider.name.clone(),
                        after: remaining,
                    }),
                };
                match &result {
                    Ok(_) => provider.breaker.record_success(),
                    Err(e) if e.counts_against_provider() => {
                        provider.breaker.record_failure(Instant::now());
                    }
                    Err(_) => {}
                }
                tried
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Attempt {
                        provider: provider.name.clone(),
                        model: model.model().to_owned(),
                        key: Some(key.clone()),
                        outcome: result
                            .as_ref()
                            .map_or_else(|e| e.kind().to_owned(), |_| "ok".to_owned()),
                        latency_ms: u64::try_from(started.elapsed().as_millis())
                            .unwrap_or(u64::MAX),
                    });
                result
            };
            let backoff = ExponentialBuilder::default()
                .with_min_delay(self.retry.min_delay)
                .with_max_delay(self.retry.max_delay)
                .with_max_times(self.retry.max_retries)
                .with_jitter();
            let max_retry_after = self.retry.max_retry_after;
            let result = call
                .retry(backoff)
                .sleep(tokio::time::sleep)
                .when(|e: &LlmError| e.is_retryable())
                .adjust(|e: &LlmError, planned: Option<Duration>| {
                    let wait = match e.retry_after() {
                        Some(asked) if asked > max_retry_after => return None,
                        Some(asked) => asked,
                        None => planned?,
                    };
                    // A wait that ends past the deadline is no retry at all.
                    (Instant::now() + wait < deadline).then_some(wait)
                })
                .await;
            attempts.extend(tried.into_inner().unwrap_or_else(PoisonError::into_inner));
            match result {
                Ok(response) => {
                    let cost_usd = self
                        .price(&response.model)
                        .or_else(|| self.price(model.model()))
                        .map_or(0.0, |p| p.cost(response.usage));
                    if position > 0 {
                        info!(provider = %provider.name, position, "A fallback model answered.");
                    }
                    return Ok(ChainAnswer {
                        response,
                        provider: provider.name.clone(),
                        model: model.model().to_owned(),
                        attempts,
                        fallback: position > 0,
                        cost_usd,
                    });
                }
                Err(error) => {
                    warn!(provider = %provider.name, error = %atiende_domain::mask::scrub_digits(&error.to_string()), "Model failed; trying the next one.");
                    last = Some(error);
                }
            }
        }
        Err(ChainExhausted { attempts, last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use atiende_ports::{ChatMessage, ChatModel, ChatRole, FinishReason};
    use std::collections::VecDeque;
    use std::sync::Arc;

    /// A model that plays scripted outcomes (`Ok(text)` or an error), then answers "ok".
    struct Scripted {
        provider: String,
        script: Mutex<VecDeque<Result<&'static str, LlmError>>>,
        hang: bool,
        calls: Mutex<u32>,
    }

    impl Scripted {
        fn new(provider: &str, script: Vec<Result<&'static str, LlmError>>) -> Arc<Self> {
            Arc::new(Self {
                provider: provider.into(),
                script: Mutex::new(script.into()),
                hang: false,
                calls: Mutex::new(0),
            })
        }
        fn calls(&self) -> u32 {
            *self.calls.lock().unwrap()
        }
    }

    #[async_trait]
    impl ChatModel for Scripted {
        fn provider(&self) -> &str {
            &self.provider
        }
        fn model(&self) -> &str {
            "gpt-4o-mini"
        }
        async fn complete(&self, _: &ChatRequest) -> Result<ChatResponse, LlmError> {
            *self.calls.lock().unwrap() += 1;
            if self.hang {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            let next = self.script.lock().unwrap().pop_front().unwrap_or(Ok("ok"));
            next.map(|text| ChatResponse {
                content: Some(text.to_owned()),
                tool_calls: Vec::new(),
                finish: FinishReason::Stop,
                usage: Usage {
                    prompt_tokens: 1000,
                    completion_tokens: 100,
                },
                model: "gpt-4o-mini".to_owned(),
            })
        }
    }

    fn rate_limited(secs: f64) -> LlmError {
        LlmError::RateLimited {
            provider: "p".into(),
            retry_after: Some(Duration::from_secs_f64(secs)),
            message: "slow down".into(),
        }
    }

    fn unavailable() -> LlmError {
        LlmError::Unavailable {
            provider: "p".into(),
            retry_after: None,
            message: "HTTP 500".into(),
        }
    }

    fn provider(model: Arc<Scripted>, failures_to_open: u32) -> Provider {
        let name = model.provider.clone();
        let pool = KeyPool::new(
            name.clone(),
            vec![PooledKey {
                id: "key_a".into(),
                model,
            }],
            10,
            Duration::from_secs(600),
        );
        Provider::new(
            name,
            pool,
            BreakerPolicy {
                failures_to_open,
                cooldown: Duration::from_secs(60),
            },
        )
    }

    fn chain(providers: Vec<Provider>) -> ModelChain {
        let retry = RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(1),
        };
        let prices = HashMap::from([(
            "gpt-4o-mini".to_owned(),
            Price {
                input_per_mtok: 0.15,
                output_per_mtok: 0.6,
            },
        )]);
        ModelChain::new(providers, retry, prices)
    }

    fn request() -> ChatRequest {
        ChatRequest {
            messages: vec![ChatMessage::text(ChatRole::User, "hola")],
            tools: Vec::new(),
            json_output: true,
            max_tokens: 100,
            temperature: 0.0,
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    fn outcomes(attempts: &[Attempt]) -> Vec<String> {
        attempts
            .iter()
            .map(|a| format!("{}:{}", a.provider, a.outcome))
            .collect()
    }

    #[tokio::test]
    async fn a_rate_limit_is_waited_out_as_the_provider_asks() {
        let first = Scripted::new("gemini", vec![Err(rate_limited(0.05)), Ok("hola")]);
        let chain = chain(vec![provider(first, 5)]);
        let started = Instant::now();
        let answer = chain.complete(&[], "c1", &request(), soon()).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(answer.response.content.as_deref(), Some("hola"));
        assert_eq!(
            outcomes(&answer.attempts),
            ["gemini:rate_limited", "gemini:ok"]
        );
        assert!(!answer.fallback);
        assert!(
            (answer.cost_usd - 0.000_21).abs() < 1e-9,
            "{}",
            answer.cost_usd
        );
    }

    #[tokio::test]
    async fn persistent_failures_fall_back_to_the_next_provider() {
        let first = Scripted::new(
            "gemini",
            vec![Err(unavailable()), Err(unavailable()), Err(unavailable())],
        );
        let second = Scripted::new("openai", vec![Ok("hello")]);
        let chain = chain(vec![provider(first.clone(), 5), provider(second, 5)]);
        let answer = chain.complete(&[], "c1", &request(), soon()).await.unwrap();
        assert_eq!(first.calls(), 3, "the first attempt and two retries");
        assert_eq!(
            outcomes(&answer.attempts),
            [
                "gemini:unavailable",
                "gemini:unavailable",
                "gemini:unavailable",
                "openai:ok"
            ]
        );
        assert!(answer.fallback);
        assert_eq!(answer.provider, "openai");
    }

    #[tokio::test]
    async fn long_retry_afters_refused_keys_and_rejections_move_on_at_once() {
        let cases = [
            rate_limited(30.0),
            LlmError::Unauthorized {
                provider: "p".into(),
                status: 401,
            },
            LlmError::Rejected {
                provider: "p".into(),
                status: 400,
                message: "bad".into(),
            },
        ];
        for error in cases {
            let kind = error.kind();
            let first = Scripted::new("gemini", vec![Err(error)]);
            let chain = chain(vec![
                provider(first.clone(), 5),
                provider(Scripted::new("openai", vec![]), 5),
            ]);
            let started = Instant::now();
            let answer = chain.complete(&[], "c1", &request(), soon()).await.unwrap();
            assert!(started.elapsed() < Duration::from_millis(500), "{kind}");
            assert_eq!(first.calls(), 1, "{kind}");
            assert_eq!(answer.provider, "openai", "{kind}");
        }
    }

    #[tokio::test]
    async fn an_open_breaker_skips_the_provider_until_its_cooldown() {
        let first = Scripted::new("gemini", vec![Err(unavailable()); 3]);
        let chain = chain(vec![
            provider(first.clone(), 3),
            provider(Scripted::new("openai", vec![]), 3),
        ]);
        chain.complete(&[], "c1", &request(), soon()).await.unwrap();
        let answer = chain.complete(&[], "c2", &request(), soon()).await.unwrap();
        assert_eq!(first.calls(), 3, "not called again while open");
        assert_eq!(
            outcomes(&answer.attempts),
            ["gemini:circuit_open", "openai:ok"]
        );
        assert_eq!(chain.status()[0].breaker, "open");
    }

    #[tokio::test]
    async fn the_tenant_order_is_followed_and_exhaustion_is_reported_by_the_deadline() {
        let first = Scripted::new("gemini", vec![]);
        let second = Scripted::new("openai", vec![Err(unavailable()); 3]);
        let chain = chain(vec![provider(first.clone(), 5), provider(second, 5)]);
        let exhausted = chain
            .complete(&["openai".to_owned()], "c1", &request(), soon())
            .await
            .unwrap_err();
        assert_eq!(first.calls(), 0);
        assert_eq!(exhausted.attempts.len(), 3);

        let hanging = Arc::new(Scripted {
            provider: "slow".into(),
            script: Mutex::new(VecDeque::new()),
            hang: true,
            calls: Mutex::new(0),
        });
        let chain = self::chain(vec![provider(hanging, 5)]);
        let started = Instant::now();
        let exhausted = chain
            .complete(
                &[],
                "c1",
                &request(),
                Instant::now() + Duration::from_millis(100),
            )
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(exhausted.last.map(|e| e.kind()), Some("timeout"));
    }
}
