//! Meta's webhook notification payload (protocols.md §2.3).
//!
//! One POST can carry several entries, each with several changes, each with several messages and
//! statuses; all are read. `contacts[].profile` may be absent, and users who adopted a WhatsApp
//! username arrive with a `user_id` and possibly no `wa_id` — their conversation is keyed on the
//! user id.

use atiende_domain::{
    Channel, Contact, ContactIdentity, ConversationId, DeliveryState, InboundMessage, MediaKind,
    MediaRef, MessageContent, PhoneNumber, ProviderMessageId, StatusUpdate, TenantId, UserId,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tracing::warn;

#[derive(Deserialize)]
struct Notification {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    field: String,
    value: Value,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Value {
    metadata: Option<Metadata>,
    contacts: Vec<ContactJson>,
    messages: Vec<MessageJson>,
    statuses: Vec<StatusJson>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct ContactJson {
    profile: Option<Profile>,
    wa_id: Option<String>,
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct Profile {
    name: Option<String>,
}

#[derive(Deserialize)]
struct MessageJson {
    from: Option<String>,
    id: String,
    timestamp: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    text: Option<TextJson>,
    image: Option<MediaJson>,
    audio: Option<MediaJson>,
    video: Option<MediaJson>,
    document: Option<MediaJson>,
    sticker: Option<MediaJson>,
    location: Option<LocationJson>,
    interactive: Option<InteractiveJson>,
    button: Option<ButtonJson>,
    reaction: Option<ReactionJson>,
    context: Option<ContextJson>,
}

#[derive(Deserialize)]
struct TextJson {
    body: String,
}

#[derive(Deserialize)]
struct MediaJson {
    id: String,
    mime_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
}

#[derive(Deserialize)]
struct LocationJson {
    latitude: f64,
    longitude: f64,
    name: Option<String>,
    address: Option<String>,
}

#[derive(Deserialize)]
struct InteractiveJson {
    button_reply: Option<Reply>,
    list_reply: Option<Reply>,
}

#[derive(Deserialize)]
struct Reply {
    title: String,
}

#[derive(Deserialize)]
struct ButtonJson {
    text: Option<String>,
    payload: Option<String>,
}

#[derive(Deserialize)]
struct ReactionJson {
    emoji: Option<String>,
}

#[derive(Deserialize)]
struct ContextJson {
    id: Option<String>,
}

#[derive(Deserialize)]
struct StatusJson {
    id: String,
    status: String,
    #[serde(default)]
    errors: Vec<StatusError>,
}

#[derive(Deserialize)]
struct StatusError {
    code: Option<i64>,
}

/// What one notification carries.
#[derive(Debug, Default)]
pub struct MetaEvents {
    /// Customer messages.
    pub messages: Vec<InboundMessage>,
    /// Delivery receipts.
    pub statuses: Vec<StatusUpdate>,
    /// Items that could not be read (kept so the caller can log them, never fatal for the rest).
    pub skipped: Vec<String>,
}

/// Why a notification could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed notification: {0}")]
pub struct NotificationError(pub String);

/// Parses a verified notification for `tenant`, whose Meta number is `phone_number_id`.
/// Changes for other numbers are skipped.
pub fn parse_notification(
    body: &[u8],
    tenant: &TenantId,
    phone_number_id: &str,
    now: DateTime<Utc>,
) -> Result<MetaEvents, NotificationError> {
    let notification: Notification =
        serde_json::from_slice(body).map_err(|e| NotificationError(e.to_string()))?;
    if notification.object != "whatsapp_business_account" {
        return Err(NotificationError(format!(
            "unexpected object {:?}",
            notification.object
        )));
    }
    let mut events = MetaEvents::default();
    for change in notification.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            continue;
        }
        let value = change.value;
        if let Some(meta) = &value.metadata
            && meta.phone_number_id != phone_number_id
        {
            warn!(tenant = %tenant, "Skipped a Meta notification for another phone number.");
            events
                .skipped
                .push(format!("phone number {}", meta.phone_number_id));
            continue;
        }
        for message in &value.messages {
            match inbound(message, &value.contacts, tenant, phone_number_id, now) {
                Ok(m) => events.messages.push(m),
                Err(reason) => events.skipped.push(reason),
            }
        }
        for status in value.statuses {
            let (Some(state), Ok(id)) = (
                DeliveryState::parse(&status.status),
                ProviderMessageId::parse(status.id),
            ) else {
                events.skipped.push(format!("status {}", status.status));
                continue;
            };
            events.statuses.push(StatusUpdate {
                tenant: tenant.clone(),
                channel: Channel::MetaWhatsApp,
                provider_message_id: id,
                state,
                error_code: status
                    .errors
                    .first()
                    .and_then(|e| e.code)
                    .map(|c| c.to_string()),
                at: now,
            });
        }
    }
    Ok(events)
}

fn inbound(
    m: &MessageJson,
    contacts: &[ContactJson],
    tenant: &TenantId,
    phone_number_id: &str,
    now: DateTime<Utc>,
) -> Result<InboundMessage, String> {
    let id = ProviderMessageId::parse(m.id.clone()).map_err(|e| e.to_string())?;
    // The sender's contact: the one whose wa_id is `from`, or the only one.
    let contact_json = contacts
        .iter()
        .find(|c| c.wa_id.is_some() && c.wa_id == m.from)
        .or_else(|| (contacts.len() == 1).then(|| &contacts[0]));
    let user_id = contact_json
        .and_then(|c| c.user_id.as_deref())
        .and_then(|u| UserId::parse(u).ok());
    let phone = contact_json
        .and_then(|c| c.wa_id.as_deref())
        .or(m.from.as_deref())
        .and_then(|p| PhoneNumber::parse(p).ok());
    let identity = match (user_id, &phone) {
        (Some(user), _) => ContactIdentity::User(user),
        (None, Some(phone)) => ContactIdentity::Phone(phone.clone()),
        (None, None) => match m.from.as_deref().map(UserId::parse) {
            Some(Ok(user)) => ContactIdentity::User(user),
            _ => return Err(format!("message {} has no sender", m.id)),
        },
    };
    let contact = Contact {
        identity,
        phone,
        profile_name: None,
    }
    .with_profile_name(
        contact_json
            .and_then(|c| c.profile.as_ref())
            .and_then(|p| p.name.as_deref()),
    );
    Ok(InboundMessage {
        conversation: ConversationId::new(tenant, Channel::MetaWhatsApp, &contact.identity.key()),
        tenant: tenant.clone(),
        channel: Channel::MetaWhatsApp,
        provider_message_id: id,
        contact,
        business_address: Some(phone_number_id.to_owned()),
        content: content(m)?,
        sent_at: m
            .timestamp
            .as_deref()
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(|t| DateTime::from_timestamp(t, 0)),
        received_at: now,
        in_reply_to: m
            .context
            .as_ref()
            .and_then(|c| c.id.clone())
            .and_then(|id| ProviderMessageId::parse(id).ok()),
    })
}

fn content(m: &MessageJson) -> Result<MessageContent, String> {
    let media = |kind: MediaKind, json: &MediaJson| MessageContent::Media {
        items: vec![MediaRef {
            kind,
            reference: json.id.clone(),
            content_type: json.mime_type.clone(),
            filename: json.filename.clone(),
        }],
        caption: json.caption.clone().filter(|c| !c.trim().is_empty()),
    };
    let missing = || format!("message {} of type {1} has no {1} object", m.id, m.kind);
    Ok(match m.kind.as_str() {
        "text" => MessageContent::Text {
            body: m.text.as_ref().ok_or_else(missing)?.body.clone(),
        },
        "image" => media(MediaKind::Image, m.image.as_ref().ok_or_else(missing)?),
        "audio" | "voice" => media(MediaKind::Audio, m.audio.as_ref().ok_or_else(missing)?),
        "video" => media(MediaKind::Video, m.video.as_ref().ok_or_else(missing)?),
        "document" => media(
            MediaKind::Document,
            m.document.as_ref().ok_or_else(missing)?,
        ),
        "sticker" => media(MediaKind::Sticker, m.sticker.as_ref().ok_or_else(missing)?),
        "location" => {
            let l = m.location.as_ref().ok_or_else(missing)?;
            MessageContent::Location {
                latitude: l.latitude,
                longitude: l.longitude,
                name: l.name.clone(),
                address: l.address.clone(),
            }
        }
        "interactive" => {
            let i = m.interactive.as_ref().ok_or_else(missing)?;
            let reply = i
                .button_reply
                .as_ref()
                .or(i.list_reply.as_ref())
                .ok_or_else(missing)?;
            MessageContent::Text {
                body: reply.title.clone(),
            }
        }
        "button" => {
            let b = m.button.as_ref().ok_or_else(missing)?;
            MessageContent::Text {
                body: b
                    .text
                    .clone()
                    .or_else(|| b.payload.clone())
                    .unwrap_or_default(),
            }
        }
        "reaction" => MessageContent::Reaction {
            emoji: m
                .reaction
                .as_ref()
                .and_then(|r| r.emoji.clone())
                .unwrap_or_default(),
        },
        other => MessageContent::Unsupported {
            kind: other.to_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("demo").unwrap()
    }

    fn wrap(value: &str) -> Vec<u8> {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"value":{value},"field":"messages"}}]}}]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn metas_own_example_parses() {
        let body = include_bytes!("../tests/fixtures/meta_text_message.json");
        let events = parse_notification(body, &tenant(), "106540352242922", Utc::now()).unwrap();
        assert_eq!(events.messages.len(), 1);
        let m = &events.messages[0];
        assert_eq!(
            m.content,
            MessageContent::Text {
                body: "Does it come in another color?".into()
            }
        );
        assert_eq!(m.contact.profile_name.as_deref(), Some("Sheena Nelson"));
        assert_eq!(m.conversation.as_str(), "demo:meta:+16505551234");
        assert_eq!(m.sent_at, DateTime::from_timestamp(1_749_416_383, 0));
    }

    #[test]
    fn a_notification_for_another_number_is_skipped() {
        let body = include_bytes!("../tests/fixtures/meta_text_message.json");
        let events = parse_notification(body, &tenant(), "999", Utc::now()).unwrap();
        assert!(events.messages.is_empty());
        assert_eq!(events.skipped.len(), 1);
    }

    #[test]
    fn batches_media_statuses_and_missing_profiles_are_all_read() {
        let body = wrap(
            r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"77"},
               "contacts":[{"wa_id":"18095551010"}],
               "messages":[
                 {"from":"18095551010","id":"wamid.A","timestamp":"1","type":"image","image":{"id":"MEDIA1","mime_type":"image/jpeg","caption":"mira"}},
                 {"from":"18095551010","id":"wamid.B","timestamp":"2","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"yes","title":"Sí"}}},
                 {"from":"18095551010","id":"wamid.C","timestamp":"3","type":"order","order":{}}],
               "statuses":[{"id":"wamid.OUT","status":"failed","timestamp":"4","recipient_id":"18095551010","errors":[{"code":131047,"title":"Re-engagement message"}]}]}"#,
        );
        let events = parse_notification(&body, &tenant(), "77", Utc::now()).unwrap();
        assert_eq!(events.messages.len(), 3);
        assert!(
            matches!(&events.messages[0].content, MessageContent::Media { caption: Some(c), .. } if c == "mira")
        );
        assert_eq!(
            events.messages[1].content,
            MessageContent::Text { body: "Sí".into() }
        );
        assert!(
            matches!(&events.messages[2].content, MessageContent::Unsupported { kind } if kind == "order")
        );
        assert_eq!(events.messages[0].contact.profile_name, None);
        assert_eq!(events.statuses[0].state, DeliveryState::Failed);
        assert_eq!(events.statuses[0].error_code.as_deref(), Some("131047"));
    }

    #[test]
    fn username_users_are_keyed_on_their_user_id() {
        let body = wrap(
            r#"{"metadata":{"phone_number_id":"77"},
               "contacts":[{"profile":{"name":"Ada","username":"ada"},"user_id":"US.13491208655302741918"}],
               "messages":[{"id":"wamid.U","timestamp":"1","type":"text","text":{"body":"hola"}}]}"#,
        );
        let events = parse_notification(&body, &tenant(), "77", Utc::now()).unwrap();
        let m = &events.messages[0];
        assert_eq!(
            m.conversation.as_str(),
            "demo:meta:u.US.13491208655302741918"
        );
        assert_eq!(m.contact.phone, None);
    }

    #[test]
    fn garbage_is_an_error_and_unreadable_items_are_skipped() {
        assert!(parse_notification(b"{", &tenant(), "77", Utc::now()).is_err());
        assert!(
            parse_notification(
                br#"{"object":"page","entry":[]}"#,
                &tenant(),
                "77",
                Utc::now()
            )
            .is_err()
        );
        let body = wrap(
            r#"{"metadata":{"phone_number_id":"77"},"messages":[{"id":"wamid.X","type":"text"}]}"#,
        );
        let events = parse_notification(&body, &tenant(), "77", Utc::now()).unwrap();
        assert!(events.messages.is_empty());
        assert_eq!(events.skipped.len(), 1);
    }
}
