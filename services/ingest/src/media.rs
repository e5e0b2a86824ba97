//! `GET /media/{tenant}/{key}`: the files agents send, for the provider to fetch.
//!
//! WhatsApp's providers take a file to send as a link (Twilio's `MediaUrl`, Meta's `link`) and
//! fetch it without credentials, so this route is public. It serves only keys of files an agent
//! sent (`out-` and 128 random bits, unguessable: a capability URL, like a presigned one); what
//! customers sent stays behind the console's sign-in.

use actix_web::{HttpResponse, http::header, web};
use atiende_domain::{TenantId, is_outgoing_media_key};
use atiende_platform::ApiError;

use crate::Ingest;

pub(crate) async fn file(
    ingest: web::Data<Ingest>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, key) = path.into_inner();
    let not_found = || ApiError::NotFound {
        code: "unknown_media",
        message: "no such file".to_owned(),
    };
    let (Ok(tenant), true) = (TenantId::parse(&tenant), is_outgoing_media_key(&key)) else {
        return Err(not_found());
    };
    let Some(store) = &ingest.media else {
        return Err(not_found());
    };
    let file = store.get(&tenant, &key).await?.ok_or_else(not_found)?;
    Ok(HttpResponse::Ok()
        .content_type(file.content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=86400"))
        .body(file.bytes))
}
