//! The events that travel on the bus between the services.
//!
//! Events are a tagged enum whose tag names the event and its version. A change to an event's
//! shape adds a new variant (`…v2`) instead of editing the old one, so consumers running the old
//! code keep decoding what they understand during a rolling deploy.

use serde::{Deserialize, Serialize};

use crate::{DeskEvent, InboundMessage, OutboundAction, TenantId};

/// The bus topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Normalized customer messages (ingest → processor) and agents' actions at the desk
    /// (desk webhooks and the console → processor), on one ordered stream per conversation.
    Inbound,
    /// Outbound actions: processor → dispatcher.
    Outbound,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Self; 2] = [Self::Inbound, Self::Outbound];

    /// The topic's name (as in Pub/Sub and Terraform).
    pub fn name(self) -> &'static str {
        match self {
            Self::Inbound => "atiende-inbound",
            Self::Outbound => "atiende-outbound",
        }
    }

    /// The subscription that consumes the topic and the service behind it.
    pub fn subscription(self) -> &'static str {
        match self {
            Self::Inbound => "atiende-processor-inbound",
            Self::Outbound => "atiende-dispatcher-outbound",
        }
    }
}

/// An event on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum BusEvent {
    /// A customer message was accepted by ingest.
    #[serde(rename = "inbound_message.received.v1")]
    InboundMessageReceivedV1 {
        /// The message.
        message: InboundMessage,
    },
    /// The processor decided something must be sent.
    #[serde(rename = "outbound_action.requested.v1")]
    OutboundActionRequestedV1 {
        /// The action.
        action: OutboundAction,
    },
    /// A customer's burst of messages is due for one answer (the processor schedules it for
    /// itself on the same ordered stream; see `processor.burst_window_ms`).
    #[serde(rename = "turn.due.v1")]
    TurnDueV1 {
        /// The tenant.
        tenant: TenantId,
        /// The conversation.
        conversation: crate::ConversationId,
        /// The customer message that closes the burst; a later one supersedes this event.
        after: crate::ProviderMessageId,
        /// When the burst window ends.
        due_at: chrono::DateTime<chrono::Utc>,
    },
    /// An agent did something at the desk.
    #[serde(rename = "desk_event.received.v1")]
    DeskEventReceivedV1 {
        /// What they did.
        event: DeskEvent,
    },
}

impl BusEvent {
    /// The event's type name, without the version (an attribute on the bus message).
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::InboundMessageReceivedV1 { .. } => "inbound_message.received",
            Self::OutboundActionRequestedV1 { .. } => "outbound_action.requested",
            Self::DeskEventReceivedV1 { .. } => "desk_event.received",
            Self::TurnDueV1 { .. } => "turn.due",
        }
    }

    /// The event's schema version.
    pub fn version(&self) -> u32 {
        match self {
            Self::InboundMessageReceivedV1 { .. }
            | Self::OutboundActionRequestedV1 { .. }
            | Self::DeskEventReceivedV1 { .. }
            | Self::TurnDueV1 { .. } => 1,
        }
    }

    /// The topic the event is published on.
    pub fn topic(&self) -> Topic {
        match self {
            Self::InboundMessageReceivedV1 { .. }
            | Self::DeskEventReceivedV1 { .. }
            | Self::TurnDueV1 { .. } => Topic::Inbound,
            Self::OutboundActionRequestedV1 { .. } => Topic::Outbound,
        }
    }

    /// The tenant the event concerns.
    pub fn tenant(&self) -> &TenantId {
        match self {
            Self::InboundMessageReceivedV1 { message } => &message.tenant,
            Self::OutboundActionRequestedV1 { action } => &action.tenant,
            Self::DeskEventReceivedV1 { event } => &event.tenant,
            Self::TurnDueV1 { tenant, .. } => tenant,
        }
    }

    /// The ordering key: the conversation, so one customer's events are handled in order.
    ///
    /// Side effects (alerts, CRM pushes) are ordered on a key of their own,
    /// `{conversation}#side`: a CRM that answers "retry in an hour" holds back only the next
    /// side effects, never the customer's replies, which an ordered bus would otherwise keep
    /// behind it.
    pub fn ordering_key(&self) -> String {
        match self {
            Self::InboundMessageReceivedV1 { message } => message.conversation.as_str().to_owned(),
            Self::OutboundActionRequestedV1 { action } if action.kind.is_side_effect() => {
                format!("{}#side", action.conversation.as_str())
            }
            Self::OutboundActionRequestedV1 { action } => action.conversation.as_str().to_owned(),
            Self::DeskEventReceivedV1 { event } => event.conversation.as_str().to_owned(),
            Self::TurnDueV1 { conversation, .. } => conversation.as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Channel, Contact, ConversationId, MessageContent, PhoneNumber, ProviderMessageId};
    use chrono::DateTime;

    #[test]
    fn events_are_tagged_with_type_and_version() {
        let tenant = TenantId::parse("demo").unwrap();
        let phone = PhoneNumber::parse("+18095551010").unwrap();
        let message = InboundMessage {
            conversation: ConversationId::new(&tenant, Channel::MetaWhatsApp, phone.as_str()),
            tenant,
            channel: Channel::MetaWhatsApp,
            provider_message_id: ProviderMessageId::parse("wamid.1").unwrap(),
            contact: Contact::from_phone(phone),
            business_address: None,
            content: MessageContent::Text {
                body: "hola".into(),
            },
            sent_at: None,
            received_at: DateTime::from_timestamp(1_760_000_000, 0).unwrap(),
            in_reply_to: None,
            referral: None,
        };
        let event = BusEvent::InboundMessageReceivedV1 { message };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "inbound_message.received.v1");
        assert_eq!(json["message"]["content"]["type"], "text");
        assert_eq!(json["message"]["contact"]["identity"]["kind"], "phone");
        let back: BusEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        assert_eq!(back.ordering_key(), "demo:meta:+18095551010");
        assert_eq!(back.topic(), Topic::Inbound);
    }
}
