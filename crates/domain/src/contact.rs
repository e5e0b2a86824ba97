//! Who the customer is.
//!
//! WhatsApp is moving to usernames: a customer who adopts one may arrive with a business-scoped
//! user id (`US.1349…`) and **no phone number**. So a contact is identified by a phone number *or*
//! a user id, and nothing in atiende assumes a phone exists.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ValidationError, mask::Masked};

/// A phone number in E.164 form: `+` and 8–15 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a phone number written as `+14155550123`, `whatsapp:+14155550123`, a bare WhatsApp
    /// id (`14155550123`) or with spaces, dashes and parentheses.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let value = value.trim();
        let value = value.strip_prefix("whatsapp:").unwrap_or(value);
        let mut digits = String::with_capacity(16);
        for (i, c) in value.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => {}
                ' ' | '-' | '(' | ')' | '.' => {}
                _ => {
                    return Err(ValidationError::new(
                        "phone number",
                        "only digits, an optional leading '+', spaces and dashes are allowed",
                    ));
                }
            }
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(ValidationError::new(
                "phone number",
                "an E.164 number has 8 to 15 digits and does not start with 0",
            ));
        }
        Ok(Self(format!("+{digits}")))
    }

    /// The number in E.164 form (`+14155550123`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the `+`, as WhatsApp's `wa_id`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// The form safe for logs.
    pub fn masked(&self) -> Masked {
        Masked::new(&self.0, 4, 2)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A username-only identity: WhatsApp's business-scoped user id, or a web chat visitor's id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    /// Parses a user id: 1–128 characters without whitespace, control characters or `:`.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let value = value.trim();
        let value = value.strip_prefix("whatsapp:").unwrap_or(value);
        if value.is_empty()
            || value.len() > 128
            || value
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == ':')
        {
            return Err(ValidationError::new(
                "user id",
                "must be 1-128 characters without spaces, control characters or ':'",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// Parses WhatsApp's business-scoped user id (BSUID): a two-letter country code, a dot,
    /// optionally `ENT.`, and digits (`US.13491208655302741918`). Placeholders and other strings
    /// a payload may carry in `from` are not a WhatsApp user.
    pub fn parse_bsuid(value: &str) -> Result<Self, ValidationError> {
        let value = value.trim();
        let id = value.strip_prefix("whatsapp:").unwrap_or(value);
        let shaped = id.split_once('.').is_some_and(|(country, rest)| {
            let digits = rest.strip_prefix("ENT.").unwrap_or(rest);
            country.len() == 2
                && country.bytes().all(|b| b.is_ascii_uppercase())
                && (1..=40).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
        });
        if !shaped {
            return Err(ValidationError::new(
                "WhatsApp user id",
                "must be a country code, a dot and digits, like US.13491208655302741918",
            ));
        }
        Ok(Self(id.to_owned()))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form safe for logs.
    pub fn masked(&self) -> Masked {
        Masked::new(&self.0, 3, 2)
    }
}

impl TryFrom<String> for UserId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<UserId> for String {
    fn from(value: UserId) -> Self {
        value.0
    }
}

/// How a contact is identified: the key of their conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ContactIdentity {
    /// A phone number (WhatsApp's classic `wa_id`).
    Phone(PhoneNumber),
    /// A username-only identity.
    User(UserId),
}

impl ContactIdentity {
    /// Parses the identity WhatsApp puts in `From` (Twilio) or `from`/`user_id` (Meta): a phone
    /// number when it is one, otherwise a business-scoped user id; anything else is refused.
    pub fn parse_whatsapp(value: &str) -> Result<Self, ValidationError> {
        match PhoneNumber::parse(value) {
            Ok(phone) => Ok(Self::Phone(phone)),
            Err(_) => UserId::parse_bsuid(value).map(Self::User).map_err(|_| {
                ValidationError::new(
                    "WhatsApp sender",
                    "is neither a phone number nor a WhatsApp user id",
                )
            }),
        }
    }

    /// The stable key used in conversation ids: the E.164 number, or `u.` and the user id.
    pub fn key(&self) -> String {
        match self {
            Self::Phone(phone) => phone.as_str().to_owned(),
            Self::User(user) => format!("u.{}", user.as_str()),
        }
    }

    /// The form safe for logs.
    pub fn masked(&self) -> Masked {
        match self {
            Self::Phone(phone) => phone.masked(),
            Self::User(user) => user.masked(),
        }
    }
}

/// A customer as known from their messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The identity their conversation is keyed on.
    pub identity: ContactIdentity,
    /// Their phone number when the channel revealed one (it may not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<PhoneNumber>,
    /// The profile name they show on WhatsApp, when present; it can be blank or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
    /// Their WhatsApp user id (BSUID) when the channel gave one besides the phone number the
    /// conversation is keyed on: remembered, so a later message carrying the user id alone
    /// reaches the same conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
}

impl Contact {
    /// A contact known by phone number only.
    pub fn from_phone(phone: PhoneNumber) -> Self {
        Self {
            identity: ContactIdentity::Phone(phone.clone()),
            phone: Some(phone),
            profile_name: None,
            user_id: None,
        }
    }

    /// How a person should see them: the profile name with the identity, or the identity alone.
    pub fn display_name(&self) -> String {
        let id = match &self.identity {
            ContactIdentity::Phone(phone) => phone.as_str().to_owned(),
            ContactIdentity::User(user) => user.as_str().to_owned(),
        };
        match &self.profile_name {
            Some(name) => format!("{name} ({id})"),
            None => id,
        }
    }

    /// Sets the profile name, ignoring blank ones.
    pub fn with_profile_name(mut self, name: Option<&str>) -> Self {
        self.profile_name = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.chars().take(120).collect());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_normalize_whatsapp_forms() {
        for raw in ["whatsapp:+14155550123", "+1 (415) 555-0123", "14155550123"] {
            assert_eq!(PhoneNumber::parse(raw).unwrap().as_str(), "+14155550123");
        }
        assert_eq!(
            PhoneNumber::parse("+14155550123").unwrap().digits(),
            "14155550123"
        );
        for bad in ["", "+12", "abc", "+1415555012345678", "0123456789", "1+415"] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn whatsapp_identities_fall_back_to_user_ids() {
        let phone = ContactIdentity::parse_whatsapp("whatsapp:+14155550123").unwrap();
        assert_eq!(phone.key(), "+14155550123");
        let user = ContactIdentity::parse_whatsapp("whatsapp:US.13491208655302741918").unwrap();
        assert!(matches!(user, ContactIdentity::User(_)));
        assert_eq!(user.key(), "u.US.13491208655302741918");
        assert!(!user.masked().to_string().contains("1349120865530"));
    }

    #[test]
    fn only_phone_numbers_and_whatsapp_user_ids_are_whatsapp_senders() {
        for good in [
            "US.13491208655302741918",
            "IN.2081978709342942",
            "US.ENT.118157",
        ] {
            assert!(UserId::parse_bsuid(good).is_ok(), "{good}");
        }
        for bad in [
            "+12345",
            "PHONE_NUMBER",
            "<WHATSAPP_USER_PHONE_NUMBER>",
            "BSUID_123",
            "us.123",
            "USA.123",
            "US.",
            "US.12a",
        ] {
            assert!(ContactIdentity::parse_whatsapp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn blank_profile_names_are_dropped() {
        let phone = PhoneNumber::parse("+18095551010").unwrap();
        assert_eq!(
            Contact::from_phone(phone.clone())
                .with_profile_name(Some("  "))
                .profile_name,
            None
        );
        assert_eq!(
            Contact::from_phone(phone)
                .with_profile_name(Some(" Ada "))
                .profile_name
                .as_deref(),
            Some("Ada")
        );
    }
}
