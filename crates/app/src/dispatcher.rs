//! The dispatcher: delivers outbound actions through the conversation's channel.
//!
//! WhatsApp's rules live here, on the last step before the provider:
//! * **once per action** — the outbox is claimed before sending, so a redelivered action whose
//!   send completed is acknowledged without a second send;
//! * **the 24-hour window** — inside it a free-form reply is sent; outside it the tenant's
//!   re-engagement template is sent instead, or the reply is parked with the reason when no
//!   template is configured (and likewise when the provider itself reports the window closed);
//! * **pacing** — sends are spaced per sender number and per customer, so a burst waits its turn
//!   instead of tripping the provider's rate limits;
//! * **retries** — transient provider failures (429, 5xx, timeouts, rate-limit codes) are retried
//!   with exponential backoff honouring `Retry-After`, then handed back to the bus for a later
//!   redelivery; permanent ones are recorded as failed and not retried.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use atiende_domain::{
    ActionKind, Author, BusEvent, Channel, DeskKind, MediaRef, OutboundAction, ServiceWindow,
    TemplateRef, Tenant, mask::scrub_digits, stats, tenant::REENGAGEMENT_TEMPLATE,
};
use atiende_ports::{
    Alerter, ChannelSender, Claim, Clock, Delivery, DeliveryLog, DeskError, HandleOutcome,
    HumanDesk, LeadSink, MediaLinker, MessageHandler, Outbox, OutboxState, SendContent, SendError,
    SendReceipt, SendRequest, StatsLedger, TenantStore,
};
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tracing::Instrument as _;
use tracing::{info, warn};

use crate::{AppError, handler};

/// The longest a provider's, desk's or CRM's `Retry-After` is obeyed before the bus retries
/// anyway. An hour (as a CRM may ask) would hold the message on the bus that long; ten minutes
/// is also the longest Pub/Sub lets a message be held (its maximum ack deadline).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// How the dispatcher paces and retries sends.
#[derive(Debug, Clone)]
pub struct DispatchPolicy {
    /// Send attempts within one delivery before handing the action back to the bus.
    pub send_attempts: u32,
    /// First in-process retry delay.
    pub first_retry: Duration,
    /// Longest in-process retry delay; a provider asking for a longer wait gets the action back
    /// on the bus with that delay instead.
    pub max_retry: Duration,
    /// Messages per second per sender number.
    pub per_sender_per_second: u32,
    /// Messages per minute to one customer, sustained.
    pub per_recipient_per_minute: u32,
    /// Messages to one customer that may go out back to back.
    pub per_recipient_burst: u32,
}

impl Default for DispatchPolicy {
    fn default() -> Self {
        Self {
            send_attempts: 3,
            first_retry: Duration::from_millis(200),
            max_retry: Duration::from_secs(5),
            // Meta's default throughput is tens of messages per second per number; stay under it.
            per_sender_per_second: 20,
            per_recipient_per_minute: 20,
            per_recipient_burst: 6,
        }
    }
}

/// Spaces sends per sender number and per recipient.
pub struct Pacer {
    per_sender: DefaultKeyedRateLimiter<String>,
    per_recipient: DefaultKeyedRateLimiter<String>,
    waits: AtomicU64,
}

impl Pacer {
    /// A pacer following `policy`.
    pub fn new(policy: &DispatchPolicy) -> Self {
        let nz = |n: u32| NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            per_sender: RateLimiter::keyed(Quota::per_second(nz(policy.per_sender_per_second))),
            per_recipient: RateLimiter::keyed(
                Quota::per_minute(nz(policy.per_recipient_per_minute))
                    .allow_burst(nz(policy.per_recipient_burst)),
            ),
            waits: AtomicU64::new(0),
        }
    }

    /// Waits until both the sender and the recipient may receive another message.
    pub async fn wait(&self, sender: &str, recipient: &str) {
        self.per_sender.until_key_ready(&sender.to_owned()).await;
        self.per_recipient
            .until_key_ready(&recipient.to_owned())
            .await;
        if self.waits.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            // Keys are per customer: forget the ones whose limits have fully recovered.
            self.per_sender.retain_recent();
            self.per_recipient.retain_recent();
        }
    }
}

/// How one action ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Dispatched {
    /// Sent; `template` names the template used when the window was closed.
    Sent {
        /// The provider's message id.
        provider_message_id: String,
        /// The template sent instead of free-form text, if any.
        template: Option<String>,
    },
    /// It had been dispatched before.
    AlreadyDone,
    /// Deliberately not sent; the outbox keeps it with the reason.
    Parked {
        /// Why.
        reason: String,
    },
    /// The provider refused it permanently.
    Failed {
        /// Why.
        reason: String,
    },
    /// The tenant no longer exists.
    UnknownTenant,
}

