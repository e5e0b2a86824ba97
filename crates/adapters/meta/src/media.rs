//! Downloads what customers send on Meta's Cloud API (protocols.md §2, media): the message
//! carries a media id; `GET {graph}/{version}/{media-id}` with the tenant's access token gives a
//! short-lived URL and the file's size, and that URL gives the bytes, with the same token.

use async_trait::async_trait;
use atiende_domain::{Channel, MediaRef, Tenant};
use atiende_ports::{FetchedMedia, MediaFetcher, PortError};
use secrecy::ExposeSecret;
use serde::Deserialize;

/// Meta's media downloads.
pub struct MetaMedia {
    client: reqwest::Client,
    graph_base: String,
    version: String,
}

impl MetaMedia {
    /// Downloads through the Graph API at `graph_base` (`https://graph.facebook.com`, or a fake
    /// in tests), API `version`.
    pub fn new(client: reqwest::Client, graph_base: &str, version: &str) -> Self {
        Self {
            client,
            graph_base: graph_base.trim_end_matches('/').to_owned(),
            version: version.to_owned(),
        }
    }
}

#[derive(Deserialize)]
struct MediaInfo {
    url: String,
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    file_size: Option<u64>,
}

fn failed(step: &str, status: reqwest::StatusCode) -> PortError {
    PortError::for_http_status(
        status.as_u16(),
        format!("Meta media {step} answered {status}"),
    )
}

#[async_trait]
impl MediaFetcher for MetaMedia {
    async fn fetch(
        &self,
        tenant: &Tenant,
        channel: Channel,
        media: &MediaRef,
        max_bytes: usize,
    ) -> Result<FetchedMedia, PortError> {
        let meta = tenant
            .meta
            .as_ref()
            .filter(|_| channel == Channel::MetaWhatsApp)
            .ok_or_else(|| PortError::permanent("not a Meta message of a Meta tenant"))?;
        let token = meta.access_token.expose_secret();
        let id = &media.reference;
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(PortError::permanent("not a Meta media id"));
        }
        let response = self
            .client
            .get(format!("{}/{}/{id}", self.graph_base, self.version))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| PortError::transient_from("Meta media lookup failed", e))?;
        if !response.status().is_success() {
            return Err(failed("lookup", response.status()));
        }
        let info: MediaInfo = response
            .json()
            .await
            .map_err(|e| PortError::permanent_from("Meta media lookup unreadable", e))?;
        let too_large = |size: usize| {
            PortError::permanent(format!(
                "the media ({size} bytes) is larger than {max_bytes}"
            ))
        };
        if let Some(size) = info.file_size.and_then(|s| usize::try_from(s).ok())
            && size > max_bytes
        {
            return Err(too_large(size));
        }
        let response = self
            .client
            .get(&info.url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| PortError::transient_from("Meta media download failed", e))?;
        if !response.status().is_success() {
            return Err(failed("download", response.status()));
        }
        let content_type = info
            .mime_type
            .or_else(|| media.content_type.clone())
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| PortError::transient_from("Meta media download interrupted", e))?;
        if bytes.len() > max_bytes {
            return Err(too_large(bytes.len()));
        }
        Ok(FetchedMedia {
            content_type,
            bytes: bytes.to_vec(),
        })
    }
}
