//! Leads pushed to the tenant's CRM as signed JSON (docs/integrations.md).
//!
//! `POST {webhook_url}` with the lead as the body and:
//! * `X-Atiende-Timestamp`: Unix seconds when it was signed;
//! * `X-Atiende-Signature`: `sha256=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"` under
//!   the tenant's signing secret — the CRM recomputes it and refuses old timestamps;
//! * `Idempotency-Key`: the lead id, the same on every retry, so the CRM keeps one record.

use async_trait::async_trait;
use atiende_domain::{Lead, Tenant};
use atiende_ports::{DeskError, LeadSink};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

/// Pushes leads to each tenant's CRM webhook.
pub struct SignedWebhookCrm {
    client: reqwest::Client,
}

impl SignedWebhookCrm {
    /// A sink posting with `client`.
    pub fn new(client: reqwest::Client) -> Self {
        Self { client }
    }
}

/// The `X-Atiende-Signature` value for `body` signed at `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[async_trait]
impl LeadSink for SignedWebhookCrm {
    async fn push(&self, tenant: &Tenant, lead: &Lead) -> Result<(), DeskError> {
        let crm = tenant.crm.as_ref().ok_or(DeskError::NotConfigured("crm"))?;
        let body = serde_json::to_vec(lead).map_err(|e| DeskError::Permanent {
            message: format!("the lead could not be encoded: {e}"),
        })?;
        let timestamp = chrono::Utc::now().timestamp();
        let request = self
            .client
            .post(&crm.webhook_url)
            .header("content-type", "application/json")
            .header("x-atiende-timestamp", timestamp.to_string())
            .header(
                "x-atiende-signature",
                signature(crm.signing_secret.expose_secret(), timestamp, &body),
            )
            .header("idempotency-key", &lead.lead_id)
            .body(body);
        crate::send(request, "CRM webhook").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let a = signature("s3cret", 1_763_800_000, br#"{"lead_id":"lead-1"}"#);
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64, "{a}");
        assert_ne!(
            a,
            signature("s3cret", 1_763_800_001, br#"{"lead_id":"lead-1"}"#)
        );
        assert_ne!(
            a,
            signature("s3cret", 1_763_800_000, br#"{"lead_id":"lead-2"}"#)
        );
        assert_ne!(
            a,
            signature("other", 1_763_800_000, br#"{"lead_id":"lead-1"}"#)
        );
    }
}
