//! Media files in a Cloud Storage bucket: the [`MediaStore`] of the four services, where the
//! processor keeps what customers send, the admin keeps what agents send, and ingest serves the
//! latter to the providers — three services, one bucket, no instance's own disk.
//!
//! Objects are named `{tenant}/{key}` and carry their MIME type as the object's content type.
//! Four calls of the JSON API (upload, download, list by prefix, delete) over the shared HTTP
//! client, authorized by Google's own credentials crate (the one the Pub/Sub SDK uses:
//! application default credentials, on Cloud Run the service account). Pointed at an emulator
//! (`STORAGE_EMULATOR_HOST`) it sends no credentials.

use async_trait::async_trait;
use atiende_domain::TenantId;
use atiende_ports::{FetchedMedia, MediaStore, PortError};
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use serde::Deserialize;

/// Google's endpoint for the JSON API.
pub const STORAGE_ENDPOINT: &str = "https://storage.googleapis.com";

/// A bucket of media files.
#[derive(Clone)]
pub struct CloudStorage {
    http: reqwest::Client,
    endpoint: String,
    bucket: String,
    credentials: Option<Credentials>,
}

impl std::fmt::Debug for CloudStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudStorage")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl CloudStorage {
    /// `bucket` on Google's endpoint with application default credentials; or, when `emulator`
    /// is given (`host:port` or a URL, as `STORAGE_EMULATOR_HOST`), on it without credentials.
    pub fn new(
        http: reqwest::Client,
        bucket: &str,
        emulator: Option<&str>,
    ) -> Result<Self, PortError> {
        let (endpoint, credentials) = match emulator {
            Some(host) if host.starts_with("http://") || host.starts_with("https://") => {
                (host.trim_end_matches('/').to_owned(), None)
            }
            Some(host) => (format!("http://{host}"), None),
            None => {
                let credentials = google_cloud_auth::credentials::Builder::default()
                    .build()
                    .map_err(|e| {
                        PortError::permanent_from("no Google credentials for Cloud Storage", e)
                    })?;
                (STORAGE_ENDPOINT.to_owned(), Some(credentials))
            }
        };
        Ok(Self {
            http,
            endpoint,
            bucket: bucket.to_owned(),
            credentials,
        })
    }

    /// The object's name, percent-encoded for a URL path (tenant ids and media keys are
    /// `[a-z0-9_-]`; only the separator needs it).
    fn object(tenant: &TenantId, key: &str) -> Result<String, PortError> {
        atiende_ports::check_media_key(key)?;
        Ok(format!("{tenant}%2F{key}"))
    }

    async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, PortError> {
        let Some(credentials) = &self.credentials else {
            return Ok(request);
        };
        match credentials.headers(http::Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => Ok(request.headers(data)),
            Ok(CacheableResource::NotModified) => Err(PortError::transient(
                "the credentials returned no headers to a request without a tag",
            )),
            Err(e) => Err(PortError::transient_from(
                "cannot get a token for Cloud Storage",
                e,
            )),
        }
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, PortError> {
        self.authorize(request)
            .await?
            .send()
            .await
            .map_err(|e| PortError::transient_from("Cloud Storage unreachable", e))
    }
}

/// A failed response as a [`PortError`] (the body is Google's error envelope; its message says
/// why, and never carries the object's bytes).
async fn failure(what: &str, response: reqwest::Response) -> PortError {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let message: String = body.chars().take(300).collect();
    PortError::for_http_status(
        status,
        format!("Cloud Storage {what}: HTTP {status}: {message}"),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listing {
    #[serde(default)]
    items: Vec<Item>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct Item {
    name: String,
}

#[async_trait]
impl MediaStore for CloudStorage {
    async fn put(
        &self,
        tenant: &TenantId,
        key: &str,
        media: &FetchedMedia,
    ) -> Result<(), PortError> {
        let object = Self::object(tenant, key)?;
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=media&name={object}",
            self.endpoint, self.bucket
        );
        let request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, &media.content_type)
            .body(media.bytes.clone());
        let response = self.call(request).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(failure("upload", response).await)
        }
    }

    async fn get(&self, tenant: &TenantId, key: &str) -> Result<Option<FetchedMedia>, PortError> {
        let object = Self::object(tenant, key)?;
        let url = format!(
            "{}/storage/v1/b/{}/o/{object}?alt=media",
            self.endpoint, self.bucket
        );
        let response = self.call(self.http.get(url)).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(failure("download", response).await);
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| PortError::transient_from("Cloud Storage download cut short", e))?;
        Ok(Some(FetchedMedia {
            content_type,
            bytes: bytes.to_vec(),
        }))
    }

    async fn forget_tenant(&self, tenant: &TenantId) -> Result<(), PortError> {
        let mut page: Option<String> = None;
        loop {
            let mut url = format!(
                "{}/storage/v1/b/{}/o?prefix={tenant}%2F&fields=items(name),nextPageToken",
                self.endpoint, self.bucket
            );
            if let Some(token) = &page {
                let token: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
                url.push_str(&format!("&pageToken={token}"));
            }
            let response = self.call(self.http.get(url)).await?;
            if !response.status().is_success() {
                return Err(failure("list", response).await);
            }
            let listing: Listing = response
                .json()
                .await
                .map_err(|e| PortError::transient_from("Cloud Storage listing unreadable", e))?;
            for item in listing.items {
                let name: String = form_urlencoded::byte_serialize(item.name.as_bytes()).collect();
                let url = format!("{}/storage/v1/b/{}/o/{name}", self.endpoint, self.bucket);
                let response = self.call(self.http.delete(url)).await?;
                // Gone already (another instance deleting the same tenant) is what we wanted.
                if !response.status().is_success()
                    && response.status() != reqwest::StatusCode::NOT_FOUND
                {
                    return Err(failure("delete", response).await);
                }
            }
            match listing.next_page_token {
                Some(token) if !token.is_empty() => page = Some(token),
                _ => return Ok(()),
            }
        }
    }
}
