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

/// The settings as JSON, secrets left out (they are never serialized), with what they come to
/// where a default is worked out at start: the public URL webhooks are signed for, the HTTP
/// workers, whether the admin and push tokens are set, whether the demo tenant loads.
pub fn redacted_settings(settings: &Settings) -> String {
    let mut json = serde_json::to_value(settings).unwrap_or_default();
    let workers = settings
        .workers
        .unwrap_or_else(atiende_platform::server::default_workers);
    json["effective"] = serde_json::json!({
        "public_url": settings.public_url(settings.port),
        "workers": workers,
        "admin_token_set": settings.admin_token.is_some(),
        "push_token_set": settings.bus.push_token.is_some(),
        "loads_demo": settings.loads_demo(),
    });
    serde_json::to_string_pretty(&json).unwrap_or_default()
}

/// What `atiende --help` says besides its options: the all-in-one's subcommands.
const ALL_IN_ONE_SUBCOMMANDS: &str = "\
Subcommands:
  kb ingest <tenant> <dir-or-file>...  load a folder of documents into a tenant's knowledge
  eval [--tenant T] <cases.jsonl>      run a tenant's scripted conversations against a running atiende
  qdrant setup [--recreate]            create the Qdrant collection (built with --features qdrant)

Without a subcommand, atiende runs all four services in one process (the demo tenant on
http://localhost:8080 by default).";

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
    use clap::{CommandFactory as _, FromArgMatches as _};
    let mut command = ServiceArgs::command().name(name);
    command = if name == "atiende" {
        command
            .about("atiende answers a business's WhatsApp customers with AI and hands them to a person when it should.")
            .after_help(ALL_IN_ONE_SUBCOMMANDS)
    } else {
        command.about(format!(
            "atiende's {name} service, one of the four that run on Cloud Run (docs/deploy.md)."
        ))
    };
    let args = ServiceArgs::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit());
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
