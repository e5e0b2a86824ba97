//! The storage ports on SQLite. One [`SqliteStores`] implements them all over a shared [`Db`].

mod agents;
mod api_keys;
mod assistant;
mod conversations;
mod dead_letters;
mod delivery;
mod jobs;
mod knowledge;
mod outbox;
mod stats;
mod tenants;
mod webchat;

pub(crate) use dead_letters::insert as dead_letter_insert;

use async_trait::async_trait;
use atiende_ports::{HealthCheck, PortError};

use crate::Db;
use crate::db::Cached as _;

/// Every storage port, on one database.
#[derive(Clone)]
pub struct SqliteStores {
    db: Db,
}

impl SqliteStores {
    /// Wraps an open database.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }
}

#[async_trait]
impl HealthCheck for SqliteStores {
    fn name(&self) -> &'static str {
        "store"
    }

    async fn check(&self) -> Result<(), PortError> {
        self.db
            .read(|c| Ok(c.row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await?;
        Ok(())
    }
}
