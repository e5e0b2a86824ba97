//! Qdrant's errors as port errors: what retrying can fix and what it cannot.
//!
//! gRPC statuses that mean "the server or the network is busy or restarting" are transient
//! (the bus redelivers, the knowledge service falls back to the other retriever); those that mean
//! "this request will never work" — a missing collection, a wrong vector size, a refused key —
//! are permanent and name the fix when there is one.

use std::time::Duration;

use atiende_ports::PortError;
use qdrant_client::QdrantError;
use tonic::Code;

/// Classifies a Qdrant client error.
pub fn classify(error: QdrantError) -> PortError {
    match error {
        QdrantError::ResourceExhaustedError {
            status,
            retry_after_seconds,
        } => PortError::Transient {
            message: format!("Qdrant is rate limiting: {}", status.message()),
            retry_after: Some(Duration::from_secs(retry_after_seconds)),
            source: None,
        },
        QdrantError::ResponseError { status } => {
            let message = status.message().to_owned();
            match status.code() {
                Code::Unavailable
                | Code::DeadlineExceeded
                | Code::Aborted
                | Code::Cancelled
                | Code::ResourceExhausted
                | Code::Unknown
                | Code::Internal => PortError::transient(format!("Qdrant: {message}")),
                Code::NotFound => PortError::permanent(format!(
                    "Qdrant: {message} (create the collection with `atiende qdrant setup`)"
                )),
                Code::Unauthenticated | Code::PermissionDenied => {
                    PortError::permanent(format!("Qdrant refused the API key: {message}"))
                }
                Code::Ok
                | Code::InvalidArgument
                | Code::AlreadyExists
                | Code::FailedPrecondition
                | Code::OutOfRange
                | Code::Unimplemented
                | Code::DataLoss => PortError::permanent(format!("Qdrant: {message}")),
            }
        }
        QdrantError::Io(e) => PortError::transient_from("cannot reach Qdrant", e),
        other @ (QdrantError::ConversionError(_)
        | QdrantError::InvalidUri(_)
        | QdrantError::NoSnapshotFound(_)
        | QdrantError::JsonToPayload(_)
        | QdrantError::PayloadDeserialization(_)) => {
            PortError::permanent_from("Qdrant client error", other)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Status;

    fn response(code: Code) -> PortError {
        classify(QdrantError::ResponseError {
            status: Status::new(code, "boom"),
        })
    }

    #[test]
    fn busy_or_unreachable_servers_are_transient() {
        for code in [Code::Unavailable, Code::DeadlineExceeded, Code::Internal] {
            assert!(response(code).is_transient(), "{code:?}");
        }
        let limited = classify(QdrantError::ResourceExhaustedError {
            status: Status::resource_exhausted("slow down"),
            retry_after_seconds: 3,
        });
        assert!(matches!(
            limited,
            PortError::Transient {
                retry_after: Some(d),
                ..
            } if d == Duration::from_secs(3)
        ));
        let io = classify(QdrantError::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert!(io.is_transient());
    }

    #[test]
    fn requests_that_will_never_work_are_permanent_and_say_why() {
        let missing = response(Code::NotFound);
        assert!(!missing.is_transient());
        assert!(
            missing.to_string().contains("atiende qdrant setup"),
            "{missing}"
        );
        assert!(!response(Code::InvalidArgument).is_transient());
        let key = response(Code::Unauthenticated);
        assert!(!key.is_transient());
        assert!(key.to_string().contains("API key"), "{key}");
    }
}