/// Why an action must be retried later.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The provider failed transiently even after retries.
    #[error("provider temporarily unavailable: {reason}")]
    Transient {
        /// What failed.
        reason: String,
        /// How long the provider asked to wait.
        retry_after: Option<Duration>,
    },
    /// A store failed.
    #[error(transparent)]
    Store(#[from] AppError),
}

impl From<atiende_ports::PortError> for DispatchError {
    fn from(error: atiende_ports::PortError) -> Self {
        Self::Store(error.into())
    }
}

/// The dispatcher's use case.
pub struct OutboundDispatcher {
    tenants: Arc<dyn TenantStore>,
    outbox: Arc<dyn Outbox>,
    delivery_log: Arc<dyn DeliveryLog>,
    senders: HashMap<Channel, Arc<dyn ChannelSender>>,
    desks: HashMap<DeskKind, Arc<dyn HumanDesk>>,
    alerter: Option<Arc<dyn Alerter>>,
    leads: Option<Arc<dyn LeadSink>>,
    clock: Arc<dyn Clock>,
    pacer: Pacer,
    policy: DispatchPolicy,
    stats: Option<Arc<dyn StatsLedger>>,
    media_links: Option<Arc<dyn MediaLinker>>,
}

impl OutboundDispatcher {
    /// Builds the dispatcher with one sender per channel.
    pub fn new(
        tenants: Arc<dyn TenantStore>,
        outbox: Arc<dyn Outbox>,
        delivery_log: Arc<dyn DeliveryLog>,
        senders: Vec<Arc<dyn ChannelSender>>,
        clock: Arc<dyn Clock>,
        policy: DispatchPolicy,
    ) -> Self {
        Self {
            tenants,
            outbox,
            delivery_log,
            senders: senders.into_iter().map(|s| (s.channel(), s)).collect(),
            desks: HashMap::new(),
            alerter: None,
            leads: None,
            clock,
            pacer: Pacer::new(&policy),
            policy,
            stats: None,
            media_links: None,
        }
    }

    /// Sends the files agents attach as links ([`crate::media_links`]: under the public URL,
    /// served by ingest), which the provider fetches. Without it a file cannot be sent and its
    /// action is parked.
    #[must_use]
    pub fn with_media_links(mut self, links: Arc<dyn MediaLinker>) -> Self {
        self.media_links = Some(links);
        self
    }

    /// What an agent's reply sends: its file as a link the provider fetches, or its text.
    fn agent_content(
        &self,
        action: &OutboundAction,
        text: &str,
        media: Option<&MediaRef>,
    ) -> Result<SendContent, String> {
        let Some(media) = media else {
            return Ok(SendContent::Text(text.to_owned()));
        };
        let url = (self.media_links.as_ref())
            .zip(media.stored.as_deref())
            .and_then(|(links, key)| links.link(&action.tenant, key));
        let Some(url) = url else {
            return Err(
                "the agent's file has no public link (no media store or public URL)".into(),
            );
        };
        Ok(SendContent::Media {
            kind: media.kind,
            url,
            filename: media.filename.clone(),
            caption: text.to_owned(),
        })
    }

    /// Counts what is sent in the tenant's daily figures: WhatsApp messages free-form or as
    /// templates, and how long the customer waited for each answer.
    #[must_use]
    pub fn with_stats(mut self, stats: Arc<dyn StatsLedger>) -> Self {
        self.stats = Some(stats);
        self
    }

    async fn count_sent(&self, action: &OutboundAction, template: bool, now: DateTime<Utc>) {
        let Some(stats) = &self.stats else {
            return;
        };
        let mut deltas = Vec::new();
        if action.channel != Channel::WebChat {
            let kind = if template {
                stats::WHATSAPP_TEMPLATE
            } else {
                stats::WHATSAPP_FREEFORM
            };
            deltas.push((kind.to_owned(), 1.0));
        }
        if let (ActionKind::Reply { .. } | ActionKind::Handoff { .. }, Some(asked)) =
            (&action.kind, action.last_customer_message_at)
        {
            let waited = u64::try_from((now - asked).num_milliseconds()).unwrap_or(0);
            deltas.extend(stats::observe(stats::ANSWER_MS, waited));
        }
        if let Err(error) = stats
            .add_stats(&action.tenant, now.date_naive(), &deltas)
            .await
        {
            warn!(tenant = %action.tenant, %error, "Could not count a sent message in the daily figures.");
        }
    }

