//! Verifying the OIDC token Pub/Sub push attaches to each request (protocols.md §5.2).
//!
//! A push subscription with `oidc_token { service_account_email, audience }` sends
//! `Authorization: Bearer <JWT>`, signed RS256 by Google. [`OidcVerifier`] checks, in order: the
//! signature against Google's published keys (fetched from the certs URL, cached, refetched when a
//! token names a key not in the cache), the issuer (`https://accounts.google.com`, or the bare
//! host), the audience (the push endpoint URL unless configured), expiry, and that the token's
//! `email` is the subscription's service account with `email_verified`.
//!
//! The certs URL, issuers and audience are settings, so tests verify real RS256 tokens signed by
//! their own key served from a local JWKS endpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use atiende_ports::bus::PushAuthenticator;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;
use tracing::warn;

/// Google's OIDC signing keys, as a JWK set.
pub const GOOGLE_CERTS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
/// The issuers Google's ID tokens carry.
pub const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// What a push token must say.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// Where the signing keys are published (a JWK set).
    pub certs_url: String,
    /// Accepted issuers.
    pub issuers: Vec<String>,
    /// Accepted audiences (the push endpoint URLs, or the audience set on the subscription).
    pub audiences: Vec<String>,
    /// The push subscription's service account; the token's `email` must be it.
    pub service_account: String,
    /// How long fetched keys are trusted before a refetch.
    pub keys_ttl: Duration,
}

impl OidcSettings {
    /// Google's issuer and keys, for `audiences` and `service_account`.
    pub fn google(audiences: Vec<String>, service_account: String) -> Self {
        Self {
            certs_url: GOOGLE_CERTS_URL.to_owned(),
            issuers: GOOGLE_ISSUERS.iter().map(|s| (*s).to_owned()).collect(),
            audiences,
            service_account,
            keys_ttl: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
}

struct Keys {
    set: JwkSet,
    fetched: Instant,
}

/// Verifies Pub/Sub push OIDC tokens.
pub struct OidcVerifier {
    settings: OidcSettings,
    http: reqwest::Client,
    keys: RwLock<Option<Keys>>,
    /// Unknown key ids trigger at most one refetch per this interval (a flood of forged tokens
    /// must not become a flood of requests to Google).
    refetch_every: Duration,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl OidcVerifier {
    /// A verifier fetching keys with `http`.
    pub fn new(settings: OidcSettings, http: reqwest::Client) -> Arc<Self> {
        Arc::new(Self {
            settings,
            http,
            keys: RwLock::new(None),
            refetch_every: Duration::from_secs(30),
        })
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let response = self
            .http
            .get(&self.settings.certs_url)
            .send()
            .await
            .map_err(|e| format!("cannot fetch the OIDC keys: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("the OIDC keys answered {}", response.status()));
        }
        response
            .json::<JwkSet>()
            .await
            .map_err(|e| format!("the OIDC keys are not a JWK set: {e}"))
    }

    /// The key `kid`, from the cache or a refetch.
    async fn key(&self, kid: &str) -> Result<DecodingKey, String> {
        {
            let keys = self.keys.read().await;
            if let Some(keys) = keys.as_ref() {
                let fresh = keys.fetched.elapsed() < self.settings.keys_ttl;
                let found = keys.set.find(kid);
                if let Some(jwk) = found
                    && fresh
                {
                    return DecodingKey::from_jwk(jwk).map_err(|e| e.to_string());
                }
                if found.is_none() && fresh && keys.fetched.elapsed() < self.refetch_every {
                    return Err(format!("unknown signing key {kid}"));
                }
            }
        }
        let mut keys = self.keys.write().await;
        let set = self.fetch().await?;
        let key = set
            .find(kid)
            .map(DecodingKey::from_jwk)
            .transpose()
            .map_err(|e| e.to_string())?;
        *keys = Some(Keys {
            set,
            fetched: Instant::now(),
        });
        key.ok_or_else(|| format!("unknown signing key {kid}"))
    }

    /// Verifies one token.
    pub async fn verify_token(&self, token: &str) -> Result<(), String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
        if header.alg != Algorithm::RS256 {
            return Err(format!("unexpected algorithm {:?}", header.alg));
        }
        let kid = header.kid.ok_or("the token names no signing key")?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&self.settings.issuers);
        validation.set_audience(&self.settings.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| format!("invalid token: {e}"))?;
        if data.claims.email.as_deref() != Some(self.settings.service_account.as_str()) {
            return Err("the token is not the push subscription's service account".to_owned());
        }
        if data.claims.email_verified != Some(true) {
            return Err("the token's email is not verified".to_owned());
        }
        Ok(())
    }
}

#[async_trait]
impl PushAuthenticator for OidcVerifier {
    async fn verify(&self, bearer: Option<&str>) -> Result<(), String> {
        let token = bearer.ok_or("no bearer token")?;
        self.verify_token(token).await.inspect_err(|reason| {
            warn!(reason = %reason, "Push request refused.");
        })
    }
}
