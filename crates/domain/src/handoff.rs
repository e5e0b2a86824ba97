//! When the bot stops and a person takes over: the handoff triggers, as one pure function.
//!
//! The engine gathers a turn's [`Signals`] — what the customer wrote, the offline sentiment,
//! what the model reported, how retrieval and tools went, the conversation's recent history —
//! and [`evaluate`] turns them into a [`Verdict`]. Hard triggers hand off at once: the customer
//! asked for a person, the customer is upset, the matter is urgent, the model (or its
//! `escalar_a_humano` tool) asked, a tenant's business rule fired, the bot is going in circles,
//! or no model could answer. Soft triggers — a model unsure of its answer, a question the
//! knowledge does not cover — never let the bot bluff: the reply becomes an honest "I don't
//! know" with the offer of a person, and repeated ones become the loop trigger.
//!
//! The order of the checks is the order of the reasons' importance, so the packet the person
//! receives names the most telling one.

use crate::HandoffReason;

/// The thresholds, per tenant (defaults are the numbers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Hand off when sentiment is below this.
    pub sentiment_below: f32,
    /// Do not trust a reply whose confidence is below this.
    pub confidence_below: f32,
    /// Hand off when more than this many fallbacks came in a row.
    pub max_fallbacks: u32,
    /// Hand off at this priority or above.
    pub priority_at_least: u8,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            sentiment_below: -0.5,
            confidence_below: 0.6,
            max_fallbacks: 2,
            priority_at_least: 9,
        }
    }
}

/// What a turn revealed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// The customer asked for a person in words.
    pub explicit_request: bool,
    /// The offline sentiment of the customer's message.
    pub sentiment: Option<f32>,
    /// The sentiment the model reported.
    pub model_sentiment: Option<f32>,
    /// The model's confidence in its reply.
    pub confidence: Option<f32>,
    /// The model's priority.
    pub priority: Option<u8>,
    /// The model set its handoff flag.
    pub model_requested: bool,
    /// The model called `escalar_a_humano`.
    pub tool_requested: bool,
    /// A tenant business rule fired (a quote above the amount).
    pub business_rule: bool,
    /// The reply needed the knowledge base and its best passage was below the relevance
    /// threshold (a tool result or small talk does not need it).
    pub ungrounded: bool,
    /// Fallbacks ("I don't know") in a row before this turn.
    pub fallbacks_in_a_row: u32,
    /// The customer repeated an earlier question of this conversation.
    pub repeated_question: bool,
    /// Every model in the chain failed.
    pub chain_exhausted: bool,
}

/// What the bot does with the turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the reply.
    Answer,
    /// Replace the reply by "I don't know" and offer a person (a fallback).
    DontKnow,
    /// Hand the conversation to a person now.
    HandOff(HandoffReason),
}

