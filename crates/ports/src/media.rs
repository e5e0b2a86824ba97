//! What media needs from the outside: the provider's authenticated download (Twilio's `MediaUrl`
//! with the account's credentials, Meta's media id → URL → bytes), a transcription service for
//! voice notes, and a store that keeps the files for the people who read the conversation (local
//! files on one machine, Cloud Storage on GCP, where every instance's disk is its own), and the
//! links that open a kept file from outside.

use async_trait::async_trait;
use atiende_domain::{Channel, Locale, MediaRef, Tenant, TenantId};

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

/// Refuses a key atiende did not make ([`atiende_domain::is_media_key`]) before an adapter turns
/// it into a path or an object name.
pub fn check_media_key(key: &str) -> Result<(), PortError> {
    if atiende_domain::is_media_key(key) {
        Ok(())
    } else {
        Err(PortError::permanent(format!("not a media key: {key:?}")))
    }
}

/// Keeps media files per tenant: what customers sent, for the agents who read the conversation,
/// and what agents send, for the provider to fetch. Keys are atiende's own
/// ([`atiende_domain::media_key`], [`atiende_domain::outgoing_media_key`]); an adapter must keep
/// each tenant's files apart, so the same key under two tenants names two files.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Keeps `media` under `key`, replacing what was there.
    async fn put(
        &self,
        tenant: &TenantId,
        key: &str,
        media: &FetchedMedia,
    ) -> Result<(), PortError>;

    /// The file under `key`, if kept.
    async fn get(&self, tenant: &TenantId, key: &str) -> Result<Option<FetchedMedia>, PortError>;

    /// Deletes every file of `tenant` (the tenant was deleted).
    async fn forget_tenant(&self, tenant: &TenantId) -> Result<(), PortError>;
}

/// Turns a kept file into a link someone outside atiende can open: the provider fetching an
/// agent's file, or an agent at an external desk (Rocket.Chat) opening a customer's photo.
pub trait MediaLinker: Send + Sync {
    /// The link to `tenant`'s file under `key`, or `None` when it cannot be given one (a
    /// customer's file without a signing key).
    fn link(&self, tenant: &TenantId, key: &str) -> Option<String>;
}
