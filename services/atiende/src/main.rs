//! `atiende`: the all-in-one binary (see the library's docs).
//!
//! ```text
//! cargo run                      # the demo tenant on http://localhost:8080
//! cargo run -- --config my.toml  # with a configuration file
//! cargo run -- --print-config    # show the effective settings (no secrets)
//! ```

use std::process::ExitCode;

use atiende_bootstrap::{ServiceArgs, load_settings, redacted_settings};
use clap::Parser as _;

fn main() -> ExitCode {
    let args = ServiceArgs::parse();
    let settings = match load_settings(&args) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    if args.print_config {
        println!("{}", redacted_settings(&settings));
        return ExitCode::SUCCESS;
    }
    atiende_platform::telemetry::init(&settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let running = atiende::start(settings).await?;
        running.run_until_stopped().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
