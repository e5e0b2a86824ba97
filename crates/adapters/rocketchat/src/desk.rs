//! The Rocket.Chat livechat client behind the [`HumanDesk`] port (protocols.md §4.3).
//!
//! The customer becomes a livechat visitor whose token is derived from the conversation and the
//! tenant's outgoing-webhook token (HMAC-SHA256): stable across retries, but unguessable, because
//! a visitor token is enough to read a livechat room's history. A handoff asks for the visitor's
//! open room (Rocket.Chat opens one if there is none), remembers it, and posts the handoff
//! packet into it; the customer's later messages are posted the same way. Visitors are
//! registered only when Rocket.Chat does not know the token, because that route allows five
//! calls a minute. Everything atiende posts carries an `_id` starting with
//! [`RELAY_PREFIX`](crate::webhook::RELAY_PREFIX) derived from the action, so a retried post is
//! the same message and the webhooks can tell atiende's posts from agents'. The livechat API
//! takes no files from atiende, so what the customer sent reaches the agent as signed, expiring
//! links to atiende's copy.

use std::sync::Arc;

use async_trait::async_trait;
use atiende_domain::{
    Author, ContactIdentity, ConversationId, DeskKind, HandoffPacket, MediaRef, OutboundAction,
    RocketChatSettings, Tenant,
};
use atiende_ports::{DeskError, DeskLinkStore, HumanDesk, MediaLinker, channel::parse_retry_after};
use chrono::Utc;
use hmac::{Hmac, Mac};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::webhook::RELAY_PREFIX;

/// Rocket.Chat as a desk.
pub struct RocketChatDesk {
    client: reqwest::Client,
    links: Arc<dyn DeskLinkStore>,
    media: Option<Arc<dyn MediaLinker>>,
}

/// A failed call: the classified error, and Rocket.Chat's error code when it gave one.
struct Failure {
    error: DeskError,
    code: Option<String>,
}

impl From<Failure> for DeskError {
    fn from(failure: Failure) -> Self {
        failure.error
    }
}

/// The livechat visitor token of `conversation`.
pub fn visitor_token(settings: &RocketChatSettings, conversation: &ConversationId) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(settings.outgoing_token.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(b"atiende livechat visitor\n");
    mac.update(conversation.as_str().as_bytes());
    let digest = mac.finalize().into_bytes();
    format!("{RELAY_PREFIX}{}", hex::encode(&digest[..16]))
}

/// The message id of what atiende posts for `action` (part `n` of it).
fn message_id(action: &OutboundAction, part: &str) -> String {
    let digest = Sha256::digest(format!("{}\n{part}", action.id).as_bytes());
    format!("{RELAY_PREFIX}{}", hex::encode(&digest[..12]))
}

impl RocketChatDesk {
    /// A desk calling each tenant's Rocket.Chat with `client`, remembering rooms in `links`.
    pub fn new(client: reqwest::Client, links: Arc<dyn DeskLinkStore>) -> Self {
        Self {
            client,
            links,
            media: None,
        }
    }

    /// Gives the files the customer sent as links an agent opens (signed and expiring, served
    /// by atiende's ingest): the livechat API takes no files from atiende, so without links
    /// an agent sees only what kind of file came.
    #[must_use]
    pub fn with_media_links(mut self, media: Arc<dyn MediaLinker>) -> Self {
        self.media = Some(media);
        self
    }

    /// A line per file: its kind and its link when it was kept and can be linked, else the
    /// provider's reference.
    fn media_lines(&self, tenant: &Tenant, media: &[MediaRef]) -> String {
        media
            .iter()
            .map(|item| {
                let link = (self.media.as_ref())
                    .zip(item.stored.as_deref())
                    .and_then(|(links, key)| links.link(&tenant.id, key));
                let name = item
                    .filename
                    .as_deref()
                    .map(|n| format!(" {n}"))
                    .unwrap_or_default();
                match link {
                    Some(link) => format!("\n[{:?}]{name} {link}", item.kind),
                    None => format!("\n[{:?}] {}", item.kind, item.reference),
                }
            })
            .collect()
    }

    fn settings(tenant: &Tenant) -> Result<&RocketChatSettings, DeskError> {
        tenant
            .rocketchat
            .as_ref()
            .ok_or(DeskError::NotConfigured("rocketchat"))
    }

