//! What a customer's media needs from the outside: the provider's authenticated download (Twilio's
//! `MediaUrl` with the account's credentials, Meta's media id → URL → bytes) and, for voice notes,
//! a transcription service.

use async_trait::async_trait;
use atiende_domain::{Channel, Locale, MediaRef, Tenant};

use crate::PortError;

/// Downloaded media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedMedia {
    /// Its MIME type, as the provider served it.
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Downloads what customers send, with the tenant's provider credentials.
#[async_trait]
pub trait MediaFetcher: Send + Sync {
    /// Fetches `media`, sent to `tenant` on `channel`, refusing more than `max_bytes`.
    async fn fetch(
        &self,
        tenant: &Tenant,
        channel: Channel,
        media: &MediaRef,
        max_bytes: usize,
    ) -> Result<FetchedMedia, PortError>;
}

/// Turns speech into text.
#[async_trait]
pub trait Transcriber: Send + Sync {
    /// The words of `audio`; `language` is a hint (the conversation's language), when known.
    async fn transcribe(
        &self,
        audio: &FetchedMedia,
        language: Option<Locale>,
    ) -> Result<String, PortError>;
}
