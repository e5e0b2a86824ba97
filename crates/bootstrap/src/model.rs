//! The model chain `llm.*` describes: each provider's keys as a pool behind a breaker, tried in
//! order, with retries that honour `Retry-After`.

use std::sync::Arc;
use std::time::Duration;

use atiende_adapter_openai::{OpenAiChat, ProviderEndpoint};
use atiende_app::llm::{
    BreakerPolicy, KeyPool, ModelChain, PooledKey, Price, Provider, RetryPolicy,
};
use atiende_platform::config::LlmSettings;
use atiende_ports::ChatModel;
use secrecy::SecretString;

/// The model chain `settings` describe: each provider's keys as a pool, behind a breaker; `None`
/// when no provider is configured (the bot then answers extractively).
pub fn model_chain(settings: &LlmSettings, http: &reqwest::Client) -> Option<Arc<ModelChain>> {
    if settings.providers.is_empty() {
        return None;
    }
    let providers = settings
        .providers
        .iter()
        .map(|p| {
            // Ollama ignores the key but clients must send one; a provider without keys gets one
            // keyless slot.
            let keys: Vec<Option<SecretString>> = if p.api_keys.is_empty() {
                vec![None]
            } else {
                p.api_keys.iter().cloned().map(Some).collect()
            };
            let pooled = keys
                .into_iter()
                .enumerate()
                .map(|(i, key)| PooledKey {
                    id: format!("{}_key_{}", p.name, i + 1),
                    model: Arc::new(OpenAiChat::new(
                        http.clone(),
                        ProviderEndpoint {
                            provider: p.name.clone(),
                            base_url: p.base_url.clone(),
                            model: p.model.clone(),
                            api_key: key,
                            timeout: Duration::from_secs(p.timeout_secs),
                            max_completion_tokens: p.max_completion_tokens,
                        },
                    )) as Arc<dyn ChatModel>,
                })
                .collect();
            Provider::new(
                p.name.clone(),
                KeyPool::new(
                    p.name.clone(),
                    pooled,
                    p.conversations_per_key,
                    Duration::from_secs(settings.key_idle_release_secs),
                ),
                BreakerPolicy {
                    failures_to_open: settings.breaker_failures.max(1),
                    cooldown: Duration::from_secs(settings.breaker_cooldown_secs),
                },
            )
        })
        .collect();
    let prices = settings
        .prices
        .iter()
        .map(|(model, p)| {
            (
                model.clone(),
                Price {
                    input_per_mtok: p.input_per_mtok,
                    output_per_mtok: p.output_per_mtok,
                },
            )
        })
        .collect();
    Some(Arc::new(ModelChain::new(
        providers,
        RetryPolicy {
            max_retries: settings.max_retries,
            max_retry_after: Duration::from_secs(settings.max_retry_after_secs),
            ..RetryPolicy::default()
        },
        prices,
    )))
}
