//! A Twilio webhook: parsed, verified, then normalized.
//!
//! [`SignedForm<Unverified>`] is what arrives; only [`SignedForm::verify`] produces a
//! [`SignedForm<Verified>`], and only a verified form can become a [`TwilioEvent`]. Forgetting the
//! signature check is therefore a compile error, not a security bug.

use std::marker::PhantomData;

use atiende_domain::{
    Channel, Contact, ContactIdentity, ConversationId, DeliveryState, InboundMessage, MediaKind,
    MediaRef, MessageContent, PhoneNumber, ProviderMessageId, Referral, StatusUpdate, TenantId,
    UserId,
};
use chrono::{DateTime, Utc};

use crate::signature::{self, SignatureError};

/// A form whose signature has not been checked.
#[derive(Debug)]
pub struct Unverified;
/// A form whose signature matched the tenant's auth token.
#[derive(Debug)]
pub struct Verified;

/// The parameters of a Twilio webhook.
#[derive(Debug)]
pub struct SignedForm<S> {
    params: Vec<(String, String)>,
    _state: PhantomData<S>,
}

/// Why a webhook could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// A required field is missing or invalid.
    #[error("malformed webhook: {0}")]
    Malformed(String),
}

/// The most fields a Twilio webhook carries with room to spare: a message with ten media items
/// and every optional parameter has well under a hundred.
pub const MAX_FIELDS: usize = 256;

/// Whether `body` has more fields than any Twilio webhook: counted on the raw bytes, before any
/// decoding, allocation or signature work, so an absurd form costs one pass over its bytes.
pub fn too_many_fields(body: &[u8]) -> bool {
    body.iter().filter(|b| **b == b'&').count() >= MAX_FIELDS
}

impl SignedForm<Unverified> {
    /// Decodes an `application/x-www-form-urlencoded` body, keeping repeated names.
    pub fn parse(body: &[u8]) -> Self {
        Self {
            params: form_urlencoded::parse(body).into_owned().collect(),
            _state: PhantomData,
        }
    }

    /// Checks `X-Twilio-Signature` for the public `url` Twilio called.
    pub fn verify(
        self,
        auth_token: &str,
        url: &str,
        header: Option<&str>,
    ) -> Result<SignedForm<Verified>, SignatureError> {
        signature::verify(auth_token, url, &self.params, header)?;
        Ok(SignedForm {
            params: self.params,
            _state: PhantomData,
        })
    }
}

impl<S> SignedForm<S> {
    /// Every parameter, in the order it came, repeated names included.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The account the webhook claims to come from.
    pub fn account_sid(&self) -> Option<&str> {
        self.get("AccountSid")
    }
}

/// What a verified Twilio webhook carries.
#[derive(Debug, Clone, PartialEq)]
pub enum TwilioEvent {
    /// A customer's message.
    Message(Box<InboundMessage>),
    /// A delivery receipt for a message we sent.
    Status(StatusUpdate),
    /// A callback atiende has no use for (an intermediate status such as `receiving`); it is
    /// acknowledged so Twilio does not report an error.
    Ignored(String),
}

fn required<'a>(form: &'a SignedForm<Verified>, name: &str) -> Result<&'a str, WebhookError> {
    form.get(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| WebhookError::Malformed(format!("{name} is missing")))
}

