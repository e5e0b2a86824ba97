//! `atiende qdrant setup`: creates the Qdrant collection the knowledge indexes use.
//!
//! ```text
//! atiende qdrant setup [--recreate] [--config PATH]
//! ```
//!
//! The collection (`knowledge.qdrant.collection` on `knowledge.qdrant.url`) gets a dense vector
//! of the configured embedding model's size, a sparse vector with the IDF modifier, and payload
//! indexes on the tenant (as Qdrant's tenant key), index, revision and terms. An existing
//! collection is left alone unless `--recreate` (needed after switching to a model of another
//! size; the indexes are rebuilt from the store on the next search). Needs a binary built with
//! `--features qdrant`.

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: atiende qdrant setup [--recreate] [--config PATH]");
    ExitCode::from(2)
}

/// Runs `atiende qdrant`; `args` are the words after `qdrant`.
pub async fn main(args: &[String]) -> ExitCode {
    let mut args = args.iter();
    if args.next().map(String::as_str) != Some("setup") {
        return usage();
    }
    let (mut recreate, mut config) = (false, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--recreate" => recreate = true,
            "--config" => match args.next() {
                Some(path) => config = Some(std::path::PathBuf::from(path)),
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    let settings = match atiende_platform::Settings::load(config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("atiende qdrant: {e}");
            return ExitCode::from(78);
        }
    };
    setup(&settings, recreate).await
}

#[cfg(feature = "qdrant")]
async fn setup(settings: &atiende_platform::Settings, recreate: bool) -> ExitCode {
    match atiende_bootstrap::qdrant_setup(settings, recreate).await {
        Ok(done) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("atiende qdrant: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "qdrant"))]
async fn setup(_: &atiende_platform::Settings, _: bool) -> ExitCode {
    eprintln!(
        "atiende qdrant: this binary was built without Qdrant; build it with `--features qdrant`"
    );
    ExitCode::FAILURE
}
