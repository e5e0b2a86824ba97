//! Work that must happen later, run when a scheduler calls.
//!
//! On Cloud Run no process stays up to run a timer: the processor scales to zero between
//! messages. Cloud Scheduler calls `POST /tasks/desk-wait` every minute (terraform/scheduler.tf)
//! with an OIDC token, verified like a push request; the sweep publishes a "nobody has taken it
//! yet" event for each conversation that has waited too long, which reaches the customer through
//! the processor like any other event — whenever the processor is running again. Ingest hosts it
//! because it is always up (min one instance) and already publishes to the inbound stream.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use atiende_app::desk::WaitWatch;
use atiende_platform::{ApiError, http::header_str, push::DESK_WAIT_TASK};
use atiende_ports::bus::PushAuthenticator;
use serde_json::json;
use tracing::info;

/// The scheduled tasks ingest runs.
pub(crate) struct Tasks {
    pub(crate) wait_watch: Option<WaitWatch>,
    pub(crate) auth: Option<Arc<dyn PushAuthenticator>>,
    /// Whether a call without a credential is accepted (`bus.unauthenticated_push`).
    pub(crate) open: bool,
}

pub(crate) fn configure(tasks: Arc<Tasks>, cfg: &mut web::ServiceConfig) {
    cfg.route(
        DESK_WAIT_TASK,
        web::post().to(move |request: HttpRequest| {
            let tasks = Arc::clone(&tasks);
            async move { tasks.desk_wait(&request).await }
        }),
    );
}

impl Tasks {
    async fn desk_wait(&self, request: &HttpRequest) -> Result<HttpResponse, ApiError> {
        match &self.auth {
            Some(auth) => {
                let presented =
                    header_str(request, "authorization").and_then(|h| h.strip_prefix("Bearer "));
                if auth.verify(presented).await.is_err() {
                    return Err(ApiError::Unauthorized(
                        "a valid scheduler token is required".to_owned(),
                    ));
                }
            }
            None if self.open => {}
            None => {
                return Err(ApiError::Forbidden {
                    code: "tasks_not_configured",
                    message: "scheduled tasks need gcp.push_service_account or bus.push_token"
                        .to_owned(),
                });
            }
        }
        let Some(watch) = &self.wait_watch else {
            return Ok(HttpResponse::Ok().json(json!({ "raised": 0, "enabled": false })));
        };
        let raised = watch.sweep().await?;
        if raised > 0 {
            info!(
                conversations = raised,
                "Customers told nobody is available yet."
            );
        }
        Ok(HttpResponse::Ok().json(json!({ "raised": raised, "enabled": true })))
    }
}
