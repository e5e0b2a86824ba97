//! A business's channels checked from the admin, through the deployment's public URL, the way
//! the providers reach them: a right configuration says so channel by channel, and a wrong
//! public URL shows before any customer writes.

use atiende_e2e::Stack;
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn check<'a>(answer: &'a Value, channel: &str) -> &'a Value {
    answer["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == channel)
        .unwrap_or_else(|| panic!("no {channel} check in {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_channel_is_reached_through_the_public_url() {
    let stack = Stack::start().await;
    let (status, answer) = stack
        .admin(Method::POST, "/admin/tenants/demo/channels/check", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // Twilio's route refuses an unsigned request; Meta's echoes the verification challenge with
    // the tenant's verify token; the web chat describes the tenant.
    for channel in ["twilio", "meta", "webchat"] {
        assert_eq!(check(&answer, channel)["reachable"], true, "{answer}");
    }
    assert_eq!(check(&answer, "twilio")["status"], 403);

    // Behind a public URL that does not lead here, every check fails, with the reason.
    let wrong = Stack::start_with(|s| s.public_url = Some("http://127.0.0.1:9".to_owned())).await;
    let (_, answer) = wrong
        .admin(Method::POST, "/admin/tenants/demo/channels/check", None)
        .await;
    for channel in ["twilio", "meta", "webchat"] {
        let c = check(&answer, channel);
        assert_eq!(c["reachable"], false, "{answer}");
        assert!(c["error"].is_string(), "{answer}");
    }
}
