//! [`WebChatStore`] on SQLite.

use async_trait::async_trait;
use atiende_domain::{Author, TenantId};
use atiende_ports::{PortError, WebChatEntry, WebChatStore};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::SqliteStores;
use crate::db::{Cached, DbError, from_millis, millis};

fn author_name(author: Author) -> &'static str {
    match author {
        Author::Customer => "customer",
        Author::Bot => "bot",
        Author::Agent => "agent",
        Author::System => "system",
    }
}

fn parse_author(s: &str) -> Result<Author, DbError> {
    match s {
        "customer" => Ok(Author::Customer),
        "bot" => Ok(Author::Bot),
        "agent" => Ok(Author::Agent),
        "system" => Ok(Author::System),
        other => Err(DbError::Corrupt(format!("unknown author {other}"))),
    }
}

#[async_trait]
impl WebChatStore for SqliteStores {
    async fn create_session(
        &self,
        tenant: &TenantId,
        session: &str,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let (tenant, session, now) = (tenant.to_string(), session.to_owned(), millis(now));
        self.db
            .write(move |c| {
                c.exec(
                    "INSERT INTO webchat_sessions (tenant, session, created_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    params![tenant, session, now],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn session_started(
        &self,
        tenant: &TenantId,
        session: &str,
    ) -> Result<Option<DateTime<Utc>>, PortError> {
        let (tenant, session) = (tenant.to_string(), session.to_owned());
        let started: Option<i64> = self
            .db
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT created_at FROM webchat_sessions WHERE tenant = ?1 AND session = ?2",
                    params![tenant, session],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?)
            })
            .await?;
        Ok(started.map(from_millis))
    }

    async fn append(
        &self,
        tenant: &TenantId,
        session: &str,
        author: Author,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, PortError> {
        let (tenant, session, text, now) = (
            tenant.to_string(),
            session.to_owned(),
            text.to_owned(),
            millis(now),
        );
        Ok(self
            .db
            .write(move |c| {
                // A line belongs to a session the tenant has, as on every backend.
                let inserted = c.exec(
                    "INSERT INTO webchat_messages (tenant, session, author, text, at)
                     SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS
                       (SELECT 1 FROM webchat_sessions WHERE tenant = ?1 AND session = ?2)",
                    params![tenant, session, author_name(author), text, now],
                )?;
                if inserted == 0 {
                    return Err(DbError::NotFound(format!("web chat session {session}")));
                }
                Ok(c.last_insert_rowid())
            })
            .await?)
    }

    async fn list_after(
        &self,
        tenant: &TenantId,
        session: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<WebChatEntry>, PortError> {
        let (tenant, session) = (tenant.to_string(), session.to_owned());
        let limit = i64::try_from(limit.clamp(1, 500)).unwrap_or(100);
        Ok(self
            .db
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT seq, author, text, at FROM webchat_messages
                     WHERE tenant = ?1 AND session = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
                )?;
                let rows = stmt.query_map(params![tenant, session, after, limit], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })?;
                let mut out = Vec::new();
                for row in rows {
                    let (seq, author, text, at) = row?;
                    out.push(WebChatEntry {
                        seq,
                        author: parse_author(&author)?,
                        text,
                        at: from_millis(at),
                    });
                }
                Ok(out)
            })
            .await?)
    }
}
