//! Rocket.Chat's webhooks, read for what agents did (protocols.md §4.2, §4.3).
//!
//! Two webhooks can report an agent's work, and a tenant may set up either or both:
//!
//! * the **outgoing webhook** (an integration on the `sendMessage` event) posts every message of
//!   the rooms it watches, with the integration's token in the body. Rocket.Chat signs nothing,
//!   so the token is the only proof of origin and is compared in constant time.
//! * the **Omnichannel webhook** posts livechat events with the `X-RocketChat-Livechat-Token`
//!   header: agents' messages (`Message`, entries with an `agentId`), a conversation taken
//!   (`LivechatSessionTaken`) and one closed (`LivechatSession`).
//!
//! Messages atiende relayed into a room carry an `_id` starting with [`RELAY_PREFIX`]; they, bot
//! messages, edits and visitors' messages are acknowledged and ignored, which keeps relays from
//! looping. A message whose first word is `/crear-ticket` or `/cerrar-ticket` is the seeds'
//! ticket command, not text for the customer. Both webhooks name the same message by its id, so
//! a tenant with both set up still relays each reply once.

use atiende_domain::{Agent, DeskAction};
use serde_json::Value;
use subtle::ConstantTimeEq;

/// The prefix of the message ids atiende gives what it posts into a livechat room.
pub const RELAY_PREFIX: &str = "atiende-";
/// The command that registers the case and tells the customer its number.
pub const CREATE_TICKET: &str = "/crear-ticket";
/// The command that closes the case, tells the customer, and hands the chat back to the bot.
pub const CLOSE_TICKET: &str = "/cerrar-ticket";

/// An agent's action read from a webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentAction {
    /// Unique per action, for redelivery detection.
    pub id: String,
    /// The livechat room (`rid`) it happened in.
    pub room: String,
    /// Who acted.
    pub agent: Agent,
    /// What they did.
    pub action: DeskAction,
}

/// What a webhook amounts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Agents' actions, in the order Rocket.Chat listed them.
    Actions(Vec<AgentAction>),
    /// Nothing atiende acts on, and why.
    Ignored(&'static str),
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The token is missing or wrong.
    #[error("the webhook token does not match the tenant's")]
    BadToken,
    /// The body is not a webhook.
    #[error("invalid Rocket.Chat webhook: {0}")]
    Malformed(String),
}

/// Whether `given` is the configured token, in time independent of where they differ.
pub fn token_matches(given: Option<&str>, expected: &str) -> bool {
    given.is_some_and(|g| {
        !expected.is_empty() && bool::from(g.as_bytes().ct_eq(expected.as_bytes()))
    })
}

/// Reads an outgoing-webhook body and checks its `token` against `expected_token`.
pub fn parse_outgoing(body: &[u8], expected_token: &str) -> Result<Parsed, WebhookError> {
    let event = json(body)?;
    if !token_matches(event["token"].as_str(), expected_token) {
        return Err(WebhookError::BadToken);
    }
    if event["bot"].as_bool() == Some(true) {
        return Ok(Parsed::Ignored("sent by a bot"));
    }
    if event["isEdited"].as_bool() == Some(true) {
        return Ok(Parsed::Ignored("an edit"));
    }
    let message_id = required(&event, "message_id")?;
    if message_id.starts_with(RELAY_PREFIX) {
        return Ok(Parsed::Ignored("relayed by atiende"));
    }
    let room = required(&event, "channel_id")?;
    let user = required(&event, "user_id")?;
    let name = event["user_name"].as_str().unwrap_or(user);
    Ok(one(message(
        message_id,
        room,
        user,
        name,
        event["text"].as_str(),
    )?))
}

/// Reads an Omnichannel webhook body (the header token is checked by the caller with
/// [`token_matches`]).
pub fn parse_livechat(body: &[u8]) -> Result<Parsed, WebhookError> {
    let event = json(body)?;
    let kind = event["type"]
        .as_str()
        .ok_or_else(|| WebhookError::Malformed("no event type".to_owned()))?;
    match kind {
        "Message" => {
            let room = event["_id"].as_str();
            let mut actions = Vec::new();
            for m in event["messages"].as_array().into_iter().flatten() {
                // Visitors' messages (no agentId) are the customer's, which atiende relayed.
                let (Some(id), Some(agent)) = (m["_id"].as_str(), m["agentId"].as_str()) else {
                    continue;
                };
                if id.starts_with(RELAY_PREFIX) || m.get("editedAt").is_some_and(|e| !e.is_null()) {
                    continue;
                }
                let Some(room) = m["rid"].as_str().or(room) else {
                    continue;
                };
                let name = m["username"].as_str().unwrap_or(agent);
                if let Parsed::Actions(found) =
                    one(message(id, room, agent, name, m["msg"].as_str())?)
                {
                    actions.extend(found);
                }
            }
            if actions.is_empty() {
                Ok(Parsed::Ignored("no agent messages"))
            } else {
                Ok(Parsed::Actions(actions))
            }
        }
        "LivechatSessionTaken" | "LivechatSession" => {
            let room = required(&event, "_id")?;
            let agent = &event["agent"];
            let agent_id = agent["_id"].as_str().unwrap_or("rocketchat");
            let name = agent["name"]
                .as_str()
                .or_else(|| agent["username"].as_str())
                .unwrap_or("Rocket.Chat");
            let agent = desk_agent(agent_id, name)?;
            let (id, action) = if kind == "LivechatSessionTaken" {
                (
                    format!("rocketchat:taken:{room}:{agent_id}"),
                    DeskAction::Take,
                )
            } else {
                let closed = event["closedAt"].as_str().unwrap_or("closed");
                (
                    format!("rocketchat:closed:{room}:{closed}"),
                    DeskAction::Resolve,
                )
            };
            Ok(Parsed::Actions(vec![AgentAction {
                id,
                room: room.to_owned(),
                agent,
                action,
            }]))
        }
        _ => Ok(Parsed::Ignored("event not used")),
    }
}