    /// Adds an external desk (Chatwoot) for the tenants configured to use it.
    pub fn with_desk(mut self, desk: Arc<dyn HumanDesk>) -> Self {
        self.desks.insert(desk.kind(), desk);
        self
    }

    /// Adds where handoff alerts are posted, for tenants with alerts configured.
    pub fn with_alerter(mut self, alerter: Arc<dyn Alerter>) -> Self {
        self.alerter = Some(alerter);
        self
    }

    /// Adds where leads are pushed, for tenants with a CRM configured.
    pub fn with_leads(mut self, leads: Arc<dyn LeadSink>) -> Self {
        self.leads = Some(leads);
        self
    }

    /// Dispatches one action.
    pub async fn dispatch(&self, action: &OutboundAction) -> Result<Dispatched, DispatchError> {
        let Some(tenant) = self.tenants.get(&action.tenant).await? else {
            return Ok(Dispatched::UnknownTenant);
        };
        if let Claim::AlreadyDone(_) = self.outbox.claim(action, self.clock.now()).await? {
            return Ok(Dispatched::AlreadyDone);
        }
        let mut content = match &action.kind {
            ActionKind::Reply { text } | ActionKind::Handoff { notice: text, .. } => {
                SendContent::Text(text.clone())
            }
            ActionKind::Choose {
                text,
                button,
                options,
            } => SendContent::Choose {
                text: text.clone(),
                button: button.clone(),
                options: options.clone(),
            },
            ActionKind::AgentReply { text, media, .. } => {
                match self.agent_content(action, text, media.as_ref()) {
                    Ok(content) => content,
                    Err(reason) => return self.park(action, reason).await,
                }
            }
            ActionKind::DeskHandoff { .. }
            | ActionKind::DeskRelay { .. }
            | ActionKind::Alert { .. }
            | ActionKind::PushLead { .. } => {
                return self.to_desk(&tenant, action).await;
            }
            ActionKind::Template { name } => match tenant.templates.get(name) {
                Some(template) => template_content(&tenant, action, template),
                None => {
                    return self
                        .park(action, format!("template {name:?} is not configured"))
                        .await;
                }
            },
        };
        let mut template_used = match &action.kind {
            ActionKind::Template { name } => Some(name.clone()),
            ActionKind::Reply { .. }
            | ActionKind::Choose { .. }
            | ActionKind::Handoff { .. }
            | ActionKind::AgentReply { .. }
            | ActionKind::DeskHandoff { .. }
            | ActionKind::DeskRelay { .. }
            | ActionKind::Alert { .. }
            | ActionKind::PushLead { .. } => None,
        };
        let window = ServiceWindow::from_last_customer_message(action.last_customer_message_at);
        if action.channel.has_service_window()
            && matches!(
                content,
                SendContent::Text(_) | SendContent::Media { .. } | SendContent::Choose { .. }
            )
            && !window.is_open(self.clock.now())
        {
            match tenant.reengagement_template() {
                Some(template) => {
                    content = template_content(&tenant, action, template);
                    template_used = Some(REENGAGEMENT_TEMPLATE.to_owned());
                }
                None => {
                    return self
                        .park(
                            action,
                            "the 24-hour window is closed and no reengagement template is configured"
                                .to_owned(),
                        )
                        .await;
                }
            }
        }
        let Some(sender) = self.senders.get(&action.channel) else {
            return self
                .park(action, format!("no sender for channel {}", action.channel))
                .await;
        };

        let sender_key = format!("{}/{}", tenant.id, action.channel);
        self.pacer
            .wait(&sender_key, action.conversation.as_str())
            .await;
        let mut result = self.send(sender.as_ref(), &tenant, action, content).await;
        if let Err(SendError::WindowClosed { code }) = &result
            && template_used.is_none()
        {
            // The provider's clock disagrees with ours (or the action waited in the queue past
            // the window): fall back to the template once.
            if let Some(template) = tenant.reengagement_template() {
                warn!(action = %action.id.masked(), %code, "Provider reports the window closed; sending the reengagement template.");
                let content = template_content(&tenant, action, template);
                template_used = Some(REENGAGEMENT_TEMPLATE.to_owned());
                result = self.send(sender.as_ref(), &tenant, action, content).await;
            }
        }
        let now = self.clock.now();
        match result {
            Ok(receipt) => {
                let detail = template_used
                    .as_ref()
                    .map(|t| format!("sent template {t:?} instead of free-form text"));
                self.outbox
                    .finish(
                        &action.tenant,
                        &action.id,
                        OutboxState::Sent,
                        Some(&receipt.provider_message_id),
                        detail.as_deref(),
                        now,
                    )
                    .await?;
                self.record_sent(action, &receipt, now).await;
                self.count_sent(action, template_used.is_some(), now).await;
                if let ActionKind::Handoff { reason, .. } = &action.kind {
                    info!(conversation = %action.conversation.masked(), reason = reason.as_str(), "Handoff notice sent; the conversation waits for a person.");
                }
                Ok(Dispatched::Sent {
                    provider_message_id: receipt.provider_message_id,
                    template: template_used,
                })
            }
            Err(SendError::WindowClosed { code }) => {
                self.park(
                    action,
                    format!("the provider reports the 24-hour window closed ({code}) and no reengagement template is configured"),
                )
                .await
            }
            Err(SendError::NotConfigured(channel)) => {
                self.park(action, format!("the tenant has no {channel} configuration"))
                    .await
            }
            Err(SendError::Permanent { code, message }) => {
                let reason = format!("{} {message}", code.unwrap_or_default()).trim().to_owned();
                warn!(action = %action.id.masked(), reason = %scrub_digits(&reason), "Provider refused the message.");
                self.outbox
                    .finish(&action.tenant, &action.id, OutboxState::Failed, None, Some(&reason), now)
                    .await?;
                Ok(Dispatched::Failed { reason })
            }
            Err(SendError::Transient {
                code,
                message,
                retry_after,
            }) => Err(DispatchError::Transient {
                reason: format!("{} {message}", code.unwrap_or_default()).trim().to_owned(),
                retry_after,
            }),
        }
    }

