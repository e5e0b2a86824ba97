//! Platform glue shared by every atiende service: the plumbing that is the same for ingest,
//! processor, dispatcher and admin, so each service's own crate holds only its routes.
//!
//! It depends on no adapter (the layering test enforces it): it knows HTTP, configuration and
//! telemetry, and the ports, nothing more.
//!
//! # Layout
//! * [`config`]: layered, validated settings (defaults → file → environment).
//! * [`telemetry`]: structured logging.
//! * [`http`]: the API error type and its JSON body, bounded body reading, public URLs.
//! * [`trace`]: W3C trace context carried from webhooks through the bus.
//! * [`meter`]: the tenants' daily figures as OpenTelemetry metrics too.
//! * [`health`]: `/health`, `/health/live`, `/health/ready`.
//! * [`push`]: the Pub/Sub push endpoint every consumer exposes.
//! * [`server`]: building and running the HTTP server with graceful shutdown.

pub mod config;
pub mod health;
pub mod http;
pub mod meter;
pub mod push;
pub mod server;
pub mod telemetry;
pub mod trace;

pub use config::Settings;
pub use http::ApiError;