fn json(body: &[u8]) -> Result<Value, WebhookError> {
    serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(format!("not JSON: {e}")))
}

fn required<'a>(event: &'a Value, field: &str) -> Result<&'a str, WebhookError> {
    event[field]
        .as_str()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| WebhookError::Malformed(format!("no {field}")))
}

fn one(action: Option<AgentAction>) -> Parsed {
    match action {
        Some(action) => Parsed::Actions(vec![action]),
        None => Parsed::Ignored("no text"),
    }
}

fn desk_agent(id: &str, name: &str) -> Result<Agent, WebhookError> {
    Agent::new(format!("rocketchat:{id}"), name)
        .map_err(|e| WebhookError::Malformed(format!("agent: {e}")))
}

/// An agent's message: a command, or text for the customer.
fn message(
    id: &str,
    room: &str,
    agent_id: &str,
    name: &str,
    text: Option<&str>,
) -> Result<Option<AgentAction>, WebhookError> {
    let text = text.unwrap_or_default().trim();
    if text.is_empty() {
        return Ok(None);
    }
    let action = match text.split_whitespace().next() {
        Some(CREATE_TICKET) => DeskAction::CreateTicket,
        Some(CLOSE_TICKET) => DeskAction::CloseTicket,
        _ => DeskAction::Reply {
            text: text.to_owned(),
        },
    };
    Ok(Some(AgentAction {
        id: format!("rocketchat:{id}"),
        room: room.to_owned(),
        agent: desk_agent(agent_id, name)?,
        action,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outgoing(extra: Value) -> Vec<u8> {
        let mut body = json!({
            "token": "tok", "bot": false, "channel_id": "ROOM1", "channel_name": null,
            "message_id": "m1", "timestamp": "2026-11-22T10:00:00.000Z",
            "user_id": "u1", "user_name": "ana", "text": "Hola, le ayudo",
            "siteUrl": "https://chat.example.com"
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        serde_json::to_vec(&body).unwrap()
    }

    #[test]
    fn an_agents_message_is_a_reply_and_commands_are_commands() {
        let Parsed::Actions(a) = parse_outgoing(&outgoing(json!({})), "tok").unwrap() else {
            panic!()
        };
        assert_eq!(a[0].id, "rocketchat:m1");
        assert_eq!(a[0].room, "ROOM1");
        assert_eq!(a[0].agent.id, "rocketchat:u1");
        assert_eq!(
            a[0].action,
            DeskAction::Reply {
                text: "Hola, le ayudo".into()
            }
        );
        for (text, action) in [
            ("/crear-ticket", DeskAction::CreateTicket),
            ("/cerrar-ticket gracias", DeskAction::CloseTicket),
        ] {
            let Parsed::Actions(a) =
                parse_outgoing(&outgoing(json!({ "text": text })), "tok").unwrap()
            else {
                panic!()
            };
            assert_eq!(a[0].action, action, "{text}");
        }
    }

    #[test]
    fn a_wrong_or_missing_token_is_refused() {
        assert_eq!(
            parse_outgoing(&outgoing(json!({ "token": "nope" })), "tok"),
            Err(WebhookError::BadToken)
        );
        assert_eq!(
            parse_outgoing(&outgoing(json!({ "token": null })), "tok"),
            Err(WebhookError::BadToken)
        );
        assert!(!token_matches(Some(""), ""));
    }

    #[test]
    fn bots_edits_relays_and_empty_text_are_ignored() {
        for extra in [
            json!({ "bot": true }),
            json!({ "isEdited": true }),
            json!({ "message_id": "atiende-abc" }),
            json!({ "text": "  " }),
        ] {
            assert!(
                matches!(
                    parse_outgoing(&outgoing(extra.clone()), "tok"),
                    Ok(Parsed::Ignored(_))
                ),
                "{extra}"
            );
        }
        assert!(matches!(
            parse_outgoing(b"{", "tok"),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn livechat_events_give_agent_messages_takes_and_closes() {
        let body = json!({"type": "Message", "_id": "ROOM1", "messages": [
            {"_id": "v1", "username": "guest-1", "msg": "hola", "rid": "ROOM1"},
            {"_id": "atiende-x", "username": "guest-1", "msg": "relayed", "rid": "ROOM1", "agentId": "u1"},
            {"_id": "a1", "username": "ana", "msg": "Buenas", "rid": "ROOM1", "agentId": "u1"}
        ]});
        let Parsed::Actions(a) = parse_livechat(&serde_json::to_vec(&body).unwrap()).unwrap()
        else {
            panic!()
        };
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].id, "rocketchat:a1");
        let taken = json!({"type": "LivechatSessionTaken", "_id": "ROOM1",
            "agent": {"_id": "u1", "username": "ana", "name": "Ana"}});
        let Parsed::Actions(a) = parse_livechat(&serde_json::to_vec(&taken).unwrap()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (a[0].action.clone(), a[0].agent.name.as_str()),
            (DeskAction::Take, "Ana")
        );
        let closed = json!({"type": "LivechatSession", "_id": "ROOM1",
            "closedAt": "2026-11-22T10:00:00.000Z", "agent": {"_id": "u1", "username": "ana"}});
        let Parsed::Actions(a) = parse_livechat(&serde_json::to_vec(&closed).unwrap()).unwrap()
        else {
            panic!()
        };
        assert_eq!(a[0].action, DeskAction::Resolve);
        assert!(matches!(
            parse_livechat(br#"{"type":"LeadCapture"}"#),
            Ok(Parsed::Ignored(_))
        ));
    }
}
