//! Customer satisfaction (CSAT): one question when a person resolves a conversation or the
//! customer thanks the bot for an answer, and the customer's 1–5 answer recorded against the
//! conversation and the agent.
//!
//! The question is asked once per resolution and never repeated; an answer counts only while
//! the question is open (24 hours) and only when the whole message is a rating ("5", "4/5",
//! "⭐⭐⭐", "5 estrellas") — "quiero 5 sacos" is an order, not a rating, and goes to the bot
//! like any message. Any other message closes the question unanswered.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ActionKind, Choice, Conversation, ConversationState, Locale, i18n::SystemText};

/// The satisfaction question in `locale`: a list of five ratings where the channel has lists,
/// whose titles are stars ("⭐⭐⭐⭐⭐" reads as 5, like a typed "5"), and the text alone elsewhere.
pub fn question(locale: Locale) -> ActionKind {
    let labels = match locale {
        Locale::Es => ["Excelente", "Buena", "Regular", "Mala", "Muy mala"],
        Locale::En => ["Excellent", "Good", "Fair", "Poor", "Very poor"],
    };
    let options = (1..=5u8)
        .rev()
        .zip(labels)
        .map(|(score, label)| Choice {
            id: format!("csat_{score}"),
            title: "⭐".repeat(usize::from(score)),
            description: Some(label.to_owned()),
        })
        .collect();
    ActionKind::Choose {
        text: SystemText::CsatQuestion.render(locale),
        button: match locale {
            Locale::Es => "Calificar",
            Locale::En => "Rate",
        }
        .to_owned(),
        options,
    }
}

/// How long a question stays open.
pub const CSAT_OPEN_HOURS: i64 = 24;

/// The satisfaction question of a conversation's latest resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Csat {
    /// When it was asked.
    pub asked_at: DateTime<Utc>,
    /// The agent who resolved the conversation, if a person of the built-in console or a desk
    /// was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The customer's rating, 1–5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u8>,
    /// When the customer answered, or wrote something else and the question closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

/// Reads a whole message as a 1–5 rating.
pub fn parse_rating(text: &str) -> Option<u8> {
    let text = text.trim().to_lowercase();
    let stars = text.chars().filter(|&c| c == '⭐' || c == '★').count();
    if stars > 0 {
        let rest = text
            .chars()
            .filter(|c| !matches!(c, '⭐' | '★' | '\u{fe0f}') && !c.is_whitespace())
            .count();
        return (rest == 0 && stars <= 5).then(|| u8::try_from(stars).unwrap_or(5));
    }
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || matches!(c, '.' | '!' | ',' | '/'))
        .filter(|w| !w.is_empty())
        .collect();
    let (first, rest) = words.split_first()?;
    let score = match *first {
        "1" | "uno" | "one" => 1,
        "2" | "dos" | "two" => 2,
        "3" | "tres" | "three" => 3,
        "4" | "cuatro" | "four" => 4,
        "5" | "cinco" | "five" => 5,
        _ => return None,
    };
    // Only what a rating says after its number: "de 5", "/5", "estrellas", "stars", "out of 5".
    let allowed = [
        "de",
        "5",
        "estrellas",
        "estrella",
        "stars",
        "star",
        "out",
        "of",
        "puntos",
    ];
    rest.iter().all(|w| allowed.contains(w)).then_some(score)
}

impl Conversation {
    /// Opens the satisfaction question of a resolution by `agent`, unless one was asked less than
    /// [`CSAT_OPEN_HOURS`] ago (a conversation resolved twice in a row is asked once).
    pub fn ask_csat(&mut self, agent: Option<String>, now: DateTime<Utc>) -> bool {
        let recent = self
            .csat
            .as_ref()
            .is_some_and(|c| now - c.asked_at < chrono::Duration::hours(CSAT_OPEN_HOURS));
        if recent {
            return false;
        }
        self.csat = Some(Csat {
            asked_at: now,
            agent,
            score: None,
            closed_at: None,
        });
        true
    }

