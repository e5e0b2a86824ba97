//! Rocket.Chat Omnichannel as atiende's human desk (protocols.md §4).
//!
//! * [`desk`]: the livechat client — the customer becomes a livechat visitor with an unguessable
//!   token, the handoff packet opens the room, and the customer's later messages are relayed into
//!   it.
//! * [`webhook`]: what agents did, from either of Rocket.Chat's webhooks — the outgoing webhook
//!   (token in the body) or the Omnichannel webhook (`X-RocketChat-Livechat-Token`) — including
//!   the seeds' `/crear-ticket` and `/cerrar-ticket` commands.

pub mod desk;
pub mod webhook;

pub use desk::RocketChatDesk;
