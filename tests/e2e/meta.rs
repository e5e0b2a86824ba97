//! WhatsApp through Meta's Cloud API, end to end: notifications signed with Python's `hmac` over
//! the exact bytes sent, the reply received by a fake of the Graph API.

use atiende_e2e::{Stack, meta_text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3; infra/test.sh runs it"]
async fn a_customer_on_the_cloud_api_gets_a_fact_and_a_redelivery_gets_nothing_more() {
    let stack = Stack::start().await;
    let body = meta_text(
        "18095554040",
        "wamid.E2E0001",
        "¿A qué hora abren los sábados?",
    );
    let response = stack.meta_webhook(&body).await;
    assert_eq!(response.status(), 200);
    let sent = atiende_testkit::eventually(std::time::Duration::from_secs(15), || async {
        let sent = stack.meta.sent();
        (!sent.is_empty()).then_some(sent)
    })
    .await
    .expect("a reply at the Graph API");
    assert_eq!(sent[0].to(), "18095554040");
    let text = sent[0].text().unwrap();
    assert!(text.contains("sábados de 8:00 a.m. a 4:00 p.m."), "{text}");
    assert_eq!(
        sent[0].body["context"]["message_id"], "wamid.E2E0001",
        "threaded to the question"
    );

    // Meta retries deliveries for days: the same notification again changes nothing.
    assert_eq!(stack.meta_webhook(&body).await.status(), 200);
    stack.settle().await;
    assert_eq!(stack.meta.sent().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3; infra/test.sh runs it"]
async fn accented_text_keeps_its_signature_because_the_raw_bytes_are_signed() {
    let stack = Stack::start().await;
    let body = meta_text(
        "18095554041",
        "wamid.E2E0002",
        "¿Tienen garantía los aires acondicionados? ñ 😀",
    );
    assert_eq!(stack.meta_webhook(&body).await.status(), 200);
    let sent = atiende_testkit::eventually(std::time::Duration::from_secs(15), || async {
        let sent = stack.meta.sent();
        (!sent.is_empty()).then_some(sent)
    })
    .await
    .expect("a reply");
    assert!(sent[0].text().unwrap().contains("2 años"));
}
