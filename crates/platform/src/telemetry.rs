//! Logs, traces and metrics.
//!
//! Rules every service follows: log lines carry fields, not interpolated data; customers' phone
//! numbers appear only masked (`+180******10`); message bodies, profile names and secrets never
//! appear. Secrets are `SecretString`s, whose `Debug` is redacted, so even a careless `?tenant`
//! prints no token.
//!
//! * **Logs**: `pretty` for terminals; `json` for collectors, one object per line with Cloud
//!   Logging's `severity`, and — when traces are on — `logging.googleapis.com/trace` and
//!   `…/spanId`, so Cloud Logging shows each line under its trace.
//! * **Traces**: `tracing` spans become OpenTelemetry spans (`tracing-opentelemetry`) when an
//!   exporter is configured — OTLP/HTTP (`log.otlp_endpoint`, `--features otlp`) or, in tests,
//!   any [`SpanExporter`]. The W3C context crosses the bus in the `traceparent` attribute
//!   ([`crate::trace`]), so a webhook, both Pub/Sub hops and the send are one trace. Off by
//!   default: no exporter, no OpenTelemetry layer, no cost.
//! * **Metrics**: the consumers count deliveries and time handlers through the global
//!   OpenTelemetry meter, exported with the traces.

use std::fmt;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use serde_json::{Map, Value};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, LogSettings};

/// Keeps the exporters alive; [`Telemetry::shutdown`] flushes what is buffered (at exit).
#[derive(Debug, Default)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<opentelemetry_sdk::metrics::SdkMeterProvider>,
}

impl Telemetry {
    /// Sends every finished span and metric still buffered.
    pub fn flush(&self) {
        if let Some(tracer) = &self.tracer {
            let _ = tracer.force_flush();
        }
        if let Some(meter) = &self.meter {
            let _ = meter.force_flush();
        }
    }

    /// Flushes and stops the exporters.
    pub fn shutdown(&self) {
        if let Some(tracer) = &self.tracer {
            let _ = tracer.shutdown();
        }
        if let Some(meter) = &self.meter {
            let _ = meter.shutdown();
        }
    }
}

/// Installs the global subscriber for `service`. `RUST_LOG` overrides the configured filter.
/// `project` (GCP) lets JSON lines name their trace the way Cloud Logging links it. Calling it
/// twice is harmless (the second call installs nothing), which keeps tests simple.
pub fn init(settings: &LogSettings, service: &str, project: Option<&str>) -> Telemetry {
    let (tracer, meter) = match settings.otlp_endpoint() {
        Some(endpoint) => match otlp(&endpoint, service, settings.trace_sample_ratio) {
            Ok(providers) => (Some(providers.0), Some(providers.1)),
            Err(error) => {
                eprintln!("warning: OpenTelemetry export is off: {error}");
                (None, None)
            }
        },
        None => (None, None),
    };
    install(settings, service, project, tracer, meter)
}

/// Installs the global subscriber with every span exported to `exporter` as it ends: the
/// in-memory exporter of the tracing tests.
pub fn init_with_exporter<E: SpanExporter + 'static>(
    settings: &LogSettings,
    service: &str,
    exporter: E,
) -> Telemetry {
    let tracer = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(resource(service))
        .build();
    install(settings, service, None, Some(tracer), None)
}

fn resource(service: &str) -> opentelemetry_sdk::Resource {
    opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_owned())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build()
}

#[cfg(feature = "otlp")]
fn otlp(
    endpoint: &str,
    service: &str,
    ratio: f64,
) -> Result<
    (
        SdkTracerProvider,
        opentelemetry_sdk::metrics::SdkMeterProvider,
    ),
    String,
> {
    use opentelemetry_otlp::WithExportConfig as _;
    let base = endpoint.trim_end_matches('/');
    let spans = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{base}/v1/traces"))
        .build()
        .map_err(|e| e.to_string())?;
    let metrics = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_endpoint(format!("{base}/v1/metrics"))
        .build()
        .map_err(|e| e.to_string())?;
    let tracer = SdkTracerProvider::builder()
        .with_batch_exporter(spans)
        .with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
            opentelemetry_sdk::trace::Sampler::TraceIdRatioBased(ratio.clamp(0.0, 1.0)),
        )))
        .with_resource(resource(service))
        .build();
    let meter = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_periodic_exporter(metrics)
        .with_resource(resource(service))
        .build();
    Ok((tracer, meter))
}

#[cfg(not(feature = "otlp"))]
fn otlp(
    _: &str,
    _: &str,
    _: f64,
) -> Result<
    (
        SdkTracerProvider,
        opentelemetry_sdk::metrics::SdkMeterProvider,
    ),
    String,
> {
    Err("log.otlp_endpoint is set but this binary was built without `--features otlp`".to_owned())
}

fn install(
    settings: &LogSettings,
    service: &str,
    project: Option<&str>,
    tracer: Option<SdkTracerProvider>,
    meter: Option<opentelemetry_sdk::metrics::SdkMeterProvider>,
) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = match settings.format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .event_format(CloudJson {
                project: project.map(str::to_owned),
            })
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_target(true).boxed(),
    };
    let otel = tracer.as_ref().map(|provider| {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        tracing_opentelemetry::layer().with_tracer(provider.tracer(service.to_owned()))
    });
    if let Some(meter) = &meter {
        opentelemetry::global::set_meter_provider(meter.clone());
    }
    let _ = tracing_subscriber::registry()
        .with(otel)
        .with(fmt.with_filter(filter))
        .try_init();
    Telemetry { tracer, meter }
}

/// Installs a subscriber for tests, printing only when `TEST_LOG` is set.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init(
            &LogSettings {
                format: LogFormat::Pretty,
                filter: "debug,tantivy=info,actix_server=warn".to_owned(),
                ..LogSettings::default()
            },
            "test",
            None,
        );
    }
}

/// One JSON object per line, in the shape Cloud Logging reads from a container's output:
/// `severity`, `message`, `time`, the event's fields, its span's name, and the trace.
struct CloudJson {
    project: Option<String>,
}

/// Cloud Logging's severities.
fn severity(level: &tracing::Level) -> &'static str {
    match *level {
        tracing::Level::ERROR => "ERROR",
        tracing::Level::WARN => "WARNING",
        tracing::Level::INFO => "INFO",
        tracing::Level::DEBUG | tracing::Level::TRACE => "DEBUG",
    }
}

struct JsonFields<'a>(&'a mut Map<String, Value>);

impl tracing::field::Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

impl<S, N> FormatEvent<S, N> for CloudJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("severity".into(), Value::from(severity(meta.level())));
        line.insert(
            "time".into(),
            Value::from(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert("target".into(), Value::from(meta.target()));
        event.record(&mut JsonFields(&mut line));
        if let Some(span) = ctx.lookup_current() {
            line.insert("span".into(), Value::from(span.name()));
        }
        if let Some(trace) = crate::trace::TraceParent::current() {
            let key = match &self.project {
                Some(project) => format!("projects/{project}/traces/{}", trace.trace_id()),
                None => trace.trace_id(),
            };
            line.insert("logging.googleapis.com/trace".into(), Value::from(key));
            line.insert(
                "logging.googleapis.com/spanId".into(),
                Value::from(trace.span_id()),
            );
            line.insert(
                "logging.googleapis.com/trace_sampled".into(),
                Value::from(trace.sampled()),
            );
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_are_cloud_loggings() {
        assert_eq!(severity(&tracing::Level::WARN), "WARNING");
        assert_eq!(severity(&tracing::Level::TRACE), "DEBUG");
        assert_eq!(severity(&tracing::Level::ERROR), "ERROR");
    }
}
