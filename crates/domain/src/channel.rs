//! The channels a conversation can run on.

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// Where a conversation happens and therefore how replies travel back.
///
/// Twilio and Meta are both WhatsApp, but a reply must leave through the provider the customer
/// wrote to, so they are distinct channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// WhatsApp through Twilio's Programmable Messaging.
    #[serde(rename = "twilio")]
    TwilioWhatsApp,
    /// WhatsApp through Meta's Cloud API.
    #[serde(rename = "meta")]
    MetaWhatsApp,
    /// atiende's own web chat page.
    #[serde(rename = "webchat")]
    WebChat,
}

impl Channel {
    /// The short name used in ids, URLs and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TwilioWhatsApp => "twilio",
            Self::MetaWhatsApp => "meta",
            Self::WebChat => "webchat",
        }
    }

    /// Parses the short name.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        match value {
            "twilio" => Ok(Self::TwilioWhatsApp),
            "meta" => Ok(Self::MetaWhatsApp),
            "webchat" => Ok(Self::WebChat),
            _ => Err(ValidationError::new(
                "channel",
                "expected twilio, meta or webchat",
            )),
        }
    }

    /// Whether WhatsApp's 24-hour customer-service window governs free-form replies here.
    pub fn has_service_window(self) -> bool {
        match self {
            Self::TwilioWhatsApp | Self::MetaWhatsApp => true,
            Self::WebChat => false,
        }
    }

    /// The longest body the provider accepts for one free-form message, in characters.
    pub fn max_body_chars(self) -> usize {
        match self {
            // Twilio: Body ≤ 1600 characters (protocols.md §1.5).
            Self::TwilioWhatsApp => 1600,
            // Meta: text.body ≤ 4096 characters (protocols.md §2.4).
            Self::MetaWhatsApp => 4096,
            Self::WebChat => 4096,
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
