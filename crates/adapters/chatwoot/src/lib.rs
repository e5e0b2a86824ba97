//! Chatwoot as atiende's human desk (protocols.md §3).
//!
//! * [`signature`]: `X-Chatwoot-Signature` — HMAC-SHA256 over `"{timestamp}.{raw body}"`, with a
//!   five-minute bound on the timestamp so a captured webhook cannot be replayed later.
//! * [`webhook`]: which webhook events are agents' actions (a public outgoing message from a
//!   person, a resolution) and which are noise (private notes, bot messages, our own relays).
//! * [`desk`]: the API-inbox client — find or create the contact, open the conversation with the
//!   handoff packet as a private note, relay the customer's later messages as incoming ones.

pub mod desk;
pub mod signature;
pub mod webhook;

pub use desk::ChatwootDesk;
