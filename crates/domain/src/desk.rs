//! The human desk: what a person taking over receives, the ticket the customer is given, and
//! what agents do — take, reply, resolve — whichever desk they work in.
//!
//! Agents' actions travel to the processor as [`DeskEvent`]s on the same ordered stream as the
//! customer's messages (ordering key = conversation). One writer applies both, in order, so a
//! customer message racing a handoff or an agent's reply can never make the bot talk over a
//! person: whichever arrives second sees the state the first one left.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    Author, Channel, Contact, Conversation, ConversationId, HandoffReason, Locale, TenantId, Turn,
    ValidationError,
};

/// How many of the latest turns a handoff packet carries.
pub const PACKET_TURNS: usize = 20;
/// How many customer turns the packet's summary quotes.
const SUMMARY_TURNS: usize = 5;

/// The desks a tenant can hand conversations to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeskKind {
    /// atiende's own agent console (the embedded default).
    #[default]
    Console,
    /// A Chatwoot API-channel inbox.
    Chatwoot,
    /// A Rocket.Chat Omnichannel (livechat) department.
    RocketChat,
}

impl DeskKind {
    /// The snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Console => "console",
            Self::Chatwoot => "chatwoot",
            Self::RocketChat => "rocketchat",
        }
    }
}

/// The number a customer is given when a person takes over ("T-3FA9C21B").
///
/// It derives from the conversation and the message that caused the handoff, so a message
/// processed twice after a crash yields the same number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketNumber(String);

impl TicketNumber {
    /// The ticket for a handoff of `conversation` caused by `cause`.
    pub fn for_handoff(conversation: &ConversationId, cause: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{conversation}\n{cause}").as_bytes());
        let hex: String = digest[..4].iter().map(|b| format!("{b:02X}")).collect();
        Self(format!("T-{hex}"))
    }

    /// The number as shown to people.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person working a desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    /// Their id at the desk (`console:ana`, `chatwoot:12`).
    pub id: String,
    /// The name the customer may be told.
    pub name: String,
}

impl Agent {
    /// An agent, with the id and name checked for size and control characters.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Result<Self, ValidationError> {
        let (id, name) = (id.into(), name.into());
        for (field, value) in [("agent id", &id), ("agent name", &name)] {
            if value.trim().is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    field,
                    "must be 1-200 printable characters",
                ));
            }
        }
        Ok(Self { id, name })
    }
}

/// Everything a person taking over needs, so nobody asks the customer to repeat themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffPacket {
    /// The packet's format: [`PACKET_VERSION`] for packets written now; 1 (the default) for
    /// packets written before sentiment, intent and lead were added.
    #[serde(default = "first_version")]
    pub version: u32,
    /// The ticket the customer was given.
    pub ticket: TicketNumber,
    /// Why the bot stepped back.
    pub reason: HandoffReason,
    /// What the conversation is about: the model's rolling summary when it wrote one, otherwise
    /// the customer's latest informative messages, in their words.
    pub summary: String,
    /// Who wrote the summary.
    #[serde(default)]
    pub summary_by: SummarySource,
    /// The customer's mood in their latest message (−1..1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<f32>,
    /// How the mood moved over the latest messages (the latest minus the earliest of the last
    /// three): negative is getting worse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment_trend: Option<f32>,
    /// What the customer wants (`estado_de_cuenta`, `cotizacion`, `producto`, the model's
    /// reading…), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// The lead fields the customer gave.
    #[serde(default, skip_serializing_if = "crate::turn::LeadFields::is_empty")]
    pub lead: crate::turn::LeadFields,
    /// The customer.
    pub contact: Contact,
    /// The channel they write on.
    pub channel: Channel,
    /// The language they write in.
    pub locale: Locale,
    /// The latest turns, oldest first, at most [`PACKET_TURNS`].
    pub transcript: Vec<Turn>,
    /// When the handoff was decided.
    pub requested_at: DateTime<Utc>,
    /// The ad or post the customer came from, when the conversation started from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<crate::Referral>,
}

/// The handoff packet's current format.
pub const PACKET_VERSION: u32 = 2;

fn first_version() -> u32 {
    1
}

/// Who wrote a packet's summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SummarySource {
    /// The language model's rolling summary.
    Model,
    /// The customer's latest informative messages, quoted.
    #[default]
    Extractive,
}

