//! The composition root: turns [`Settings`] into running adapters and use cases.
//!
//! Every binary — the four services and the all-in-one `atiende` — builds its dependencies here,
//! so they are wired the same way everywhere: the embedded adapters (SQLite store and bus, tantivy
//! keyword index, the exact vector index and multilingual-e5-small when fetched) by default, and
//! — chosen by `store.backend`, `bus.backend` and `knowledge.index`, behind the `gcp` and `qdrant`
//! cargo features — Firestore, Pub/Sub and Qdrant, without the services noticing.
//!
//! Each service builds only what it uses ([`Needs`]): ingest and the dispatcher get no knowledge
//! index, embedding model or model chain, so they start in milliseconds and stay small.
//!
//! # Layout
//! * [`state`]: every store port and the bus, on the backends the settings name.
//! * `knowledge`: the keyword and vector indexes and the embedding model.
//! * `model`: the chain of language-model providers.
//! * `push`: push authentication and the embedded bus's HTTP push between processes.
//! * `outbound`: the HTTP client for tenants' own URLs (desks, alerts, CRM), which reaches
//!   only public addresses and follows no redirects.
//! * `cli`: command line, settings, logging, runtime; serving one service.
//! * `gcp` (`--features gcp`): Firestore, Pub/Sub, OIDC and pull workers.

mod cli;
#[cfg(feature = "gcp")]
mod gcp;
mod knowledge;
mod model;
mod outbound;
mod push;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use atiende_adapter_chatwoot::ChatwootDesk;
use atiende_adapter_meta::{MetaMedia, MetaSender};
use atiende_adapter_rocketchat::RocketChatDesk;
use atiende_adapter_twilio::{TwilioMedia, TwilioSender};
use atiende_adapter_webhooks::{SignedWebhookCrm, SlackAlerter};
use atiende_app::{
    accounts::AccountsAdmin,
    conversations::ConversationAdmin,
    desk::{AgentConsole, WaitWatch},
    dispatcher::{DispatchPolicy, OutboundDispatcher},
    engine::{ConversationEngine, EngineSettings},
    ingest::InboundGateway,
    knowledge::{DenseRetrieval, KnowledgeService},
    media_links::MediaLinks,
    processor::InboundProcessor,
    responder::ExtractiveResponder,
    simulate::Simulator,
    skills::Skills,
    tenants::{CachedTenantStore, TenantAdmin},
    webchat::WebChatSender,
};
use atiende_domain::retrieval::DenseCalibration;
use atiende_platform::{
    Settings,
    config::{BusBackend, KnowledgeSettings},
    push::push_path,
};
use atiende_ports::{
    ChannelSender, Clock, DeadLetterStore, DeskLinkStore, EventPublisher, HealthCheck,
    KeywordIndex, MediaStore, MessageHandler, Outbox, SystemClock, TenantStore, WebChatStore,
    bus::PushAuthenticator,
};
use secrecy::SecretString;
use tracing::{info, warn};

pub use cli::{
    ServiceArgs, load_settings, redacted_settings, run_service, service_main, test_settings,
};
pub use knowledge::embedder;
#[cfg(feature = "qdrant")]
pub use knowledge::qdrant_setup;
pub use model::model_chain;
pub use state::{StatePorts, Stores};

/// The allocator of every atiende process. A webhook's life is dozens of short-lived allocations
/// (form fields, JSON, the event) made on one worker thread and freed on another; glibc's malloc
/// spent about a fifth of ingest's CPU on that under load (`perf`, docs/benchmarks.md), mimalloc's
/// thread-local free lists do not.
#[cfg(not(feature = "heap-stats"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// With `--features heap-stats`, the system allocator, counting what passes through it (a
/// counting wrapper around mimalloc cannot be built in a static on stable Rust; what the program
/// holds does not depend on the allocator).
#[cfg(feature = "heap-stats")]
#[global_allocator]
static ALLOCATOR: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

/// The bytes the program holds on the heap right now (allocated and not yet freed), when the
/// binary was built with `heap-stats`: unlike the resident size, it leaves out the pages the
/// allocator keeps for reuse.
pub fn heap_live_bytes() -> Option<u64> {
    #[cfg(feature = "heap-stats")]
    {
        // A reallocation is already counted as bytes allocated (growth) or freed (shrinking).
        let s = ALLOCATOR.stats();
        u64::try_from(s.bytes_allocated.saturating_sub(s.bytes_deallocated)).ok()
    }
    #[cfg(not(feature = "heap-stats"))]
    None
}

