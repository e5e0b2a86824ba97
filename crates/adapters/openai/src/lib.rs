//! OpenAI-compatible chat completions: the [`ChatModel`] adapter for OpenAI, a LiteLLM proxy,
//! Gemini's and Ollama's OpenAI endpoints (protocols.md §6), and the embeddings endpoint of the
//! same providers ([`embeddings`]), and speech to text for voice notes ([`transcription`]).
//!
//! One [`OpenAiChat`] is one model at one base URL with one key. It makes exactly one attempt
//! per call and classifies the outcome ([`LlmError`]) the way the OpenAI SDK does (§6.2): 408,
//! 409, 429 and 5xx may succeed later, after the delay the provider named in `retry-after-ms`,
//! `Retry-After` (seconds or an HTTP date), LiteLLM's forwarded `llm_provider-retry-after`, or
//! the "try again in N seconds" of the message, in that order; `x-should-retry` overrides the
//! status. Retries, fallbacks and breakers belong to the caller, so they work the same across
//! providers.

pub mod embeddings;
pub mod transcription;

use std::time::Duration;

use async_trait::async_trait;
use atiende_ports::{
    ChatMessage, ChatModel, ChatRequest, ChatResponse, ChatRole, FinishReason, LlmError, ToolCall,
    Usage, channel::parse_retry_after,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::debug;

/// Where and how to reach one model.
#[derive(Debug, Clone)]
pub struct ProviderEndpoint {
    /// The provider's name in traces and settings (`openai`, `gemini`, `litellm`).
    pub provider: String,
    /// The base URL, up to and excluding `/chat/completions`
    /// (`https://api.openai.com/v1`, `http://localhost:4000`).
    pub base_url: String,
    /// The model to ask for.
    pub model: String,
    /// The API key, sent as a bearer token (Ollama ignores it but clients must send one).
    pub api_key: Option<SecretString>,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Send `max_completion_tokens` (OpenAI's current name) instead of `max_tokens` (which every
    /// compatible server knows).
    pub max_completion_tokens: bool,
}

/// One model at one OpenAI-compatible provider.
pub struct OpenAiChat {
    client: reqwest::Client,
    endpoint: ProviderEndpoint,
    url: String,
}

impl OpenAiChat {
    /// A model reached through `client` (shared, so connections are pooled).
    pub fn new(client: reqwest::Client, endpoint: ProviderEndpoint) -> Self {
        let url = format!(
            "{}/chat/completions",
            endpoint.base_url.trim_end_matches('/')
        );
        Self {
            client,
            endpoint,
            url,
        }
    }

    fn unavailable(&self, message: impl Into<String>) -> LlmError {
        LlmError::Unavailable {
            provider: self.endpoint.provider.clone(),
            retry_after: None,
            message: message.into(),
        }
    }

    fn invalid(&self, message: impl Into<String>) -> LlmError {
        LlmError::InvalidResponse {
            provider: self.endpoint.provider.clone(),
            message: message.into(),
        }
    }
}

/// The request body for `request` to `model`.
pub fn request_body(model: &str, request: &ChatRequest, max_completion_tokens: bool) -> Value {
    let messages: Vec<Value> = request.messages.iter().map(message_json).collect();
    let mut body = json!({
        "model": model,
        "messages": messages,
        "temperature": request.temperature,
        "stream": false,
    });
    let limit_field = if max_completion_tokens {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    body[limit_field] = json!(request.max_tokens);
    if !request.tools.is_empty() {
        // No `tool_choice`: "auto" is the default where tools are given, and Ollama rejects it.
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
    }
    if request.json_output {
        body["response_format"] = json!({"type": "json_object"});
    }
    body
}

fn message_json(message: &ChatMessage) -> Value {
    let role = match message.role {
        ChatRole::System => "system",
        ChatRole::User => "user",
        ChatRole::Assistant => "assistant",
        ChatRole::Tool => "tool",
    };
    let mut value = json!({"role": role, "content": message.content});
    if !message.tool_calls.is_empty() {
        value["tool_calls"] = message
            .tool_calls
            .iter()
            .map(|c| {
                json!({"id": c.id, "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments}})
            })
            .collect();
    }
    if let Some(id) = &message.tool_call_id {
        value["tool_call_id"] = json!(id);
    }
    value
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<UsageBody>,
}

#[derive(Deserialize)]
struct Choice {
    message: AssistantMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct AssistantMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallBody>>,
}

#[derive(Deserialize)]
struct ToolCallBody {
    #[serde(default)]
    id: Option<String>,
    function: FunctionBody,
}

#[derive(Deserialize)]
struct FunctionBody {
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Deserialize)]
struct UsageBody {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

/// Reads a 2xx body into a completion, or says what is wrong with it.
pub fn parse_completion(body: &[u8], asked_model: &str) -> Result<ChatResponse, String> {
    let completion: Completion =
        serde_json::from_slice(body).map_err(|e| format!("not a chat completion: {e}"))?;
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or("the completion has no choices")?;
    let finish = match choice.finish_reason.as_deref() {
        Some("stop") | None => FinishReason::Stop,
        Some("length") => FinishReason::Length,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        Some("content_filter") => FinishReason::ContentFilter,
        Some(_) => FinishReason::Other,
    };
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, call)| ToolCall {
            id: call.id.unwrap_or_else(|| format!("call_{i}")),
            name: call.function.name,
            // `arguments` is a JSON string by the contract; some servers send the object itself.
            arguments: match call.function.arguments {
                Some(Value::String(text)) => text,
                Some(Value::Null) | None => "{}".to_owned(),
                Some(other) => other.to_string(),
            },
        })
        .collect();
    let usage = completion.usage.map_or_else(Usage::default, |u| Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
    });
    Ok(ChatResponse {
        content: choice.message.content.filter(|c| !c.is_empty()),
        tool_calls,
        finish,
        usage,
        model: completion.model.unwrap_or_else(|| asked_model.to_owned()),
    })
}

/// The headers and body of an error answer, as far as classification needs them.
#[derive(Debug, Default, Clone)]
pub struct ErrorAnswer {
    /// `retry-after-ms`.
    pub retry_after_ms: Option<String>,
    /// `retry-after`.
    pub retry_after: Option<String>,
    /// `llm_provider-retry-after` (LiteLLM forwarding an upstream 429).
    pub provider_retry_after: Option<String>,
    /// `x-should-retry`.
    pub should_retry: Option<String>,
    /// The body.
    pub body: String,
}

/// The message of an OpenAI-style error body (`{"error": {"message": …}}`), else the body.
fn error_message(body: &str) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| v.get("error").and_then(Value::as_str).map(str::to_owned))
        })
        .unwrap_or_else(|| body.to_owned());
    message.chars().take(300).collect()
}