    /// One livechat API call; failures classified for the dispatcher's retry decision.
    async fn call(
        &self,
        rc: &RocketChatSettings,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let url = format!(
            "{}/api/v1/livechat/{path_and_query}",
            rc.base_url.trim_end_matches('/')
        );
        let mut request = self.client.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let transient = |message: String| Failure {
            error: DeskError::Transient {
                message,
                retry_after: None,
            },
            code: None,
        };
        let response = request.send().await.map_err(|e| {
            transient(format!(
                "request to Rocket.Chat failed: {}",
                e.without_url()
            ))
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let bytes = response.bytes().await.map_err(|e| {
            transient(format!(
                "reading Rocket.Chat's response failed: {}",
                e.without_url()
            ))
        })?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let code = value["error"].as_str().map(str::to_owned);
        if (200..=299).contains(&status) && value["success"] != false {
            return Ok(value);
        }
        let detail = format!(
            " to {}: {}",
            path_and_query.split('?').next().unwrap_or_default(),
            code.as_deref().unwrap_or("no error code")
        );
        Err(Failure {
            error: DeskError::from_status("Rocket.Chat", status, retry_after, &detail),
            code,
        })
    }

    /// The visitor's open room (opened by Rocket.Chat if there is none), registering the visitor
    /// first if Rocket.Chat does not know the token; the room is remembered for the conversation.
    async fn room(
        &self,
        rc: &RocketChatSettings,
        action: &OutboundAction,
        packet: Option<&HandoffPacket>,
    ) -> Result<String, DeskError> {
        let token = visitor_token(rc, &action.conversation);
        let query = format!("room?token={token}");
        let room = match self.call(rc, Method::GET, &query, None).await {
            Ok(room) => room,
            Err(Failure {
                code: Some(code), ..
            }) if code == "invalid-token" => {
                self.register(rc, action, packet, &token).await?;
                self.call(rc, Method::GET, &query, None).await?
            }
            Err(failure) => return Err(failure.error),
        };
        let rid = room["room"]["_id"]
            .as_str()
            .ok_or_else(|| DeskError::Permanent {
                message: "Rocket.Chat returned a room without an _id".to_owned(),
            })?
            .to_owned();
        self.links
            .set_link(&action.conversation, DeskKind::RocketChat, &rid)
            .await
            .map_err(store_error)?;
        Ok(rid)
    }

    async fn register(
        &self,
        rc: &RocketChatSettings,
        action: &OutboundAction,
        packet: Option<&HandoffPacket>,
        token: &str,
    ) -> Result<(), DeskError> {
        let contact = packet.map_or(&action.to, |p| &p.contact);
        let mut visitor = json!({
            "token": token,
            "name": contact.display_name(),
            "customFields": [
                { "key": "atiende_conversation", "value": action.conversation.as_str(), "overwrite": true },
            ],
        });
        if let ContactIdentity::Phone(phone) = &contact.identity {
            visitor["phone"] = json!(phone.as_str());
        }
        if let Some(department) = &rc.department {
            visitor["department"] = json!(department);
        }
        self.call(
            rc,
            Method::POST,
            "visitor",
            Some(json!({ "visitor": visitor })),
        )
        .await?;
        Ok(())
    }

    /// Posts `text` into the room as the visitor, with a stable id.
    async fn post(
        &self,
        rc: &RocketChatSettings,
        action: &OutboundAction,
        rid: &str,
        part: &str,
        text: &str,
    ) -> Result<(), Failure> {
        let body = json!({
            "token": visitor_token(rc, &action.conversation),
            "rid": rid,
            "msg": text,
            "_id": message_id(action, part),
        });
        self.call(rc, Method::POST, "message", Some(body)).await?;
        Ok(())
    }
}

#[async_trait]
impl HumanDesk for RocketChatDesk {
    fn kind(&self) -> DeskKind {
        DeskKind::RocketChat
    }

    async fn open(
        &self,
        tenant: &Tenant,
        action: &OutboundAction,
        packet: &HandoffPacket,
    ) -> Result<(), DeskError> {
        let rc = Self::settings(tenant)?;
        let rid = self.room(rc, action, Some(packet)).await?;
        self.post(rc, action, &rid, "packet", &packet.render_note())
            .await?;
        // The files the customer sent before the handoff (the photo of the broken part), each
        // turn's as a message of its own with their links: the packet can only name them.
        if self.media.is_some() {
            let turns = packet.transcript.iter().filter(|t| {
                t.author == Author::Customer && t.media.iter().any(|m| m.stored.is_some())
            });
            for (n, turn) in turns.enumerate() {
                let content = format!("{}{}", turn.text, self.media_lines(tenant, &turn.media));
                self.post(
                    rc,
                    action,
                    &rid,
                    &format!("media-{n}"),
                    content.trim_start(),
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn relay(
        &self,
        tenant: &Tenant,
        action: &OutboundAction,
        text: &str,
        media: &[MediaRef],
    ) -> Result<(), DeskError> {
        let rc = Self::settings(tenant)?;
        let content = format!("{text}{}", self.media_lines(tenant, media));
        let content = content.trim_start();
        let rid = match self
            .links
            .link(&action.conversation, DeskKind::RocketChat)
            .await
            .map_err(store_error)?
        {
            Some(rid) => rid,
            None => self.room(rc, action, None).await?,
        };
        match self.post(rc, action, &rid, "relay", content).await {
            Ok(()) => Ok(()),
            // The agent closed the room at Rocket.Chat while atiende still had a person on it:
            // open the visitor's next room rather than lose the message.
            Err(Failure {
                code: Some(code), ..
            }) if matches!(
                code.as_str(),
                "room-closed" | "invalid-room" | "invalid-token"
            ) =>
            {
                let rid = self.room(rc, action, None).await?;
                Ok(self.post(rc, action, &rid, "relay", content).await?)
            }
            Err(failure) => Err(failure.error),
        }
    }
}

fn store_error(e: atiende_ports::PortError) -> DeskError {
    DeskError::Transient {
        message: format!("the desk link store failed: {e}"),
        retry_after: None,
    }
}
