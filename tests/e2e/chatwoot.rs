//! Chatwoot as the desk, end to end: the handoff opens a conversation in the tenant's API inbox
//! with the packet as a private note, the customer's later messages are relayed there while the
//! bot stays silent, a person's reply (a signed webhook, signed here by Python's `hmac`) reaches
//! WhatsApp once however often Chatwoot retries it, private notes never do, and a resolution
//! gives the conversation back to the bot; a second handoff reopens the same Chatwoot
//! conversation, and the same person on another number of the tenant is the same contact.

use atiende_e2e::Stack;
use atiende_testkit::{FakeChatwoot, python};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const CUSTOMER: &str = "+18095558001";
const CONVERSATION: &str = "demo:twilio:+18095558001";
const SECRET: &str = "cw-webhook-secret";

async fn webhook(stack: &Stack, tenant: &str, body: &Value, secret: &str, age: i64) -> StatusCode {
    let body = body.to_string();
    let timestamp = chrono::Utc::now().timestamp() - age;
    let signature = python::chatwoot_signature(secret, timestamp, &body).await;
    stack
        .http
        .post(format!(
            "{}/webhooks/chatwoot/{tenant}",
            stack.running.local_url()
        ))
        .header("content-type", "application/json")
        .header("x-chatwoot-signature", signature)
        .header("x-chatwoot-timestamp", timestamp.to_string())
        .header("x-chatwoot-delivery", uuid::Uuid::new_v4().to_string())
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

/// Makes Chatwoot (the fake, account 3, inbox 58) the demo tenant's desk; the tenant as the
/// admin API shows it.
async fn use_chatwoot(stack: &Stack, chatwoot: &FakeChatwoot) -> Value {
    let (status, tenant) = stack
        .admin(
            Method::PATCH,
            "/admin/tenants/demo",
            Some(json!({ "chatwoot": {
                "base_url": chatwoot.base_url(), "account_id": 3, "inbox_id": 58,
                "api_token": "cw-api-access-token", "webhook_secret": SECRET } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    tenant
}

fn agent_message(id: u64, text: &str, private: bool, conversation: &str) -> Value {
    json!({
        "event": "message_created", "id": id, "content": text, "content_type": "text",
        "message_type": "outgoing", "private": private,
        "sender": { "id": 7, "name": "Ana", "type": "user" },
        "conversation": { "id": 1, "status": "open",
            "custom_attributes": { "atiende_conversation": conversation } }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the twilio Python SDK (pip install twilio); infra/test.sh runs it"]
async fn chatwoot_agents_take_over_and_hand_back() {
    let stack = Stack::start().await;
    // Chatwoot asks for its own rating (its CSAT survey): atiende's question is off.
    stack.set_csat(false).await;
    let chatwoot = FakeChatwoot::start(3, "cw-api-access-token");
    let tenant = use_chatwoot(&stack, &chatwoot).await;
    assert_eq!(tenant["desk"], "chatwoot");
    assert_eq!(tenant["chatwoot"]["api_token_set"], true);
    assert!(
        !tenant.to_string().contains(SECRET),
        "secrets are write-only"
    );

    stack
        .customer_says("SM800", CUSTOMER, "Quiero hablar con una persona")
        .await;
    let notice = stack.twilio_messages(1).await[0].body.clone().unwrap();
    stack.settle().await;
    let opened = chatwoot.conversations();
    assert_eq!(opened.len(), 1, "{opened:?}");
    let c = &opened[0];
    assert_eq!(c.status, "open");
    assert_eq!(c.custom_attributes["atiende_conversation"], CONVERSATION);
    let ticket = c.custom_attributes["atiende_ticket"].as_str().unwrap();
    assert!(notice.contains(ticket), "{notice}");
    let note = &c.messages[0];
    assert_eq!(note["private"], true);
    assert!(
        note["content"]
            .as_str()
            .unwrap()
            .contains("Quiero hablar con una persona")
    );
    assert_eq!(c.labels, ["atiende", "customer_requested"]);
    assert_eq!(c.priority.as_deref(), Some("high"));

    // The customer writes while waiting: relayed to Chatwoot, no bot reply.
    stack
        .customer_says("SM801", CUSTOMER, "¿Cuánto cuesta el cemento gris?")
        .await;
    stack.settle().await;
    assert_eq!(stack.twilio.sent().len(), 1, "the bot stays silent");
    let relayed = chatwoot.conversations()[0].messages.clone();
    assert!(
        relayed.iter().any(|m| m["message_type"] == "incoming"
            && m["content"] == "¿Cuánto cuesta el cemento gris?"),
        "{relayed:?}"
    );

    // A person replies; Chatwoot retries the same webhook: one WhatsApp message.
    let reply = agent_message(
        501,
        "Hola, soy Ana. Cuesta RD$495 la funda.",
        false,
        CONVERSATION,
    );
    for _ in 0..2 {
        assert_eq!(
            webhook(&stack, "demo", &reply, SECRET, 0).await,
            StatusCode::OK
        );
    }
    let sent = stack.twilio_messages(2).await;
    assert_eq!(
        sent[1].body.as_deref(),
        Some("Hola, soy Ana. Cuesta RD$495 la funda.")
    );
    // A private note is never relayed to the customer.
    let note = agent_message(502, "nota interna: cliente frecuente", true, CONVERSATION);
    assert_eq!(
        webhook(&stack, "demo", &note, SECRET, 0).await,
        StatusCode::OK
    );
    stack.settle().await;
    assert_eq!(stack.twilio.sent().len(), 2);

    // Refused: wrong secret, replayed timestamp, another tenant's conversation, no desk, no tenant.
    let other = agent_message(503, "hola", false, CONVERSATION);
    assert_eq!(
        webhook(&stack, "demo", &other, "wrong", 0).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        webhook(&stack, "demo", &other, SECRET, 3600).await,
        StatusCode::FORBIDDEN
    );
    let foreign = agent_message(504, "hola", false, "otra:twilio:+18095558001");
    assert_eq!(
        webhook(&stack, "demo", &foreign, SECRET, 0).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        webhook(&stack, "nadie", &other, SECRET, 0).await,
        StatusCode::NOT_FOUND
    );
    let bad = stack
        .http
        .post(format!(
            "{}/webhooks/chatwoot/demo",
            stack.running.local_url()
        ))
        .header(
            "x-chatwoot-timestamp",
            chrono::Utc::now().timestamp().to_string(),
        )
        .header(
            "x-chatwoot-signature",
            python::chatwoot_signature(SECRET, chrono::Utc::now().timestamp(), "{not json").await,
        )
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    stack.settle().await;
    assert_eq!(stack.twilio.sent().len(), 2, "nothing refused was sent");

    // Resolved at Chatwoot: the bot answers the next question.
    let resolved = json!({
        "event": "conversation_status_changed", "id": 1, "status": "resolved",
        "timestamp": chrono::Utc::now().timestamp(),
        "custom_attributes": { "atiende_conversation": CONVERSATION },
        "meta": { "assignee": { "id": 7, "name": "Ana" } }
    });
    assert_eq!(
        webhook(&stack, "demo", &resolved, SECRET, 0).await,
        StatusCode::OK
    );
    stack.settle().await;
    stack
        .customer_says("SM802", CUSTOMER, "¿Cuánto cuesta el cemento gris?")
        .await;
    let sent = stack.twilio_messages(3).await;
    assert!(
        sent[2].body.as_deref().unwrap().contains("RD$495"),
        "{:?}",
        sent[2].body
    );

    // A second handoff reopens the same Chatwoot conversation.
    stack
        .customer_says("SM803", CUSTOMER, "Necesito un agente")
        .await;
    stack.twilio_messages(4).await;
    stack.settle().await;
    let all = chatwoot.conversations();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].status, "open");
    assert_ne!(
        all[0].custom_attributes["atiende_ticket"], ticket,
        "a new ticket"
    );

    // The same person on the tenant's Meta number is another conversation for the same
    // Chatwoot contact: found, not created twice.
    let body = atiende_e2e::meta_text(
        CUSTOMER.trim_start_matches('+'),
        "wamid.chatwoot-1",
        "Quiero hablar con una persona",
    );
    assert_eq!(stack.meta_webhook(&body).await.status(), StatusCode::OK);
    stack.settle().await;
    let all = chatwoot.conversations();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1].contact_id, all[0].contact_id, "one contact");
    assert_eq!(
        all[1].custom_attributes["atiende_conversation"],
        "demo:meta:+18095558001"
    );
}

/// A photo sent with no words hands off to Chatwoot, and the agent there gets the photo itself:
/// the customer's message is posted with the file under `attachments[]`; a second photo while
/// the agent owns the conversation is relayed the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the twilio Python SDK (pip install twilio); infra/test.sh runs it"]
async fn a_customers_photo_reaches_chatwoot_as_an_attachment() {
    use base64::Engine as _;
    let stack = Stack::start().await;
    stack.set_csat(false).await;
    let chatwoot = FakeChatwoot::start(3, "cw-api-access-token");
    use_chatwoot(&stack, &chatwoot).await;
    let attachments = || {
        chatwoot.conversations()[0]
            .messages
            .iter()
            .filter(|m| m["message_type"] == "incoming")
            .flat_map(|m| m["attachments"].as_array().cloned().unwrap_or_default())
            .map(|a| {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(a["data_base64"].as_str().unwrap())
                    .unwrap();
                (
                    a["content_type"].as_str().unwrap_or_default().to_owned(),
                    data,
                )
            })
            .collect::<Vec<_>>()
    };
    stack
        .customer_sends_file(
            ("MM00000000000000000000000000008801", CUSTOMER),
            "image/jpeg",
            b"\xff\xd8 the broken part",
        )
        .await;
    stack.settle().await;
    let opened = chatwoot.conversations();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(
        attachments(),
        [(
            "image/jpeg".to_owned(),
            b"\xff\xd8 the broken part".to_vec()
        )]
    );
    stack
        .customer_sends_file(
            ("MM00000000000000000000000000008802", CUSTOMER),
            "image/jpeg",
            b"\xff\xd8 from the other side",
        )
        .await;
    stack.settle().await;
    assert_eq!(attachments().len(), 2, "{:?}", chatwoot.conversations());
    assert_eq!(attachments()[1].1, b"\xff\xd8 from the other side");
}
