//! A conversation and its state machine.
//!
//! ```text
//!            handoff requested            agent joins
//!   ┌─────┐ ─────────────────► ┌──────────────────┐ ──────────► ┌───────┐
//!   │ Bot │                    │ WaitingForHuman  │             │ Human │
//!   └─────┘ ◄───┐              └──────────────────┘             └───────┘
//!      ▲        │ customer writes          │ resolved               │ resolved
//!      │        │                          ▼                        ▼
//!      │        └──────────────────── ┌──────────┐ ◄────────────────┘
//!      │                              │ Resolved │
//!      └── agent joins (takeover) ──  └──────────┘
//! ```
//!
//! The bot only answers in `Bot`. While a person owns the conversation the bot stays silent,
//! whatever the customer writes; after `Resolved`, the next customer message hands the
//! conversation back to the bot with a clean slate (no stale handoff offer or fallback count).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    Channel, Contact, ConversationId, InboundMessage, Locale, MediaRef, MessageContent,
    ProviderMessageId, ServiceWindow, TenantId,
    desk::{Agent, DeskAction, DeskEvent, DeskOutcome, TicketNumber},
};

/// How many turns a conversation record keeps; older ones are dropped (the long-term memory of a
/// later issue summarizes them).
pub const MAX_TURNS: usize = 50;
/// How many recent inbound message ids are remembered to recognize redeliveries.
pub const MAX_RECENT_INBOUND_IDS: usize = 64;
/// How many recent desk event ids are remembered to recognize redeliveries.
pub const MAX_RECENT_DESK_EVENT_IDS: usize = 64;
/// Customer messages between refreshes of the rolling summary.
pub const SUMMARY_EVERY: u32 = 16;
/// How many decision traces a conversation keeps.
pub const MAX_TRACES: usize = 20;

/// Who owns the conversation right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    /// The bot answers.
    #[default]
    Bot,
    /// Handed off; no person has taken it yet. The bot is silent.
    WaitingForHuman,
    /// A person owns it. The bot is silent.
    Human,
    /// A person resolved it; the next customer message returns it to the bot.
    Resolved,
}

/// Something that moves a conversation between states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateEvent {
    /// The bot or the customer asked for a person.
    HandoffRequested,
    /// A person took the conversation.
    AgentJoined,
    /// A person resolved the conversation.
    Resolved,
    /// The customer wrote.
    CustomerWrote,
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot apply {event:?} to a conversation in state {state:?}")]
pub struct InvalidTransition {
    /// The state the conversation was in.
    pub state: ConversationState,
    /// The event that was refused.
    pub event: StateEvent,
}

impl ConversationState {
    /// The state after `event`, or why it cannot happen.
    pub fn apply(self, event: StateEvent) -> Result<Self, InvalidTransition> {
        use ConversationState as S;
        use StateEvent as E;
        let next = match (self, event) {
            (S::Bot, E::HandoffRequested) => S::WaitingForHuman,
            (S::Bot | S::WaitingForHuman | S::Resolved, E::AgentJoined) => S::Human,
            (S::WaitingForHuman | S::Human, E::Resolved) => S::Resolved,
            (S::Resolved | S::Bot, E::CustomerWrote) => S::Bot,
            (S::WaitingForHuman, E::CustomerWrote) => S::WaitingForHuman,
            (S::Human, E::CustomerWrote) => S::Human,
            (S::WaitingForHuman | S::Human | S::Resolved, E::HandoffRequested)
            | (S::Human, E::AgentJoined)
            | (S::Bot | S::Resolved, E::Resolved) => {
                return Err(InvalidTransition { state: self, event });
            }
        };
        Ok(next)
    }

    /// Whether the bot may send its own replies.
    pub fn bot_may_reply(self) -> bool {
        self == Self::Bot
    }
}

/// Who wrote a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    /// The customer.
    Customer,
    /// The bot.
    Bot,
    /// A human agent.
    Agent,
    /// atiende itself (a handoff note, a state change).
    System,
}

/// One message in a conversation's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// When it was written.
    pub at: DateTime<Utc>,
    /// Who wrote it.
    pub author: Author,
    /// For an agent's turn, the agent's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Its text (for media, the caption or a description).
    pub text: String,
    /// Media it carried, kept for a person to see.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<MediaRef>,
    /// The provider's id for it, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<ProviderMessageId>,
}

/// A burst of customer messages that will be answered as one turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTurn {
    /// The latest message of the burst.
    pub after: ProviderMessageId,
    /// When the burst window ends.
    pub due_at: DateTime<Utc>,
}

