//! `atiende-ingest`: the ingest service on its own (see the library's docs).

fn main() -> std::process::ExitCode {
    atiende_bootstrap::service_main("ingest", atiende_ingest::run)
}
