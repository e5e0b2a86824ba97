//! Black-box tests of the admin service: bearer auth, tenants with write-only secrets, knowledge,
//! conversations, outbox and dead letters.

// A failing test should panic with the value it choked on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use atiende_admin::Admin;
use atiende_bootstrap::{Embedded, test_settings};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

const TOKEN: &str = "admin-test-token";

struct Harness {
    _dir: tempfile::TempDir,
    _infra: Embedded,
    server: atiende_testkit::TestServer,
    http: reqwest::Client,
}

async fn spawn_with(token: Option<&str>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.admin_token = token.map(SecretString::from);
    settings.public_url = Some("https://atiende.example.com".to_owned());
    let infra = Embedded::open(&settings, 0).await.unwrap();
    let admin = Arc::new(Admin::new(&infra));
    let server =
        atiende_testkit::TestServer::start(Arc::new(move |cfg| Arc::clone(&admin).configure(cfg)));
    Harness {
        _dir: dir,
        _infra: infra,
        server,
        http: reqwest::Client::new(),
    }
}

async fn spawn() -> Harness {
    spawn_with(Some(TOKEN)).await
}

impl Harness {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.server.url()))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

fn acme() -> Value {
    json!({
        "id": "acme",
        "name": "Acme",
        "company_name": "Acme SRL",
        "welcome_message": "¡Hola! Soy el asistente de Acme.",
        "language": "es",
        "twilio": {
            "account_sid": "AC11111111111111111111111111111111",
            "auth_token": "tw-secret-value",
            "whatsapp_number": "whatsapp:+18095550000"
        },
        "meta": {
            "phone_number_id": "1234567890",
            "access_token": "meta-access-secret",
            "app_secret": "meta-app-secret",
            "verify_token": "meta-verify-secret"
        },
        "templates": {}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_token_the_admin_api_is_off() {
    let h = spawn_with(None).await;
    let (status, body) = h.call(Method::GET, "/admin/tenants", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ATIENDE_ADMIN_TOKEN")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_refuses_a_wrong_or_missing_token() {
    let h = spawn().await;
    h.call(Method::POST, "/admin/tenants", Some(acme())).await;
    let routes = [
        (Method::POST, "/admin/tenants"),
        (Method::GET, "/admin/tenants"),
        (Method::GET, "/admin/tenants/acme"),
        (Method::PATCH, "/admin/tenants/acme"),
        (Method::DELETE, "/admin/tenants/acme"),
        (Method::POST, "/admin/tenants/acme/knowledge"),
        (Method::GET, "/admin/tenants/acme/knowledge"),
        (Method::POST, "/admin/tenants/acme/knowledge/search"),
        (Method::DELETE, "/admin/tenants/acme/knowledge/doc"),
        (Method::GET, "/admin/tenants/acme/conversations"),
        (
            Method::GET,
            "/admin/tenants/acme/conversations/acme:webchat:u.x",
        ),
        (
            Method::POST,
            "/admin/tenants/acme/conversations/acme:webchat:u.x/resolve",
        ),
        (Method::GET, "/admin/tenants/acme/outbox"),
        (Method::GET, "/admin/dead-letters"),
    ];
    for (method, path) in routes {
        let url = format!("{}{path}", h.server.url());
        // A JSON body is sent so that the token, not the body, decides the answer.
        let missing = h
            .http
            .request(method.clone(), &url)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            missing.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a token"
        );
        assert_eq!(missing.headers()["www-authenticate"], "Bearer");
        let wrong = h
            .http
            .request(method.clone(), &url)
            .bearer_auth("nope")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            wrong.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a wrong token"
        );
    }
    let (status, _) = h.call(Method::GET, "/admin/tenants/acme", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "nothing was changed by the refused calls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_created_read_updated_and_deleted_without_ever_returning_secrets() {
    let h = spawn().await;
    let (status, created) = h.call(Method::POST, "/admin/tenants", Some(acme())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["twilio"]["whatsapp_number"], "+18095550000");
    assert_eq!(created["twilio"]["auth_token_set"], true);
    assert_eq!(
        created["webhooks"]["twilio"],
        "https://atiende.example.com/webhooks/twilio/acme"
    );
    let (status, _) = h.call(Method::POST, "/admin/tenants", Some(acme())).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (_, listed) = h.call(Method::GET, "/admin/tenants", None).await;
    let (_, one) = h.call(Method::GET, "/admin/tenants/acme", None).await;
    let patch = json!({"name": "Acme Ferretería", "twilio": {"whatsapp_number": "+18095550001"}});
    let (status, patched) = h
        .call(Method::PATCH, "/admin/tenants/acme", Some(patch))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "Acme Ferretería");
    assert_eq!(patched["twilio"]["whatsapp_number"], "+18095550001");
    assert_eq!(
        patched["twilio"]["auth_token_set"], true,
        "the token was kept"
    );
    for body in [&created, &listed, &one, &patched] {
        let text = body.to_string();
        for secret in [
            "tw-secret-value",
            "meta-access-secret",
            "meta-app-secret",
            "meta-verify-secret",
        ] {
            assert!(!text.contains(secret), "a secret leaked: {text}");
        }
    }
    let (status, _) = h.call(Method::DELETE, "/admin/tenants/acme", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h.call(Method::GET, "/admin/tenants/acme", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_tenants_are_400_with_the_field_named() {
    let h = spawn().await;
    let cases = [
        (json!({"id": "Bad Id", "name": "x"}), "tenant id"),
        (
            json!({"id": "ok", "name": "x", "language": "pt"}),
            "language",
        ),
        (
            json!({"id": "ok", "name": "x", "twilio": {"account_sid": "AC1"}}),
            "twilio",
        ),
        (
            json!({"id": "ok", "name": "x", "unknown_field": 1}),
            "unknown field",
        ),
        (
            json!({"id": "ok", "name": "x", "twilio": {"account_sid": "AC11111111111111111111111111111111", "auth_token": "t", "whatsapp_number": "12"}}),
            "phone number",
        ),
    ];
    for (body, mention) in cases {
        let (status, response) = h
            .call(Method::POST, "/admin/tenants", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {response}");
        assert!(
            response["error"]["message"]
                .as_str()
                .unwrap()
                .contains(mention),
            "{mention}: {response}"
        );
    }
    let response = h
        .http
        .post(format!("{}/admin/tenants", h.server.url()))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_is_ingested_idempotently_and_searchable_per_tenant() {
    let h = spawn().await;
    h.call(Method::POST, "/admin/tenants", Some(acme())).await;
    let docs = json!({"documents": [
        "Nuestra política de devoluciones permite devoluciones dentro de 30 días.",
        "Los horarios de atención son de 9am a 6pm de lunes a viernes."
    ]});
    let (status, first) = h
        .call(
            Method::POST,
            "/admin/tenants/acme/knowledge",
            Some(docs.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["documents"][0]["unchanged"], false);
    let (_, again) = h
        .call(Method::POST, "/admin/tenants/acme/knowledge", Some(docs))
        .await;
    assert_eq!(
        again["documents"][0]["unchanged"], true,
        "same content, nothing re-ingested"
    );
    let (_, listed) = h
        .call(Method::GET, "/admin/tenants/acme/knowledge", None)
        .await;
    assert_eq!(listed["documents"].as_array().unwrap().len(), 2);

    let (status, found) = h
        .call(
            Method::POST,
            "/admin/tenants/acme/knowledge/search",
            Some(json!({"query": "¿Aceptan devoluciones?"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        found["results"][0]["passage"]["text"]
            .as_str()
            .unwrap()
            .contains("30 días"),
        "{found}"
    );
    assert!(
        found["results"][0]["coverage"].as_f64().unwrap() > 0.9,
        "{found}"
    );
    // The debug view says what each retriever saw and whether the bot would quote it.
    assert_eq!(found["results"][0]["rank"], 1, "{found}");
    assert_eq!(found["results"][0]["keyword_rank"], 1, "{found}");
    assert_eq!(found["results"][0]["relevant"], true, "{found}");
    assert_eq!(found["mode"], "hybrid", "{found}");

    let doc = listed["documents"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = h
        .call(
            Method::DELETE,
            &format!("/admin/tenants/acme/knowledge/{doc}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h
        .call(
            Method::POST,
            "/admin/tenants/acme/knowledge",
            Some(json!({"documents": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h
        .call(
            Method::POST,
            "/admin/tenants/nobody/knowledge",
            Some(json!({"documents": ["x"]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_conversations_outbox_and_dead_letters_of_their_tenant_only() {
    let h = spawn().await;
    h.call(Method::POST, "/admin/tenants", Some(acme())).await;
    let (status, body) = h
        .call(
            Method::GET,
            "/admin/tenants/acme/conversations?state=waiting_for_human",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["conversations"], json!([]));
    let (status, _) = h
        .call(
            Method::GET,
            "/admin/tenants/acme/conversations?state=sleeping",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Another tenant's conversation id is not found through this tenant.
    let (status, _) = h
        .call(
            Method::GET,
            "/admin/tenants/acme/conversations/demo:twilio:+18095551010",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h
        .call(
            Method::POST,
            "/admin/tenants/acme/conversations/acme:twilio:+18095551010/resolve",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = h
        .call(Method::GET, "/admin/tenants/acme/outbox?state=parked", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["outbox"], json!([]));
    let (status, body) = h.call(Method::GET, "/admin/dead-letters", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["dead_letters"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_alone_and_stops_cleanly_on_sigterm() {
    atiende_testkit::process::assert_runs_alone_and_stops_cleanly(
        env!("CARGO_BIN_EXE_atiende-admin"),
        &[],
    )
    .await;
}