/// Whether an inbound message was new to the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// It was recorded.
    New,
    /// It had been recorded before: a redelivery.
    Duplicate,
}

/// A conversation between a tenant and one contact on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// The tenant.
    pub tenant: TenantId,
    /// The channel.
    pub channel: Channel,
    /// The customer, as last seen.
    pub contact: Contact,
    /// Who owns it.
    pub state: ConversationState,
    /// The language locked for the conversation once detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<Locale>,
    /// When the customer last wrote: the start of the current service window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_customer_message_at: Option<DateTime<Utc>>,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Recent history, oldest first, at most [`MAX_TURNS`].
    #[serde(default)]
    pub turns: Vec<Turn>,
    /// Recently processed inbound ids, to recognize redeliveries.
    #[serde(default)]
    pub recent_inbound_ids: Vec<ProviderMessageId>,
    /// The bot offered a person and waits for yes or no.
    #[serde(default)]
    pub handoff_offered: bool,
    /// Consecutive customer questions the bot could not answer.
    #[serde(default)]
    pub unanswered_in_a_row: u32,
    /// Why the conversation was last handed to a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_reason: Option<crate::HandoffReason>,
    /// The ticket the customer was given at the last handoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketNumber>,
    /// The person who owns the conversation, while one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Agent>,
    /// When the conversation was last handed off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_at: Option<DateTime<Utc>>,
    /// The customer was told nobody was available yet (once per handoff).
    #[serde(default)]
    pub wait_notice_sent: bool,
    /// Recently applied desk events, to recognize redeliveries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_desk_event_ids: Vec<String>,
    /// Lead fields the customer gave so far (the seeds' payload).
    #[serde(default, skip_serializing_if = "crate::turn::LeadFields::is_empty")]
    pub lead: crate::turn::LeadFields,
    /// A rolling summary of the conversation, refreshed by the language model every
    /// [`SUMMARY_EVERY`] customer messages, off the reply's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Customer messages since the summary was last refreshed.
    #[serde(default)]
    pub since_summary: u32,
    /// The ad or post the customer last came from (click-to-WhatsApp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<crate::Referral>,
    /// The burst of customer messages waiting for one answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_turn: Option<PendingTurn>,
    /// Why the engine did what it did on the latest turns, oldest first, at most
    /// [`MAX_TRACES`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<crate::assistant::TurnTrace>,
    /// The satisfaction question of the latest resolution, and its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csat: Option<crate::csat::Csat>,
    /// A guided exchange (account number, quote items, lead details) waiting for the
    /// customer's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<crate::skill::PendingSkill>,
}

