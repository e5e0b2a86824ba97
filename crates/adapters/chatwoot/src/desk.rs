//! The Chatwoot API-inbox client behind the [`HumanDesk`] port (protocols.md §3.4).
//!
//! On a handoff it finds or creates the contact, opens a conversation in the tenant's API inbox
//! (or reopens the one it opened before), tagged with atiende's conversation id as a custom
//! attribute so webhooks can be traced back, and adds the packet as a private note, a label with
//! the reason and a priority. Later customer messages are posted as incoming messages. Files the
//! customer sent (kept in the media store) go as attachments, before the handoff and after.
//! atiende never posts outgoing public messages there, so nothing it writes comes back as an
//! agent reply.

use std::sync::Arc;

use async_trait::async_trait;
use atiende_domain::{
    Author, ChatwootSettings, ContactIdentity, DeskKind, HandoffPacket, MediaRef, OutboundAction,
    Tenant, Urgency,
};
use atiende_ports::{DeskError, DeskLinkStore, HumanDesk, MediaStore, channel::parse_retry_after};
use chrono::Utc;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::webhook::CONVERSATION_ATTRIBUTE;

/// Chatwoot as a desk.
pub struct ChatwootDesk {
    client: reqwest::Client,
    links: Arc<dyn DeskLinkStore>,
    media: Option<Arc<dyn MediaStore>>,
}

impl ChatwootDesk {
    /// A desk calling each tenant's Chatwoot with `client`, remembering conversations in `links`.
    pub fn new(client: reqwest::Client, links: Arc<dyn DeskLinkStore>) -> Self {
        Self {
            client,
            links,
            media: None,
        }
    }

    /// Attaches the files customers sent (kept in `store`) to the messages posted to Chatwoot, so
    /// an agent there sees the photo, not a provider reference.
    #[must_use]
    pub fn with_media(mut self, store: Arc<dyn MediaStore>) -> Self {
        self.media = Some(store);
        self
    }

    fn request(&self, cw: &ChatwootSettings, method: Method, path: &str) -> RequestBuilder {
        let url = format!(
            "{}/api/v1/accounts/{}{path}",
            cw.base_url.trim_end_matches('/'),
            cw.account_id
        );
        self.client
            .request(method, &url)
            .header("api_access_token", cw.api_token.expose_secret())
    }

