//! The state and the bus, on the backends `store.backend` and `bus.backend` name.
//!
//! [`Stores`] holds every store port, and is built from one adapter that implements them all
//! ([`Stores::on`]): a backend that left a port out would not compile, so "the backend is a
//! setting" holds for every piece of state — tenants and conversations as much as agents, web
//! chat transcripts, accounts, the budget's ledger, the audit and the embedding cache. On
//! Firestore with Pub/Sub nothing is opened on the instance's disk at all.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use atiende_adapter_sqlite::{BusConfig, Db, Durability, SqliteBus, SqliteStores};
use atiende_platform::{
    Settings,
    config::{BusBackend, StoreBackend},
};
use atiende_ports::{
    AccountStore, AgentStore, ApiKeyStore, ConversationStore, DeadLetterStore, DeliveryLog,
    DeskLinkStore, EmbeddingCache, EventPublisher, HealthCheck, JobStore, KnowledgeStore, Outbox,
    SecurityAudit, StatsLedger, TenantStore, UsageLedger, WebChatStore,
};

/// Every store port, on one backend.
#[derive(Clone)]
pub struct Stores {
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
    /// Passage vectors, embedded once per model.
    pub embeddings: Arc<dyn EmbeddingCache>,
    /// The console's agents.
    pub agents: Arc<dyn AgentStore>,
    /// Tenants' API keys for the admin.
    pub api_keys: Arc<dyn ApiKeyStore>,
    /// Where conversations live at external desks.
    pub desk_links: Arc<dyn DeskLinkStore>,
    /// Web chat transcripts.
    pub webchat: Arc<dyn WebChatStore>,
    /// Tenants' credit accounts.
    pub accounts: Arc<dyn AccountStore>,
    /// Model spending per tenant and month.
    pub usage: Arc<dyn UsageLedger>,
    /// The security audit log.
    pub audit: Arc<dyn SecurityAudit>,
    /// Knowledge ingestion jobs' status.
    pub jobs: Arc<dyn JobStore>,
    /// Tenants' daily counters.
    pub stats: Arc<dyn StatsLedger>,
}

impl Stores {
    /// Every port on `store`.
    pub fn on<S>(store: Arc<S>) -> Self
    where
        S: TenantStore
            + ConversationStore
            + Outbox
            + DeliveryLog
            + DeadLetterStore
            + KnowledgeStore
            + EmbeddingCache
            + AgentStore
            + ApiKeyStore
            + DeskLinkStore
            + WebChatStore
            + AccountStore
            + UsageLedger
            + SecurityAudit
            + JobStore
            + StatsLedger
            + 'static,
    {
        Self {
            tenants: store.clone(),
            conversations: store.clone(),
            outbox: store.clone(),
            delivery: store.clone(),
            dead_letters: store.clone(),
            knowledge: store.clone(),
            embeddings: store.clone(),
            agents: store.clone(),
            api_keys: store.clone(),
            desk_links: store.clone(),
            webchat: store.clone(),
            accounts: store.clone(),
            usage: store.clone(),
            audit: store.clone(),
            jobs: store.clone(),
            // Every count is also an OpenTelemetry metric.
            stats: Arc::new(atiende_platform::meter::MeteredStats::new(store)),
        }
    }
}

/// The state and bus ports the settings chose.
#[derive(Clone)]
pub struct StatePorts {
    /// The stores.
    pub stores: Stores,
    /// The bus's publisher.
    pub publisher: Arc<dyn EventPublisher>,
    /// What `/health/ready` asks.
    pub checks: Vec<Arc<dyn HealthCheck>>,
    /// The embedded bus, when `bus.backend = "embedded"`.
    pub(crate) bus: Option<SqliteBus>,
    /// Settings the GCP adapters need after start (pull workers, push verification).
    #[cfg(feature = "gcp")]
    pub(crate) gcp: Option<crate::gcp::Connected>,
}