impl Conversation {
    /// A new conversation in the bot's hands.
    pub fn start(
        id: ConversationId,
        tenant: TenantId,
        channel: Channel,
        contact: Contact,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            tenant,
            channel,
            contact,
            state: ConversationState::Bot,
            locale: None,
            last_customer_message_at: None,
            created_at: now,
            updated_at: now,
            turns: Vec::new(),
            recent_inbound_ids: Vec::new(),
            handoff_offered: false,
            unanswered_in_a_row: 0,
            handoff_reason: None,
            ticket: None,
            handoff_at: None,
            wait_notice_sent: false,
            agent: None,
            recent_desk_event_ids: Vec::new(),
            lead: crate::turn::LeadFields::default(),
            summary: None,
            since_summary: 0,
            referral: None,
            pending_turn: None,
            traces: Vec::new(),
            csat: None,
            skill: None,
        }
    }

    /// The conversation's current service window.
    pub fn window(&self) -> ServiceWindow {
        ServiceWindow::from_last_customer_message(self.last_customer_message_at)
    }

    /// Whether this inbound message was already recorded.
    pub fn has_seen(&self, id: &ProviderMessageId) -> bool {
        self.recent_inbound_ids.contains(id)
    }

    /// Records a customer's message: history, service window, contact details and state.
    pub fn record_customer_message(&mut self, message: &InboundMessage) -> Recorded {
        if self.has_seen(&message.provider_message_id) {
            return Recorded::Duplicate;
        }
        self.recent_inbound_ids
            .push(message.provider_message_id.clone());
        let overflow = self
            .recent_inbound_ids
            .len()
            .saturating_sub(MAX_RECENT_INBOUND_IDS);
        self.recent_inbound_ids.drain(..overflow);

        // A notice (an edit, a deletion, a changed number) is history, not a new message: it
        // neither reopens a resolved conversation nor counts as the customer writing.
        let notice = matches!(message.content, MessageContent::Notice { .. });
        let at = message.sent_at.unwrap_or(message.received_at);
        // Provider timestamps can arrive out of order; the window follows the latest one.
        if !notice && self.last_customer_message_at.is_none_or(|last| at > last) {
            self.last_customer_message_at = Some(at);
        }
        if !notice {
            self.since_summary = self.since_summary.saturating_add(1);
        }
        if message.contact.profile_name.is_some() {
            self.contact.profile_name = message.contact.profile_name.clone();
        }
        if message.contact.phone.is_some() {
            self.contact.phone = message.contact.phone.clone();
        }
        if message.referral.is_some() {
            self.referral = message.referral.clone();
        }
        if message.contact.user_id.is_some() {
            self.contact.user_id = message.contact.user_id.clone();
        }
        if !notice {
            if self.state == ConversationState::Resolved {
                // A fresh start: nothing offered or counted before the resolution carries over.
                self.handoff_offered = false;
                self.unanswered_in_a_row = 0;
                self.handoff_reason = None;
            }
            // CustomerWrote is valid in every state.
            self.state = self
                .state
                .apply(StateEvent::CustomerWrote)
                .unwrap_or(self.state);
        }
        let (text, media) = describe(&message.content);
        self.push_turn(Turn {
            at: message.received_at,
            author: Author::Customer,
            by: None,
            text,
            media,
            provider_message_id: Some(message.provider_message_id.clone()),
        });
        Recorded::New
    }

    /// Records a message atiende sent on its own behalf.
    pub fn record_bot_message(&mut self, text: &str, now: DateTime<Utc>) {
        self.push_turn(Turn {
            at: now,
            author: Author::Bot,
            by: None,
            text: text.to_owned(),
            media: Vec::new(),
            provider_message_id: None,
        });
    }

    /// The customer's texts since the bot, an agent or atiende last wrote, oldest first, one per
    /// line: a burst answered as one turn.
    pub fn unanswered_customer_text(&self) -> String {
        let start = self
            .turns
            .iter()
            .rposition(|t| t.author != Author::Customer)
            .map_or(0, |i| i + 1);
        self.turns[start..]
            .iter()
            .map(|t| t.text.trim())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Keeps the decision trace of a turn (the oldest go past [`MAX_TRACES`]).
    pub fn record_trace(&mut self, trace: crate::assistant::TurnTrace) {
        self.traces.push(trace);
        let overflow = self.traces.len().saturating_sub(MAX_TRACES);
        self.traces.drain(..overflow);
    }

    /// The customer's earlier messages, newest first, without the latest one.
    pub fn earlier_customer_texts(&self) -> impl Iterator<Item = &str> {
        self.turns
            .iter()
            .rev()
            .filter(|t| t.author == Author::Customer)
            .skip(1)
            .map(|t| t.text.as_str())
    }

    /// Hands the conversation to a person, under `ticket`.
    pub fn hand_off(
        &mut self,
        reason: crate::HandoffReason,
        ticket: TicketNumber,
        now: DateTime<Utc>,
    ) -> Result<(), InvalidTransition> {
        self.state = self.state.apply(StateEvent::HandoffRequested)?;
        self.handoff_offered = false;
        self.handoff_reason = Some(reason);
        self.ticket = Some(ticket);
        self.handoff_at = Some(now);
        self.wait_notice_sent = false;
        self.updated_at = now;
        Ok(())
    }

    /// A person resolved the conversation; the bot takes the next customer message.
    pub fn resolve(&mut self, now: DateTime<Utc>) -> Result<(), InvalidTransition> {
        self.state = self.state.apply(StateEvent::Resolved)?;
        self.agent = None;
        self.push_system_turn("resolved", now);
        Ok(())
    }

    /// Applies what an agent did at the desk.
    ///
    /// An agent who replies to a conversation nobody took takes it (a reply is the clearest
    /// sign a person is on it), including a resolved or bot-owned one: a person speaking always
    /// silences the bot. Resolving a conversation no person owns changes nothing, so a desk that
    /// reports the same resolution twice cannot hand a fresh conversation back to the bot.
    pub fn apply_desk(&mut self, event: &DeskEvent) -> DeskOutcome {
        if self.recent_desk_event_ids.contains(&event.id) {
            return DeskOutcome::Duplicate;
        }
        self.recent_desk_event_ids.push(event.id.clone());
        let overflow = self
            .recent_desk_event_ids
            .len()
            .saturating_sub(MAX_RECENT_DESK_EVENT_IDS);
        self.recent_desk_event_ids.drain(..overflow);
        match &event.action {
            DeskAction::Take => {
                self.take(&event.agent, event.at);
                DeskOutcome::Taken
            }
            DeskAction::Reply { text } => self.agent_writes(event, text, None),
            DeskAction::SendFile { media, caption } => {
                self.agent_writes(event, caption, Some(media.as_ref()))
            }
            DeskAction::Resolve => match self.resolve(event.at) {
                Ok(()) => DeskOutcome::Resolved,
                Err(_) => DeskOutcome::Ignored,
            },
            // Only a conversation still waiting, told once: a person who took it in the
            // meantime, or a resolution, makes the notice moot.
            DeskAction::WaitExpired => match (&self.ticket, self.state) {
                (Some(ticket), ConversationState::WaitingForHuman) if !self.wait_notice_sent => {
                    self.wait_notice_sent = true;
                    DeskOutcome::NobodyAvailable {
                        ticket: ticket.clone(),
                    }
                }
                _ => DeskOutcome::Ignored,
            },
            DeskAction::CreateTicket => {
                self.take(&event.agent, event.at);
                // A conversation an agent picked up without a handoff gets its number now.
                let ticket = self
                    .ticket
                    .get_or_insert_with(|| TicketNumber::for_handoff(&self.id, &event.id))
                    .clone();
                self.push_system_turn(&format!("ticket {ticket} registered"), event.at);
                DeskOutcome::TicketCreated { ticket }
            }
            DeskAction::CloseTicket => match (self.ticket.clone(), self.resolve(event.at)) {
                (Some(ticket), Ok(())) => DeskOutcome::TicketClosed { ticket },
                (None, Ok(())) => DeskOutcome::Resolved,
                (_, Err(_)) => DeskOutcome::Ignored,
            },
        }
    }

    /// The agent of `event` wrote `text` (with `media`, a file they sent) to the customer: they
    /// own the conversation, and the turn is kept.
    fn agent_writes(
        &mut self,
        event: &DeskEvent,
        text: &str,
        media: Option<&MediaRef>,
    ) -> DeskOutcome {
        self.take(&event.agent, event.at);
        self.push_turn(Turn {
            at: event.at,
            author: Author::Agent,
            by: Some(event.agent.name.clone()),
            text: text.to_owned(),
            media: media.cloned().into_iter().collect(),
            provider_message_id: None,
        });
        DeskOutcome::Reply {
            text: text.to_owned(),
            media: media.cloned(),
        }
    }

    /// The turn that recorded the customer's message `id`, if it is still in the history.
    pub fn turn_of_mut(&mut self, id: &ProviderMessageId) -> Option<&mut Turn> {
        self.turns
            .iter_mut()
            .rev()
            .find(|t| t.provider_message_id.as_ref() == Some(id))
    }

    /// `agent` owns the conversation from now on.
    fn take(&mut self, agent: &Agent, now: DateTime<Utc>) {
        if self.agent.as_ref() == Some(agent) && self.state == ConversationState::Human {
            return;
        }
        // Every state but Human accepts AgentJoined; in Human the conversation changes hands.
        self.state = self
            .state
            .apply(StateEvent::AgentJoined)
            .unwrap_or(ConversationState::Human);
        self.handoff_offered = false;
        self.agent = Some(agent.clone());
        self.push_system_turn(&format!("taken by {}", agent.name), now);
    }

    fn push_system_turn(&mut self, text: &str, now: DateTime<Utc>) {
        self.push_turn(Turn {
            at: now,
            author: Author::System,
            by: None,
            text: text.to_owned(),
            media: Vec::new(),
            provider_message_id: None,
        });
    }

    fn push_turn(&mut self, turn: Turn) {
        self.updated_at = turn.at.max(self.updated_at);
        self.turns.push(turn);
        let overflow = self.turns.len().saturating_sub(MAX_TURNS);
        self.turns.drain(..overflow);
    }
}