/// "try again in 20s", "Please try again in 1.5 seconds", "retry in 3 seconds".
fn delay_in_message(message: &str) -> Option<Duration> {
    let lower = message.to_lowercase();
    let at = lower
        .find("again in ")
        .map(|i| i + 9)
        .or_else(|| lower.find("retry in ").map(|i| i + 9))?;
    let rest = &lower[at..];
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let value: f64 = number.parse().ok()?;
    let unit = rest[number.len()..].trim_start();
    let seconds = if unit.starts_with("ms") {
        value / 1000.0
    } else if unit.starts_with("min") {
        value * 60.0
    } else {
        value
    };
    Duration::try_from_secs_f64(seconds).ok()
}

/// Classifies an error answer with `status` from `provider`.
pub fn classify(
    provider: &str,
    status: u16,
    answer: &ErrorAnswer,
    now: chrono::DateTime<chrono::Utc>,
) -> LlmError {
    let message = error_message(&answer.body);
    let retry_after = answer
        .retry_after_ms
        .as_deref()
        .and_then(|ms| ms.trim().parse::<f64>().ok())
        .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
        .or_else(|| {
            answer
                .retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, now))
        })
        .or_else(|| {
            answer
                .provider_retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, now))
        })
        .or_else(|| delay_in_message(&message));
    let provider = provider.to_owned();
    let retryable_status = matches!(status, 408 | 409 | 429 | 500..=599);
    let should_retry = match answer.should_retry.as_deref().map(str::trim) {
        Some("true") => true,
        Some("false") => false,
        _ => retryable_status,
    };
    if !should_retry {
        return match status {
            401 | 403 => LlmError::Unauthorized { provider, status },
            _ => LlmError::Rejected {
                provider,
                status,
                message,
            },
        };
    }
    if status == 429 {
        LlmError::RateLimited {
            provider,
            retry_after,
            message,
        }
    } else {
        LlmError::Unavailable {
            provider,
            retry_after,
            message: format!("HTTP {status}: {message}"),
        }
    }
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[async_trait]
impl ChatModel for OpenAiChat {
    fn provider(&self) -> &str {
        &self.endpoint.provider
    }

