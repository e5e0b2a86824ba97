//! Chatwoot's webhooks, read for what agents did (protocols.md §3.3).
//!
//! Only two things matter to atiende: a person's public reply (`message_created`, outgoing, not
//! private, sender type `user`) and a resolution (a conversation event whose status is
//! `resolved`). Everything else — private notes, messages from agent bots, the incoming messages
//! atiende itself relayed, typing indicators — is acknowledged and ignored, which is also what
//! keeps relays from looping. A conversation is found through the `atiende_conversation` custom
//! attribute atiende set when it opened it.

use atiende_domain::{Agent, DeskAction};
use serde_json::Value;

/// The custom attribute that names atiende's conversation in Chatwoot.
pub const CONVERSATION_ATTRIBUTE: &str = "atiende_conversation";

/// An agent's action read from a webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentAction {
    /// Unique per action, for redelivery detection.
    pub id: String,
    /// atiende's conversation id, as Chatwoot carries it (still to be validated).
    pub conversation: String,
    /// Who acted.
    pub agent: Agent,
    /// What they did.
    pub action: DeskAction,
}

/// What a webhook amounts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// An agent's action.
    Action(AgentAction),
    /// Nothing atiende acts on, and why.
    Ignored(&'static str),
}

/// Why a webhook body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Chatwoot webhook: {0}")]
pub struct WebhookError(pub String);

/// Reads a webhook body. `delivery` is the `X-Chatwoot-Delivery` header, stable across
/// Chatwoot's retries.
pub fn parse(body: &[u8], delivery: Option<&str>) -> Result<Parsed, WebhookError> {
    let event: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError(format!("not JSON: {e}")))?;
    let kind = event["event"]
        .as_str()
        .ok_or_else(|| WebhookError("no event name".to_owned()))?;
    match kind {
        "message_created" => message(&event),
        "conversation_status_changed" | "conversation_resolved" | "conversation_updated" => {
            status(&event, delivery)
        }
        _ => Ok(Parsed::Ignored("event not used")),
    }
}

