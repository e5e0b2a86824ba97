//! `atiende-processor`: the processor service on its own (see the library's docs).

fn main() -> std::process::ExitCode {
    atiende_bootstrap::service_main("processor", atiende_processor::run)
}
