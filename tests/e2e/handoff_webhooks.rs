//! The people around a handoff, end to end: an urgent handoff is announced in the team's chat
//! (a Slack-style incoming webhook), the lead reaches the tenant's CRM signed (checked here with
//! Python's `hmac`) after the CRM's own outage, with one lead id however often it is retried, a
//! non-urgent handoff is not announced, and a handoff outside business hours tells the customer
//! when the team is back instead of promising a quick answer.

use atiende_e2e::Stack;
use atiende_testkit::{WebhookReceiver, python};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &str = "crm-signing-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the twilio Python SDK (pip install twilio); infra/test.sh runs it"]
async fn handoffs_reach_the_team_chat_and_the_crm() {
    let stack = Stack::start_with(|s| {
        s.bus.min_backoff_ms = 20;
        s.bus.max_backoff_ms = 100;
    })
    .await;
    let receiver = WebhookReceiver::start();
    // The CRM is down for its first call.
    receiver.fail_next("/crm/leads", 1, 503);
    let (status, tenant) = stack
        .admin(
            Method::PATCH,
            "/admin/tenants/demo",
            Some(json!({
                "alerts": { "webhook_url": receiver.url("/hooks/abc/def") },
                "crm": { "webhook_url": receiver.url("/crm/leads"), "signing_secret": SECRET },
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert_eq!(tenant["crm"]["signing_secret_set"], true);
    assert_eq!(tenant["alerts"]["webhook_url_set"], true);
    assert!(
        !tenant.to_string().contains("/hooks/abc/def") && !tenant.to_string().contains(SECRET),
        "the alert URL carries a token and the secret is write-only"
    );

    stack
        .customer_says(
            "SM700",
            "+18095558201",
            "Quiero hablar con una persona, mi correo es Ana.Perez@Example.com",
        )
        .await;
    let notice = stack.twilio_messages(1).await[0].body.clone().unwrap();
    let ticket = notice
        .split('*')
        .find(|part| part.starts_with("T-"))
        .unwrap()
        .to_owned();

    let leads = atiende_testkit::eventually(std::time::Duration::from_secs(10), || async {
        let calls = receiver.calls("/crm/leads");
        (calls.iter().any(|c| c.status == 200)).then_some(calls)
    })
    .await
    .expect("the lead reaches the CRM after its outage");
    assert_eq!(leads[0].status, 503, "{leads:?}");
    let delivered = leads.iter().find(|c| c.status == 200).unwrap();
    let lead: Value = serde_json::from_str(&delivered.body).unwrap();
    assert_eq!(lead["contact_info"]["phone_or_username"], "+18095558201");
    assert_eq!(lead["contact_info"]["email"], "ana.perez@example.com");
    assert_eq!(lead["urgency_level"], "Alto");
    assert_eq!(lead["ticket"], ticket.as_str());
    assert!(
        lead["problem_statement"]
            .as_str()
            .unwrap()
            .contains("Quiero hablar con una persona")
    );
    let ids: Vec<&str> = leads
        .iter()
        .map(|c| c.headers["idempotency-key"].as_str())
        .collect();
    assert!(
        ids.iter().all(|id| *id == lead["lead_id"]),
        "one lead id on every attempt: {ids:?}"
    );
    let timestamp: i64 = delivered.headers["x-atiende-timestamp"].parse().unwrap();
    assert_eq!(
        delivered.headers["x-atiende-signature"],
        python::chatwoot_signature(SECRET, timestamp, &delivered.body).await,
        "HMAC-SHA256 over \"{{timestamp}}.{{body}}\""
    );

    let alerts = receiver.calls("/hooks/abc/def");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert: Value = serde_json::from_str(&alerts[0].body).unwrap();
    assert!(alert["text"].as_str().unwrap().contains(&ticket), "{alert}");
    assert_eq!(alert["attachments"][0]["color"], "#d62828", "urgent is red");
    assert!(
        !alerts[0].body.contains("8095558201"),
        "the customer's number is masked in the team chat"
    );

    // A handoff the customer accepted after the bot's offer is not urgent: no alert.
    for (sid, text) in [
        ("SM710", "¿Arreglan celulares?"),
        ("SM711", "Sí, por favor"),
    ] {
        stack.customer_says(sid, "+18095558202", text).await;
    }
    stack.twilio_messages(3).await;
    stack.settle().await;
    assert_eq!(receiver.calls("/hooks/abc/def").len(), 1);
    assert_eq!(
        receiver
            .calls("/crm/leads")
            .iter()
            .filter(|c| c.status == 200)
            .count(),
        2,
        "every handoff is a lead"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the twilio Python SDK (pip install twilio); infra/test.sh runs it"]
async fn outside_business_hours_the_customer_is_told_when_the_team_is_back() {
    let stack = Stack::start().await;
    // Open only on the day after tomorrow: never now.
    let day = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%a")
        .to_string()
        .to_lowercase();
    let (status, tenant) = stack
        .admin(
            Method::PATCH,
            "/admin/tenants/demo",
            Some(json!({ "business_hours": { "timezone": "UTC",
                "weekly": [ { "days": [day], "open": "08:00", "close": "09:30" } ] } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert_eq!(tenant["business_hours"]["weekly"][0]["days"], json!([day]));
    let (status, refused) = stack
        .admin(
            Method::PATCH,
            "/admin/tenants/demo",
            Some(json!({ "business_hours": { "timezone": "Mars/Olympus",
                "weekly": [ { "days": ["mon"], "open": "08:00", "close": "18:00" } ] } })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");

    stack
        .customer_says("SM720", "+18095558203", "Quiero hablar con una persona")
        .await;
    let notice = stack.twilio_messages(1).await[0].body.clone().unwrap();
    assert!(
        notice.contains("fuera de nuestro horario") && notice.contains("08:00–09:30"),
        "{notice}"
    );
    assert!(notice.contains("*T-"), "the ticket is given: {notice}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the twilio Python SDK (pip install twilio); infra/test.sh runs it"]
async fn a_crm_asking_to_wait_an_hour_holds_back_no_reply_to_the_customer() {
    let stack = Stack::start().await;
    let receiver = WebhookReceiver::start();
    receiver.fail_next_asking("/crm/leads", 1000, 503, Some(3600));
    let (status, tenant) = stack
        .admin(
            Method::PATCH,
            "/admin/tenants/demo",
            Some(json!({
                "crm": { "webhook_url": receiver.url("/crm/leads"), "signing_secret": SECRET },
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    stack
        .customer_says("SM720", "+18095558220", "Quiero hablar con una persona")
        .await;
    stack.twilio_messages(1).await;
    atiende_testkit::eventually(std::time::Duration::from_secs(10), || async {
        (!receiver.calls("/crm/leads").is_empty()).then_some(())
    })
    .await
    .expect("the lead was tried");

    // The CRM asked for an hour; the agent's reply to the customer goes out now.
    let conversation = "demo:twilio:+18095558220";
    for (action, body) in [
        ("take", None),
        (
            "reply",
            Some(json!({ "text": "Hola, soy Ana del equipo." })),
        ),
    ] {
        let (status, answer) = stack
            .call(
                Method::POST,
                &format!("/console/api/conversations/{conversation}/{action}"),
                atiende_demo::AGENT_KEY,
                body,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{action}: {answer}");
    }
    let sent = stack.twilio_messages(2).await;
    assert_eq!(sent[1].body.as_deref(), Some("Hola, soy Ana del equipo."));
}
