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

/// A Meta voice note: the media id becomes a download URL, then bytes (both with the tenant's
/// access token), then words, then an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3 for the signature; infra/test.sh runs it"]
async fn a_meta_voice_note_is_downloaded_transcribed_and_answered() {
    let llm = atiende_testkit::FakeLlm::start();
    llm.set_transcript("¿Aceptan cheques?");
    let voice = atiende_e2e::transcription(&llm);
    let stack = Stack::start_with(move |s| s.llm.transcription = Some(voice)).await;
    stack
        .meta
        .add_media("9900112233", "audio/ogg; codecs=opus", b"OggS\0voice-note");
    let mut body: serde_json::Value =
        serde_json::from_str(&atiende_e2e::meta_text("18095558080", "wamid.VOICE1", "")).unwrap();
    body["entry"][0]["changes"][0]["value"]["messages"][0] = serde_json::json!({
        "from": "18095558080", "id": "wamid.VOICE1",
        "timestamp": body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"],
        "type": "audio",
        "audio": { "id": "9900112233", "mime_type": "audio/ogg; codecs=opus", "voice": true }
    });
    let response = stack.meta_webhook(&body.to_string()).await;
    assert_eq!(response.status(), 200);
    let answer = atiende_testkit::eventually(std::time::Duration::from_secs(15), || async {
        stack
            .meta
            .sent()
            .into_iter()
            .find_map(|m| m.text().map(str::to_owned))
    })
    .await
    .expect("an answer");
    assert!(answer.to_lowercase().contains("cheque"), "{answer}");
}
