//! The dispatcher service: the last step before the customer's phone.
//!
//! It consumes `outbound_action.requested` events from the `atiende-dispatcher-outbound`
//! subscription and sends each action once through the conversation's channel — Twilio's
//! Messages API, Meta's Graph API or the web chat — free-form inside WhatsApp's 24-hour window,
//! the tenant's re-engagement template outside it (or parked with the reason), paced per sender
//! number and per customer, with transient provider errors retried and permanent ones recorded.
//! The logic lives in `atiende_app::dispatcher`; this crate wires it to the bus.
//!
//! Alone, it receives deliveries at `POST /pubsub/push/atiende-dispatcher-outbound`.

use std::sync::Arc;

use actix_web::web;
use atiende_bootstrap::{Embedded, Needs};
use atiende_domain::Topic;
use atiende_platform::push::Consumer;

/// The dispatcher service: its use case as a bus consumer.
pub fn consumer(infra: &Embedded) -> Arc<Consumer> {
    Arc::new(
        Consumer::new(
            Topic::Outbound.subscription(),
            infra.dispatcher(),
            infra.dead_letters(),
            infra.push_auth(),
        )
        .with_max_attempts(infra.settings.bus.max_attempts),
    )
}

/// Runs the dispatcher alone.
pub async fn run(settings: atiende_platform::Settings) -> anyhow::Result<()> {
    // No knowledge, embedding model or model chain: the dispatcher only sends.
    atiende_bootstrap::run_service("dispatcher", Needs::STATE, settings, |infra| async move {
        infra.require_push_auth("the dispatcher")?;
        let dispatcher = consumer(&infra);
        infra
            .consume(Topic::Outbound.subscription(), dispatcher.handler())
            .await?;
        Ok(
            Arc::new(move |cfg: &mut web::ServiceConfig| dispatcher.configure(cfg))
                as atiende_platform::server::Configure,
        )
    })
    .await
}
