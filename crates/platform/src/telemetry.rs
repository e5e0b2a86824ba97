//! Structured logging.
//!
//! Rules every service follows: log lines carry fields, not interpolated data; customers' phone
//! numbers appear only masked (`+180******10`); message bodies, profile names and secrets never
//! appear. Secrets are `SecretString`s, whose `Debug` is redacted, so even a careless `?tenant`
//! prints no token.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. `RUST_LOG` overrides the configured filter. Calling it twice
/// is harmless (the second call does nothing), which keeps tests simple.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Installs a subscriber for tests, printing only when `TEST_LOG` is set.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init(&LogSettings {
            format: LogFormat::Pretty,
            filter: "debug,tantivy=info,actix_server=warn".to_owned(),
        });
    }
}
