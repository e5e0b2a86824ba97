//! atiende on Google Cloud: the bus on Pub/Sub and the conversation state on Firestore.
//!
//! The embedded adapters (SQLite store and bus) prove the logic on one machine; these run the
//! same ports on the managed services, for the four services on Cloud Run. They are behind the
//! `gcp` cargo feature of `atiende-bootstrap` because their gRPC clients are a heavy build.
//!
//! * [`pubsub`]: publishing with ordering keys and attributes, a streaming-pull worker, and the
//!   topology (topics, subscriptions, dead-letter topics) for emulators.
//! * [`store`]: tenants, conversations, the outbox, delivery receipts, dead letters and publish
//!   dedupe keys on Firestore, with optimistic concurrency by update-time preconditions.
//! * [`knowledge`]: tenants' documents and passages, shared by the admin service that ingests
//!   them and every processor instance that searches them; [`embeddings`]: their vectors,
//!   computed once per model for every instance; [`jobs`]: the status of uploads run in the
//!   background, readable from any admin instance.
//! * [`desk`]: the console's agents and the external desks' links; [`webchat`]: the web chat's
//!   transcripts; [`assistant`]: credit accounts, the model budget's ledger and the security
//!   audit. With these every state port has a Firestore implementation: nothing a service needs
//!   lives on an instance's own disk.
//! * [`keys`]: tenants' API keys for the admin, by the digest of their secret.
//! * [`stats`]: tenants' daily counters, added to by increments.
//! * [`storage`]: media files (what customers and agents send) in a Cloud Storage bucket.
//! * [`oidc`]: verifying the OIDC tokens Pub/Sub push attaches to its requests.
//!
//! Both are tested against Google's emulators by the contract suites in `tests/e2e`.

pub mod assistant;
pub mod desk;
pub mod embeddings;
pub mod jobs;
pub mod keys;
pub mod knowledge;
pub mod oidc;
pub mod pubsub;
pub mod stats;
pub mod storage;
pub mod store;
pub mod webchat;

pub use pubsub::{
    DedupeKeys, PubSubPublisher, PubSubSettings, PullOptions, PullWorker, Topology, ensure_topology,
};
pub use storage::CloudStorage;
pub use store::FirestoreStores;
