//! atiende end to end: one test binary, a module per flow.
//!
//! Tests marked `#[ignore]` need tools outside Rust (the `twilio` Python SDK, the LiteLLM proxy,
//! the embedding model, Chromium and chromedriver); `infra/test.sh` installs them and runs every
//! test, ignored ones included.

// A failing test should panic with the value it choked on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod browser;
mod bus_contract;
mod chatwoot;
mod conversation;
mod dead_letters;
mod desk;
mod engine;
mod gcp_services;
mod gold;
mod handoff_webhooks;
mod index_contract;
mod knowledge;
mod layering;
mod litellm;
mod media;
mod media_contract;
mod meta;
mod onboarding;
mod realworld;
mod rocketchat;
mod scale_to_zero;
mod skills;
pub(crate) mod split_services;
mod state_contract;
mod terraform;
mod tracing;
mod twilio;
