//! The language-model port: one OpenAI-compatible chat completion.
//!
//! The types mirror the chat-completions contract (protocols.md §6.1) closely enough that an
//! adapter is a straight translation, and no further: no streaming, one choice. A [`ChatModel`] is
//! one model at one provider with one API key; fallback chains, retries, circuit breakers and key
//! pools are built from several of them by the use cases, so every provider behaves the same under
//! failure.
//!
//! Errors are classified by the adapter ([`LlmError`]), because only the adapter can read the
//! provider's status codes and `Retry-After` headers.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Who wrote a message of the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    /// Instructions.
    System,
    /// The customer (or the text standing for them).
    User,
    /// The model.
    Assistant,
    /// The result of a tool call.
    Tool,
}

/// One message of the prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: ChatRole,
    /// Its text (absent on an assistant message that only calls tools).
    pub content: Option<String>,
    /// The tool calls an assistant message made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool result, the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message with text only.
    pub fn text(role: ChatRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// The result of `call`.
    pub fn tool_result(call: &ToolCall, content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::Tool,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: Some(call.id.clone()),
        }
    }

    /// The assistant message that made `calls`.
    pub fn assistant_calls(content: Option<String>, calls: Vec<ToolCall>) -> Self {
        Self {
            role: ChatRole::Assistant,
            content,
            tool_calls: calls,
            tool_call_id: None,
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Its name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// Its arguments, as a JSON Schema object.
    pub parameters: serde_json::Value,
}

/// A call of a tool by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call, echoed with its result.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as the JSON text the model wrote (not yet validated).
    pub arguments: String,
}

/// One completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The prompt.
    pub messages: Vec<ChatMessage>,
    /// The tools offered.
    pub tools: Vec<ToolSpec>,
    /// Ask for a JSON object as the answer (`response_format: json_object`).
    pub json_output: bool,
    /// The most tokens the answer may take.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// It finished its answer.
    Stop,
    /// It ran out of tokens.
    Length,
    /// It wants tools run.
    ToolCalls,
    /// The provider's filter stopped it.
    ContentFilter,
    /// Anything else the provider said.
    Other,
}

/// Tokens a call used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt.
    pub prompt_tokens: u32,
    /// Tokens of the answer.
    pub completion_tokens: u32,
}

impl Usage {
    /// The sum of two usages.
    pub fn plus(self, other: Self) -> Self {
        Self {
            prompt_tokens: self.prompt_tokens.saturating_add(other.prompt_tokens),
            completion_tokens: self
                .completion_tokens
                .saturating_add(other.completion_tokens),
        }
    }
}

/// A completion.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// The answer's text.
    pub content: Option<String>,
    /// The tools it wants called.
    pub tool_calls: Vec<ToolCall>,
    /// Why it stopped.
    pub finish: FinishReason,
    /// Tokens used.
    pub usage: Usage,
    /// The model that answered, as the provider named it.
    pub model: String,
}

/// Why a completion failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// 429: the provider or the key is rate limited.
    #[error("{provider}: rate limited: {message}")]
    RateLimited {
        /// The provider.
        provider: String,
        /// How long the provider asked to wait, if it said.
        retry_after: Option<Duration>,
        /// What it said.
        message: String,
    },
    /// 408, 409, 5xx or a broken connection: it may work if tried again.
    #[error("{provider}: unavailable: {message}")]
    Unavailable {
        /// The provider.
        provider: String,
        /// How long the provider asked to wait, if it said.
        retry_after: Option<Duration>,
        /// What failed.
        message: String,
    },
    /// No answer within the timeout.
    #[error("{provider}: timed out after {after:?}")]
    Timeout {
        /// The provider.
        provider: String,
        /// The timeout.
        after: Duration,
    },
    /// 401 or 403: the key is wrong or lacks access. Retrying cannot help; another provider may.
    #[error("{provider}: refused our credentials (HTTP {status})")]
    Unauthorized {
        /// The provider.
        provider: String,
        /// The status.
        status: u16,
    },
    /// 400, 404, 422 or a `x-should-retry: false`: this request will not succeed here.
    #[error("{provider}: rejected the request (HTTP {status}): {message}")]
    Rejected {
        /// The provider.
        provider: String,
        /// The status.
        status: u16,
        /// What it said.
        message: String,
    },
    /// A 2xx whose body is not a completion.
    #[error("{provider}: invalid response: {message}")]
    InvalidResponse {
        /// The provider.
        provider: String,
        /// What is wrong with it.
        message: String,
    },
    /// The provider's circuit breaker is open: it failed repeatedly and is rested.
    #[error("{provider}: circuit open")]
    CircuitOpen {
        /// The provider.
        provider: String,
    },
}

impl LlmError {
    /// Whether the same request to the same provider may succeed if retried.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Unavailable { .. } | Self::Timeout { .. }
        )
    }

    /// How long the provider asked to wait before retrying, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::Unavailable { retry_after, .. } => {
                *retry_after
            }
            Self::Timeout { .. }
            | Self::Unauthorized { .. }
            | Self::Rejected { .. }
            | Self::InvalidResponse { .. }
            | Self::CircuitOpen { .. } => None,
        }
    }

    /// Whether the failure says the provider is unhealthy (what a circuit breaker counts). A
    /// rejected request is the request's fault, not the provider's.
    pub fn counts_against_provider(&self) -> bool {
        !matches!(self, Self::Rejected { .. } | Self::CircuitOpen { .. })
    }

    /// A short stable name, for traces and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Timeout { .. } => "timeout",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Rejected { .. } => "rejected",
            Self::InvalidResponse { .. } => "invalid_response",
            Self::CircuitOpen { .. } => "circuit_open",
        }
    }
}

/// One model at one provider, reached with one credential.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// The provider's configured name (`gemini`, `openai`, `litellm`), for traces and breakers.
    fn provider(&self) -> &str;
    /// The model asked for (`gpt-4o-mini`).
    fn model(&self) -> &str;
    /// Runs one completion: one attempt, no retries (the caller owns the retry policy).
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError>;
}
