//! The dashboard's reports: a tenant's daily figures over a period, and their CSV export.
//!
//! Figures come from the daily counters every service adds to as things happen
//! ([`atiende_domain::stats`]), so a report reads at most [`MAX_DAYS`] small records whatever
//! the number of conversations behind them.

use std::sync::Arc;

use atiende_domain::{
    TenantId, ValidationError,
    stats::{Figures, Tally},
};
use atiende_ports::StatsLedger;
use chrono::NaiveDate;
use serde::Serialize;

use crate::AppError;

/// The longest period a report covers.
pub const MAX_DAYS: i64 = 366;

/// One day of a report.
#[derive(Debug, Clone, Serialize)]
pub struct DayReport {
    /// The day (UTC).
    pub day: NaiveDate,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// A period's report: every day (days without activity included, as zeros) and the total.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Each day, in order.
    pub days: Vec<DayReport>,
    /// The whole period (rates and percentiles of the period, not averages of days).
    pub total: Figures,
}

/// The reports' use case.
pub struct Reports {
    stats: Arc<dyn StatsLedger>,
    template_price_usd: f64,
}

impl Reports {
    /// Builds the use case; `template_price_usd` prices WhatsApp templates in the estimate.
    pub fn new(stats: Arc<dyn StatsLedger>, template_price_usd: f64) -> Self {
        Self {
            stats,
            template_price_usd,
        }
    }

    /// The report of `tenant` from `from` to `to`, inclusive.
    pub async fn report(
        &self,
        tenant: &TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Report, AppError> {
        let days = (to - from).num_days() + 1;
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(ValidationError::new(
                "from",
                format!("the period must be 1 to {MAX_DAYS} days, from before to"),
            )
            .into());
        }
        let stored = self.stats.stats(tenant, from, to).await?;
        let mut total = Tally::default();
        let mut stored = stored.into_iter().peekable();
        let mut out = Vec::new();
        for day in from.iter_days().take(usize::try_from(days).unwrap_or(0)) {
            let tally = match stored.peek() {
                Some((d, _)) if *d == day => stored.next().map(|(_, t)| t).unwrap_or_default(),
                _ => Tally::default(),
            };
            total.add(&tally);
            out.push(DayReport {
                day,
                figures: tally.figures(self.template_price_usd),
            });
        }
        Ok(Report {
            from,
            to,
            days: out,
            total: total.figures(self.template_price_usd),
        })
    }
}