impl SignedForm<Verified> {
    /// Normalizes the webhook for `tenant`. Status callbacks carry `MessageStatus`; everything
    /// else is an inbound message.
    pub fn into_event(
        self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<TwilioEvent, WebhookError> {
        let sid = required(&self, "MessageSid")
            .or_else(|_| required(&self, "SmsSid"))?
            .to_owned();
        let id =
            ProviderMessageId::parse(sid).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        if let Some(status) = self.get("MessageStatus") {
            let Some(state) = DeliveryState::parse(status) else {
                return Ok(TwilioEvent::Ignored(format!("MessageStatus {status}")));
            };
            return Ok(TwilioEvent::Status(StatusUpdate {
                tenant: tenant.clone(),
                channel: Channel::TwilioWhatsApp,
                provider_message_id: id,
                state,
                error_code: self
                    .get("ErrorCode")
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
                at: now,
            }));
        }

        // The same rule as Meta's: the phone number keys the conversation whenever Twilio gives
        // one (in `From` or `WaId`); the business-scoped user id (`From` or `ExternalUserId`)
        // only when it does not, so one person is one conversation.
        let from = required(&self, "From")?;
        let phone = PhoneNumber::parse(from)
            .ok()
            .or_else(|| self.get("WaId").and_then(|w| PhoneNumber::parse(w).ok()));
        let user_id = UserId::parse_bsuid(from).ok().or_else(|| {
            self.get("ExternalUserId")
                .and_then(|u| UserId::parse_bsuid(u).ok())
        });
        let identity = match (&phone, &user_id) {
            (Some(phone), _) => ContactIdentity::Phone(phone.clone()),
            (None, Some(user)) => ContactIdentity::User(user.clone()),
            (None, None) => {
                return Err(WebhookError::Malformed(
                    "From is neither a phone number nor a WhatsApp user id".to_owned(),
                ));
            }
        };
        let contact = Contact {
            identity,
            phone,
            profile_name: None,
            user_id,
        }
        .with_profile_name(self.get("ProfileName"));
        let content = self.content()?;
        Ok(TwilioEvent::Message(Box::new(InboundMessage {
            conversation: ConversationId::new(
                tenant,
                Channel::TwilioWhatsApp,
                &contact.identity.key(),
            ),
            tenant: tenant.clone(),
            channel: Channel::TwilioWhatsApp,
            provider_message_id: id,
            contact,
            business_address: self.get("To").map(str::to_owned),
            content,
            sent_at: None,
            received_at: now,
            in_reply_to: self
                .get("OriginalRepliedMessageSid")
                .and_then(|s| ProviderMessageId::parse(s).ok()),
            referral: Referral::from_fields(
                self.get("ReferralSourceType"),
                self.get("ReferralSourceId"),
                self.get("ReferralSourceUrl"),
                self.get("ReferralHeadline"),
                self.get("ReferralBody"),
                self.get("ReferralCtwaClid"),
            ),
        })))
    }

    fn content(&self) -> Result<MessageContent, WebhookError> {
        // Chatwoot strips NUL bytes from bodies too (protocols.md §1.1).
        let body = self
            .get("Body")
            .map(|b| b.replace('\u{0}', ""))
            .filter(|b| !b.trim().is_empty());
        let num_media: usize = self
            .get("NumMedia")
            .unwrap_or("0")
            .parse()
            .map_err(|_| WebhookError::Malformed("NumMedia is not a number".into()))?;
        if num_media > 0 {
            let mut items = Vec::with_capacity(num_media.min(10));
            for i in 0..num_media.min(10) {
                let Some(url) = self.get(&format!("MediaUrl{i}")) else {
                    continue;
                };
                let content_type = self.get(&format!("MediaContentType{i}")).map(str::to_owned);
                items.push(MediaRef {
                    kind: content_type
                        .as_deref()
                        .map_or(MediaKind::Other, MediaKind::from_content_type),
                    reference: url.to_owned(),
                    content_type,
                    filename: None,
                    stored: None,
                });
            }
            if items.is_empty() {
                return Err(WebhookError::Malformed("NumMedia without MediaUrl".into()));
            }
            return Ok(MessageContent::Media {
                items,
                caption: body,
            });
        }
        if self.get("MessageType") == Some("location")
            || (self.get("Latitude").is_some() && self.get("Longitude").is_some())
        {
            let coordinate = |name: &str| {
                self.get(name)
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| WebhookError::Malformed(format!("{name} is not a number")))
            };
            return Ok(MessageContent::Location {
                latitude: coordinate("Latitude")?,
                longitude: coordinate("Longitude")?,
                name: self.get("Label").map(str::to_owned),
                address: self.get("Address").map(str::to_owned),
            });
        }
        if let Some(button) = self.get("ButtonText").filter(|b| !b.is_empty()) {
            return Ok(MessageContent::Text {
                body: button.to_owned(),
            });
        }
        Ok(match body {
            Some(body) => MessageContent::Text { body },
            None => MessageContent::Unsupported {
                kind: self.get("MessageType").unwrap_or("empty").to_owned(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://atiende.example.com/webhooks/twilio/demo";

    fn signed(pairs: &[(&str, &str)]) -> (Vec<u8>, String) {
        let params: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        (body.into_bytes(), signature::compute(TOKEN, URL, &params))
    }

    fn event(pairs: &[(&str, &str)]) -> TwilioEvent {
        let (body, sig) = signed(pairs);
        SignedForm::parse(&body)
            .verify(TOKEN, URL, Some(&sig))
            .unwrap()
            .into_event(&TenantId::parse("demo").unwrap(), Utc::now())
            .unwrap()
    }

    #[test]
    fn a_text_message_is_normalized() {
        let TwilioEvent::Message(m) = event(&[
            ("MessageSid", "SM1"),
            ("From", "whatsapp:+18095551010"),
            ("To", "whatsapp:+14155238886"),
            ("Body", "¿Tienen cemento?"),
            ("ProfileName", "Juan"),
            ("WaId", "18095551010"),
            ("NumMedia", "0"),
        ]) else {
            panic!("expected a message");
        };
        assert_eq!(m.conversation.as_str(), "demo:twilio:+18095551010");
        assert_eq!(
            m.content,
            MessageContent::Text {
                body: "¿Tienen cemento?".into()
            }
        );
        assert_eq!(m.contact.profile_name.as_deref(), Some("Juan"));
        assert_eq!(m.business_address.as_deref(), Some("whatsapp:+14155238886"));
    }

    #[test]
    fn a_username_only_sender_has_no_phone() {
        let TwilioEvent::Message(m) = event(&[
            ("MessageSid", "SM2"),
            ("From", "whatsapp:US.13491208655302741918"),
            ("Body", "hola"),
        ]) else {
            panic!("expected a message");
        };
        assert!(matches!(m.contact.identity, ContactIdentity::User(_)));
        assert_eq!(m.contact.phone, None);
        assert_eq!(
            m.conversation.as_str(),
            "demo:twilio:u.US.13491208655302741918"
        );
    }

    #[test]
    fn media_is_kept_with_its_caption() {
        let TwilioEvent::Message(m) = event(&[
            ("MessageSid", "MM1"),
            ("From", "whatsapp:+18095551010"),
            ("NumMedia", "1"),
            (
                "MediaUrl0",
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
            ),
            ("MediaContentType0", "audio/ogg"),
            ("Body", ""),
        ]) else {
            panic!("expected a message");
        };
        let MessageContent::Media { items, caption } = &m.content else {
            panic!("expected media");
        };
        assert_eq!(items[0].kind, MediaKind::Audio);
        assert_eq!(*caption, None);
    }

    #[test]
    fn locations_are_read() {
        let TwilioEvent::Message(m) = event(&[
            ("MessageSid", "SM3"),
            ("From", "whatsapp:+18095551010"),
            ("MessageType", "location"),
            ("Latitude", "18.4273"),
            ("Longitude", "-68.9728"),
        ]) else {
            panic!("expected a message");
        };
        assert!(
            matches!(m.content, MessageContent::Location { latitude, .. } if (latitude - 18.4273).abs() < 1e-9)
        );
    }

    #[test]
    fn status_callbacks_become_receipts() {
        let TwilioEvent::Status(s) = event(&[
            ("MessageSid", "SM9"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "63016"),
        ]) else {
            panic!("expected a status");
        };
        assert_eq!(s.state, DeliveryState::Failed);
        assert_eq!(s.error_code.as_deref(), Some("63016"));
    }

    #[test]
    fn malformed_forms_are_rejected_after_verification() {
        let (body, sig) = signed(&[("From", "whatsapp:+18095551010"), ("Body", "x")]);
        let verified = SignedForm::parse(&body)
            .verify(TOKEN, URL, Some(&sig))
            .unwrap();
        assert!(
            verified
                .into_event(&TenantId::parse("demo").unwrap(), Utc::now())
                .is_err()
        );
        let (body, sig) = signed(&[("MessageSid", "SM1"), ("From", "fax:!!")]);
        let verified = SignedForm::parse(&body)
            .verify(TOKEN, URL, Some(&sig))
            .unwrap();
        assert!(
            verified
                .into_event(&TenantId::parse("demo").unwrap(), Utc::now())
                .is_err()
        );
    }
}
