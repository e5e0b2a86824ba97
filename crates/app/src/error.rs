//! The error the use cases return; services map it to HTTP statuses in one place.

use atiende_domain::ValidationError;
use atiende_ports::PortError;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The caller sent something invalid.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// The caller may not touch this (another tenant's data).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The caller sent a kind of content atiende does not read.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The caller sent more than a limit allows.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A dependency is temporarily unavailable; retrying later may work.
    #[error("temporarily unavailable: {0}")]
    Unavailable(#[source] PortError),
    /// Something that should not fail did.
    #[error("internal error: {0}")]
    Internal(#[source] PortError),
}

impl From<PortError> for AppError {
    fn from(error: PortError) -> Self {
        match error {
            PortError::NotFound(what) => Self::NotFound(what),
            PortError::Conflict(what) => Self::Conflict(what),
            transient @ PortError::Transient { .. } => Self::Unavailable(transient),
            permanent @ PortError::Permanent { .. } => Self::Internal(permanent),
        }
    }
}

impl AppError {
    /// Whether retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Conflict(_))
    }

    /// How long a dependency asked us to wait before retrying, if it said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        if let Self::Unavailable(PortError::Transient { retry_after, .. }) = self {
            *retry_after
        } else {
            None
        }
    }
}
