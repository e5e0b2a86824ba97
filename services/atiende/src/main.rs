//! `atiende`: the all-in-one binary (see the library's docs).
//!
//! ```text
//! cargo run                      # the demo tenant on http://localhost:8080
//! cargo run -- --config my.toml  # with a configuration file
//! cargo run -- --print-config    # show the effective settings (no secrets)
//! ```

fn main() -> std::process::ExitCode {
    atiende_bootstrap::service_main("atiende", |settings| async move {
        atiende::start(settings).await?.run_until_stopped().await
    })
}
