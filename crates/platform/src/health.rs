//! Health endpoints: `/health` (identity), `/health/live` (the process answers) and
//! `/health/ready` (every dependency answers — Cloud Run and load balancers route by it).

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use atiende_ports::HealthCheck;
use serde_json::{Map, Value, json};

/// What `/health/ready` checks.
pub struct Health {
    service: &'static str,
    checks: Vec<Arc<dyn HealthCheck>>,
}

impl Health {
    /// Health of `service` (`atiende`, `ingest`, …) depending on `checks`.
    pub fn new(service: &'static str, checks: Vec<Arc<dyn HealthCheck>>) -> Self {
        Self { service, checks }
    }

    /// Registers the three routes.
    pub fn configure(self: Arc<Self>, cfg: &mut web::ServiceConfig) {
        let data = web::Data::from(self);
        cfg.app_data(data)
            .route("/health", web::get().to(health))
            .route("/health/live", web::get().to(live))
            .route("/health/ready", web::get().to(ready));
    }
}

async fn health(h: web::Data<Health>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "ok",
        "service": h.service,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn ready(h: web::Data<Health>) -> HttpResponse {
    let mut results = Map::new();
    let mut all_ok = true;
    for check in &h.checks {
        let outcome = tokio::time::timeout(Duration::from_secs(2), check.check()).await;
        let status = match outcome {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(e)) => {
                all_ok = false;
                e.to_string()
            }
            Err(_) => {
                all_ok = false;
                "timed out".to_owned()
            }
        };
        results.insert(check.name().to_owned(), Value::String(status));
    }
    let body = json!({ "status": if all_ok { "ready" } else { "unavailable" }, "checks": results });
    if all_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
