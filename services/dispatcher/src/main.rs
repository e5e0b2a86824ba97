//! `atiende-dispatcher`: the dispatcher service on its own (see the library's docs).

fn main() -> std::process::ExitCode {
    atiende_bootstrap::service_main("dispatcher", atiende_dispatcher::run)
}
