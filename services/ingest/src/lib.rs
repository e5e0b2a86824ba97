//! The ingest service: the only door customers' messages come through.
//!
//! For each webhook it finds the tenant (404 if unknown), reads the body within a limit (413),
//! verifies the provider's signature against the tenant's secret (403), normalizes the payload
//! (400 if malformed) and publishes it on the bus with the conversation as ordering key and the
//! trace context in the attributes — answering the provider only once the message is durably
//! accepted. Duplicates (providers retry) are dropped by the bus's dedupe key. A client's mistake
//! never produces a 5xx; a 503 means "our side is busy, retry", which providers do.
//!
//! # Routes
//! * `POST /webhooks/twilio/{tenant}` and the seeds' `/webhooks/whatsapp/{tenant}`: Twilio
//!   messages and status callbacks; `POST /webhooks/twilio/{tenant}/status` for callbacks too.
//! * `GET|POST /webhooks/meta/{tenant}`: Meta's verification handshake and notifications.
//! * `POST /webhooks/chatwoot/{tenant}`: agents' replies and resolutions at the tenant's
//!   Chatwoot desk, signed with `X-Chatwoot-Signature`.
//! * `POST /webhooks/rocketchat/{tenant}`: agents' replies, ticket commands, takes and closes at
//!   the tenant's Rocket.Chat, from the outgoing webhook (token in the body) or the Omnichannel
//!   webhook (`X-RocketChat-Livechat-Token`).
//! * `GET /media/{tenant}/{key}`: the files agents send, fetched by the provider, and customers'
//!   files behind a signed, expiring link, for an agent at Rocket.Chat (see `media`).
//! * `GET /`, `/webchat/…`: the built-in web chat, a channel like WhatsApp (see [`webchat`]).
//! * `POST /tasks/desk-wait`: a scheduler's call to tell waiting customers nobody has taken
//!   their conversation yet (see `tasks`).

mod chatwoot;
mod media;
mod meta;
mod rocketchat;
mod tasks;
mod throttle;
mod twilio;
pub mod webchat;

use std::sync::Arc;

use actix_web::web;
use atiende_app::ingest::{Acceptance, InboundGateway};
use atiende_app::media_links::MediaLinks;
use atiende_bootstrap::{Embedded, Needs};
use atiende_domain::{
    Agent, ConversationId, DeskAction, DeskEvent, DeskKind, InboundMessage, Tenant, TenantId,
};
use atiende_platform::{ApiError, config::Limits, trace::TraceParent};
use atiende_ports::{
    Clock, DeadLetter, DeadLetterStore, DeskLinkStore, MediaStore, TenantStore, WebChatStore,
};
use tracing::{info, warn};

/// The ingest service's state.
pub struct Ingest {
    tenants: Arc<dyn TenantStore>,
    gateway: Arc<InboundGateway>,
    webchat: Arc<dyn WebChatStore>,
    desk_links: Arc<dyn DeskLinkStore>,
    dead_letters: Arc<dyn DeadLetterStore>,
    clock: Arc<dyn Clock>,
    public_url: String,
    limits: Limits,
    throttle: throttle::Throttle,
    tasks: Arc<tasks::Tasks>,
    media: Option<Arc<dyn MediaStore>>,
    media_links: Option<Arc<MediaLinks>>,
}

impl Ingest {
    /// Builds the service on `infra`.
    pub fn new(infra: &Embedded) -> Self {
        Self {
            tenants: infra.tenants.clone(),
            gateway: infra.gateway(),
            webchat: infra.webchat(),
            desk_links: infra.desk_links(),
            dead_letters: infra.dead_letters(),
            clock: infra.clock.clone(),
            public_url: infra.public_url.clone(),
            limits: infra.settings.limits.clone(),
            throttle: throttle::Throttle::new(&infra.settings.limits),
            tasks: Arc::new(tasks::Tasks {
                wait_watch: infra.wait_watch(),
                auth: infra.push_auth(),
                open: infra.unauthenticated_push(),
            }),
            media: infra.media(),
            media_links: infra.media_links(),
        }
    }

    /// Registers the routes.
    pub fn configure(self: Arc<Self>, cfg: &mut web::ServiceConfig) {
        let scheduled = Arc::clone(&self.tasks);
        let max_webchat_chars = self.limits.max_webchat_chars;
        let data = web::Data::from(self);
        cfg.app_data(data)
            .route("/webhooks/twilio/{tenant}", web::post().to(twilio::webhook))
            .route(
                "/webhooks/whatsapp/{tenant}",
                web::post().to(twilio::webhook),
            )
            .route(
                "/webhooks/twilio/{tenant}/status",
                web::post().to(twilio::webhook),
            )
            .route("/webhooks/meta/{tenant}", web::get().to(meta::verify))
            .route(
                "/webhooks/meta/{tenant}",
                web::post().to(meta::notification),
            )
            .route(
                "/webhooks/chatwoot/{tenant}",
                web::post().to(chatwoot::webhook),
            )
            .route(
                "/webhooks/rocketchat/{tenant}",
                web::post().to(rocketchat::webhook),
            )
            .route("/media/{tenant}/{key}", web::get().to(media::file));
        webchat::configure(cfg, max_webchat_chars);
        tasks::configure(scheduled, cfg);
    }

