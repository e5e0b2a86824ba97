//! The Pub/Sub push endpoint: `POST /pubsub/push/{subscription}`.
//!
//! Pub/Sub (and the embedded bus, when services run as separate processes) POSTs a push envelope;
//! the answer is the acknowledgement: 2xx acks, anything else is retried later. So:
//! * handled (or already handled) → 204;
//! * a transient failure → 503 with `Retry-After`, and the message comes back;
//! * a message that can never be processed → recorded in the dead-letter store, then 204, so it
//!   is not redelivered forever (if recording fails, 503: it must not be lost).
//!
//! When the consumer has a [`PushAuthenticator`], requests must carry a bearer token it accepts:
//! the shared push token between atiende's own processes, or on GCP the OIDC token Pub/Sub
//! signs for the push subscription's service account (verified against Google's keys). A request
//! it refuses gets 401 and is not read.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use atiende_domain::mask::scrub_digits;
use atiende_ports::{
    DeadLetter, DeadLetterStore, Delivery, HandleOutcome, MessageHandler,
    bus::{PushAuthenticator, PushEnvelope},
};
use tracing::{error, warn};

use crate::http::{ApiError, header_str, read_body};

/// The path a subscription's push endpoint is served at.
pub fn push_path(subscription: &str) -> String {
    format!("/pubsub/push/{subscription}")
}

/// Where a scheduler asks ingest to tell customers nobody has taken their conversation yet
/// (`POST`, authenticated like a push request). On Cloud Run no process stays up to run a timer,
/// so Cloud Scheduler calls this every minute.
pub const DESK_WAIT_TASK: &str = "/tasks/desk-wait";

/// A bus consumer: a handler reachable in-process (subscribe [`Consumer::handler`] to an embedded
/// bus) and over HTTP (its push route, registered by [`Consumer::configure`]). The processor and
/// the dispatcher are each one.
pub struct Consumer {
    subscription: &'static str,
    handler: Arc<dyn MessageHandler>,
    dead_letters: Arc<dyn DeadLetterStore>,
    auth: Option<Arc<dyn PushAuthenticator>>,
    max_body_bytes: usize,
    max_attempts: u32,
}

impl Consumer {
    /// A consumer of `subscription`; push requests must satisfy `auth` when one is set.
    pub fn new(
        subscription: &'static str,
        handler: Arc<dyn MessageHandler>,
        dead_letters: Arc<dyn DeadLetterStore>,
        auth: Option<Arc<dyn PushAuthenticator>>,
    ) -> Self {
        Self {
            subscription,
            handler: Arc::new(crate::trace::Traced::new(handler)),
            dead_letters,
            auth,
            // Pub/Sub messages are at most 10 MB.
            max_body_bytes: 16 * 1024 * 1024,
            max_attempts: u32::MAX,
        }
    }

    /// Parks a message whose handler still asks for a retry on its `attempts`-th delivery
    /// (Pub/Sub's `deliveryAttempt`), instead of letting it come back forever.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The handler.
    pub fn handler(&self) -> Arc<dyn MessageHandler> {
        Arc::clone(&self.handler)
    }

    /// Registers the push route.
    pub fn configure(self: &Arc<Self>, cfg: &mut web::ServiceConfig) {
        let path = push_path(self.subscription);
        let consumer = Arc::clone(self);
        cfg.route(
            &path,
            web::post().to(move |request: HttpRequest, payload: web::Payload| {
                let consumer = Arc::clone(&consumer);
                async move { consumer.receive(&request, payload).await }
            }),
        );
    }

    async fn receive(
        &self,
        request: &HttpRequest,
        payload: web::Payload,
    ) -> Result<HttpResponse, ApiError> {
        if let Some(auth) = &self.auth {
            let presented =
                header_str(request, "authorization").and_then(|h| h.strip_prefix("Bearer "));
            if auth.verify(presented).await.is_err() {
                return Err(ApiError::Unauthorized(
                    "a valid push token is required".to_owned(),
                ));
            }
        }
        let body = read_body(request, payload, self.max_body_bytes).await?;
        let envelope: PushEnvelope = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_body(format!("not a push envelope: {e}")))?;
        let message_id = envelope.message.message_id.clone();
        let delivery = match Delivery::try_from(envelope.clone()) {
            Ok(delivery) => delivery,
            Err(e) => {
                return self
                    .park(DeadLetter {
                        id: String::new(),
                        subscription: self.subscription.to_owned(),
                        message_id,
                        ordering_key: envelope.message.ordering_key,
                        attributes: envelope.message.attributes,
                        data: envelope.message.data,
                        reason: e.to_string(),
                        attempts: envelope.delivery_attempt.unwrap_or(1),
                        at: chrono::Utc::now(),
                    })
                    .await;
            }
        };
        match self.handler.handle(&delivery).await {
            HandleOutcome::Ack => Ok(HttpResponse::NoContent().finish()),
            HandleOutcome::Retry { reason, .. }
                if delivery.delivery_attempt >= self.max_attempts =>
            {
                self.park(DeadLetter::exhausted(&delivery, self.subscription, &reason))
                    .await
            }
            HandleOutcome::Retry { reason, after } => {
                warn!(subscription = self.subscription, message_id = %delivery.message_id, reason = %scrub_digits(&reason), "Push delivery will be retried.");
                Err(ApiError::Unavailable {
                    message: reason,
                    retry_after_secs: after.map(|d| d.as_secs().max(1)),
                })
            }
            HandleOutcome::Reject { reason } => {
                self.park(DeadLetter::of(&delivery, self.subscription, reason))
                    .await
            }
        }
    }

    async fn park(&self, letter: DeadLetter) -> Result<HttpResponse, ApiError> {
        error!(subscription = self.subscription, message_id = %letter.message_id, reason = %scrub_digits(&letter.reason), "Push message dead-lettered.");
        match self.dead_letters.record(letter).await {
            Ok(()) => Ok(HttpResponse::NoContent().finish()),
            Err(e) => Err(ApiError::Unavailable {
                message: format!("could not park the message: {e}"),
                retry_after_secs: Some(5),
            }),
        }
    }
}
