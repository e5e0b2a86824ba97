//! Rocket.Chat as the desk, end to end: the handoff makes the customer a livechat visitor and
//! opens a room with the packet, the customer's later messages are relayed into it while the
//! bot stays silent, an agent's reply reaches WhatsApp once (outgoing webhook, token checked)
//! and so does one reported by the Omnichannel webhook, `/crear-ticket` tells the customer the
//! case number, a room the agent closed at Rocket.Chat is reopened rather than losing a message,
//! and `/cerrar-ticket` tells the customer and hands the chat back to the bot. A customer's photo
//! reaches the agent as a signed, expiring link to atiende's copy.

use atiende_e2e::Stack;
use atiende_testkit::FakeRocketChat;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const CUSTOMER: &str = "+18095558101";
const TOKEN: &str = "rc-outgoing-token";
const LIVECHAT: &str = "rc-livechat-secret";

async fn post(stack: &Stack, tenant: &str, body: &str, livechat: Option<&str>) -> StatusCode {
    let mut request = stack
        .http
        .post(format!(
            "{}/webhooks/rocketchat/{tenant}",
            stack.running.local_url()
        ))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = livechat {
        request = request.header("x-rocketchat-livechat-token", token);
    }
    request.send().await.unwrap().status()
}

fn outgoing(token: &str, room: &str, id: &str, text: &str) -> String {
    json!({
        "token": token, "bot": false, "channel_id": room, "channel_name": null,
        "message_id": id, "timestamp": "2026-11-22T10:00:00.000Z",
        "user_id": "agent-7", "user_name": "ana", "text": text,
        "siteUrl": "https://chat.example.com"
    })
    .to_string()
}

