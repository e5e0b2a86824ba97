//! `X-Twilio-Signature`: HMAC-SHA1 over the URL Twilio called and the sorted POST parameters.
//!
//! 1. Start from the full URL Twilio requested (scheme, host, path, query).
//! 2. Append each parameter name (byte-wise sorted) followed by each of its values (sorted,
//!    de-duplicated), with no separators.
//! 3. `base64(HMAC-SHA1(auth token, that string))`, compared in constant time.
//!
//! Twilio's SDKs also accept the URL with its port removed or with the default port added, since
//! Twilio's own signing is inconsistent about ports; so does [`verify`]. Behind Cloud Run's proxy
//! the URL is rebuilt from the configured public base URL, never from the request's `Host`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// The string Twilio signs: the URL, then every name and value.
pub fn signing_string(url: &str, params: &[(String, String)]) -> String {
    let mut out = String::from(url);
    out.push_str(&params_part(params));
    out
}

/// The parameters' part of the signing string: each name followed by one of its values, for
/// every distinct (name, value) pair, names and then values in byte order. One sort of the pairs,
/// so a form of many fields costs O(n log n): grouping values name by name was quadratic, and an
/// unauthenticated request of 28,000 empty fields took seconds of CPU to refuse.
fn params_part(params: &[(String, String)]) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut out = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len()).sum());
    for (name, value) in pairs {
        out.push_str(name);
        out.push_str(value);
    }
    out
}

fn mac(auth_token: &str, data: &str) -> HmacSha1 {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <HmacSha1 as Mac>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any size"));
    mac.update(data.as_bytes());
    mac
}

/// Computes the signature of a request (what Twilio would send).
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(
        mac(auth_token, &signing_string(url, params))
            .finalize()
            .into_bytes(),
    )
}

/// The URL as given, with its port removed, and with the scheme's default port added.
pub fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    if let Ok(parsed) = url::Url::parse(url) {
        let default = match parsed.scheme() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        };
        // `Url` hides a port equal to the scheme's default, so rebuild the authority by hand.
        let host = parsed.host_str().unwrap_or_default();
        let rest = &url[url.find(host).map_or(url.len(), |i| i + host.len())..];
        let rest = rest.trim_start_matches(|c: char| c == ':' || c.is_ascii_digit());
        let prefix = format!("{}://", parsed.scheme());
        let userinfo = if parsed.username().is_empty() {
            String::new()
        } else {
            match parsed.password() {
                Some(p) => format!("{}:{p}@", parsed.username()),
                None => format!("{}@", parsed.username()),
            }
        };
        let without = format!("{prefix}{userinfo}{host}{rest}");
        if without != url {
            variants.push(without);
        }
        if let Some(port) = default {
            let with = format!("{prefix}{userinfo}{host}:{port}{rest}");
            if with != url {
                variants.push(with);
            }
        }
    }
    variants
}

/// Why a signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Twilio-Signature` header.
    #[error("the X-Twilio-Signature header is missing")]
    Missing,
    /// The header is not base64 of a SHA-1 HMAC.
    #[error("the X-Twilio-Signature header is malformed")]
    Malformed,
    /// The signature does not match.
    #[error("the X-Twilio-Signature does not match")]
    Mismatch,
    /// The `bodySHA256` query parameter does not match the body.
    #[error("the body does not match its bodySHA256")]
    BodyHashMismatch,
}