    fn model(&self) -> &str {
        &self.endpoint.model
    }

    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        // OpenTelemetry's GenAI conventions: one client span per model call.
        let span = tracing::info_span!(
            "gen_ai.chat",
            otel.name = %format!("chat {}", self.endpoint.model),
            otel.kind = "client",
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = %self.endpoint.provider,
            gen_ai.request.model = %self.endpoint.model,
            gen_ai.request.max_tokens = request.max_tokens,
            gen_ai.request.temperature = f64::from(request.temperature),
            gen_ai.response.model = tracing::field::Empty,
            gen_ai.response.finish_reasons = tracing::field::Empty,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        let result = tracing::Instrument::instrument(self.call(request), span.clone()).await;
        match &result {
            Ok(response) => {
                span.record("gen_ai.response.model", response.model.as_str());
                span.record(
                    "gen_ai.response.finish_reasons",
                    format!("{:?}", response.finish).to_lowercase().as_str(),
                );
                span.record("gen_ai.usage.input_tokens", response.usage.prompt_tokens);
                span.record(
                    "gen_ai.usage.output_tokens",
                    response.usage.completion_tokens,
                );
            }
            Err(error) => {
                span.record("error.type", error.kind());
            }
        }
        result
    }
}

impl OpenAiChat {
    async fn call(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = request_body(
            &self.endpoint.model,
            request,
            self.endpoint.max_completion_tokens,
        );
        let mut call = self
            .client
            .post(&self.url)
            .timeout(self.endpoint.timeout)
            .json(&body);
        if let Some(key) = &self.endpoint.api_key {
            call = call.bearer_auth(key.expose_secret());
        }
        let timed_out = || LlmError::Timeout {
            provider: self.endpoint.provider.clone(),
            after: self.endpoint.timeout,
        };
        let response = call.send().await.map_err(|e| {
            if e.is_timeout() {
                timed_out()
            } else {
                self.unavailable(format!("connection failed: {}", e.without_url()))
            }
        })?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let answer = ErrorAnswer {
                retry_after_ms: header(&response, "retry-after-ms"),
                retry_after: header(&response, "retry-after"),
                provider_retry_after: header(&response, "llm_provider-retry-after"),
                should_retry: header(&response, "x-should-retry"),
                body: response.text().await.unwrap_or_default(),
            };
            let error = classify(&self.endpoint.provider, status, &answer, chrono::Utc::now());
            debug!(provider = %self.endpoint.provider, model = %self.endpoint.model, status, error = %error, "Completion failed.");
            return Err(error);
        }
        let bytes = response.bytes().await.map_err(|e| {
            if e.is_timeout() {
                timed_out()
            } else {
                self.unavailable(format!(
                    "reading the completion failed: {}",
                    e.without_url()
                ))
            }
        })?;
        parse_completion(&bytes, &self.endpoint.model).map_err(|m| self.invalid(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atiende_ports::ToolSpec;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_760_000_000, 0).unwrap_or_default()
    }

    fn answer(body: &str) -> ErrorAnswer {
        ErrorAnswer {
            body: body.to_owned(),
            ..ErrorAnswer::default()
        }
    }

