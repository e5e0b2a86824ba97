//! The web admin a business uses (`/panel`): its dashboard, knowledge, a playground, its
//! conversations and settings, signed in with a tenant API key (the operator's token shows every
//! tenant).
//!
//! One small page, embedded in the binary (no CDN, no Node toolchain): server-sent HTML whose
//! script calls the same admin API a script would, with the key in the `Authorization` header,
//! so the page has no power the key does not. Charts are inline SVG. Spanish and English.

use actix_web::{HttpResponse, web};

/// The page.
const PAGE: &str = include_str!("panel.html");

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/panel").route(web::get().to(page)));
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; img-src 'self' data: blob:",
        ))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("Cache-Control", "no-cache"))
        .body(PAGE)
}
