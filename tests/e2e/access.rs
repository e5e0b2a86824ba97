//! Tenant API keys against every admin route: each role reaches what it should and nothing
//! more, another tenant's key learns nothing (404, as for a tenant that does not exist), and
//! the operator's routes are the operator's alone. The table of routes is checked against the
//! routes the admin service registers, so a new route cannot skip authorization unnoticed, and
//! the OpenAPI document must describe every one of them.

use atiende_e2e::Stack;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// What a route needs: a role's reach on the tenant in its path, or the operator.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Needs {
    Read,
    Edit,
    Own,
    Operator,
}

/// Every admin route, with a request that would succeed or fail on its own merits (never on
/// authorization) and what it needs. `{t}` is the tenant.
fn routes() -> Vec<(Method, &'static str, Option<Value>, Needs)> {
    use Needs::{Edit, Operator, Own, Read};
    vec![
        (
            Method::POST,
            "/admin/tenants",
            Some(json!({"id": "x"})),
            Operator,
        ),
        (Method::GET, "/admin/tenants", None, Read),
        (Method::GET, "/admin/tenants/{t}", None, Read),
        (
            Method::PATCH,
            "/admin/tenants/{t}",
            Some(json!({"welcome_message": "Hola"})),
            Edit,
        ),
        (Method::DELETE, "/admin/tenants/{t}", None, Own),
        (
            Method::POST,
            "/admin/tenants/{t}/knowledge",
            Some(json!({"documents": []})),
            Edit,
        ),
        (Method::GET, "/admin/tenants/{t}/knowledge", None, Read),
        (Method::GET, "/admin/tenants/{t}/knowledge/jobs", None, Read),
        (
            Method::GET,
            "/admin/tenants/{t}/knowledge/jobs/job-x",
            None,
            Read,
        ),
        (
            Method::POST,
            "/admin/tenants/{t}/knowledge/search",
            Some(json!({"query": "cemento"})),
            Read,
        ),
        (
            Method::DELETE,
            "/admin/tenants/{t}/knowledge/doc-x",
            None,
            Edit,
        ),
        (Method::GET, "/admin/tenants/{t}/conversations", None, Read),
        (
            Method::GET,
            "/admin/tenants/{t}/conversations/{t}:whatsapp:+18095550000",
            None,
            Read,
        ),
        (
            Method::POST,
            "/admin/tenants/{t}/conversations/{t}:whatsapp:+18095550000/resolve",
            None,
            Edit,
        ),
        (
            Method::POST,
            "/admin/tenants/{t}/agents",
            Some(json!({"name": "Rosa"})),
            Own,
        ),
        (Method::GET, "/admin/tenants/{t}/agents", None, Read),
        (
            Method::DELETE,
            "/admin/tenants/{t}/agents/console:x",
            None,
            Own,
        ),
        (
            Method::POST,
            "/admin/tenants/{t}/keys",
            Some(json!({"name": "n", "role": "viewer"})),
            Own,
        ),
        (Method::GET, "/admin/tenants/{t}/keys", None, Own),
        (Method::DELETE, "/admin/tenants/{t}/keys/key_x", None, Own),
        (Method::GET, "/admin/tenants/{t}/outbox", None, Read),
        (Method::PUT, "/admin/tenants/{t}/accounts", None, Edit),
        (Method::GET, "/admin/tenants/{t}/usage", None, Read),
        (Method::GET, "/admin/tenants/{t}/stats", None, Read),
        (
            Method::POST,
            "/admin/tenants/{t}/channels/check",
            None,
            Edit,
        ),
        (
            Method::POST,
            "/admin/tenants/{t}/simulate",
            Some(json!({"from": "+18095550000", "text": "hola"})),
            Edit,
        ),
        (Method::GET, "/admin/tenants/{t}/security-audit", None, Read),
        (Method::GET, "/admin/metrics", None, Operator),
        (Method::GET, "/admin/dead-letters", None, Operator),
        (
            Method::POST,
            "/admin/dead-letters/dl-x/redrive",
            None,
            Operator,
        ),
    ]
}

