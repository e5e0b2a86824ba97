//! The error every port returns, classified for the caller's retry decision.

use std::time::Duration;

/// A boxed error kept as the source of a [`PortError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a port call failed.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The write conflicts with the current state (already exists, version changed).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A failure that may go away: the caller should retry later.
    #[error("temporary failure: {message}")]
    Transient {
        /// What failed.
        message: String,
        /// How long the other side asked us to wait, if it said.
        retry_after: Option<Duration>,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// A failure retrying cannot fix.
    #[error("permanent failure: {message}")]
    Permanent {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
}

impl PortError {
    /// A transient failure with a message.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }

    /// A transient failure caused by `source`.
    pub fn transient_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Transient {
            message: message.into(),
            retry_after: None,
            source: Some(source.into()),
        }
    }

    /// A permanent failure with a message.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Permanent {
            message: message.into(),
            source: None,
        }
    }

    /// A permanent failure caused by `source`.
    pub fn permanent_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Permanent {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The failure an HTTP API's error `status` means: transient for 408, 429 and 5xx (retrying
    /// later may succeed), permanent otherwise.
    pub fn for_http_status(status: u16, message: impl Into<String>) -> Self {
        if status == 408 || status == 429 || (500..600).contains(&status) {
            Self::transient(message)
        } else {
            Self::permanent(message)
        }
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }
}