impl HandoffPacket {
    /// The packet for `conversation` as it stands.
    pub fn from_conversation(
        conversation: &Conversation,
        reason: HandoffReason,
        ticket: TicketNumber,
        locale: Locale,
        now: DateTime<Utc>,
    ) -> Self {
        let (summary, summary_by) = Self::summary_of(conversation);
        let start = conversation.turns.len().saturating_sub(PACKET_TURNS);
        Self {
            version: PACKET_VERSION,
            ticket,
            reason,
            summary,
            summary_by,
            sentiment: conversation.latest_sentiment(),
            sentiment_trend: conversation.sentiment_trend(),
            intent: conversation.latest_intent(),
            lead: conversation.lead.clone(),
            contact: conversation.contact.clone(),
            channel: conversation.channel,
            locale,
            transcript: conversation.turns[start..].to_vec(),
            requested_at: now,
            referral: conversation.referral.clone(),
        }
    }

    /// What the conversation is about, and who said so: the model's rolling summary when it
    /// wrote one, otherwise the customer's latest informative messages.
    pub fn summary_of(conversation: &Conversation) -> (String, SummarySource) {
        match &conversation.summary {
            Some(summary) if !summary.trim().is_empty() => (summary.clone(), SummarySource::Model),
            _ => (extractive_summary(conversation), SummarySource::Extractive),
        }
    }

    /// The packet as plain text, for desks that take a note (a Chatwoot private note).
    pub fn render_note(&self) -> String {
        let mut note = format!(
            "Ticket {} · reason: {} · language: {}\nCustomer: {}\nSummary: {}",
            self.ticket,
            self.reason.as_str(),
            self.locale.as_str(),
            self.contact.display_name(),
            if self.summary.is_empty() {
                "—"
            } else {
                &self.summary
            },
        );
        if let Some(sentiment) = self.sentiment {
            note.push_str(&format!("\nMood: {sentiment:+.2}"));
            if let Some(trend) = self.sentiment_trend {
                let word = if trend <= -0.3 {
                    "getting worse"
                } else if trend >= 0.3 {
                    "getting better"
                } else {
                    "steady"
                };
                note.push_str(&format!(" ({word}, {trend:+.2} over the last messages)"));
            }
        }
        if let Some(intent) = &self.intent {
            note.push_str(&format!("\nWants: {intent}"));
        }
        let lead = &self.lead;
        let fields: Vec<String> = [
            ("name", &lead.name),
            ("e-mail", &lead.email),
            ("company", &lead.company),
            ("area", &lead.interest_area),
            ("need", &lead.problem_statement),
        ]
        .iter()
        .filter_map(|(label, value)| value.as_ref().map(|v| format!("{label}: {v}")))
        .collect();
        if !fields.is_empty() {
            note.push_str(&format!("\nLead: {}", fields.join(" · ")));
        }
        note.push_str("\n\nTranscript:");
        for turn in &self.transcript {
            let who = match turn.author {
                Author::Customer => "customer",
                Author::Bot => "bot",
                Author::Agent => "agent",
                Author::System => "system",
            };
            note.push_str(&format!(
                "\n[{}] {who}: {}",
                turn.at.format("%H:%M"),
                turn.text
            ));
        }
        note
    }
}

/// The customer's latest informative messages (not greetings, thanks, yes or no), in their
/// words: the summary when no model wrote one.
fn extractive_summary(conversation: &Conversation) -> String {
    let informative: Vec<&str> = conversation
        .turns
        .iter()
        .filter(|t| t.author == Author::Customer && !t.text.trim().is_empty())
        .map(|t| t.text.trim())
        .filter(|t| crate::intent::small_talk(t).is_none() && crate::intent::yes_or_no(t).is_none())
        .collect();
    informative[informative.len().saturating_sub(SUMMARY_TURNS)..].join(" / ")
}

/// What an agent did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeskAction {
    /// Took (or was assigned) the conversation.
    Take,
    /// Wrote to the customer.
    Reply {
        /// The text, sent to the customer as written.
        text: String,
    },
    /// Sent the customer a file (a photo, a PDF), kept in the tenant's media store.
    SendFile {
        /// The file; [`crate::MediaRef::stored`] names atiende's copy.
        media: Box<crate::MediaRef>,
        /// Text to go with it (may be empty).
        #[serde(default)]
        caption: String,
    },
    /// Resolved the conversation: the bot answers the customer's next message.
    Resolve,
    /// Nobody took the conversation in time (raised by atiende itself, not by an agent).
    WaitExpired,
    /// The agent registered the case formally (Rocket.Chat's `/crear-ticket`): they own the
    /// conversation and the customer is told the ticket number.
    CreateTicket,
    /// The agent closed the case (Rocket.Chat's `/cerrar-ticket`): resolved, and the customer is
    /// told the ticket is closed.
    CloseTicket,
}

