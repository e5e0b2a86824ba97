//! Daily figures of a tenant's service: what the dashboard and `/metrics` are made of.
//!
//! The dashboard never scans conversations: every service adds to a tenant's counters for the
//! day as things happen (a conversation begins, a customer writes, the bot answers, a handoff,
//! a person takes or resolves, a WhatsApp message goes out, the model is paid), and a report is
//! the sum of at most a year of days — the same cost at ten conversations as at a million.
//!
//! Counters are named `snake_case` (they become Firestore field paths and CSV columns).
//! Latencies are counted in fixed buckets ([`BUCKETS_MS`]), so percentiles of any period are
//! read from the sums of its days.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::{ActionKind, Conversation, ConversationState, OutboundAction};

/// Conversations begun: a new customer, one returning after a resolution, or one writing to the
/// bot again after [`IDLE_HOURS`] of silence.
pub const CONVERSATIONS: &str = "conversations";
/// Conversations a customer began within [`RECONTACT_DAYS`] of their previous message: the
/// earlier conversation did not settle it the first time. First-contact resolution is the share
/// of conversations without one.
pub const RECONTACTS: &str = "recontacts";
/// A customer silent this long begins a new conversation with the bot when they write again
/// (WhatsApp's own service window).
pub const IDLE_HOURS: i64 = 24;
/// A conversation begun this soon after the customer's previous message is a recontact.
pub const RECONTACT_DAYS: i64 = 7;
/// Customer messages received.
pub const MESSAGES_IN: &str = "messages_in";
/// The bot's answers (and handoff notices).
pub const BOT_REPLIES: &str = "bot_replies";
/// Agents' replies.
pub const AGENT_REPLIES: &str = "agent_replies";
/// Conversations handed to a person; `handoffs_{reason}` counts each trigger.
pub const HANDOFFS: &str = "handoffs";
/// Conversations a person resolved.
pub const RESOLVED_BY_PERSON: &str = "resolved_by_person";
/// WhatsApp messages sent as free-form text (inside the 24-hour window).
pub const WHATSAPP_FREEFORM: &str = "whatsapp_freeform";
/// WhatsApp messages sent as approved templates (outside the window).
pub const WHATSAPP_TEMPLATE: &str = "whatsapp_template";
/// Model tokens read.
pub const PROMPT_TOKENS: &str = "prompt_tokens";
/// Model tokens written.
pub const COMPLETION_TOKENS: &str = "completion_tokens";
/// What the model cost, in US dollars.
pub const MODEL_COST_USD: &str = "model_cost_usd";
/// Satisfaction ratings received; `csat_sum` adds them up and `csat_{1..5}` counts each.
pub const CSAT_RESPONSES: &str = "csat_responses";
/// The sum of the ratings.
pub const CSAT_SUM: &str = "csat_sum";
/// The latency histogram of the answer's time, from the customer's message to the reply sent.
pub const ANSWER_MS: &str = "answer_ms";
/// The latency histogram of a handed-off customer's wait for a person.
pub const HUMAN_WAIT_MS: &str = "human_wait_ms";

/// Upper bounds of the latency buckets, in milliseconds; a last bucket takes the rest.
pub const BUCKETS_MS: [u64; 12] = [
    500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000, 14_400_000,
    86_400_000,
];

/// The counter of `histogram`'s bucket for a duration of `ms`.
pub fn bucket(histogram: &str, ms: u64) -> String {
    match BUCKETS_MS.iter().find(|&&b| ms <= b) {
        Some(bound) => format!("{histogram}_le_{bound}"),
        None => format!("{histogram}_le_inf"),
    }
}

/// What one observation of `ms` adds to `histogram`: a count in its bucket, and the milliseconds
/// to the histogram's sum (`{histogram}_sum`), so `/metrics` can give Prometheus a mean.
pub fn observe(histogram: &str, ms: u64) -> [(String, f64); 2] {
    // Up to 49 days in milliseconds; a longer wait is counted as that.
    let value = f64::from(u32::try_from(ms).unwrap_or(u32::MAX));
    [
        (bucket(histogram, ms), 1.0),
        (format!("{histogram}_sum"), value),
    ]
}

