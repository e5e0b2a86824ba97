//! The processor: turns an inbound message into outbound actions.
//!
//! For each customer message it loads the conversation, records the message, decides what to do
//! — welcome, answer from the knowledge, offer or perform a handoff, acknowledge media — and
//! publishes the resulting actions before saving the conversation. While a person owns the
//! conversation the bot stays silent and the message is relayed to the tenant's desk instead.
//!
//! Agents' actions at the desk (take, reply, resolve) arrive on the same ordered stream and are
//! applied by the same code, so the conversation has one writer and a customer message racing
//! an agent's reply is handled in the order the two arrived.
//!
//! Exactly-once effects on at-least-once delivery come from three facts:
//! * the conversation remembers recent inbound ids, so a redelivered message is recognized;
//! * action ids derive from the inbound message, so a re-run after a crash between publishing and
//!   saving republishes the *same* actions, which the bus (dedupe key) and the dispatcher (outbox)
//!   both drop;
//! * saving is optimistic: if another processor instance saved first, this one retries from a
//!   fresh read instead of answering from a stale one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use atiende_domain::{
    ActionId, ActionKind, BusEvent, Conversation, ConversationId, ConversationState, DeskEvent,
    DeskKind, DeskOutcome, HandoffPacket, HandoffReason, InboundMessage, Lead, Locale,
    MessageContent, OutboundAction, ProviderMessageId, Tenant, TenantId, TicketNumber, Topic,
    Urgency,
    conversation::{PendingTurn, Recorded, SUMMARY_EVERY},
    i18n::SystemText,
    intent::{self, SmallTalk},
    language,
    policy::{OfferReply, Unanswered},
};
use atiende_ports::{
    Clock, ConversationStore, Delivery, EventPublisher, HandleOutcome, MessageHandler,
    OutgoingMessage, StatsLedger, TenantStore,
};
use tracing::{debug, info, warn};

use crate::{
    AppError,
    engine::{ConversationEngine, EngineReply},
    handler,
    responder::{Answer, ExtractiveResponder},
    skills::{SkillOutcome, Skills},
};

/// What processing an inbound message did.
#[derive(Debug, Clone, PartialEq)]
pub enum Processed {
    /// The message was handled and these actions were published.
    Handled {
        /// The actions, in order.
        actions: Vec<OutboundAction>,
    },
    /// The message had been processed before.
    AlreadyProcessed,
    /// The tenant no longer exists; the message was dropped.
    UnknownTenant,
    /// A desk event named a conversation atiende does not have; it was dropped.
    UnknownConversation,
}

/// The processor's use case.
pub struct InboundProcessor {
    tenants: Arc<dyn TenantStore>,
    conversations: Arc<dyn ConversationStore>,
    publisher: Arc<dyn EventPublisher>,
    responder: Arc<ExtractiveResponder>,
    engine: Option<Arc<ConversationEngine>>,
    burst_window: Duration,
    clock: Arc<dyn Clock>,
    stats: Option<Arc<dyn StatsLedger>>,
    skills: Option<Arc<Skills>>,
    media: Option<media::Media>,
    voice: Option<media::Voice>,
}

/// How long a burst's early answer event holds its conversation's stream before going back in
/// line (so the customer's next message can overtake it). Each round is a publish and a
/// conversation read; the customer's next message waits at most this long to be recorded, which
/// does not delay the answer (the window runs from when ingest accepted each message).
const DUE_SLICE: Duration = Duration::from_millis(500);

