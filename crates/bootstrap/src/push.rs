//! Push delivery between processes: the shared-token check on push routes, and the embedded
//! bus's HTTP push to a service in another process (as Pub/Sub push would).

use async_trait::async_trait;
use atiende_ports::{
    Delivery, HandleOutcome, MessageHandler,
    bus::{PushAuthenticator, PushEnvelope},
    channel::parse_retry_after,
};
use secrecy::{ExposeSecret, SecretString};

/// Push requests carrying the shared `bus.push_token`.
pub(crate) struct SharedToken(pub(crate) SecretString);

#[async_trait]
impl PushAuthenticator for SharedToken {
    async fn verify(&self, bearer: Option<&str>) -> Result<(), String> {
        use subtle::ConstantTimeEq;
        let presented = bearer.unwrap_or_default().as_bytes();
        if bool::from(presented.ct_eq(self.0.expose_secret().as_bytes())) {
            Ok(())
        } else {
            Err("wrong or missing push token".to_owned())
        }
    }
}

/// A [`MessageHandler`] that POSTs the delivery as a Pub/Sub push envelope. Like Pub/Sub, a 2xx
/// answer acknowledges; anything else (or no answer) means "deliver again later".
pub(crate) struct HttpPush {
    pub(crate) client: reqwest::Client,
    pub(crate) url: String,
    pub(crate) token: Option<SecretString>,
}

#[async_trait]
impl MessageHandler for HttpPush {
    async fn handle(&self, delivery: &Delivery) -> HandleOutcome {
        let envelope = PushEnvelope::from(delivery);
        let mut request = self.client.post(&self.url).json(&envelope);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose_secret());
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => HandleOutcome::Ack,
            Ok(response) => HandleOutcome::Retry {
                after: response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, chrono::Utc::now())),
                reason: format!("push endpoint answered {}", response.status()),
            },
            Err(e) => HandleOutcome::Retry {
                reason: format!("push endpoint unreachable: {e}"),
                after: None,
            },
        }
    }
}
