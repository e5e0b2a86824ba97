//! The composition root: turns [`Settings`] into running adapters and use cases.
//!
//! Every binary — the four services and the all-in-one `atiende` — builds its dependencies here,
//! so they are wired the same way everywhere: the embedded adapters (SQLite store and bus, tantivy
//! keyword index, the exact vector index and multilingual-e5-small when fetched) by default, and
//! — chosen by `store.backend`, `bus.backend` and `knowledge.index`, behind the `gcp` and `qdrant`
//! cargo features — Firestore, Pub/Sub and Qdrant, without the services noticing.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use atiende_adapter_chatwoot::ChatwootDesk;
use atiende_adapter_e5::E5Embedder;
use atiende_adapter_meta::MetaSender;
use atiende_adapter_openai::{
    OpenAiChat, ProviderEndpoint,
    embeddings::{EmbeddingsEndpoint, OpenAiEmbedder},
};
use atiende_adapter_rocketchat::RocketChatDesk;
use atiende_adapter_sqlite::{BusConfig, Db, Durability, SqliteBus, SqliteStores};
use atiende_adapter_tantivy::TantivyIndex;
use atiende_adapter_twilio::TwilioSender;
use atiende_adapter_vectors::ExactVectorIndex;
use atiende_adapter_webhooks::{SignedWebhookCrm, SlackAlerter};
use atiende_app::{
    accounts::AccountsAdmin,
    conversations::ConversationAdmin,
    desk::{AgentConsole, WaitWatch},
    dispatcher::{DispatchPolicy, OutboundDispatcher},
    engine::{ConversationEngine, EngineSettings},
    ingest::InboundGateway,
    knowledge::{DenseRetrieval, KnowledgeService},
    llm::{BreakerPolicy, KeyPool, ModelChain, PooledKey, Price, Provider, RetryPolicy},
    processor::InboundProcessor,
    responder::ExtractiveResponder,
    simulate::Simulator,
    tenants::{CachedTenantStore, TenantAdmin},
    webchat::WebChatSender,
};
use atiende_domain::retrieval::DenseCalibration;
use atiende_platform::{
    Settings,
    config::{
        BusBackend, EmbedderChoice, IndexChoice, KnowledgeSettings, LlmSettings, StoreBackend,
    },
    push::push_path,
};
use atiende_ports::{
    AccountStore, ChannelSender, ChatModel, Clock, ConversationStore, DeadLetterStore, Delivery,
    DeliveryLog, DeskLinkStore, Embedder, EmbeddingCache, EventPublisher, HandleOutcome,
    HealthCheck, KeywordIndex, KnowledgeStore, MessageHandler, Outbox, SecurityAudit, SystemClock,
    TenantStore, UsageLedger, VectorIndex, WebChatStore,
    bus::{PushAuthenticator, PushEnvelope},
    channel::parse_retry_after,
};
use secrecy::{ExposeSecret, SecretString};
use tracing::{info, warn};

#[cfg(feature = "gcp")]
mod gcp;

/// The allocator of every atiende process. A webhook's life is dozens of short-lived allocations
/// (form fields, JSON, the event) made on one worker thread and freed on another; glibc's malloc
/// spent about a fifth of ingest's CPU on that under load (`perf`, docs/benchmarks.md), mimalloc's
/// thread-local free lists do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long a tenant lookup is cached (the bound on how stale another process's view can be).
const TENANT_CACHE_TTL: Duration = Duration::from_secs(5);

