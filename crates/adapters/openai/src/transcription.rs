//! Speech to text through an OpenAI-compatible `POST {base}/audio/transcriptions` (OpenAI's
//! `whisper-1` or `gpt-4o-mini-transcribe`, a LiteLLM proxy, a local server): a multipart form
//! with the audio `file`, the `model` and, when known, the `language`; the answer's `text`.

use std::time::Duration;

use async_trait::async_trait;
use atiende_domain::Locale;
use atiende_ports::{FetchedMedia, PortError, Transcriber};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// One transcription model at one endpoint.
pub struct OpenAiTranscriber {
    client: reqwest::Client,
    base_url: String,
    model: String,
    api_key: Option<SecretString>,
    timeout: Duration,
}

impl OpenAiTranscriber {
    /// A transcriber for `model` at `base_url` (up to `/audio/transcriptions`).
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        model: &str,
        api_key: Option<SecretString>,
        timeout: Duration,
    ) -> Self {
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            api_key,
            timeout,
        }
    }
}

#[derive(Deserialize)]
struct Transcription {
    text: String,
}

/// A file name the endpoint accepts for `content_type` (it reads the format from the name).
fn file_name(content_type: &str) -> &'static str {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    match essence {
        "audio/mpeg" | "audio/mp3" => "voice.mp3",
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" | "audio/aac" => "voice.m4a",
        "audio/wav" | "audio/x-wav" => "voice.wav",
        "audio/webm" => "voice.webm",
        // WhatsApp's voice notes are Opus in Ogg.
        _ => "voice.ogg",
    }
}

#[async_trait]
impl Transcriber for OpenAiTranscriber {
    async fn transcribe(
        &self,
        audio: &FetchedMedia,
        language: Option<Locale>,
    ) -> Result<String, PortError> {
        let part = reqwest::multipart::Part::bytes(audio.bytes.clone())
            .file_name(file_name(&audio.content_type))
            .mime_str(&audio.content_type)
            .map_err(|e| PortError::permanent_from("unusable audio type", e))?;
        let mut form = reqwest::multipart::Form::new()
            .part("file", part)
            .text("model", self.model.clone());
        if let Some(language) = language {
            form = form.text("language", language.as_str());
        }
        let mut request = self
            .client
            .post(format!("{}/audio/transcriptions", self.base_url))
            .timeout(self.timeout)
            .multipart(form);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = request
            .send()
            .await
            .map_err(|e| PortError::transient_from("transcription request failed", e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(PortError::for_http_status(
                status.as_u16(),
                format!("transcription answered {status}"),
            ));
        }
        let body: Transcription = response
            .json()
            .await
            .map_err(|e| PortError::permanent_from("transcription answer unreadable", e))?;
        Ok(body.text.trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_voice_notes_are_named_for_their_format() {
        assert_eq!(file_name("audio/ogg; codecs=opus"), "voice.ogg");
        assert_eq!(file_name("audio/mpeg"), "voice.mp3");
        assert_eq!(file_name("audio/mp4"), "voice.m4a");
    }
}
