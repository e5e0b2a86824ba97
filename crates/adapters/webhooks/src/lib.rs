//! atiende's outgoing webhooks, for the people around a handoff.
//!
//! * [`alert`]: announces a handoff in the team's chat through an incoming webhook that takes
//!   Slack's message format (`text` plus coloured `attachments`), which Slack, Rocket.Chat
//!   (the seeds' `#soporte-whatsapp` channel) and Mattermost accept.
//! * [`crm`]: pushes the lead to the tenant's CRM as signed JSON, so the CRM can tell atiende's
//!   calls from anyone else's and drop replays.
//!
//! Both are called by the dispatcher from its outbox: a transient failure is retried with
//! backoff by the bus, a permanent one is recorded on the action, and the action's id keeps a
//! redelivered action from being sent twice.

pub mod alert;
pub mod crm;

pub use alert::SlackAlerter;
pub use crm::SignedWebhookCrm;

use atiende_ports::{DeskError, channel::parse_retry_after};
use chrono::Utc;

/// Sends a prepared request and classifies the answer like a desk call: 2xx is done, 408, 429
/// and 5xx (and no answer) may succeed later, anything else will not.
async fn send(request: reqwest::RequestBuilder, what: &str) -> Result<(), DeskError> {
    let response = request.send().await.map_err(|e| DeskError::Transient {
        message: format!("request to the {what} failed: {}", e.without_url()),
        retry_after: None,
    })?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, Utc::now()));
    if (200..=299).contains(&status) {
        return Ok(());
    }
    Err(DeskError::from_status(
        &format!("the {what}"),
        status,
        retry_after,
        "",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An incoming webhook's URL is its credential (Slack's `/services/T…/B…/secret`): a failed
    /// call must not carry it into logs, dead letters or the admin API.
    #[tokio::test]
    async fn a_failed_call_does_not_repeat_the_url_and_its_token() {
        let client = reqwest::Client::new();
        // Nothing listens on port 1.
        let request = client
            .post("http://127.0.0.1:1/services/T0000/B0000/s3cr3t-webhook-token")
            .body("{}");
        let Err(DeskError::Transient { message, .. }) = send(request, "team chat").await else {
            panic!("an unreachable webhook is a transient failure");
        };
        assert!(
            message.contains("request to the team chat failed"),
            "{message}"
        );
        assert!(!message.contains("s3cr3t"), "{message}");
        assert!(!message.contains("/services/"), "{message}");
    }
}
