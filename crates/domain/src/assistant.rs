//! How a tenant's assistant behaves when a language model answers: its persona, its tools, its
//! models, its limits — and the records its tools read (credit accounts) and write (the turn's
//! decision trace).
//!
//! Everything here is configuration or data, per tenant; the deployment says which providers
//! exist, the tenant says which of them to use, in which order, and how much it may spend.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{HandoffReason, PhoneNumber, ValidationError, handoff::Thresholds};

/// The tools a tenant's assistant may be given (the seeds' "skills").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolName {
    /// Price, stock and branch of a catalog product, by name or SKU.
    BuscarProducto,
    /// A credit account's status, only for the WhatsApp number registered on it.
    EstadoDeCuenta,
    /// A quote request: a ticket number, and a person for large ones.
    SolicitarCotizacion,
    /// The seeds' lead payload, pushed to the tenant's CRM.
    RegistrarLead,
    /// Hand the conversation to a person.
    EscalarAHumano,
}

impl ToolName {
    /// Every tool.
    pub const ALL: [Self; 5] = [
        Self::BuscarProducto,
        Self::EstadoDeCuenta,
        Self::SolicitarCotizacion,
        Self::RegistrarLead,
        Self::EscalarAHumano,
    ];

    /// The name the model calls it by.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BuscarProducto => "buscar_producto",
            Self::EstadoDeCuenta => "estado_de_cuenta",
            Self::SolicitarCotizacion => "solicitar_cotizacion",
            Self::RegistrarLead => "registrar_lead",
            Self::EscalarAHumano => "escalar_a_humano",
        }
    }

    /// The tool called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// A tenant's assistant settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssistantSettings {
    /// Answer with the language model when the deployment has one; `false` keeps the extractive
    /// answers (quotes of the tenant's own text) only.
    pub llm: bool,
    /// Provider names in the order to try them; empty uses the deployment's order.
    pub models: Vec<String>,
    /// Persona and house rules added to the instructions ("Tutea al cliente…").
    pub persona: Option<String>,
    /// The tools offered; empty offers every tool.
    pub tools: Vec<ToolName>,
    /// Spending cap per calendar month (UTC), in US dollars; over it the bot answers
    /// extractively and hands off what it cannot answer.
    pub monthly_budget_usd: Option<f64>,
    /// Quotes estimated above this amount (in the catalog's currency) go to a person.
    pub quote_handoff_above: Option<f64>,
    /// Hand off when the customer's sentiment is below this (−1..1).
    pub sentiment_handoff_below: f32,
    /// Replies the model is less confident in than this are not sent (0..1).
    pub min_confidence: f32,
    /// Ask the customer for a 1–5 rating when a person resolves their conversation.
    pub csat: bool,
    /// After several unanswered questions in a row, ask the customer whether they want a person
    /// (`true`, the default) rather than handing them off without asking.
    pub ask_before_handoff: bool,
    /// What a photo, video or document without a caption gets: a person (the default; in a
    /// hardware store a photo of the broken part is the usual first message) or the question
    /// of what the customer needs, with the offer of a person. Voice notes always go to a person
    /// until they can be transcribed.
    pub media_without_text: MediaPolicy,
    /// What the web chat suggests a visitor ask before they write (at most
    /// [`MAX_SUGGESTIONS`], each at most 80 characters); empty uses general questions in the
    /// tenant's language.
    pub suggestions: Vec<String>,
}

/// The most questions the web chat suggests.
pub const MAX_SUGGESTIONS: usize = 6;

/// What the bot does with media that comes without a question.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaPolicy {
    /// Hand the conversation to a person, who sees the media.
    #[default]
    HandOff,
    /// Ask what the customer needs, offering a person.
    Ask,
}

impl Default for AssistantSettings {
    fn default() -> Self {
        let thresholds = Thresholds::default();
        Self {
            llm: true,
            models: Vec::new(),
            persona: None,
            tools: Vec::new(),
            monthly_budget_usd: None,
            quote_handoff_above: None,
            sentiment_handoff_below: thresholds.sentiment_below,
            min_confidence: thresholds.confidence_below,
            csat: true,
            ask_before_handoff: true,
            media_without_text: MediaPolicy::HandOff,
            suggestions: Vec::new(),
        }
    }
}

