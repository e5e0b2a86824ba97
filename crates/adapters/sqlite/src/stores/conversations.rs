//! [`ConversationStore`] on SQLite, with a version column for optimistic concurrency.

use async_trait::async_trait;
use atiende_domain::{Conversation, ConversationId, PhoneNumber, TenantId, UserId};
use atiende_ports::{ConversationFilter, ConversationStore, PortError, Versioned};
use rusqlite::{OptionalExtension, params};

use super::SqliteStores;
use crate::db::{Cached, DbError, millis};

fn state_name(c: &Conversation) -> Result<String, DbError> {
    Ok(serde_json::to_value(c.state)?
        .as_str()
        .unwrap_or("bot")
        .to_owned())
}

#[async_trait]
impl ConversationStore for SqliteStores {
    async fn load(
        &self,
        id: &ConversationId,
    ) -> Result<Option<Versioned<Conversation>>, PortError> {
        let id = id.to_string();
        let row: Option<(String, i64)> = self
            .db
            .read(move |c| {
                Ok(c.row(
                    "SELECT doc, version FROM conversations WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
            })
            .await?;
        let Some((doc, version)) = row else {
            return Ok(None);
        };
        let value: Conversation = serde_json::from_str(&doc).map_err(DbError::from)?;
        Ok(Some(Versioned {
            value,
            version: u64::try_from(version).unwrap_or(0),
        }))
    }

    async fn save(
        &self,
        conversation: &Conversation,
        expected: Option<u64>,
    ) -> Result<u64, PortError> {
        let doc = serde_json::to_string(conversation).map_err(DbError::from)?;
        let state = state_name(conversation)?;
        let id = conversation.id.to_string();
        let tenant = conversation.tenant.to_string();
        let updated = millis(conversation.updated_at);
        let expected = expected.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        let version = self
            .db
            .write(move |c| {
                let changed = match expected {
                    None => c.exec(
                        "INSERT INTO conversations (id, tenant, state, updated_at, version, doc)
                         VALUES (?1, ?2, ?3, ?4, 1, ?5) ON CONFLICT (id) DO NOTHING",
                        params![id, tenant, state, updated, doc],
                    )?,
                    Some(v) => c.exec(
                        "UPDATE conversations SET state = ?2, updated_at = ?3, doc = ?4, version = version + 1
                         WHERE id = ?1 AND version = ?5",
                        params![id, state, updated, doc, v],
                    )?,
                };
                if changed == 0 {
                    return Err(DbError::Conflict(format!(
                        "conversation {id} changed since it was read"
                    )));
                }
                Ok(expected.map_or(1, |v| v + 1))
            })
            .await?;
        Ok(u64::try_from(version).unwrap_or(0))
    }

    async fn phone_of(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<PhoneNumber>, PortError> {
        let (tenant, user) = (tenant.to_string(), user.as_str().to_owned());
        let phone: Option<String> = self
            .db
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT phone FROM contact_aliases WHERE tenant = ?1 AND user_id = ?2",
                    params![tenant, user],
                    |r| r.get(0),
                )
                .optional()?)
            })
            .await?;
        phone
            .map(|p| {
                PhoneNumber::parse(&p).map_err(|e| PortError::permanent_from("stored alias", e))
            })
            .transpose()
    }

    async fn remember_phone(
        &self,
        tenant: &TenantId,
        user: &UserId,
        phone: &PhoneNumber,
    ) -> Result<(), PortError> {
        let (tenant, user, phone) = (
            tenant.to_string(),
            user.as_str().to_owned(),
            phone.as_str().to_owned(),
        );
        self.db
            .write(move |c| {
                c.exec(
                    "INSERT INTO contact_aliases (tenant, user_id, phone) VALUES (?1, ?2, ?3)
                     ON CONFLICT (tenant, user_id) DO UPDATE SET phone = excluded.phone",
                    params![tenant, user, phone],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn desk_revision(&self, tenant: &TenantId) -> Result<String, PortError> {
        // Here the queue's ids and versions are one indexed query away: no counter to keep.
        let tenant = tenant.to_string();
        Ok(self
            .db
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT IFNULL(group_concat(id || '@' || version, ','), '') FROM (
                       SELECT id, version FROM conversations
                       WHERE tenant = ?1 AND state IN ('waiting_for_human', 'human') ORDER BY id)",
                    params![tenant],
                    |r| r.get::<_, String>(0),
                )?)
            })
            .await?)
    }

    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ConversationFilter,
    ) -> Result<Vec<Conversation>, PortError> {
        let tenant = tenant.to_string();
        let state = filter
            .state
            .map(|s| serde_json::to_value(s).map(|v| v.as_str().unwrap_or("").to_owned()))
            .transpose()
            .map_err(DbError::from)?;
        let limit = i64::try_from(filter.limit.clamp(1, 1000)).unwrap_or(100);
        let docs: Vec<String> = self
            .db
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT doc FROM conversations WHERE tenant = ?1 AND (?2 IS NULL OR state = ?2)
                     ORDER BY updated_at DESC LIMIT ?3",
                )?;
                let rows = stmt.query_map(params![tenant, state, limit], |r| r.get(0))?;
                Ok(rows.collect::<Result<Vec<String>, _>>()?)
            })
            .await?;
        docs.iter()
            .map(|d| serde_json::from_str(d).map_err(|e| PortError::from(DbError::from(e))))
            .collect()
    }
}