    /// One Application API call; failures classified for the dispatcher's retry decision.
    async fn call(
        &self,
        cw: &ChatwootSettings,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, DeskError> {
        let mut request = self.request(cw, method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(path, request).await
    }

    /// Posts a customer's message with the kept files of `media` as `attachments[]`
    /// (multipart, protocols.md §3.4). A file that was not kept, or cannot be read now, is named
    /// in the text instead.
    async fn post_incoming(
        &self,
        cw: &ChatwootSettings,
        tenant: &Tenant,
        id: &str,
        text: &str,
        media: &[MediaRef],
    ) -> Result<(), DeskError> {
        let path = format!("/conversations/{id}/messages");
        let mut content = text.to_owned();
        let mut files = Vec::new();
        for item in media {
            let kept = match (&self.media, &item.stored) {
                (Some(store), Some(key)) => store.get(&tenant.id, key).await.ok().flatten(),
                _ => None,
            };
            match kept {
                Some(file) => files.push((item, file)),
                None => content.push_str(&format!("\n[{:?}] {}", item.kind, item.reference)),
            }
        }
        if files.is_empty() {
            let body = json!({ "content": content, "message_type": "incoming", "private": false });
            return self
                .call(cw, Method::POST, &path, Some(body))
                .await
                .map(drop);
        }
        let mut form = Form::new()
            .text("content", content)
            .text("message_type", "incoming")
            .text("private", "false");
        for (item, file) in files {
            let name = item
                .filename
                .clone()
                .or_else(|| item.stored.clone())
                .unwrap_or_else(|| "file".to_owned());
            let part = Part::bytes(file.bytes)
                .file_name(name)
                .mime_str(&file.content_type)
                .map_err(|e| DeskError::Permanent {
                    message: format!("the file's MIME type is not valid: {e}"),
                })?;
            form = form.part("attachments[]", part);
        }
        let request = self.request(cw, Method::POST, &path).multipart(form);
        self.send(&path, request).await.map(drop)
    }

    async fn send(&self, path: &str, request: RequestBuilder) -> Result<Value, DeskError> {
        let response = request.send().await.map_err(|e| DeskError::Transient {
            message: format!("request to Chatwoot failed: {}", e.without_url()),
            retry_after: None,
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let bytes = response.bytes().await.map_err(|e| DeskError::Transient {
            message: format!("reading Chatwoot's response failed: {}", e.without_url()),
            retry_after: None,
        })?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if (200..=299).contains(&status) {
            return Ok(value);
        }
        let detail = format!(" to {path}: {}", describe(&value));
        Err(DeskError::from_status(
            "Chatwoot",
            status,
            retry_after,
            &detail,
        ))
    }

    /// The contact for the customer — found by atiende's identifier, created on first contact —
    /// and its source id in the tenant's inbox.
    async fn contact(
        &self,
        cw: &ChatwootSettings,
        packet: &HandoffPacket,
    ) -> Result<(u64, String), DeskError> {
        let identifier = format!("atiende:{}", packet.contact.identity.key());
        let query: String = form_urlencoded::byte_serialize(identifier.as_bytes()).collect();
        let found = self
            .call(
                cw,
                Method::GET,
                &format!("/contacts/search?q={query}"),
                None,
            )
            .await?;
        let known = unwrap_payload(&found)
            .as_array()
            .and_then(|contacts| {
                contacts
                    .iter()
                    .find(|c| c["identifier"] == identifier.as_str())
            })
            .and_then(|c| c["id"].as_u64());
        if let Some(id) = known {
            // Handed off before, perhaps through another inbox: make sure of a place in this one.
            let inbox = self
                .call(
                    cw,
                    Method::POST,
                    &format!("/contacts/{id}/contact_inboxes"),
                    Some(json!({ "inbox_id": cw.inbox_id })),
                )
                .await?;
            let source = inbox["source_id"]
                .as_str()
                .ok_or_else(|| DeskError::Permanent {
                    message: "Chatwoot returned a contact inbox without source_id".to_owned(),
                })?;
            return Ok((id, source.to_owned()));
        }
        let mut body = json!({
            "inbox_id": cw.inbox_id,
            "name": packet.contact.display_name(),
            "identifier": identifier,
        });
        if let ContactIdentity::Phone(phone) = &packet.contact.identity {
            body["phone_number"] = json!(phone.as_str());
        }
        let created = self.call(cw, Method::POST, "/contacts", Some(body)).await?;
        let payload = unwrap_payload(&created);
        match (
            payload["contact"]["id"].as_u64(),
            payload["contact_inbox"]["source_id"].as_str(),
        ) {
            (Some(id), Some(source)) => Ok((id, source.to_owned())),
            _ => Err(DeskError::Permanent {
                message: "Chatwoot created a contact without id or source_id".to_owned(),
            }),
        }
    }

    fn settings(tenant: &Tenant) -> Result<&ChatwootSettings, DeskError> {
        tenant
            .chatwoot
            .as_ref()
            .ok_or(DeskError::NotConfigured("chatwoot"))
    }
}

#[async_trait]
impl HumanDesk for ChatwootDesk {
    fn kind(&self) -> DeskKind {
        DeskKind::Chatwoot
    }

    async fn open(
        &self,
        tenant: &Tenant,
        action: &OutboundAction,
        packet: &HandoffPacket,
    ) -> Result<(), DeskError> {
        let cw = Self::settings(tenant)?;
        let attributes = json!({
            CONVERSATION_ATTRIBUTE: action.conversation.as_str(),
            "atiende_ticket": packet.ticket.as_str(),
            "atiende_reason": packet.reason.as_str(),
        });
        let link = self
            .links
            .link(&action.conversation, DeskKind::Chatwoot)
            .await
            .map_err(store_error)?;
        let id = match link {
            Some(id) => {
                // Handed off again after a resolution: reopen the same conversation.
                self.call(
                    cw,
                    Method::POST,
                    &format!("/conversations/{id}/custom_attributes"),
                    Some(json!({ "custom_attributes": attributes })),
                )
                .await?;
                self.call(
                    cw,
                    Method::POST,
                    &format!("/conversations/{id}/toggle_status"),
                    Some(json!({ "status": "open" })),
                )
                .await?;
                id
            }
            None => {
                let (contact, source) = self.contact(cw, packet).await?;
                let created = self
                    .call(
                        cw,
                        Method::POST,
                        "/conversations",
                        Some(json!({
                            "source_id": source,
                            "inbox_id": cw.inbox_id,
                            "contact_id": contact,
                            "status": "open",
                            "custom_attributes": attributes,
                        })),
                    )
                    .await?;
                let id = created["id"]
                    .as_u64()
                    .ok_or_else(|| DeskError::Permanent {
                        message: "Chatwoot created a conversation without an id".to_owned(),
                    })?
                    .to_string();
                // Remembered at once: a retry after a later failure reuses this conversation.
                self.links
                    .set_link(&action.conversation, DeskKind::Chatwoot, &id)
                    .await
                    .map_err(store_error)?;
                id
            }
        };
        self.call(
            cw,
            Method::POST,
            &format!("/conversations/{id}/messages"),
            Some(json!({
                "content": packet.render_note(),
                "message_type": "outgoing",
                "private": true,
            })),
        )
        .await?;
        // The files the customer sent before the handoff (the photo of the broken part), as
        // their own messages with the files attached: the note can only name them.
        if self.media.is_some() {
            for turn in packet.transcript.iter().filter(|t| {
                t.author == Author::Customer && t.media.iter().any(|m| m.stored.is_some())
            }) {
                self.post_incoming(cw, tenant, &id, &turn.text, &turn.media)
                    .await?;
            }
        }
        self.call(
            cw,
            Method::POST,
            &format!("/conversations/{id}/labels"),
            Some(json!({ "labels": ["atiende", packet.reason.as_str()] })),
        )
        .await?;
        let priority = match Urgency::of_handoff(packet.reason) {
            Urgency::High => "high",
            Urgency::Medium => "medium",
            Urgency::Low => "low",
        };
        self.call(
            cw,
            Method::POST,
            &format!("/conversations/{id}/toggle_priority"),
            Some(json!({ "priority": priority })),
        )
        .await?;
        Ok(())
    }

    async fn relay(
        &self,
        tenant: &Tenant,
        action: &OutboundAction,
        text: &str,
        media: &[MediaRef],
    ) -> Result<(), DeskError> {
        let cw = Self::settings(tenant)?;
        let Some(id) = self
            .links
            .link(&action.conversation, DeskKind::Chatwoot)
            .await
            .map_err(store_error)?
        else {
            return Err(DeskError::Permanent {
                message: "the conversation was never opened at Chatwoot".to_owned(),
            });
        };
        self.post_incoming(cw, tenant, &id, text, media).await
    }
}

/// Chatwoot wraps some answers in `payload`, not all.
fn unwrap_payload(value: &Value) -> &Value {
    if value.get("payload").is_some() {
        &value["payload"]
    } else {
        value
    }
}

/// The error text of a Chatwoot answer, short.
fn describe(value: &Value) -> String {
    let text = value["message"]
        .as_str()
        .or_else(|| value["error"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string());
    text.chars().take(200).collect()
}

fn store_error(e: atiende_ports::PortError) -> DeskError {
    DeskError::Transient {
        message: format!("the desk link store failed: {e}"),
        retry_after: None,
    }
}