    /// The tenant named in a URL; 404 when the id is invalid or unknown.
    async fn tenant(&self, id: &str) -> Result<Arc<Tenant>, ApiError> {
        let unknown = || ApiError::NotFound {
            code: "unknown_tenant",
            message: format!("unknown tenant {id:?}"),
        };
        let id = TenantId::parse(id).map_err(|_| unknown())?;
        self.tenants.get(&id).await?.ok_or_else(unknown)
    }

    /// Publishes an inbound message; returns whether it was new.
    async fn accept(
        &self,
        message: InboundMessage,
        traceparent: &str,
    ) -> Result<Acceptance, ApiError> {
        let contact = message.contact.identity.masked();
        let (tenant, channel, id) = (
            message.tenant.clone(),
            message.channel,
            message.provider_message_id.clone(),
        );
        let acceptance = self.gateway.accept(message, Some(traceparent)).await?;
        info!(%tenant, %channel, message_id = %id, %contact, ?acceptance, "Inbound message.");
        Ok(acceptance)
    }
}

impl Ingest {
    /// Parks the items of a provider's notification that could not be read, where an operator
    /// looks for what was not processed (`GET /admin/dead-letters`); the readable rest of the
    /// notification goes on. Parking is best effort: the provider retrying a whole batch for one
    /// item it will never change would only repeat the failure.
    async fn park_skipped(
        &self,
        tenant: &TenantId,
        skipped: &[atiende_adapter_meta::webhook::Skipped],
    ) {
        for item in skipped {
            warn!(%tenant, reason = %item.reason, "Skipped an unreadable notification item.");
            let Some(data) = &item.item else { continue };
            let letter = DeadLetter {
                id: String::new(),
                subscription: "webhooks/meta".to_owned(),
                message_id: item.key(),
                ordering_key: None,
                attributes: [("tenant".to_owned(), tenant.to_string())].into(),
                data: data.clone(),
                reason: item.reason.clone(),
                attempts: 1,
                at: self.clock.now(),
            };
            if let Err(e) = self.dead_letters.record(letter).await {
                warn!(%tenant, error = %e, "Could not park an unreadable notification item.");
            }
        }
    }

    /// Publishes what an agent did at an external desk, continuing the caller's trace.
    async fn desk_event(
        &self,
        tenant: &Tenant,
        request: &actix_web::HttpRequest,
        conversation: ConversationId,
        desk: DeskKind,
        (id, agent, action): (String, Agent, DeskAction),
    ) -> Result<Acceptance, ApiError> {
        let event = DeskEvent {
            id,
            tenant: tenant.id.clone(),
            conversation,
            desk,
            agent,
            action,
            at: self.clock.now(),
        };
        let (name, masked) = (event.action.name(), event.conversation.masked());
        let trace = TraceParent::continue_or_start(atiende_platform::http::header_str(
            request,
            "traceparent",
        ))
        .to_string();
        let acceptance = self.gateway.accept_desk_event(event, Some(&trace)).await?;
        info!(tenant = %tenant.id, desk = desk.as_str(), conversation = %masked, action = name, ?acceptance, "Desk event.");
        Ok(acceptance)
    }
}

/// The answer to a webhook whose signature does not verify.
fn invalid_signature(error: impl std::fmt::Display) -> ApiError {
    ApiError::Forbidden {
        code: "invalid_signature",
        message: error.to_string(),
    }
}

/// Runs ingest alone: webhooks and web chat, publishing to the bus; with `bus.push.processor`
/// set, the bus pushes accepted messages to that processor.
pub async fn run(settings: atiende_platform::Settings) -> anyhow::Result<()> {
    // Ingest builds no knowledge index, embedding model or model chain: it verifies, normalizes
    // and publishes. (The demo tenant is loaded where tenants are onboarded: by admin.)
    atiende_bootstrap::run_service("ingest", Needs::STATE, settings, |infra| async move {
        let inbound = atiende_domain::Topic::Inbound.subscription();
        match infra.settings.bus.push.processor.clone() {
            // On Pub/Sub, Pub/Sub itself delivers to the processor.
            _ if !infra.embedded_bus() => {}
            Some(url) => infra.push_to(inbound, &url)?,
            None => tracing::warn!("bus.push.processor is not set: accepted messages wait on the bus until a processor takes them."),
        }
        let ingest = Arc::new(Ingest::new(&infra));
        Ok(Arc::new(move |cfg: &mut web::ServiceConfig| Arc::clone(&ingest).configure(cfg))
            as atiende_platform::server::Configure)
    })
    .await
}
