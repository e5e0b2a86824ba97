//! WhatsApp through Twilio, end to end: webhooks signed by the official twilio Python SDK, the
//! reply received by a fake of Twilio's Messages API.

use atiende_domain::{Channel, DeliveryState, TenantId};
use atiende_e2e::{Stack, TWILIO_ACCOUNT};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the twilio Python SDK (pip install twilio); infra/test.sh runs it"]
async fn a_customer_gets_a_fact_from_the_demo_knowledge_and_twilio_reports_delivery() {
    let stack = Stack::start().await;
    let response = stack
        .customer_says(
            "SM00000000000000000000000000000101",
            "+18095551010",
            "¿Cuánto cuesta el cemento gris?",
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("<Response></Response>")
    );

    let sent = stack.twilio_messages(1).await;
    assert_eq!(sent[0].to, "whatsapp:+18095551010");
    assert_eq!(sent[0].from.as_deref(), Some("whatsapp:+14155238886"));
    let body = sent[0].body.as_deref().unwrap();
    assert!(
        body.contains("RD$495") && body.contains("Cemento gris"),
        "{body}"
    );
    assert!(
        body.split("\n\n").count() <= 2,
        "at most two short paragraphs: {body}"
    );

    // Twilio calls back with the delivery status, signed the same way.
    let sid = sent[0].sid.as_str();
    let callback = stack
        .twilio_webhook(
            "/webhooks/twilio/demo/status",
            &[
                ("MessageSid", sid),
                ("SmsSid", sid),
                ("MessageStatus", "delivered"),
                ("SmsStatus", "delivered"),
                ("AccountSid", TWILIO_ACCOUNT),
                ("To", "whatsapp:+18095551010"),
                ("From", "whatsapp:+14155238886"),
                ("ChannelPrefix", "whatsapp"),
                ("ApiVersion", "2010-04-01"),
            ],
        )
        .await;
    assert_eq!(callback.status(), 200);
    let state = stack
        .running
        .infra()
        .stores()
        .delivery
        .status(
            &TenantId::parse("demo").unwrap(),
            Channel::TwilioWhatsApp,
            sid,
        )
        .await
        .unwrap();
    assert_eq!(state, Some(DeliveryState::Delivered));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the twilio Python SDK (pip install twilio); infra/test.sh runs it"]
async fn a_webhook_delivered_three_times_gets_one_reply() {
    let stack = std::sync::Arc::new(Stack::start().await);
    let sid = "SM00000000000000000000000000000102";
    let (a, b) = tokio::join!(
        stack.customer_says(sid, "+18295552020", "¿Tienen varilla de 3/8?"),
        stack.customer_says(sid, "+18295552020", "¿Tienen varilla de 3/8?"),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    stack.twilio_messages(1).await;
    let again = stack
        .customer_says(sid, "+18295552020", "¿Tienen varilla de 3/8?")
        .await;
    assert_eq!(again.status(), 200, "a retry is acknowledged");
    stack.settle().await;
    let sent = stack.twilio.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].body.as_deref().unwrap().contains("VAR-038"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the twilio Python SDK (pip install twilio); infra/test.sh runs it"]
async fn a_username_only_customer_is_answered_at_their_user_id() {
    let stack = Stack::start().await;
    let response = stack
        .twilio_webhook(
            "/webhooks/twilio/demo",
            &[
                ("MessageSid", "SM00000000000000000000000000000103"),
                ("AccountSid", TWILIO_ACCOUNT),
                ("From", "whatsapp:US.13491208655302741918"),
                ("To", "whatsapp:+14155238886"),
                ("Body", "Hola"),
                ("NumMedia", "0"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let sent = stack.twilio_messages(1).await;
    assert_eq!(sent[0].to, "whatsapp:US.13491208655302741918");
    assert!(
        sent[0]
            .body
            .as_deref()
            .unwrap()
            .contains("Ferretería El Progreso"),
        "the welcome"
    );
}

/// A photo from `from`, with `caption` as its body.
async fn photo(stack: &Stack, sid: &str, from: &str, caption: &str) {
    let url = format!("https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/{sid}/Media/ME1");
    stack
        .customer_sends_media((sid, from), caption, ("image/jpeg", &url))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the twilio Python SDK (pip install twilio); infra/test.sh runs it"]
async fn a_bare_photo_reaches_a_person_and_a_caption_is_read_as_the_question() {
    let stack = Stack::start().await;
    // The photo of the broken part, with no words: a person, who sees it in the conversation.
    photo(
        &stack,
        "MM00000000000000000000000000000104",
        "+18495553030",
        "",
    )
    .await;
    let sent = stack.twilio_messages(1).await;
    assert!(
        sent[0].body.as_deref().unwrap().starts_with("Te comunico"),
        "{sent:?}"
    );
    let (_, conversation) = stack
        .admin(
            reqwest::Method::GET,
            "/admin/tenants/demo/conversations/demo:twilio:+18495553030",
            None,
        )
        .await;
    assert_eq!(conversation["state"], "waiting_for_human");
    assert_eq!(conversation["handoff_reason"], "needs_human_review");
    assert!(
        conversation["turns"][0]["media"][0]["reference"]
            .as_str()
            .unwrap()
            .ends_with("/Media/ME1")
    );

    // A caption is the question.
    photo(
        &stack,
        "MM00000000000000000000000000000105",
        "+18495554040",
        "¿Cuánto cuesta el cemento gris?",
    )
    .await;
    let sent = stack.twilio_messages(2).await;
    assert!(
        sent[1].body.as_deref().unwrap().contains("RD$495"),
        "{sent:?}"
    );

    // A tenant that prefers it asks first, offering a person; "sí" hands off.
    stack
        .set_assistant("media_without_text", json!("ask"))
        .await;
    photo(
        &stack,
        "MM00000000000000000000000000000106",
        "+18495555050",
        "",
    )
    .await;
    let sent = stack.twilio_messages(3).await;
    assert!(
        sent[2]
            .body
            .as_deref()
            .unwrap()
            .starts_with("Recibí tu imagen"),
        "{sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the twilio Python SDK (pip install twilio); infra/test.sh runs it"]
async fn a_voice_note_is_downloaded_with_the_accounts_credentials_transcribed_and_answered() {
    let llm = atiende_testkit::FakeLlm::start();
    llm.require_key("sk-voice");
    llm.set_transcript("¿Cuánto cuesta el cemento gris?");
    let voice = atiende_e2e::transcription(&llm);
    let stack = Stack::start_with(move |s| s.llm.transcription = Some(voice)).await;
    let sid = "MM00000000000000000000000000000201";
    stack
        .customer_sends_file((sid, "+18495556060"), "audio/ogg", b"OggS\0voice-note")
        .await;
    let sent = stack.twilio_messages(1).await;
    assert!(
        sent[0].body.as_deref().unwrap().contains("RD$495"),
        "{sent:?}"
    );
    // The words are kept in the conversation, where a person reads them too.
    let (_, conversation) = stack
        .admin(
            reqwest::Method::GET,
            "/admin/tenants/demo/conversations/demo:twilio:+18495556060",
            None,
        )
        .await;
    assert_eq!(
        conversation["turns"][0]["text"],
        "¿Cuánto cuesta el cemento gris?"
    );
    let heard = llm.requests();
    assert!(
        heard
            .iter()
            .any(|(key, body)| key.as_deref() == Some("sk-voice")
                && body["transcription"]["model"] == "whisper-1"),
        "{heard:?}"
    );

    // A note larger than the limit is not downloaded whole: a person gets it.
    let sid = "MM00000000000000000000000000000202";
    stack
        .customer_sends_file((sid, "+18495557070"), "audio/ogg", &[0u8; 8192])
        .await;
    let sent = stack.twilio_messages(2).await;
    assert!(
        sent[1].body.as_deref().unwrap().starts_with("Te comunico"),
        "{sent:?}"
    );
}