    async fn send(
        &self,
        sender: &dyn ChannelSender,
        tenant: &Tenant,
        action: &OutboundAction,
        content: SendContent,
    ) -> Result<SendReceipt, SendError> {
        let max_retry = self.policy.max_retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.policy.first_retry)
            .with_max_delay(max_retry)
            .with_max_times(self.policy.send_attempts.saturating_sub(1) as usize)
            .with_jitter();
        (|| async {
            sender
                .send(SendRequest {
                    tenant,
                    to: &action.to,
                    content: content.clone(),
                    in_reply_to: action.in_reply_to.as_ref(),
                    conversation_key: action.conversation.as_str(),
                    author: if matches!(action.kind, ActionKind::AgentReply { .. }) {
                        Author::Agent
                    } else {
                        Author::Bot
                    },
                })
                .await
        })
        .retry(backoff)
        .when(|e| matches!(e, SendError::Transient { retry_after, .. } if retry_after.is_none_or(|d| d <= max_retry)))
        .adjust(|e, planned| match (e, planned) {
            // Honour the provider's Retry-After when it is longer than our own backoff.
            (SendError::Transient { retry_after: Some(wait), .. }, Some(planned)) => Some(planned.max(*wait)),
            (_, planned) => planned,
        })
        .notify(|e, wait| warn!(action = %action.id.masked(), error = %scrub_digits(&e.to_string()), ?wait, "Send failed; retrying."))
        .instrument(tracing::info_span!(
            "channel.send",
            otel.name = %format!("send {}", action.channel.as_str()),
            otel.kind = "client",
            atiende.channel = action.channel.as_str(),
            atiende.tenant = %tenant.id,
            atiende.conversation = %action.conversation.masked(),
        ))
        .await
    }

    /// Delivers an action for the people around a handoff: the tenant's desk, its alert
    /// channel, its CRM. The built-in console needs no delivery: it reads the conversation
    /// store, where the processor already put everything.
    async fn to_desk(
        &self,
        tenant: &Tenant,
        action: &OutboundAction,
    ) -> Result<Dispatched, DispatchError> {
        let now = self.clock.now();
        let kind = tenant.desk();
        let (target, result) = match &action.kind {
            ActionKind::Alert { packet } => match &self.alerter {
                Some(alerter) => (
                    "alert webhook".to_owned(),
                    alerter.alert(tenant, packet).await,
                ),
                None => return self.park(action, "no alert adapter".to_owned()).await,
            },
            ActionKind::PushLead { lead } => match &self.leads {
                Some(leads) => ("CRM".to_owned(), leads.push(tenant, lead).await),
                None => return self.park(action, "no CRM adapter".to_owned()).await,
            },
            ActionKind::DeskHandoff { .. }
            | ActionKind::DeskRelay { .. }
            | ActionKind::Reply { .. }
            | ActionKind::Choose { .. }
            | ActionKind::Template { .. }
            | ActionKind::Handoff { .. }
            | ActionKind::AgentReply { .. } => {
                let result = match (self.desks.get(&kind), &action.kind) {
                    (None, _) if kind == DeskKind::Console => Ok(()),
                    (None, _) => {
                        return self
                            .park(action, format!("no adapter for the {} desk", kind.as_str()))
                            .await;
                    }
                    (Some(desk), ActionKind::DeskHandoff { packet }) => {
                        desk.open(tenant, action, packet).await
                    }
                    (Some(desk), ActionKind::DeskRelay { text, media }) => {
                        desk.relay(tenant, action, text, media).await
                    }
                    (Some(_), _) => Ok(()),
                };
                (format!("{} desk", kind.as_str()), result)
            }
        };
        match result {
            Ok(()) => {
                let detail = format!("delivered to the {target}");
                self.outbox
                    .finish(
                        &action.tenant,
                        &action.id,
                        OutboxState::Sent,
                        None,
                        Some(&detail),
                        now,
                    )
                    .await?;
                Ok(Dispatched::Sent {
                    provider_message_id: String::new(),
                    template: None,
                })
            }
            Err(DeskError::NotConfigured(what)) => {
                self.park(action, format!("the tenant has no {what} configuration"))
                    .await
            }
            Err(DeskError::Permanent { message }) => {
                warn!(action = %action.id.masked(), reason = %scrub_digits(&message), "The desk refused the action.");
                self.outbox
                    .finish(
                        &action.tenant,
                        &action.id,
                        OutboxState::Failed,
                        None,
                        Some(&message),
                        now,
                    )
                    .await?;
                Ok(Dispatched::Failed { reason: message })
            }
            Err(DeskError::Transient {
                message,
                retry_after,
            }) => Err(DispatchError::Transient {
                reason: message,
                retry_after,
            }),
        }
    }

    async fn park(
        &self,
        action: &OutboundAction,
        reason: String,
    ) -> Result<Dispatched, DispatchError> {
        warn!(action = %action.id.masked(), reason = %scrub_digits(&reason), "Outbound action parked.");
        self.outbox
            .finish(
                &action.tenant,
                &action.id,
                OutboxState::Parked,
                None,
                Some(&reason),
                self.clock.now(),
            )
            .await?;
        Ok(Dispatched::Parked { reason })
    }

    async fn record_sent(
        &self,
        action: &OutboundAction,
        receipt: &SendReceipt,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let update = atiende_domain::StatusUpdate {
            tenant: action.tenant.clone(),
            channel: action.channel,
            provider_message_id: match atiende_domain::ProviderMessageId::parse(
                receipt.provider_message_id.clone(),
            ) {
                Ok(id) => id,
                Err(_) => return,
            },
            state: receipt
                .state
                .unwrap_or(atiende_domain::DeliveryState::Queued),
            error_code: None,
            at: now,
        };
        if let Err(error) = self.delivery_log.record_status(&update).await {
            // The send happened; a missing receipt row is not worth a redelivery.
            warn!(action = %action.id.masked(), %error, "Could not record the initial delivery state.");
        }
    }
}

