//! Readiness checks: `/health/ready` asks every dependency whether it can serve.

use async_trait::async_trait;

use crate::PortError;

/// A dependency that can say whether it is ready.
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// A short name for reports (`store`, `bus`).
    fn name(&self) -> &'static str;
    /// Succeeds when the dependency can serve requests.
    async fn check(&self) -> Result<(), PortError>;
}