    #[test]
    fn the_body_follows_the_contract() {
        let call = ToolCall {
            id: "call_1".into(),
            name: "buscar_producto".into(),
            arguments: r#"{"consulta":"cemento"}"#.into(),
        };
        let request = ChatRequest {
            messages: vec![
                ChatMessage::text(ChatRole::System, "Eres un asistente."),
                ChatMessage::text(ChatRole::User, "¿tienen cemento?"),
                ChatMessage::assistant_calls(None, vec![call.clone()]),
                ChatMessage::tool_result(&call, r#"{"found":true}"#),
            ],
            tools: vec![ToolSpec {
                name: "buscar_producto".into(),
                description: "Busca un producto".into(),
                parameters: json!({"type":"object","properties":{"consulta":{"type":"string"}}}),
            }],
            json_output: true,
            max_tokens: 400,
            temperature: 0.2,
        };
        let body = request_body("gpt-4o-mini", &request, false);
        assert_eq!(body["model"], "gpt-4o-mini");
        assert_eq!(body["max_tokens"], 400);
        assert!(body.get("max_completion_tokens").is_none());
        assert!(body.get("tool_choice").is_none());
        assert_eq!(body["response_format"]["type"], "json_object");
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["tools"][0]["function"]["name"], "buscar_producto");
        assert_eq!(body["messages"][2]["role"], "assistant");
        assert_eq!(body["messages"][2]["content"], Value::Null);
        assert_eq!(
            body["messages"][2]["tool_calls"][0]["function"]["arguments"],
            r#"{"consulta":"cemento"}"#
        );
        assert_eq!(body["messages"][3]["tool_call_id"], "call_1");
        let body = request_body("gpt-4o-mini", &request, true);
        assert_eq!(body["max_completion_tokens"], 400);
    }

