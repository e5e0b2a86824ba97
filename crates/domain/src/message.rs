//! The normalized inbound message: what every channel's webhook is translated into.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Channel, Contact, ConversationId, ProviderMessageId, TenantId};

/// A message a customer sent, in channel-independent form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The tenant the message was sent to.
    pub tenant: TenantId,
    /// The channel it arrived on.
    pub channel: Channel,
    /// The conversation it belongs to (also the bus ordering key).
    pub conversation: ConversationId,
    /// The provider's id for the message: the idempotency key.
    pub provider_message_id: ProviderMessageId,
    /// Who sent it.
    pub contact: Contact,
    /// The business address it was sent to (our WhatsApp number or Meta phone number id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_address: Option<String>,
    /// What it says or carries.
    pub content: MessageContent,
    /// When the provider says the customer sent it, if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// When atiende accepted it.
    pub received_at: DateTime<Utc>,
    /// The message this one replies to, when the customer used "reply".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<ProviderMessageId>,
    /// The ad or post the customer tapped to start writing (click-to-WhatsApp), when they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<Referral>,
}

/// Click-to-WhatsApp attribution: the ad or post a conversation started from. The business
/// paid for that click, so the lead its CRM receives says where the customer came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    /// `ad` or `post`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// The ad's or post's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// Where the ad or post lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// The ad's headline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    /// The ad's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Meta's click id, which its conversions API matches to the ad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctwa_clid: Option<String>,
}

impl Referral {
    /// Builds a referral from whatever fields a provider sent, each trimmed and capped; `None`
    /// when none of them says anything.
    pub fn from_fields(
        source_type: Option<&str>,
        source_id: Option<&str>,
        source_url: Option<&str>,
        headline: Option<&str>,
        body: Option<&str>,
        ctwa_clid: Option<&str>,
    ) -> Option<Self> {
        let field = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| v.chars().take(500).collect::<String>())
        };
        let referral = Self {
            source_type: field(source_type),
            source_id: field(source_id),
            source_url: field(source_url),
            headline: field(headline),
            body: field(body),
            ctwa_clid: field(ctwa_clid),
        };
        (referral != Self::default()).then_some(referral)
    }
}

impl InboundMessage {
    /// The text a customer typed, including a media caption; `None` for content without text.
    pub fn text(&self) -> Option<&str> {
        match &self.content {
            MessageContent::Text { body } => Some(body.as_str()),
            MessageContent::Media { caption, .. } => caption.as_deref(),
            MessageContent::Location { .. }
            | MessageContent::Reaction { .. }
            | MessageContent::Form { .. }
            | MessageContent::Notice { .. }
            | MessageContent::Unsupported { .. } => None,
        }
    }
}

/// What an inbound message carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageContent {
    /// Text, including the title of a tapped button or list item.
    Text {
        /// The text.
        body: String,
    },
    /// One or more media attachments, with an optional caption.
    Media {
        /// The attachments.
        items: Vec<MediaRef>,
        /// The caption the customer typed, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
    /// A shared location.
    Location {
        /// Latitude in degrees.
        latitude: f64,
        /// Longitude in degrees.
        longitude: f64,
        /// The place's name, if shared.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The place's address, if shared.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// An emoji reaction to an earlier message.
    Reaction {
        /// The emoji (empty when a reaction is removed).
        emoji: String,
    },
    /// A form the customer filled in and sent (a WhatsApp Flow's reply).
    Form {
        /// The flow's name, when the provider gives one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The answers, by field name.
        fields: std::collections::BTreeMap<String, String>,
    },
    /// Something the channel reported that the customer did not write as a new message: an
    /// edit or deletion of an earlier message, a changed number, an answer to a call-permission
    /// request. Kept in the history for a person to see; the bot never answers it.
    Notice {
        /// What happened: `edit`, `revoke`, `system.user_changed_number`, …
        kind: String,
        /// What the notice says (an edit's new text, a system notice's body), when anything.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Content atiende cannot read (contacts cards, orders, unknown types). Kept so a person can
    /// look at it.
    Unsupported {
        /// The provider's name for the type.
        kind: String,
    },
}

/// A reference to media: held by the provider when the customer sent it, and kept by atiende (in
/// the tenant's media store, under [`MediaRef::stored`]) once the processor downloaded it, so a
/// person sees the photo rather than a provider id that expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    /// What kind of media it is.
    pub kind: MediaKind,
    /// Twilio's `MediaUrl{N}` or Meta's media id.
    pub reference: String,
    /// The MIME type, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The file name of a document, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// atiende's copy: its key in the tenant's media store (see [`media_key`]), when kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<String>,
}

/// The key of the copy atiende keeps of item `index` of a customer's message: `in-` and 32 hex
/// digits of a digest of where it came from. The same message always maps to the same key, so a
/// redelivered message overwrites its copy instead of leaving another; and a key says nothing
/// about the customer (no phone number in a file or object name).
pub fn media_key(
    conversation: &crate::ConversationId,
    message: &ProviderMessageId,
    index: usize,
) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(conversation.as_str())
        .chain_update([0])
        .chain_update(message.as_str())
        .chain_update([0])
        .chain_update(index.to_le_bytes())
        .finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{INBOUND_MEDIA}{hex}")
}

