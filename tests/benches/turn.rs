//! Turn overhead of the conversation engine, excluding the model's wall time (issue 4's
//! benchmark): a zero-latency in-process model answers at once, so what is measured is
//! everything atiende does around the call — load the conversation, retrieve over a 10k-passage
//! knowledge base, score sentiment, build the prompt, validate the answer, evaluate the handoff
//! triggers, publish the reply and save — on the real processor with the embedded store and bus.
//!
//! It also reports the prompt's size at turn 1 and turn 20 of one conversation and the model
//! calls per turn (a tenth of the turns ask a product question the model answers with one tool
//! round, as a real model would).
//!
//! Run: `cargo bench -p atiende-e2e --bench turn` (`N` turns, default 500;
//! `BENCH_EMBEDDER=e5` adds the embedded model's query embedding to every turn).

// A bench binary fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use atiende_app::{
    engine::{ConversationEngine, EngineSettings},
    knowledge::DocumentInput,
    llm::{BreakerPolicy, KeyPool, ModelChain, PooledKey, Provider, RetryPolicy},
    processor::InboundProcessor,
    responder::ExtractiveResponder,
};
use atiende_bootstrap::{Embedded, test_settings};
use atiende_domain::TenantId;
use atiende_platform::config::EmbedderChoice;
use atiende_ports::{
    ChatModel, ChatRequest, ChatResponse, FinishReason, LlmError, ToolCall, Usage,
};

/// Answers at once: a tool call when the customer asks a price and no tool result is in the
/// prompt yet, else a valid structured reply. Counts its calls.
struct InstantModel {
    calls: AtomicU32,
}