/// The report as CSV: a row per day, then the period's total. Handoffs by trigger are one
/// column each, for the triggers that occurred.
pub fn to_csv(report: &Report) -> Result<String, AppError> {
    let mut triggers: Vec<&String> = report.total.handoffs_by_trigger.keys().collect();
    triggers.sort();
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "day",
        "conversations",
        "messages_in",
        "bot_replies",
        "agent_replies",
        "handoffs",
        "automated_resolution_rate",
        "first_contact_resolution",
        "escalation_rate",
        "resolved_by_person",
        "answer_p50_ms",
        "answer_p95_ms",
        "human_wait_p50_ms",
        "human_wait_p95_ms",
        "prompt_tokens",
        "completion_tokens",
        "model_cost_usd",
        "whatsapp_freeform",
        "whatsapp_template",
        "whatsapp_cost_usd",
        "cost_per_conversation_usd",
        "csat_responses",
        "csat_average",
        "csat_satisfied_rate",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    header.extend(triggers.iter().map(|t| format!("handoffs_{t}")));
    let csv_error =
        |e: csv::Error| AppError::Internal(atiende_ports::PortError::permanent(e.to_string()));
    writer.write_record(&header).map_err(csv_error)?;
    let rows = report
        .days
        .iter()
        .map(|d| (d.day.to_string(), &d.figures))
        .chain(std::iter::once(("total".to_owned(), &report.total)));
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
    let opt_ms = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    for (day, f) in rows {
        let mut record = vec![
            day,
            f.conversations.to_string(),
            f.messages_in.to_string(),
            f.bot_replies.to_string(),
            f.agent_replies.to_string(),
            f.handoffs.to_string(),
            opt(f.automated_resolution_rate),
            opt(f.first_contact_resolution),
            opt(f.escalation_rate),
            f.resolved_by_person.to_string(),
            opt_ms(f.answer_p50_ms),
            opt_ms(f.answer_p95_ms),
            opt_ms(f.human_wait_p50_ms),
            opt_ms(f.human_wait_p95_ms),
            f.prompt_tokens.to_string(),
            f.completion_tokens.to_string(),
            format!("{:.6}", f.model_cost_usd),
            f.whatsapp_freeform.to_string(),
            f.whatsapp_template.to_string(),
            format!("{:.4}", f.whatsapp_cost_usd),
            opt(f.cost_per_conversation_usd),
            f.csat_responses.to_string(),
            opt(f.csat_average),
            opt(f.csat_satisfied_rate),
        ];
        record.extend(triggers.iter().map(|t| {
            f.handoffs_by_trigger
                .get(*t)
                .copied()
                .unwrap_or(0.0)
                .to_string()
        }));
        writer.write_record(&record).map_err(csv_error)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| AppError::Internal(atiende_ports::PortError::permanent(e.to_string())))?;
    String::from_utf8(bytes)
        .map_err(|e| AppError::Internal(atiende_ports::PortError::permanent(e.to_string())))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use atiende_ports::PortError;

    use super::*;

    /// Days as stored; `stats` answers the ones in the period.
    struct Days(Mutex<Vec<(NaiveDate, Tally)>>);

    #[async_trait]
    impl StatsLedger for Days {
        async fn add_stats(
            &self,
            _: &TenantId,
            _: NaiveDate,
            _: &[(String, f64)],
        ) -> Result<(), PortError> {
            Ok(())
        }

        async fn totals(&self, _: &TenantId) -> Result<Tally, PortError> {
            Ok(Tally::default())
        }

        async fn stats(
            &self,
            _: &TenantId,
            from: NaiveDate,
            to: NaiveDate,
        ) -> Result<Vec<(NaiveDate, Tally)>, PortError> {
            let days = self
                .0
                .lock()
                .map_err(|e| PortError::permanent(e.to_string()))?;
            Ok(days
                .iter()
                .filter(|(d, _)| (from..=to).contains(d))
                .cloned()
                .collect())
        }
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap_or_default()
    }

    fn tally(pairs: &[(&str, f64)]) -> Tally {
        Tally(pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect())
    }

    #[tokio::test]
    async fn every_day_is_reported_and_the_total_is_of_the_period() {
        let ledger = Days(Mutex::new(vec![
            (day(2), tally(&[("conversations", 4.0), ("handoffs", 1.0)])),
            (day(4), tally(&[("conversations", 6.0), ("handoffs", 1.0)])),
        ]));
        let reports = Reports::new(Arc::new(ledger), 0.01);
        let tenant = TenantId::parse("demo").unwrap_or_else(|_| unreachable!());
        let report = reports.report(&tenant, day(1), day(5)).await;
        let report = report.unwrap_or_else(|e| panic!("{e}"));
        let conversations: Vec<f64> = report
            .days
            .iter()
            .map(|d| d.figures.conversations)
            .collect();
        assert_eq!(conversations, [0.0, 4.0, 0.0, 6.0, 0.0]);
        // The period's rate is of its totals (2 of 10), not the mean of the days' rates.
        assert_eq!(report.total.escalation_rate, Some(0.2));
        let csv = to_csv(&report).unwrap_or_default();
        assert_eq!(csv.lines().count(), 7);
        assert!(
            csv.lines()
                .nth(2)
                .unwrap_or_default()
                .starts_with("2026-12-02,4,")
        );
        // Backwards or over a year is refused.
        assert!(reports.report(&tenant, day(5), day(1)).await.is_err());
        let long = day(1) + chrono::Duration::days(MAX_DAYS);
        assert!(reports.report(&tenant, day(1), long).await.is_err());
    }
}
