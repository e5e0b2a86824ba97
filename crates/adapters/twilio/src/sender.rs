//! The Twilio Messages API client (protocols.md §1.5), with errors classified for retry.

use std::time::Duration;

use async_trait::async_trait;
use atiende_domain::{Channel, ContactIdentity, DeliveryState, text::truncate_chars};
use atiende_ports::{
    ChannelSender, SendContent, SendError, SendReceipt, SendRequest, channel::parse_retry_after,
};
use chrono::Utc;
use secrecy::ExposeSecret;
use serde::Deserialize;
use tracing::debug;

/// Sends WhatsApp messages through Twilio.
pub struct TwilioSender {
    client: reqwest::Client,
    api_base: String,
    public_url: Option<String>,
}

impl TwilioSender {
    /// A sender calling `api_base` (`https://api.twilio.com`, or a fake in tests). With a
    /// `public_url`, Twilio is asked to post delivery receipts to
    /// `{public_url}/webhooks/twilio/{tenant}/status`.
    pub fn new(client: reqwest::Client, api_base: &str, public_url: Option<&str>) -> Self {
        Self {
            client,
            api_base: api_base.trim_end_matches('/').to_owned(),
            public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
        }
    }
}

#[derive(Deserialize)]
struct Created {
    sid: String,
    status: Option<String>,
}

/// Twilio's error body: the legacy `{code, message, more_info, status}` or RFC 9457's
/// `{type, title, status, code, detail}`.
#[derive(Deserialize, Default)]
struct ErrorBody {
    code: Option<serde_json::Value>,
    message: Option<String>,
    detail: Option<String>,
    title: Option<String>,
}

/// Classifies a Twilio error by its code, falling back to the HTTP status.
pub fn classify(
    status: u16,
    code: Option<u32>,
    message: String,
    retry_after: Option<Duration>,
) -> SendError {
    let code_text = code.map(|c| c.to_string());
    match code {
        // Outside the 24-hour window; a template is needed (protocols.md §1.7).
        Some(63016) => SendError::WindowClosed {
            code: "63016".to_owned(),
        },
        // Rate and throughput limits, Twilio-side "too many requests", daily limit.
        Some(63018 | 63017 | 63038 | 20429) => SendError::Transient {
            code: code_text,
            message,
            retry_after,
        },
        // Channel and carrier hiccups Twilio reports as temporary.
        Some(63012 | 63021 | 30001 | 30008) => SendError::Transient {
            code: code_text,
            message,
            retry_after,
        },
        Some(_) if status == 429 || status >= 500 => SendError::Transient {
            code: code_text,
            message,
            retry_after,
        },
        Some(_) => SendError::Permanent {
            code: code_text,
            message,
        },
        None if status == 429 || status == 408 || status >= 500 => SendError::Transient {
            code: None,
            message,
            retry_after,
        },
        None => SendError::Permanent {
            code: None,
            message,
        },
    }
}

#[async_trait]
impl ChannelSender for TwilioSender {
    fn channel(&self) -> Channel {
        Channel::TwilioWhatsApp
    }

    async fn send(&self, request: SendRequest<'_>) -> Result<SendReceipt, SendError> {
        let Some(twilio) = &request.tenant.twilio else {
            return Err(SendError::NotConfigured(Channel::TwilioWhatsApp));
        };
        let to = match &request.to.identity {
            ContactIdentity::Phone(phone) => format!("whatsapp:{phone}"),
            ContactIdentity::User(user) => format!("whatsapp:{}", user.as_str()),
        };
        let mut form: Vec<(&str, String)> = vec![("To", to)];
        match &twilio.messaging_service_sid {
            Some(mg) => form.push(("MessagingServiceSid", mg.clone())),
            None => form.push(("From", format!("whatsapp:{}", twilio.whatsapp_number))),
        }
        match request.content {
            // Twilio's WhatsApp lists need a Content template; the question's text says how to
            // answer by typing.
            SendContent::Text(text) | SendContent::Choose { text, .. } => {
                form.push((
                    "Body",
                    truncate_chars(&text, Channel::TwilioWhatsApp.max_body_chars()),
                ));
            }
            SendContent::Media { url, caption, .. } => {
                if !caption.trim().is_empty() {
                    form.push((
                        "Body",
                        truncate_chars(&caption, Channel::TwilioWhatsApp.max_body_chars()),
                    ));
                }
                form.push(("MediaUrl", url));
            }
            SendContent::Template {
                template,
                variables,
            } => {
                let Some(content_sid) = template.twilio_content_sid else {
                    return Err(SendError::Permanent {
                        code: None,
                        message: "the template has no Twilio ContentSid".to_owned(),
                    });
                };
                form.push(("ContentSid", content_sid));
                if !variables.is_empty() {
                    let vars: serde_json::Map<String, serde_json::Value> = variables
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| ((i + 1).to_string(), serde_json::Value::String(v)))
                        .collect();
                    form.push((
                        "ContentVariables",
                        serde_json::Value::Object(vars).to_string(),
                    ));
                }
            }
        }
        if let Some(base) = &self.public_url {
            form.push((
                "StatusCallback",
                format!("{base}/webhooks/twilio/{}/status", request.tenant.id),
            ));
        }
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.api_base, twilio.account_sid
        );
        let response = self
            .client
            .post(&url)
            .basic_auth(&twilio.account_sid, Some(twilio.auth_token.expose_secret()))
            .form(&form)
            .send()
            .await
            .map_err(|e| SendError::Transient {
                code: None,
                message: format!("request to Twilio failed: {}", e.without_url()),
                retry_after: None,
            })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let body = response.bytes().await.map_err(|e| SendError::Transient {
            code: None,
            message: format!("reading Twilio's response failed: {}", e.without_url()),
            retry_after: None,
        })?;
        if (200..300).contains(&status) {
            let created: Created =
                serde_json::from_slice(&body).map_err(|e| SendError::Permanent {
                    code: None,
                    message: format!("unexpected Twilio response: {e}"),
                })?;
            debug!(sid = %created.sid, "Twilio accepted the message.");
            return Ok(SendReceipt {
                provider_message_id: created.sid,
                state: created.status.as_deref().and_then(DeliveryState::parse),
            });
        }
        let error: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
        let code = error.code.as_ref().and_then(|c| {
            c.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
        });
        let message = error
            .message
            .or(error.detail)
            .or(error.title)
            .unwrap_or_else(|| format!("HTTP {status}"));
        Err(classify(status, code, message, retry_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_errors_are_classified_for_retry() {
        let c = |status, code| classify(status, code, "x".into(), None);
        assert!(matches!(
            c(400, Some(63016)),
            SendError::WindowClosed { .. }
        ));
        assert!(matches!(c(429, Some(20429)), SendError::Transient { .. }));
        assert!(matches!(c(400, Some(63018)), SendError::Transient { .. }));
        assert!(matches!(c(503, None), SendError::Transient { .. }));
        assert!(matches!(c(500, Some(20500)), SendError::Transient { .. }));
        assert!(matches!(c(401, Some(20003)), SendError::Permanent { .. }));
        assert!(matches!(c(400, Some(21211)), SendError::Permanent { .. }));
        assert!(matches!(c(404, None), SendError::Permanent { .. }));
    }
}