/// Opens the backends the settings name. The data directory is opened only when something lives
/// there: the SQLite store or the embedded bus.
pub(crate) async fn open(settings: &Settings) -> anyhow::Result<StatePorts> {
    let on_disk = settings.store.backend == StoreBackend::Sqlite
        || settings.bus.backend == BusBackend::Embedded;
    let db = if on_disk {
        let durability = match settings.store.durability.as_str() {
            "full" => Durability::Full,
            _ => Durability::Normal,
        };
        Some(Db::open(&settings.data_dir, durability).with_context(|| {
            format!(
                "cannot open the data directory {}",
                settings.data_dir.display()
            )
        })?)
    } else {
        None
    };
    let bus = match (&db, settings.bus.backend) {
        (Some(db), BusBackend::Embedded) => Some(SqliteBus::new(
            db.clone(),
            BusConfig {
                max_in_flight: settings.bus.max_in_flight,
                max_attempts: settings.bus.max_attempts,
                min_backoff: Duration::from_millis(settings.bus.min_backoff_ms),
                max_backoff: Duration::from_millis(settings.bus.max_backoff_ms),
                handler_timeout: Duration::from_millis(settings.bus.handler_timeout_ms),
                ..BusConfig::default()
            },
        )),
        _ => None,
    };
    let mut checks: Vec<Arc<dyn HealthCheck>> = Vec::new();
    let sqlite = match (settings.store.backend, &db) {
        (StoreBackend::Sqlite, Some(db)) => {
            let sqlite = Arc::new(SqliteStores::new(db.clone()));
            checks.push(sqlite.clone());
            Some(Stores::on(sqlite))
        }
        _ => None,
    };
    let embedded_bus = bus.as_ref().map(|bus| {
        checks.push(Arc::new(bus.clone()));
        Arc::new(bus.clone()) as Arc<dyn EventPublisher>
    });
    let (stores, publisher) = match (sqlite, embedded_bus) {
        (Some(stores), Some(publisher)) => (stores, publisher),
        (sqlite, embedded_bus) => gcp_ports(settings, sqlite, embedded_bus, &mut checks).await?,
    };
    Ok(StatePorts {
        stores,
        publisher,
        checks,
        bus,
        #[cfg(feature = "gcp")]
        gcp: if on_gcp(settings) {
            Some(crate::gcp::connected(settings)?)
        } else {
            None
        },
    })
}

#[cfg(feature = "gcp")]
fn on_gcp(settings: &Settings) -> bool {
    settings.store.backend == StoreBackend::Firestore || settings.bus.backend == BusBackend::Pubsub
}

/// The ports that live on GCP: Firestore for the stores unless SQLite has them, Pub/Sub for the
/// bus unless the embedded bus carries it (the webhook dedupe then goes to Firestore too).
#[cfg(feature = "gcp")]
async fn gcp_ports(
    settings: &Settings,
    sqlite: Option<Stores>,
    embedded_bus: Option<Arc<dyn EventPublisher>>,
    checks: &mut Vec<Arc<dyn HealthCheck>>,
) -> anyhow::Result<(Stores, Arc<dyn EventPublisher>)> {
    // Firestore and Pub/Sub are connected at once: a service's start pays for the slower only.
    let connect_firestore = async {
        match settings.store.backend {
            StoreBackend::Firestore => crate::gcp::firestore(settings).await.map(Some),
            StoreBackend::Sqlite => Ok(None),
        }
    };
    let on_pubsub = embedded_bus.is_none();
    let connect_pubsub = async {
        if on_pubsub {
            crate::gcp::pubsub(settings).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let (firestore, pubsub) = tokio::join!(connect_firestore, connect_pubsub);
    let (firestore, pubsub) = (firestore?, pubsub?);
    let stores = match (&firestore, sqlite) {
        (Some(firestore), _) => {
            let firestore = Arc::new(firestore.clone());
            checks.push(firestore.clone());
            Stores::on(firestore)
        }
        (None, Some(sqlite)) => sqlite,
        (None, None) => anyhow::bail!("no store for store.backend"),
    };
    let publisher = match (embedded_bus, pubsub) {
        (Some(bus), _) => bus,
        (None, Some((publisher, health))) => {
            checks.push(health);
            crate::gcp::with_dedupe(settings, publisher, firestore.as_ref())
        }
        (None, None) => anyhow::bail!("no publisher for bus.backend"),
    };
    Ok((stores, publisher))
}

#[cfg(not(feature = "gcp"))]
async fn gcp_ports(
    _: &Settings,
    _: Option<Stores>,
    _: Option<Arc<dyn EventPublisher>>,
    _: &mut Vec<Arc<dyn HealthCheck>>,
) -> anyhow::Result<(Stores, Arc<dyn EventPublisher>)> {
    anyhow::bail!(
        "store.backend = \"firestore\" and bus.backend = \"pubsub\" need a binary built with `--features gcp`"
    )
}
