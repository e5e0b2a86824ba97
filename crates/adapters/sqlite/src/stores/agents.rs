//! [`AgentStore`] and [`DeskLinkStore`] on SQLite.
//!
//! Agents' keys are stored as the hex SHA-256 digest the caller computed: a copy of the database
//! does not let anyone sign in to the console.

use async_trait::async_trait;
use atiende_domain::{Agent, ConversationId, DeskKind, TenantId};
use atiende_ports::{AgentAccount, AgentStore, DeskLinkStore, PortError};
use rusqlite::{OptionalExtension, params};

use super::SqliteStores;
use crate::db::{Cached, DbError};

fn account(tenant: String, id: String, name: String) -> Result<AgentAccount, DbError> {
    let corrupt = |e: atiende_domain::ValidationError| DbError::Corrupt(e.to_string());
    Ok(AgentAccount {
        tenant: TenantId::parse(tenant).map_err(corrupt)?,
        agent: Agent::new(id, name).map_err(corrupt)?,
    })
}

#[async_trait]
impl AgentStore for SqliteStores {
    async fn add(&self, account: &AgentAccount, key_digest: &str) -> Result<(), PortError> {
        let (tenant, id, name, digest) = (
            account.tenant.to_string(),
            account.agent.id.clone(),
            account.agent.name.clone(),
            key_digest.to_owned(),
        );
        self.db
            .write(move |c| {
                let inserted = c.exec(
                    "INSERT INTO agents (tenant, id, name, key_digest) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                    params![tenant, id, name, digest],
                )?;
                if inserted == 0 {
                    return Err(DbError::Conflict(format!("agent {id} already exists")));
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn find_by_key(&self, key_digest: &str) -> Result<Option<AgentAccount>, PortError> {
        let digest = key_digest.to_owned();
        let row: Option<(String, String, String)> = self
            .db
            .read(move |c| {
                Ok(c.row(
                    "SELECT tenant, id, name FROM agents WHERE key_digest = ?1",
                    [digest],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?)
            })
            .await?;
        Ok(row
            .map(|(tenant, id, name)| account(tenant, id, name))
            .transpose()?)
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<AgentAccount>, PortError> {
        let tenant = tenant.to_string();
        let rows: Vec<(String, String, String)> = self
            .db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT tenant, id, name FROM agents WHERE tenant = ?1 ORDER BY id",
                )?;
                let rows = stmt.query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(t, id, name)| account(t, id, name))
            .collect::<Result<_, _>>()?)
    }

    async fn remove(&self, tenant: &TenantId, agent_id: &str) -> Result<bool, PortError> {
        let (tenant, id) = (tenant.to_string(), agent_id.to_owned());
        let removed = self
            .db
            .write(move |c| {
                Ok(c.exec(
                    "DELETE FROM agents WHERE tenant = ?1 AND id = ?2",
                    params![tenant, id],
                )?)
            })
            .await?;
        Ok(removed > 0)
    }
}

#[async_trait]
impl DeskLinkStore for SqliteStores {
    async fn link(
        &self,
        conversation: &ConversationId,
        desk: DeskKind,
    ) -> Result<Option<String>, PortError> {
        let (conversation, desk) = (conversation.to_string(), desk.as_str());
        Ok(self
            .db
            .read(move |c| {
                Ok(c.row(
                    "SELECT external FROM desk_links WHERE conversation = ?1 AND desk = ?2",
                    params![conversation, desk],
                    |r| r.get(0),
                )
                .optional()?)
            })
            .await?)
    }

    async fn conversation_for(
        &self,
        tenant: &TenantId,
        desk: DeskKind,
        external: &str,
    ) -> Result<Option<ConversationId>, PortError> {
        let (desk, external) = (desk.as_str(), external.to_owned());
        let found: Vec<String> = self
            .db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT conversation FROM desk_links WHERE desk = ?1 AND external = ?2",
                )?;
                let rows = stmt.query_map(params![desk, external], |r| r.get(0))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        // Another tenant's desk may use the same room number: only this tenant's counts.
        for id in found {
            let id = ConversationId::parse(&id).map_err(|e| PortError::permanent(e.to_string()))?;
            if id.tenant() == *tenant {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    async fn set_link(
        &self,
        conversation: &ConversationId,
        desk: DeskKind,
        external: &str,
    ) -> Result<(), PortError> {
        let (conversation, desk, external) =
            (conversation.to_string(), desk.as_str(), external.to_owned());
        self.db
            .write(move |c| {
                c.exec(
                    "INSERT INTO desk_links (conversation, desk, external) VALUES (?1, ?2, ?3)
                     ON CONFLICT (conversation, desk) DO UPDATE SET external = excluded.external",
                    params![conversation, desk, external],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }
}