/// The counter of handoffs for one trigger.
pub fn handoffs_by(reason: crate::HandoffReason) -> String {
    format!("{HANDOFFS}_{}", reason.as_str())
}

/// Counter changes, to be added to a tenant's day.
pub type Deltas = Vec<(String, f64)>;

/// What the processor adds for one processed event: the conversation as it was (`before`:
/// `None` for a new one; `previous_customer_at`: when the customer last wrote before this event),
/// as it is now, the customer messages it recorded, and the actions it decided.
pub fn conversation_deltas(
    (before, previous_customer_at): (Option<ConversationState>, Option<DateTime<Utc>>),
    after: &Conversation,
    customer_messages: u32,
    actions: &[OutboundAction],
    now: DateTime<Utc>,
) -> Deltas {
    let mut out = Deltas::new();
    let gap = previous_customer_at
        .filter(|_| customer_messages > 0)
        .map(|previous| now - previous);
    let idle = before == Some(ConversationState::Bot)
        && gap.is_some_and(|g| g >= chrono::Duration::hours(IDLE_HOURS));
    let begun = (matches!(before, None | Some(ConversationState::Resolved)) || idle)
        && after.state != ConversationState::Resolved;
    if begun {
        out.push((CONVERSATIONS.to_owned(), 1.0));
        if gap.is_some_and(|g| g < chrono::Duration::days(RECONTACT_DAYS)) {
            out.push((RECONTACTS.to_owned(), 1.0));
        }
    }
    if customer_messages > 0 {
        out.push((MESSAGES_IN.to_owned(), f64::from(customer_messages)));
    }
    for action in actions {
        match &action.kind {
            ActionKind::Reply { .. } | ActionKind::Choose { .. } => {
                out.push((BOT_REPLIES.to_owned(), 1.0));
            }
            ActionKind::Handoff { reason, .. } => {
                out.push((BOT_REPLIES.to_owned(), 1.0));
                out.push((HANDOFFS.to_owned(), 1.0));
                out.push((handoffs_by(*reason), 1.0));
            }
            ActionKind::AgentReply { .. } => out.push((AGENT_REPLIES.to_owned(), 1.0)),
            ActionKind::Template { .. }
            | ActionKind::DeskHandoff { .. }
            | ActionKind::DeskRelay { .. }
            | ActionKind::Alert { .. }
            | ActionKind::PushLead { .. } => {}
        }
    }
    let was_waiting = before == Some(ConversationState::WaitingForHuman);
    if was_waiting
        && after.state == ConversationState::Human
        && let Some(since) = after.handoff_at
    {
        let waited = u64::try_from((now - since).num_milliseconds()).unwrap_or(0);
        out.extend(observe(HUMAN_WAIT_MS, waited));
    }
    let with_person = matches!(
        before,
        Some(ConversationState::WaitingForHuman | ConversationState::Human)
    );
    if with_person && after.state == ConversationState::Resolved {
        out.push((RESOLVED_BY_PERSON.to_owned(), 1.0));
    }
    out
}

/// A day's (or a period's) counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally(pub BTreeMap<String, f64>);

impl Tally {
    /// Adds `other` to this one.
    pub fn add(&mut self, other: &Tally) {
        for (name, value) in &other.0 {
            *self.0.entry(name.clone()).or_default() += value;
        }
    }