/// Everything a service needs, on the embedded adapters.
#[derive(Clone)]
pub struct Embedded {
    /// The settings it was built from.
    pub settings: Arc<Settings>,
    /// The public URL providers call (with the port actually bound).
    pub public_url: String,
    /// The database.
    pub db: Db,
    /// The stores.
    pub stores: Arc<SqliteStores>,
    /// The bus.
    pub bus: SqliteBus,
    /// The keyword index.
    pub index: Arc<dyn KeywordIndex>,
    /// Tenants, cached.
    pub tenants: Arc<dyn TenantStore>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Knowledge ingestion and search.
    pub knowledge: Arc<KnowledgeService>,
    /// The HTTP client for providers and push deliveries.
    pub http: reqwest::Client,
    /// The conversation engine, when language models are configured.
    pub engine: Option<Arc<ConversationEngine>>,
    /// The state and bus ports, on the backends the settings chose (SQLite and the embedded bus,
    /// or Firestore and Pub/Sub).
    pub ports: StatePorts,
    /// Pull workers started by [`Embedded::consume`], stopped at shutdown.
    workers: Arc<Workers>,
}

/// The ports whose backend is a setting: `store.backend` and `bus.backend`.
#[derive(Clone)]
pub struct StatePorts {
    /// Tenants, uncached.
    pub tenants: Arc<dyn TenantStore>,
    /// Conversations.
    pub conversations: Arc<dyn ConversationStore>,
    /// The dispatcher's outbox.
    pub outbox: Arc<dyn Outbox>,
    /// Delivery receipts.
    pub delivery: Arc<dyn DeliveryLog>,
    /// Parked messages.
    pub dead_letters: Arc<dyn DeadLetterStore>,
    /// Tenants' knowledge documents and passages.
    pub knowledge: Arc<dyn KnowledgeStore>,
    /// The bus's publisher.
    pub publisher: Arc<dyn EventPublisher>,
    /// What `/health/ready` asks besides the embedded store.
    pub checks: Vec<Arc<dyn HealthCheck>>,
    /// Settings the GCP adapters need after start (pull workers, push verification).
    #[cfg(feature = "gcp")]
    gcp: Option<gcp::Connected>,
}

