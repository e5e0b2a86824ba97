//! The model chain through the real LiteLLM proxy: its mock deployments answer, or fail with
//! LiteLLM's own 429 and 500 (real error bodies and headers, the gateway's real behaviour), and
//! the turn still reaches the customer through the next provider — or a person.
//!
//! Needs `litellm` (`pip install 'litellm[proxy]'`, `$LITELLM_BIN`): `infra/test.sh` installs it
//! and runs these ignored tests.

use atiende_bootstrap::{Embedded, test_settings};
use atiende_domain::{ActionKind, ConversationId, HandoffReason};
use atiende_platform::config::LlmProvider;
use atiende_testkit::litellm::{LiteLlmProxy, MASTER_KEY};
use secrecy::SecretString;

const MODELS: &str = r#"  - model_name: answers
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: fake
      mock_response: '{"reply": "Entregamos en *Guaymate* por RD$1,200. ¿Te ayudo con el pedido?", "intent": "other", "sentiment": 0.1, "confidence": 0.9, "priority": 3, "handoff": false, "sources": []}'
  - model_name: throttled
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: fake
      mock_response: litellm.RateLimitError
  - model_name: broken
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: fake
      mock_response: litellm.InternalServerError
"#;

fn provider(proxy: &LiteLlmProxy, name: &str, model: &str) -> LlmProvider {
    LlmProvider {
        name: name.into(),
        base_url: proxy.base_url().into(),
        model: model.into(),
        api_keys: vec![SecretString::from(MASTER_KEY)],
        timeout_secs: 5,
        conversations_per_key: 10,
        max_completion_tokens: false,
    }
}

async fn ask(infra: &Embedded, id: &str, text: &str) -> (Vec<ActionKind>, ConversationId) {
    let message = atiende_testkit::whatsapp_text("demo", "+18095551010", id, text);
    let conversation = message.conversation.clone();
    let processed = infra
        .processor()
        .unwrap()
        .process(&message, None)
        .await
        .unwrap();
    let atiende_app::processor::Processed::Handled { actions } = processed else {
        panic!("{processed:?}")
    };
    (actions.into_iter().map(|a| a.kind).collect(), conversation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the LiteLLM proxy (infra/test.sh installs it)"]
async fn litellm_failures_fall_back_through_the_chain_or_hand_off() {
    let proxy = LiteLlmProxy::start(MODELS).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.demo = Some(true);
    settings.llm.providers = vec![
        provider(&proxy, "gemini", "throttled"),
        provider(&proxy, "openai", "broken"),
        provider(&proxy, "haiku", "answers"),
    ];
    settings.llm.deadline_secs = 20;
    let infra = Embedded::open(&settings, 0).await.unwrap();
    infra.load_demo_if_enabled().await.unwrap();

    let (actions, conversation) = ask(&infra, "SM1", "¿Hacen entregas en Guaymate?").await;
    let Some(ActionKind::Reply { text }) = actions.first() else {
        panic!("{actions:?}")
    };
    assert!(text.contains("Guaymate"), "{text}");
    let stored = infra
        .stores()
        .conversations
        .load(&conversation)
        .await
        .unwrap()
        .unwrap()
        .value;
    let trace = stored.traces.last().unwrap();
    let outcomes: Vec<String> = trace
        .calls
        .iter()
        .map(|c| format!("{}:{}", c.provider, c.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            "gemini:rate_limited",
            "gemini:rate_limited",
            "gemini:rate_limited",
            "openai:unavailable",
            "openai:unavailable",
            "openai:unavailable",
            "haiku:ok",
        ]
    );
    assert!(trace.fallback);
    assert!(trace.tokens.0 > 0, "LiteLLM reports usage");

    // With only failing deployments, the customer gets an apology and a person.
    let mut settings = test_settings(dir.path());
    settings.llm.providers = vec![provider(&proxy, "openai", "broken")];
    settings.llm.deadline_secs = 20;
    let infra = Embedded::open(&settings, 0).await.unwrap();
    let (actions, _) = ask(&infra, "SM2", "¿Tienen varilla de 3/8?").await;
    let Some(ActionKind::Handoff { reason, notice, .. }) = actions.first() else {
        panic!("{actions:?}")
    };
    assert_eq!(*reason, HandoffReason::ModelUnavailable);
    assert!(notice.starts_with("Disculpa"), "{notice}");
}

/// Voice notes through the proxy: LiteLLM forwards `/audio/transcriptions` to the provider
/// (here the fake, which follows OpenAI's contract) and the words come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs litellm; infra/test.sh runs it"]
async fn voice_notes_are_transcribed_through_the_litellm_proxy() {
    use atiende_ports::{FetchedMedia, Transcriber};
    let provider = atiende_testkit::FakeLlm::start();
    provider.set_transcript("¿Tienen varilla de 3/8?");
    let proxy = LiteLlmProxy::start(&format!(
        "  - model_name: voice\n    litellm_params:\n      model: openai/whisper-1\n      api_base: {}\n      api_key: fake\n    model_info:\n      mode: audio_transcription\n",
        provider.base_url()
    ))
    .await;
    let transcriber = atiende_adapter_openai::transcription::OpenAiTranscriber::new(
        reqwest::Client::new(),
        proxy.base_url(),
        "voice",
        Some(SecretString::from(MASTER_KEY)),
        std::time::Duration::from_secs(20),
    );
    let audio = FetchedMedia {
        content_type: "audio/ogg".into(),
        bytes: b"OggS\0voice-note".to_vec(),
    };
    let words = transcriber
        .transcribe(&audio, Some(atiende_domain::Locale::Es))
        .await
        .unwrap();
    assert_eq!(words, "¿Tienen varilla de 3/8?");
    assert!(
        provider
            .requests()
            .iter()
            .any(|(_, body)| body["transcription"]["model"] == "whisper-1"),
        "{:?}",
        provider.requests()
    );
}
