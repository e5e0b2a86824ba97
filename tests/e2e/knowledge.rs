//! `atiende kb ingest` against a running atiende: a folder of a tenant's files becomes answers.

use atiende_e2e::{ADMIN_TOKEN, Stack, Visitor};
use reqwest::Method;

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_ingested_by_the_cli_answers_customers_and_reingesting_changes_nothing() {
    let stack = Stack::start().await;
    let url = stack.running.local_url();
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/data/knowledge");
    let before = stack
        .admin(Method::GET, "/admin/tenants/demo/knowledge", None)
        .await
        .1["documents"]
        .as_array()
        .unwrap()
        .len();

    let summary = atiende::kb::run(
        &args(&["ingest", "demo", folder, "--url", &url]),
        ADMIN_TOKEN,
        false,
    )
    .await
    .unwrap();
    assert_eq!(summary.failures, Vec::<String>::new());
    assert_eq!((summary.stored, summary.unchanged), (5, 0), "{summary:?}");
    assert_eq!(summary.passages, 9, "{summary:?}");
    let skipped: Vec<String> = summary
        .skipped
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(skipped, vec!["notas.docx"]);
    let (_, listed) = stack
        .admin(Method::GET, "/admin/tenants/demo/knowledge", None)
        .await;
    assert_eq!(listed["documents"].as_array().unwrap().len(), before + 5);

    // A customer's question is answered from the uploaded FAQ, on the real message path.
    let visitor = Visitor::open(&stack).await;
    let reply = visitor.ask("¿Aceptan transferencias bancarias?").await;
    assert!(reply.contains("Banco Popular"), "{reply}");

    let again = atiende::kb::run(
        &args(&["ingest", "demo", folder, "--url", &url]),
        ADMIN_TOKEN,
        false,
    )
    .await
    .unwrap();
    assert_eq!((again.stored, again.unchanged), (0, 5), "{again:?}");

    // A wrong token, a viewer's key or an unknown tenant stops the run at once and says what to
    // do; an unreachable server fails the run.
    let denied = atiende::kb::run(
        &args(&["ingest", "demo", folder, "--url", &url]),
        "wrong-token",
        false,
    )
    .await
    .unwrap_err();
    assert!(
        denied.contains("401") && denied.contains("ATIENDE_ADMIN_TOKEN"),
        "{denied}"
    );
    let (_, viewer) = stack
        .admin(
            reqwest::Method::POST,
            "/admin/tenants/demo/keys",
            Some(serde_json::json!({ "name": "viewer", "role": "viewer" })),
        )
        .await;
    let viewer = viewer["key"].as_str().unwrap().to_owned();
    let short = atiende::kb::run(
        &args(&["ingest", "demo", folder, "--url", &url]),
        &viewer,
        false,
    )
    .await
    .unwrap_err();
    assert!(short.contains("403") && short.contains("editor"), "{short}");
    let unknown = atiende::kb::run(
        &args(&["ingest", "nadie", folder, "--url", &url]),
        ADMIN_TOKEN,
        false,
    )
    .await
    .unwrap_err();
    assert!(
        unknown.contains("404") && unknown.contains("tenant id"),
        "{unknown}"
    );
    let unreachable = atiende::kb::run(
        &args(&["ingest", "demo", folder, "--url", "http://127.0.0.1:9"]),
        ADMIN_TOKEN,
        false,
    )
    .await;
    assert!(unreachable.unwrap_err().contains("cannot reach"));
}