fn template_content(
    tenant: &Tenant,
    action: &OutboundAction,
    template: &TemplateRef,
) -> SendContent {
    SendContent::Template {
        template: template.clone(),
        variables: template
            .render_variables(action.to.profile_name.as_deref(), &tenant.company_name),
    }
}

#[async_trait]
impl MessageHandler for OutboundDispatcher {
    async fn handle(&self, delivery: &Delivery) -> HandleOutcome {
        let event = match handler::decode(delivery) {
            Ok(event) => event,
            Err(outcome) => return outcome,
        };
        let BusEvent::OutboundActionRequestedV1 { action } = event else {
            return handler::unexpected(&event, delivery);
        };
        match self.dispatch(&action).await {
            Ok(Dispatched::UnknownTenant) => {
                warn!(tenant = %action.tenant, "Dropped an action for a tenant that no longer exists.");
                HandleOutcome::Ack
            }
            Ok(_) => HandleOutcome::Ack,
            Err(DispatchError::Transient {
                reason,
                retry_after,
            }) => HandleOutcome::Retry {
                reason,
                after: retry_after.map(|wait| wait.min(MAX_RETRY_AFTER)),
            },
            Err(DispatchError::Store(error)) if error.is_transient() => HandleOutcome::Retry {
                reason: error.to_string(),
                after: None,
            },
            Err(DispatchError::Store(error)) => HandleOutcome::Reject {
                reason: error.to_string(),
            },
        }
    }
}