    #[test]
    fn completions_are_read_with_tool_calls_and_usage() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1760000000,"model":"gpt-4o-mini",
 "choices":[{"index":0,"finish_reason":"tool_calls","logprobs":null,
   "message":{"role":"assistant","content":null,"refusal":null,
     "tool_calls":[{"id":"call_abc","type":"function","function":{"name":"get_order","arguments":"{\"order_id\":\"123\"}"}}]}}],
 "usage":{"prompt_tokens":85,"completion_tokens":18,"total_tokens":103}}"#;
        let response = parse_completion(body, "x").unwrap();
        assert_eq!(response.finish, FinishReason::ToolCalls);
        assert_eq!(response.content, None);
        assert_eq!(response.tool_calls[0].id, "call_abc");
        assert_eq!(response.tool_calls[0].arguments, r#"{"order_id":"123"}"#);
        assert_eq!(response.usage.prompt_tokens, 85);
        assert_eq!(response.model, "gpt-4o-mini");
        assert!(parse_completion(br#"{"choices":[]}"#, "x").is_err());
        assert!(parse_completion(b"<html>", "x").is_err());
    }

    #[test]
    fn errors_are_classified_like_the_openai_sdk() {
        let rate = classify(
            "litellm",
            429,
            &answer(
                r#"{"error":{"message":"litellm.RateLimitError: slow down","type":"throttling_error","param":null,"code":"429"}}"#,
            ),
            now(),
        );
        assert!(rate.is_retryable());
        assert_eq!(rate.kind(), "rate_limited");
        for status in [408, 409, 500, 502, 503, 504] {
            assert!(
                classify("p", status, &answer(""), now()).is_retryable(),
                "{status}"
            );
        }
        for status in [400, 404, 422] {
            let e = classify(
                "p",
                status,
                &answer(r#"{"error":{"message":"bad"}}"#),
                now(),
            );
            assert!(!e.is_retryable(), "{status}");
            assert!(!e.counts_against_provider(), "{status}");
            assert_eq!(e.kind(), "rejected");
        }
        for status in [401, 403] {
            let e = classify("p", status, &answer(""), now());
            assert_eq!(e.kind(), "unauthorized");
            assert!(e.counts_against_provider());
        }
        let mut told = answer("");
        told.should_retry = Some("false".into());
        assert!(!classify("p", 503, &told, now()).is_retryable());
        told.should_retry = Some("true".into());
        assert!(classify("p", 400, &told, now()).is_retryable());
    }

    #[test]
    fn the_delay_comes_from_the_first_header_that_names_one() {
        let mut a =
            answer(r#"{"error":{"message":"Rate limit reached. Please try again in 20s."}}"#);
        assert_eq!(
            classify("p", 429, &a, now()).retry_after(),
            Some(Duration::from_secs(20))
        );
        a.provider_retry_after = Some("7".into());
        assert_eq!(
            classify("p", 429, &a, now()).retry_after(),
            Some(Duration::from_secs(7))
        );
        a.retry_after = Some("3".into());
        assert_eq!(
            classify("p", 429, &a, now()).retry_after(),
            Some(Duration::from_secs(3))
        );
        a.retry_after_ms = Some("1500".into());
        assert_eq!(
            classify("p", 503, &a, now()).retry_after(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            delay_in_message("Please try again in 1.5 seconds"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            delay_in_message("retry in 2 minutes"),
            Some(Duration::from_secs(120))
        );
        assert_eq!(delay_in_message("try later"), None);
    }

    fn endpoint(base: &str, timeout: Duration) -> ProviderEndpoint {
        ProviderEndpoint {
            provider: "fake".into(),
            base_url: base.into(),
            model: "gpt-4o-mini".into(),
            api_key: Some(SecretString::from("sk-test")),
            timeout,
            max_completion_tokens: false,
        }
    }

    fn ask() -> ChatRequest {
        ChatRequest {
            messages: vec![ChatMessage::text(ChatRole::User, "hola")],
            tools: Vec::new(),
            json_output: false,
            max_tokens: 100,
            temperature: 0.0,
        }
    }

    #[tokio::test]
    async fn a_fake_provider_is_called_with_the_key_and_its_answers_classified() {
        use atiende_testkit::{FakeLlm, fake_llm::Scripted};
        let fake = FakeLlm::start();
        fake.require_key("sk-test");
        let chat = OpenAiChat::new(
            reqwest::Client::new(),
            endpoint(fake.base_url(), Duration::from_millis(300)),
        );
        fake.push([
            Scripted::text("¡Hola!"),
            Scripted::tool_calls(&[("buscar_producto", json!({"consulta": "cemento"}))]),
            Scripted::rate_limited(2),
            Scripted::status(503),
            Scripted::Delay(Duration::from_secs(2), Box::new(Scripted::text("tarde"))),
        ]);
        let first = chat.complete(&ask()).await.unwrap();
        assert_eq!(first.content.as_deref(), Some("¡Hola!"));
        assert_eq!(first.usage.prompt_tokens, 100);
        let second = chat.complete(&ask()).await.unwrap();
        assert_eq!(second.tool_calls[0].name, "buscar_producto");
        assert_eq!(second.tool_calls[0].arguments, r#"{"consulta":"cemento"}"#);
        let third = chat.complete(&ask()).await.unwrap_err();
        assert_eq!(third.kind(), "rate_limited");
        assert_eq!(third.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(
            chat.complete(&ask()).await.unwrap_err().kind(),
            "unavailable"
        );
        assert_eq!(chat.complete(&ask()).await.unwrap_err().kind(), "timeout");
        let requests = fake.requests();
        assert!(
            requests
                .iter()
                .all(|(key, _)| key.as_deref() == Some("sk-test"))
        );
        assert_eq!(requests[0].1["model"], "gpt-4o-mini");

        let mut wrong = endpoint(fake.base_url(), Duration::from_secs(2));
        wrong.api_key = Some(SecretString::from("sk-other"));
        let wrong = OpenAiChat::new(reqwest::Client::new(), wrong);
        assert_eq!(
            wrong.complete(&ask()).await.unwrap_err().kind(),
            "unauthorized"
        );

        let nowhere = OpenAiChat::new(
            reqwest::Client::new(),
            endpoint("http://127.0.0.1:9", Duration::from_secs(2)),
        );
        assert_eq!(
            nowhere.complete(&ask()).await.unwrap_err().kind(),
            "unavailable"
        );
    }
}
