//! Downloads what customers send on Twilio: `GET {MediaUrl}` with the account's SID and auth
//! token as HTTP Basic credentials (protocols.md §1, "MediaUrl{N}"). Twilio answers with a
//! redirect to the file, which reqwest follows without the credentials.

use async_trait::async_trait;
use atiende_domain::{Channel, MediaRef, Tenant};
use atiende_ports::{FetchedMedia, MediaFetcher, PortError};
use secrecy::ExposeSecret;

/// Twilio's media downloads.
pub struct TwilioMedia {
    client: reqwest::Client,
    api_base: String,
}

impl TwilioMedia {
    /// Downloads from `api_base` (`https://api.twilio.com`, or a fake in tests) only: a media
    /// URL anywhere else never gets the account's credentials.
    pub fn new(client: reqwest::Client, api_base: &str) -> Self {
        Self {
            client,
            api_base: api_base.trim_end_matches('/').to_owned(),
        }
    }
}

#[async_trait]
impl MediaFetcher for TwilioMedia {
    async fn fetch(
        &self,
        tenant: &Tenant,
        channel: Channel,
        media: &MediaRef,
        max_bytes: usize,
    ) -> Result<FetchedMedia, PortError> {
        let twilio = tenant
            .twilio
            .as_ref()
            .filter(|_| channel == Channel::TwilioWhatsApp)
            .ok_or_else(|| PortError::permanent("not a Twilio message of a Twilio tenant"))?;
        if !media.reference.starts_with(&format!("{}/", self.api_base)) {
            return Err(PortError::permanent("the media URL is not Twilio's API"));
        }
        let response = self
            .client
            .get(&media.reference)
            .basic_auth(&twilio.account_sid, Some(twilio.auth_token.expose_secret()))
            .send()
            .await
            .map_err(|e| PortError::transient_from("Twilio media download failed", e))?;
        read_limited(response, max_bytes).await
    }
}

/// The body of a media download, refused above `max_bytes`; errors classified for retry.
async fn read_limited(
    mut response: reqwest::Response,
    max_bytes: usize,
) -> Result<FetchedMedia, PortError> {
    let status = response.status();
    if !status.is_success() {
        return Err(PortError::for_http_status(
            status.as_u16(),
            format!("Twilio media download answered {status}"),
        ));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| PortError::transient_from("media download interrupted", e))?
    {
        if bytes.len() + chunk.len() > max_bytes {
            return Err(PortError::permanent(format!(
                "the media is larger than {max_bytes} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(FetchedMedia {
        content_type,
        bytes,
    })
}