/// How long a tenant lookup is cached (the bound on how stale another process's view can be).
const TENANT_CACHE_TTL: Duration = Duration::from_secs(5);

/// What a service uses beyond the state and the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// Knowledge search: the indexes and the embedding model (its weights alone are ~100 MiB
    /// of memory and a second of start-up).
    pub knowledge: bool,
    /// The language-model chain (only with `knowledge`: the engine grounds its answers in it).
    pub model: bool,
}

impl Needs {
    /// Everything: the all-in-one binary, the processor and admin.
    pub const ALL: Self = Self {
        knowledge: true,
        model: true,
    };
    /// The state and the bus only: ingest and the dispatcher.
    pub const STATE: Self = Self {
        knowledge: false,
        model: false,
    };
}

/// Everything a service needs, on the backends the settings chose.
#[derive(Clone)]
pub struct Embedded {
    /// The settings it was built from.
    pub settings: Arc<Settings>,
    /// The public URL providers call (with the port actually bound).
    pub public_url: String,
    /// Tenants, cached.
    pub tenants: Arc<dyn TenantStore>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The HTTP client for providers and push deliveries.
    pub http: reqwest::Client,
    /// The HTTP client for URLs a tenant supplied (its desk, alert webhook and CRM): public
    /// addresses only, unless `allow_private_urls`, and no redirects.
    pub tenant_http: reqwest::Client,
    /// The conversation engine, when language models are configured.
    pub engine: Option<Arc<ConversationEngine>>,
    /// Knowledge search with its keyword index, when the service needs it.
    knowledge: Option<(Arc<KnowledgeService>, Arc<dyn KeywordIndex>)>,
    /// The state and bus ports.
    ports: StatePorts,
    /// Where customers' and agents' files are kept, when anywhere.
    media: Option<Arc<dyn MediaStore>>,
    /// The links to kept files, when files are kept.
    media_links: Option<Arc<MediaLinks>>,
    /// Pull workers started by [`Embedded::consume`], stopped at shutdown.
    workers: Arc<Workers>,
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
    /// Builds everything ([`Needs::ALL`]). `bound_port` is the port the server listens on (the
    /// default public URL uses it).
    pub async fn open(settings: &Settings, bound_port: u16) -> anyhow::Result<Self> {
        Self::open_for(settings, bound_port, Needs::ALL).await
    }

