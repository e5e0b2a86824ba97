//! atiende's embedded adapters, on one SQLite database.
//!
//! On a single machine atiende keeps everything in `$ATIENDE_DATA_DIR/atiende.sqlite3`: tenants,
//! conversations, the dispatcher's outbox, delivery receipts, knowledge documents, web chat
//! transcripts — and the bus itself, so that a message ingest acknowledged survives a crash of
//! the process (see `docs/adr/0001-embedded-store-sqlite.md` for why SQLite).
//!
//! All writes go through one writer thread that commits them in groups (many concurrent
//! requests, one transaction), which is what lets a durable ingest keep up with thousands of
//! webhooks per second; reads use a small pool of connections. Each port implementation is a
//! thin module over that [`Db`].
//!
//! # Layout
//! * [`db`]: the connection handling (group-commit writer, reader pool) and the schema.
//! * [`bus`]: the durable, ordered, at-least-once bus with dead-lettering.
//! * [`stores`]: tenants, conversations, delivery receipts, outbox, web chat, knowledge, dead
//!   letters.
//! * [`media`]: customers' and agents' files, as plain files beside the database (`media/`), not
//!   in it: a photo does not belong in the write path every message shares.

pub mod bus;
pub mod db;
pub mod media;
pub mod stores;

pub use bus::{BusConfig, SqliteBus};
pub use db::{Db, Durability};
pub use media::FileMediaStore;
pub use stores::SqliteStores;
