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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assistant_patch_keeps_the_settings_it_does_not_name() {
    let stack = Stack::start().await;
    let (_, before) = stack.admin(Method::GET, "/admin/tenants/demo", None).await;
    let suggestions = before["assistant"]["suggestions"].clone();
    assert!(!suggestions.as_array().unwrap().is_empty(), "{before}");

    // A script that only changes the persona and the budget…
    let (status, body) = stack
        .admin(
            Method::PATCH,
            "/admin/tenants/demo",
            Some(
                serde_json::json!({ "assistant": { "persona": "Tutea al cliente.",
                "monthly_budget_usd": 12.5, "csat": false } }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let assistant = &body["assistant"];
    assert_eq!(assistant["persona"], "Tutea al cliente.");
    assert_eq!(assistant["monthly_budget_usd"], 12.5);
    // …leaves the demo's own web chat suggestions alone.
    assert_eq!(assistant["suggestions"], suggestions, "{body}");

    // `null` returns one setting to its default; the others stay.
    let (status, body) = stack
        .admin(
            Method::PATCH,
            "/admin/tenants/demo",
            Some(serde_json::json!({ "assistant": { "monthly_budget_usd": null } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["assistant"]["monthly_budget_usd"].is_null(), "{body}");
    assert_eq!(body["assistant"]["csat"], false, "{body}");
    assert_eq!(body["assistant"]["persona"], "Tutea al cliente.");

    // A setting that does not exist, or of the wrong type, is a 400 that names it; nothing changes.
    for bad in [
        serde_json::json!({ "assistant": { "colour": "red" } }),
        serde_json::json!({ "assistant": { "csat": "yes" } }),
        serde_json::json!({ "assistant": "llm" }),
    ] {
        let (status, body) = stack
            .admin(Method::PATCH, "/admin/tenants/demo", Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body.to_string().contains("assistant"), "{bad}: {body}");
    }
    let (_, after) = stack.admin(Method::GET, "/admin/tenants/demo", None).await;
    assert_eq!(after["assistant"]["csat"], false, "{after}");

    // `null` for the whole object returns every setting to its default.
    let (status, body) = stack
        .admin(
            Method::PATCH,
            "/admin/tenants/demo",
            Some(serde_json::json!({ "assistant": null })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["assistant"]["csat"], true, "{body}");
    assert!(body["assistant"]["persona"].is_null(), "{body}");
}
