//! Pub/Sub push OIDC verification with real RS256 tokens: signed here by a test key whose public
//! half a local JWKS endpoint serves, as Google's certs URL does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use atiende_adapter_gcp::oidc::{GOOGLE_ISSUERS, OidcSettings, OidcVerifier};
use atiende_ports::bus::PushAuthenticator;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = include_str!("fixtures/oidc-test-key.pem");
const JWKS: &str = include_str!("fixtures/oidc-test-jwks.json");
const AUDIENCE: &str =
    "https://atiende-processor.example.run.app/pubsub/push/atiende-processor-inbound";
const ACCOUNT: &str = "atiende-pubsub-push@atiende.iam.gserviceaccount.com";

/// Serves the JWK set and counts the requests.
async fn jwks_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oauth2/v3/certs", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0_u8; 4096];
                let _ = socket.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{JWKS}",
                    JWKS.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (url, hits)
}

fn verifier(certs_url: String) -> Arc<OidcVerifier> {
    let mut settings = OidcSettings::google(vec![AUDIENCE.to_owned()], ACCOUNT.to_owned());
    settings.certs_url = certs_url;
    settings.keys_ttl = Duration::from_secs(3600);
    OidcVerifier::new(settings, reqwest::Client::new())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Google's documented claims (protocols.md §5.2), for our audience and account.
fn claims() -> Value {
    json!({
        "aud": AUDIENCE,
        "azp": "113774264463038321964",
        "email": ACCOUNT,
        "email_verified": true,
        "exp": now() + 3600,
        "iat": now(),
        "iss": GOOGLE_ISSUERS[0],
        "sub": "113774264463038321964",
    })
}

fn sign(claims: &Value, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn with(field: &str, value: Value) -> Value {
    let mut c = claims();
    c[field] = value;
    c
}

#[tokio::test]
async fn a_token_google_would_sign_for_the_push_account_is_accepted() {
    let (url, hits) = jwks_server().await;
    let v = verifier(url);
    let token = sign(&claims(), "atiende-test-key");
    v.verify(Some(&token)).await.unwrap();
    // The bare issuer form is Google's too.
    let token = sign(
        &with("iss", json!("accounts.google.com")),
        "atiende-test-key",
    );
    v.verify(Some(&token)).await.unwrap();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "keys are fetched once and cached"
    );
}

#[tokio::test]
async fn tokens_for_someone_else_or_out_of_date_are_refused() {
    let (url, _) = jwks_server().await;
    let v = verifier(url);
    let refused = [
        ("no token", None),
        ("not a JWT", Some("abc.def".to_owned())),
        (
            "another audience",
            Some(sign(
                &with("aud", json!("https://evil.example/push")),
                "atiende-test-key",
            )),
        ),
        (
            "another issuer",
            Some(sign(
                &with("iss", json!("https://evil.example")),
                "atiende-test-key",
            )),
        ),
        (
            "expired",
            Some(sign(&with("exp", json!(now() - 3600)), "atiende-test-key")),
        ),
        (
            "another account",
            Some(sign(
                &with("email", json!("someone@example.com")),
                "atiende-test-key",
            )),
        ),
        (
            "unverified email",
            Some(sign(
                &with("email_verified", json!(false)),
                "atiende-test-key",
            )),
        ),
        ("unknown key", Some(sign(&claims(), "rotated-away"))),
    ];
    for (why, token) in refused {
        assert!(
            v.verify(token.as_deref()).await.is_err(),
            "{why} must be refused"
        );
    }
    // A valid token with its signature tampered with.
    let token = sign(&claims(), "atiende-test-key");
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = sig.as_bytes().to_vec();
    bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{head}.{}", String::from_utf8(bytes).unwrap());
    assert!(v.verify(Some(&tampered)).await.is_err());
    // HS256 signed with the public key as the secret: the classic confusion attack.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("atiende-test-key".to_owned());
    let forged = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(JWKS.as_bytes()),
    )
    .unwrap();
    assert!(v.verify(Some(&forged)).await.is_err());
}

#[tokio::test]
async fn unreachable_keys_refuse_rather_than_accept() {
    let v = verifier("http://127.0.0.1:9/certs".to_owned());
    let token = sign(&claims(), "atiende-test-key");
    assert!(v.verify(Some(&token)).await.is_err());
}
