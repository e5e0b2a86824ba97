//! The Chatwoot API-inbox client behind the [`HumanDesk`] port (protocols.md §3.4).
//!
//! On a handoff it finds or creates the contact, opens a conversation in the tenant's API inbox
//! (or reopens the one it opened before), tagged with atiende's conversation id as a custom
//! attribute so webhooks can be traced back, and adds the packet as a private note, a label with
//! the reason and a priority. Later customer messages are posted as incoming messages. atiende
//! never posts outgoing public messages there, so nothing it writes comes back as an agent reply.

use std::sync::Arc;

use async_trait::async_trait;
use atiende_domain::{
    ChatwootSettings, ContactIdentity, DeskKind, HandoffPacket, MediaRef, OutboundAction, Tenant,
    Urgency,
};
use atiende_ports::{DeskError, DeskLinkStore, HumanDesk, channel::parse_retry_after};
use chrono::Utc;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::webhook::CONVERSATION_ATTRIBUTE;

/// Chatwoot as a desk.
pub struct ChatwootDesk {
    client: reqwest::Client,
    links: Arc<dyn DeskLinkStore>,
}

impl ChatwootDesk {
    /// A desk calling each tenant's Chatwoot with `client`, remembering conversations in `links`.
    pub fn new(client: reqwest::Client, links: Arc<dyn DeskLinkStore>) -> Self {
        Self { client, links }
    }

    /// One Application API call; failures classified for the dispatcher's retry decision.
    async fn call(
        &self,
        cw: &ChatwootSettings,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, DeskError> {
        let url = format!(
            "{}/api/v1/accounts/{}{path}",
            cw.base_url.trim_end_matches('/'),
            cw.account_id
        );
        let mut request = self
            .client
            .request(method, &url)
            .header("api_access_token", cw.api_token.expose_secret());
        if let Some(body) = body {
            request = request.json(&body);
        }
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
        let mut content = text.to_owned();
        for item in media {
            content.push_str(&format!("\n[{:?}] {}", item.kind, item.reference));
        }
        self.call(
            cw,
            Method::POST,
            &format!("/conversations/{id}/messages"),
            Some(json!({ "content": content, "message_type": "incoming", "private": false })),
        )
        .await?;
        Ok(())
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
