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
    infra: Embedded,
    server: atiende_testkit::TestServer,
    http: reqwest::Client,
}

async fn spawn_with(token: Option<&str>) -> Harness {
    spawn_configured(token, |_| {}).await
}

async fn spawn_configured(
    token: Option<&str>,
    edit: impl FnOnce(&mut atiende_platform::Settings),
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    edit(&mut settings);
    settings.admin_token = token.map(SecretString::from);
    settings.public_url = Some("https://atiende.example.com".to_owned());
    let infra = Embedded::open(&settings, 0).await.unwrap();
    let admin = Arc::new(Admin::new(&infra).unwrap());
    let server =
        atiende_testkit::TestServer::start(Arc::new(move |cfg| Arc::clone(&admin).configure(cfg)));
    Harness {
        _dir: dir,
        infra,
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
            "auth_token": "tw-auth-token-secret-value",
            "whatsapp_number": "whatsapp:+18095550000"
        },
        "meta": {
            "phone_number_id": "1234567890",
            "access_token": "meta-access-secret",
            "app_secret": "meta-app-secret-value",
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
        (Method::GET, "/admin/tenants/acme/knowledge/jobs"),
        (Method::GET, "/admin/tenants/acme/knowledge/jobs/job-1"),
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
        created["webchat_enabled"], false,
        "the public web chat is off until the tenant turns it on"
    );
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
            "tw-auth-token-secret-value",
            "meta-access-secret",
            "meta-app-secret-value",
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
        (
            json!({"id": "ok", "name": "x", "twilio": {"account_sid": "AC11111111111111111111111111111111", "auth_token": "", "whatsapp_number": "+18095550100"}}),
            "twilio.auth_token",
        ),
        (
            json!({"id": "ok", "name": "x", "meta": {"phone_number_id": "1", "access_token": "long-enough-access-token", "app_secret": "short", "verify_token": "long-enough-verify-token"}}),
            "meta.app_secret",
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

/// The sample files of `tests/data/knowledge`, by name.
fn sample(name: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/knowledge");
    std::fs::read(dir.join(name)).unwrap()
}

impl Harness {
    /// Uploads `files` as multipart/form-data, optionally as a background job.
    async fn upload(
        &self,
        tenant: &str,
        files: &[(&str, Vec<u8>)],
        job: bool,
    ) -> (StatusCode, Option<String>, Value) {
        let mut form = reqwest::multipart::Form::new();
        for (name, bytes) in files {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes.clone()).file_name((*name).to_owned()),
            );
        }
        let mut request = self
            .http
            .post(format!(
                "{}/admin/tenants/{tenant}/knowledge",
                self.server.url()
            ))
            .bearer_auth(TOKEN)
            .multipart(form);
        if job {
            request = request.header("Prefer", "respond-async");
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, location, response.json().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_every_supported_kind_are_uploaded_and_chunked_by_kind() {
    let h = spawn().await;
    h.call(Method::POST, "/admin/tenants", Some(acme())).await;
    let files: Vec<(&str, Vec<u8>)> = [
        "preguntas.csv",
        "preguntas-frecuentes.json",
        "pinturas.csv",
        "servicios.md",
        "garantia.pdf",
    ]
    .into_iter()
    .map(|name| (name, sample(name)))
    .collect();
    let (status, _, body) = h.upload("acme", &files, false).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let passages: Vec<(String, u64)> = body["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_owned(),
                d["passages"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        passages,
        vec![
            ("preguntas.csv".to_owned(), 2),
            ("preguntas-frecuentes.json".to_owned(), 2),
            ("pinturas.csv".to_owned(), 2),
            ("servicios.md".to_owned(), 2),
            ("garantia.pdf".to_owned(), 1),
        ]
    );
    let (_, listed) = h
        .call(Method::GET, "/admin/tenants/acme/knowledge", None)
        .await;
    let kinds: Vec<&str> = listed["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    for kind in ["faq", "catalog", "text"] {
        assert!(kinds.contains(&kind), "{kind} missing from {listed}");
    }

    // An FAQ answer is found by its question and quoted without it.
    let (_, found) = h
        .call(
            Method::POST,
            "/admin/tenants/acme/knowledge/search",
            Some(json!({"query": "¿puedo pagar con transferencia?"})),
        )
        .await;
    let top = &found["results"][0]["passage"];
    assert_eq!(top["kind"], "faq", "{found}");
    assert_eq!(top["heading"], "¿Aceptan transferencias?", "{found}");
    assert!(
        top["text"].as_str().unwrap().starts_with("Sí, aceptamos"),
        "{found}"
    );
    // A catalog row is a product record; the PDF's text is searchable.
    let (_, found) = h
        .call(
            Method::POST,
            "/admin/tenants/acme/knowledge/search",
            Some(json!({"query": "pintura acrílica blanca"})),
        )
        .await;
    assert_eq!(
        found["results"][0]["passage"]["product"]["sku"], "PIN-101",
        "{found}"
    );
    let (_, found) = h
        .call(
            Method::POST,
            "/admin/tenants/acme/knowledge/search",
            Some(json!({"query": "garantía de las herramientas eléctricas"})),
        )
        .await;
    assert_eq!(
        found["results"][0]["passage"]["document_id"], "garantia.pdf",
        "{found}"
    );

    // The same files again change nothing.
    let (status, _, again) = h.upload("acme", &files, false).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        again["documents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["unchanged"] == true),
        "{again}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_get_415_400_or_413_and_store_nothing() {
    let h = spawn().await;
    h.call(Method::POST, "/admin/tenants", Some(acme())).await;
    let count = || async {
        let (_, listed) = h
            .call(Method::GET, "/admin/tenants/acme/knowledge", None)
            .await;
        listed["documents"].as_array().unwrap().len()
    };
    // One unsupported file spoils the batch: nothing of it is stored.
    let (status, _, body) = h
        .upload(
            "acme",
            &[
                ("servicios.md", sample("servicios.md")),
                ("notas.docx", sample("notas.docx")),
            ],
            false,
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("notas.docx"),
        "{body}"
    );
    assert_eq!(count().await, 0);

    let (status, _, body) = h
        .upload("acme", &[("vacio.txt", b" \n".to_vec())], false)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, body) = h
        .upload("acme", &[("latin1.txt", b"Espa\xf1a".to_vec())], false)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("UTF-8"),
        "{body}"
    );
    let (status, _, body) = h
        .upload(
            "acme",
            &[("roto.pdf", sample("garantia.pdf")[..300].to_vec())],
            false,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    let (status, _, body) = h.upload("acme", &[("grande.txt", big)], false).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(count().await, 0);

    // Neither JSON nor multipart.
    let response = h
        .http
        .post(format!("{}/admin/tenants/acme/knowledge", h.server.url()))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("hola")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_uploads_run_as_jobs_with_progress_visible_to_their_tenant_only() {
    let h = spawn().await;
    h.call(Method::POST, "/admin/tenants", Some(acme())).await;
    let mut other = acme();
    other["id"] = json!("otro");
    other["meta"]["phone_number_id"] = json!("999");
    other["twilio"]["whatsapp_number"] = json!("whatsapp:+18095550001");
    let (status, created) = h.call(Method::POST, "/admin/tenants", Some(other)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    let (status, location, job) = h
        .upload("acme", &[("preguntas.csv", sample("preguntas.csv"))], true)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let location = location.unwrap();
    assert_eq!(location, format!("/admin/tenants/acme/knowledge/jobs/{id}"));
    let mut state = job;
    for _ in 0..200 {
        if state["state"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        state = h.call(Method::GET, &location, None).await.1;
    }
    assert_eq!(state["state"], "succeeded", "{state}");
    assert_eq!(state["documents"][0]["passages"], 2, "{state}");
    assert_eq!(state["progress"]["documents_done"], 1, "{state}");
    assert_eq!(state["progress"]["documents_total"], 1, "{state}");
    assert_eq!(state["progress"]["passages_total"], 2, "{state}");
    assert!(state["finished_at"].is_string(), "{state}");
    let (_, jobs) = h
        .call(Method::GET, "/admin/tenants/acme/knowledge/jobs", None)
        .await;
    assert_eq!(jobs["jobs"][0]["id"], id.as_str(), "{jobs}");

    // Another tenant cannot see it.
    let (status, _) = h
        .call(
            Method::GET,
            &format!("/admin/tenants/otro/knowledge/jobs/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, jobs) = h
        .call(Method::GET, "/admin/tenants/otro/knowledge/jobs", None)
        .await;
    assert_eq!(jobs["jobs"], json!([]));

    // A job that fails says why.
    let (status, location, _) = h
        .upload(
            "acme",
            &[("faq.csv", b"pregunta,respuesta\n\xc2\xbfAlgo?,\n".to_vec())],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let location = location.unwrap();
    let mut state = Value::Null;
    for _ in 0..200 {
        state = h.call(Method::GET, &location, None).await.1;
        if state["state"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(state["state"], "failed", "{state}");
    assert_eq!(state["code"], "validation", "{state}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_process_died_is_reported_interrupted_never_running() {
    let h = spawn().await;
    h.call(Method::POST, "/admin/tenants", Some(acme())).await;
    // Another admin instance started this job, wrote its progress, and was stopped.
    let tenant = atiende_domain::TenantId::parse("acme").unwrap();
    let started = chrono::Utc::now() - chrono::Duration::minutes(5);
    let running = json!({
        "id": "job-lost",
        "state": "running",
        "progress": { "documents_total": 3, "documents_done": 1, "passages_total": 40, "passages_embedded": 12 },
        "started_at": started,
    });
    h.infra
        .stores()
        .jobs
        .put_job(
            &tenant,
            &atiende_ports::JobRecord {
                id: "job-lost".into(),
                started_at: started,
                heartbeat_at: started + chrono::Duration::seconds(20),
                finished: false,
                data: running.to_string(),
            },
        )
        .await
        .unwrap();
    let (status, job) = h
        .call(
            Method::GET,
            "/admin/tenants/acme/knowledge/jobs/job-lost",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["code"], "interrupted", "{job}");
    assert_eq!(
        job["progress"]["documents_done"], 1,
        "what it had done is kept: {job}"
    );
    // The verdict is recorded: the job is not running for anyone any more.
    let stored = h
        .infra
        .stores()
        .jobs
        .job(&tenant, "job-lost")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consoles_public_sign_in_does_not_buffer_a_megabyte() {
    let h = spawn().await;
    let response = h
        .http
        .post(format!("{}/console/api/session", h.server.url()))
        .header("content-type", "application/json")
        .body(format!("{{\"key\": \"{}\"}}", "k".repeat(1 << 20)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert!(body.to_string().contains("65536"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_urls_may_not_point_inside_the_network() {
    let h = spawn_configured(Some(TOKEN), |s| s.allow_private_urls = false).await;
    for (field, body) in [
        (
            "crm.webhook_url",
            json!({"crm": {"webhook_url": "http://169.254.169.254/computeMetadata/v1/", "signing_secret": "crm-signing-secret-value"}}),
        ),
        (
            "alerts.webhook_url",
            json!({"alerts": {"webhook_url": "http://localhost:8080/admin/tenants"}}),
        ),
        (
            "chatwoot.base_url",
            json!({"chatwoot": {"base_url": "http://10.0.0.7", "account_id": 1, "inbox_id": 1, "api_token": "cw-api-access-token", "webhook_secret": "cw-webhook-secret"}}),
        ),
    ] {
        let mut tenant = json!({"id": "inside", "name": "Inside"});
        tenant
            .as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        let (status, response) = h.call(Method::POST, "/admin/tenants", Some(tenant)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {response}");
        let message = response["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(field) && message.contains("public"),
            "{message}"
        );
    }
    let (status, response) = h
        .call(
            Method::POST,
            "/admin/tenants",
            Some(json!({"id": "outside", "name": "Outside", "crm": {"webhook_url": "https://crm.example.com/leads", "signing_secret": "crm-signing-secret-value"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{response}");
}