impl AssistantSettings {
    /// Checks ranges.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.persona.as_ref().is_some_and(|p| p.len() > 4000) {
            return Err(ValidationError::new(
                "assistant.persona",
                "must be at most 4000 characters",
            ));
        }
        if self
            .monthly_budget_usd
            .is_some_and(|b| b.is_nan() || b < 0.0)
        {
            return Err(ValidationError::new(
                "assistant.monthly_budget_usd",
                "must be zero or more",
            ));
        }
        if self
            .quote_handoff_above
            .is_some_and(|q| q.is_nan() || q < 0.0)
        {
            return Err(ValidationError::new(
                "assistant.quote_handoff_above",
                "must be zero or more",
            ));
        }
        if !(-1.0..=1.0).contains(&self.sentiment_handoff_below) {
            return Err(ValidationError::new(
                "assistant.sentiment_handoff_below",
                "must be between -1 and 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return Err(ValidationError::new(
                "assistant.min_confidence",
                "must be between 0 and 1",
            ));
        }
        let bad = |s: &String| s.trim().is_empty() || s.chars().count() > 80;
        if self.suggestions.len() > MAX_SUGGESTIONS || self.suggestions.iter().any(bad) {
            return Err(ValidationError::new(
                "assistant.suggestions",
                format!("at most {MAX_SUGGESTIONS} questions of 1-80 characters"),
            ));
        }
        Ok(())
    }

    /// Whether `tool` is offered.
    pub fn offers(&self, tool: ToolName) -> bool {
        self.tools.is_empty() || self.tools.contains(&tool)
    }

    /// The handoff thresholds.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            sentiment_below: self.sentiment_handoff_below,
            confidence_below: self.min_confidence,
            ..Thresholds::default()
        }
    }
}

/// A customer's credit account at a tenant (the demo's `cuentas.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// The account number, digits only.
    pub number: String,
    /// Who holds it.
    pub holder: String,
    /// The only WhatsApp number its status may be told to.
    pub whatsapp: PhoneNumber,
    /// `al día`, `atrasada`, `suspendida`…
    pub status: String,
    /// What is owed.
    pub balance: f64,
    /// The credit limit.
    pub limit: f64,
    /// When the balance is due.
    pub due: Option<NaiveDate>,
}

/// Keeps the digits of an account number as a customer wrote it ("#104-233" → "104233").
pub fn account_digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// One passage the engine retrieved for a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracedPassage {
    /// Its id.
    pub id: String,
    /// Its relevance (0..1).
    pub relevance: f32,
}

/// One tool call of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracedTool {
    /// The tool.
    pub name: String,
    /// The arguments, with personal data masked.
    pub arguments: String,
    /// `ok`, `refused` (authorization), `invalid` (bad arguments) or `error`.
    pub outcome: String,
}

/// One model call of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracedCall {
    /// The provider.
    pub provider: String,
    /// The model.
    pub model: String,
    /// `ok` or why it failed.
    pub outcome: String,
    /// How long it took.
    pub latency_ms: u64,
}

/// Why the engine did what it did on one turn (the seeds' debugging requirement), stored with
/// the bot's reply and shown by the admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TurnTrace {
    /// When the turn was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// `llm`, `extractive` (no model, over budget or fallback) or `rule` (greeting, handoff).
    pub engine: String,
    /// The passages retrieved, best first.
    pub retrieved: Vec<TracedPassage>,
    /// The prompt's size in estimated tokens.
    pub prompt_tokens_estimate: u32,
    /// The model calls, in order (retries and fallbacks included).
    pub calls: Vec<TracedCall>,
    /// The tools called.
    pub tools: Vec<TracedTool>,
    /// Whether a provider other than the tenant's first answered.
    pub fallback: bool,
    /// Whether the first answer was invalid and a repair was asked for.
    pub repaired: bool,
    /// Tokens the provider reported: prompt and completion.
    pub tokens: (u32, u32),
    /// What the turn cost, in US dollars.
    pub cost_usd: f64,
    /// Wall time of the turn, in milliseconds.
    pub latency_ms: u64,
    /// The intent the model reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// The customer's sentiment (offline score; the model's when it gave one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<f32>,
    /// The model's confidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// The handoff trigger that fired, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<HandoffReason>,
    /// A prompt-injection pattern seen in the customer's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injection: Option<String>,
    /// Anything else worth knowing ("over budget", "invalid output: …").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_round_trip_by_name_and_default_to_all() {
        for tool in ToolName::ALL {
            assert_eq!(ToolName::parse(tool.as_str()), Some(tool));
        }
        assert_eq!(ToolName::parse("borrar_todo"), None);
        let settings = AssistantSettings::default();
        assert!(ToolName::ALL.iter().all(|t| settings.offers(*t)));
        let only = AssistantSettings {
            tools: vec![ToolName::BuscarProducto],
            ..AssistantSettings::default()
        };
        assert!(!only.offers(ToolName::EstadoDeCuenta));
    }

    #[test]
    fn settings_are_validated() {
        let ok: AssistantSettings = serde_json::from_str(
            r#"{"persona":"Tutea","tools":["buscar_producto"],"monthly_budget_usd":5}"#,
        )
        .unwrap();
        assert!(ok.validate().is_ok());
        assert!(ok.llm);
        for bad in [
            r#"{"monthly_budget_usd":-1}"#,
            r#"{"min_confidence":2}"#,
            r#"{"sentiment_handoff_below":-3}"#,
        ] {
            let s: AssistantSettings = serde_json::from_str(bad).unwrap();
            assert!(s.validate().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<AssistantSettings>(r#"{"tools":["x"]}"#).is_err());
        assert_eq!(account_digits("#104-233 "), "104233");
    }
}
