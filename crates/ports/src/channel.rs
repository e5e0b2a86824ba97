//! Sending messages through a provider (Twilio, Meta, the web chat).

use std::time::Duration;

use async_trait::async_trait;
use atiende_domain::{
    Author, Channel, Choice, Contact, DeliveryState, MediaKind, ProviderMessageId, TemplateRef,
    Tenant,
};

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendContent {
    /// Free-form text (allowed inside the service window).
    Text(String),
    /// An approved template with its variables filled in.
    Template {
        /// The template.
        template: TemplateRef,
        /// Its variables, in order.
        variables: Vec<String>,
    },
    /// A question with a list of answers to pick (inside the service window): an interactive list
    /// on Meta; the text alone on channels without lists.
    Choose {
        /// The question (it says how to answer by typing, too).
        text: String,
        /// The label of the button that opens the list.
        button: String,
        /// The options.
        options: Vec<Choice>,
    },
    /// A file (inside the service window), fetched by the provider from atiende's public media
    /// URL.
    Media {
        /// What kind of file it is (decides Meta's message type).
        kind: MediaKind,
        /// Where the provider fetches it.
        url: String,
        /// Its file name, for documents.
        filename: Option<String>,
        /// Text to go with it (may be empty).
        caption: String,
    },
}

/// One send.
#[derive(Debug, Clone)]
pub struct SendRequest<'a> {
    /// The tenant whose credentials and sender are used.
    pub tenant: &'a Tenant,
    /// The recipient.
    pub to: &'a Contact,
    /// What to send.
    pub content: SendContent,
    /// The customer message being answered, for threading.
    pub in_reply_to: Option<&'a ProviderMessageId>,
    /// Web chat sessions address visitors by conversation; providers ignore it.
    pub conversation_key: &'a str,
    /// Who is speaking: the bot, or a person at the desk. WhatsApp shows both as the business;
    /// the web chat labels them.
    pub author: Author,
}

/// The provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    /// The provider's id for it (Twilio `SM…`, Meta `wamid.…`).
    pub provider_message_id: String,
    /// The state the provider reported at once, if any.
    pub state: Option<DeliveryState>,
}

/// Why a send failed, classified for the retry decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The 24-hour window is closed: only a template may be sent (Meta 131047, Twilio 63016).
    #[error("the customer-service window is closed (provider code {code})")]
    WindowClosed {
        /// The provider's error code.
        code: String,
    },
    /// May succeed later: rate limits, provider outages, timeouts.
    #[error("temporary provider failure ({code:?}): {message}")]
    Transient {
        /// The provider's error code, if any.
        code: Option<String>,
        /// What the provider said.
        message: String,
        /// How long the provider asked us to wait.
        retry_after: Option<Duration>,
    },
    /// Will not succeed: bad recipient, bad credentials, rejected content.
    #[error("provider refused the message ({code:?}): {message}")]
    Permanent {
        /// The provider's error code, if any.
        code: Option<String>,
        /// What the provider said.
        message: String,
    },
    /// The tenant has no credentials for this channel.
    #[error("the tenant has no {0} configuration")]
    NotConfigured(Channel),
}

/// Sends messages through one channel.
#[async_trait]
pub trait ChannelSender: Send + Sync {
    /// The channel this sender serves.
    fn channel(&self) -> Channel;
    /// Sends one message.
    async fn send(&self, request: SendRequest<'_>) -> Result<SendReceipt, SendError>;
}

/// Reads a `Retry-After` header: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc2822("Wed, 21 Oct 2015 07:28:00 GMT")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            None
        );
    }
}