/// One of a customer's earlier conversations, read from the kept history: what the customer
/// opened with, when, and whether a person took part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Episode {
    /// The customer's first message of it.
    pub started_at: DateTime<Utc>,
    /// Its last turn.
    pub ended_at: DateTime<Utc>,
    /// The customer's first words (at most 120 characters).
    pub opening: String,
    /// Whether a person wrote in it.
    pub with_person: bool,
}

impl Conversation {
    /// The customer's earlier conversations in the kept history (the last [`MAX_TURNS`] turns),
    /// newest first, without the current one. A conversation ends at a resolution, or when the
    /// customer is silent for [`crate::stats::IDLE_HOURS`] — the dashboard's own rule.
    pub fn earlier_episodes(&self) -> Vec<Episode> {
        let idle = chrono::Duration::hours(crate::stats::IDLE_HOURS);
        let mut episodes: Vec<Episode> = Vec::new();
        let mut open = false;
        let mut last_customer: Option<DateTime<Utc>> = None;
        for turn in &self.turns {
            let resolved = turn.author == Author::System && turn.text == "resolved";
            if turn.author == Author::Customer {
                let after_silence = last_customer.is_some_and(|at| turn.at - at >= idle);
                if !open || after_silence {
                    episodes.push(Episode {
                        started_at: turn.at,
                        ended_at: turn.at,
                        opening: turn.text.chars().take(120).collect(),
                        with_person: false,
                    });
                    open = true;
                }
                last_customer = Some(turn.at);
            }
            if let Some(current) = episodes.last_mut().filter(|_| open) {
                current.ended_at = turn.at;
                current.with_person |= turn.author == Author::Agent;
            }
            if resolved {
                open = false;
            }
        }
        // The latest is the current one, unless it was resolved.
        if open {
            episodes.pop();
        }
        episodes.reverse();
        episodes
    }
}