/// Background consumers and the signal that stops them.
struct Workers {
    stop: tokio::sync::watch::Sender<bool>,
    running: tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Default for Workers {
    fn default() -> Self {
        Self {
            stop: tokio::sync::watch::channel(false).0,
            running: tokio::sync::Mutex::new(Vec::new()),
        }
    }
}

impl Embedded {
    /// Opens the data directory and builds the adapters. `bound_port` is the port the server
    /// listens on (the default public URL uses it).
    pub async fn open(settings: &Settings, bound_port: u16) -> anyhow::Result<Self> {
        let durability = match settings.store.durability.as_str() {
            "full" => Durability::Full,
            _ => Durability::Normal,
        };
        let db = Db::open(&settings.data_dir, durability).with_context(|| {
            format!(
                "cannot open the data directory {}",
                settings.data_dir.display()
            )
        })?;
        let stores = Arc::new(SqliteStores::new(db.clone()));
        let bus = SqliteBus::new(
            db.clone(),
            BusConfig {
                max_in_flight: settings.bus.max_in_flight,
                max_attempts: settings.bus.max_attempts,
                min_backoff: Duration::from_millis(settings.bus.min_backoff_ms),
                max_backoff: Duration::from_millis(settings.bus.max_backoff_ms),
                handler_timeout: Duration::from_millis(settings.bus.handler_timeout_ms),
                ..BusConfig::default()
            },
        );
        let ports = state_ports(settings, &stores, &bus).await?;
        let (index, vectors) = indexes(&settings.knowledge)?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let tenants: Arc<dyn TenantStore> = Arc::new(CachedTenantStore::new(
            ports.tenants.clone(),
            TENANT_CACHE_TTL,
        ));
        let mut knowledge =
            KnowledgeService::new(ports.knowledge.clone(), index.clone(), clock.clone());
        if let Some(embedder) = embedder(&settings.knowledge)? {
            knowledge = knowledge.with_dense(DenseRetrieval {
                embedder,
                index: vectors,
                cache: stores.clone() as Arc<dyn EmbeddingCache>,
                calibration: DenseCalibration {
                    baseline: settings.knowledge.dense_baseline,
                    gain: settings.knowledge.dense_gain,
                },
            });
        }
        let knowledge = Arc::new(knowledge);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_millis(
                settings.dispatcher.request_timeout_ms,
            ))
            .user_agent(concat!("atiende/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        let engine = model_chain(&settings.llm, &http).map(|chain| {
            let l = &settings.llm;
            Arc::new(
                ConversationEngine::new(
                    knowledge.clone(),
                    chain,
                    stores.clone() as Arc<dyn AccountStore>,
                    stores.clone() as Arc<dyn UsageLedger>,
                    clock.clone(),
                    EngineSettings {
                        deadline: Duration::from_secs(l.deadline_secs),
                        max_tool_rounds: l.max_tool_rounds,
                        history_turns: l.history_turns,
                        history_ttl: Duration::from_secs(l.history_ttl_secs),
                        passages: l.passages,
                        max_prompt_tokens: l.max_prompt_tokens,
                        max_reply_tokens: l.max_reply_tokens,
                        temperature: l.temperature,
                        min_relevance: settings.processor.min_relevance,
                    },
                )
                .with_audit(stores.clone() as Arc<dyn SecurityAudit>),
            )
        });
        info!(data_dir = %settings.data_dir.display(), models = ?settings.llm.providers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), "Embedded store opened.");
        Ok(Self {
            public_url: settings.public_url(bound_port),
            settings: Arc::new(settings.clone()),
            db,
            stores,
            bus,
            index,
            tenants,
            clock,
            knowledge,
            http,
            engine,
            ports,
            workers: Arc::new(Workers::default()),
        })
    }

    /// Loads the demo tenant when the settings ask for it.
    pub async fn load_demo_if_enabled(&self) -> anyhow::Result<()> {
        if self.settings.demo {
            atiende_demo::load(&self.tenant_admin(), &self.knowledge)
                .await
                .context("cannot load the demo tenant")?;
            atiende_demo::load_agent(&self.console())
                .await
                .context("cannot add the demo tenant's agent")?;
            atiende_demo::load_accounts(&self.accounts_admin())
                .await
                .context("cannot load the demo tenant's accounts")?;
        }
        Ok(())
    }

    /// Dry runs of tenants' assistants (the processor without publishing).
    pub fn simulator(&self) -> Simulator {
        Simulator::new(
            self.tenants.clone(),
            self.ports.conversations.clone(),
            Arc::new(ExtractiveResponder::new(
                self.knowledge.clone(),
                self.settings.processor.min_relevance,
            )),
            self.engine.clone(),
            self.clock.clone(),
        )
    }

    /// Credit-account imports.
    pub fn accounts_admin(&self) -> AccountsAdmin {
        AccountsAdmin::new(self.stores.clone() as Arc<dyn AccountStore>)
    }

    /// The publisher.
    pub fn publisher(&self) -> Arc<dyn EventPublisher> {
        self.ports.publisher.clone()
    }

    /// The dead-letter store.
    pub fn dead_letters(&self) -> Arc<dyn DeadLetterStore> {
        self.ports.dead_letters.clone()
    }

    /// Whether events travel on the embedded bus (in process, or HTTP push between processes).
    pub fn embedded_bus(&self) -> bool {
        self.settings.bus.backend == BusBackend::Embedded
    }

    /// How push requests are authenticated: Google's OIDC token when
    /// `gcp.push_service_account` is set, else the shared `bus.push_token`, else not at all.
    pub fn push_auth(&self) -> Option<Arc<dyn PushAuthenticator>> {
        #[cfg(feature = "gcp")]
        if let Some(verifier) = self.ports.gcp.as_ref().and_then(|g| g.oidc.clone()) {
            return Some(verifier);
        }
        self.settings
            .bus
            .push_token
            .clone()
            .map(|token| Arc::new(SharedToken(token)) as Arc<dyn PushAuthenticator>)
    }

    /// Starts consuming `subscription` with `handler` where the settings say this process
    /// should pull (Pub/Sub with `gcp.delivery = "pull"`). With push delivery the service's push
    /// route is the consumer, and on the embedded bus the caller subscribes in process or has
    /// the publisher push.
    pub async fn consume(
        &self,
        subscription: &'static str,
        handler: Arc<dyn MessageHandler>,
    ) -> anyhow::Result<()> {
        #[cfg(feature = "gcp")]
        if self.ports.gcp.as_ref().is_some_and(|g| g.pull) {
            return self.pull(subscription, handler).await;
        }
        let _ = (subscription, handler);
        Ok(())
    }

    /// Pulls `subscription` from Pub/Sub with `handler` until shutdown (the all-in-one binary on
    /// Pub/Sub, which exposes no push routes, and `gcp.delivery = "pull"`).
    pub async fn pull(
        &self,
        subscription: &'static str,
        handler: Arc<dyn MessageHandler>,
    ) -> anyhow::Result<()> {
        #[cfg(feature = "gcp")]
        if let Some(connected) = &self.ports.gcp {
            let worker = connected
                .worker(subscription, handler, self.dead_letters())
                .await?;
            let stop = self.workers.stop.subscribe();
            self.workers
                .running
                .lock()
                .await
                .push(tokio::spawn(worker.run(stop)));
            return Ok(());
        }
        let _ = handler;
        anyhow::bail!("cannot pull {subscription}: the bus is not Pub/Sub")
    }

    /// Ingest's use case.
    pub fn gateway(&self) -> Arc<InboundGateway> {
        Arc::new(InboundGateway::new(
            self.publisher(),
            self.ports.delivery.clone(),
        ))
    }

    /// The processor's use case.
    pub fn processor(&self) -> Arc<InboundProcessor> {
        let processor = InboundProcessor::new(
            self.tenants.clone(),
            self.ports.conversations.clone(),
            self.publisher(),
            Arc::new(ExtractiveResponder::new(
                self.knowledge.clone(),
                self.settings.processor.min_relevance,
            )),
            self.clock.clone(),
        );
        let processor = processor.with_burst_window(Duration::from_millis(
            self.settings.processor.burst_window_ms,
        ));
        Arc::new(match &self.engine {
            Some(engine) => processor.with_engine(engine.clone()),
            None => processor,
        })
    }

    /// The dispatcher's use case, with a sender for every channel.
    pub fn dispatcher(&self) -> Arc<OutboundDispatcher> {
        let d = &self.settings.dispatcher;
        let senders: Vec<Arc<dyn ChannelSender>> = vec![
            Arc::new(TwilioSender::new(
                self.http.clone(),
                &self.settings.twilio.api_base,
                Some(&self.public_url),
            )),
            Arc::new(MetaSender::new(
                self.http.clone(),
                &self.settings.meta.graph_base,
                &self.settings.meta.graph_version,
            )),
            Arc::new(WebChatSender::new(self.webchat(), self.clock.clone())),
        ];
        let dispatcher = OutboundDispatcher::new(
            self.tenants.clone(),
            self.ports.outbox.clone(),
            self.ports.delivery.clone(),
            senders,
            self.clock.clone(),
            DispatchPolicy {
                send_attempts: d.send_attempts,
                first_retry: Duration::from_millis(d.first_retry_ms),
                max_retry: Duration::from_millis(d.max_retry_ms),
                per_sender_per_second: d.per_sender_per_second,
                per_recipient_per_minute: d.per_recipient_per_minute,
                per_recipient_burst: d.per_recipient_burst,
            },
        )
        .with_desk(Arc::new(ChatwootDesk::new(
            self.http.clone(),
            self.desk_links(),
        )))
        .with_desk(Arc::new(RocketChatDesk::new(
            self.http.clone(),
            self.desk_links(),
        )))
        .with_alerter(Arc::new(SlackAlerter::new(self.http.clone())))
        .with_leads(Arc::new(SignedWebhookCrm::new(self.http.clone())));
        Arc::new(dispatcher)
    }

    /// Tenant onboarding.
    pub fn tenant_admin(&self) -> TenantAdmin {
        TenantAdmin::new(
            self.tenants.clone(),
            self.index.clone() as Arc<dyn KeywordIndex>,
            self.clock.clone(),
        )
    }

    /// Conversation operations.
    pub fn conversation_admin(&self) -> ConversationAdmin {
        ConversationAdmin::new(self.ports.conversations.clone(), self.clock.clone())
    }

    /// The built-in agent console.
    pub fn console(&self) -> Arc<AgentConsole> {
        Arc::new(AgentConsole::new(
            self.stores.clone(),
            self.ports.conversations.clone(),
            self.gateway(),
            self.clock.clone(),
        ))
    }

    /// Starts the background check that tells customers nobody has taken their conversation
    /// yet (`processor.desk_wait_secs`; 0 turns it off). It runs where the processor runs.
    pub fn spawn_wait_watch(&self) {
        let p = &self.settings.processor;
        if p.desk_wait_secs == 0 {
            return;
        }
        let watch = WaitWatch::new(
            self.tenants.clone(),
            self.ports.conversations.clone(),
            self.gateway(),
            self.clock.clone(),
            Duration::from_secs(p.desk_wait_secs),
        );
        let every = Duration::from_secs(p.desk_wait_check_secs);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match watch.sweep().await {
                    Ok(0) => {}
                    Ok(n) => info!(conversations = n, "Customers told nobody is available yet."),
                    Err(e) => warn!(error = %e, "Could not check waiting conversations."),
                }
            }
        });
    }

    /// Where conversations live at external desks.
    pub fn desk_links(&self) -> Arc<dyn DeskLinkStore> {
        self.stores.clone()
    }

    /// The web chat store.
    pub fn webchat(&self) -> Arc<dyn WebChatStore> {
        self.stores.clone()
    }

    /// The outbox.
    pub fn outbox(&self) -> Arc<dyn Outbox> {
        self.ports.outbox.clone()
    }

    /// What `/health/ready` checks.
    pub fn health_checks(&self) -> Vec<Arc<dyn HealthCheck>> {
        let mut checks: Vec<Arc<dyn HealthCheck>> = vec![self.stores.clone()];
        if self.embedded_bus() {
            checks.push(Arc::new(self.bus.clone()));
        }
        checks.extend(self.ports.checks.iter().cloned());
        checks
    }

    /// Delivers `subscription` by POSTing push envelopes to the service at `base_url`, as
    /// Pub/Sub push would: used when the services run as separate processes.
    pub fn push_to(&self, subscription: &'static str, base_url: &str) -> anyhow::Result<()> {
        if self.settings.bus.push_token.is_none() {
            warn!(
                subscription,
                "Pushing without a push token: keep the services on a private network or set ATIENDE_BUS__PUSH_TOKEN."
            );
        }
        let handler = Arc::new(HttpPush {
            client: self.http.clone(),
            url: format!(
                "{}{}",
                base_url.trim_end_matches('/'),
                push_path(subscription)
            ),
            token: self.settings.bus.push_token.clone(),
        });
        self.bus.subscribe(subscription, handler)?;
        info!(subscription, base_url, "Delivering by HTTP push.");
        Ok(())
    }

    /// Stops the bus and the pull workers, letting in-flight deliveries finish (and be acked)
    /// within the grace period.
    pub async fn shutdown(&self) {
        let grace = Duration::from_secs(self.settings.shutdown_grace_secs);
        let _ = self.workers.stop.send(true);
        let running = std::mem::take(&mut *self.workers.running.lock().await);
        if tokio::time::timeout(grace, futures_join_all(running))
            .await
            .is_err()
        {
            warn!("Pull workers did not finish within the grace period; their messages come back.");
        }
        self.bus.shutdown(grace).await;
    }
}

