//! W3C trace context (`traceparent`), carried from the webhook through both bus hops to the send,
//! so one customer message can be followed across ingest, processor and dispatcher.
//!
//! Format: `00-{trace id: 32 hex}-{parent id: 16 hex}-{flags: 2 hex}`; all-zero ids are invalid.

use rand::Rng;

/// A trace context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: u128,
    parent_id: u64,
    flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` header; `None` when malformed or all-zero.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (Some(version), Some(trace), Some(parent), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        if version.len() != 2
            || version == "ff"
            || trace.len() != 32
            || parent.len() != 16
            || flags.len() != 2
        {
            return None;
        }
        let lower_hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if ![version, trace, parent, flags].iter().all(|s| lower_hex(s)) {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok()?;
        let parent_id = u64::from_str_radix(parent, 16).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        (trace_id != 0 && parent_id != 0).then_some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// A new sampled trace.
    pub fn new_root() -> Self {
        let mut rng = rand::rng();
        Self {
            trace_id: rng.random_range(1..=u128::MAX),
            parent_id: rng.random_range(1..=u64::MAX),
            flags: 1,
        }
    }

    /// The same trace with a new span id: what a service passes on.
    pub fn child(&self) -> Self {
        Self {
            parent_id: rand::rng().random_range(1..=u64::MAX),
            ..*self
        }
    }

    /// Continues `header` when it is valid, starts a new trace otherwise.
    pub fn continue_or_start(header: Option<&str>) -> Self {
        // With OpenTelemetry on, the request's span already continues the header's trace.
        if let Some(current) = Self::current() {
            return current;
        }
        header
            .and_then(Self::parse)
            .map_or_else(Self::new_root, |t| t.child())
    }

    /// The context of the current span, when OpenTelemetry records it.
    pub fn current() -> Option<Self> {
        Self::of(&tracing::Span::current())
    }

    /// The context of `span`, when OpenTelemetry records it.
    pub fn of(span: &tracing::Span) -> Option<Self> {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let context = span.context();
        let otel = context.span();
        let sc = otel.span_context();
        sc.is_valid().then(|| Self {
            trace_id: u128::from_be_bytes(sc.trace_id().to_bytes()),
            parent_id: u64::from_be_bytes(sc.span_id().to_bytes()),
            flags: sc.trace_flags().to_u8(),
        })
    }

    /// Makes `span` a child of this (remote) context, when OpenTelemetry records spans.
    pub fn adopt(&self, span: &tracing::Span) {
        use opentelemetry::trace::{
            SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
        };
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let remote = SpanContext::new(
            TraceId::from_bytes(self.trace_id.to_be_bytes()),
            SpanId::from_bytes(self.parent_id.to_be_bytes()),
            TraceFlags::new(self.flags),
            true,
            TraceState::default(),
        );
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }

    /// The span id, as 16 hex digits.
    pub fn span_id(&self) -> String {
        format!("{:016x}", self.parent_id)
    }

    /// Whether the trace is sampled.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace id as 32 hex digits.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

/// Wraps a bus handler so each delivery runs in a consumer span that continues the publisher's
/// trace, and what the handler publishes continues *this* span: the webhook, both Pub/Sub hops
/// and the send line up as one trace. Counts deliveries and times handlers for the metrics.
pub struct Traced {
    inner: std::sync::Arc<dyn atiende_ports::MessageHandler>,
    deliveries: opentelemetry::metrics::Counter<u64>,
    duration: opentelemetry::metrics::Histogram<f64>,
}

impl Traced {
    /// Traces `inner`.
    pub fn new(inner: std::sync::Arc<dyn atiende_ports::MessageHandler>) -> Self {
        let meter = opentelemetry::global::meter("atiende");
        Self {
            inner,
            deliveries: meter
                .u64_counter("atiende.bus.deliveries")
                .with_description("Bus deliveries handled, by subscription and outcome")
                .build(),
            duration: meter
                .f64_histogram("atiende.bus.handle.duration")
                .with_unit("s")
                .with_description("Time a handler took for one delivery")
                .build(),
        }
    }
}

#[async_trait::async_trait]
impl atiende_ports::MessageHandler for Traced {
    async fn handle(&self, delivery: &atiende_ports::Delivery) -> atiende_ports::HandleOutcome {
        use tracing::Instrument as _;
        let conversation = delivery
            .ordering_key
            .as_deref()
            .and_then(|k| atiende_domain::ConversationId::parse(k).ok())
            .map(|c| c.masked())
            .unwrap_or_default();
        let span = tracing::info_span!(
            parent: None,
            "bus.process",
            otel.name = %format!("{} process", delivery.subscription),
            otel.kind = "consumer",
            messaging.system = "gcp_pubsub",
            messaging.operation.type = "process",
            messaging.destination.subscription.name = %delivery.subscription,
            messaging.message.id = %delivery.message_id,
            messaging.gcp_pubsub.message.delivery_attempt = delivery.delivery_attempt,
            atiende.tenant = delivery.attributes.get(atiende_ports::bus::ATTR_TENANT).map(String::as_str).unwrap_or_default(),
            atiende.conversation = %conversation,
            atiende.outcome = tracing::field::Empty,
        );
        if let Some(parent) = delivery.traceparent().and_then(TraceParent::parse) {
            parent.adopt(&span);
        }
        let started = std::time::Instant::now();
        let outcome = match TraceParent::of(&span) {
            Some(own) => {
                let mut continued = delivery.clone();
                continued.attributes.insert(
                    atiende_ports::bus::ATTR_TRACEPARENT.to_owned(),
                    own.to_string(),
                );
                self.inner.handle(&continued).instrument(span.clone()).await
            }
            None => self.inner.handle(delivery).instrument(span.clone()).await,
        };
        let name = match &outcome {
            atiende_ports::HandleOutcome::Ack => "ack",
            atiende_ports::HandleOutcome::Retry { .. } => "retry",
            atiende_ports::HandleOutcome::Reject { .. } => "reject",
        };
        span.record("atiende.outcome", name);
        let attributes = [
            opentelemetry::KeyValue::new("subscription", delivery.subscription.clone()),
            opentelemetry::KeyValue::new("outcome", name),
        ];
        self.deliveries.add(1, &attributes);
        self.duration
            .record(started.elapsed().as_secs_f64(), &attributes);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_example_round_trips() {
        let h = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t = TraceParent::parse(h).unwrap();
        assert_eq!(t.to_string(), h);
        assert_eq!(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let child = t.child();
        assert_eq!(child.trace_id(), t.trace_id());
        assert_ne!(child.to_string(), h);
    }

    #[test]
    fn invalid_headers_start_a_new_trace() {
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f35-00f067aa0ba902b7-01",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad:?}");
        }
        assert!(
            TraceParent::parse(&TraceParent::continue_or_start(Some("junk")).to_string()).is_some()
        );
    }
}
