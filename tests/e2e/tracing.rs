//! One customer message is one trace: an in-memory OpenTelemetry exporter sees the webhook's
//! span in ingest, the processor's and the dispatcher's consumer spans (each a child of the hop
//! before it, across the HTTP push between separate servers) and the send to Twilio — all with
//! one trace id, every span's parent inside the trace, continuing the caller's `traceparent`.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

use crate::split_services::SplitServices;

const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_one_connected_trace_from_webhook_to_send() {
    let exporter = InMemorySpanExporter::default();
    let telemetry = atiende_platform::telemetry::init_with_exporter(
        &atiende_platform::config::LogSettings {
            filter: "info".to_owned(),
            ..Default::default()
        },
        "atiende-e2e",
        exporter.clone(),
    );
    let services = SplitServices::start().await;
    services
        .send(
            "SM00000000000000000000000000000301",
            "¿Aceptan cheques?",
            Some(CALLER),
        )
        .await;
    let twilio = &services.twilio;
    atiende_testkit::eventually(Duration::from_secs(15), || async {
        (!twilio.sent().is_empty()).then_some(())
    })
    .await
    .expect("the reply reached Twilio");
    let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let spans = atiende_testkit::eventually(Duration::from_secs(10), || async {
        telemetry.flush();
        let spans: Vec<SpanData> = exporter
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .filter(|s| s.span_context.trace_id() == trace)
            .collect();
        // Each process's spans leave in their own batch: wait for every hop, not only the last.
        [
            "http.request",
            "atiende-processor-inbound process",
            "atiende-dispatcher-outbound process",
            "send ",
        ]
        .iter()
        .all(|prefix| spans.iter().any(|s| s.name.starts_with(prefix)))
        .then_some(spans)
    })
    .await
    .expect("every hop's span was exported in the caller's trace");

    let by_id: HashMap<SpanId, &SpanData> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s))
        .collect();
    let find = |prefix: &str| {
        spans
            .iter()
            .find(|s| s.name.starts_with(prefix))
            .unwrap_or_else(|| {
                panic!(
                    "no {prefix} span in {:?}",
                    spans.iter().map(|s| &s.name).collect::<Vec<_>>()
                )
            })
    };
    let webhook = find("http.request");
    let processor = find("atiende-processor-inbound process");
    let dispatcher = find("atiende-dispatcher-outbound process");
    let send = find("send ");
    // The webhook continues the caller's span; each hop is the child of the one before.
    assert_eq!(
        webhook.parent_span_id,
        SpanId::from_hex("00f067aa0ba902b7").unwrap()
    );
    assert_eq!(processor.parent_span_id, webhook.span_context.span_id());
    assert_eq!(dispatcher.parent_span_id, processor.span_context.span_id());
    // The send runs inside the dispatcher's span (possibly under intermediate spans).
    let mut cursor = send;
    while cursor.span_context.span_id() != dispatcher.span_context.span_id() {
        cursor = by_id
            .get(&cursor.parent_span_id)
            .unwrap_or_else(|| panic!("{} is not connected to the dispatcher", cursor.name));
    }
    // Every span of the trace hangs off another span of it, except the webhook's.
    for span in &spans {
        if span.span_context.span_id() != webhook.span_context.span_id() {
            assert!(
                by_id.contains_key(&span.parent_span_id),
                "{} is disconnected",
                span.name
            );
        }
    }
    // Messaging and atiende attributes, with the customer masked.
    assert_eq!(
        attribute(processor, "messaging.system").as_deref(),
        Some("gcp_pubsub")
    );
    assert_eq!(
        attribute(processor, "atiende.tenant").as_deref(),
        Some("demo")
    );
    assert_eq!(
        attribute(processor, "atiende.outcome").as_deref(),
        Some("ack")
    );
    let conversation = attribute(dispatcher, "atiende.conversation").unwrap();
    assert!(
        conversation.starts_with("demo:twilio:") && conversation.contains('*'),
        "{conversation}"
    );
    assert!(
        !format!("{spans:?}").contains("8095551010"),
        "no phone number in any span"
    );
    telemetry.shutdown();
}
