//! The Graph API client: `POST {graph}/{version}/{phone_number_id}/messages` (protocols.md §2.4).

use std::time::Duration;

use async_trait::async_trait;
use atiende_domain::{Channel, ContactIdentity, MediaKind, text::truncate_chars};
use atiende_ports::{
    ChannelSender, SendContent, SendError, SendReceipt, SendRequest, channel::parse_retry_after,
};
use chrono::Utc;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

/// The longest caption Meta takes on a media message.
const MAX_CAPTION_CHARS: usize = 1024;
/// Meta's limits on an interactive list: its body, button, rows and each row's title and
/// description.
const MAX_LIST_BODY_CHARS: usize = 1024;
const MAX_BUTTON_CHARS: usize = 20;
const MAX_LIST_ROWS: usize = 10;
const MAX_ROW_TITLE_CHARS: usize = 24;
const MAX_ROW_DESCRIPTION_CHARS: usize = 72;

/// Sends WhatsApp messages through Meta's Cloud API.
pub struct MetaSender {
    client: reqwest::Client,
    graph_base: String,
    version: String,
}

impl MetaSender {
    /// A sender calling `graph_base` (`https://graph.facebook.com`, or a fake in tests) at API
    /// `version` (`v25.0`).
    pub fn new(client: reqwest::Client, graph_base: &str, version: &str) -> Self {
        Self {
            client,
            graph_base: graph_base.trim_end_matches('/').to_owned(),
            version: version.to_owned(),
        }
    }
}

#[derive(Deserialize)]
struct Accepted {
    messages: Vec<AcceptedMessage>,
}

#[derive(Deserialize)]
struct AcceptedMessage {
    id: String,
}

#[derive(Deserialize, Default)]
struct GraphErrorBody {
    error: Option<GraphError>,
}

#[derive(Deserialize, Default)]
struct GraphError {
    message: Option<String>,
    code: Option<i64>,
    is_transient: Option<bool>,
}

/// Classifies a Graph API error by its code (protocols.md §2.4), then by HTTP status.
pub fn classify(
    status: u16,
    code: Option<i64>,
    is_transient: bool,
    message: String,
    retry_after: Option<Duration>,
) -> SendError {
    let code_text = code.map(|c| c.to_string());
    let transient = || SendError::Transient {
        code: code_text.clone(),
        message: message.clone(),
        retry_after,
    };
    match code {
        // More than 24 hours since the customer wrote: only templates.
        Some(131_047) => SendError::WindowClosed {
            code: "131047".to_owned(),
        },
        // Throughput, pair-rate and spam-rate limits; too many API calls; WABA rate limit.
        Some(4 | 80_007 | 130_429 | 131_056 | 131_048) => transient(),
        // Unknown error, service unavailable, temporary API problems.
        Some(1 | 2 | 131_000 | 131_016) => transient(),
        _ if is_transient || status == 429 || status == 408 || status >= 500 => transient(),
        _ => SendError::Permanent {
            code: code_text,
            message,
        },
    }
}

#[async_trait]
impl ChannelSender for MetaSender {
    fn channel(&self) -> Channel {
        Channel::MetaWhatsApp
    }

