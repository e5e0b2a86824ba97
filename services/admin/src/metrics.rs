//! `GET /metrics`: Prometheus text for machines (the operator's token, as a bearer credential in
//! the scrape configuration).
//!
//! Per tenant, the all-time totals every service adds to as things happen (the same counters as
//! the dashboard's, read in one record per tenant, so a scrape costs the same whatever the
//! traffic): conversations, messages, replies, handoffs by trigger, resolutions, WhatsApp
//! messages by kind, model tokens and cost, satisfaction ratings, and the answer and human-wait
//! times as histograms (buckets, `_sum` and `_count`). Then this process's model providers:
//! breaker state and key pool load (the seeds' lead-capture blueprint §4.4). The same per-tenant
//! counters go out as OpenTelemetry metrics when an OTLP endpoint is configured.

use std::fmt::Write as _;

use actix_web::{HttpResponse, web};
use atiende_domain::stats::{self, BUCKETS_MS, Tally};
use atiende_platform::ApiError;

use crate::{Admin, access::Operator};

type Data = web::Data<Admin>;

pub(crate) fn configure(data: Data, cfg: &mut web::ServiceConfig) {
    let guard = data.clone();
    cfg.service(
        web::resource("/metrics")
            .app_data(data)
            .wrap(actix_web::middleware::from_fn(move |request, next| {
                crate::access::authenticate(guard.clone(), request, next)
            }))
            .route(web::get().to(metrics)),
    );
}

/// Plain counters: (metric, help, stored counter).
const COUNTERS: [(&str, &str, &str); 7] = [
    (
        "atiende_conversations_total",
        "Conversations begun.",
        stats::CONVERSATIONS,
    ),
    (
        "atiende_recontacts_total",
        "Conversations begun within a week of the customer's previous message.",
        stats::RECONTACTS,
    ),
    (
        "atiende_messages_received_total",
        "Customer messages received.",
        stats::MESSAGES_IN,
    ),
    (
        "atiende_bot_replies_total",
        "Messages the bot sent.",
        stats::BOT_REPLIES,
    ),
    (
        "atiende_agent_replies_total",
        "Messages people sent from a desk.",
        stats::AGENT_REPLIES,
    ),
    (
        "atiende_resolved_by_person_total",
        "Conversations a person resolved.",
        stats::RESOLVED_BY_PERSON,
    ),
    (
        "atiende_model_cost_usd_total",
        "Model spending, in US dollars.",
        stats::MODEL_COST_USD,
    ),
];

/// A counter family with one label: (metric, help, label, [(label value, count)]).
type Family = (&'static str, &'static str, &'static str, Vec<(String, f64)>);

/// Counters with one label, read from the stored counters.
fn labelled(tally: &Tally) -> Vec<Family> {
    let by_prefix = |prefix: &str| {
        tally
            .0
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(prefix)?;
                (!rest.contains("_le_")).then(|| (rest.to_owned(), *v))
            })
            .collect::<Vec<_>>()
    };
    vec![
        (
            "atiende_handoffs_total",
            "Conversations handed to a person, by trigger.",
            "trigger",
            by_prefix("handoffs_"),
        ),
        (
            "atiende_whatsapp_messages_total",
            "WhatsApp messages sent, free-form (inside the 24-hour window) or as templates.",
            "kind",
            vec![
                ("freeform".to_owned(), tally.get(stats::WHATSAPP_FREEFORM)),
                ("template".to_owned(), tally.get(stats::WHATSAPP_TEMPLATE)),
            ],
        ),
        (
            "atiende_model_tokens_total",
            "Model tokens, read (prompt) and written (completion).",
            "kind",
            vec![
                ("prompt".to_owned(), tally.get(stats::PROMPT_TOKENS)),
                ("completion".to_owned(), tally.get(stats::COMPLETION_TOKENS)),
            ],
        ),
        (
            "atiende_csat_ratings_total",
            "Satisfaction ratings received, by score (1-5).",
            "score",
            (1..=5)
                .map(|s| (s.to_string(), tally.get(&format!("csat_{s}"))))
                .collect(),
        ),
    ]
}

/// Histograms from bucketed counters: (metric, help, stored histogram).
const HISTOGRAMS: [(&str, &str, &str); 2] = [
    (
        "atiende_answer_seconds",
        "Time from a customer's message to the answer sent.",
        stats::ANSWER_MS,
    ),
    (
        "atiende_human_wait_seconds",
        "Time a handed-off customer waited for a person.",
        stats::HUMAN_WAIT_MS,
    ),
];

