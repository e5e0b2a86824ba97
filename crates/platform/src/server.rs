//! Building the HTTP server every service runs: the same middleware, error formats and limits,
//! with each service contributing its routes through a `configure` function.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpServer, dev::Server, web};
use tracing_actix_web::TracingLogger;

use crate::http::{RequestSpan, json_config, not_found, path_config, query_config};

/// Adds a service's routes to the app.
pub type Configure = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Worker threads.
    pub workers: usize,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// Largest JSON body.
    pub json_limit: usize,
}

impl ServerOptions {
    /// Options from the settings.
    pub fn from_settings(settings: &crate::Settings) -> Self {
        Self {
            workers: settings.workers.unwrap_or_else(default_workers),
            shutdown_grace_secs: settings.shutdown_grace_secs,
            json_limit: settings.limits.max_admin_bytes,
        }
    }
}

/// One HTTP worker per core but one, and at least one. Accepting a webhook ends in the embedded
/// bus's writer thread (or, on GCP, the Pub/Sub client's tasks); with a worker on every core the
/// workers and the writer take turns on the CPU and the tail latency triples under load, for no
/// more throughput (docs/benchmarks.md, "Ingest throughput").
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// Builds the server on an already-bound listener (tests bind port 0 and read the port back).
/// It stops gracefully on SIGTERM or Ctrl-C: no new connections, in-flight requests finish.
pub fn build(
    listener: TcpListener,
    options: &ServerOptions,
    configure: Configure,
) -> std::io::Result<Server> {
    let json_limit = options.json_limit;
    let server = HttpServer::new(move || {
        let configure = Arc::clone(&configure);
        App::new()
            .wrap(TracingLogger::<RequestSpan>::new())
            .app_data(json_config(json_limit))
            .app_data(path_config())
            .app_data(query_config())
            .configure(move |cfg| configure(cfg))
            .default_service(web::to(not_found))
    })
    .workers(options.workers)
    .shutdown_timeout(options.shutdown_grace_secs)
    .listen(listener)?
    .run();
    Ok(server)
}