    /// A counter (0 when never counted).
    pub fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(0.0)
    }

    /// The `q` quantile (0–1) of `histogram`, as the upper bound of the bucket it falls in, in
    /// milliseconds; `None` without observations (or when it falls in the open last bucket).
    pub fn quantile_ms(&self, histogram: &str, q: f64) -> Option<u64> {
        let counts: Vec<(Option<u64>, f64)> = BUCKETS_MS
            .iter()
            .map(|&b| (Some(b), self.get(&format!("{histogram}_le_{b}"))))
            .chain(std::iter::once((
                None,
                self.get(&format!("{histogram}_le_inf")),
            )))
            .collect();
        let total: f64 = counts.iter().map(|c| c.1).sum();
        if total <= 0.0 {
            return None;
        }
        let mut seen = 0.0;
        for (bound, count) in counts {
            seen += count;
            if seen >= q * total {
                return bound;
            }
        }
        None
    }

    /// The figures a person reads: rates, percentiles and costs derived from the counters.
    pub fn figures(&self, template_cost_usd: f64) -> Figures {
        let conversations = self.get(CONVERSATIONS);
        let handoffs = self.get(HANDOFFS);
        let ratio = |n: f64, d: f64| (d > 0.0).then(|| (n / d).clamp(0.0, 1.0));
        let templates = self.get(WHATSAPP_TEMPLATE);
        let model_cost = self.get(MODEL_COST_USD);
        let whatsapp_cost = templates * template_cost_usd;
        Figures {
            conversations,
            messages_in: self.get(MESSAGES_IN),
            bot_replies: self.get(BOT_REPLIES),
            agent_replies: self.get(AGENT_REPLIES),
            handoffs,
            automated_resolution_rate: ratio(conversations - handoffs, conversations),
            first_contact_resolution: ratio(conversations - self.get(RECONTACTS), conversations),
            escalation_rate: ratio(handoffs, conversations),
            handoffs_by_trigger: self
                .0
                .iter()
                .filter_map(|(k, v)| {
                    let reason = k.strip_prefix(HANDOFFS)?.strip_prefix('_')?;
                    Some((reason.to_owned(), *v))
                })
                .collect(),
            resolved_by_person: self.get(RESOLVED_BY_PERSON),
            answer_p50_ms: self.quantile_ms(ANSWER_MS, 0.5),
            answer_p95_ms: self.quantile_ms(ANSWER_MS, 0.95),
            human_wait_p50_ms: self.quantile_ms(HUMAN_WAIT_MS, 0.5),
            human_wait_p95_ms: self.quantile_ms(HUMAN_WAIT_MS, 0.95),
            prompt_tokens: self.get(PROMPT_TOKENS),
            completion_tokens: self.get(COMPLETION_TOKENS),
            model_cost_usd: model_cost,
            whatsapp_freeform: self.get(WHATSAPP_FREEFORM),
            whatsapp_template: templates,
            whatsapp_cost_usd: whatsapp_cost,
            cost_per_conversation_usd: (conversations > 0.0)
                .then(|| (model_cost + whatsapp_cost) / conversations),
            csat_responses: self.get(CSAT_RESPONSES),
            csat_average: (self.get(CSAT_RESPONSES) > 0.0)
                .then(|| self.get(CSAT_SUM) / self.get(CSAT_RESPONSES)),
            csat_satisfied_rate: ratio(
                self.get("csat_4") + self.get("csat_5"),
                self.get(CSAT_RESPONSES),
            ),
        }
    }
}

/// The dashboard's figures for a day or a period.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Figures {
    /// Conversations begun.
    pub conversations: f64,
    /// Customer messages.
    pub messages_in: f64,
    /// The bot's messages.
    pub bot_replies: f64,
    /// Agents' messages.
    pub agent_replies: f64,
    /// Handoffs to a person.
    pub handoffs: f64,
    /// Conversations that never needed a person, of those begun.
    pub automated_resolution_rate: Option<f64>,
    /// Conversations the customer did not have to begin again within [`RECONTACT_DAYS`], of
    /// those begun (a recontact is counted on the day the customer comes back, so the latest
    /// week's figure can still fall).
    pub first_contact_resolution: Option<f64>,
    /// Handoffs per conversation begun.
    pub escalation_rate: Option<f64>,
    /// Handoffs by what triggered them.
    pub handoffs_by_trigger: BTreeMap<String, f64>,
    /// Conversations a person resolved.
    pub resolved_by_person: f64,
    /// Median time from a customer's message to the answer sent (bucket bound).
    pub answer_p50_ms: Option<u64>,
    /// 95th percentile of the same.
    pub answer_p95_ms: Option<u64>,
    /// Median wait of a handed-off customer for a person.
    pub human_wait_p50_ms: Option<u64>,
    /// 95th percentile of the same.
    pub human_wait_p95_ms: Option<u64>,
    /// Model tokens read.
    pub prompt_tokens: f64,
    /// Model tokens written.
    pub completion_tokens: f64,
    /// Model spending.
    pub model_cost_usd: f64,
    /// WhatsApp messages sent free-form.
    pub whatsapp_freeform: f64,
    /// WhatsApp messages sent as templates.
    pub whatsapp_template: f64,
    /// The templates' estimated cost (free-form service messages cost nothing).
    pub whatsapp_cost_usd: f64,
    /// Model and WhatsApp spending per conversation begun.
    pub cost_per_conversation_usd: Option<f64>,
    /// Satisfaction ratings received.
    pub csat_responses: f64,
    /// Their mean (1–5).
    pub csat_average: Option<f64>,
    /// The share rated 4 or 5 (the usual CSAT score).
    pub csat_satisfied_rate: Option<f64>,
}