#[async_trait]
impl ChatModel for InstantModel {
    fn provider(&self) -> &str {
        "instant"
    }
    fn model(&self) -> &str {
        "instant"
    }
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let last = request
            .messages
            .last()
            .and_then(|m| m.content.as_deref())
            .unwrap_or("");
        let asks_price = last.contains("precio del producto");
        let (content, tool_calls) = if asks_price {
            (
                None,
                vec![ToolCall {
                    id: "call_0".into(),
                    name: "buscar_producto".into(),
                    arguments: r#"{"consulta":"cemento gris"}"#.into(),
                }],
            )
        } else {
            // Cite the first passage shown, as a grounded model would.
            let evidence = request
                .messages
                .get(1)
                .and_then(|m| m.content.as_deref())
                .unwrap_or("");
            let source = evidence
                .split_once("\n[")
                .and_then(|(_, rest)| rest.split_once(']'))
                .map(|(id, _)| format!("\"{id}\""))
                .unwrap_or_default();
            (
                Some(format!(
                    r#"{{"reply":"Entregamos en Guaymate por RD$1,200. ¿Algo más?","intent":"other","sentiment":0.1,"confidence":0.9,"priority":3,"handoff":false,"sources":[{source}]}}"#
                )),
                Vec::new(),
            )
        };
        Ok(ChatResponse {
            finish: if tool_calls.is_empty() {
                FinishReason::Stop
            } else {
                FinishReason::ToolCalls
            },
            content,
            tool_calls,
            usage: Usage {
                prompt_tokens: 0,
                completion_tokens: 0,
            },
            model: "instant".into(),
        })
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A catalog of `n` products named from a hardware vocabulary.
fn catalog(n: usize) -> String {
    const THINGS: &[&str] = &[
        "tornillo",
        "clavo",
        "tubo",
        "codo",
        "llave",
        "cable",
        "pintura",
        "brocha",
        "lija",
        "cinta",
        "bisagra",
        "candado",
        "manguera",
        "taladro",
        "sierra",
        "martillo",
        "alicate",
        "nivel",
        "pala",
        "carretilla",
    ];
    const KINDS: &[&str] = &[
        "galvanizado",
        "inoxidable",
        "PVC",
        "cobre",
        "acero",
        "aluminio",
        "blanco",
        "negro",
        "industrial",
        "reforzado",
    ];
    let mut csv = String::from("sku,nombre,categoria,precio_dop,unidad,existencia,sucursal\n");
    for i in 0..n {
        let thing = THINGS[i % THINGS.len()];
        let kind = KINDS[(i / THINGS.len()) % KINDS.len()];
        csv.push_str(&format!(
            "GEN-{i:05},{thing} {kind} {} mm,Ferretería,{},unidad,{},Centro\n",
            (i % 97) + 3,
            50 + i % 900,
            i % 40
        ));
    }
    csv
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.demo = Some(true);
    settings.log.filter = "warn".to_owned();
    if std::env::var("BENCH_EMBEDDER").as_deref() == Ok("e5") {
        settings.knowledge.embedder = EmbedderChoice::E5;
    }
    let infra = Embedded::open(&settings, 0).await.unwrap();
    infra.load_demo_if_enabled().await.unwrap();
    let tenant = TenantId::parse("demo").unwrap();
    let ingest = Instant::now();
    infra
        .knowledge()
        .unwrap()
        .ingest(
            &tenant,
            vec![DocumentInput::Full {
                id: Some("bench-catalog".into()),
                title: None,
                kind: Some("catalog".into()),
                content: catalog(10_000),
            }],
        )
        .await
        .unwrap();
    println!(
        "knowledge: demo + 10,000 catalog rows ingested in {:.1?}",
        ingest.elapsed()
    );

    let model = Arc::new(InstantModel {
        calls: AtomicU32::new(0),
    });
    let chain = ModelChain::new(
        vec![Provider::new(
            "instant",
            KeyPool::new(
                "instant",
                vec![PooledKey {
                    id: "k".into(),
                    model: model.clone(),
                }],
                1000,
                Duration::from_secs(600),
            ),
            BreakerPolicy::default(),
        )],
        RetryPolicy::default(),
        Default::default(),
    );
    let engine = Arc::new(ConversationEngine::new(
        infra.knowledge().unwrap(),
        Arc::new(chain),
        infra.stores().accounts.clone(),
        infra.stores().usage.clone(),
        infra.clock.clone(),
        EngineSettings::default(),
    ));
    let processor = InboundProcessor::new(
        infra.tenants.clone(),
        infra.stores().conversations.clone(),
        infra.publisher(),
        Arc::new(ExtractiveResponder::new(infra.knowledge().unwrap(), 0.5)),
        infra.clock.clone(),
    )
    .with_engine(engine);

    let questions = [
        "¿Hacen entregas en Guaymate los sábados?",
        "¿Qué formas de pago aceptan para compras grandes?",
        "¿Tienen garantía las herramientas eléctricas?",
        "¿A qué hora cierran el domingo en Villa Verde?",
        "¿Cuál es el precio del producto cemento gris?",
        "¿Puedo devolver una pintura que no usé?",
        "¿Cuánto cuesta la entrega a Cumayasa?",
        "¿Venden tubos de PVC de 3/4?",
        "¿Dan crédito a empresas?",
        "¿Tienen taladro inalámbrico?",
    ];
    let mut samples = Vec::with_capacity(n);
    let mut prompt_sizes = Vec::new();
    // Turns by model calls made: 0, 1, 2, 3 or more.
    let mut calls_per_turn = [0usize; 4];
    for i in 0..n {
        // 25 conversations of n/25 turns each, so histories grow as in real chats.
        // Numbered, so the loop trigger (the same question again) does not hand the
        // conversation to a person and silence the bot.
        let message = atiende_testkit::whatsapp_text(
            "demo",
            &format!("+1809555{:04}", i % 25),
            &format!("SMbench{i}"),
            &format!("{} (consulta {i})", questions[i % questions.len()]),
        );
        let before = model.calls.load(Ordering::Relaxed);
        let started = Instant::now();
        processor.process(&message, None).await.unwrap();
        samples.push(started.elapsed());
        let made = model.calls.load(Ordering::Relaxed) - before;
        calls_per_turn[usize::try_from(made).unwrap().min(3)] += 1;
        if i % 25 == 0 {
            let stored = infra
                .stores()
                .conversations
                .load(&message.conversation)
                .await
                .unwrap()
                .unwrap()
                .value;
            if let Some(trace) = stored.traces.last() {
                prompt_sizes.push(trace.prompt_tokens_estimate);
            }
        }
    }
    let calls = model.calls.load(Ordering::Relaxed) as f64;
    samples.sort();
    println!(
        "turn overhead (zero-latency model)  n={n}  p50 {:.2?}  p99 {:.2?}  max {:.2?}",
        percentile(&samples, 50.0),
        percentile(&samples, 99.0),
        samples[samples.len() - 1]
    );
    println!(
        "prompt tokens (estimate) turn 1: {}  turn {}: {}",
        prompt_sizes.first().unwrap_or(&0),
        prompt_sizes.len(),
        prompt_sizes.last().unwrap_or(&0)
    );
    println!(
        "model calls per turn: {:.2}; turns with 0/1/2/3+ calls: {:?} ({:.1} % exactly one; a tenth ask a price, answered after one tool round)",
        calls / n as f64,
        calls_per_turn,
        100.0 * calls_per_turn[1] as f64 / n as f64
    );
}
