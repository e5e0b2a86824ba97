//! Dead letters are not a dead end: a reply parked because the send API was down for longer
//! than the bus retries is redriven by an operator once the API is back, reaches the customer
//! once, and leaves the dead letters; a webhook item that never became a bus message cannot be
//! redriven and says so.

use atiende_e2e::{Stack, meta_text};
use atiende_testkit::fake_twilio::Failure;
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn letters(stack: &Stack) -> Vec<Value> {
    let (status, body) = stack.admin(Method::GET, "/admin/dead-letters", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["dead_letters"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3 and the twilio SDK; infra/test.sh runs it"]
async fn a_reply_parked_while_the_send_api_was_down_is_redriven_once() {
    let stack = Stack::start_with(|s| {
        s.bus.max_attempts = 2;
        s.bus.min_backoff_ms = 20;
        s.bus.max_backoff_ms = 50;
        s.dispatcher.send_attempts = 1;
    })
    .await;
    // Down for exactly the attempts the bus makes.
    stack.twilio.fail_next(
        2,
        Failure {
            status: 503,
            code: None,
            retry_after: None,
        },
    );
    stack
        .customer_says("SM900", "+18095559001", "¿Cuánto cuesta el cemento gris?")
        .await;
    let parked = atiende_testkit::eventually(std::time::Duration::from_secs(10), || async {
        letters(&stack)
            .await
            .into_iter()
            .find(|l| l["subscription"] == "atiende-dispatcher-outbound")
    })
    .await
    .expect("the reply is parked after the bus gave up");
    assert!(stack.twilio.sent().is_empty());
    let id = parked["id"].as_str().unwrap();

    let path = format!("/admin/dead-letters/{id}/redrive");
    let (status, body) = stack.admin(Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["topic"], "atiende-outbound");
    let sent = stack.twilio_messages(1).await;
    assert!(
        sent[0].body.as_deref().unwrap().contains("RD$495"),
        "{sent:?}"
    );
    stack.settle().await;
    assert_eq!(stack.twilio.sent().len(), 1, "delivered once");
    assert!(letters(&stack).await.iter().all(|l| l["id"] != id));
    let (status, _) = stack.admin(Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a redrive happens once");

    // An unreadable item of a Meta notification is parked too, but never was a bus message.
    let body = meta_text("18095559002", "wamid.DL1", "hola").replace(
        r#""type":"text""#,
        r#""type":"location","location":{"latitude":"north"}"#,
    );
    assert_eq!(stack.meta_webhook(&body).await.status(), 200);
    let item = letters(&stack)
        .await
        .into_iter()
        .find(|l| l["subscription"] == "webhooks/meta")
        .expect("the unreadable item is parked");
    let (status, answer) = stack
        .admin(
            Method::POST,
            &format!(
                "/admin/dead-letters/{}/redrive",
                item["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
}