async fn futures_join_all(handles: Vec<tokio::task::JoinHandle<()>>) {
    for handle in handles {
        let _ = handle.await;
    }
}

/// Push requests carrying the shared `bus.push_token`.
struct SharedToken(SecretString);

#[async_trait]
impl PushAuthenticator for SharedToken {
    async fn verify(&self, bearer: Option<&str>) -> Result<(), String> {
        use subtle::ConstantTimeEq;
        let presented = bearer.unwrap_or_default().as_bytes();
        if bool::from(presented.ct_eq(self.0.expose_secret().as_bytes())) {
            Ok(())
        } else {
            Err("wrong or missing push token".to_owned())
        }
    }
}

/// The state and bus ports the settings name.
async fn state_ports(
    settings: &Settings,
    stores: &Arc<SqliteStores>,
    bus: &SqliteBus,
) -> anyhow::Result<StatePorts> {
    let embedded = StatePorts {
        tenants: stores.clone(),
        conversations: stores.clone(),
        outbox: stores.clone(),
        delivery: stores.clone(),
        dead_letters: stores.clone(),
        knowledge: stores.clone(),
        publisher: Arc::new(bus.clone()),
        checks: Vec::new(),
        #[cfg(feature = "gcp")]
        gcp: None,
    };
    let on_gcp = settings.store.backend == StoreBackend::Firestore
        || settings.bus.backend == BusBackend::Pubsub;
    if !on_gcp {
        return Ok(embedded);
    }
    gcp_ports(settings, embedded).await
}