impl InboundProcessor {
    /// Builds the processor.
    pub fn new(
        tenants: Arc<dyn TenantStore>,
        conversations: Arc<dyn ConversationStore>,
        publisher: Arc<dyn EventPublisher>,
        responder: Arc<ExtractiveResponder>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            tenants,
            conversations,
            publisher,
            responder,
            engine: None,
            burst_window: Duration::ZERO,
            clock,
            stats: None,
            skills: None,
            media: None,
            voice: None,
        }
    }

    /// Fulfils account, quote and contact requests without the model (the tools' deterministic
    /// driver), whenever the model is not the one answering.
    #[must_use]
    pub fn with_skills(mut self, skills: Arc<Skills>) -> Self {
        self.skills = Some(skills);
        self
    }

    /// Counts what each processed event did in the tenant's daily figures (the dashboard). A
    /// dry run (the playground, `atiende eval`) leaves it out and counts nothing.
    #[must_use]
    pub fn with_stats(mut self, stats: Arc<dyn StatsLedger>) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Adds to the tenant's daily figures; a failure costs a count, never the customer's answer.
    async fn count(
        &self,
        before: (
            Option<ConversationState>,
            Option<chrono::DateTime<chrono::Utc>>,
        ),
        after: &Conversation,
        customer_messages: u32,
        actions: &[OutboundAction],
    ) {
        let deltas = atiende_domain::stats::conversation_deltas(
            before,
            after,
            customer_messages,
            actions,
            self.clock.now(),
        );
        self.add_stats(&after.tenant, deltas).await;
    }

    /// Adds `deltas` to the tenant's figures of today.
    async fn add_stats(&self, tenant: &TenantId, deltas: atiende_domain::stats::Deltas) {
        let Some(stats) = &self.stats else {
            return;
        };
        let today = self.clock.now().date_naive();
        if let Err(error) = stats.add_stats(tenant, today, &deltas).await {
            warn!(tenant = %tenant, %error, "Could not count in the daily figures.");
        }
    }

    /// Answers several messages a customer sends within `window` of each other as one turn
    /// (zero answers each message at once).
    #[must_use]
    pub fn with_burst_window(mut self, window: Duration) -> Self {
        self.burst_window = window;
        self
    }

    /// Answers with the language model (for tenants whose assistant allows it), keeping the
    /// extractive responder as the fallback.
    #[must_use]
    pub fn with_engine(mut self, engine: Arc<ConversationEngine>) -> Self {
        self.engine = Some(engine);
        self
    }

    /// Processes one inbound message.
    pub async fn process(
        &self,
        message: &InboundMessage,
        traceparent: Option<&str>,
    ) -> Result<Processed, AppError> {
        let Some(tenant) = self.tenants.get(&message.tenant).await? else {
            return Ok(Processed::UnknownTenant);
        };
        let now = self.clock.now();
        let (mut conversation, version) =
            match self.conversations.load(&message.conversation).await? {
                Some(stored) => (stored.value, Some(stored.version)),
                None => (
                    Conversation::start(
                        message.conversation.clone(),
                        message.tenant.clone(),
                        message.channel,
                        message.contact.clone(),
                        now,
                    ),
                    None,
                ),
            };
        // As the conversation was: its state, and when the customer last wrote (a customer back
        // after a day's silence, or within a week of a resolution, counts in the figures).
        let before = (
            version.map(|_| conversation.state),
            conversation.last_customer_message_at,
        );
        if conversation.record_customer_message(message) == Recorded::Duplicate {
            return Ok(Processed::AlreadyProcessed);
        }
        // Each message's language, when it says clearly: a customer who switches languages is
        // answered in the new one ("ok", "104233" keep the last).
        if let Some(detected) = message.text().and_then(language::detect) {
            conversation.locale = Some(detected);
        }
        let locale = conversation.locale.unwrap_or(tenant.language);

        // The answer to the satisfaction question is recorded and thanked, not answered by the
        // bot; any other message closes the question and goes on as usual.
        let rating = if matches!(message.content, MessageContent::Notice { .. }) {
            None
        } else {
            conversation.answer_csat(message.text().unwrap_or_default(), now)
        };
        if let Some(score) = rating {
            let thanks = vec![ActionKind::Reply {
                text: SystemText::CsatThanks.render(locale),
            }];
            let actions = self.actions(
                &mut conversation,
                thanks,
                &message.provider_message_id,
                Some(&message.provider_message_id),
                locale,
            );
            self.publish_and_save(&conversation, version, &actions, traceparent)
                .await?;
            self.count(before, &conversation, 1, &actions).await;
            self.add_stats(
                &conversation.tenant,
                atiende_domain::stats::csat_deltas(score),
            )
            .await;
            info!(conversation = %conversation.id.masked(), score, "Satisfaction rating recorded.");
            return Ok(Processed::Handled { actions });
        }

        // A photo, a document or a voice note is downloaded now (Meta's links expire) and kept
        // for whoever reads the conversation, whether the bot or a person answers it.
        self.keep_media(
            &tenant,
            &mut conversation,
            &message.content,
            &message.provider_message_id,
        )
        .await;
        let burst =
            !self.burst_window.is_zero() && matches!(message.content, MessageContent::Text { .. });
        let kinds = if conversation.state.bot_may_reply() && burst {
            // Wait for the rest of the burst: the answer is scheduled on this conversation's own
            // ordered stream, behind any message the customer sends meanwhile. The window runs
            // from when ingest accepted the message, so a message that waited on the stream
            // (behind an earlier one's due event) does not push the answer further out.
            let window = chrono::Duration::from_std(self.burst_window).unwrap_or_default();
            let due_at = (message.received_at + window).clamp(now, now + window);
            conversation.pending_turn = Some(PendingTurn {
                after: message.provider_message_id.clone(),
                due_at,
            });
            let due = BusEvent::TurnDueV1 {
                tenant: tenant.id.clone(),
                conversation: conversation.id.clone(),
                after: message.provider_message_id.clone(),
                due_at,
            };
            self.schedule(&due, traceparent).await?;
            Vec::new()
        } else if conversation.state.bot_may_reply() {
            self.decide(
                &tenant,
                &mut conversation,
                &message.content,
                &message.provider_message_id,
                locale,
            )
            .await?
        } else {
            // A person owns the conversation: the bot stays silent, the desk hears the customer.
            relay_to_desk(&tenant, &mut conversation, message)
        };
        let actions = self.actions(
            &mut conversation,
            kinds,
            &message.provider_message_id,
            Some(&message.provider_message_id),
            locale,
        );
        self.publish_and_save(&conversation, version, &actions, traceparent)
            .await?;
        let written = u32::from(!matches!(message.content, MessageContent::Notice { .. }));
        self.count(before, &conversation, written, &actions).await;
        self.refresh_summary_later(&tenant, &conversation);
        Ok(Processed::Handled { actions })
    }

    /// Publishes `due` (a burst's answer time) on the inbound stream. No dedupe key: a due event
    /// delivered twice is harmless (the first to answer clears the pending turn, the other finds
    /// nothing to do), and on Pub/Sub a key would cost a Firestore read and write per round.
    async fn schedule(&self, due: &BusEvent, traceparent: Option<&str>) -> Result<(), AppError> {
        let outgoing = OutgoingMessage::from_event(due, traceparent)?;
        self.publisher.publish(Topic::Inbound, outgoing).await?;
        Ok(())
    }

    /// Answers a burst whose window ended: every customer message since the bot last wrote, as
    /// one turn. A later message of the same burst supersedes the event (its own event answers);
    /// an event early for its time goes back behind whatever the customer sent meanwhile.
    pub async fn process_due(
        &self,
        tenant: &TenantId,
        conversation_id: &ConversationId,
        after: &ProviderMessageId,
        due_at: chrono::DateTime<chrono::Utc>,
        traceparent: Option<&str>,
    ) -> Result<Processed, AppError> {
        let Some(tenant) = self.tenants.get(tenant).await? else {
            return Ok(Processed::UnknownTenant);
        };
        let Some(stored) = self.conversations.load(conversation_id).await? else {
            return Ok(Processed::UnknownConversation);
        };
        let (mut conversation, version) = (stored.value, stored.version);
        if conversation
            .pending_turn
            .as_ref()
            .is_none_or(|p| &p.after != after)
        {
            return Ok(Processed::AlreadyProcessed);
        }
        let remaining = (due_at - self.clock.now()).to_std().unwrap_or_default();
        if !remaining.is_zero() {
            // Hold the stream only briefly, then requeue behind the customer's next message.
            tokio::time::sleep(remaining.min(DUE_SLICE)).await;
            if remaining > DUE_SLICE {
                let due = BusEvent::TurnDueV1 {
                    tenant: tenant.id.clone(),
                    conversation: conversation.id.clone(),
                    after: after.clone(),
                    due_at,
                };
                self.schedule(&due, traceparent).await?;
                return Ok(Processed::Handled {
                    actions: Vec::new(),
                });
            }
        }
        conversation.pending_turn = None;
        let before = Some(conversation.state);
        let locale = conversation.locale.unwrap_or(tenant.language);
        let kinds = if conversation.state.bot_may_reply() {
            let content = MessageContent::Text {
                body: conversation.unanswered_customer_text(),
            };
            self.decide(&tenant, &mut conversation, &content, after, locale)
                .await?
        } else {
            Vec::new()
        };
        let actions = self.actions(&mut conversation, kinds, after, Some(after), locale);
        self.publish_and_save(&conversation, Some(version), &actions, traceparent)
            .await?;
        self.count((before, None), &conversation, 0, &actions).await;
        self.refresh_summary_later(&tenant, &conversation);
        Ok(Processed::Handled { actions })
    }

    /// Starts refreshing the conversation's rolling summary in the background when it is due:
    /// the reply has already gone out, and a failure only means the next turn tries again.
    fn refresh_summary_later(&self, tenant: &Arc<Tenant>, conversation: &Conversation) {
        let Some(engine) = self.engine.clone() else {
            return;
        };
        if !tenant.assistant.llm || conversation.since_summary < SUMMARY_EVERY {
            return;
        }
        let (tenant, store, id) = (
            Arc::clone(tenant),
            Arc::clone(&self.conversations),
            conversation.id.clone(),
        );
        tokio::spawn(async move {
            if let Err(error) = refresh_summary(&engine, &tenant, store.as_ref(), &id).await {
                debug!(conversation = %id.masked(), error = %error, "Summary not refreshed; the next turn retries.");
            }
        });
    }

    /// Applies an agent's action at the desk.
    pub async fn process_desk(
        &self,
        event: &DeskEvent,
        traceparent: Option<&str>,
    ) -> Result<Processed, AppError> {
        let Some(tenant) = self.tenants.get(&event.tenant).await? else {
            return Ok(Processed::UnknownTenant);
        };
        let Some(stored) = self.conversations.load(&event.conversation).await? else {
            return Ok(Processed::UnknownConversation);
        };
        let (mut conversation, version) = (stored.value, stored.version);
        if conversation.tenant != tenant.id {
            // Ids name their tenant, so this cannot happen short of a forged event: drop it.
            return Ok(Processed::UnknownConversation);
        }
        let locale = conversation.locale.unwrap_or(tenant.language);
        let before = Some(conversation.state);
        // Who resolves: the agent on it, or the one the desk names.
        let resolver = conversation
            .agent
            .as_ref()
            .map_or_else(|| event.agent.name.clone(), |a| a.name.clone());
        let kinds = match conversation.apply_desk(event) {
            DeskOutcome::Duplicate => return Ok(Processed::AlreadyProcessed),
            DeskOutcome::Reply { text, media } => vec![ActionKind::AgentReply {
                text,
                agent: event.agent.name.clone(),
                media,
            }],
            DeskOutcome::NobodyAvailable { ticket } => vec![ActionKind::Reply {
                text: SystemText::NobodyAvailable {
                    ticket: ticket.as_str(),
                }
                .render(locale),
            }],
            DeskOutcome::TicketCreated { ticket } => vec![ActionKind::Reply {
                text: SystemText::TicketCreated {
                    ticket: ticket.as_str(),
                }
                .render(locale),
            }],
            DeskOutcome::TicketClosed { ticket } => vec![ActionKind::Reply {
                text: SystemText::TicketClosed {
                    ticket: ticket.as_str(),
                }
                .render(locale),
            }],
            DeskOutcome::Resolved
                if tenant.assistant.csat
                    && conversation.ask_csat(Some(resolver), self.clock.now()) =>
            {
                vec![atiende_domain::csat::question(locale)]
            }
            DeskOutcome::Taken | DeskOutcome::Resolved | DeskOutcome::Ignored => Vec::new(),
        };
        info!(conversation = %conversation.id.masked(), desk = event.desk.as_str(), action = event.action.name(), state = ?conversation.state, "Desk event applied.");
        let cause = ProviderMessageId::parse(format!("desk.{}", event.id))?;
        let actions = self.actions(&mut conversation, kinds, &cause, None, locale);
        self.publish_and_save(&conversation, Some(version), &actions, traceparent)
            .await?;
        self.count((before, None), &conversation, 0, &actions).await;
        Ok(Processed::Handled { actions })
    }

    /// Wraps the decided action kinds into actions whose ids derive from `cause`, recording the
    /// bot's own texts in the conversation.
    fn actions(
        &self,
        conversation: &mut Conversation,
        kinds: Vec<ActionKind>,
        cause: &ProviderMessageId,
        in_reply_to: Option<&ProviderMessageId>,
        locale: Locale,
    ) -> Vec<OutboundAction> {
        let now = self.clock.now();
        let mut actions = Vec::with_capacity(kinds.len());
        for (index, kind) in kinds.into_iter().enumerate() {
            if let ActionKind::Reply { text }
            | ActionKind::Choose { text, .. }
            | ActionKind::Handoff { notice: text, .. } = &kind
            {
                conversation.record_bot_message(text, now);
            }
            actions.push(OutboundAction {
                id: ActionId::caused_by(
                    &conversation.id,
                    cause,
                    u32::try_from(index).unwrap_or(u32::MAX),
                ),
                tenant: conversation.tenant.clone(),
                conversation: conversation.id.clone(),
                channel: conversation.channel,
                to: conversation.contact.clone(),
                kind,
                in_reply_to: in_reply_to.cloned(),
                last_customer_message_at: conversation.last_customer_message_at,
                locale,
                created_at: now,
            });
        }
        actions
    }

    /// Publishes `actions`, then saves the conversation.
    async fn publish_and_save(
        &self,
        conversation: &Conversation,
        version: Option<u64>,
        actions: &[OutboundAction],
        traceparent: Option<&str>,
    ) -> Result<(), AppError> {
        // Publish before saving: a crash in between re-runs this message and republishes the
        // same action ids, which the bus and the outbox drop. The reverse order could lose them.
        for action in actions {
            let event = BusEvent::OutboundActionRequestedV1 {
                action: action.clone(),
            };
            let outgoing = OutgoingMessage::from_event(&event, traceparent)?
                .with_dedupe_key(format!("out/{}", action.id));
            self.publisher.publish(Topic::Outbound, outgoing).await?;
        }
        self.conversations.save(conversation, version).await?;
        Ok(())
    }

    /// Decides what the bot does with a recorded customer message.
    async fn decide(
        &self,
        tenant: &Tenant,
        conversation: &mut Conversation,
        content: &MessageContent,
        cause: &ProviderMessageId,
        locale: Locale,
    ) -> Result<Vec<ActionKind>, AppError> {
        let reply = |text: String| Ok(vec![ActionKind::Reply { text }]);
        let spoken = self
            .words_of_voice_note(tenant, conversation, content, cause)
            .await;
        let locale = match spoken.as_deref().and_then(language::detect) {
            Some(heard) => {
                conversation.locale = Some(heard);
                heard
            }
            None => locale,
        };
        let body = if let Some(words) = spoken.as_deref() {
            words
        } else {
            match content {
                MessageContent::Text { body } => body.as_str(),
                // A caption is the message's text: "¿tienen esta pieza?" under a photo is a question.
                MessageContent::Media {
                    caption: Some(caption),
                    ..
                } if !caption.trim().is_empty() => caption.as_str(),
                MessageContent::Media { items, .. } => {
                    return self.media_without_text(tenant, conversation, items, cause, locale);
                }
                MessageContent::Location { .. } => {
                    return reply(SystemText::LocationReceived.render(locale));
                }
                // Neither is a new message from the customer: an edit or deletion of one already
                // answered, or something WhatsApp reported. A person sees it in the history.
                MessageContent::Reaction { .. } | MessageContent::Notice { .. } => {
                    return Ok(Vec::new());
                }
                MessageContent::Form { .. } => {
                    return reply(SystemText::FormReceived.render(locale));
                }
                MessageContent::Unsupported { .. } => {
                    return reply(SystemText::UnsupportedReceived.render(locale));
                }
            }
        };

        let cause = cause.as_str();
        // A language the bot does not speak: say, in the tenant's language, which it does.
        if language::detect_foreign(body).is_some() {
            return reply(SystemText::LanguageNotServed.render(tenant.language));
        }
        if intent::wants_human(body) {
            return self.hand_off(
                tenant,
                conversation,
                HandoffReason::CustomerRequested,
                cause,
                locale,
            );
        }
        match conversation.reply_to_offer(body) {
            OfferReply::Accepted => {
                return self.hand_off(
                    tenant,
                    conversation,
                    HandoffReason::AcceptedOffer,
                    cause,
                    locale,
                );
            }
            OfferReply::Declined => return reply(SystemText::OfferDeclined.render(locale)),
            OfferReply::NoOffer | OfferReply::Ignored => {}
        }
        // An upset customer, one growing steadily more upset, or an emergency goes to a person
        // before any answer is tried, with or without a model.
        let mood = conversation.mood(body);
        if mood.calls_for_person(tenant.assistant.sentiment_handoff_below) {
            let reason = if mood.urgent {
                HandoffReason::HighPriority
            } else {
                HandoffReason::NegativeSentiment
            };
            conversation.record_trace(atiende_domain::assistant::TurnTrace {
                at: Some(self.clock.now()),
                engine: "policy".to_owned(),
                sentiment: Some(mood.latest),
                trigger: Some(reason),
                notes: mood
                    .falling
                    .then(|| "the customer's mood fell over the last messages".to_owned())
                    .into_iter()
                    .collect(),
                ..atiende_domain::assistant::TurnTrace::default()
            });
            return self.hand_off(tenant, conversation, reason, cause, locale);
        }
        match intent::small_talk(body) {
            Some(SmallTalk::Greeting) => {
                let text = match &tenant.welcome_message {
                    Some(welcome) if locale == tenant.language => welcome.clone(),
                    _ => SystemText::Welcome {
                        company: &tenant.company_name,
                    }
                    .render(locale),
                };
                return reply(text);
            }
            Some(SmallTalk::Thanks) => {
                let welcome = ActionKind::Reply {
                    text: SystemText::YouAreWelcome.render(locale),
                };
                // Thanks for an answer closes the bot's conversation: the customer is asked to
                // rate it, as after a person's resolution (once a day at most).
                if tenant.assistant.csat
                    && conversation.closed_by_bot()
                    && conversation.ask_csat(None, self.clock.now())
                {
                    return Ok(vec![welcome, atiende_domain::csat::question(locale)]);
                }
                return Ok(vec![welcome]);
            }
            None => {}
        }
        // Whether the engine recorded this turn's trace (it fell back to quoting passages).
        let mut engine_traced = false;
        if let Some(engine) = self.engine.as_ref().filter(|_| tenant.assistant.llm) {
            let turn = engine
                .turn(tenant, conversation, body, locale, cause)
                .await?;
            let trace = turn.trace;
            if let Some(lead) = &turn.lead {
                conversation.lead.merge(lead);
            }
            let mut extra = Vec::new();
            if let Some(fields) = &turn.effects.lead {
                conversation.lead.merge(fields);
                if tenant.crm.is_some() {
                    let ticket = turn.effects.quote_ticket.clone().unwrap_or_else(|| {
                        TicketNumber::for_handoff(&conversation.id, &format!("lead:{cause}"))
                    });
                    let urgency = if trace.sentiment.is_some_and(|s| s < -0.3) {
                        Urgency::High
                    } else {
                        Urgency::Medium
                    };
                    extra.push(ActionKind::PushLead {
                        lead: Box::new(Lead::from_fields(
                            &tenant.id,
                            conversation,
                            &conversation.lead,
                            &ticket,
                            urgency,
                            self.clock.now(),
                        )),
                    });
                }
            }
            let kinds = match turn.reply {
                EngineReply::Answer(text) => {
                    conversation.answered();
                    Some(
                        std::iter::once(ActionKind::Reply { text })
                            .chain(extra)
                            .collect(),
                    )
                }
                EngineReply::DontKnow => {
                    Some(self.unanswered(tenant, conversation, cause, locale)?)
                }
                // A run of answers the model could not ground: ask first, as the extractive
                // path does, unless the tenant hands off without asking.
                EngineReply::HandOff(
                    HandoffReason::RepeatedFallback | HandoffReason::LowConfidence,
                ) if tenant.assistant.ask_before_handoff => {
                    Some(self.unanswered(tenant, conversation, cause, locale)?)
                }
                EngineReply::HandOff(reason) => {
                    // The conversation leaves the bot: its pinned key goes back to the pool. A
                    // handoff pushes its own lead (with the fields merged above).
                    engine.chain().release(&conversation.id.to_string());
                    Some(self.hand_off(tenant, conversation, reason, cause, locale)?)
                }
                EngineReply::Extractive => None,
            };
            conversation.record_trace(trace);
            engine_traced = true;
            if let Some(kinds) = kinds {
                return Ok(kinds);
            }
        }
        let started = std::time::Instant::now();
        let at = self.clock.now();
        if let Some(skills) = &self.skills
            && let Some(outcome) = skills
                .run(tenant, conversation, body, locale, cause)
                .await?
        {
            if !engine_traced {
                conversation.record_trace(atiende_domain::assistant::TurnTrace {
                    at: Some(at),
                    engine: "skill".to_owned(),
                    sentiment: Some(mood.latest),
                    latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    ..atiende_domain::assistant::TurnTrace::default()
                });
            }
            return self.skill_actions(tenant, conversation, outcome, cause, locale);
        }
        let (answer, retrieved) = self.responder.answer_traced(tenant, body, locale).await?;
        let not_found = matches!(answer, Answer::NotFound)
            .then(|| "nothing relevant enough to quote".to_owned());
        if engine_traced {
            // The engine's trace stands for the turn; it says the answer was quoted instead.
            if let Some(trace) = conversation.traces.last_mut() {
                trace
                    .notes
                    .push("answered by quoting the knowledge".to_owned());
                trace.notes.extend(not_found);
                if trace.retrieved.is_empty() {
                    trace.retrieved = retrieved;
                }
            }
        } else {
            // What the extractive turn saw, for the playground, the console and the transcript.
            conversation.record_trace(atiende_domain::assistant::TurnTrace {
                at: Some(at),
                engine: "extractive".to_owned(),
                retrieved,
                sentiment: Some(mood.latest),
                latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                notes: not_found.into_iter().collect(),
                ..atiende_domain::assistant::TurnTrace::default()
            });
        }
        match answer {
            Answer::Found {
                text,
                passages,
                relevance,
            } => {
                debug!(conversation = %conversation.id.masked(), ?passages, relevance, "Answered from knowledge.");
                conversation.answered();
                reply(text)
            }
            Answer::NotFound => self.unanswered(tenant, conversation, cause, locale),
        }
    }

    /// Media with no words: a person sees it (or, as the tenant prefers, the customer is asked
    /// what they need, with the offer of a person). A voice note goes to a person until it can
    /// be transcribed; a sticker needs no answer.
    fn media_without_text(
        &self,
        tenant: &Tenant,
        conversation: &mut Conversation,
        items: &[atiende_domain::MediaRef],
        cause: &ProviderMessageId,
        locale: Locale,
    ) -> Result<Vec<ActionKind>, AppError> {
        use atiende_domain::{MediaKind, assistant::MediaPolicy};
        let kind = items.first().map_or(MediaKind::Other, |m| m.kind);
        match (kind, tenant.assistant.media_without_text) {
            (MediaKind::Sticker, _) => Ok(Vec::new()),
            (MediaKind::Audio, _) | (_, MediaPolicy::HandOff) => self.hand_off(
                tenant,
                conversation,
                HandoffReason::NeedsHumanReview,
                cause.as_str(),
                locale,
            ),
            (_, MediaPolicy::Ask) => {
                conversation.handoff_offered = true;
                Ok(vec![ActionKind::Reply {
                    text: SystemText::MediaReceived { kind }.render(locale),
                }])
            }
        }
    }

    /// What a skill's outcome sends: its reply, and a handoff (a large quote) or the finished
    /// lead (to the CRM, or to a person when the tenant has none).
    fn skill_actions(
        &self,
        tenant: &Tenant,
        conversation: &mut Conversation,
        outcome: SkillOutcome,
        cause: &str,
        locale: Locale,
    ) -> Result<Vec<ActionKind>, AppError> {
        conversation.answered();
        match outcome {
            SkillOutcome::Reply(text) => Ok(vec![ActionKind::Reply { text }]),
            SkillOutcome::HandOff {
                text,
                reason,
                ticket,
            } => {
                let mut kinds = vec![ActionKind::Reply { text }];
                kinds.extend(self.hand_off_under(tenant, conversation, reason, ticket, locale)?);
                Ok(kinds)
            }
            SkillOutcome::Lead(text) if tenant.crm.is_some() => {
                let ticket = TicketNumber::for_handoff(&conversation.id, &format!("lead:{cause}"));
                let lead = Lead::from_fields(
                    &tenant.id,
                    conversation,
                    &conversation.lead,
                    &ticket,
                    Urgency::Medium,
                    self.clock.now(),
                );
                Ok(vec![
                    ActionKind::Reply { text },
                    ActionKind::PushLead {
                        lead: Box::new(lead),
                    },
                ])
            }
            // No CRM: the lead is a person's to follow up, with the fields in the packet.
            SkillOutcome::Lead(text) => {
                let mut kinds = vec![ActionKind::Reply { text }];
                kinds.extend(self.hand_off(
                    tenant,
                    conversation,
                    HandoffReason::CustomerRequested,
                    cause,
                    locale,
                )?);
                Ok(kinds)
            }
        }
    }

    /// The bot could not answer: "I don't know" with the offer of a person, and after a run of
    /// them the outright question (or the handoff, as the tenant prefers).
    fn unanswered(
        &self,
        tenant: &Tenant,
        conversation: &mut Conversation,
        cause: &str,
        locale: Locale,
    ) -> Result<Vec<ActionKind>, AppError> {
        let company = &tenant.company_name;
        let text = match conversation.unanswered(tenant.assistant.ask_before_handoff) {
            Unanswered::DontKnow => SystemText::DontKnow { company }.render(locale),
            Unanswered::AskForPerson => SystemText::AskForPerson { company }.render(locale),
            Unanswered::HandOff => {
                return self.hand_off(
                    tenant,
                    conversation,
                    HandoffReason::RepeatedFallback,
                    cause,
                    locale,
                );
            }
        };
        Ok(vec![ActionKind::Reply { text }])
    }

    /// Hands the conversation to a person: the customer is told (with a ticket number) and the
    /// desk receives the packet.
    fn hand_off(
        &self,
        tenant: &Tenant,
        conversation: &mut Conversation,
        reason: HandoffReason,
        cause: &str,
        locale: Locale,
    ) -> Result<Vec<ActionKind>, AppError> {
        let ticket = TicketNumber::for_handoff(&conversation.id, cause);
        self.hand_off_under(tenant, conversation, reason, ticket, locale)
    }

    /// [`InboundProcessor::hand_off`] under a ticket already given to the customer (a quote's).
    fn hand_off_under(
        &self,
        tenant: &Tenant,
        conversation: &mut Conversation,
        reason: HandoffReason,
        ticket: TicketNumber,
        locale: Locale,
    ) -> Result<Vec<ActionKind>, AppError> {
        let now = self.clock.now();
        if conversation.hand_off(reason, ticket.clone(), now).is_err() {
            return Ok(Vec::new());
        }
        let packet = HandoffPacket::from_conversation(conversation, reason, ticket, locale, now);
        let closed = tenant
            .business_hours
            .as_ref()
            .filter(|hours| !hours.is_open(now));
        info!(conversation = %conversation.id.masked(), reason = reason.as_str(), ticket = %packet.ticket, outside_hours = closed.is_some(), "Conversation handed off.");
        let notice = match closed {
            // Told now when the team is back, so the "nobody is free yet" notice would only
            // repeat it.
            Some(hours) => {
                conversation.wait_notice_sent = true;
                SystemText::OutsideHours {
                    ticket: packet.ticket.as_str(),
                    hours: &hours.describe(locale),
                }
                .render(locale)
            }
            None if reason == HandoffReason::ModelUnavailable => SystemText::ModelUnavailable {
                company: &tenant.company_name,
                ticket: packet.ticket.as_str(),
            }
            .render(locale),
            None => SystemText::HandoffNotice {
                company: &tenant.company_name,
                ticket: packet.ticket.as_str(),
            }
            .render(locale),
        };
        let mut kinds = vec![
            ActionKind::Handoff {
                reason,
                notice,
                summary: packet.summary.clone(),
            },
            ActionKind::DeskHandoff {
                packet: Box::new(packet.clone()),
            },
        ];
        if let Some(alerts) = &tenant.alerts
            && (alerts.every_handoff || Urgency::of_handoff(reason) == Urgency::High)
        {
            kinds.push(ActionKind::Alert {
                packet: Box::new(packet.clone()),
            });
        }
        if tenant.crm.is_some() {
            kinds.push(ActionKind::PushLead {
                lead: Box::new({
                    let mut lead = Lead::from_handoff(&tenant.id, &conversation.id, &packet);
                    lead.enrich(&conversation.lead);
                    lead
                }),
            });
        }
        Ok(kinds)
    }
}