    async fn send(&self, request: SendRequest<'_>) -> Result<SendReceipt, SendError> {
        let Some(meta) = &request.tenant.meta else {
            return Err(SendError::NotConfigured(Channel::MetaWhatsApp));
        };
        // Username-only users are addressed by their business-scoped user id; the exact request
        // field for that is not confirmed by Meta's documentation yet (protocols.md §2.3).
        let to = match &request.to.identity {
            ContactIdentity::Phone(phone) => phone.digits().to_owned(),
            ContactIdentity::User(user) => request
                .to
                .phone
                .as_ref()
                .map_or_else(|| user.as_str().to_owned(), |p| p.digits().to_owned()),
        };
        let mut body = match request.content {
            SendContent::Text(text) => json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "text",
                "text": {
                    "preview_url": false,
                    "body": truncate_chars(&text, Channel::MetaWhatsApp.max_body_chars()),
                },
            }),
            SendContent::Choose {
                text,
                button,
                options,
            } => {
                let rows: Vec<_> = options
                    .into_iter()
                    .take(MAX_LIST_ROWS)
                    .map(|o| {
                        let mut row = json!({
                            "id": o.id,
                            "title": truncate_chars(&o.title, MAX_ROW_TITLE_CHARS),
                        });
                        if let Some(d) = o.description {
                            row["description"] =
                                json!(truncate_chars(&d, MAX_ROW_DESCRIPTION_CHARS));
                        }
                        row
                    })
                    .collect();
                json!({
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": to,
                    "type": "interactive",
                    "interactive": {
                        "type": "list",
                        "body": { "text": truncate_chars(&text, MAX_LIST_BODY_CHARS) },
                        "action": {
                            "button": truncate_chars(&button, MAX_BUTTON_CHARS),
                            "sections": [{ "rows": rows }],
                        },
                    },
                })
            }
            SendContent::Media {
                kind,
                url,
                filename,
                caption,
            } => {
                let kind = match kind {
                    MediaKind::Image => "image",
                    MediaKind::Audio => "audio",
                    MediaKind::Video => "video",
                    MediaKind::Document | MediaKind::Sticker | MediaKind::Other => "document",
                };
                let mut media = json!({ "link": url });
                // Audio takes no caption; the others do, up to 1,024 characters.
                if kind != "audio" && !caption.trim().is_empty() {
                    media["caption"] = json!(truncate_chars(&caption, MAX_CAPTION_CHARS));
                }
                if let (Some(name), "document") = (filename, kind) {
                    media["filename"] = json!(name);
                }
                let mut body = json!({
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": to,
                    "type": kind,
                });
                body[kind] = media;
                body
            }
            SendContent::Template {
                template,
                variables,
            } => {
                let (Some(name), Some(language)) = (template.meta_name, template.meta_language)
                else {
                    return Err(SendError::Permanent {
                        code: None,
                        message: "the template has no Meta name and language".to_owned(),
                    });
                };
                let mut template = json!({
                    "name": name,
                    "language": { "policy": "deterministic", "code": language },
                });
                if !variables.is_empty() {
                    let parameters: Vec<_> = variables
                        .into_iter()
                        .map(|v| json!({ "type": "text", "text": v }))
                        .collect();
                    template["components"] = json!([{ "type": "body", "parameters": parameters }]);
                }
                json!({
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": to,
                    "type": "template",
                    "template": template,
                })
            }
        };
        if let Some(reply_to) = request.in_reply_to
            && body["type"] == "text"
        {
            body["context"] = json!({ "message_id": reply_to.as_str() });
        }
        let url = format!(
            "{}/{}/{}/messages",
            self.graph_base, self.version, meta.phone_number_id
        );
        let response = self
            .client
            .post(&url)
            .bearer_auth(meta.access_token.expose_secret())
            .json(&body)
            .send()
            .await
            .map_err(|e| SendError::Transient {
                code: None,
                message: format!("request to the Graph API failed: {}", e.without_url()),
                retry_after: None,
            })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let bytes = response.bytes().await.map_err(|e| SendError::Transient {
            code: None,
            message: format!("reading the Graph API response failed: {}", e.without_url()),
            retry_after: None,
        })?;
        if (200..300).contains(&status) {
            let accepted: Accepted =
                serde_json::from_slice(&bytes).map_err(|e| SendError::Permanent {
                    code: None,
                    message: format!("unexpected Graph API response: {e}"),
                })?;
            let id = accepted
                .messages
                .into_iter()
                .next()
                .map(|m| m.id)
                .ok_or_else(|| SendError::Permanent {
                    code: None,
                    message: "the Graph API returned no message id".to_owned(),
                })?;
            return Ok(SendReceipt {
                provider_message_id: id,
                state: None,
            });
        }
        let error = serde_json::from_slice::<GraphErrorBody>(&bytes)
            .unwrap_or_default()
            .error
            .unwrap_or_default();
        Err(classify(
            status,
            error.code,
            error.is_transient.unwrap_or(false),
            error.message.unwrap_or_else(|| format!("HTTP {status}")),
            retry_after,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_errors_are_classified_for_retry() {
        let c = |status, code, transient| classify(status, code, transient, "x".into(), None);
        assert!(matches!(
            c(400, Some(131_047), false),
            SendError::WindowClosed { .. }
        ));
        assert!(matches!(
            c(400, Some(130_429), false),
            SendError::Transient { .. }
        ));
        assert!(matches!(
            c(400, Some(131_056), false),
            SendError::Transient { .. }
        ));
        assert!(matches!(
            c(500, Some(131_000), false),
            SendError::Transient { .. }
        ));
        assert!(matches!(
            c(400, Some(100), true),
            SendError::Transient { .. }
        ));
        assert!(matches!(c(503, None, false), SendError::Transient { .. }));
        assert!(matches!(
            c(401, Some(190), false),
            SendError::Permanent { .. }
        ));
        assert!(matches!(
            c(400, Some(132_001), false),
            SendError::Permanent { .. }
        ));
        assert!(matches!(
            c(400, Some(131_026), false),
            SendError::Permanent { .. }
        ));
    }
}
