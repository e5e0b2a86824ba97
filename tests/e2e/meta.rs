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

/// A customer whose question the bot answered says thanks: the bot's conversation is closed and
/// the customer is asked to rate it with Meta's interactive list; the tapped row (its title, five
/// stars) is recorded as a 5 and thanked, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3; infra/test.sh runs it"]
async fn thanks_after_an_answer_asks_for_a_rating_with_a_list_and_the_pick_is_recorded() {
    let stack = Stack::start().await;
    let wa = "18095557401";
    let sent_to = || async {
        stack
            .meta
            .sent()
            .into_iter()
            .filter(|m| m.to().trim_start_matches('+') == wa)
            .collect::<Vec<_>>()
    };
    let wait_for = |n: usize| async move {
        atiende_testkit::eventually(std::time::Duration::from_secs(10), || async {
            let sent = sent_to().await;
            (sent.len() >= n).then_some(sent)
        })
        .await
        .unwrap_or_else(|| panic!("{n} messages to {wa}"))
    };
    let say = |id: &'static str, text: &'static str| {
        let stack = &stack;
        async move {
            let response = stack
                .meta_webhook(&atiende_e2e::meta_text(wa, id, text))
                .await;
            assert_eq!(response.status(), 200);
        }
    };
    say("wamid.CSAT1", "¿Aceptan cheques?").await;
    let sent = wait_for(1).await;
    assert!(sent[0].text().unwrap().contains("cheque"), "{sent:?}");
    say("wamid.CSAT2", "muchas gracias").await;
    let sent = wait_for(3).await;
    let list = &sent[2].body;
    assert_eq!(list["type"], "interactive", "{list}");
    assert_eq!(list["interactive"]["type"], "list");
    assert_eq!(list["interactive"]["action"]["button"], "Calificar");
    let rows = list["interactive"]["action"]["sections"][0]["rows"]
        .as_array()
        .unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["title"], "⭐⭐⭐⭐⭐");

    // The customer taps the first row.
    let mut body: serde_json::Value =
        serde_json::from_str(&atiende_e2e::meta_text(wa, "wamid.CSAT3", "")).unwrap();
    let message = &mut body["entry"][0]["changes"][0]["value"]["messages"][0];
    message["type"] = serde_json::json!("interactive");
    message["interactive"] = serde_json::json!({
        "type": "list_reply",
        "list_reply": { "id": rows[0]["id"], "title": rows[0]["title"], "description": "Excelente" }
    });
    message.as_object_mut().unwrap().remove("text");
    let response = stack.meta_webhook(&body.to_string()).await;
    assert_eq!(response.status(), 200);
    let sent = wait_for(4).await;
    assert!(
        sent[3]
            .text()
            .unwrap()
            .contains("Gracias por tu calificación"),
        "{sent:?}"
    );
    let (_, conversation) = stack
        .admin(
            reqwest::Method::GET,
            &format!("/admin/tenants/demo/conversations/demo:meta:+{wa}"),
            None,
        )
        .await;
    assert_eq!(conversation["csat"]["score"], 5, "{conversation}");
    // Thanks again the same day asks nothing more.
    say("wamid.CSAT4", "gracias").await;
    stack.settle().await;
    let sent = wait_for(5).await;
    assert_eq!(sent.len(), 5, "{sent:?}");
    assert!(sent[4].text().is_some());
}