    /// Builds the state, the bus and what `needs` asks for.
    pub async fn open_for(
        settings: &Settings,
        bound_port: u16,
        needs: Needs,
    ) -> anyhow::Result<Self> {
        // Building the HTTP client loads the system's root certificates (tens of milliseconds):
        // on a blocking thread while the state's clients connect.
        let request_timeout = Duration::from_millis(settings.dispatcher.request_timeout_ms);
        let allow_private = settings.allow_private_urls;
        let http = tokio::task::spawn_blocking(move || {
            let builder = || {
                reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .timeout(request_timeout)
                    .user_agent(concat!("atiende/", env!("CARGO_PKG_VERSION")))
            };
            let tenant = outbound::tenant_client(builder(), allow_private)?;
            Ok::<_, reqwest::Error>((builder().build()?, tenant))
        });
        let ports = state::open(settings).await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let tenants: Arc<dyn TenantStore> = Arc::new(CachedTenantStore::new(
            ports.stores.tenants.clone(),
            TENANT_CACHE_TTL,
        ));
        let (http, tenant_http) = http
            .await
            .context("the HTTP client's builder stopped")?
            .context("cannot build the HTTP client")?;
        let knowledge = if needs.knowledge {
            Some(knowledge_service(&settings.knowledge, &ports.stores, &clock).await?)
        } else {
            None
        };
        let engine = match (&knowledge, needs.model) {
            (Some((knowledge, _)), true) => model::model_chain(&settings.llm, &http).map(|chain| {
                let l = &settings.llm;
                Arc::new(
                    ConversationEngine::new(
                        knowledge.clone(),
                        chain,
                        ports.stores.accounts.clone(),
                        ports.stores.usage.clone(),
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
                            default_monthly_budget_usd: l.default_monthly_budget_usd,
                        },
                    )
                    .with_audit(ports.stores.audit.clone())
                    .with_stats(ports.stores.stats.clone()),
                )
            }),
            _ => None,
        };
        let media = media_store(settings, &http)?;
        let public_url = settings.public_url(bound_port);
        let media_links = match &media {
            Some(_) => Some(Arc::new(media_links(settings, &public_url, clock.clone())?)),
            None => None,
        };
        info!(store = ?settings.store.backend, bus = ?settings.bus.backend, knowledge = needs.knowledge, models = ?engine.as_ref().map(|_| settings.llm.providers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>()), "Adapters ready.");
        Ok(Self {
            public_url,
            settings: Arc::new(settings.clone()),
            tenants,
            clock,
            http,
            tenant_http,
            engine,
            knowledge,
            ports,
            media,
            media_links,
            workers: Arc::new(Workers::default()),
        })
    }

    /// Where customers' and agents' files are kept (`None`: on Firestore without
    /// `media.bucket`, they are not).
    pub fn media(&self) -> Option<Arc<dyn MediaStore>> {
        self.media.clone()
    }

    /// The links to kept files (agents' for the provider, customers' signed for an external
    /// desk), when files are kept.
    pub fn media_links(&self) -> Option<Arc<MediaLinks>> {
        self.media_links.clone()
    }

    /// Every store port.
    pub fn stores(&self) -> &Stores {
        &self.ports.stores
    }

    /// Knowledge ingestion and search; an error for a service built without it.
    pub fn knowledge(&self) -> anyhow::Result<Arc<KnowledgeService>> {
        self.knowledge
            .as_ref()
            .map(|(k, _)| k.clone())
            .context("this service was built without knowledge search (Needs::knowledge)")
    }

    /// Loads the demo tenant when the settings ask for it.
    pub async fn load_demo_if_enabled(&self) -> anyhow::Result<()> {
        if self.settings.loads_demo() {
            if self.settings.demo.is_none() {
                tracing::info!(
                    "Loading the demo tenant (the embedded default at a local address; ATIENDE_DEMO=false turns it off)."
                );
            }
            atiende_demo::load(&self.tenant_admin()?, &*self.knowledge()?)
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
    pub fn simulator(&self) -> anyhow::Result<Simulator> {
        Ok(Simulator::new(
            self.tenants.clone(),
            self.ports.stores.conversations.clone(),
            Arc::new(ExtractiveResponder::new(
                self.knowledge()?,
                self.settings.processor.min_relevance,
            )),
            self.engine.clone(),
            self.clock.clone(),
        )
        .with_skills(self.skills()?))
    }

    /// The assistant's tools, driven without the model.
    fn skills(&self) -> anyhow::Result<Arc<Skills>> {
        Ok(Arc::new(Skills::new(
            self.knowledge()?,
            self.ports.stores.accounts.clone(),
        )))
    }

    /// Credit-account imports.
    pub fn accounts_admin(&self) -> AccountsAdmin {
        AccountsAdmin::new(self.ports.stores.accounts.clone())
    }

    /// The publisher.
    pub fn publisher(&self) -> Arc<dyn EventPublisher> {
        self.ports.publisher.clone()
    }

    /// The dead-letter store.
    pub fn dead_letters(&self) -> Arc<dyn DeadLetterStore> {
        self.ports.stores.dead_letters.clone()
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
            .map(|token| Arc::new(push::SharedToken(token)) as Arc<dyn PushAuthenticator>)
    }

    /// Refuses to serve push routes nobody authenticates: a service that exposes them (the
    /// processor and the dispatcher alone) needs `gcp.push_service_account` or
    /// `bus.push_token`, unless `bus.unauthenticated_push` says its network is private.
    pub fn require_push_auth(&self, service: &str) -> anyhow::Result<()> {
        if self.push_auth().is_some() || self.settings.bus.unauthenticated_push {
            return Ok(());
        }
        anyhow::bail!(
            "{service} serves push routes, and anyone could post to them: set gcp.push_service_account (Pub/Sub's OIDC token) or bus.push_token, or bus.unauthenticated_push = true on a private network or with Google's emulator"
        )
    }

    /// Whether push-style requests (push routes, scheduled tasks) may carry no credential: there
    /// is no authenticator and `bus.unauthenticated_push` allows it.
    pub fn unauthenticated_push(&self) -> bool {
        self.settings.bus.unauthenticated_push
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
        Arc::new(
            InboundGateway::new(self.publisher(), self.ports.stores.delivery.clone())
                .with_aliases(self.ports.stores.conversations.clone()),
        )
    }

    /// The processor's use case.
    pub fn processor(&self) -> anyhow::Result<Arc<InboundProcessor>> {
        let processor = InboundProcessor::new(
            self.tenants.clone(),
            self.ports.stores.conversations.clone(),
            self.publisher(),
            Arc::new(ExtractiveResponder::new(
                self.knowledge()?,
                self.settings.processor.min_relevance,
            )),
            self.clock.clone(),
        );
        let processor = processor
            .with_burst_window(Duration::from_millis(
                self.settings.processor.burst_window_ms,
            ))
            .with_stats(self.ports.stores.stats.clone())
            .with_skills(self.skills()?);
        // Customers' files are downloaded from their provider with the tenant's credentials and
        // kept for the people who read the conversation; voice notes are transcribed when a
        // transcription endpoint is configured.
        let processor = processor.with_media(
            Arc::new(ProviderMedia {
                twilio: TwilioMedia::new(self.http.clone(), &self.settings.twilio.api_base),
                meta: MetaMedia::new(
                    self.http.clone(),
                    &self.settings.meta.graph_base,
                    &self.settings.meta.graph_version,
                ),
            }),
            self.media.clone(),
            self.settings.media.max_bytes,
        );
        let processor = match &self.settings.llm.transcription {
            Some(t) => processor.with_voice(
                Arc::new(
                    atiende_adapter_openai::transcription::OpenAiTranscriber::new(
                        self.http.clone(),
                        &t.base_url,
                        &t.model,
                        t.api_key.clone(),
                        Duration::from_secs(t.timeout_secs),
                    ),
                ),
                t.max_bytes,
            ),
            None => processor,
        };
        Ok(Arc::new(match &self.engine {
            Some(engine) => processor.with_engine(engine.clone()),
            None => processor,
        }))
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
            self.ports.stores.outbox.clone(),
            self.ports.stores.delivery.clone(),
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
        .with_desk(Arc::new({
            let desk = ChatwootDesk::new(self.tenant_http.clone(), self.desk_links());
            match &self.media {
                Some(media) => desk.with_media(media.clone()),
                None => desk,
            }
        }))
        .with_desk(Arc::new({
            let desk = RocketChatDesk::new(self.tenant_http.clone(), self.desk_links());
            match &self.media_links {
                Some(links) => {
                    if !links.signs_customer_files() {
                        warn!(
                            "No media.link_key: an agent at Rocket.Chat sees what kind of file a customer sent, not the file (the console shows it)."
                        );
                    }
                    desk.with_media_links(links.clone())
                }
                None => desk,
            }
        }))
        .with_alerter(Arc::new(SlackAlerter::new(self.tenant_http.clone())))
        .with_leads(Arc::new(SignedWebhookCrm::new(self.tenant_http.clone())))
        .with_stats(self.ports.stores.stats.clone());
        Arc::new(match &self.media_links {
            Some(links) => dispatcher.with_media_links(links.clone()),
            None => dispatcher,
        })
    }

    /// Tenant onboarding.
    pub fn tenant_admin(&self) -> anyhow::Result<TenantAdmin> {
        let (_, index) = self
            .knowledge
            .as_ref()
            .context("tenant onboarding needs knowledge search (Needs::knowledge)")?;
        let admin = TenantAdmin::new(self.tenants.clone(), index.clone(), self.clock.clone())
            .allowing_private_urls(self.settings.allow_private_urls);
        Ok(match &self.media {
            Some(media) => admin.with_media(media.clone()),
            None => admin,
        })
    }

    /// Conversation operations.
    pub fn conversation_admin(&self) -> ConversationAdmin {
        ConversationAdmin::new(self.ports.stores.conversations.clone(), self.clock.clone())
    }

    /// The built-in agent console.
    pub fn console(&self) -> Arc<AgentConsole> {
        let console = AgentConsole::new(
            self.ports.stores.agents.clone(),
            self.ports.stores.conversations.clone(),
            self.gateway(),
            self.clock.clone(),
        );
        Arc::new(match &self.media {
            Some(media) => console.with_media(media.clone()),
            None => console,
        })
    }

    /// The check that tells customers nobody has taken their conversation yet; `None` when
    /// `processor.desk_wait_secs` is 0 (off).
    pub fn wait_watch(&self) -> Option<WaitWatch> {
        let p = &self.settings.processor;
        (p.desk_wait_secs > 0).then(|| {
            WaitWatch::new(
                self.tenants.clone(),
                self.ports.stores.conversations.clone(),
                self.gateway(),
                self.clock.clone(),
                Duration::from_secs(p.desk_wait_secs),
            )
        })
    }

    /// Runs [`Embedded::wait_watch`] every `processor.desk_wait_check_secs` in this process: the
    /// all-in-one binary's timer. Separate services have none (an instance may be scaled to
    /// zero); a scheduler calls ingest's `/tasks/desk-wait` instead.
    pub fn spawn_wait_watch(&self) {
        let Some(watch) = self.wait_watch() else {
            return;
        };
        let every = Duration::from_secs(self.settings.processor.desk_wait_check_secs);
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

    /// Deletes media files older than `media.retention_days` from the data directory, hourly, in
    /// this process: the all-in-one binary's counterpart of a bucket's lifecycle rule. Nothing
    /// to do with a bucket, without the embedded store, or with retention off.
    pub fn spawn_media_sweep(&self) {
        let m = &self.settings.media;
        if m.bucket.is_some()
            || m.retention_days == 0
            || self.settings.store.backend != atiende_platform::config::StoreBackend::Sqlite
        {
            return;
        }
        let files =
            atiende_adapter_sqlite::FileMediaStore::new(self.settings.data_dir.join("media"));
        let max_age = Duration::from_secs(u64::from(m.retention_days) * 86_400);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(3600));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let files = files.clone();
                match tokio::task::spawn_blocking(move || files.sweep(max_age)).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => info!(files = n, "Media past its retention deleted."),
                    Ok(Err(e)) => warn!(error = %e, "Could not sweep old media."),
                    Err(e) => warn!(error = %e, "The media sweep stopped."),
                }
            }
        });
    }

    /// Where conversations live at external desks.
    pub fn desk_links(&self) -> Arc<dyn DeskLinkStore> {
        self.ports.stores.desk_links.clone()
    }

    /// The web chat store.
    pub fn webchat(&self) -> Arc<dyn WebChatStore> {
        self.ports.stores.webchat.clone()
    }

    /// The outbox.
    pub fn outbox(&self) -> Arc<dyn Outbox> {
        self.ports.stores.outbox.clone()
    }

    /// What `/health/ready` checks.
    pub fn health_checks(&self) -> Vec<Arc<dyn HealthCheck>> {
        self.ports.checks.clone()
    }

    /// The embedded bus, when `bus.backend = "embedded"`: in-process subscriptions and HTTP
    /// push between processes go through it.
    pub fn bus(&self) -> anyhow::Result<&atiende_adapter_sqlite::SqliteBus> {
        self.ports
            .bus
            .as_ref()
            .context("the bus is not the embedded one (bus.backend)")
    }

    /// Waits until the embedded bus has nothing left to deliver; returns whether it drained in
    /// time (`true` at once on Pub/Sub, which this process cannot see into).
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        match &self.ports.bus {
            Some(bus) => bus.wait_idle(timeout).await,
            None => true,
        }
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
        let handler = Arc::new(push::HttpPush {
            client: self.http.clone(),
            url: format!(
                "{}{}",
                base_url.trim_end_matches('/'),
                push_path(subscription)
            ),
            token: self.settings.bus.push_token.clone(),
        });
        self.bus()?.subscribe(subscription, handler)?;
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
        if let Some(bus) = &self.ports.bus {
            bus.shutdown(grace).await;
        }
    }
}