    /// Reads the customer's latest message `text` as the answer to an open question: the rating
    /// when it is one (the conversation stays resolved: a rating reopens nothing); otherwise the
    /// question closes unanswered and the message is the bot's as usual.
    pub fn answer_csat(&mut self, text: &str, now: DateTime<Utc>) -> Option<u8> {
        let csat = self.csat.as_mut()?;
        let open = csat.closed_at.is_none()
            && now - csat.asked_at < chrono::Duration::hours(CSAT_OPEN_HOURS);
        if !open {
            return None;
        }
        csat.closed_at = Some(now);
        let score = parse_rating(text)?;
        csat.score = Some(score);
        self.state = ConversationState::Resolved;
        Some(score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Channel, Contact, ConversationId, PhoneNumber, TenantId};

    #[test]
    fn every_option_of_the_list_reads_back_as_its_rating() {
        for locale in [Locale::Es, Locale::En] {
            let ActionKind::Choose { options, text, .. } = question(locale) else {
                panic!("a list");
            };
            assert!(text.contains('5'), "{text}");
            let scores: Vec<_> = options.iter().map(|o| parse_rating(&o.title)).collect();
            assert_eq!(scores, [Some(5), Some(4), Some(3), Some(2), Some(1)]);
            assert!(options.iter().all(|o| o.title.chars().count() <= 24));
        }
    }

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + hours * 3600, 0).unwrap_or_default()
    }

    fn resolved() -> Conversation {
        let phone = PhoneNumber::parse("+18095550101").unwrap_or_else(|_| unreachable!());
        let mut c = Conversation::start(
            ConversationId::parse("demo:twilio:+18095550101").unwrap_or_else(|_| unreachable!()),
            TenantId::parse("demo").unwrap_or_else(|_| unreachable!()),
            Channel::TwilioWhatsApp,
            Contact::from_phone(phone),
            at(0),
        );
        c.state = ConversationState::Resolved;
        c
    }

    #[test]
    fn asked_once_per_resolution_and_answered_once() {
        let mut c = resolved();
        assert!(c.ask_csat(Some("Ana".into()), at(0)));
        assert!(!c.ask_csat(Some("Ana".into()), at(1)), "not twice in a day");
        c.state = ConversationState::Bot;
        assert_eq!(c.answer_csat("5", at(2)), Some(5));
        assert_eq!(
            c.state,
            ConversationState::Resolved,
            "a rating reopens nothing"
        );
        assert_eq!(c.answer_csat("4", at(3)), None, "answered already");
        assert_eq!(c.csat.as_ref().and_then(|x| x.score), Some(5));
        assert_eq!(
            c.csat.as_ref().and_then(|x| x.agent.clone()),
            Some("Ana".into())
        );
    }

    #[test]
    fn anything_else_or_a_late_answer_closes_the_question() {
        let mut c = resolved();
        assert!(c.ask_csat(None, at(0)));
        c.state = ConversationState::Bot;
        assert_eq!(c.answer_csat("quiero 5 sacos", at(1)), None);
        assert_eq!(
            c.state,
            ConversationState::Bot,
            "an order goes on to the bot"
        );
        assert_eq!(c.answer_csat("5", at(2)), None, "closed by the order");
        let mut late = resolved();
        assert!(late.ask_csat(None, at(0)));
        assert_eq!(late.answer_csat("5", at(CSAT_OPEN_HOURS + 1)), None);
        // A day later, a new resolution asks again.
        assert!(late.ask_csat(None, at(CSAT_OPEN_HOURS + 2)));
    }

    #[test]
    fn ratings_are_whole_messages() {
        for (text, want) in [
            ("5", Some(5)),
            (" 4 ", Some(4)),
            ("3/5", Some(3)),
            ("5 de 5", Some(5)),
            ("4 estrellas", Some(4)),
            ("five stars", Some(5)),
            ("⭐⭐⭐⭐", Some(4)),
            ("⭐️⭐️", Some(2)),
            ("1!", Some(1)),
            ("cinco", Some(5)),
            ("6", None),
            ("0", None),
            ("quiero 5 sacos", None),
            ("5 sacos de cemento", None),
            ("¿tienen 3 martillos?", None),
            ("gracias", None),
            ("⭐⭐⭐⭐⭐⭐", None),
            ("⭐ genial", None),
        ] {
            assert_eq!(parse_rating(text), want, "{text:?}");
        }
    }
}
