//! Verifying Chatwoot's webhook signature (protocols.md §3.3).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far a webhook's timestamp may be from our clock.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a webhook's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature or timestamp header.
    #[error("the X-Chatwoot-Signature or X-Chatwoot-Timestamp header is missing")]
    Missing,
    /// The headers are not in the documented form.
    #[error("the Chatwoot signature headers are malformed")]
    Malformed,
    /// The timestamp is too far from now: a replay, or a badly wrong clock.
    #[error("the Chatwoot webhook timestamp is outside the allowed window")]
    Stale,
    /// The signature does not match the body.
    #[error("the Chatwoot signature does not match")]
    Mismatch,
}

/// The header value Chatwoot sends for `body` signed at `timestamp`: `sha256=<hex>`.
pub fn compute(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = mac(secret, timestamp);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks the signature and timestamp headers against the raw body, `now` in Unix seconds.
pub fn verify(
    secret: &str,
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
        return Err(SignatureError::Missing);
    };
    let timestamp = timestamp.trim();
    let at: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    let expected = signature
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|b| b.len() == 32)
        .ok_or(SignatureError::Malformed)?;
    let mut mac = mac(secret, timestamp);
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)?;
    if (now - at).abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

fn mac(secret: &str, timestamp: &str) -> HmacSha256 {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any size"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"event":"message_created","id":1,"content":"Hi","message_type":"outgoing","private":false}"#;
    const HEADER: &str = "sha256=d2fce2c9cea7a6d698bb5ce532aa0c518303032a9bf9f7df607e957fdb4103ba";

    #[test]
    fn the_documented_vector_matches() {
        // protocols.md §3.3.
        assert_eq!(
            compute("cw_test_secret", "1760000000", BODY.as_bytes()),
            HEADER
        );
        assert_eq!(
            verify(
                "cw_test_secret",
                BODY.as_bytes(),
                Some(HEADER),
                Some("1760000000"),
                1_760_000_100
            ),
            Ok(())
        );
    }

    #[test]
    fn wrong_stale_missing_and_malformed_signatures_are_refused() {
        let ok = |sig, ts, now| verify("cw_test_secret", BODY.as_bytes(), sig, ts, now);
        assert_eq!(
            ok(Some(HEADER), Some("1760000000"), 1_760_000_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            ok(Some(HEADER), Some("1760000001"), 1_760_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            ok(None, Some("1760000000"), 1_760_000_000),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            ok(Some(HEADER), None, 1_760_000_000),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            ok(Some("d2fc"), Some("1760000000"), 1_760_000_000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            ok(Some(HEADER), Some("yesterday"), 1_760_000_000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(
                "other",
                BODY.as_bytes(),
                Some(HEADER),
                Some("1760000000"),
                1_760_000_000
            ),
            Err(SignatureError::Mismatch)
        );
    }
}
