//! Meta's webhook notification payload (protocols.md §2.3).
//!
//! One POST can carry several entries, each with several changes, each with several messages and
//! statuses; all are read. `contacts[].profile` may be absent, and users who adopted a WhatsApp
//! username arrive with a `user_id` and possibly no `wa_id` — their conversation is keyed on the
//! user id.

use std::collections::BTreeMap;

use atiende_domain::{
    Channel, Contact, ContactIdentity, ConversationId, DeliveryState, InboundMessage, MediaKind,
    MediaRef, MessageContent, PhoneNumber, ProviderMessageId, Referral, StatusUpdate, TenantId,
    UserId,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use tracing::warn;

/// A JSON scalar Meta sends as a string in its reference and as a number in some payloads
/// (`timestamp`, coordinates, error codes): either is read.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Number(serde_json::Number),
}

impl Scalar {
    fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Text(t) => t.trim().parse().ok(),
            Self::Number(n) => n.as_i64(),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Text(t) => t.trim().parse().ok(),
            Self::Number(n) => n.as_f64(),
        }
        .filter(|v: &f64| v.is_finite())
    }

    fn into_string(self) -> String {
        match self {
            Self::Text(t) => t,
            Self::Number(n) => n.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct ContactJson {
    profile: Option<Profile>,
    wa_id: Option<Scalar>,
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct Profile {
    name: Option<String>,
}

#[derive(Deserialize)]
struct MessageJson {
    from: Option<Scalar>,
    id: String,
    timestamp: Option<Scalar>,
    #[serde(rename = "type")]
    kind: String,
    text: Option<TextJson>,
    image: Option<MediaJson>,
    audio: Option<MediaJson>,
    voice: Option<MediaJson>,
    video: Option<MediaJson>,
    document: Option<MediaJson>,
    sticker: Option<MediaJson>,
    location: Option<LocationJson>,
    interactive: Option<InteractiveJson>,
    button: Option<ButtonJson>,
    reaction: Option<ReactionJson>,
    context: Option<ContextJson>,
    referral: Option<ReferralJson>,
    system: Option<SystemJson>,
    edit: Option<EditJson>,
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
    latitude: Scalar,
    longitude: Scalar,
    name: Option<String>,
    address: Option<String>,
}

#[derive(Deserialize)]
struct InteractiveJson {
    button_reply: Option<Reply>,
    list_reply: Option<Reply>,
    nfm_reply: Option<FlowReply>,
    call_permission_reply: Option<CallPermissionReply>,
}

#[derive(Deserialize)]
struct Reply {
    title: String,
}

#[derive(Deserialize)]
struct FlowReply {
    name: Option<String>,
    response_json: Option<String>,
}

#[derive(Deserialize)]
struct CallPermissionReply {
    response: Option<String>,
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
struct ReferralJson {
    source_type: Option<String>,
    source_id: Option<Scalar>,
    source_url: Option<String>,
    headline: Option<String>,
    body: Option<String>,
    ctwa_clid: Option<String>,
}

#[derive(Deserialize)]
struct SystemJson {
    #[serde(rename = "type")]
    kind: Option<String>,
    body: Option<String>,
}

#[derive(Deserialize)]
struct EditJson {
    message: Option<Box<EditedJson>>,
}

/// The new content of an edited message: a message without the envelope's id and sender.
#[derive(Deserialize)]
struct EditedJson {
    text: Option<TextJson>,
    image: Option<MediaJson>,
    video: Option<MediaJson>,
    document: Option<MediaJson>,
}

#[derive(Deserialize)]
struct StatusJson {
    id: String,
    status: String,
    #[serde(default)]
    errors: Option<Vec<StatusError>>,
}

#[derive(Deserialize)]
struct StatusError {
    code: Option<Scalar>,
}

/// An item of a notification that could not be read, kept for a person to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Why it was skipped.
    pub reason: String,
    /// The item as Meta sent it, when there is one to keep.
    pub item: Option<String>,
}

impl Skipped {
    /// A name for the item that stays the same when Meta delivers the notification again, so
    /// parking it twice is recognizably one item.
    pub fn key(&self) -> String {
        use sha2::Digest as _;
        let text = self.item.as_deref().unwrap_or(&self.reason);
        let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
        format!("meta-{}", &digest[..24])
    }
}

/// What one notification carries.
#[derive(Debug, Default)]
pub struct MetaEvents {
    /// Customer messages, and notices about them (edits, deletions, system notices).
    pub messages: Vec<InboundMessage>,
    /// Delivery receipts.
    pub statuses: Vec<StatusUpdate>,
    /// Items that could not be read. One bad item never costs the others: Meta would otherwise
    /// retry the whole batch for days while its readable messages wait.
    pub skipped: Vec<Skipped>,
}

/// Why a notification could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed notification: {0}")]
pub struct NotificationError(pub String);

/// The items of the array at `value[key]`: none when it is absent, `null` or not an array.
fn items<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Parses a verified notification for `tenant`, whose Meta number is `phone_number_id`.
/// Changes for other numbers are skipped.
///
/// Only a body that is not JSON, or not a WhatsApp Business notification, is an error. Every
/// message and status is read on its own: a malformed one is [`MetaEvents::skipped`], and the
/// rest are delivered.
pub fn parse_notification(
    body: &[u8],
    tenant: &TenantId,
    phone_number_id: &str,
    now: DateTime<Utc>,
) -> Result<MetaEvents, NotificationError> {
    let notification: Value =
        serde_json::from_slice(body).map_err(|e| NotificationError(e.to_string()))?;
    let object = notification.get("object").and_then(Value::as_str);
    if object != Some("whatsapp_business_account") {
        return Err(NotificationError(format!("unexpected object {object:?}")));
    }
    let mut events = MetaEvents::default();
    let changes = items(&notification, "entry")
        .iter()
        .flat_map(|entry| items(entry, "changes"));
    for change in changes {
        if change.get("field").and_then(Value::as_str) != Some("messages") {
            continue;
        }
        let Some(value) = change.get("value") else {
            continue;
        };
        let number = value
            .get("metadata")
            .and_then(|m| m.get("phone_number_id"))
            .and_then(|id| Scalar::deserialize(id).ok())
            .map(Scalar::into_string);
        if let Some(number) = number
            && number != phone_number_id
        {
            warn!(tenant = %tenant, "Skipped a Meta notification for another phone number.");
            events.skipped.push(Skipped {
                reason: format!("phone number {number}"),
                item: None,
            });
            continue;
        }
        let contacts: Vec<ContactJson> = items(value, "contacts")
            .iter()
            .filter_map(|c| ContactJson::deserialize(c).ok())
            .collect();
        for item in items(value, "messages") {
            let read = MessageJson::deserialize(item)
                .map_err(|e| format!("unreadable message: {e}"))
                .and_then(|m| inbound(&m, &contacts, tenant, phone_number_id, now));
            match read {
                Ok(m) => events.messages.push(m),
                Err(reason) => events.skipped.push(Skipped {
                    reason,
                    item: Some(item.to_string()),
                }),
            }
        }
        for item in items(value, "statuses") {
            match status(item, tenant, now) {
                Ok(s) => events.statuses.push(s),
                Err(reason) => events.skipped.push(Skipped {
                    reason,
                    item: Some(item.to_string()),
                }),
            }
        }
    }
    Ok(events)
}

fn status(item: &Value, tenant: &TenantId, now: DateTime<Utc>) -> Result<StatusUpdate, String> {
    let status = StatusJson::deserialize(item).map_err(|e| format!("unreadable status: {e}"))?;
    let (Some(state), Ok(id)) = (
        DeliveryState::parse(&status.status),
        ProviderMessageId::parse(status.id),
    ) else {
        return Err(format!("status {}", status.status));
    };
    Ok(StatusUpdate {
        tenant: tenant.clone(),
        channel: Channel::MetaWhatsApp,
        provider_message_id: id,
        state,
        error_code: status
            .errors
            .unwrap_or_default()
            .into_iter()
            .find_map(|e| e.code)
            .map(Scalar::into_string),
        at: now,
    })
}

/// Who wrote `m`. A phone number wins whenever Meta gives one (`wa_id`, or a numeric `from`):
/// conversations have always been keyed on it, and Meta keeps sending it to businesses that
/// already talk to the customer, so a customer who adopts a username stays in the same
/// conversation. A business-scoped user id alone (`US.1349…`) keys the conversation only when
/// there is no number; anything that is neither is no sender at all.
fn sender(m: &MessageJson, contacts: &[ContactJson]) -> Result<Contact, String> {
    let from = m.from.clone().map(Scalar::into_string);
    let wa_id = |c: &ContactJson| c.wa_id.clone().map(Scalar::into_string);
    let contact_json = contacts
        .iter()
        .find(|c| from.is_some() && wa_id(c) == from)
        .or_else(|| (contacts.len() == 1).then(|| &contacts[0]));
    let phone = contact_json
        .and_then(wa_id)
        .or_else(|| from.clone())
        .and_then(|p| PhoneNumber::parse(&p).ok());
    let user_id = contact_json
        .and_then(|c| c.user_id.as_deref())
        .or(from.as_deref())
        .and_then(|u| UserId::parse_bsuid(u).ok());
    let identity = match (&phone, &user_id) {
        (Some(phone), _) => ContactIdentity::Phone(phone.clone()),
        (None, Some(user)) => ContactIdentity::User(user.clone()),
        (None, None) => return Err(format!("message {} has no valid sender", m.id)),
    };
    Ok(Contact {
        identity,
        phone,
        profile_name: None,
        user_id,
    }
    .with_profile_name(
        contact_json
            .and_then(|c| c.profile.as_ref())
            .and_then(|p| p.name.as_deref()),
    ))
}

fn inbound(
    m: &MessageJson,
    contacts: &[ContactJson],
    tenant: &TenantId,
    phone_number_id: &str,
    now: DateTime<Utc>,
) -> Result<InboundMessage, String> {
    let id = ProviderMessageId::parse(m.id.clone()).map_err(|e| e.to_string())?;
    let contact = sender(m, contacts)?;
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
            .as_ref()
            .and_then(Scalar::as_i64)
            .and_then(|t| DateTime::from_timestamp(t, 0)),
        received_at: now,
        in_reply_to: m
            .context
            .as_ref()
            .and_then(|c| c.id.clone())
            .and_then(|id| ProviderMessageId::parse(id).ok()),
        referral: m.referral.as_ref().and_then(|r| {
            Referral::from_fields(
                r.source_type.as_deref(),
                r.source_id.clone().map(Scalar::into_string).as_deref(),
                r.source_url.as_deref(),
                r.headline.as_deref(),
                r.body.as_deref(),
                r.ctwa_clid.as_deref(),
            )
        }),
    })
}

fn media(kind: MediaKind, json: &MediaJson) -> MessageContent {
    MessageContent::Media {
        items: vec![MediaRef {
            kind,
            reference: json.id.clone(),
            content_type: json.mime_type.clone(),
            filename: json.filename.clone(),
            stored: None,
        }],
        caption: json.caption.clone().filter(|c| !c.trim().is_empty()),
    }
}

fn content(m: &MessageJson) -> Result<MessageContent, String> {
    let missing = || format!("message {} of type {1} has no {1} object", m.id, m.kind);
    let notice = |kind: String, detail: Option<String>| MessageContent::Notice {
        kind,
        detail: detail.filter(|d| !d.trim().is_empty()),
    };
    Ok(match m.kind.as_str() {
        "text" => MessageContent::Text {
            body: m.text.as_ref().ok_or_else(missing)?.body.clone(),
        },
        "image" => media(MediaKind::Image, m.image.as_ref().ok_or_else(missing)?),
        "audio" | "voice" => media(
            MediaKind::Audio,
            m.audio.as_ref().or(m.voice.as_ref()).ok_or_else(missing)?,
        ),
        "video" => media(MediaKind::Video, m.video.as_ref().ok_or_else(missing)?),
        "document" => media(
            MediaKind::Document,
            m.document.as_ref().ok_or_else(missing)?,
        ),
        "sticker" => media(MediaKind::Sticker, m.sticker.as_ref().ok_or_else(missing)?),
        "location" => {
            let l = m.location.as_ref().ok_or_else(missing)?;
            let (Some(latitude), Some(longitude)) = (l.latitude.as_f64(), l.longitude.as_f64())
            else {
                return Err(format!("message {} has no readable coordinates", m.id));
            };
            MessageContent::Location {
                latitude,
                longitude,
                name: l.name.clone(),
                address: l.address.clone(),
            }
        }
        "interactive" => interactive(m.interactive.as_ref().ok_or_else(missing)?)
            .ok_or_else(|| format!("message {} is an interactive reply of no known kind", m.id))?,
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
        // The customer changed an earlier message: the bot answered the original already.
        "edit" => {
            let edited = m.edit.as_ref().and_then(|e| e.message.as_deref());
            let text = edited.and_then(|e| {
                e.text.as_ref().map(|t| t.body.clone()).or_else(|| {
                    [&e.image, &e.video, &e.document]
                        .into_iter()
                        .flatten()
                        .find_map(|media| media.caption.clone())
                })
            });
            notice("edit".to_owned(), text)
        }
        "revoke" => notice("revoke".to_owned(), None),
        "system" => {
            let system = m.system.as_ref();
            let kind = system
                .and_then(|s| s.kind.as_deref())
                .unwrap_or("notice")
                .to_owned();
            notice(
                format!("system.{kind}"),
                system.and_then(|s| s.body.clone()),
            )
        }
        other => MessageContent::Unsupported {
            kind: other.to_owned(),
        },
    })
}

/// A tapped button or list item reads as its title; a submitted Flow as its answers; an
/// answer to a call-permission request is a notice. `None` for a kind atiende does not know.
fn interactive(i: &InteractiveJson) -> Option<MessageContent> {
    if let Some(reply) = i.button_reply.as_ref().or(i.list_reply.as_ref()) {
        return Some(MessageContent::Text {
            body: reply.title.clone(),
        });
    }
    if let Some(flow) = &i.nfm_reply {
        let answers: BTreeMap<String, Value> = flow
            .response_json
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        let fields = answers
            .into_iter()
            // The token identifies the flow to the business's endpoint, not an answer.
            .filter(|(name, _)| name != "flow_token")
            .map(|(name, value)| {
                let value = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                (name, value.chars().take(1000).collect())
            })
            .collect();
        return Some(MessageContent::Form {
            name: flow.name.clone(),
            fields,
        });
    }
    i.call_permission_reply
        .as_ref()
        .map(|reply| MessageContent::Notice {
            kind: "call_permission_reply".to_owned(),
            detail: reply.response.clone(),
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

    #[test]
    fn one_unreadable_item_costs_only_itself() {
        let body = wrap(
            r#"{"metadata":{"phone_number_id":77},
               "contacts":null,
               "messages":[
                 {"from":"18095551010","id":"wamid.1","timestamp":1669233778,"type":"text","text":{"body":"hola"}},
                 {"from":"18095551010","id":"wamid.2","type":"location","location":{"latitude":"18.4273","longitude":"-70.0"}},
                 {"from":"18095551010","id":"wamid.3","type":"location","location":{"latitude":"LAT","longitude":"LON"}},
                 {"from":"18095551010","id":"wamid.4","type":"text","text":{}},
                 {"from":"PHONE_NUMBER","id":"wamid.5","type":"text","text":{"body":"x"}}],
               "statuses":[{"id":"wamid.OUT","status":"failed","errors":[{"code":"131047"}]}, {"status":"sent"}]}"#,
        );
        let events = parse_notification(&body, &tenant(), "77", Utc::now()).unwrap();
        let ids: Vec<_> = events
            .messages
            .iter()
            .map(|m| m.provider_message_id.as_str())
            .collect();
        assert_eq!(ids, ["wamid.1", "wamid.2"]);
        assert_eq!(
            events.messages[0].sent_at,
            DateTime::from_timestamp(1_669_233_778, 0)
        );
        assert!(
            matches!(events.messages[1].content, MessageContent::Location { latitude, .. } if (latitude - 18.4273).abs() < 1e-9)
        );
        assert_eq!(events.statuses[0].error_code.as_deref(), Some("131047"));
        // Three messages and a status parked, each with the item as Meta sent it.
        assert_eq!(events.skipped.len(), 4, "{:?}", events.skipped);
        assert!(events.skipped.iter().all(|s| s.item.is_some()));
        assert!(
            events.skipped[0]
                .item
                .as_deref()
                .unwrap()
                .contains("wamid.3")
        );
        assert_ne!(events.skipped[0].key(), events.skipped[1].key());
    }

    #[test]
    fn the_number_keys_the_conversation_when_a_user_id_comes_with_it() {
        let body = wrap(
            r#"{"metadata":{"phone_number_id":"77"},
               "contacts":[{"profile":{"name":"Ada"},"wa_id":"972987654321","user_id":"US.13491208655302741918"}],
               "messages":[{"from":"972987654321","id":"wamid.U","timestamp":"1","type":"text","text":{"body":"hola"}}]}"#,
        );
        let events = parse_notification(&body, &tenant(), "77", Utc::now()).unwrap();
        assert_eq!(
            events.messages[0].conversation.as_str(),
            "demo:meta:+972987654321"
        );
    }

    #[test]
    fn edits_deletions_system_notices_and_flows_are_not_customer_text() {
        let body = wrap(
            r#"{"metadata":{"phone_number_id":"77"},"contacts":[{"wa_id":"18095551010"}],
               "messages":[
                 {"from":"18095551010","id":"wamid.E","type":"edit","edit":{"original_message_id":"wamid.O","message":{"type":"text","text":{"body":"corrected"}}}},
                 {"from":"18095551010","id":"wamid.R","type":"revoke","revoke":{"original_message_id":"wamid.O"}},
                 {"from":"18095551010","id":"wamid.S","type":"system","system":{"type":"user_changed_number","body":"changed"}},
                 {"from":"18095551010","id":"wamid.F","type":"interactive","interactive":{"type":"nfm_reply","nfm_reply":{"name":"flow","body":"Sent","response_json":"{\"flow_token\":\"t\",\"email\":\"a@b.co\",\"rating\":4}"}}},
                 {"from":"18095551010","id":"wamid.R2","type":"text","text":{"body":"hi"},"referral":{"source_type":"ad","source_id":"120","headline":"Cemento","ctwa_clid":"CLID"}}]}"#,
        );
        let events = parse_notification(&body, &tenant(), "77", Utc::now()).unwrap();
        let contents: Vec<_> = events.messages.iter().map(|m| &m.content).collect();
        assert_eq!(
            contents[0],
            &MessageContent::Notice {
                kind: "edit".into(),
                detail: Some("corrected".into())
            }
        );
        assert!(matches!(contents[1], MessageContent::Notice { kind, .. } if kind == "revoke"));
        assert!(
            matches!(contents[2], MessageContent::Notice { kind, .. } if kind == "system.user_changed_number")
        );
        let MessageContent::Form { fields, .. } = contents[3] else {
            panic!("{:?}", contents[3]);
        };
        assert_eq!(
            fields
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
            ["email=a@b.co", "rating=4"]
        );
        let referral = events.messages[4].referral.as_ref().unwrap();
        assert_eq!(referral.ctwa_clid.as_deref(), Some("CLID"));
        assert_eq!(referral.source_id.as_deref(), Some("120"));
    }
}