/// The Prometheus text of `tenants`' totals.
pub(crate) fn render_tenants(tenants: &[(String, Tally)]) -> String {
    let mut out = String::new();
    for (metric, help, counter) in COUNTERS {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
        for (tenant, tally) in tenants {
            let _ = writeln!(
                out,
                "{metric}{{tenant=\"{tenant}\"}} {}",
                tally.get(counter)
            );
        }
    }
    let families: Vec<_> = tenants
        .iter()
        .map(|(t, tally)| (t, labelled(tally)))
        .collect();
    let count = families.first().map_or(0, |(_, f)| f.len());
    for i in 0..count {
        let Some((_, first)) = families.first() else {
            break;
        };
        let (metric, help, label, _) = &first[i];
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
        for (tenant, family) in &families {
            for (value, n) in &family[i].3 {
                let _ = writeln!(
                    out,
                    "{metric}{{tenant=\"{tenant}\",{label}=\"{value}\"}} {n}"
                );
            }
        }
    }
    for (metric, help, histogram) in HISTOGRAMS {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} histogram");
        for (tenant, tally) in tenants {
            let mut cumulative = 0.0;
            for bound in BUCKETS_MS {
                cumulative += tally.get(&format!("{histogram}_le_{bound}"));
                let le = f64::from(u32::try_from(bound).unwrap_or(u32::MAX)) / 1000.0;
                let _ = writeln!(
                    out,
                    "{metric}_bucket{{tenant=\"{tenant}\",le=\"{le}\"}} {cumulative}"
                );
            }
            cumulative += tally.get(&format!("{histogram}_le_inf"));
            let _ = writeln!(
                out,
                "{metric}_bucket{{tenant=\"{tenant}\",le=\"+Inf\"}} {cumulative}"
            );
            let sum = tally.get(&format!("{histogram}_sum")) / 1000.0;
            let _ = writeln!(out, "{metric}_sum{{tenant=\"{tenant}\"}} {sum}");
            let _ = writeln!(out, "{metric}_count{{tenant=\"{tenant}\"}} {cumulative}");
        }
    }
    out
}

async fn metrics(_: Operator, admin: Data) -> Result<HttpResponse, ApiError> {
    let mut tenants = Vec::new();
    for tenant in admin.tenants.list().await? {
        tenants.push((tenant.id.to_string(), admin.stats.totals(&tenant.id).await?));
    }
    let mut out = render_tenants(&tenants);
    let providers = admin.chain.as_ref().map(|c| c.status()).unwrap_or_default();
    let gauges = [
        (
            "atiende_llm_breaker_open",
            "1 while the provider's circuit breaker is open (half-open counts as open).",
        ),
        (
            "atiende_llm_pool_active_conversations",
            "Conversations pinned to the provider's keys.",
        ),
        (
            "atiende_llm_pool_capacity_percent",
            "The key pool's load, in percent of its capacity.",
        ),
        (
            "atiende_llm_pool_alert",
            "1 at or above the pool's alert threshold (80 %).",
        ),
    ];
    for (metric, help) in gauges {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} gauge");
        for p in &providers {
            let value = match metric {
                "atiende_llm_breaker_open" => u32::from(p.breaker != "closed"),
                "atiende_llm_pool_active_conversations" => p.keys.total_active,
                "atiende_llm_pool_capacity_percent" => p.keys.pool_capacity_pct,
                _ => u32::from(p.keys.alert),
            };
            let _ = writeln!(out, "{metric}{{provider=\"{}\"}} {value}", p.provider);
        }
    }
    if let Some(bytes) = atiende_bootstrap::heap_live_bytes() {
        let metric = "atiende_process_heap_bytes";
        let _ = writeln!(
            out,
            "# HELP {metric} Heap bytes this process holds (built with heap-stats).\n# TYPE {metric} gauge\n{metric} {bytes}"
        );
    }
    let metric = "atiende_llm_key_active_conversations";
    let _ = writeln!(
        out,
        "# HELP {metric} Conversations pinned to one key.\n# TYPE {metric} gauge"
    );
    for p in &providers {
        for key in &p.keys.pool_status {
            let _ = writeln!(
                out,
                "{metric}{{provider=\"{}\",key=\"{}\"}} {}",
                p.provider, key.key_id, key.active_conversations
            );
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_cumulative_histograms_per_tenant() {
        let tally = Tally(
            [
                ("conversations", 3.0),
                ("handoffs", 1.0),
                ("handoffs_negative_sentiment", 1.0),
                ("answer_ms_le_500", 2.0),
                ("answer_ms_le_2000", 1.0),
                ("answer_ms_sum", 2_300.0),
                ("csat_5", 1.0),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        );
        let text = render_tenants(&[("demo".to_owned(), tally)]);
        for line in [
            "# TYPE atiende_conversations_total counter",
            "atiende_conversations_total{tenant=\"demo\"} 3",
            "atiende_handoffs_total{tenant=\"demo\",trigger=\"negative_sentiment\"} 1",
            "atiende_csat_ratings_total{tenant=\"demo\",score=\"5\"} 1",
            "atiende_answer_seconds_bucket{tenant=\"demo\",le=\"0.5\"} 2",
            "atiende_answer_seconds_bucket{tenant=\"demo\",le=\"1\"} 2",
            "atiende_answer_seconds_bucket{tenant=\"demo\",le=\"2\"} 3",
            "atiende_answer_seconds_bucket{tenant=\"demo\",le=\"+Inf\"} 3",
            "atiende_answer_seconds_sum{tenant=\"demo\"} 2.3",
            "atiende_answer_seconds_count{tenant=\"demo\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        // The all-handoffs counter is not a trigger.
        assert!(!text.contains("trigger=\"\""), "{text}");
    }
}
