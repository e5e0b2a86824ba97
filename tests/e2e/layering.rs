//! The dependency rules of docs/ARCHITECTURE.md, checked on `cargo metadata`:
//!
//! * the domain does no IO: no async runtime, web framework, HTTP client, database or cloud SDK;
//! * ports and use cases depend on no framework, HTTP client, database, index or cloud SDK, and
//!   on no adapter, platform or service crate;
//! * an adapter depends on no other adapter, and on no platform, bootstrap or service crate (the
//!   shared keyword analyzer, which depends on the domain only, is allowed);
//! * platform depends on no adapter and no service;
//! * a service depends on no other service (services talk through the bus).

use std::process::Command;

use serde_json::Value;

/// Third-party crates that mean IO, a framework or a vendor SDK.
const HEAVY: &[&str] = &[
    "actix-web",
    "actix-rt",
    "actix-http",
    "reqwest",
    "hyper",
    "tonic",
    "rusqlite",
    "tantivy",
    "qdrant-client",
    "qdrant-edge",
    "google-cloud-pubsub",
    "gcloud-pubsub",
    "firestore",
    "google-cloud-googleapis",
    "gcloud-sdk",
];
const ASYNC: &[&str] = &["tokio", "async-std", "futures", "futures-util", "smol"];
const SERVICES: &[&str] = &[
    "atiende-ingest",
    "atiende-processor",
    "atiende-dispatcher",
    "atiende-admin",
];

/// Every (package, normal dependency) pair that breaks a rule, as readable sentences.
fn violations(metadata: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        if !name.starts_with("atiende") {
            continue;
        }
        let deps = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str());
        for dep in deps {
            let internal = dep.starts_with("atiende");
            let is_adapter = dep.starts_with("atiende-adapter-");
            let broken = match name {
                "atiende-domain" => internal || HEAVY.contains(&dep) || ASYNC.contains(&dep),
                "atiende-ports" | "atiende-app" => {
                    HEAVY.contains(&dep)
                        || (internal && !matches!(dep, "atiende-domain" | "atiende-ports"))
                }
                // Adapters may share the keyword analyzer: both keyword indexes must analyze text
                // the same way.
                n if n.starts_with("atiende-adapter-") => {
                    internal
                        && !matches!(dep, "atiende-domain" | "atiende-ports" | "atiende-analysis")
                }
                "atiende-analysis" => internal && dep != "atiende-domain",
                "atiende-platform" => {
                    is_adapter || SERVICES.contains(&dep) || dep == "atiende-bootstrap"
                }
                n if SERVICES.contains(&n) => SERVICES.contains(&dep),
                _ => false,
            };
            if broken {
                found.push(format!("{name} must not depend on {dep}"));
            }
        }
    }
    found
}

#[test]
fn the_workspace_respects_its_layering() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap().len();
    assert!(
        packages >= 16,
        "the whole workspace is checked ({packages} packages)"
    );
    let found = violations(&metadata);
    assert!(
        found.is_empty(),
        "layering violations:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_catches_each_kind_of_violation() {
    let package = |name: &str, deps: &[&str]| {
        serde_json::json!({
            "name": name,
            "dependencies": deps.iter().map(|d| serde_json::json!({"name": d, "kind": null})).collect::<Vec<_>>(),
        })
    };
    let metadata = serde_json::json!({ "packages": [
        package("atiende-domain", &["serde", "tokio"]),
        package("atiende-app", &["atiende-ports", "reqwest"]),
        package("atiende-adapter-meta", &["atiende-adapter-twilio"]),
        package("atiende-platform", &["atiende-adapter-sqlite"]),
        package("atiende-ingest", &["atiende-processor"]),
        package("atiende", &["atiende-ingest", "atiende-processor"]),
    ]});
    let found = violations(&metadata);
    assert_eq!(
        found,
        vec![
            "atiende-domain must not depend on tokio",
            "atiende-app must not depend on reqwest",
            "atiende-adapter-meta must not depend on atiende-adapter-twilio",
            "atiende-platform must not depend on atiende-adapter-sqlite",
            "atiende-ingest must not depend on atiende-processor",
        ]
    );
}
