//! The built-in web chat as a channel: replies are appended to the visitor's transcript, which
//! the page polls. It goes through the same ingest → processor → dispatcher path as WhatsApp.

use std::sync::Arc;

use async_trait::async_trait;
use atiende_domain::{Channel, ContactIdentity};
use atiende_ports::{
    ChannelSender, Clock, SendContent, SendError, SendReceipt, SendRequest, WebChatStore,
};

/// Sends replies to web chat visitors.
pub struct WebChatSender {
    store: Arc<dyn WebChatStore>,
    clock: Arc<dyn Clock>,
}

impl WebChatSender {
    /// Builds the sender.
    pub fn new(store: Arc<dyn WebChatStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }
}

#[async_trait]
impl ChannelSender for WebChatSender {
    fn channel(&self) -> Channel {
        Channel::WebChat
    }

    async fn send(&self, request: SendRequest<'_>) -> Result<SendReceipt, SendError> {
        let ContactIdentity::User(session) = &request.to.identity else {
            return Err(SendError::Permanent {
                code: None,
                message: "web chat visitors are addressed by session id".to_owned(),
            });
        };
        let text = match request.content {
            SendContent::Text(text) | SendContent::Choose { text, .. } => text,
            // The visitor's browser opens the file from atiende's media URL.
            SendContent::Media { url, caption, .. } if caption.trim().is_empty() => url,
            SendContent::Media { url, caption, .. } => format!("{caption}\n{url}"),
            SendContent::Template { .. } => {
                return Err(SendError::Permanent {
                    code: None,
                    message: "the web chat has no templates".to_owned(),
                });
            }
        };
        let seq = self
            .store
            .append(
                &request.tenant.id,
                session.as_str(),
                request.author,
                &text,
                self.clock.now(),
            )
            .await
            .map_err(|e| {
                if e.is_transient() {
                    SendError::Transient {
                        code: None,
                        message: e.to_string(),
                        retry_after: None,
                    }
                } else {
                    SendError::Permanent {
                        code: None,
                        message: e.to_string(),
                    }
                }
            })?;
        Ok(SendReceipt {
            provider_message_id: format!("webchat-{session}-{seq}", session = session.as_str()),
            state: Some(atiende_domain::DeliveryState::Delivered),
        })
    }
}