/// The routes the admin service registers, read from its source: `(METHOD, "/admin/…")`.
fn registered() -> Vec<(String, String)> {
    let source = include_str!("../../services/admin/src/routes.rs");
    let compact: String = source.split_whitespace().collect();
    compact
        .split(".route(")
        .skip(1)
        .filter_map(|rest| {
            let path = rest.strip_prefix('"')?.split('"').next()?;
            let method = rest.split("web::").nth(1)?.split("()").next()?;
            Some((method.to_uppercase(), format!("/admin{path}")))
        })
        .collect()
}

#[test]
fn the_table_covers_every_registered_route() {
    let mut table: Vec<(String, String)> = routes()
        .into_iter()
        .map(|(m, p, _, _)| {
            let shape = p
                .split('/')
                .map(|s| match s {
                    "{t}" => "{id}",
                    "job-x" => "{job}",
                    "doc-x" => "{doc}",
                    "console:x" => "{agent}",
                    "key_x" => "{key}",
                    "dl-x" => "{id}",
                    s if s.contains(":whatsapp:") => "{cid}",
                    s => s,
                })
                .collect::<Vec<_>>()
                .join("/");
            (m.to_string(), shape)
        })
        .collect();
    let mut routes = registered();
    table.sort();
    routes.sort();
    assert_eq!(table, routes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let stack = Stack::start().await;
    // Public: a description opens nothing.
    let response = stack
        .http
        .get(format!("{}/admin/openapi.json", stack.running.local_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (method, path) in registered() {
        let operation = &doc["paths"][&path][method.to_lowercase()];
        assert!(operation.is_object(), "{method} {path} is not described");
        assert!(
            operation["responses"]["403"].is_object(),
            "{method} {path} says who may call it"
        );
    }
    let search = &doc["paths"]["/admin/tenants/{id}/knowledge/search"]["post"];
    assert!(search["requestBody"].is_object(), "{search}");
    let stats = &doc["paths"]["/admin/tenants/{id}/stats"]["get"]["parameters"];
    let names: Vec<&str> = stats
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["id", "from", "to", "format"]);
}

async fn key(stack: &Stack, tenant: &str, role: &str) -> String {
    let (status, body) = stack
        .admin(
            Method::POST,
            &format!("/admin/tenants/{tenant}/keys"),
            Some(json!({ "name": format!("{role} key"), "role": role })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["role"], role);
    body["key"].as_str().unwrap().to_owned()
}

/// Calls `path` with the `{t}` placeholder filled.
async fn call(
    stack: &Stack,
    (method, path, body): (&Method, &str, &Option<Value>),
    tenant: &str,
    bearer: &str,
) -> (StatusCode, Value) {
    stack
        .call(
            method.clone(),
            &path.replace("{t}", tenant),
            bearer,
            body.clone(),
        )
        .await
}

fn refused(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::UNAUTHORIZED
        || status == StatusCode::FORBIDDEN
        || (status == StatusCode::NOT_FOUND
            && body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("tenant ")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_authorizes_by_tenant_and_role() {
    let stack = Stack::start().await;
    let (status, body) = stack
        .admin(
            Method::POST,
            "/admin/tenants",
            Some(json!({ "id": "otra", "name": "Otra", "company_name": "Otra SRL" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let owner = key(&stack, "demo", "owner").await;
    let editor = key(&stack, "demo", "editor").await;
    let viewer = key(&stack, "demo", "viewer").await;
    let stranger = key(&stack, "otra", "owner").await;

    for (method, path, body, needs) in routes() {
        let route = (&method, path, &body);
        let what = format!("{method} {path}");
        // Another tenant's key: as if the tenant did not exist (or, on the operator's routes,
        // a plain refusal).
        let (status, answer) = call(&stack, route, "demo", &stranger).await;
        if needs == Needs::Operator {
            assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {answer}");
        } else if path.contains("{t}") {
            assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {answer}");
            assert_eq!(
                answer["error"]["message"], "tenant demo not found",
                "{what}"
            );
        }
        // A wrong key, and no key at all.
        for bearer in ["atk_0000", ""] {
            let (status, _) = call(&stack, route, "demo", bearer).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} with {bearer:?}");
        }
        // Each role: refused exactly where its reach ends. Deleting the tenant is tried below.
        for (role, secret) in [("viewer", &viewer), ("editor", &editor), ("owner", &owner)] {
            let allowed = match needs {
                Needs::Read => true,
                Needs::Edit => role != "viewer",
                Needs::Own => role == "owner",
                Needs::Operator => false,
            };
            if allowed && method == Method::DELETE && path == "/admin/tenants/{t}" {
                continue;
            }
            let (status, answer) = call(&stack, route, "demo", secret).await;
            if allowed {
                assert!(
                    !refused(status, &answer),
                    "{what} as {role}: {status} {answer}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{what} as {role}: {answer}");
            }
        }
        // The operator reaches everything.
        if !(method == Method::DELETE && path == "/admin/tenants/{t}") {
            let (status, answer) = call(&stack, route, "demo", atiende_e2e::ADMIN_TOKEN).await;
            assert!(
                !refused(status, &answer),
                "{what} as operator: {status} {answer}"
            );
        }
    }

    // Prometheus' /metrics (outside /admin) is the operator's too.
    let (status, _) = stack.call(Method::GET, "/metrics", &owner, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A key lists its own tenant only.
    let (_, listed) = stack
        .call(Method::GET, "/admin/tenants", &viewer, None)
        .await;
    let ids: Vec<&str> = listed["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(ids, ["demo"]);

    // An editor changes the bot, not the channels or the desk.
    let (status, answer) = stack
        .call(
            Method::PATCH,
            "/admin/tenants/demo",
            &editor,
            Some(json!({ "chatwoot": null })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("chatwoot")
    );

    // The owner deletes their own tenant; its keys stop working with it.
    let (status, _) = stack
        .call(Method::DELETE, "/admin/tenants/otra", &stranger, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = stack
        .call(Method::GET, "/admin/tenants/otra", &stranger, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_shown_once_stored_hashed_and_revocable() {
    let stack = Stack::start().await;
    let owner = key(&stack, "demo", "owner").await;
    assert!(owner.starts_with("atk_") && owner.len() == 68, "{owner}");
    let (status, created) = stack
        .call(
            Method::POST,
            "/admin/tenants/demo/keys",
            &owner,
            Some(json!({ "name": "panel de Ana", "role": "viewer" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let viewer = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();

    // Used: the last use is recorded; listed: never the secret.
    let (status, _) = stack
        .call(Method::GET, "/admin/tenants/demo/usage", &viewer, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = stack
        .call(Method::GET, "/admin/tenants/demo/keys", &owner, None)
        .await;
    let entry = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["name"], "panel de Ana");
    assert_eq!(entry["role"], "viewer");
    assert!(entry["last_used_at"].is_string(), "{entry}");
    assert!(
        !listed.to_string().contains(&viewer[4..]),
        "a secret was listed"
    );

    // Not stored in the clear: the database (and its write-ahead log) holds its digest only.
    for file in std::fs::read_dir(stack.data_dir()).unwrap() {
        let path = file.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            let needle = &viewer.as_bytes()[4..];
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "the key is stored in the clear in {}",
                path.display()
            );
        }
    }

    // A bad role or name is a 400; revoking stops the key at once.
    let (status, _) = stack
        .call(
            Method::POST,
            "/admin/tenants/demo/keys",
            &owner,
            Some(json!({ "name": "x", "role": "admin" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = stack
        .call(
            Method::DELETE,
            &format!("/admin/tenants/demo/keys/{id}"),
            &owner,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = stack
        .call(Method::GET, "/admin/tenants/demo/usage", &viewer, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
