//! [`DeadLetterStore`] on SQLite: `SELECT * FROM dead_letters` shows what was given up on.

use async_trait::async_trait;
use atiende_ports::{DeadLetter, DeadLetterStore, PortError};
use rusqlite::params;

use super::SqliteStores;
use crate::db::{Cached, DbError, from_millis, millis};

/// Inserts a dead letter on an open transaction (the bus uses it inside its own writes).
pub(crate) fn insert(c: &rusqlite::Connection, letter: &DeadLetter) -> Result<(), DbError> {
    c.exec(
        "INSERT INTO dead_letters (subscription, message_id, ordering_key, attributes, data, reason, attempts, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            letter.subscription,
            letter.message_id,
            letter.ordering_key,
            serde_json::to_string(&letter.attributes)?,
            letter.data,
            letter.reason,
            letter.attempts,
            millis(letter.at)
        ],
    )?;
    Ok(())
}

#[async_trait]
impl DeadLetterStore for SqliteStores {
    async fn record(&self, letter: DeadLetter) -> Result<(), PortError> {
        self.db.write(move |c| insert(c, &letter)).await?;
        Ok(())
    }

    async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, PortError> {
        let limit = i64::try_from(limit.clamp(1, 1000)).unwrap_or(100);
        Ok(self
            .db
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT subscription, message_id, ordering_key, attributes, data, reason, attempts, at
                     FROM dead_letters ORDER BY id DESC LIMIT ?1",
                )?;
                let rows = stmt.query_map([limit], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, u32>(6)?,
                        r.get::<_, i64>(7)?,
                    ))
                })?;
                let mut out = Vec::new();
                for row in rows {
                    let (subscription, message_id, ordering_key, attributes, data, reason, attempts, at) = row?;
                    out.push(DeadLetter {
                        subscription,
                        message_id,
                        ordering_key,
                        attributes: serde_json::from_str(&attributes)?,
                        data,
                        reason,
                        attempts,
                        at: from_millis(at),
                    });
                }
                Ok(out)
            })
            .await?)
    }
}
