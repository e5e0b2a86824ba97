//! One atiende service as its own process, chosen by `E2E_ATIENDE_SERVICE` (`ingest`,
//! `processor`, `dispatcher` or `admin`, or `atiende` for the all-in-one): exactly what each
//! service's own `main` runs, built here
//! so the end-to-end tests can start the four of them as separate processes, as on Cloud Run, with
//! the test build's features (`gcp`).

fn main() -> std::process::ExitCode {
    let service = std::env::var("E2E_ATIENDE_SERVICE").unwrap_or_default();
    match service.as_str() {
        "ingest" => atiende_bootstrap::service_main("ingest", atiende_ingest::run),
        "processor" => atiende_bootstrap::service_main("processor", atiende_processor::run),
        "dispatcher" => atiende_bootstrap::service_main("dispatcher", atiende_dispatcher::run),
        "admin" => atiende_bootstrap::service_main("admin", atiende_admin::run),
        "atiende" => atiende_bootstrap::service_main("atiende", |settings| async move {
            atiende::start(settings).await?.run_until_stopped().await
        }),
        other => {
            eprintln!("E2E_ATIENDE_SERVICE must name a service, not {other:?}");
            std::process::ExitCode::from(2)
        }
    }
}