/// The verdict for `signals` under `thresholds`.
pub fn evaluate(signals: &Signals, thresholds: &Thresholds) -> Verdict {
    use HandoffReason as R;
    if signals.explicit_request {
        return Verdict::HandOff(R::CustomerRequested);
    }
    if signals.chain_exhausted {
        return Verdict::HandOff(R::ModelUnavailable);
    }
    // The lower of the two sentiments: a lexicon misses sarcasm, a model can be talked out of it.
    let sentiment = match (signals.sentiment, signals.model_sentiment) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if sentiment.is_some_and(|s| s < thresholds.sentiment_below) {
        return Verdict::HandOff(R::NegativeSentiment);
    }
    if signals
        .priority
        .is_some_and(|p| p >= thresholds.priority_at_least)
    {
        return Verdict::HandOff(R::HighPriority);
    }
    if signals.business_rule {
        return Verdict::HandOff(R::BusinessRule);
    }
    if signals.tool_requested || signals.model_requested {
        return Verdict::HandOff(R::ModelRequested);
    }
    if signals.repeated_question {
        return Verdict::HandOff(R::RepeatedQuestion);
    }
    let unsure = signals
        .confidence
        .is_some_and(|c| c < thresholds.confidence_below);
    if unsure || signals.ungrounded {
        return if signals.fallbacks_in_a_row >= thresholds.max_fallbacks {
            // This would be the third fallback in a row: more than two is a loop.
            Verdict::HandOff(if unsure {
                R::LowConfidence
            } else {
                R::RepeatedFallback
            })
        } else {
            Verdict::DontKnow
        };
    }
    Verdict::Answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(signals: Signals) -> Verdict {
        evaluate(&signals, &Thresholds::default())
    }

    fn calm() -> Signals {
        Signals {
            sentiment: Some(0.1),
            model_sentiment: Some(0.2),
            confidence: Some(0.9),
            priority: Some(3),
            ..Signals::default()
        }
    }

    #[test]
    fn a_confident_grounded_calm_turn_is_answered() {
        assert_eq!(verdict(calm()), Verdict::Answer);
        assert_eq!(verdict(Signals::default()), Verdict::Answer);
    }

    #[test]
    fn an_explicit_request_wins_over_everything() {
        let s = Signals {
            explicit_request: true,
            chain_exhausted: true,
            ..calm()
        };
        assert_eq!(
            verdict(s),
            Verdict::HandOff(HandoffReason::CustomerRequested)
        );
    }

    #[test]
    fn an_exhausted_chain_hands_off() {
        let s = Signals {
            chain_exhausted: true,
            ..Signals::default()
        };
        assert_eq!(
            verdict(s),
            Verdict::HandOff(HandoffReason::ModelUnavailable)
        );
    }

    #[test]
    fn negative_sentiment_from_either_source_hands_off() {
        for (lexicon, model) in [
            (Some(-0.6), Some(0.3)),
            (Some(0.3), Some(-0.7)),
            (None, Some(-0.51)),
        ] {
            let s = Signals {
                sentiment: lexicon,
                model_sentiment: model,
                ..calm()
            };
            assert_eq!(
                verdict(s),
                Verdict::HandOff(HandoffReason::NegativeSentiment)
            );
        }
        let s = Signals {
            sentiment: Some(-0.5),
            model_sentiment: Some(-0.5),
            ..calm()
        };
        assert_eq!(
            verdict(s),
            Verdict::Answer,
            "the threshold itself is not below"
        );
    }

    #[test]
    fn priority_nine_or_more_hands_off() {
        let s = Signals {
            priority: Some(9),
            ..calm()
        };
        assert_eq!(verdict(s), Verdict::HandOff(HandoffReason::HighPriority));
        let s = Signals {
            priority: Some(8),
            ..calm()
        };
        assert_eq!(verdict(s), Verdict::Answer);
    }

    #[test]
    fn business_rules_and_the_model_asking_hand_off() {
        let s = Signals {
            business_rule: true,
            ..calm()
        };
        assert_eq!(verdict(s), Verdict::HandOff(HandoffReason::BusinessRule));
        for s in [
            Signals {
                tool_requested: true,
                ..calm()
            },
            Signals {
                model_requested: true,
                ..calm()
            },
        ] {
            assert_eq!(verdict(s), Verdict::HandOff(HandoffReason::ModelRequested));
        }
    }

    #[test]
    fn a_repeated_question_is_a_loop() {
        let s = Signals {
            repeated_question: true,
            ..calm()
        };
        assert_eq!(
            verdict(s),
            Verdict::HandOff(HandoffReason::RepeatedQuestion)
        );
    }

    #[test]
    fn low_confidence_and_ungrounded_replies_say_dont_know_then_hand_off() {
        let unsure = Signals {
            confidence: Some(0.59),
            ..calm()
        };
        assert_eq!(verdict(unsure.clone()), Verdict::DontKnow);
        let third = Signals {
            fallbacks_in_a_row: 2,
            ..unsure
        };
        assert_eq!(
            verdict(third),
            Verdict::HandOff(HandoffReason::LowConfidence)
        );
        let ungrounded = Signals {
            ungrounded: true,
            ..calm()
        };
        assert_eq!(verdict(ungrounded.clone()), Verdict::DontKnow);
        let third = Signals {
            fallbacks_in_a_row: 2,
            ..ungrounded
        };
        assert_eq!(
            verdict(third),
            Verdict::HandOff(HandoffReason::RepeatedFallback)
        );
    }

    #[test]
    fn custom_thresholds_are_respected() {
        let strict = Thresholds {
            sentiment_below: 0.0,
            ..Thresholds::default()
        };
        let s = Signals {
            sentiment: Some(-0.1),
            ..calm()
        };
        assert_eq!(
            evaluate(&s, &strict),
            Verdict::HandOff(HandoffReason::NegativeSentiment)
        );
    }
}