/// Verifies a form-encoded request's signature against `url` (and its port variants).
pub fn verify(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let expected = STANDARD
        .decode(header.trim())
        .map_err(|_| SignatureError::Malformed)?;
    // The parameters' part is the same for every URL variant: built once.
    let part = params_part(params);
    let matches = |candidate: &str| {
        let mut mac = mac(auth_token, candidate);
        mac.update(part.as_bytes());
        mac.verify_slice(&expected).is_ok()
    };
    // The URL as given almost always matches; the port variants are the rare fallback.
    if matches(url) {
        return Ok(());
    }
    for candidate in url_variants(url).iter().skip(1) {
        if matches(candidate) {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// Verifies a JSON-body request: the URL carries `bodySHA256`, which must be the body's SHA-256,
/// and the signature covers the URL alone.
pub fn verify_json(
    auth_token: &str,
    url: &str,
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let declared = url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "bodySHA256")
                .map(|(_, v)| v.into_owned())
        })
        .ok_or(SignatureError::BodyHashMismatch)?;
    let actual = hex::encode(Sha256::digest(body));
    if !bool::from(declared.as_bytes().ct_eq(actual.as_bytes())) {
        return Err(SignatureError::BodyHashMismatch);
    }
    verify(auth_token, url, &[], header)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twilio's definition, name by name, as the SDKs write it.
    fn reference(url: &str, params: &[(String, String)]) -> String {
        let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut out = url.to_owned();
        for name in names {
            let mut values: Vec<&str> = params
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .collect();
            values.sort_unstable();
            values.dedup();
            for value in values {
                out.push_str(name);
                out.push_str(value);
            }
        }
        out
    }

    #[test]
    fn the_one_sort_signing_string_is_twilios_definition() {
        let mut form: Vec<(String, String)> = Vec::new();
        for i in 0..300_u32 {
            // Repeated names, repeated and unsorted values, names that prefix each other.
            let name = ["MediaUrl", "MediaUrl0", "Body", "b", "Z", ""][(i % 6) as usize];
            let value = format!("{}", (i * 7919) % 13);
            form.push((name.to_owned(), value));
        }
        form.push(("Body".into(), String::new()));
        assert_eq!(
            signing_string("https://a.example/x?y=1", &form),
            reference("https://a.example/x?y=1", &form)
        );
        assert_eq!(signing_string("u", &[]), reference("u", &[]));
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    // protocols.md §1.3: the vectors of twilio-python and twilio-node.
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn form() -> Vec<(String, String)> {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    #[test]
    fn the_published_form_vectors_match() {
        assert_eq!(
            signing_string(URL, &form()),
            "https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675309Digits1234From+14158675309To+18005551212"
        );
        assert_eq!(compute(TOKEN, URL, &form()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert_eq!(
            compute(
                TOKEN,
                "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                &form()
            ),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        assert_eq!(
            compute(
                TOKEN,
                "http://mycompany.com:80/myapp.php?foo=1&bar=2",
                &form()
            ),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        );
        assert_eq!(
            compute(
                TOKEN,
                "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
                &form()
            ),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        );
    }

    #[test]
    fn multi_valued_parameters_are_sorted_and_deduplicated() {
        let p = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert!(signing_string(URL, &p).ends_with("Digits1234Digits5678SidCA123SidAccountAC123"));
        assert_eq!(compute(TOKEN, URL, &p), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn verification_accepts_either_port_form() {
        let sig_with_port = "kvajT1Ptam85bY51eRf/AJRuM3w=";
        assert_eq!(verify(TOKEN, URL, &form(), Some(sig_with_port)), Ok(()));
        let sig_without = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert_eq!(
            verify(
                TOKEN,
                "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                &form(),
                Some(sig_without)
            ),
            Ok(())
        );
    }

    #[test]
    fn verification_rejects_wrong_missing_and_malformed_signatures() {
        assert_eq!(
            verify(TOKEN, URL, &form(), None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(TOKEN, URL, &form(), Some("%%%")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(
                "other-token",
                URL,
                &form(),
                Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
            ),
            Err(SignatureError::Mismatch)
        );
        let mut tampered = form();
        tampered[2].1 = "9999".into();
        assert_eq!(
            verify(TOKEN, URL, &tampered, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn json_bodies_are_verified_through_body_sha256() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert_eq!(hex::encode(Sha256::digest(body)), hash);
        let url = format!("{URL}&bodySHA256={hash}");
        assert_eq!(compute(TOKEN, &url, &[]), "a9nBmqA0ju/hNViExpshrM61xv4=");
        assert_eq!(
            verify_json(TOKEN, &url, body, Some("a9nBmqA0ju/hNViExpshrM61xv4=")),
            Ok(())
        );
        let short = format!("https://mycompany.com/myapp.php?bodySHA256={hash}");
        assert_eq!(compute(TOKEN, &short, &[]), "y77kIzt2vzLz71DgmJGsen2scGs=");
        assert_eq!(
            verify_json(TOKEN, &url, b"{}", Some("a9nBmqA0ju/hNViExpshrM61xv4=")),
            Err(SignatureError::BodyHashMismatch)
        );
    }

    #[test]
    fn the_empty_json_body_vector_matches_its_443_form() {
        let hash = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        assert_eq!(hex::encode(Sha256::digest(b"{}")), hash);
        let url = format!("{URL}&bodySHA256={hash}");
        assert_eq!(
            verify_json(TOKEN, &url, b"{}", Some("Ldidvp12m26NI7eqEvxnEpkd9Hc=")),
            Ok(())
        );
    }

    #[test]
    fn the_whatsapp_shaped_vector_matches() {
        let p = params(&[
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("ApiVersion", "2010-04-01"),
            ("Body", "Hi, where is my order?"),
            ("From", "whatsapp:+14155550123"),
            ("MessageSid", "SM00000000000000000000000000000001"),
            ("NumMedia", "0"),
            ("NumSegments", "1"),
            ("ProfileName", "Ada"),
            ("ReferralNumMedia", "0"),
            ("SmsMessageSid", "SM00000000000000000000000000000001"),
            ("SmsSid", "SM00000000000000000000000000000001"),
            ("SmsStatus", "received"),
            ("To", "whatsapp:+14155238886"),
            ("WaId", "14155550123"),
        ]);
        let url = "https://ingest.example.com/twilio/whatsapp";
        assert_eq!(
            compute("test_auth_token_123", url, &p),
            "YKxmQXj5uRtJZ/J0epQ5HAkBiIE="
        );
        assert_eq!(
            verify(
                "test_auth_token_123",
                "https://ingest.example.com:443/twilio/whatsapp",
                &p,
                Some("YKxmQXj5uRtJZ/J0epQ5HAkBiIE=")
            ),
            Ok(())
        );
    }

    #[test]
    fn url_variants_cover_removed_and_default_ports() {
        assert_eq!(
            url_variants("https://a.example.com/x?y=1"),
            vec![
                "https://a.example.com/x?y=1",
                "https://a.example.com:443/x?y=1"
            ]
        );
        assert_eq!(
            url_variants("http://127.0.0.1:8080/w"),
            vec![
                "http://127.0.0.1:8080/w",
                "http://127.0.0.1/w",
                "http://127.0.0.1:80/w"
            ]
        );
    }
}
