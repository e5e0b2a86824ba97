//! The tenants' daily figures as OpenTelemetry metrics: a [`StatsLedger`] that, besides storing,
//! adds every counter change to the `atiende.tenant.counter` counter (attributes `tenant` and
//! `counter`, the stored counter's name), so an OTLP collector sees what `/metrics` and the
//! dashboard show, from whichever service counted it.

use std::sync::Arc;

use async_trait::async_trait;
use atiende_domain::{TenantId, stats::Tally};
use atiende_ports::{PortError, StatsLedger};
use chrono::NaiveDate;
use opentelemetry::{KeyValue, metrics::Counter};

/// A ledger whose additions are also metrics.
pub struct MeteredStats {
    inner: Arc<dyn StatsLedger>,
    counter: Counter<f64>,
}

impl MeteredStats {
    /// Wraps `inner`, counting on the global meter provider.
    pub fn new(inner: Arc<dyn StatsLedger>) -> Self {
        Self::with_meter(inner, &opentelemetry::global::meter("atiende"))
    }

    /// Wraps `inner`, counting on `meter`.
    pub fn with_meter(inner: Arc<dyn StatsLedger>, meter: &opentelemetry::metrics::Meter) -> Self {
        let counter = meter
            .f64_counter("atiende.tenant.counter")
            .with_description(
                "Tenants' service counters (conversations, messages, handoffs by trigger, costs, \
                 ratings, latency buckets), by tenant and counter",
            )
            .build();
        Self { inner, counter }
    }
}

#[async_trait]
impl StatsLedger for MeteredStats {
    async fn add_stats(
        &self,
        tenant: &TenantId,
        day: NaiveDate,
        deltas: &[(String, f64)],
    ) -> Result<(), PortError> {
        self.inner.add_stats(tenant, day, deltas).await?;
        for (name, value) in deltas {
            self.counter.add(
                *value,
                &[
                    KeyValue::new("tenant", tenant.to_string()),
                    KeyValue::new("counter", name.clone()),
                ],
            );
        }
        Ok(())
    }

    async fn totals(&self, tenant: &TenantId) -> Result<Tally, PortError> {
        self.inner.totals(tenant).await
    }

    async fn stats(
        &self,
        tenant: &TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Tally)>, PortError> {
        self.inner.stats(tenant, from, to).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::{
        InMemoryMetricExporter, PeriodicReader, SdkMeterProvider, data::AggregatedMetrics,
        data::MetricData,
    };

    use super::*;

    /// A ledger that keeps what it was given.
    #[derive(Default)]
    struct Kept(Mutex<Vec<(String, f64)>>);

    #[async_trait]
    impl StatsLedger for Kept {
        async fn add_stats(
            &self,
            _: &TenantId,
            _: NaiveDate,
            deltas: &[(String, f64)],
        ) -> Result<(), PortError> {
            self.0
                .lock()
                .map_err(|e| PortError::permanent(e.to_string()))?
                .extend_from_slice(deltas);
            Ok(())
        }
        async fn totals(&self, _: &TenantId) -> Result<Tally, PortError> {
            Ok(Tally::default())
        }
        async fn stats(
            &self,
            _: &TenantId,
            _: NaiveDate,
            _: NaiveDate,
        ) -> Result<Vec<(NaiveDate, Tally)>, PortError> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn every_stored_count_is_a_metric_by_tenant_and_counter() {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let kept = Arc::new(Kept::default());
        let metered = MeteredStats::with_meter(kept.clone(), &provider.meter("test"));
        let tenant = TenantId::parse("demo").unwrap_or_else(|_| unreachable!());
        let day = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap_or_default();
        let deltas = [
            ("conversations".to_owned(), 1.0),
            ("handoffs".to_owned(), 2.0),
        ];
        assert!(metered.add_stats(&tenant, day, &deltas).await.is_ok());
        assert!(metered.add_stats(&tenant, day, &deltas).await.is_ok());
        assert_eq!(kept.0.lock().map(|k| k.len()).unwrap_or(0), 4, "stored too");
        assert!(provider.force_flush().is_ok());
        let exported = exporter.get_finished_metrics().unwrap_or_default();
        let mut points = Vec::new();
        for resource in &exported {
            for scope in resource.scope_metrics() {
                for metric in scope
                    .metrics()
                    .filter(|m| m.name() == "atiende.tenant.counter")
                {
                    if let AggregatedMetrics::F64(MetricData::Sum(sum)) = metric.data() {
                        for point in sum.data_points() {
                            let counter = point
                                .attributes()
                                .find(|kv| kv.key.as_str() == "counter")
                                .map(|kv| kv.value.to_string());
                            points.push((counter, point.value()));
                        }
                    }
                }
            }
        }
        points.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            points,
            [
                (Some("conversations".to_owned()), 2.0),
                (Some("handoffs".to_owned()), 4.0)
            ]
        );
    }
}
