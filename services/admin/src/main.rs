//! `atiende-admin`: the admin service on its own (see the library's docs).

fn main() -> std::process::ExitCode {
    atiende_bootstrap::service_main("admin", atiende_admin::run)
}
