//! Tenant API keys' use cases: create (shown once), list, revoke, and sign a request in.
//!
//! A key looks like `atk_` followed by 64 hex digits (256 random bits), so a stored SHA-256
//! digest is enough: nobody guesses its preimage, and no slow password hash is needed. Signing
//! in is one lookup by digest; the last use is written back at most once a minute, so a busy
//! dashboard does not turn every read into a write.

use std::sync::Arc;

use atiende_domain::{TenantId, ValidationError, access::Role};
use atiende_ports::{ApiKey, ApiKeyStore, Clock};

use crate::{AppError, desk::key_digest};

/// The prefix of every tenant API key (and how a key is told from the operator's token).
pub const KEY_PREFIX: &str = "atk_";
/// How often a key's last use is written back.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);
/// Most keys a tenant may hold (a guard against a script creating them in a loop).
const MAX_KEYS: usize = 50;

/// The use cases.
pub struct ApiKeys {
    store: Arc<dyn ApiKeyStore>,
    clock: Arc<dyn Clock>,
}

impl ApiKeys {
    /// Builds the use cases.
    pub fn new(store: Arc<dyn ApiKeyStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Creates a key; returns it and its secret, shown this once.
    pub async fn create(
        &self,
        tenant: &TenantId,
        name: &str,
        role: Role,
    ) -> Result<(ApiKey, String), AppError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(ValidationError::new("name", "must be 1-80 characters").into());
        }
        if self.store.list(tenant).await?.len() >= MAX_KEYS {
            return Err(AppError::Conflict(format!(
                "a tenant holds at most {MAX_KEYS} keys: revoke one first"
            )));
        }
        let secret = format!(
            "{KEY_PREFIX}{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let key = ApiKey {
            id: format!("key_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
            tenant: tenant.clone(),
            name: name.to_owned(),
            role,
            created_at: self.clock.now(),
            last_used_at: None,
        };
        self.store.add(&key, &key_digest(&secret)).await?;
        Ok((key, secret))
    }

    /// A tenant's keys.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, AppError> {
        Ok(self.store.list(tenant).await?)
    }

    /// Revokes a key.
    pub async fn revoke(&self, tenant: &TenantId, id: &str) -> Result<(), AppError> {
        if self.store.revoke(tenant, id).await? {
            Ok(())
        } else {
            Err(AppError::NotFound(format!("key {id}")))
        }
    }

    /// The key `secret` is, if any; records its use.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<ApiKey>, AppError> {
        if !secret.starts_with(KEY_PREFIX) || secret.len() > 200 {
            return Ok(None);
        }
        let Some(mut key) = self.store.find_by_digest(&key_digest(secret)).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if key.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY) {
            // A failed write of the last use must not refuse a valid key.
            if let Err(error) = self.store.touch(&key.tenant, &key.id, now).await {
                tracing::warn!(%error, key = %key.id, "Could not record a key's use.");
            }
            key.last_used_at = Some(now);
        }
        Ok(Some(key))
    }
}