#[cfg(not(feature = "gcp"))]
async fn gcp_ports(_: &Settings, _: StatePorts) -> anyhow::Result<StatePorts> {
    anyhow::bail!(
        "store.backend = \"firestore\" and bus.backend = \"pubsub\" need a binary built with `--features gcp`"
    )
}

#[cfg(feature = "gcp")]
async fn gcp_ports(settings: &Settings, embedded: StatePorts) -> anyhow::Result<StatePorts> {
    gcp::ports(settings, embedded).await
}

/// A [`MessageHandler`] that POSTs the delivery as a Pub/Sub push envelope. Like Pub/Sub, a 2xx
/// answer acknowledges; anything else (or no answer) means "deliver again later".
struct HttpPush {
    client: reqwest::Client,
    url: String,
    token: Option<SecretString>,
}

#[async_trait]
impl MessageHandler for HttpPush {
    async fn handle(&self, delivery: &Delivery) -> HandleOutcome {
        let envelope = PushEnvelope::from(delivery);
        let mut request = self.client.post(&self.url).json(&envelope);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose_secret());
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => HandleOutcome::Ack,
            Ok(response) => HandleOutcome::Retry {
                after: response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, chrono::Utc::now())),
                reason: format!("push endpoint answered {}", response.status()),
            },
            Err(e) => HandleOutcome::Retry {
                reason: format!("push endpoint unreachable: {e}"),
                after: None,
            },
        }
    }
}