/// What a rating adds.
pub fn csat_deltas(score: u8) -> Deltas {
    vec![
        (CSAT_RESPONSES.to_owned(), 1.0),
        (CSAT_SUM.to_owned(), f64::from(score)),
        (format!("csat_{score}"), 1.0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ActionId, Channel, Contact, ConversationId, HandoffReason, Locale, PhoneNumber,
        ProviderMessageId, TenantId,
    };

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + secs, 0).unwrap()
    }

    fn conversation(state: ConversationState) -> Conversation {
        let id = ConversationId::parse("demo:twilio:+18095550101").unwrap();
        let mut c = Conversation::start(
            id,
            TenantId::parse("demo").unwrap(),
            Channel::TwilioWhatsApp,
            Contact::from_phone(PhoneNumber::parse("+18095550101").unwrap()),
            at(0),
        );
        c.state = state;
        c
    }

    fn action(c: &Conversation, kind: ActionKind) -> OutboundAction {
        OutboundAction {
            id: ActionId::caused_by(&c.id, &ProviderMessageId::parse("SM1").unwrap(), 0),
            tenant: c.tenant.clone(),
            conversation: c.id.clone(),
            channel: c.channel,
            to: c.contact.clone(),
            kind,
            in_reply_to: None,
            last_customer_message_at: None,
            locale: Locale::Es,
            created_at: at(0),
        }
    }

    fn sum(deltas: &Deltas) -> Tally {
        let mut t = Tally::default();
        for (k, v) in deltas {
            *t.0.entry(k.clone()).or_default() += v;
        }
        t
    }

    #[test]
    fn a_new_conversation_answered_counts_once_each() {
        let c = conversation(ConversationState::Bot);
        let reply = action(
            &c,
            ActionKind::Reply {
                text: "Hola".into(),
            },
        );
        let t = sum(&conversation_deltas((None, None), &c, 1, &[reply], at(1)));
        assert_eq!(
            (t.get(CONVERSATIONS), t.get(MESSAGES_IN), t.get(BOT_REPLIES)),
            (1.0, 1.0, 1.0)
        );
        // The next message of the same conversation begins nothing.
        let t = sum(&conversation_deltas(
            (Some(ConversationState::Bot), None),
            &c,
            1,
            &[],
            at(2),
        ));
        assert_eq!((t.get(CONVERSATIONS), t.get(MESSAGES_IN)), (0.0, 1.0));
    }

    #[test]
    fn handoffs_count_by_trigger_and_the_wait_is_bucketed() {
        let mut c = conversation(ConversationState::WaitingForHuman);
        let handoff = action(
            &c,
            ActionKind::Handoff {
                notice: "Te paso con una persona".into(),
                reason: HandoffReason::NegativeSentiment,
                summary: String::new(),
            },
        );
        let t = sum(&conversation_deltas(
            (Some(ConversationState::Bot), None),
            &c,
            1,
            &[handoff],
            at(1),
        ));
        assert_eq!(t.get(HANDOFFS), 1.0);
        assert_eq!(t.get("handoffs_negative_sentiment"), 1.0);
        c.state = ConversationState::Human;
        c.handoff_at = Some(at(0));
        let t = sum(&conversation_deltas(
            (Some(ConversationState::WaitingForHuman), None),
            &c,
            0,
            &[],
            at(90),
        ));
        assert_eq!(t.get("human_wait_ms_le_300000"), 1.0);
        c.state = ConversationState::Resolved;
        let t = sum(&conversation_deltas(
            (Some(ConversationState::Human), None),
            &c,
            0,
            &[],
            at(100),
        ));
        assert_eq!(t.get(RESOLVED_BY_PERSON), 1.0);
        // A customer coming back after the resolution begins a new conversation.
        c.state = ConversationState::Bot;
        let t = sum(&conversation_deltas(
            (Some(ConversationState::Resolved), None),
            &c,
            1,
            &[],
            at(200),
        ));
        assert_eq!(t.get(CONVERSATIONS), 1.0);
    }

    #[test]
    fn a_customer_back_within_a_week_is_a_recontact_and_a_day_of_silence_begins_anew() {
        let c = conversation(ConversationState::Bot);
        let hours = |h: i64| at(0) + chrono::Duration::hours(h);
        let wrote = |before, previous: i64, now: i64| {
            sum(&conversation_deltas(
                (Some(before), Some(hours(previous))),
                &c,
                1,
                &[],
                hours(now),
            ))
        };
        // Minutes later, with the bot: the same conversation.
        let t = wrote(ConversationState::Bot, 0, 1);
        assert_eq!((t.get(CONVERSATIONS), t.get(RECONTACTS)), (0.0, 0.0));
        // Two days of silence: a new conversation, and a recontact.
        let t = wrote(ConversationState::Bot, 0, 48);
        assert_eq!((t.get(CONVERSATIONS), t.get(RECONTACTS)), (1.0, 1.0));
        // Back after a resolution the same day: a recontact too.
        let t = wrote(ConversationState::Resolved, 0, 2);
        assert_eq!((t.get(CONVERSATIONS), t.get(RECONTACTS)), (1.0, 1.0));
        // Back after ten days: a new conversation, not a recontact.
        let t = wrote(ConversationState::Bot, 0, 240);
        assert_eq!((t.get(CONVERSATIONS), t.get(RECONTACTS)), (1.0, 0.0));
        let mut tally = Tally::default();
        tally.0.insert(CONVERSATIONS.into(), 4.0);
        tally.0.insert(RECONTACTS.into(), 1.0);
        assert_eq!(tally.figures(0.0).first_contact_resolution, Some(0.75));
    }

    #[test]
    fn figures_derive_rates_percentiles_and_costs() {
        let mut t = Tally::default();
        for (k, v) in [
            (CONVERSATIONS, 10.0),
            (HANDOFFS, 2.0),
            ("handoffs_customer_requested", 2.0),
            ("answer_ms_le_1000", 6.0),
            ("answer_ms_le_2000", 3.0),
            ("answer_ms_le_10000", 1.0),
            (WHATSAPP_TEMPLATE, 4.0),
            (MODEL_COST_USD, 0.2),
        ] {
            t.0.insert(k.to_owned(), v);
        }
        let f = t.figures(0.05);
        assert_eq!(f.automated_resolution_rate, Some(0.8));
        assert_eq!(f.escalation_rate, Some(0.2));
        assert_eq!(f.handoffs_by_trigger["customer_requested"], 2.0);
        assert_eq!(
            (f.answer_p50_ms, f.answer_p95_ms),
            (Some(1000), Some(10_000))
        );
        assert_eq!(f.human_wait_p50_ms, None);
        assert!((f.cost_per_conversation_usd.unwrap() - 0.04).abs() < 1e-9);
        assert_eq!(Tally::default().figures(0.05).escalation_rate, None);
    }

    #[test]
    fn buckets_cover_every_duration() {
        assert_eq!(bucket(ANSWER_MS, 0), "answer_ms_le_500");
        assert_eq!(bucket(ANSWER_MS, 500), "answer_ms_le_500");
        assert_eq!(bucket(ANSWER_MS, 501), "answer_ms_le_1000");
        assert_eq!(bucket(ANSWER_MS, u64::MAX), "answer_ms_le_inf");
    }
}
