//! A tenant's business hours: when people are at the desk.
//!
//! A handoff outside them is still a handoff — the conversation waits for a person and the
//! customer gets a ticket — but the customer is told when the team is back instead of being
//! promised an answer "as soon as they are available". Hours are kept in the tenant's own time
//! zone (an IANA name such as `America/Santo_Domingo`), so daylight-saving changes need no edit.

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::{Locale, ValidationError};

/// Opening hours by weekday, in a time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessHours {
    /// IANA time zone name.
    pub timezone: String,
    /// The opening spans; a day without one is closed.
    pub weekly: Vec<OpeningSpan>,
}

/// One opening span, repeated on each of `days`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningSpan {
    /// The days it applies to (`"mon"`, `"tue"`, … `"sun"`).
    #[serde(with = "weekdays")]
    pub days: Vec<Weekday>,
    /// Opening time, `HH:MM`.
    #[serde(with = "hhmm")]
    pub open: NaiveTime,
    /// Closing time, `HH:MM`, after `open` (spans across midnight are two spans).
    #[serde(with = "hhmm")]
    pub close: NaiveTime,
}

impl BusinessHours {
    /// Checks the zone name and the spans.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.zone()?;
        if self.weekly.is_empty() || self.weekly.len() > 21 {
            return Err(ValidationError::new(
                "business_hours.weekly",
                "expected 1-21 opening spans",
            ));
        }
        for span in &self.weekly {
            if span.days.is_empty() {
                return Err(ValidationError::new(
                    "business_hours.weekly",
                    "every span needs at least one day",
                ));
            }
            if span.open >= span.close {
                return Err(ValidationError::new(
                    "business_hours.weekly",
                    "open must be before close (split spans that cross midnight)",
                ));
            }
        }
        Ok(())
    }

    fn zone(&self) -> Result<Tz, ValidationError> {
        self.timezone.parse::<Tz>().map_err(|_| {
            ValidationError::new(
                "business_hours.timezone",
                "expected an IANA time zone such as America/Santo_Domingo",
            )
        })
    }

    /// Whether the business is open at `at`. Hours that fail validation count as always open,
    /// so a bad setting can never hide the desk.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let Ok(zone) = self.zone() else { return true };
        let local = at.with_timezone(&zone);
        let (day, time) = (local.weekday(), local.time());
        self.weekly
            .iter()
            .any(|s| s.days.contains(&day) && s.open <= time && time < s.close)
    }

    /// The hours as a customer reads them: "lun–vie 08:00–18:00; sáb 08:00–12:00".
    pub fn describe(&self, locale: Locale) -> String {
        self.weekly
            .iter()
            .map(|span| {
                format!(
                    "{} {}–{}",
                    describe_days(&span.days, locale),
                    span.open.format("%H:%M"),
                    span.close.format("%H:%M")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// "lun–vie" for a run of consecutive days, "lun, mié" otherwise.
fn describe_days(days: &[Weekday], locale: Locale) -> String {
    let mut sorted: Vec<u32> = days.iter().map(Weekday::num_days_from_monday).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let name = |n: u32| day_name(n, locale);
    let consecutive = sorted.windows(2).all(|w| w[1] == w[0] + 1);
    match (sorted.first(), sorted.last()) {
        (Some(&first), Some(&last)) if consecutive && sorted.len() >= 3 => {
            format!("{}–{}", name(first), name(last))
        }
        _ => sorted.into_iter().map(name).collect::<Vec<_>>().join(", "),
    }
}

fn day_name(n: u32, locale: Locale) -> &'static str {
    const ES: [&str; 7] = ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"];
    const EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let table = match locale {
        Locale::Es => ES,
        Locale::En => EN,
    };
    table.get(n as usize).copied().unwrap_or("?")
}

mod weekdays {
    use chrono::Weekday;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _, ser::SerializeSeq};

    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    pub(super) fn serialize<S: Serializer>(days: &[Weekday], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(days.len()))?;
        for day in days {
            let index = day.num_days_from_monday() as usize;
            seq.serialize_element(NAMES.get(index).copied().unwrap_or("mon"))?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Weekday>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|name| {
                name.parse::<Weekday>()
                    .map_err(|_| D::Error::custom(format!("unknown day {name:?}; use mon…sun")))
            })
            .collect()
    }
}

mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(time: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&time.format("%H:%M").to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        NaiveTime::parse_from_str(&text, "%H:%M")
            .map_err(|_| D::Error::custom(format!("expected HH:MM, got {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours() -> BusinessHours {
        serde_json::from_str(
            r#"{"timezone":"America/Santo_Domingo","weekly":[
                {"days":["mon","tue","wed","thu","fri"],"open":"08:00","close":"18:00"},
                {"days":["sat"],"open":"08:00","close":"12:00"}]}"#,
        )
        .unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn opening_follows_the_tenants_clock_not_utc() {
        let h = hours();
        h.validate().unwrap();
        // Santo Domingo is UTC-4 all year: 12:30 UTC on a Monday is 08:30 there.
        assert!(h.is_open(utc("2026-11-23T12:30:00Z")));
        // 11:30 UTC is 07:30 there: not yet.
        assert!(!h.is_open(utc("2026-11-23T11:30:00Z")));
        // Saturday 15:00 local (19:00 UTC): closed after noon; Sunday closed all day.
        assert!(!h.is_open(utc("2026-11-28T19:00:00Z")));
        assert!(h.is_open(utc("2026-11-28T13:00:00Z")));
        assert!(!h.is_open(utc("2026-11-29T15:00:00Z")));
        // Closing time itself is closed.
        assert!(!h.is_open(utc("2026-11-23T22:00:00Z")));
    }

    #[test]
    fn daylight_saving_moves_the_utc_hours() {
        let h = BusinessHours {
            timezone: "Europe/Madrid".to_owned(),
            weekly: hours().weekly,
        };
        // 07:30 UTC is 08:30 in Madrid in winter (UTC+1) and 09:30 in summer (UTC+2).
        assert!(h.is_open(utc("2026-01-12T07:30:00Z")));
        assert!(h.is_open(utc("2026-07-13T07:30:00Z")));
        // 06:30 UTC: 07:30 in winter (closed), 08:30 in summer (open).
        assert!(!h.is_open(utc("2026-01-12T06:30:00Z")));
        assert!(h.is_open(utc("2026-07-13T06:30:00Z")));
    }

    #[test]
    fn hours_are_described_in_the_customers_language() {
        assert_eq!(
            hours().describe(Locale::Es),
            "lun–vie 08:00–18:00; sáb 08:00–12:00"
        );
        assert_eq!(
            hours().describe(Locale::En),
            "Mon–Fri 08:00–18:00; Sat 08:00–12:00"
        );
    }

    #[test]
    fn bad_zones_days_and_spans_are_refused_with_the_field_named() {
        let mut h = hours();
        h.timezone = "Mars/Olympus".to_owned();
        assert_eq!(h.validate().unwrap_err().field, "business_hours.timezone");
        // A bad zone never hides the desk.
        assert!(h.is_open(utc("2026-11-29T15:00:00Z")));
        let mut h = hours();
        h.weekly[0].close = h.weekly[0].open;
        assert!(h.validate().is_err());
        let bad: Result<BusinessHours, _> = serde_json::from_str(
            r#"{"timezone":"UTC","weekly":[{"days":["lunes"],"open":"08:00","close":"18:00"}]}"#,
        );
        assert!(bad.unwrap_err().to_string().contains("unknown day"));
        let bad: Result<BusinessHours, _> = serde_json::from_str(
            r#"{"timezone":"UTC","weekly":[{"days":["mon"],"open":"8am","close":"18:00"}]}"#,
        );
        assert!(bad.unwrap_err().to_string().contains("HH:MM"));
    }
}
