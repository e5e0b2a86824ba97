//! The processor service: the conversation brain.
//!
//! It consumes `inbound_message.received` events from the `atiende-processor-inbound`
//! subscription, loads the conversation, records the message, decides — welcome, an answer quoted
//! from the tenant's knowledge, the offer of a person or a handoff, a media acknowledgement, or
//! silence while a person owns the conversation — and publishes `outbound_action.requested`
//! events. The logic lives in `atiende_app::processor`; this crate wires it to the bus.
//!
//! Alone, it receives deliveries at `POST /pubsub/push/atiende-processor-inbound` (Pub/Sub push
//! on Cloud Run, or the embedded bus of an ingest running in another process) and, with
//! `bus.push.dispatcher` set, pushes its actions to that dispatcher.

use std::sync::Arc;

use actix_web::web;
use atiende_bootstrap::{Embedded, Needs};
use atiende_domain::Topic;
use atiende_platform::push::Consumer;

/// The processor service: its use case as a bus consumer.
pub fn consumer(infra: &Embedded) -> anyhow::Result<Arc<Consumer>> {
    Ok(Arc::new(
        Consumer::new(
            Topic::Inbound.subscription(),
            infra.processor()?,
            infra.dead_letters(),
            infra.push_auth(),
        )
        .with_max_attempts(infra.settings.bus.max_attempts),
    ))
}

/// Runs the processor alone.
pub async fn run(settings: atiende_platform::Settings) -> anyhow::Result<()> {
    atiende_bootstrap::run_service("processor", Needs::ALL, settings, |infra| async move {
        infra.require_push_auth("the processor")?;
        match infra.settings.bus.push.dispatcher.clone() {
            _ if !infra.embedded_bus() => {}
            Some(url) => infra.push_to(Topic::Outbound.subscription(), &url)?,
            None => tracing::warn!("bus.push.dispatcher is not set: outbound actions wait on the bus until a dispatcher takes them."),
        }
        let processor = consumer(&infra)?;
        infra
            .consume(Topic::Inbound.subscription(), processor.handler())
            .await?;
        Ok(Arc::new(move |cfg: &mut web::ServiceConfig| processor.configure(cfg))
            as atiende_platform::server::Configure)
    })
    .await
}
