//! `atiende`: the all-in-one binary (see the library's docs).
//!
//! ```text
//! cargo run                      # the demo tenant on http://localhost:8080
//! cargo run -- --config my.toml  # with a configuration file
//! cargo run -- --print-config    # show the effective settings (no secrets)
//! cargo run -- eval --tenant demo tests/data/eval-demo.jsonl   # the tenant test suite
//! cargo run -- kb ingest demo docs/                             # load a folder of documents
//! cargo run --features qdrant -- qdrant setup                   # create the Qdrant collection
//! ```

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map(String::as_str);
    if let Some(name @ ("eval" | "kb" | "qdrant")) = command {
        return match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(async {
                match name {
                    "eval" => atiende::eval::main(&args[1..]).await,
                    "kb" => atiende::kb::main(&args[1..]).await,
                    _ => atiende::qdrant::main(&args[1..]).await,
                }
            }),
            Err(e) => {
                eprintln!("atiende {name}: {e}");
                std::process::ExitCode::from(2)
            }
        };
    }
    atiende_bootstrap::service_main("atiende", |settings| async move {
        atiende::start(settings).await?.run_until_stopped().await
    })
}
