//! atiende's use cases, written against the ports and nothing else.
//!
//! Each module is one job of one service. They depend on `atiende-domain` for rules and on
//! `atiende-ports` for effects — never on a web framework, an HTTP client or a cloud SDK (a test
//! in `tests/` enforces it) — so the embedded and the cloud deployments run exactly this code.
//!
//! # Layout
//! * [`ingest`]: accept a verified, normalized inbound message onto the bus, exactly once.
//! * [`processor`]: turn an inbound message into outbound actions (the conversation brain).
//! * [`engine`]: the conversation engine — one grounded language-model turn, tools, handoff
//!   triggers, decision trace.
//! * [`responder`]: the extractive responder — answers quoted from the tenant's own knowledge.
//! * [`skills`]: account, quote and contact requests fulfilled without the model, through the
//!   same tools the model calls.
//! * [`knowledge`]: ingest documents and catalogs, search them.
//! * [`llm`]: the model chain — providers in order, retries, breakers, key pools, prices.
//! * [`dispatcher`]: deliver outbound actions through the right channel, once, inside WhatsApp's
//!   rules (24-hour window, templates, pacing, retries).
//! * [`accounts`]: tenants' credit accounts, imported from CSV for the account-status tool.
//! * [`conversations`]: listing, reading and resolving conversations.
//! * [`desk`]: the built-in agent console — agents, their queue, take, reply, resolve.
//! * [`reports`]: the dashboard's reports over a tenant's daily figures, and their CSV.
//! * [`simulate`]: dry runs of a tenant's assistant, for `atiende eval` and the admin API.
//! * [`tenants`]: tenant onboarding and the tenant cache the webhooks use.
//! * [`webchat`]: the built-in web chat as a channel.
//! * [`media_links`]: links to kept files — agents' for the provider, customers' signed and
//!   expiring for an external desk.
//! * [`access`]: tenants' API keys — create, list, revoke, sign a request in.
//! * [`error`]: the use cases' error type.

pub mod access;
pub mod accounts;
pub mod conversations;
pub mod desk;
pub mod dispatcher;
pub mod engine;
pub mod error;
mod handler;
pub mod ingest;
pub mod knowledge;
pub mod llm;
pub mod media_links;
pub mod processor;
pub mod reports;
pub mod responder;
pub mod simulate;
pub mod skills;
pub mod tenants;
#[cfg(test)]
mod testing;
pub mod webchat;

pub use error::AppError;
