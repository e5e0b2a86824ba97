//! Reading a knowledge upload: JSON documents or files sent as `multipart/form-data`.
//!
//! A multipart upload is the files themselves (any field name; each part with a `filename`) and
//! optionally a `kind` field (`text`, `faq` or `catalog`) that overrides the kind detected from
//! each file. Parts are read into memory under two limits: each file at most
//! [`MAX_UPLOAD_FILE_BYTES`] and the whole request at most `limits.max_admin_bytes`; beyond either
//! the answer is 413 and nothing is stored. A file of a type atiende does not read is a 415, an
//! empty or undecodable one a 400 — before anything of the upload is stored.

use actix_multipart::Multipart;
use actix_web::{HttpRequest, http::header, web};
use atiende_app::knowledge::{
    DocumentInput, DocumentKind,
    formats::{MAX_UPLOAD_FILE_BYTES, Upload, decode_upload},
};
use atiende_platform::{
    ApiError,
    http::{declared_length, read_body},
};
use futures_util::StreamExt;
use serde::Deserialize;

/// The JSON form of an upload (the seeds' `{"documents": [...]}`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KnowledgeUpload {
    documents: Vec<DocumentInput>,
}

/// The documents of an upload, whichever way it was sent.
pub(crate) async fn read_documents(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Vec<DocumentInput>, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => {
            let body = read_body(request, payload, limit).await?;
            let upload: KnowledgeUpload = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_body(format!("invalid JSON: {e}")))?;
            Ok(upload.documents)
        }
        "multipart/form-data" => read_multipart(request, payload, limit).await,
        _ => Err(ApiError::UnsupportedMediaType(
            "send application/json ({\"documents\": [...]}) or multipart/form-data with files"
                .to_owned(),
        )),
    }
}

async fn read_multipart(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Vec<DocumentInput>, ApiError> {
    declared_length(request, limit)?;
    let mut multipart = Multipart::new(request.headers(), payload);
    let mut kind = None;
    let mut files = Vec::new();
    let mut total = 0usize;
    while let Some(field) = multipart.next().await {
        let mut field =
            field.map_err(|e| ApiError::bad_body(format!("invalid multipart body: {e}")))?;
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let content_type = field.content_type().map(ToString::to_string);
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::bad_body(format!("invalid multipart body: {e}")))?;
            total += chunk.len();
            if total > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            if bytes.len() + chunk.len() > MAX_UPLOAD_FILE_BYTES {
                return Err(ApiError::LimitExceeded(format!(
                    "{} is larger than {MAX_UPLOAD_FILE_BYTES} bytes",
                    file_name.as_deref().unwrap_or(&name)
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        match file_name {
            Some(file_name) => files.push(Upload {
                file_name,
                content_type,
                bytes,
            }),
            None if name == "kind" => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| ApiError::bad_body("the kind field is not text"))?;
                kind = Some(DocumentKind::parse(text.trim()).map_err(atiende_app::AppError::from)?);
            }
            None => {
                return Err(ApiError::bad_body(format!(
                    "unexpected field {name:?}: send files (with a filename) and optionally a kind"
                )));
            }
        }
    }
    if files.is_empty() {
        return Err(ApiError::bad_body("the upload has no files"));
    }
    files
        .into_iter()
        .map(|upload| {
            let decoded = decode_upload(upload, kind)?;
            Ok(DocumentInput::Full {
                id: Some(decoded.id),
                title: Some(decoded.title),
                kind: Some(decoded.kind.as_str().to_owned()),
                content: decoded.content,
            })
        })
        .collect::<Result<_, atiende_app::AppError>>()
        .map_err(ApiError::from)
}

/// Whether the client asked for the upload to run as a background job (RFC 7240
/// `Prefer: respond-async`).
pub(crate) fn prefers_async(request: &HttpRequest) -> bool {
    request
        .headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}
