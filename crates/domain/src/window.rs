//! WhatsApp's 24-hour customer-service window.
//!
//! A window opens when the customer writes and every new customer message resets it. While it is
//! open, free-form replies are allowed; once it closes only approved templates may be sent
//! (Meta error 131047, Twilio 63016 otherwise — protocols.md §2.6).

use chrono::{DateTime, Duration, Utc};

/// How long a customer-service window stays open after the customer's last message.
pub const SERVICE_WINDOW_HOURS: i64 = 24;

/// The service window of one conversation, derived from the customer's last message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceWindow {
    last_customer_message_at: Option<DateTime<Utc>>,
}

impl ServiceWindow {
    /// The window opened by a customer message at `at` (or none, if they never wrote).
    pub fn from_last_customer_message(at: Option<DateTime<Utc>>) -> Self {
        Self {
            last_customer_message_at: at,
        }
    }

    /// When the window closes, if it was ever opened.
    pub fn closes_at(&self) -> Option<DateTime<Utc>> {
        self.last_customer_message_at
            .map(|at| at + Duration::hours(SERVICE_WINDOW_HOURS))
    }

    /// Whether free-form messages may be sent at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.closes_at().is_some_and(|closes| now < closes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_760_000_000, 0).unwrap() + Duration::hours(h)
    }

    #[test]
    fn the_window_is_open_for_24_hours_after_the_customer_writes() {
        let w = ServiceWindow::from_last_customer_message(Some(at(0)));
        assert!(w.is_open(at(0)));
        assert!(w.is_open(at(23)));
        assert!(w.is_open(at(24) - Duration::seconds(1)));
        assert!(!w.is_open(at(24)));
        assert!(!w.is_open(at(48)));
    }

    #[test]
    fn no_customer_message_means_no_window() {
        assert!(!ServiceWindow::from_last_customer_message(None).is_open(at(0)));
    }
}
