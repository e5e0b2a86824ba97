//! [`DeliveryLog`] on SQLite: receipts merged monotonically in the writer.

use async_trait::async_trait;
use atiende_domain::{Channel, DeliveryState, StatusUpdate, TenantId};
use atiende_ports::{DeliveryLog, PortError};
use rusqlite::{OptionalExtension, params};

use super::SqliteStores;
use crate::db::{Cached, DbError, millis};

fn parse_state(s: &str) -> Result<DeliveryState, DbError> {
    DeliveryState::parse(s).ok_or_else(|| DbError::Corrupt(format!("unknown delivery state {s}")))
}

#[async_trait]
impl DeliveryLog for SqliteStores {
    async fn record_status(&self, update: &StatusUpdate) -> Result<DeliveryState, PortError> {
        let tenant = update.tenant.to_string();
        let channel = update.channel.as_str();
        let id = update.provider_message_id.to_string();
        let state = update.state;
        let code = update.error_code.clone();
        let at = millis(update.at);
        Ok(self
            .db
            .write(move |c| {
                let current: Option<String> = c
                    .query_row(
                        "SELECT state FROM delivery_status WHERE tenant = ?1 AND channel = ?2 AND provider_message_id = ?3",
                        params![tenant, channel, id],
                        |r| r.get(0),
                    )
                    .optional()?;
                let merged = match current.as_deref() {
                    Some(s) => parse_state(s)?.merge(state),
                    None => state,
                };
                c.exec(
                    "INSERT INTO delivery_status (tenant, channel, provider_message_id, state, error_code, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (tenant, channel, provider_message_id) DO UPDATE SET
                       state = excluded.state,
                       error_code = COALESCE(excluded.error_code, delivery_status.error_code),
                       updated_at = excluded.updated_at",
                    params![tenant, channel, id, merged.as_str(), code, at],
                )?;
                Ok(merged)
            })
            .await?)
    }

    async fn status(
        &self,
        tenant: &TenantId,
        channel: Channel,
        provider_message_id: &str,
    ) -> Result<Option<DeliveryState>, PortError> {
        let tenant = tenant.to_string();
        let id = provider_message_id.to_owned();
        let state: Option<String> = self
            .db
            .read(move |c| {
                Ok(c.row(
                    "SELECT state FROM delivery_status WHERE tenant = ?1 AND channel = ?2 AND provider_message_id = ?3",
                    params![tenant, channel.as_str(), id],
                    |r| r.get(0),
                )
                .optional()?)
            })
            .await?;
        Ok(state.as_deref().map(parse_state).transpose()?)
    }
}
