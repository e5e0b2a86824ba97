//! atiende all in one: the four services in one process, on the embedded adapters.
//!
//! The same service code that runs as four Cloud Run services runs here behind one port: ingest
//! and admin routes on the HTTP server, processor and dispatcher subscribed to the embedded bus
//! in-process. State lives in `$ATIENDE_DATA_DIR`; the demo tenant is loaded at start. This is
//! what `cargo run` starts, and what the end-to-end tests drive.

pub mod eval;
pub mod kb;
pub mod qdrant;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use atiende_admin::Admin;
use atiende_bootstrap::Embedded;
use atiende_domain::Topic;
use atiende_ingest::Ingest;
use atiende_platform::{
    Settings,
    health::Health,
    server::{self, Configure, ServerOptions},
};
use tracing::info;

/// A running atiende.
pub struct Running {
    port: u16,
    infra: Embedded,
    handle: actix_web::dev::ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts atiende: binds, opens the data directory, loads the demo tenant if enabled, subscribes
/// processor and dispatcher to the bus and serves HTTP. Returns once it accepts requests.
pub async fn start(settings: Settings) -> anyhow::Result<Running> {
    let listener = TcpListener::bind((settings.host.as_str(), settings.port))
        .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
    let port = listener.local_addr()?.port();
    let infra = Embedded::open(&settings, port).await?;
    infra.load_demo_if_enabled().await?;

    let ingest = Arc::new(Ingest::new(&infra));
    let admin = Arc::new(Admin::new(&infra)?);
    let processor = atiende_processor::consumer(&infra)?;
    let dispatcher = atiende_dispatcher::consumer(&infra);
    if infra.embedded_bus() {
        let bus = infra.bus()?;
        bus.subscribe(Topic::Inbound.subscription(), processor.handler())?;
        bus.subscribe(Topic::Outbound.subscription(), dispatcher.handler())?;
    } else {
        // All in one on Pub/Sub: no push routes here, so this process pulls both.
        infra
            .pull(Topic::Inbound.subscription(), processor.handler())
            .await?;
        infra
            .pull(Topic::Outbound.subscription(), dispatcher.handler())
            .await?;
    }
    infra.spawn_wait_watch();
    infra.spawn_media_sweep();
    if settings.admin_token.is_none() {
        tracing::warn!("ATIENDE_ADMIN_TOKEN is not set: the admin API is disabled.");
    }

    let health = Arc::new(Health::new("atiende", infra.health_checks()));
    // Processor and dispatcher are reached through the in-process bus, so their push routes are
    // not exposed here.
    let configure: Configure = Arc::new(move |cfg| {
        Arc::clone(&health).configure(cfg);
        Arc::clone(&ingest).configure(cfg);
        Arc::clone(&admin).configure(cfg);
    });
    let server = server::build(
        listener,
        &ServerOptions::from_settings(&settings),
        configure,
    )?;
    let handle = server.handle();
    let server = tokio::spawn(server);
    info!(port, public_url = %infra.public_url, data_dir = %settings.data_dir.display(), "atiende is listening.");
    Ok(Running {
        port,
        infra,
        handle,
        server,
    })
}

impl Running {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:{port}`.
    pub fn local_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The public URL webhooks are verified against.
    pub fn public_url(&self) -> &str {
        &self.infra.public_url
    }

    /// The adapters, for tests that look inside.
    pub fn infra(&self) -> &Embedded {
        &self.infra
    }

    /// Waits until the bus has nothing left to deliver; returns whether it drained in time.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        self.infra.wait_idle(timeout).await
    }

    /// Serves until the server stops (SIGTERM, Ctrl-C), then lets in-flight deliveries finish.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let result = self.server.await;
        self.infra.shutdown().await;
        info!("atiende stopped.");
        result
            .context("the HTTP server task failed")?
            .context("the HTTP server failed")
    }

    /// Stops gracefully: the server stops accepting, in-flight requests and deliveries finish.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.server.await;
        self.infra.shutdown().await;
    }
}