async fn futures_join_all(handles: Vec<tokio::task::JoinHandle<()>>) {
    for handle in handles {
        let _ = handle.await;
    }
}

/// Knowledge search on the settings' indexes and embedding model, over the stores' documents
/// and cached vectors; with its keyword index (tenant deletion forgets a tenant there).
async fn knowledge_service(
    settings: &KnowledgeSettings,
    stores: &Stores,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<(Arc<KnowledgeService>, Arc<dyn KeywordIndex>)> {
    let (index, vectors) = knowledge::indexes(settings).await?;
    let mut service = KnowledgeService::new(stores.knowledge.clone(), index.clone(), clock.clone());
    if let Some(embedder) = knowledge::embedder(settings)? {
        service = service.with_dense(DenseRetrieval {
            embedder,
            index: vectors,
            cache: stores.embeddings.clone(),
            calibration: DenseCalibration {
                baseline: settings.dense_baseline,
                gain: settings.dense_gain,
                cross_baseline: settings.dense_cross_baseline,
            },
        });
    }
    Ok((Arc::new(service), index))
}

/// The media store the settings choose: Cloud Storage with `media.bucket` (on the emulator named by
/// `STORAGE_EMULATOR_HOST`, if set), files under the data directory with the embedded store, and
/// none on Firestore without a bucket (each Cloud Run instance's disk is its own).
fn media_store(
    settings: &Settings,
    http: &reqwest::Client,
) -> anyhow::Result<Option<Arc<dyn MediaStore>>> {
    if let Some(bucket) = &settings.media.bucket {
        #[cfg(feature = "gcp")]
        {
            let emulator = std::env::var("STORAGE_EMULATOR_HOST")
                .ok()
                .filter(|h| !h.is_empty());
            let store =
                atiende_adapter_gcp::CloudStorage::new(http.clone(), bucket, emulator.as_deref())?;
            return Ok(Some(Arc::new(store)));
        }
        #[cfg(not(feature = "gcp"))]
        {
            let _ = (bucket, http);
            anyhow::bail!("media.bucket needs a build with --features gcp (Cloud Storage)");
        }
    }
    if settings.store.backend == atiende_platform::config::StoreBackend::Sqlite {
        return Ok(Some(Arc::new(atiende_adapter_sqlite::FileMediaStore::new(
            settings.data_dir.join("media"),
        ))));
    }
    warn!(
        "No media.bucket with the Firestore store: customers' files are not kept, and agents cannot send files."
    );
    Ok(None)
}

/// The links to kept files under `public_url`. Customers' files are signed with `media.link_key`;
/// without one, the embedded store makes a random key once and keeps it in the data directory
/// (every process on that directory shares it), and a deployment on Firestore gives customers'
/// files no links.
fn media_links(
    settings: &Settings,
    public_url: &str,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<MediaLinks> {
    let links = MediaLinks::new(public_url, clock);
    let lifetime = chrono::Duration::days(settings.media.link_days.into());
    if let Some(key) = &settings.media.link_key {
        return Ok(links.signed(key.clone(), lifetime));
    }
    if settings.store.backend == atiende_platform::config::StoreBackend::Sqlite {
        let key = local_link_key(&settings.data_dir)?;
        return Ok(links.signed(key, lifetime));
    }
    Ok(links)
}

/// The link key kept in `data_dir`, made the first time. It is written whole under a temporary
/// name and then linked into place, so processes starting together agree on one key.
fn local_link_key(data_dir: &std::path::Path) -> anyhow::Result<SecretString> {
    let path = data_dir.join("media-link.key");
    if !path.exists() {
        std::fs::create_dir_all(data_dir)?;
        let key = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let temporary = data_dir.join(format!(".media-link.key.{}", uuid::Uuid::new_v4()));
        std::fs::write(&temporary, &key)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))?;
        }
        let linked = std::fs::hard_link(&temporary, &path);
        std::fs::remove_file(&temporary)?;
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    let key = std::fs::read_to_string(&path)?;
    Ok(SecretString::from(key.trim().to_owned()))
}

