//! Wiring of the GCP adapters (`--features gcp`): Firestore for state, Pub/Sub for the bus, OIDC
//! verification of push requests, and pull workers for running outside Cloud Run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use atiende_adapter_gcp::oidc::{OidcSettings, OidcVerifier};
use atiende_adapter_gcp::pubsub::PubSubHealth;
use atiende_adapter_gcp::{
    FirestoreStores, PubSubPublisher, PubSubSettings, PullOptions, PullWorker, Topology,
};
use atiende_domain::Topic;
use atiende_platform::Settings;
use atiende_platform::config::{BusBackend, PubSubDelivery};
use atiende_platform::push::{DESK_WAIT_TASK, push_path};
use atiende_ports::bus::PushAuthenticator;
use atiende_ports::{DeadLetterStore, EventPublisher, HealthCheck, MessageHandler};
use tracing::info;

/// What the GCP adapters need after start.
#[derive(Clone)]
pub(crate) struct Connected {
    pubsub: PubSubSettings,
    /// Whether this process pulls its subscriptions.
    pub(crate) pull: bool,
    /// The push-token verifier, when push requests must carry Google's OIDC token.
    pub(crate) oidc: Option<Arc<dyn PushAuthenticator>>,
    pull_options: PullOptions,
}

impl Connected {
    /// A streaming-pull worker for `subscription`.
    pub(crate) async fn worker(
        &self,
        subscription: &str,
        handler: Arc<dyn MessageHandler>,
        dead_letters: Arc<dyn DeadLetterStore>,
    ) -> anyhow::Result<PullWorker> {
        PullWorker::connect(
            &self.pubsub,
            subscription,
            handler,
            dead_letters,
            self.pull_options.clone(),
        )
        .await
        .with_context(|| format!("cannot pull {subscription}"))
    }
}

/// Connects to Firestore (`gcp.project`, `gcp.firestore_database`).
pub(crate) async fn firestore(settings: &Settings) -> anyhow::Result<FirestoreStores> {
    let g = &settings.gcp;
    let project = project(settings)?;
    let stores = FirestoreStores::connect(&project, &g.firestore_database)
        .await
        .context("cannot connect to Firestore")?;
    info!(project = %project, database = %g.firestore_database, "State on Firestore.");
    Ok(stores)
}

fn project(settings: &Settings) -> anyhow::Result<String> {
    settings
        .gcp
        .project()
        .context("gcp.project is not set (ATIENDE_GCP__PROJECT or GOOGLE_CLOUD_PROJECT)")
}

fn pubsub_settings(settings: &Settings) -> anyhow::Result<PubSubSettings> {
    let g = &settings.gcp;
    Ok(PubSubSettings {
        project: project(settings)?,
        endpoint: g.pubsub_endpoint(),
        suffix: g.topology_suffix.clone(),
    })
}

/// The Pub/Sub publisher (creating the topology first when `gcp.create_topology` asks) and its
/// health check; [`with_dedupe`] adds the webhook dedupe once Firestore is connected.
pub(crate) async fn pubsub(
    settings: &Settings,
) -> anyhow::Result<(PubSubPublisher, Arc<dyn HealthCheck>)> {
    let g = &settings.gcp;
    let pubsub = pubsub_settings(settings)?;
    if g.create_topology {
        let mut push_endpoints = BTreeMap::new();
        for (topic, base) in [
            (Topic::Inbound, &settings.bus.push.processor),
            (Topic::Outbound, &settings.bus.push.dispatcher),
        ] {
            if let Some(base) = base {
                push_endpoints.insert(
                    topic.subscription().to_owned(),
                    format!(
                        "{}{}",
                        base.trim_end_matches('/'),
                        push_path(topic.subscription())
                    ),
                );
            }
        }
        atiende_adapter_gcp::ensure_topology(
            &pubsub,
            &Topology {
                push_endpoints,
                // A backstop above bus.max_attempts: the consumers park a message that
                // keeps failing themselves, with its reason.
                max_delivery_attempts: i32::try_from(
                    settings.bus.max_attempts.saturating_add(5).clamp(5, 100),
                )
                .unwrap_or(15),
                ack_deadline_secs: i32::try_from(g.ack_deadline_secs.clamp(10, 600)).unwrap_or(120),
            },
        )
        .await
        .context("cannot create the Pub/Sub topics and subscriptions")?;
    }
    // The clients are independent: built at once, they cost a service's start one of them.
    let (publisher, health) = tokio::join!(
        PubSubPublisher::connect(&pubsub),
        PubSubHealth::connect(&pubsub)
    );
    let publisher = publisher.context("cannot connect to Pub/Sub")?;
    let health: Arc<dyn HealthCheck> = Arc::new(health.context("cannot connect to Pub/Sub")?);
    info!(project = %pubsub.project, emulator = ?pubsub.endpoint, delivery = ?g.delivery, "Bus on Pub/Sub.");
    Ok((publisher, health))
}

/// `publisher` dropping webhooks whose provider id Firestore has seen (`gcp.dedupe_ttl_secs`).
pub(crate) fn with_dedupe(
    settings: &Settings,
    publisher: PubSubPublisher,
    firestore: Option<&FirestoreStores>,
) -> Arc<dyn EventPublisher> {
    Arc::new(match firestore {
        Some(stores) => publisher.with_dedupe(
            Arc::new(stores.clone()),
            Duration::from_secs(settings.gcp.dedupe_ttl_secs),
        ),
        None => publisher,
    })
}

/// What the GCP adapters need after start: pull settings and the push requests' verifier.
pub(crate) fn connected(settings: &Settings) -> anyhow::Result<Connected> {
    let g = &settings.gcp;
    let oidc = g.push_service_account.clone().map(|account| {
        let audiences = if let Some(audience) = &g.push_audience {
            vec![audience.clone()]
        } else {
            settings
                .public_url
                .iter()
                .flat_map(|base| {
                    let base = base.trim_end_matches('/');
                    Topic::ALL
                        .map(|t| format!("{base}{}", push_path(t.subscription())))
                        .into_iter()
                        .chain([format!("{base}{DESK_WAIT_TASK}")])
                })
                .collect()
        };
        let mut oidc = OidcSettings::google(audiences, account);
        oidc.certs_url = g.oidc_certs_url.clone();
        oidc.issuers = g.oidc_issuers.clone();
        OidcVerifier::new(oidc, reqwest::Client::new()) as Arc<dyn PushAuthenticator>
    });
    Ok(Connected {
        pubsub: pubsub_settings(settings)?,
        pull: settings.bus.backend == BusBackend::Pubsub && g.delivery == PubSubDelivery::Pull,
        oidc,
        pull_options: PullOptions {
            max_outstanding: i64::try_from(settings.bus.max_in_flight).unwrap_or(64),
            retry_backoff: Duration::from_millis(settings.bus.min_backoff_ms),
            max_retry_backoff: Duration::from_millis(settings.bus.max_backoff_ms)
                .min(Duration::from_secs(60)),
            max_attempts: settings.bus.max_attempts,
        },
    })
}
