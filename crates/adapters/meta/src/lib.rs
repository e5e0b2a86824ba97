//! Meta's WhatsApp Cloud API channel.
//!
//! * [`signature`]: `X-Hub-Signature-256` over the raw body and the `hub.challenge` verification
//!   handshake (protocols.md §2.1–2.2).
//! * [`webhook`]: the notification payload — several entries, changes, messages and statuses per
//!   POST — normalized into inbound messages and delivery receipts.
//! * [`media`]: downloads of what customers send (media id → URL → bytes, with the access token).
//! * [`sender`]: the Graph API client (`/{phone_number_id}/messages`), with Graph error codes
//!   classified for retry.

pub mod media;
pub mod sender;
pub mod signature;
pub mod webhook;

pub use media::MetaMedia;
pub use sender::MetaSender;
pub use webhook::{MetaEvents, parse_notification};