impl DeskAction {
    /// The action's name, for logs (never the text).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Take => "take",
            Self::Reply { .. } => "reply",
            Self::SendFile { .. } => "send_file",
            Self::Resolve => "resolve",
            Self::WaitExpired => "wait_expired",
            Self::CreateTicket => "create_ticket",
            Self::CloseTicket => "close_ticket",
        }
    }
}

/// One agent action on one conversation, on its way to the processor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeskEvent {
    /// Unique per action at its desk (`chatwoot:77287`), to recognize redeliveries.
    pub id: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The conversation.
    pub conversation: ConversationId,
    /// The desk it came from.
    pub desk: DeskKind,
    /// Who did it.
    pub agent: Agent,
    /// What they did.
    pub action: DeskAction,
    /// When.
    pub at: DateTime<Utc>,
}

/// What applying a desk event to a conversation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskOutcome {
    /// The event had been applied before.
    Duplicate,
    /// Nothing to do: resolving a conversation no person owns.
    Ignored,
    /// The agent now owns the conversation.
    Taken,
    /// The agent's text (and file) must reach the customer.
    Reply {
        /// The text.
        text: String,
        /// The file the agent sent, if any.
        media: Option<crate::MediaRef>,
    },
    /// Resolved; the bot takes the next customer message.
    Resolved,
    /// Nobody took the conversation in time: the customer must be told, with their ticket.
    NobodyAvailable {
        /// The ticket they were given.
        ticket: TicketNumber,
    },
    /// The case was registered: the customer must be told its number.
    TicketCreated {
        /// The ticket.
        ticket: TicketNumber,
    },
    /// The case was closed and the bot is back: the customer must be told.
    TicketClosed {
        /// The ticket.
        ticket: TicketNumber,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PhoneNumber;

    fn conversation() -> Conversation {
        let tenant = TenantId::parse("demo").unwrap();
        let phone = PhoneNumber::parse("+18095551010").unwrap();
        let id = ConversationId::new(&tenant, Channel::TwilioWhatsApp, phone.as_str());
        Conversation::start(
            id,
            tenant,
            Channel::TwilioWhatsApp,
            Contact::from_phone(phone),
            DateTime::from_timestamp(1_760_000_000, 0).unwrap(),
        )
    }

    #[test]
    fn tickets_are_stable_per_cause_and_differ_between_causes() {
        let c = conversation();
        let a = TicketNumber::for_handoff(&c.id, "SM1");
        assert_eq!(a, TicketNumber::for_handoff(&c.id, "SM1"));
        assert_ne!(a, TicketNumber::for_handoff(&c.id, "SM2"));
        assert!(
            a.as_str().starts_with("T-") && a.as_str().len() == 10,
            "{a}"
        );
    }

    #[test]
    fn the_packet_quotes_the_customer_and_keeps_the_latest_turns() {
        let mut c = conversation();
        let t0 = c.created_at;
        for i in 0..30 {
            c.record_bot_message(&format!("bot {i}"), t0);
            c.turns.push(Turn {
                at: t0,
                author: Author::Customer,
                text: format!("question {i}"),
                by: None,
                media: Vec::new(),
                provider_message_id: None,
            });
        }
        let ticket = TicketNumber::for_handoff(&c.id, "x");
        let packet = HandoffPacket::from_conversation(
            &c,
            HandoffReason::CustomerRequested,
            ticket.clone(),
            Locale::Es,
            t0,
        );
        assert_eq!(packet.transcript.len(), PACKET_TURNS);
        assert_eq!(
            packet.summary,
            "question 25 / question 26 / question 27 / question 28 / question 29"
        );
        assert_eq!(packet.version, PACKET_VERSION);
        assert_eq!(packet.summary_by, SummarySource::Extractive);
        let note = packet.render_note();
        assert!(note.contains(ticket.as_str()) && note.contains("customer_requested"));
        assert!(note.contains("customer: question 29") && note.contains("bot: bot 29"));
    }

    #[test]
    fn agents_need_printable_ids_and_names() {
        assert!(Agent::new("console:ana", "Ana").is_ok());
        assert!(Agent::new("", "Ana").is_err());
        assert!(Agent::new("console:ana", "A\u{7}").is_err());
    }
}
