//! Tenant API keys: how a business signs in to its own admin without the operator's token.
//!
//! A key is shown once, when it is created; the store keeps only its SHA-256 digest (a copy of
//! the database signs nobody in), its role, and when it was last used.

use async_trait::async_trait;
use atiende_domain::{TenantId, access::Role};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::PortError;

/// A tenant API key as stored and listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    /// The key's id (`key_…`), public: it is how the key is listed and revoked.
    pub id: String,
    /// The tenant the key opens.
    pub tenant: TenantId,
    /// A name to tell keys apart ("laptop de Ana", "CI").
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last authorized a request (recorded at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Tenant API keys.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a key whose secret has `digest` (hex SHA-256). `Conflict` if the id is taken.
    async fn add(&self, key: &ApiKey, digest: &str) -> Result<(), PortError>;
    /// The key whose secret has `digest`.
    async fn find_by_digest(&self, digest: &str) -> Result<Option<ApiKey>, PortError>;
    /// A tenant's keys, oldest first.
    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, PortError>;
    /// Revokes (deletes) a key; `true` if it existed. It stops working at once.
    async fn revoke(&self, tenant: &TenantId, id: &str) -> Result<bool, PortError>;
    /// Records that a key was used at `at`.
    async fn touch(&self, tenant: &TenantId, id: &str, at: DateTime<Utc>) -> Result<(), PortError>;
}