/// The text and media a turn keeps for content of each kind (also what a desk is relayed).
pub fn describe(content: &MessageContent) -> (String, Vec<MediaRef>) {
    match content {
        MessageContent::Text { body } => (body.clone(), Vec::new()),
        MessageContent::Media { items, caption } => {
            (caption.clone().unwrap_or_default(), items.clone())
        }
        MessageContent::Location {
            latitude,
            longitude,
            name,
            address,
        } => {
            let place = [name.as_deref(), address.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            (
                format!("[location {latitude:.5},{longitude:.5}] {place}")
                    .trim_end()
                    .to_owned(),
                Vec::new(),
            )
        }
        MessageContent::Reaction { emoji } => (format!("[reaction {emoji}]"), Vec::new()),
        MessageContent::Form { name, fields } => {
            let answers = fields
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let name = name.as_deref().unwrap_or("form");
            (
                format!("[{name}] {answers}").trim_end().to_owned(),
                Vec::new(),
            )
        }
        MessageContent::Notice { kind, detail } => (
            format!("[{kind}] {}", detail.as_deref().unwrap_or_default())
                .trim_end()
                .to_owned(),
            Vec::new(),
        ),
        MessageContent::Unsupported { kind } => (format!("[{kind}]"), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HandoffReason, PhoneNumber};
    use chrono::Duration;

    fn t0() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_760_000_000, 0).unwrap()
    }

    fn conversation() -> Conversation {
        let tenant = TenantId::parse("demo").unwrap();
        let phone = PhoneNumber::parse("+18095551010").unwrap();
        let id = ConversationId::new(&tenant, Channel::TwilioWhatsApp, phone.as_str());
        Conversation::start(
            id,
            tenant,
            Channel::TwilioWhatsApp,
            Contact::from_phone(phone),
            t0(),
        )
    }

    fn inbound(conv: &Conversation, id: &str, text: &str, at: DateTime<Utc>) -> InboundMessage {
        InboundMessage {
            tenant: conv.tenant.clone(),
            channel: conv.channel,
            conversation: conv.id.clone(),
            provider_message_id: ProviderMessageId::parse(id).unwrap(),
            contact: conv.contact.clone(),
            business_address: None,
            content: MessageContent::Text { body: text.into() },
            sent_at: Some(at),
            received_at: at,
            in_reply_to: None,
            referral: None,
        }
    }

    #[test]
    fn every_allowed_transition_lands_where_the_diagram_says() {
        use ConversationState as S;
        use StateEvent as E;
        let table = [
            (S::Bot, E::HandoffRequested, Some(S::WaitingForHuman)),
            (S::Bot, E::CustomerWrote, Some(S::Bot)),
            (S::Bot, E::AgentJoined, Some(S::Human)),
            (S::Bot, E::Resolved, None),
            (S::WaitingForHuman, E::AgentJoined, Some(S::Human)),
            (
                S::WaitingForHuman,
                E::CustomerWrote,
                Some(S::WaitingForHuman),
            ),
            (S::WaitingForHuman, E::Resolved, Some(S::Resolved)),
            (S::WaitingForHuman, E::HandoffRequested, None),
            (S::Human, E::CustomerWrote, Some(S::Human)),
            (S::Human, E::Resolved, Some(S::Resolved)),
            (S::Human, E::HandoffRequested, None),
            (S::Human, E::AgentJoined, None),
            (S::Resolved, E::CustomerWrote, Some(S::Bot)),
            (S::Resolved, E::AgentJoined, Some(S::Human)),
            (S::Resolved, E::HandoffRequested, None),
            (S::Resolved, E::Resolved, None),
        ];
        for (from, event, to) in table {
            assert_eq!(from.apply(event).ok(), to, "{from:?} + {event:?}");
        }
    }

    #[test]
    fn only_the_bot_state_lets_the_bot_reply() {
        assert!(ConversationState::Bot.bot_may_reply());
        for s in [
            ConversationState::WaitingForHuman,
            ConversationState::Human,
            ConversationState::Resolved,
        ] {
            assert!(!s.bot_may_reply());
        }
    }

    #[test]
    fn a_redelivered_message_is_recognized() {
        let mut c = conversation();
        let m = inbound(&c, "SM1", "hola", t0());
        assert_eq!(c.record_customer_message(&m), Recorded::New);
        assert_eq!(c.record_customer_message(&m), Recorded::Duplicate);
        assert_eq!(c.turns.len(), 1);
    }

    #[test]
    fn customer_messages_open_the_window_and_the_latest_wins() {
        let mut c = conversation();
        let later = t0() + Duration::hours(2);
        c.record_customer_message(&inbound(&c, "SM2", "b", later));
        c.record_customer_message(&inbound(&c, "SM1", "a", t0()));
        assert_eq!(c.last_customer_message_at, Some(later));
        assert!(c.window().is_open(later + Duration::hours(23)));
    }

    #[test]
    fn a_resolved_conversation_starts_clean_when_the_customer_returns() {
        let mut c = conversation();
        c.handoff_offered = true;
        c.unanswered_in_a_row = 2;
        c.hand_off(HandoffReason::CustomerRequested, ticket(&c), t0())
            .unwrap();
        assert_eq!(c.state, ConversationState::WaitingForHuman);
        c.record_customer_message(&inbound(&c, "SM1", "¿hola?", t0()));
        assert_eq!(
            c.state,
            ConversationState::WaitingForHuman,
            "bot stays silent while waiting"
        );
        c.resolve(t0()).unwrap();
        c.record_customer_message(&inbound(&c, "SM2", "otra pregunta", t0()));
        assert_eq!(c.state, ConversationState::Bot);
        assert!(!c.handoff_offered);
        assert_eq!(c.unanswered_in_a_row, 0);
        assert_eq!(c.handoff_reason, None);
    }

    fn ticket(c: &Conversation) -> TicketNumber {
        TicketNumber::for_handoff(&c.id, "SM0")
    }

    fn desk(c: &Conversation, id: &str, agent: &str, action: DeskAction) -> DeskEvent {
        DeskEvent {
            id: id.to_owned(),
            tenant: c.tenant.clone(),
            conversation: c.id.clone(),
            desk: crate::DeskKind::Console,
            agent: Agent::new(format!("console:{agent}"), agent).unwrap(),
            action,
            at: t0(),
        }
    }

    #[test]
    fn a_file_an_agent_sends_is_kept_in_the_transcript_and_goes_to_the_customer() {
        let mut c = conversation();
        c.hand_off(HandoffReason::CustomerRequested, ticket(&c), t0())
            .unwrap();
        let file = crate::MediaRef {
            kind: crate::MediaKind::Document,
            reference: "cotizacion.pdf".into(),
            content_type: Some("application/pdf".into()),
            filename: Some("cotizacion.pdf".into()),
            stored: Some(crate::outgoing_media_key(
                "0123456789abcdef0123456789abcdef",
            )),
        };
        let send = desk(
            &c,
            "f1",
            "Ana",
            DeskAction::SendFile {
                media: Box::new(file.clone()),
                caption: "Su cotización".into(),
            },
        );
        assert_eq!(
            c.apply_desk(&send),
            DeskOutcome::Reply {
                text: "Su cotización".into(),
                media: Some(file.clone()),
            }
        );
        // Sending a file takes the conversation, like a reply.
        assert_eq!(c.state, ConversationState::Human);
        let last = c.turns.last().unwrap();
        assert_eq!(
            (last.author, last.media.as_slice()),
            (Author::Agent, &[file][..])
        );
        assert_eq!(c.apply_desk(&send), DeskOutcome::Duplicate);
    }

    #[test]
    fn earlier_conversations_end_at_a_resolution_or_a_day_of_silence() {
        let mut c = conversation();
        let turn = |author, text: &str, hours: i64| Turn {
            at: t0() + chrono::Duration::hours(hours),
            author,
            by: None,
            text: text.into(),
            media: Vec::new(),
            provider_message_id: None,
        };
        c.turns = vec![
            turn(Author::Customer, "¿Tienen cemento?", 0),
            turn(Author::Bot, "Sí", 0),
            turn(Author::Customer, "¿Y varilla?", 30),
            turn(Author::Agent, "Le ayudo", 31),
            turn(Author::System, "resolved", 32),
            turn(Author::Customer, "Hola otra vez", 40),
        ];
        let earlier = c.earlier_episodes();
        let openings: Vec<_> = earlier.iter().map(|e| e.opening.as_str()).collect();
        assert_eq!(openings, ["¿Y varilla?", "¿Tienen cemento?"]);
        assert!(earlier[0].with_person && !earlier[1].with_person);
        // Once the current one is resolved too, it is earlier as well.
        c.turns.push(turn(Author::System, "resolved", 41));
        assert_eq!(c.earlier_episodes().len(), 3);
    }

    #[test]
    fn media_keys_are_stable_per_message_and_say_nothing_about_the_customer() {
        let c = conversation();
        let id = ProviderMessageId::parse("SM123").unwrap();
        let key = crate::media_key(&c.id, &id, 0);
        assert_eq!(key, crate::media_key(&c.id, &id, 0));
        assert_ne!(key, crate::media_key(&c.id, &id, 1));
        assert!(crate::is_media_key(&key) && !crate::is_outgoing_media_key(&key));
        assert!(!key.contains(c.contact.identity.key().as_str()));
        let out = crate::outgoing_media_key("0123456789abcdef0123456789abcdef");
        assert!(crate::is_outgoing_media_key(&out));
        for bad in [
            "",
            "in-../../etc/passwd",
            "out-XYZ",
            "in-0123",
            "../in-0123456789abcdef0123456789abcdef",
        ] {
            assert!(!crate::is_media_key(bad), "{bad}");
        }
    }

    #[test]
    fn an_agent_takes_replies_and_resolves_and_redeliveries_change_nothing() {
        let mut c = conversation();
        c.hand_off(HandoffReason::CustomerRequested, ticket(&c), t0())
            .unwrap();
        let take = desk(&c, "d1", "Ana", DeskAction::Take);
        assert_eq!(c.apply_desk(&take), DeskOutcome::Taken);
        assert_eq!(c.state, ConversationState::Human);
        assert_eq!(c.agent.as_ref().map(|a| a.name.as_str()), Some("Ana"));
        assert_eq!(c.apply_desk(&take), DeskOutcome::Duplicate);

        let reply = desk(
            &c,
            "d2",
            "Ana",
            DeskAction::Reply {
                text: "Hola, soy Ana".into(),
            },
        );
        assert_eq!(
            c.apply_desk(&reply),
            DeskOutcome::Reply {
                text: "Hola, soy Ana".into(),
                media: None,
            }
        );
        let last = c.turns.last().unwrap();
        assert_eq!(
            (last.author, last.by.as_deref()),
            (Author::Agent, Some("Ana"))
        );
        assert_eq!(c.apply_desk(&reply), DeskOutcome::Duplicate);

        // Customer messages while a person owns the conversation keep it with the person.
        c.record_customer_message(&inbound(&c, "SM1", "gracias", t0()));
        assert_eq!(c.state, ConversationState::Human);

        assert_eq!(
            c.apply_desk(&desk(&c, "d3", "Ana", DeskAction::Resolve)),
            DeskOutcome::Resolved
        );
        assert_eq!(
            (c.state, c.agent.clone()),
            (ConversationState::Resolved, None)
        );
        // The desk reports the resolution again under another id after the customer came back:
        // it must not touch the bot's fresh conversation.
        c.record_customer_message(&inbound(&c, "SM2", "otra cosa", t0()));
        assert_eq!(
            c.apply_desk(&desk(&c, "d4", "Ana", DeskAction::Resolve)),
            DeskOutcome::Ignored
        );
        assert_eq!(c.state, ConversationState::Bot);
    }

    #[test]
    fn an_agent_reply_silences_the_bot_whatever_the_state() {
        for start in [
            ConversationState::Bot,
            ConversationState::WaitingForHuman,
            ConversationState::Resolved,
        ] {
            let mut c = conversation();
            c.state = start;
            let reply = desk(
                &c,
                "d1",
                "Luis",
                DeskAction::Reply {
                    text: "Le escribo yo".into(),
                },
            );
            assert!(matches!(c.apply_desk(&reply), DeskOutcome::Reply { .. }));
            assert_eq!(c.state, ConversationState::Human, "from {start:?}");
            assert!(!c.state.bot_may_reply());
        }
        // Another agent taking over a conversation someone owns reassigns it.
        let mut c = conversation();
        c.apply_desk(&desk(&c, "d1", "Ana", DeskAction::Take));
        c.apply_desk(&desk(&c, "d2", "Luis", DeskAction::Take));
        assert_eq!(c.agent.as_ref().map(|a| a.name.as_str()), Some("Luis"));
        assert_eq!(c.state, ConversationState::Human);
    }

    #[test]
    fn the_customer_is_told_once_when_nobody_takes_the_conversation() {
        let mut c = conversation();
        c.hand_off(HandoffReason::CustomerRequested, ticket(&c), t0())
            .unwrap();
        assert_eq!(c.handoff_at, Some(t0()));
        let expired = |c: &Conversation, id: &str| desk(c, id, "atiende", DeskAction::WaitExpired);
        assert_eq!(
            c.apply_desk(&expired(&c, "w1")),
            DeskOutcome::NobodyAvailable { ticket: ticket(&c) }
        );
        assert_eq!(c.state, ConversationState::WaitingForHuman, "still waiting");
        assert_eq!(
            c.apply_desk(&expired(&c, "w2")),
            DeskOutcome::Ignored,
            "once"
        );
        // A person who took it first makes the notice moot.
        let mut taken = conversation();
        taken
            .hand_off(HandoffReason::CustomerRequested, ticket(&taken), t0())
            .unwrap();
        taken.apply_desk(&desk(&taken, "d1", "Ana", DeskAction::Take));
        assert_eq!(
            taken.apply_desk(&expired(&taken, "w1")),
            DeskOutcome::Ignored
        );
        // A new handoff may be told again.
        c.resolve(t0()).unwrap();
        c.record_customer_message(&inbound(&c, "SM9", "hola", t0()));
        c.hand_off(HandoffReason::CustomerRequested, ticket(&c), t0())
            .unwrap();
        assert!(matches!(
            c.apply_desk(&expired(&c, "w3")),
            DeskOutcome::NobodyAvailable { .. }
        ));
    }

    #[test]
    fn ticket_commands_register_and_close_the_case() {
        let mut c = conversation();
        c.hand_off(HandoffReason::CustomerRequested, ticket(&c), t0())
            .unwrap();
        assert_eq!(
            c.apply_desk(&desk(&c, "r1", "Ana", DeskAction::CreateTicket)),
            DeskOutcome::TicketCreated { ticket: ticket(&c) }
        );
        assert_eq!(
            c.state,
            ConversationState::Human,
            "creating a ticket takes it"
        );
        assert_eq!(
            c.apply_desk(&desk(&c, "r2", "Ana", DeskAction::CloseTicket)),
            DeskOutcome::TicketClosed { ticket: ticket(&c) }
        );
        assert_eq!(c.state, ConversationState::Resolved, "closing resolves");
        assert_eq!(
            c.apply_desk(&desk(&c, "r3", "Ana", DeskAction::CloseTicket)),
            DeskOutcome::Ignored,
            "closing twice tells the customer once"
        );
        // An agent registering a case nobody handed off gives it a number.
        let mut fresh = conversation();
        let DeskOutcome::TicketCreated { ticket } =
            fresh.apply_desk(&desk(&fresh, "r1", "Ana", DeskAction::CreateTicket))
        else {
            panic!("expected a ticket")
        };
        assert_eq!(fresh.ticket.as_ref(), Some(&ticket));
    }

    #[test]
    fn history_and_redelivery_memory_are_bounded() {
        let mut c = conversation();
        for i in 0..(MAX_TURNS + 30) {
            c.record_customer_message(&inbound(&c, &format!("SM{i}"), "x", t0()));
        }
        assert_eq!(c.turns.len(), MAX_TURNS);
        assert_eq!(c.recent_inbound_ids.len(), MAX_RECENT_INBOUND_IDS);
        assert!(c.has_seen(&ProviderMessageId::parse(format!("SM{}", MAX_TURNS + 29)).unwrap()));
    }
}