fn message(event: &Value) -> Result<Parsed, WebhookError> {
    if event["message_type"] != "outgoing" {
        return Ok(Parsed::Ignored("not an outgoing message"));
    }
    if event["private"] != false {
        return Ok(Parsed::Ignored("private note"));
    }
    if event["sender"]["type"] != "user" {
        return Ok(Parsed::Ignored("not written by a person"));
    }
    let text = event["content"].as_str().unwrap_or_default().trim();
    // A file the agent attached reaches the customer as its link (Chatwoot's blob links are
    // signed and need no sign-in), rather than vanishing while the agent believes it was sent.
    let links: Vec<&str> = event["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["data_url"].as_str())
        .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
        .take(5)
        .collect();
    let text = [text]
        .into_iter()
        .chain(links)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    if text.is_empty() {
        return Ok(Parsed::Ignored("no text"));
    }
    let Some(conversation) =
        event["conversation"]["custom_attributes"][CONVERSATION_ATTRIBUTE].as_str()
    else {
        return Ok(Parsed::Ignored("not a conversation atiende opened"));
    };
    let id = event["id"]
        .as_u64()
        .ok_or_else(|| WebhookError("message without an id".to_owned()))?;
    Ok(Parsed::Action(AgentAction {
        id: format!("chatwoot:message:{id}"),
        conversation: conversation.to_owned(),
        agent: agent(&event["sender"])?,
        action: DeskAction::Reply { text },
    }))
}

fn status(event: &Value, delivery: Option<&str>) -> Result<Parsed, WebhookError> {
    if event["status"] != "resolved" {
        return Ok(Parsed::Ignored("not a resolution"));
    }
    let Some(conversation) = event["custom_attributes"][CONVERSATION_ATTRIBUTE].as_str() else {
        return Ok(Parsed::Ignored("not a conversation atiende opened"));
    };
    // Resolving twice (resolve, reopen, resolve) is two actions; a retried delivery is one.
    let occurrence = delivery
        .map(str::to_owned)
        .or_else(|| event["timestamp"].as_i64().map(|t| t.to_string()))
        .ok_or_else(|| {
            WebhookError("a resolution without a delivery id or timestamp".to_owned())
        })?;
    let assignee = &event["meta"]["assignee"];
    let agent = if assignee.is_object() {
        agent(assignee)?
    } else {
        Agent::new("chatwoot", "Chatwoot").map_err(|e| WebhookError(e.to_string()))?
    };
    Ok(Parsed::Action(AgentAction {
        id: format!("chatwoot:resolved:{conversation}:{occurrence}"),
        conversation: conversation.to_owned(),
        agent,
        action: DeskAction::Resolve,
    }))
}

fn agent(user: &Value) -> Result<Agent, WebhookError> {
    let id = user["id"]
        .as_u64()
        .ok_or_else(|| WebhookError("an agent without an id".to_owned()))?;
    let name = user["name"].as_str().unwrap_or("Chatwoot");
    Agent::new(format!("chatwoot:{id}"), name).map_err(|e| WebhookError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outgoing(extra: Value) -> Vec<u8> {
        let mut event = json!({
            "event": "message_created", "id": 77287, "content": "Hola, soy Ana",
            "message_type": "outgoing", "private": false,
            "sender": { "id": 7, "name": "Ana", "type": "user" },
            "conversation": { "id": 13098, "status": "open",
                "custom_attributes": { "atiende_conversation": "demo:twilio:+18095551010" } }
        });
        for (k, v) in extra.as_object().unwrap() {
            event[k] = v.clone();
        }
        serde_json::to_vec(&event).unwrap()
    }

    #[test]
    fn a_persons_public_reply_is_an_action() {
        let Parsed::Action(action) = parse(&outgoing(json!({})), None).unwrap() else {
            panic!()
        };
        assert_eq!(action.id, "chatwoot:message:77287");
        assert_eq!(action.conversation, "demo:twilio:+18095551010");
        assert_eq!(action.agent.name, "Ana");
        assert_eq!(
            action.action,
            DeskAction::Reply {
                text: "Hola, soy Ana".into()
            }
        );
    }

    #[test]
    fn an_agents_attachment_reaches_the_customer_as_its_link() {
        let url = "https://chat.example.com/rails/active_storage/blobs/redirect/eyJ/factura.pdf";
        let only_file = outgoing(json!({ "content": null,
            "attachments": [{ "file_type": "file", "data_url": url }] }));
        let Parsed::Action(action) = parse(&only_file, None).unwrap() else {
            panic!("a file without text is not dropped")
        };
        assert_eq!(action.action, DeskAction::Reply { text: url.into() });
        let with_text = outgoing(json!({ "attachments": [{ "data_url": url }] }));
        let Parsed::Action(action) = parse(&with_text, None).unwrap() else {
            panic!()
        };
        assert_eq!(
            action.action,
            DeskAction::Reply {
                text: format!("Hola, soy Ana\n{url}")
            }
        );
    }

    #[test]
    fn notes_bots_relays_and_foreign_conversations_are_ignored() {
        for extra in [
            json!({ "private": true }),
            json!({ "message_type": "incoming" }),
            json!({ "sender": { "id": 1, "name": "bot", "type": "agent_bot" } }),
            json!({ "content": "  " }),
            json!({ "conversation": { "id": 1, "custom_attributes": {} } }),
        ] {
            assert!(
                matches!(
                    parse(&outgoing(extra.clone()), None).unwrap(),
                    Parsed::Ignored(_)
                ),
                "{extra}"
            );
        }
        assert!(matches!(
            parse(br#"{"event":"conversation_typing_on"}"#, None).unwrap(),
            Parsed::Ignored(_)
        ));
        assert!(parse(b"not json", None).is_err());
        assert!(parse(br#"{"no":"event"}"#, None).is_err());
    }

    #[test]
    fn a_resolution_is_an_action_once_per_delivery() {
        let body = serde_json::to_vec(&json!({
            "event": "conversation_status_changed", "id": 13098, "status": "resolved",
            "timestamp": 1_760_000_000,
            "custom_attributes": { "atiende_conversation": "demo:twilio:+18095551010" },
            "meta": { "assignee": { "id": 7, "name": "Ana" } }
        }))
        .unwrap();
        let Parsed::Action(a) = parse(&body, Some("d-1")).unwrap() else {
            panic!()
        };
        assert_eq!(a.action, DeskAction::Resolve);
        assert_eq!(a.agent.id, "chatwoot:7");
        let Parsed::Action(b) = parse(&body, Some("d-1")).unwrap() else {
            panic!()
        };
        assert_eq!(a.id, b.id, "a retried delivery is recognized");
        let Parsed::Action(c) = parse(&body, None).unwrap() else {
            panic!()
        };
        assert_ne!(a.id, c.id);
        let open = body_with_status("open");
        assert!(matches!(parse(&open, None).unwrap(), Parsed::Ignored(_)));
    }

    fn body_with_status(status: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "event": "conversation_status_changed", "status": status, "timestamp": 1,
            "custom_attributes": { "atiende_conversation": "demo:twilio:+18095551010" }
        }))
        .unwrap()
    }
}
