//! Validated identifiers.
//!
//! Each identifier is a newtype with a private field and a single parsing constructor, so a value
//! of the type is known to be well-formed wherever it travels (the "parse, don't validate" rule).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Channel, ValidationError};

/// A tenant's identifier: the slug used in webhook URLs (`/webhooks/twilio/{tenant_id}`).
///
/// 1–63 characters of lowercase ASCII letters, digits, `-` and `_`, starting with a letter or
/// digit, so it is safe in URLs, file names, Firestore document ids and log lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Parses a tenant id.
    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        let ok_len = (1..=63).contains(&value.len());
        let mut chars = value.chars();
        let ok_first = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let ok_rest =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok_len && ok_first && ok_rest {
            Ok(Self(value))
        } else {
            Err(ValidationError::new(
                "tenant id",
                "use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit",
            ))
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// One conversation: a tenant, a channel and a contact.
///
/// Rendered as `{tenant}:{channel}:{contact key}`. It is also the bus ordering key, so every
/// message of one customer is processed in order while different customers run in parallel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConversationId(String);

impl ConversationId {
    /// Builds the id of the conversation between `tenant` and the contact with `contact_key`
    /// (see [`crate::ContactIdentity::key`]) on `channel`.
    pub fn new(tenant: &TenantId, channel: Channel, contact_key: &str) -> Self {
        Self(format!("{tenant}:{}:{contact_key}", channel.as_str()))
    }

    /// Parses a conversation id received from outside (an admin URL, a stored record).
    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        let mut parts = value.splitn(3, ':');
        let (Some(tenant), Some(channel), Some(contact)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(ValidationError::new(
                "conversation id",
                "expected {tenant}:{channel}:{contact}",
            ));
        };
        TenantId::parse(tenant)?;
        Channel::parse(channel)?;
        if contact.is_empty() || contact.len() > 200 || contact.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "conversation id",
                "the contact part is empty, too long or has control characters",
            ));
        }
        Ok(Self(value))
    }

    /// The tenant this conversation belongs to.
    pub fn tenant(&self) -> TenantId {
        // The constructor guarantees the first part is a valid tenant id.
        TenantId(self.0.split(':').next().unwrap_or_default().to_owned())
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form safe for logs: tenant and channel kept, the contact masked.
    pub fn masked(&self) -> String {
        let mut parts = self.0.splitn(3, ':');
        let (tenant, channel, contact) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        format!(
            "{tenant}:{channel}:{}",
            crate::mask::Masked::new(contact, 4, 2)
        )
    }
}

impl TryFrom<String> for ConversationId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<ConversationId> for String {
    fn from(value: ConversationId) -> Self {
        value.0
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id a provider gave a message: Twilio's `MessageSid`, Meta's `wamid.…`, or the web chat's
/// own id. It is the idempotency key for inbound messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderMessageId(String);

impl ProviderMessageId {
    /// Parses a provider message id: 1–256 printable characters.
    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "message id",
                "must be 1-256 printable characters",
            ));
        }
        Ok(Self(value))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProviderMessageId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<ProviderMessageId> for String {
    fn from(value: ProviderMessageId) -> Self {
        value.0
    }
}

impl fmt::Display for ProviderMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of one outbound action.
///
/// Derived deterministically from what caused it (the inbound message and the position of the
/// action among those it caused), so a redelivered inbound event produces the *same* action ids
/// and the dispatcher sends each at most once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ActionId(String);

impl ActionId {
    /// The id of the `index`-th action caused by the inbound message `cause` in `conversation`.
    pub fn caused_by(conversation: &ConversationId, cause: &ProviderMessageId, index: u32) -> Self {
        Self(format!("{conversation}/{cause}/{index}"))
    }

    /// Parses a stored action id.
    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        if value.is_empty() || value.len() > 600 || value.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "action id",
                "must be 1-600 printable characters",
            ));
        }
        Ok(Self(value))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ActionId {
    /// The form safe for logs: the conversation part masked.
    pub fn masked(&self) -> String {
        match self.0.split_once('/') {
            Some((conversation, rest)) => match ConversationId::parse(conversation) {
                Ok(c) => format!("{}/{rest}", c.masked()),
                Err(_) => crate::mask::Masked::new(&self.0, 4, 8).to_string(),
            },
            None => crate::mask::Masked::new(&self.0, 4, 8).to_string(),
        }
    }
}

impl TryFrom<String> for ActionId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<ActionId> for String {
    fn from(value: ActionId) -> Self {
        value.0
    }
}

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_accept_slugs_and_reject_everything_else() {
        for ok in ["demo", "ferreteria-el-progreso", "a", "t_1", "9lives"] {
            assert!(TenantId::parse(ok).is_ok(), "{ok} should be accepted");
        }
        let too_long = "a".repeat(64);
        for bad in [
            "",
            "Demo",
            "-demo",
            "de mo",
            "demo/x",
            "démo",
            too_long.as_str(),
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn conversation_ids_round_trip_and_name_their_tenant() {
        let tenant = TenantId::parse("demo").unwrap();
        let id = ConversationId::new(&tenant, Channel::TwilioWhatsApp, "+18095551010");
        assert_eq!(id.as_str(), "demo:twilio:+18095551010");
        assert_eq!(ConversationId::parse(id.as_str()).unwrap(), id);
        assert_eq!(id.tenant(), tenant);
        assert_eq!(id.masked(), "demo:twilio:+180******10");
        assert!(ConversationId::parse("demo:fax:+1").is_err());
        assert!(ConversationId::parse("demo:twilio").is_err());
    }

    #[test]
    fn action_ids_are_deterministic() {
        let conv = ConversationId::parse("demo:meta:+1809").unwrap();
        let cause = ProviderMessageId::parse("wamid.X").unwrap();
        assert_eq!(
            ActionId::caused_by(&conv, &cause, 0),
            ActionId::caused_by(&conv, &cause, 0)
        );
        assert_ne!(
            ActionId::caused_by(&conv, &cause, 0),
            ActionId::caused_by(&conv, &cause, 1)
        );
    }
}
