//! `X-Hub-Signature-256` and webhook verification.
//!
//! Meta signs the **raw** request bytes: `sha256=` + lowercase hex of HMAC-SHA256 keyed with the
//! app secret. The signature is checked before the body is parsed, and never over re-serialized
//! JSON (which breaks on escaped Unicode).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    /// Not `sha256=` followed by 64 hex digits.
    #[error("the X-Hub-Signature-256 header is malformed")]
    Malformed,
    /// The signature does not match.
    #[error("the X-Hub-Signature-256 does not match")]
    Mismatch,
}

/// The lowercase hex HMAC-SHA256 of `body` keyed with `app_secret`.
pub fn compute(app_secret: &str, body: &[u8]) -> String {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(app_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any size"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks an `X-Hub-Signature-256` header against the raw body.
pub fn verify(app_secret: &str, body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    if expected.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let mut mac = <HmacSha256 as Mac>::new_from_slice(app_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any size"));
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// Answers Meta's `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`: the challenge to
/// echo when the mode and token are right.
pub fn verify_subscription<'a>(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'a str>,
    expected_token: &str,
) -> Option<&'a str> {
    let token_ok = token.is_some_and(|t| bool::from(t.as_bytes().ct_eq(expected_token.as_bytes())));
    (mode == Some("subscribe") && token_ok)
        .then_some(challenge)
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_vectors_match() {
        // protocols.md §2.2: the official SDK's test, the Elixir SDK's doc, GitHub's example.
        assert_eq!(
            compute("TEST_APP_SECRET", b"test"),
            "0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221"
        );
        assert_eq!(
            compute("secret", b"test"),
            "0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
        );
        assert_eq!(
            compute("It's a Secret to Everybody", b"Hello, World!"),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn the_full_whatsapp_payload_vector_matches() {
        let body = include_bytes!("../tests/fixtures/meta_text_message.json");
        assert_eq!(body.len(), 499);
        let header = "sha256=964f50820adcc03228037724153dd41dcd72d72113a4659d63916721028e0c23";
        assert_eq!(verify("TEST_APP_SECRET", body, Some(header)), Ok(()));
    }

    #[test]
    fn bad_signatures_are_rejected() {
        let good = format!("sha256={}", compute("s", b"body"));
        assert_eq!(verify("s", b"body", Some(&good)), Ok(()));
        assert_eq!(
            verify("s", b"body!", Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("t", b"body", Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify("s", b"body", None), Err(SignatureError::Missing));
        assert_eq!(
            verify("s", b"body", Some("md5=abc")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify("s", b"body", Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn the_subscription_handshake_echoes_the_challenge_only_for_the_right_token() {
        assert_eq!(
            verify_subscription(Some("subscribe"), Some("tok"), Some("42"), "tok"),
            Some("42")
        );
        assert_eq!(
            verify_subscription(Some("subscribe"), Some("bad"), Some("42"), "tok"),
            None
        );
        assert_eq!(
            verify_subscription(Some("unsubscribe"), Some("tok"), Some("42"), "tok"),
            None
        );
        assert_eq!(
            verify_subscription(Some("subscribe"), None, Some("42"), "tok"),
            None
        );
    }
}
