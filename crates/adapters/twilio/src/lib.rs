//! Twilio's WhatsApp channel.
//!
//! * [`signature`]: `X-Twilio-Signature` exactly as Twilio's SDKs compute it (protocols.md §1.2),
//!   including the port variants and the `bodySHA256` form for JSON bodies.
//! * [`webhook`]: a received form, unverified until its signature checks out (a typestate: only a
//!   verified form can be turned into a message), then normalized into an
//!   [`atiende_domain::InboundMessage`] or a delivery receipt.
//! * [`sender`]: the Messages API client, with provider errors classified for retry.
//! * [`media`]: downloads of what customers send (`MediaUrl` with the account's credentials).

pub mod media;
pub mod sender;
pub mod signature;
pub mod webhook;

pub use media::TwilioMedia;
pub use sender::TwilioSender;
pub use webhook::{SignedForm, TwilioEvent, Unverified, Verified};
