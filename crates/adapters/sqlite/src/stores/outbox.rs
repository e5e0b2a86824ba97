//! [`Outbox`] on SQLite.

use async_trait::async_trait;
use atiende_domain::{ActionId, Channel, ConversationId, OutboundAction, TenantId};
use atiende_ports::{Claim, Outbox, OutboxRecord, OutboxState, PortError};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStores;
use crate::db::{Cached, DbError, from_millis, millis};

const COLUMNS: &str = "action_id, tenant, conversation, channel, state, provider_message_id, detail, attempts, updated_at";

fn record(row: &Row<'_>) -> rusqlite::Result<[Option<String>; 7]> {
    Ok([
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ])
}

fn decode(
    fields: [Option<String>; 7],
    attempts: i64,
    updated_at: i64,
) -> Result<OutboxRecord, DbError> {
    let corrupt = |what: &str| DbError::Corrupt(format!("outbox {what}"));
    let [
        action,
        tenant,
        conversation,
        channel,
        state,
        provider_id,
        detail,
    ] = fields;
    Ok(OutboxRecord {
        action_id: ActionId::parse(action.ok_or_else(|| corrupt("action id"))?)
            .map_err(|_| corrupt("action id"))?,
        tenant: TenantId::parse(tenant.ok_or_else(|| corrupt("tenant"))?)
            .map_err(|_| corrupt("tenant"))?,
        conversation: ConversationId::parse(conversation.ok_or_else(|| corrupt("conversation"))?)
            .map_err(|_| corrupt("conversation"))?,
        channel: Channel::parse(&channel.ok_or_else(|| corrupt("channel"))?)
            .map_err(|_| corrupt("channel"))?,
        state: state
            .as_deref()
            .and_then(OutboxState::parse)
            .ok_or_else(|| corrupt("state"))?,
        provider_message_id: provider_id,
        detail,
        attempts: u32::try_from(attempts).unwrap_or(0),
        updated_at: from_millis(updated_at),
    })
}

fn query_one(c: &rusqlite::Connection, action: &str) -> Result<Option<OutboxRecord>, DbError> {
    let row = c
        .query_row(
            &format!("SELECT {COLUMNS} FROM outbox WHERE action_id = ?1"),
            [action],
            |r| Ok((record(r)?, r.get::<_, i64>(7)?, r.get::<_, i64>(8)?)),
        )
        .optional()?;
    row.map(|(f, a, u)| decode(f, a, u)).transpose()
}

#[async_trait]
impl Outbox for SqliteStores {
    async fn claim(&self, action: &OutboundAction, now: DateTime<Utc>) -> Result<Claim, PortError> {
        let id = action.id.to_string();
        let tenant = action.tenant.to_string();
        let conversation = action.conversation.to_string();
        let channel = action.channel.as_str();
        let now = millis(now);
        Ok(self
            .db
            .write(move |c| {
                if let Some(existing) = query_one(c, &id)? {
                    if existing.state != OutboxState::Sending {
                        return Ok(Claim::AlreadyDone(existing));
                    }
                    // A send started before and never finished (a transient failure, or the
                    // process died mid-send): try again.
                    c.exec(
                        "UPDATE outbox SET attempts = attempts + 1, updated_at = ?2 WHERE action_id = ?1",
                        params![id, now],
                    )?;
                    return Ok(Claim::Claimed {
                        attempts: existing.attempts + 1,
                    });
                }
                c.exec(
                    "INSERT INTO outbox (action_id, tenant, conversation, channel, state, attempts, updated_at)
                     VALUES (?1, ?2, ?3, ?4, 'sending', 1, ?5)",
                    params![id, tenant, conversation, channel, now],
                )?;
                Ok(Claim::Claimed { attempts: 1 })
            })
            .await?)
    }

    async fn finish(
        &self,
        tenant: &TenantId,
        action: &ActionId,
        state: OutboxState,
        provider_message_id: Option<&str>,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let (id, tenant) = (action.to_string(), tenant.to_string());
        let provider = provider_message_id.map(str::to_owned);
        let detail = detail.map(str::to_owned);
        let now = millis(now);
        self.db
            .write(move |c| {
                let changed = c.exec(
                    "UPDATE outbox SET state = ?2, provider_message_id = ?3, detail = ?4, updated_at = ?5
                     WHERE action_id = ?1 AND tenant = ?6",
                    params![id, state.as_str(), provider, detail, now, tenant],
                )?;
                if changed == 0 {
                    return Err(DbError::NotFound(format!("outbox record {id}")));
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn list(
        &self,
        tenant: &TenantId,
        state: Option<OutboxState>,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, PortError> {
        let tenant = tenant.to_string();
        let state = state.map(OutboxState::as_str);
        let limit = i64::try_from(limit.clamp(1, 1000)).unwrap_or(100);
        Ok(self
            .db
            .read(move |c| {
                let mut stmt = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM outbox WHERE tenant = ?1 AND (?2 IS NULL OR state = ?2)
                     ORDER BY updated_at DESC LIMIT ?3"
                ))?;
                let rows = stmt.query_map(params![tenant, state, limit], |r| {
                    Ok((record(r)?, r.get::<_, i64>(7)?, r.get::<_, i64>(8)?))
                })?;
                let mut out = Vec::new();
                for row in rows {
                    let (f, a, u) = row?;
                    out.push(decode(f, a, u)?);
                }
                Ok(out)
            })
            .await?)
    }
}
