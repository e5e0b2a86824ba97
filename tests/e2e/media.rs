//! Media reaches a person, and a person's files reach the customer, on the all-in-one binary:
//! the photo of the broken part is downloaded from Twilio with the account's credentials, kept in
//! the tenant's media store and shown to the agent in the console (and to nobody else); the
//! agent sends back a PDF and a photo, which Twilio and Meta fetch from atiende's public media
//! URL — the only files that URL serves. (`scale_to_zero.rs` runs the same on the four services
//! with Cloud Storage.)

use atiende_e2e::Stack;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const CUSTOMER: &str = "+18095557301";
const CONVERSATION: &str = "demo:twilio:+18095557301";

/// A console request as the demo tenant's agent (or whoever holds `key`).
async fn console(stack: &Stack, key: &str, method: Method, path: &str) -> reqwest::Response {
    stack
        .http
        .request(
            method,
            format!("{}/console/api{path}", stack.running.local_url()),
        )
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// The conversation as the demo's agent sees it in the console.
async fn agent_view(stack: &Stack) -> Value {
    console(
        stack,
        atiende_demo::AGENT_KEY,
        Method::GET,
        &format!("/conversations/{CONVERSATION}"),
    )
    .await
    .json()
    .await
    .unwrap()
}

/// Sends `bytes` as a file from the console, with `caption`.
async fn send_file(
    stack: &Stack,
    conversation: &str,
    (name, content_type, bytes): (&str, &str, Vec<u8>),
    caption: &str,
) -> (StatusCode, Value) {
    let response = stack
        .http
        .post(format!(
            "{}/console/api/conversations/{conversation}/files",
            stack.running.local_url()
        ))
        .query(&[("name", name), ("caption", caption)])
        .bearer_auth(atiende_demo::AGENT_KEY)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the twilio Python SDK (pip install twilio); infra/test.sh runs it"]
async fn a_customers_photo_is_kept_for_the_agent_and_the_agents_files_reach_the_customer() {
    let stack = Stack::start().await;
    let sid = "MM00000000000000000000000000007301";
    let photo: Vec<u8> = [&b"\xff\xd8\xff\xe0JFIF"[..], &[7u8; 4096]].concat();
    stack
        .customer_sends_file((sid, CUSTOMER), "image/jpeg", &photo)
        .await;
    // A bare photo goes to a person.
    let sent = stack.twilio_messages(1).await;
    assert!(sent[0].body.as_deref().unwrap().starts_with("Te comunico"));
    stack.settle().await;

    // The agent sees the photo itself: the turn names atiende's copy, which the console serves.
    let agent = atiende_demo::AGENT_KEY;
    let c = agent_view(&stack).await;
    let media = &c["turns"][0]["media"][0];
    assert_eq!(media["kind"], "image", "{c}");
    let key = media["stored"]
        .as_str()
        .expect("the photo was kept")
        .to_owned();
    let response = console(
        &stack,
        agent,
        Method::GET,
        &format!("/conversations/{CONVERSATION}/media/{key}"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.bytes().await.unwrap().as_ref(), photo.as_slice());
    // It is kept on the embedded default's disk, under the tenant, named without the number.
    assert!(stack.data_dir().join("media/demo").join(&key).exists());

    // Nobody else reaches it: not another tenant's agent, not the public media URL (customers'
    // files are never public), not a key the transcript does not name.
    let (status, _) = stack
        .admin(
            Method::POST,
            "/admin/tenants",
            Some(json!({ "id": "otra", "name": "Otra", "company_name": "Otra SRL" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, created) = stack
        .admin(
            Method::POST,
            "/admin/tenants/otra/agents",
            Some(json!({ "name": "Rosa" })),
        )
        .await;
    let rosa = created["key"].as_str().unwrap();
    let path = format!("/conversations/{CONVERSATION}/media/{key}");
    assert_eq!(
        console(&stack, rosa, Method::GET, &path).await.status(),
        StatusCode::FORBIDDEN
    );
    let public = format!("{}/media/demo/{key}", stack.running.local_url());
    assert_eq!(
        stack.http.get(&public).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let unnamed =
        format!("/conversations/{CONVERSATION}/media/in-00000000000000000000000000000000");
    assert_eq!(
        console(&stack, agent, Method::GET, &unnamed).await.status(),
        StatusCode::NOT_FOUND
    );

    // The agent sends the quote as a PDF, with a caption: Twilio gets a MediaUrl it can fetch
    // without credentials, and the caption as the body.
    let pdf = b"%PDF-1.4\n% cotizacion\n".to_vec();
    let (status, answer) = send_file(
        &stack,
        CONVERSATION,
        ("cotizacion.pdf", "application/pdf", pdf.clone()),
        "Aquí tiene su cotización",
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let sent = stack.twilio_messages(2).await;
    assert_eq!(sent[1].body.as_deref(), Some("Aquí tiene su cotización"));
    let [link] = sent[1].media_urls.as_slice() else {
        panic!("one MediaUrl: {sent:?}");
    };
    assert!(
        link.starts_with(&format!("{}/media/demo/out-", stack.running.public_url())),
        "{link}"
    );
    let fetched = stack.http.get(link).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.headers()["content-type"], "application/pdf");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), pdf.as_slice());
    // The agent's turn keeps the file too; sending one took the conversation.
    let c = agent_view(&stack).await;
    let last = c["turns"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            last["author"].as_str(),
            last["media"][0]["filename"].as_str()
        ),
        (Some("agent"), Some("cotizacion.pdf")),
        "{c}"
    );
    assert_eq!(c["summary"]["state"], "human");

    // What WhatsApp would refuse is refused before anything is sent.
    let (status, _) = send_file(
        &stack,
        CONVERSATION,
        ("page.html", "text/html", b"<script>".to_vec()),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send_file(
        &stack,
        CONVERSATION,
        ("big.jpg", "image/jpeg", vec![0u8; 5 * 1024 * 1024 + 1]),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = send_file(
        &stack,
        CONVERSATION,
        ("vacio.pdf", "application/pdf", Vec::new()),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    stack.settle().await;
    assert_eq!(stack.twilio.sent().len(), 2, "nothing else was sent");

    // Deleting the tenant deletes its files.
    let (status, _) = stack
        .admin(Method::DELETE, "/admin/tenants/demo", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!stack.data_dir().join("media/demo").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3; infra/test.sh runs it"]
async fn an_agent_sends_a_photo_over_meta_as_a_link_meta_fetches() {
    let stack = Stack::start().await;
    let response = stack
        .meta_webhook(&atiende_e2e::meta_text(
            "18095557302",
            "wamid.MEDIA1",
            "Quiero hablar con una persona",
        ))
        .await;
    assert_eq!(response.status(), 200);
    let conversation = "demo:meta:+18095557302";
    atiende_testkit::eventually(std::time::Duration::from_secs(10), || async {
        (!stack.meta.sent().is_empty()).then_some(())
    })
    .await
    .expect("the handoff notice");
    stack.settle().await;
    let png = b"\x89PNG\r\n\x1a\nphoto".to_vec();
    let (status, answer) = send_file(
        &stack,
        conversation,
        ("foto.png", "image/png", png.clone()),
        "Así se ve la pieza",
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let message = atiende_testkit::eventually(std::time::Duration::from_secs(10), || async {
        stack
            .meta
            .sent()
            .into_iter()
            .find(|m| m.body["type"] == "image")
    })
    .await
    .expect("an image message");
    assert_eq!(message.body["image"]["caption"], "Así se ve la pieza");
    let link = message.media_link().unwrap();
    let fetched = stack.http.get(link).send().await.unwrap();
    assert_eq!(fetched.headers()["content-type"], "image/png");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), png.as_slice());
}
