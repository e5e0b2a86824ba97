//! What every binary shares around the composition: its command line, loading settings (exit 78
//! naming the wrong setting), logging and the runtime, serving one service with its health
//! routes, and the settings tests start from.

use std::sync::Arc;

use anyhow::Context as _;
use atiende_platform::{Settings, config::EmbedderChoice};
use tracing::info;

use crate::{Embedded, Needs};

/// The settings for a test: a fresh data directory, port 0, fast retries, no demo unless asked.
pub fn test_settings(data_dir: &std::path::Path) -> Settings {
    let mut s = Settings {
        host: "127.0.0.1".to_owned(),
        port: 0,
        data_dir: data_dir.to_path_buf(),
        demo: Some(false),
        // Tests stand fake desks and CRMs up on 127.0.0.1.
        allow_private_urls: true,
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

/// Runs one service alone: binds, builds what the service `needs` on the backends the settings
/// name, lets `setup` register the
/// service's routes (and bus subscriptions), serves `/health*` too, and shuts down gracefully.
pub async fn run_service<F, Fut>(
    name: &'static str,
    needs: Needs,
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
    let infra = Embedded::open_for(&settings, port, needs).await?;
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