/// The key of a file an agent sends: `out-` and a random id's 32 hex digits (`random` must be
/// one, e.g. a v4 UUID in simple form). It is a capability: the channel's provider fetches the
/// file from atiende's public media URL with it, and nothing else opens it.
pub fn outgoing_media_key(random: &str) -> String {
    format!("{OUTGOING_MEDIA}{random}")
}

const INBOUND_MEDIA: &str = "in-";
const OUTGOING_MEDIA: &str = "out-";

/// Whether `key` is one atiende makes ([`media_key`], [`outgoing_media_key`]): what a media URL
/// may name, so a request can never reach outside the tenant's media.
pub fn is_media_key(key: &str) -> bool {
    let hex = key
        .strip_prefix(INBOUND_MEDIA)
        .or_else(|| key.strip_prefix(OUTGOING_MEDIA));
    hex.is_some_and(|h| {
        h.len() == 32
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Whether `key` names a file an agent sent (which providers may fetch without credentials).
pub fn is_outgoing_media_key(key: &str) -> bool {
    is_media_key(key) && key.starts_with(OUTGOING_MEDIA)
}

/// What WhatsApp takes from a business, by MIME type: the kind the file is sent as and its size
/// limit (Meta's supported media types; Twilio's WhatsApp sender takes the same). `None` for a
/// type WhatsApp would refuse, so an agent is told before anything is sent.
pub fn sendable_media(content_type: &str) -> Option<(MediaKind, usize)> {
    const MB: usize = 1024 * 1024;
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let kind = match essence.as_str() {
        "image/jpeg" | "image/png" => (MediaKind::Image, 5 * MB),
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => {
            (MediaKind::Audio, 16 * MB)
        }
        "video/mp4" | "video/3gpp" => (MediaKind::Video, 16 * MB),
        "application/pdf"
        | "text/plain"
        | "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
            (MediaKind::Document, 100 * MB)
        }
        _ => return None,
    };
    Some(kind)
}

/// The kinds of media WhatsApp carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// A photo or picture.
    Image,
    /// A voice note or audio file.
    Audio,
    /// A video.
    Video,
    /// A document (PDF, spreadsheet, …).
    Document,
    /// A sticker.
    Sticker,
    /// Anything else.
    Other,
}

impl MediaKind {
    /// Classifies a MIME type such as `image/jpeg`.
    pub fn from_content_type(content_type: &str) -> Self {
        let ct = content_type.to_ascii_lowercase();
        if ct == "image/webp" {
            // WhatsApp stickers are WebP images; Twilio does not flag them otherwise.
            Self::Sticker
        } else if ct.starts_with("image/") {
            Self::Image
        } else if ct.starts_with("audio/") {
            Self::Audio
        } else if ct.starts_with("video/") {
            Self::Video
        } else if ct.starts_with("application/") || ct.starts_with("text/") {
            Self::Document
        } else {
            Self::Other
        }
    }
}
