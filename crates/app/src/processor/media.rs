//! What the processor does with customers' media before deciding: download each file with the
//! tenant's provider credentials, keep it in the tenant's media store (so an agent sees the photo
//! of the broken part, not a provider id that expires), and turn a voice note's words into the
//! message's text.

use std::sync::Arc;

use atiende_domain::{
    Conversation, MediaKind, MediaRef, MessageContent, ProviderMessageId, Tenant, media_key,
};
use atiende_ports::{FetchedMedia, MediaFetcher, MediaStore, PortError, Transcriber};
use tracing::warn;

use super::InboundProcessor;

/// Where customers' media comes from and where it is kept.
pub(super) struct Media {
    fetcher: Arc<dyn MediaFetcher>,
    store: Option<Arc<dyn MediaStore>>,
    max_bytes: usize,
}

/// How voice notes become text.
pub(super) struct Voice {
    transcriber: Arc<dyn Transcriber>,
    max_bytes: usize,
}

impl InboundProcessor {
    /// Downloads customers' photos, documents, videos and voice notes (at most `max_bytes` each,
    /// with the tenant's provider credentials) and keeps them in `store`, when there is one, for
    /// the people who read the conversation; without a store a person sees only what kind of
    /// media came, and only voice notes are downloaded (to be transcribed).
    #[must_use]
    pub fn with_media(
        mut self,
        fetcher: Arc<dyn MediaFetcher>,
        store: Option<Arc<dyn MediaStore>>,
        max_bytes: usize,
    ) -> Self {
        self.media = Some(Media {
            fetcher,
            store,
            max_bytes,
        });
        self
    }

    /// Transcribes voice notes of at most `max_bytes` (kept or downloaded through
    /// [`Self::with_media`]) and answers their words; without it, a voice note goes to a person.
    #[must_use]
    pub fn with_voice(mut self, transcriber: Arc<dyn Transcriber>, max_bytes: usize) -> Self {
        self.voice = Some(Voice {
            transcriber,
            max_bytes,
        });
        self
    }

    /// Keeps the message's media and records each copy's key on the message's turn. A file that
    /// cannot be downloaded or kept stays a provider reference (logged): the message itself is
    /// answered or handed off as usual.
    pub(super) async fn keep_media(
        &self,
        tenant: &Tenant,
        conversation: &mut Conversation,
        content: &MessageContent,
        cause: &ProviderMessageId,
    ) {
        let Some((media, store)) = self
            .media
            .as_ref()
            .and_then(|m| Some((m, m.store.as_ref()?)))
        else {
            return;
        };
        let MessageContent::Media { items, .. } = content else {
            return;
        };
        for (index, item) in items.iter().enumerate() {
            // A sticker says nothing a person needs to open.
            if item.kind == MediaKind::Sticker {
                continue;
            }
            let key = media_key(&conversation.id, cause, index);
            let kept = async {
                let file = media
                    .fetcher
                    .fetch(tenant, conversation.channel, item, media.max_bytes)
                    .await?;
                store.put(&tenant.id, &key, &file).await
            }
            .await;
            match kept {
                Ok(()) => {
                    if let Some(turn_media) = turn_media(conversation, cause, index) {
                        turn_media.stored = Some(key);
                    }
                }
                Err(error) => {
                    warn!(conversation = %conversation.id.masked(), kind = ?item.kind, %error, "A customer's file could not be kept; a person sees its kind only.");
                }
            }
        }
    }

    /// The words of a voice note without a caption, written into its turn so a person reads them
    /// too; `None` when it is not one, no transcription is configured, or it failed (then the
    /// note goes to a person).
    pub(super) async fn words_of_voice_note(
        &self,
        tenant: &Tenant,
        conversation: &mut Conversation,
        content: &MessageContent,
        cause: &ProviderMessageId,
    ) -> Option<String> {
        let voice = self.voice.as_ref()?;
        let MessageContent::Media { items, caption } = content else {
            return None;
        };
        let note = items
            .first()
            .filter(|m| m.kind == MediaKind::Audio)
            .filter(|_| caption.as_deref().is_none_or(|c| c.trim().is_empty()))?;
        let kept = turn_media(conversation, cause, 0).and_then(|m| m.stored.clone());
        let heard = async {
            let audio = self
                .audio(tenant, conversation, note, kept.as_deref(), voice.max_bytes)
                .await?;
            voice
                .transcriber
                .transcribe(&audio, conversation.locale)
                .await
        }
        .await;
        match heard {
            Ok(words) if !words.is_empty() => {
                if let Some(turn) = conversation.turn_of_mut(cause) {
                    turn.text.clone_from(&words);
                }
                Some(words)
            }
            Ok(_) => None,
            Err(error) => {
                warn!(conversation = %conversation.id.masked(), %error, "A voice note could not be transcribed; a person gets it.");
                None
            }
        }
    }

    /// A voice note's audio: the kept copy when there is one (no second download), else from
    /// the provider.
    async fn audio(
        &self,
        tenant: &Tenant,
        conversation: &Conversation,
        note: &MediaRef,
        kept: Option<&str>,
        max_bytes: usize,
    ) -> Result<FetchedMedia, PortError> {
        let Some(media) = &self.media else {
            return Err(PortError::permanent(
                "voice notes need the media download (with_media)",
            ));
        };
        let copy = match (kept, &media.store) {
            (Some(key), Some(store)) => store.get(&tenant.id, key).await?,
            _ => None,
        };
        let audio = match copy {
            Some(audio) => audio,
            None => {
                media
                    .fetcher
                    .fetch(tenant, conversation.channel, note, max_bytes)
                    .await?
            }
        };
        if audio.bytes.len() > max_bytes {
            return Err(PortError::permanent(format!(
                "the voice note is larger than the {max_bytes} bytes transcription takes"
            )));
        }
        Ok(audio)
    }
}

/// Item `index` of the media on the turn that recorded message `cause`.
fn turn_media<'c>(
    conversation: &'c mut Conversation,
    cause: &ProviderMessageId,
    index: usize,
) -> Option<&'c mut MediaRef> {
    conversation
        .turn_of_mut(cause)
        .and_then(|t| t.media.get_mut(index))
}