/// Customers' media, downloaded from the provider of the channel they wrote on.
struct ProviderMedia {
    twilio: TwilioMedia,
    meta: MetaMedia,
}

#[async_trait::async_trait]
impl atiende_ports::MediaFetcher for ProviderMedia {
    async fn fetch(
        &self,
        tenant: &atiende_domain::Tenant,
        channel: atiende_domain::Channel,
        media: &atiende_domain::MediaRef,
        max_bytes: usize,
    ) -> Result<atiende_ports::FetchedMedia, atiende_ports::PortError> {
        match channel {
            atiende_domain::Channel::MetaWhatsApp => {
                self.meta.fetch(tenant, channel, media, max_bytes).await
            }
            atiende_domain::Channel::TwilioWhatsApp | atiende_domain::Channel::WebChat => {
                self.twilio.fetch(tenant, channel, media, max_bytes).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn the_local_link_key_is_made_once_and_kept_private() {
        let dir = std::env::temp_dir().join(format!("atiende-link-key-{}", uuid::Uuid::new_v4()));
        let first = local_link_key(&dir).unwrap();
        let again = local_link_key(&dir).unwrap();
        assert_eq!(first.expose_secret(), again.expose_secret());
        assert_eq!(first.expose_secret().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("media-link.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Only the key is left: no temporary file.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
