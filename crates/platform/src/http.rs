//! HTTP helpers: the API error type (mapped to a status in exactly one place), bounded body
//! reading, and the request span that keeps secrets out of logs.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError, web};
use atiende_app::AppError;
use futures_util::StreamExt;
use serde_json::json;
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

/// An error as the HTTP API reports it: a status, a stable machine-readable `code` and a message.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or invalid.
    #[error("{message}")]
    BadRequest {
        /// Stable code (`invalid_body`, `validation`).
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// 401: credentials are missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: a signature or token did not match.
    #[error("{message}")]
    Forbidden {
        /// Stable code (`invalid_signature`).
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// 404: no such thing.
    #[error("{message}")]
    NotFound {
        /// Stable code (`unknown_tenant`, `not_found`).
        code: &'static str,
        /// What was not found.
        message: String,
    },
    /// 409: conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than `limit` bytes.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// 413: a document, file or tenant would exceed a limit (the message says which).
    #[error("{0}")]
    LimitExceeded(String),
    /// 415: the content type is not accepted.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: the client sent more than its share; it may try again after `retry_after_secs`.
    #[error("{message}")]
    TooManyRequests {
        /// What was limited.
        message: String,
        /// Seconds until the next request is allowed, sent as `Retry-After`.
        retry_after_secs: u64,
    },
    /// 503: try again later.
    #[error("{message}")]
    Unavailable {
        /// What is unavailable.
        message: String,
        /// Seconds to wait, sent as `Retry-After`.
        retry_after_secs: Option<u64>,
    },
    /// 500: a bug or a broken dependency; details go to the log, not the client.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A 400 with the `invalid_body` code.
    pub fn bad_body(message: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "invalid_body",
            message: message.into(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::LimitExceeded(_) => "limit_exceeded",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } | Self::LimitExceeded(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(detail) = self {
            tracing::error!(error = %detail, "Request failed.");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Self::Unauthorized(_) = self {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let retry_after = match self {
            Self::Unavailable {
                retry_after_secs, ..
            } => *retry_after_secs,
            Self::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            Self::BadRequest { .. }
            | Self::Unauthorized(_)
            | Self::Forbidden { .. }
            | Self::NotFound { .. }
            | Self::Conflict(_)
            | Self::PayloadTooLarge { .. }
            | Self::LimitExceeded(_)
            | Self::UnsupportedMediaType(_)
            | Self::Internal(_) => None,
        };
        if let Some(secs) = retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(json!({ "error": { "code": self.code(), "message": self.to_string() } }))
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Validation(e) => Self::BadRequest {
                code: "validation",
                message: e.to_string(),
            },
            AppError::NotFound(what) => Self::NotFound {
                code: "not_found",
                message: format!("{what} not found"),
            },
            AppError::Conflict(what) => Self::Conflict(what),
            AppError::Unsupported(what) => Self::UnsupportedMediaType(what),
            AppError::TooLarge(what) => Self::LimitExceeded(what),
            AppError::Forbidden(message) => Self::Forbidden {
                code: "forbidden",
                message,
            },
            unavailable @ AppError::Unavailable(_) => Self::Unavailable {
                retry_after_secs: unavailable
                    .retry_after()
                    .map(|d| d.as_secs().max(1))
                    .or(Some(1)),
                message: unavailable.to_string(),
            },
            AppError::Internal(e) => Self::Internal(e.to_string()),
        }
    }
}

impl From<atiende_ports::PortError> for ApiError {
    fn from(error: atiende_ports::PortError) -> Self {
        AppError::from(error).into()
    }
}

/// The body's declared `Content-Length`, if any; 413 when it is over `limit` (so a body that
/// says it is too large is refused before it is read).
pub fn declared_length(
    request: &actix_web::HttpRequest,
    limit: usize,
) -> Result<Option<usize>, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    Ok(declared)
}

/// Reads a request body of at most `limit` bytes; 413 beyond it (checked against
/// `Content-Length` first, then while streaming).
pub async fn read_body(
    request: &actix_web::HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let declared = declared_length(request, limit)?;
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_body(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The value of a header as text, if present and visible ASCII.
pub fn header_str<'a>(request: &'a actix_web::HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
}

/// JSON extractor settings: a size limit and 400/413 answers in the API's error format.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |error, _| {
            // `JsonPayloadError` is non-exhaustive: a catch-all arm is required.
            #[allow(clippy::wildcard_enum_match_arm)]
            let api = match &error {
                actix_web::error::JsonPayloadError::Overflow { .. }
                | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                    ApiError::PayloadTooLarge { limit }
                }
                actix_web::error::JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
                    "expected Content-Type: application/json".to_owned(),
                ),
                other => ApiError::bad_body(other.to_string()),
            };
            api.into()
        })
}

/// Path-parameter errors as 404s in the API format.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _| {
        ApiError::NotFound {
            code: "not_found",
            message: error.to_string(),
        }
        .into()
    })
}

/// Query-string errors as 400s in the API format.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|error, _| ApiError::bad_body(error.to_string()).into())
}

/// The request span: method, route template and status — never the query string (Meta puts the
/// verify token there) nor the client's address.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let span = tracing::info_span!(
            "http.request",
            http.method = %request.method(),
            http.route = tracing::field::Empty,
            http.status_code = tracing::field::Empty,
        );
        // Resolving the route template walks actix's resource map with regex matching (~7% of
        // ingest's CPU in profiles): only pay for it when the span is recorded.
        if let Some(parent) = request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::trace::TraceParent::parse)
        {
            parent.adopt(&span);
        }
        if !span.is_disabled() {
            let route = request
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned());
            span.record("http.route", route.as_str());
        }
        span
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let status = match outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("http.status_code", status.as_u16());
        if status.is_server_error() {
            tracing::warn!(parent: &span, status = status.as_u16(), "Request failed.");
        }
    }
}

/// The answer for unknown routes.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        code: "not_found",
        message: "no such route".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{App, test};

    #[actix_web::test]
    async fn errors_render_as_json_with_a_stable_code() {
        let app = test::init_service(App::new().route(
            "/",
            web::get().to(|| async {
                Err::<HttpResponse, _>(ApiError::Unavailable {
                    message: "busy".into(),
                    retry_after_secs: Some(3),
                })
            }),
        ))
        .await;
        let response =
            test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get("retry-after").unwrap(), "3");
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(body["error"]["code"], "unavailable");
    }

    #[actix_web::test]
    async fn oversized_bodies_are_413_before_they_are_read() {
        let app = test::init_service(App::new().route(
            "/",
            web::post().to(
                |req: actix_web::HttpRequest, payload: web::Payload| async move {
                    read_body(&req, payload, 10)
                        .await
                        .map(|b| HttpResponse::Ok().body(b))
                },
            ),
        ))
        .await;
        let ok = test::TestRequest::post()
            .uri("/")
            .set_payload("short")
            .to_request();
        assert_eq!(test::call_service(&app, ok).await.status(), StatusCode::OK);
        let big = test::TestRequest::post()
            .uri("/")
            .set_payload("x".repeat(11))
            .to_request();
        assert_eq!(
            test::call_service(&app, big).await.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