/// The settings for a test: a fresh data directory, port 0, fast retries, no demo unless asked.
pub fn test_settings(data_dir: &std::path::Path) -> Settings {
    let mut s = Settings {
        host: "127.0.0.1".to_owned(),
        port: 0,
        data_dir: data_dir.to_path_buf(),
        demo: false,
        workers: Some(2),
        shutdown_grace_secs: 2,
        ..Settings::default()
    };
    // Keyword-only unless a test opts in: embedding the demo tenant costs each test a second of
    // CPU, and the tests that are about embeddings set `knowledge.embedder` themselves.
    s.knowledge.embedder = EmbedderChoice::None;
    // Each message answered at once: the burst test sets its own window.
    s.processor.burst_window_ms = 0;
    s.bus.min_backoff_ms = 50;
    s.bus.max_backoff_ms = 500;
    s.dispatcher.first_retry_ms = 10;
    s.dispatcher.max_retry_ms = 100;
    s.dispatcher.per_recipient_per_minute = 600;
    s.dispatcher.per_recipient_burst = 50;
    s
}

/// The settings as JSON, secrets left out (they are never serialized).
pub fn redacted_settings(settings: &Settings) -> String {
    serde_json::to_string_pretty(settings).unwrap_or_default()
}

/// Command-line options every service binary accepts.
#[derive(Debug, clap::Parser)]
#[command(version, about)]
pub struct ServiceArgs {
    /// A TOML configuration file (default: $ATIENDE_CONFIG, else ./atiende.toml if present).
    #[arg(long, value_name = "PATH")]
    pub config: Option<std::path::PathBuf>,
    /// Print the effective settings (without secrets) and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// Loads settings for a binary, printing a readable error and returning the exit code on failure
/// (78, `EX_CONFIG`).
pub fn load_settings(args: &ServiceArgs) -> Result<Settings, std::process::ExitCode> {
    match Settings::load(args.config.as_deref()) {
        Ok(settings) => Ok(settings),
        Err(error) => {
            eprintln!("error: {error}");
            Err(std::process::ExitCode::from(78))
        }
    }
}

/// Runs one service alone: binds, opens the embedded adapters, lets `setup` register the
/// service's routes (and bus subscriptions), serves `/health*` too, and shuts down gracefully.
pub async fn run_service<F, Fut>(
    name: &'static str,
    settings: Settings,
    setup: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Embedded) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<atiende_platform::server::Configure>>,
{
    use atiende_platform::{
        health::Health,
        server::{self, ServerOptions},
    };
    let listener = std::net::TcpListener::bind((settings.host.as_str(), settings.port))
        .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
    let port = listener.local_addr()?.port();
    let infra = Embedded::open(&settings, port).await?;
    let routes = setup(infra.clone()).await?;
    let health = Arc::new(Health::new(name, infra.health_checks()));
    let configure: atiende_platform::server::Configure = Arc::new(move |cfg| {
        Arc::clone(&health).configure(cfg);
        routes(cfg);
    });
    let server = server::build(
        listener,
        &ServerOptions::from_settings(&settings),
        configure,
    )?;
    info!(service = name, port, public_url = %infra.public_url, "Listening.");
    let result = server.await;
    infra.shutdown().await;
    info!(service = name, "Stopped.");
    result.context("the HTTP server failed")
}

/// `main` for every binary: parse arguments, load settings (exit 78 with the setting named when
/// one is wrong), start logging, run `run` on a multi-threaded runtime.
pub fn service_main<F, Fut>(name: &'static str, run: F) -> std::process::ExitCode
where
    F: FnOnce(Settings) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    use clap::Parser as _;
    let args = ServiceArgs::parse();
    let settings = match load_settings(&args) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    if args.print_config {
        println!("{}", redacted_settings(&settings));
        return std::process::ExitCode::SUCCESS;
    }
    let telemetry =
        atiende_platform::telemetry::init(&settings.log, name, settings.gcp.project().as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(settings));
    drop(runtime);
    // Spans and metrics still buffered leave before the process does.
    telemetry.shutdown();
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {name}: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The keyword and vector indexes `knowledge.index` names.
fn indexes(
    knowledge: &KnowledgeSettings,
) -> anyhow::Result<(Arc<dyn KeywordIndex>, Arc<dyn VectorIndex>)> {
    match knowledge.index {
        IndexChoice::Embedded => Ok((
            Arc::new(TantivyIndex::new()),
            Arc::new(ExactVectorIndex::new()),
        )),
        IndexChoice::Qdrant => qdrant_indexes(knowledge),
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
fn qdrant_indexes(
    knowledge: &KnowledgeSettings,
) -> anyhow::Result<(Arc<dyn KeywordIndex>, Arc<dyn VectorIndex>)> {
    let client = Arc::new(qdrant_knowledge(knowledge)?);
    Ok((client.clone(), client))
}

#[cfg(not(feature = "qdrant"))]
fn qdrant_indexes(
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