/// Summarizes the conversation and saves the summary, retrying once if a turn saved meanwhile.
async fn refresh_summary(
    engine: &ConversationEngine,
    tenant: &Tenant,
    store: &dyn ConversationStore,
    id: &ConversationId,
) -> Result<(), AppError> {
    let Some(stored) = store.load(id).await? else {
        return Ok(());
    };
    let summary = engine.summarize(tenant, &stored.value).await?;
    for _ in 0..2 {
        let Some(mut current) = store.load(id).await? else {
            return Ok(());
        };
        current.value.summary = Some(summary.clone());
        current.value.since_summary = 0;
        match store.save(&current.value, Some(current.version)).await {
            Ok(_) => return Ok(()),
            Err(atiende_ports::PortError::Conflict(_)) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}

/// The desk relay for a customer message written while a person owns the conversation. The
/// built-in console reads conversations from the store, so only external desks need one.
fn relay_to_desk(
    tenant: &Tenant,
    conversation: &mut Conversation,
    message: &InboundMessage,
) -> Vec<ActionKind> {
    if tenant.desk() == DeskKind::Console {
        return Vec::new();
    }
    let (text, mut media) = atiende_domain::conversation::describe(&message.content);
    // The recorded turn's media names the copies kept of the files, for the desk to attach.
    if let Some(turn) = conversation
        .turn_of_mut(&message.provider_message_id)
        .filter(|t| t.media.len() == media.len())
    {
        media.clone_from(&turn.media);
    }
    vec![ActionKind::DeskRelay { text, media }]
}

#[async_trait]
impl MessageHandler for InboundProcessor {
    async fn handle(&self, delivery: &Delivery) -> HandleOutcome {
        let event = match handler::decode(delivery) {
            Ok(event) => event,
            Err(outcome) => return outcome,
        };
        let result = match &event {
            BusEvent::InboundMessageReceivedV1 { message } => {
                self.process(message, delivery.traceparent()).await
            }
            BusEvent::DeskEventReceivedV1 { event } => {
                self.process_desk(event, delivery.traceparent()).await
            }
            BusEvent::TurnDueV1 {
                tenant,
                conversation,
                after,
                due_at,
            } => {
                self.process_due(tenant, conversation, after, *due_at, delivery.traceparent())
                    .await
            }
            BusEvent::OutboundActionRequestedV1 { .. } => {
                return handler::unexpected(&event, delivery);
            }
        };
        match result {
            Ok(Processed::Handled { actions }) => {
                debug!(actions = actions.len(), "Bus event processed.");
                HandleOutcome::Ack
            }
            Ok(Processed::AlreadyProcessed) => HandleOutcome::Ack,
            Ok(Processed::UnknownTenant) => {
                warn!(tenant = %event.tenant(), "Dropped an event for a tenant that no longer exists.");
                HandleOutcome::Ack
            }
            Ok(Processed::UnknownConversation) => {
                warn!(tenant = %event.tenant(), "Dropped a desk event for an unknown conversation.");
                HandleOutcome::Ack
            }
            Err(error) if error.is_transient() => HandleOutcome::Retry {
                reason: error.to_string(),
                after: error.retry_after(),
            },
            Err(error) => HandleOutcome::Reject {
                reason: error.to_string(),
            },
        }
    }
}

mod media;
#[cfg(test)]
mod tests;
