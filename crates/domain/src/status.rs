//! Delivery receipts for messages atiende sent.
//!
//! Providers send receipts out of order and may skip steps (Meta skips `delivered` when a message
//! is read at once), so states are merged monotonically: a receipt never moves a message backward.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Channel, ProviderMessageId, TenantId};

/// How far an outbound message got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Accepted by the provider, not yet sent.
    Queued,
    /// Sent to WhatsApp.
    Sent,
    /// Could not be delivered (`failed`/`undelivered`).
    Failed,
    /// On the customer's phone.
    Delivered,
    /// Read by the customer.
    Read,
}

impl DeliveryState {
    /// Maps a provider's status word (`queued`, `accepted`, `sending`, `sent`, `delivered`,
    /// `read`, `failed`, `undelivered`, `played`, …).
    pub fn parse(status: &str) -> Option<Self> {
        match status {
            "accepted" | "queued" | "scheduled" | "sending" => Some(Self::Queued),
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "read" | "played" => Some(Self::Read),
            "failed" | "undelivered" | "canceled" => Some(Self::Failed),
            _ => None,
        }
    }

    fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Sent => 1,
            Self::Failed => 2,
            Self::Delivered => 3,
            Self::Read => 4,
        }
    }

    /// The state after a receipt saying `next` arrives for a message in `self`.
    pub fn merge(self, next: Self) -> Self {
        if next.rank() > self.rank() {
            next
        } else {
            self
        }
    }

    /// The snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Delivered => "delivered",
            Self::Read => "read",
        }
    }
}

/// A delivery receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The tenant whose message it is.
    pub tenant: TenantId,
    /// The channel.
    pub channel: Channel,
    /// The provider's id for the outbound message.
    pub provider_message_id: ProviderMessageId,
    /// The state reported.
    pub state: DeliveryState,
    /// The provider's error code for failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// When the receipt arrived.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_never_move_a_message_backwards() {
        use DeliveryState as D;
        assert_eq!(D::Read.merge(D::Delivered), D::Read);
        assert_eq!(D::Sent.merge(D::Read), D::Read, "delivered may be skipped");
        assert_eq!(D::Sent.merge(D::Failed), D::Failed);
        assert_eq!(D::Delivered.merge(D::Sent), D::Delivered);
        assert_eq!(D::Queued.merge(D::Sent), D::Sent);
    }

    #[test]
    fn provider_words_map_to_states() {
        assert_eq!(
            DeliveryState::parse("undelivered"),
            Some(DeliveryState::Failed)
        );
        assert_eq!(
            DeliveryState::parse("accepted"),
            Some(DeliveryState::Queued)
        );
        assert_eq!(DeliveryState::parse("receiving"), None);
    }
}
