//! The conversation engine: one grounded language-model turn.
//!
//! For a customer message the engine retrieves the tenant's passages, scores the customer's
//! sentiment offline, checks for injection attempts, builds one prompt (instructions, evidence,
//! history, message, tool schemas) and asks the tenant's model chain **once**. Tool calls are run
//! (at most [`EngineSettings::max_tool_rounds`] rounds, each one more call) and the final answer
//! must be the structured [`TurnOutput`]; an invalid one gets a single repair request. The
//! handoff evaluator then turns everything the turn revealed into a verdict. Every step lands in
//! the turn's [`TurnTrace`].
//!
//! The engine never leaves a customer unanswered: an exhausted chain becomes a handoff with an
//! apology, an invalid answer or an exhausted budget becomes the extractive answer (the
//! processor's [`EngineReply::Extractive`]).

pub mod prompt;
pub mod tools;

use std::sync::Arc;
use std::time::{Duration, Instant};

use atiende_domain::{
    Conversation, HandoffReason, Locale, Tenant,
    assistant::{TracedCall, TracedPassage, TurnTrace},
    guard,
    handoff::{self, Signals, Verdict},
    intent, mask, sentiment,
    turn::{LeadFields, TurnOutput, same_question},
};
use atiende_ports::{
    AccountStore, AuditEntry, ChatMessage, ChatRequest, ChatRole, Clock, SecurityAudit,
    StatsLedger, UsageLedger,
};
use tracing::{info, warn};

use crate::{
    AppError,
    knowledge::KnowledgeService,
    llm::{Attempt, ChainAnswer, ModelChain},
};

pub use tools::Effects;

/// The engine's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineSettings {
    /// The whole turn, model calls included, must finish within this (then: apology and
    /// handoff).
    pub deadline: Duration,
    /// Tool rounds per turn.
    pub max_tool_rounds: u32,
    /// Earlier messages in the prompt.
    pub history_turns: usize,
    /// Earlier messages older than this are left out of the prompt.
    pub history_ttl: Duration,
    /// Passages in the prompt.
    pub passages: usize,
    /// The prompt's token budget.
    pub max_prompt_tokens: u32,
    /// The answer's token limit.
    pub max_reply_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// The least relevance of a passage the reply may rest on.
    pub min_relevance: f32,
    /// The monthly budget of a tenant that set none.
    pub default_monthly_budget_usd: f64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(10),
            max_tool_rounds: 3,
            history_turns: 10,
            history_ttl: Duration::from_secs(24 * 3600),
            passages: 6,
            max_prompt_tokens: 6000,
            max_reply_tokens: 600,
            temperature: 0.2,
            min_relevance: crate::responder::DEFAULT_MIN_RELEVANCE,
            default_monthly_budget_usd: 20.0,
        }
    }
}

/// What the engine decided.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineReply {
    /// Send this reply.
    Answer(String),
    /// Say "I don't know" and offer a person.
    DontKnow,
    /// Hand off to a person.
    HandOff(HandoffReason),
    /// The model path is not available for this turn (disabled, over budget, invalid answer):
    /// answer extractively.
    Extractive,
}

/// A decided turn.
#[derive(Debug, Clone)]
pub struct EngineTurn {
    /// The decision.
    pub reply: EngineReply,
    /// Tool effects (lead, quote ticket).
    pub effects: Effects,
    /// Lead fields the model heard.
    pub lead: Option<LeadFields>,
    /// Why.
    pub trace: TurnTrace,
}

/// The conversation engine.
pub struct ConversationEngine {
    knowledge: Arc<KnowledgeService>,
    chain: Arc<ModelChain>,
    accounts: Arc<dyn AccountStore>,
    usage: Arc<dyn UsageLedger>,
    clock: Arc<dyn Clock>,
    settings: EngineSettings,
    audit: Option<Arc<dyn SecurityAudit>>,
    stats: Option<Arc<dyn StatsLedger>>,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn traced_calls(attempts: &[Attempt]) -> impl Iterator<Item = TracedCall> + '_ {
    attempts.iter().map(|a| TracedCall {
        provider: a.provider.clone(),
        model: a.model.clone(),
        outcome: a.outcome.clone(),
        latency_ms: a.latency_ms,
    })
}

impl ConversationEngine {
    /// Builds the engine.
    pub fn new(
        knowledge: Arc<KnowledgeService>,
        chain: Arc<ModelChain>,
        accounts: Arc<dyn AccountStore>,
        usage: Arc<dyn UsageLedger>,
        clock: Arc<dyn Clock>,
        settings: EngineSettings,
    ) -> Self {
        Self {
            knowledge,
            chain,
            accounts,
            usage,
            clock,
            settings,
            audit: None,
            stats: None,
        }
    }