fn texts(room: &atiende_testkit::fake_rocketchat::LivechatRoom) -> Vec<String> {
    room.messages
        .iter()
        .map(|m| m["msg"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the twilio Python SDK (pip install twilio); infra/test.sh runs it"]
async fn rocketchat_agents_take_over_with_ticket_commands() {
    let stack = Stack::start().await;
    let rc = FakeRocketChat::start();
    let (status, tenant) = stack
        .admin(
            Method::PATCH,
            "/admin/tenants/demo",
            Some(json!({ "rocketchat": {
                "base_url": rc.base_url(), "department": "ventas",
                "outgoing_token": TOKEN, "livechat_secret": LIVECHAT } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert_eq!(tenant["desk"], "rocketchat");
    assert_eq!(tenant["rocketchat"]["livechat_secret_set"], true);
    assert!(
        !tenant.to_string().contains(TOKEN) && !tenant.to_string().contains(LIVECHAT),
        "secrets are write-only"
    );
    // One desk per tenant.
    let (status, _) = stack
        .admin(
            Method::PATCH,
            "/admin/tenants/demo",
            Some(
                json!({ "chatwoot": { "base_url": "https://cw.example.com", "account_id": 1,
                "inbox_id": 1, "api_token": "cw-api-access-token", "webhook_secret": "cw-webhook-secret" } }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    stack
        .customer_says("SM900", CUSTOMER, "Quiero hablar con una persona")
        .await;
    let notice = stack.twilio_messages(1).await[0].body.clone().unwrap();
    stack.settle().await;
    let visitors = rc.visitors();
    assert_eq!(visitors.len(), 1, "{visitors:?}");
    assert_eq!(visitors[0]["phone"], CUSTOMER);
    assert_eq!(visitors[0]["department"], "ventas");
    let visitor_token = visitors[0]["token"].as_str().unwrap().to_owned();
    assert!(
        !visitor_token.contains("8095558101"),
        "the visitor token is not guessable from the phone number"
    );
    let rooms = rc.rooms();
    assert_eq!(rooms.len(), 1, "{rooms:?}");
    let room = rooms[0].id.clone();
    let packet = &texts(&rooms[0])[0];
    let ticket = notice
        .split('*')
        .find(|part| part.starts_with("T-"))
        .unwrap()
        .to_owned();
    assert!(
        packet.contains(&ticket) && packet.contains("Quiero hablar con una persona"),
        "{packet}"
    );

    // The customer writes while waiting: relayed into the room, no bot reply.
    stack
        .customer_says("SM901", CUSTOMER, "¿Cuánto cuesta el cemento gris?")
        .await;
    stack.settle().await;
    assert_eq!(stack.twilio.sent().len(), 1, "the bot stays silent");
    assert!(texts(&rc.rooms()[0]).contains(&"¿Cuánto cuesta el cemento gris?".to_owned()));

    // The agent replies; Rocket.Chat retries the call: one WhatsApp message.
    let reply = outgoing(
        TOKEN,
        &room,
        "msg-1",
        "Hola, soy Ana. Cuesta RD$495 la funda.",
    );
    for _ in 0..2 {
        assert_eq!(post(&stack, "demo", &reply, None).await, StatusCode::OK);
    }
    let sent = stack.twilio_messages(2).await;
    assert_eq!(
        sent[1].body.as_deref(),
        Some("Hola, soy Ana. Cuesta RD$495 la funda.")
    );

    // Refused or ignored: a wrong token, a room of no conversation here, no tenant, a bad body,
    // and atiende's own relays coming back through the outgoing webhook.
    let wrong = outgoing("guess", &room, "msg-2", "hola");
    assert_eq!(
        post(&stack, "demo", &wrong, None).await,
        StatusCode::FORBIDDEN
    );
    // A room atiende did not open, with the right token: Rocket.Chat's own traffic (another
    // livechat, the "Send Test" button). Acknowledged, so Rocket.Chat does not retry it ten
    // times, and nothing is sent.
    let foreign = outgoing(TOKEN, "ROOM-OF-NOBODY", "msg-3", "hola");
    assert_eq!(post(&stack, "demo", &foreign, None).await, StatusCode::OK);
    assert_eq!(
        post(&stack, "nadie", &reply, None).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(&stack, "demo", "{not json", None).await,
        StatusCode::BAD_REQUEST
    );
    let echo = outgoing(
        TOKEN,
        &room,
        "atiende-0123",
        "¿Cuánto cuesta el cemento gris?",
    );
    assert_eq!(post(&stack, "demo", &echo, None).await, StatusCode::OK);
    stack.settle().await;
    assert_eq!(stack.twilio.sent().len(), 2, "nothing refused was sent");

    // `/crear-ticket`: the customer is told the case number.
    let create = outgoing(TOKEN, &room, "msg-4", "/crear-ticket");
    assert_eq!(post(&stack, "demo", &create, None).await, StatusCode::OK);
    let sent = stack.twilio_messages(3).await;
    let told = sent[2].body.clone().unwrap();
    assert!(
        told.contains(&ticket) && told.contains("Registramos"),
        "{told}"
    );

    // The Omnichannel webhook reports an agent's message (header token checked).
    let livechat = json!({ "type": "Message", "_id": room, "messages": [
        { "_id": "msg-5", "username": "ana", "msg": "Se la reservo hasta mañana.",
          "rid": room, "agentId": "agent-7", "ts": "2026-11-22T10:01:00.000Z" } ] })
    .to_string();
    assert_eq!(
        post(&stack, "demo", &livechat, Some("wrong")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&stack, "demo", &livechat, Some(LIVECHAT)).await,
        StatusCode::OK
    );
    let sent = stack.twilio_messages(4).await;
    assert_eq!(sent[3].body.as_deref(), Some("Se la reservo hasta mañana."));

    // The agent closed the room at Rocket.Chat; the customer's next message opens a new one.
    rc.close_room(&room);
    stack
        .customer_says("SM902", CUSTOMER, "Gracias, paso mañana")
        .await;
    stack.settle().await;
    let rooms = rc.rooms();
    assert_eq!(rooms.len(), 2, "{rooms:?}");
    assert_eq!(texts(&rooms[1]), ["Gracias, paso mañana"]);
    assert_eq!(rc.visitors().len(), 1, "the visitor is registered once");
    let room = rooms[1].id.clone();

    // `/cerrar-ticket`: the customer is told, and the bot answers again.
    let close = outgoing(TOKEN, &room, "msg-6", "/cerrar-ticket");
    assert_eq!(post(&stack, "demo", &close, None).await, StatusCode::OK);
    let sent = stack.twilio_messages(5).await;
    let told = sent[4].body.clone().unwrap();
    assert!(told.contains(&ticket) && told.contains("cerrado"), "{told}");
    stack
        .customer_says("SM903", CUSTOMER, "¿Cuánto cuesta el cemento gris?")
        .await;
    let sent = stack.twilio_messages(6).await;
    assert!(
        sent[5].body.as_deref().unwrap().contains("RD$495"),
        "{:?}",
        sent[5].body
    );
    let all: Vec<Value> = rc.rooms().iter().flat_map(|r| r.messages.clone()).collect();
    assert!(
        !all.iter()
            .any(|m| m["msg"] == "¿Cuánto cuesta el cemento gris?" && m["rid"] == room.as_str()),
        "after the close the bot answers; nothing is relayed"
    );
}

/// The links to the customer's files in a room's messages.
fn media_links(room: &atiende_testkit::fake_rocketchat::LivechatRoom) -> Vec<String> {
    texts(room)
        .iter()
        .flat_map(|t| {
            t.split_whitespace()
                .filter(|w| w.contains("/media/demo/in-"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The livechat API takes no files from atiende: the photo of the broken part reaches the
/// agent at Rocket.Chat as a link to atiende's copy, signed for this tenant and this file,
/// after the packet and with every later photo; nothing else opens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the twilio Python SDK (pip install twilio); infra/test.sh runs it"]
async fn a_customers_photo_reaches_rocketchat_as_a_signed_link() {
    let stack = Stack::start().await;
    stack.set_csat(false).await;
    let rc = FakeRocketChat::start();
    let (status, body) = stack
        .admin(
            Method::PATCH,
            "/admin/tenants/demo",
            Some(json!({ "rocketchat": {
                "base_url": rc.base_url(), "outgoing_token": TOKEN, "livechat_secret": LIVECHAT } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let open = |link: String| {
        let stack = &stack;
        async move {
            let path = link
                .strip_prefix(stack.running.public_url())
                .unwrap_or_else(|| panic!("{link} is under the public URL"))
                .to_owned();
            stack
                .http
                .get(format!("{}{path}", stack.running.local_url()))
                .send()
                .await
                .unwrap()
        }
    };

    // A photo without a question hands off; the packet, then the photo's link.
    stack
        .customer_sends_file(
            ("MM00000000000000000000000000008901", CUSTOMER),
            "image/jpeg",
            b"\xff\xd8 the broken part",
        )
        .await;
    stack.settle().await;
    let rooms = rc.rooms();
    assert_eq!(rooms.len(), 1, "{rooms:?}");
    let links = media_links(&rooms[0]);
    assert_eq!(links.len(), 1, "{:?}", texts(&rooms[0]));
    assert!(
        links[0].contains("?expires=") && links[0].contains("&sig="),
        "{links:?}"
    );
    let photo = open(links[0].clone()).await;
    assert_eq!(photo.status(), StatusCode::OK, "{}", links[0]);
    assert_eq!(photo.headers()["content-type"], "image/jpeg");
    assert_eq!(
        photo.bytes().await.unwrap().as_ref(),
        b"\xff\xd8 the broken part"
    );

    // Without its signature, with another one, or under another tenant: the same 404.
    let bare = links[0].split('?').next().unwrap().to_owned();
    let mut forged = links[0].clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let elsewhere = links[0].replace("/media/demo/", "/media/otra/");
    let stretched = links[0].replace("?expires=", "?expires=9");
    for link in [bare, forged, elsewhere, stretched] {
        assert_eq!(
            open(link.clone()).await.status(),
            StatusCode::NOT_FOUND,
            "{link}"
        );
    }

    // A second photo while the customer waits is relayed with its own link.
    stack
        .customer_sends_file(
            ("MM00000000000000000000000000008902", CUSTOMER),
            "image/jpeg",
            b"\xff\xd8 from the other side",
        )
        .await;
    stack.settle().await;
    let links = media_links(&rc.rooms()[0]);
    assert_eq!(links.len(), 2, "{:?}", texts(&rc.rooms()[0]));
    let photo = open(links[1].clone()).await;
    assert_eq!(photo.status(), StatusCode::OK, "{}", links[1]);
    assert_eq!(
        photo.bytes().await.unwrap().as_ref(),
        b"\xff\xd8 from the other side"
    );
}
