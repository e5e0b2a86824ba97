//! `GET /media/{tenant}/{key}`: the files agents send, for the provider to fetch, and customers'
//! files behind a signed link, for an agent at an external desk.
//!
//! WhatsApp's providers take a file to send as a link (Twilio's `MediaUrl`, Meta's `link`) and
//! fetch it without credentials, so this route is public. It serves files an agent sent by key
//! alone (`out-` and 128 random bits, unguessable: a capability URL); what customers sent only
//! with a signature that has not expired ([`atiende_app::media_links`]), and otherwise stays
//! behind the console's sign-in. Every refusal is the same 404.

use actix_web::{HttpResponse, http::header, web};
use atiende_app::media_links::LinkSignature;
use atiende_domain::{TenantId, is_media_key};
use atiende_platform::ApiError;

use crate::Ingest;

pub(crate) async fn file(
    ingest: web::Data<Ingest>,
    path: web::Path<(String, String)>,
    signature: web::Query<LinkSignature>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, key) = path.into_inner();
    let not_found = || ApiError::NotFound {
        code: "unknown_media",
        message: "no such file".to_owned(),
    };
    let (Ok(tenant), true) = (TenantId::parse(&tenant), is_media_key(&key)) else {
        return Err(not_found());
    };
    let (Some(store), Some(links)) = (&ingest.media, &ingest.media_links) else {
        return Err(not_found());
    };
    if !links.allows(&tenant, &key, &signature) {
        return Err(not_found());
    }
    let file = store.get(&tenant, &key).await?.ok_or_else(not_found)?;
    Ok(HttpResponse::Ok()
        .content_type(file.content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=86400"))
        .body(file.bytes))
}