    /// Counts the model's tokens and cost in the tenant's daily figures too (the dashboard).
    #[must_use]
    pub fn with_stats(mut self, stats: Arc<dyn StatsLedger>) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Appends injection attempts and prompt echoes to `audit` (besides the log).
    #[must_use]
    pub fn with_audit(mut self, audit: Arc<dyn SecurityAudit>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Records a security event: the `security_audit` log target, and the audit store.
    async fn audit(&self, tenant: &Tenant, conversation: &Conversation, kind: &str, message: &str) {
        warn!(target: "security_audit", tenant = %tenant.id, conversation = %conversation.id.masked(), kind, "Prompt-injection attempt.");
        let Some(audit) = &self.audit else {
            return;
        };
        let entry = AuditEntry {
            at: self.clock.now(),
            tenant: tenant.id.clone(),
            conversation: conversation.id.to_string(),
            kind: kind.to_owned(),
            excerpt: atiende_domain::text::truncate_chars(message, 200),
        };
        if let Err(error) = audit.append(&entry).await {
            warn!(tenant = %tenant.id, error = %error, "Could not append to the security audit log.");
        }
    }

    /// The model chain (for `/metrics` and releasing keys).
    pub fn chain(&self) -> &Arc<ModelChain> {
        &self.chain
    }

    fn month(&self) -> String {
        self.clock.now().format("%Y-%m").to_string()
    }

    /// Whether the tenant is over its monthly budget: its own, or the deployment's default.
    /// There is no unlimited spending.
    async fn over_budget(&self, tenant: &Tenant) -> Result<bool, AppError> {
        let budget = tenant
            .assistant
            .monthly_budget_usd
            .unwrap_or(self.settings.default_monthly_budget_usd);
        let (_, _, spent) = self.usage.usage(&tenant.id, &self.month()).await?;
        Ok(spent >= budget)
    }

    /// Decides the bot's answer to `message`, the latest customer turn of `conversation`.
    pub async fn turn(
        &self,
        tenant: &Tenant,
        conversation: &Conversation,
        message: &str,
        locale: Locale,
        cause: &str,
    ) -> Result<EngineTurn, AppError> {
        let started = Instant::now();
        let deadline = started + self.settings.deadline;
        let mut trace = TurnTrace {
            at: Some(self.clock.now()),
            engine: "llm".to_owned(),
            ..TurnTrace::default()
        };
        let lexicon = sentiment::score(message);
        trace.sentiment = Some(lexicon);
        let extractive = |mut trace: TurnTrace, note: &str| {
            trace.engine = "extractive".to_owned();
            trace.notes.push(note.to_owned());
            EngineTurn {
                reply: EngineReply::Extractive,
                effects: Effects::default(),
                lead: None,
                trace,
            }
        };
        if self.over_budget(tenant).await? {
            info!(tenant = %tenant.id, "Tenant over its monthly model budget; answering extractively.");
            return Ok(extractive(trace, "over the monthly budget"));
        }

        let hits = self
            .knowledge
            .search(&tenant.id, message, self.settings.passages)
            .await?;
        trace.retrieved = hits
            .iter()
            .map(|h| TracedPassage {
                id: h.passage.id.clone(),
                relevance: h.relevance,
            })
            .collect();
        let best_relevance = hits.first().map_or(0.0, |h| h.relevance);

        let injection = guard::detect(message);
        if let Some(kind) = injection {
            self.audit(tenant, conversation, kind, message).await;
            trace.injection = Some(kind.to_owned());
        }

        let prompt = prompt::build(&prompt::PromptInput {
            tenant,
            conversation,
            message,
            locale,
            passages: &hits,
            history_turns: self.settings.history_turns,
            history_since: self.clock.now()
                - chrono::Duration::from_std(self.settings.history_ttl).unwrap_or_default(),
            max_tokens: self.settings.max_prompt_tokens,
        });
        trace.prompt_tokens_estimate = prompt.tokens;
        let mut settings = tenant.assistant.clone();
        if injection.is_some() {
            // No data-disclosing tool on a turn that tries to subvert the instructions.
            settings.tools = vec![atiende_domain::assistant::ToolName::EscalarAHumano];
        }
        let mut request = ChatRequest {
            messages: prompt.messages,
            tools: tools::specs(&settings),
            json_output: true,
            max_tokens: self.settings.max_reply_tokens,
            temperature: self.settings.temperature,
        };
        let runner = tools::ToolRunner {
            tenant,
            conversation,
            knowledge: &self.knowledge,
            accounts: &self.accounts,
            cause,
            offered: &settings,
        };
        let mut effects = Effects::default();
        let order = &tenant.assistant.models;
        let conversation_key = conversation.id.to_string();

        let mut rounds = 0;
        let answer = loop {
            let answer = match self
                .chain
                .complete(order, &conversation_key, &request, deadline)
                .await
            {
                Ok(answer) => answer,
                Err(exhausted) => {
                    trace.calls.extend(traced_calls(&exhausted.attempts));
                    trace.trigger = Some(HandoffReason::ModelUnavailable);
                    trace.latency_ms = millis(started.elapsed());
                    // Tool rounds before the failure were paid for.
                    self.record_usage(tenant, &trace).await;
                    warn!(tenant = %tenant.id, conversation = %conversation.id.masked(), error = %mask::scrub_digits(&exhausted.to_string()), "No model answered; handing off.");
                    return Ok(EngineTurn {
                        reply: EngineReply::HandOff(HandoffReason::ModelUnavailable),
                        effects,
                        lead: None,
                        trace,
                    });
                }
            };
            self.account(&mut trace, &answer);
            if answer.response.tool_calls.is_empty() || rounds >= self.settings.max_tool_rounds {
                // A model still calling tools after its last round gets its answer checked as
                // it is (and repaired once if it is not a reply).
                break answer;
            }
            rounds += 1;
            let calls = answer.response.tool_calls.clone();
            request.messages.push(ChatMessage::assistant_calls(
                answer.response.content.clone(),
                calls.clone(),
            ));
            for call in &calls {
                let (result, traced) = runner.run(call, &mut effects).await;
                trace.tools.push(traced);
                request
                    .messages
                    .push(ChatMessage::tool_result(call, result));
            }
            if rounds >= self.settings.max_tool_rounds {
                // Enough tools: the next answer must be the reply.
                request.tools.clear();
            }
        };

        let known: Vec<&str> = prompt.passage_ids.iter().map(String::as_str).collect();
        let forbidden = [prompt.canary.as_str()];
        let text = answer.response.content.clone().unwrap_or_default();
        if text.contains(&prompt.canary) {
            self.audit(tenant, conversation, "prompt_echo", message)
                .await;
        }
        let output = match TurnOutput::parse(&text, &known, &forbidden) {
            Ok(output) => output,
            Err(invalid) => {
                trace.repaired = true;
                trace.notes.push(format!("invalid output: {invalid}"));
                request
                    .messages
                    .push(ChatMessage::text(ChatRole::Assistant, text));
                request.messages.push(ChatMessage::text(
                    ChatRole::User,
                    format!("Tu respuesta anterior no es válida: {invalid}. Responde de nuevo solo con el objeto JSON pedido."),
                ));
                request.tools.clear();
                let repaired = self
                    .chain
                    .complete(order, &conversation_key, &request, deadline)
                    .await;
                let parsed = match &repaired {
                    Ok(answer) => {
                        self.account(&mut trace, answer);
                        TurnOutput::parse(
                            answer.response.content.as_deref().unwrap_or_default(),
                            &known,
                            &forbidden,
                        )
                        .map_err(|e| e.to_string())
                    }
                    Err(exhausted) => {
                        trace.calls.extend(traced_calls(&exhausted.attempts));
                        Err(exhausted.to_string())
                    }
                };
                match parsed {
                    Ok(output) => output,
                    Err(why) => {
                        trace.latency_ms = millis(started.elapsed());
                        self.record_usage(tenant, &trace).await;
                        let mut turn = extractive(trace, &format!("repair failed: {why}"));
                        turn.effects = effects;
                        return Ok(turn);
                    }
                }
            }
        };

        if output.injection && trace.injection.is_none() {
            self.audit(tenant, conversation, "model_flag", message)
                .await;
            trace.injection = Some("model_flag".to_owned());
        }
        trace.intent = Some(output.intent.clone()).filter(|i| !i.is_empty());
        trace.confidence = Some(output.confidence);
        let repeated = conversation
            .earlier_customer_texts()
            .take(6)
            .any(|earlier| same_question(message, earlier));
        let signals = Signals {
            explicit_request: intent::wants_human(message),
            sentiment: Some(lexicon),
            model_sentiment: Some(output.sentiment),
            confidence: Some(output.confidence),
            priority: Some(output.priority),
            model_requested: output.handoff,
            tool_requested: effects.handoff.is_some(),
            business_rule: effects.business_rule,
            ungrounded: !effects.grounded
                && output.sources.is_empty()
                && output.intent != "smalltalk"
                && best_relevance < self.settings.min_relevance,
            fallbacks_in_a_row: conversation.unanswered_in_a_row,
            repeated_question: repeated,
            chain_exhausted: false,
        };
        let verdict = handoff::evaluate(&signals, &tenant.assistant.thresholds());
        let reply = match verdict {
            Verdict::Answer => EngineReply::Answer(output.reply.trim().to_owned()),
            Verdict::DontKnow => EngineReply::DontKnow,
            Verdict::HandOff(reason) => {
                trace.trigger = Some(reason);
                EngineReply::HandOff(reason)
            }
        };
        trace.latency_ms = millis(started.elapsed());
        self.record_usage(tenant, &trace).await;
        info!(tenant = %tenant.id, conversation = %conversation.id.masked(), verdict = ?verdict, calls = trace.calls.len(), tools = trace.tools.len(), tokens = ?trace.tokens, latency_ms = trace.latency_ms, "Turn decided by the model.");
        Ok(EngineTurn {
            reply,
            effects,
            lead: output.lead.filter(|l| !l.is_empty()),
            trace,
        })
    }

    /// Refreshes `conversation`'s rolling summary from its previous summary and its recent turns
    /// (one model call, no tools). The caller saves it; it runs off the reply's path.
    pub async fn summarize(
        &self,
        tenant: &Tenant,
        conversation: &Conversation,
    ) -> Result<String, AppError> {
        if self.over_budget(tenant).await? {
            // Over budget means no model calls at all, summaries included.
            return Err(AppError::Conflict(
                "over the monthly model budget".to_owned(),
            ));
        }
        let mut transcript = String::new();
        if let Some(previous) = &conversation.summary {
            transcript.push_str("Resumen anterior: ");
            transcript.push_str(previous);
            transcript.push_str("\n\n");
        }
        for turn in conversation.turns.iter().rev().take(40).rev() {
            let who = match turn.author {
                atiende_domain::Author::Customer => "Cliente",
                atiende_domain::Author::Bot => "Asistente",
                atiende_domain::Author::Agent => "Agente",
                atiende_domain::Author::System => continue,
            };
            transcript.push_str(&format!("{who}: {}\n", turn.text));
        }
        let request = ChatRequest {
            messages: vec![
                ChatMessage::text(
                    ChatRole::System,
                    "Resume esta conversación de atención al cliente en 3 a 5 líneas: qué necesita el cliente, qué se le respondió, datos que dio (nombre, productos, cantidades, pedidos) y qué queda pendiente. Solo el resumen, sin saludos.",
                ),
                ChatMessage::text(ChatRole::User, transcript),
            ],
            tools: Vec::new(),
            json_output: false,
            max_tokens: 300,
            temperature: 0.0,
        };
        let deadline = Instant::now() + self.settings.deadline * 3;
        let answer = self
            .chain
            .complete(
                &tenant.assistant.models,
                &conversation.id.to_string(),
                &request,
                deadline,
            )
            .await
            .map_err(|e| {
                AppError::Unavailable(atiende_ports::PortError::transient(e.to_string()))
            })?;
        let mut trace = TurnTrace::default();
        self.account(&mut trace, &answer);
        self.record_usage(tenant, &trace).await;
        let summary = answer.response.content.unwrap_or_default();
        Ok(atiende_domain::text::truncate_chars(summary.trim(), 1200))
    }

    /// Adds a completion's calls, tokens and cost to the trace.
    fn account(&self, trace: &mut TurnTrace, answer: &ChainAnswer) {
        trace.calls.extend(traced_calls(&answer.attempts));
        trace.fallback |= answer.fallback;
        trace.tokens.0 += answer.response.usage.prompt_tokens;
        trace.tokens.1 += answer.response.usage.completion_tokens;
        trace.cost_usd += answer.cost_usd;
    }

    async fn record_usage(&self, tenant: &Tenant, trace: &TurnTrace) {
        if trace.tokens == (0, 0) {
            return;
        }
        if let Err(error) = self
            .usage
            .add_usage(
                &tenant.id,
                &self.month(),
                u64::from(trace.tokens.0),
                u64::from(trace.tokens.1),
                trace.cost_usd,
            )
            .await
        {
            // Losing one turn's accounting must not lose the customer's answer.
            warn!(tenant = %tenant.id, error = %mask::scrub_digits(&error.to_string()), "Could not record model usage.");
        }
        if let Some(stats) = &self.stats {
            let deltas = [
                (
                    atiende_domain::stats::PROMPT_TOKENS.to_owned(),
                    f64::from(trace.tokens.0),
                ),
                (
                    atiende_domain::stats::COMPLETION_TOKENS.to_owned(),
                    f64::from(trace.tokens.1),
                ),
                (
                    atiende_domain::stats::MODEL_COST_USD.to_owned(),
                    trace.cost_usd,
                ),
            ];
            let day = self.clock.now().date_naive();
            if let Err(error) = stats.add_stats(&tenant.id, day, &deltas).await {
                warn!(tenant = %tenant.id, %error, "Could not count model usage in the daily figures.");
            }
        }
    }
}
