//! [`DeadLetterStore`] on SQLite: `SELECT * FROM dead_letters` shows what was given up on.

use async_trait::async_trait;
use atiende_ports::{DeadLetter, DeadLetterStore, PortError};
use rusqlite::{OptionalExtension, params};

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
                    "SELECT id, subscription, message_id, ordering_key, attributes, data, reason, attempts, at
                     FROM dead_letters ORDER BY id DESC LIMIT ?1",
                )?;
                let rows = stmt.query_map([limit], row)?;
                let mut out = Vec::new();
                for r in rows {
                    out.push(letter(r?)?);
                }
                Ok(out)
            })
            .await?)
    }

    async fn get(&self, id: &str) -> Result<Option<DeadLetter>, PortError> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(None);
        };
        Ok(self
            .db
            .read(move |c| {
                let found = c
                    .query_row(
                        "SELECT id, subscription, message_id, ordering_key, attributes, data, reason, attempts, at
                         FROM dead_letters WHERE id = ?1",
                        [id],
                        row,
                    )
                    .optional()?;
                found.map(letter).transpose()
            })
            .await?)
    }

    async fn remove(&self, id: &str) -> Result<bool, PortError> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(false);
        };
        Ok(self
            .db
            .write(move |c| Ok(c.exec("DELETE FROM dead_letters WHERE id = ?1", [id])? > 0))
            .await?)
    }
}

type Row = (
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    u32,
    i64,
);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn letter(
    (id, subscription, message_id, ordering_key, attributes, data, reason, attempts, at): Row,
) -> Result<DeadLetter, DbError> {
    Ok(DeadLetter {
        id: id.to_string(),
        subscription,
        message_id,
        ordering_key,
        attributes: serde_json::from_str(&attributes)?,
        data,
        reason,
        attempts,
        at: from_millis(at),
    })
}
