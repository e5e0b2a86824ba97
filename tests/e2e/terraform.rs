//! `terraform/` describes what the code uses: the same topics, subscriptions and push routes,
//! the four services, settings that exist, and Firestore's TTL and indexes on the fields the
//! adapter writes. (`terraform validate` needs the Google provider, which cannot be downloaded
//! here; `terraform fmt -check` runs in infra/test.sh.)

use atiende_domain::Topic;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../terraform/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("terraform/{path}: {e}"))
}

/// Every `.tf` file under terraform/, concatenated.
fn all_terraform() -> String {
    fn walk(dir: &std::path::Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "tf") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = String::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform"),
        &mut out,
    );
    out
}

#[test]
fn terraform_declares_every_topic_and_subscription_the_code_uses() {
    let bus = read("modules/pubsub_bus/main.tf");
    for topic in Topic::ALL {
        assert!(
            bus.contains(&format!("\"{}\" = {{", topic.name())),
            "terraform lacks topic {}",
            topic.name()
        );
        assert!(
            bus.contains(&format!("subscription = \"{}\"", topic.subscription())),
            "terraform lacks subscription {}",
            topic.subscription()
        );
        assert!(
            bus.contains(&atiende_platform::push::push_path(topic.subscription())),
            "terraform pushes {} to its route",
            topic.subscription()
        );
    }
}

#[test]
fn terraform_deploys_the_four_services_with_a_dockerfile_each() {
    let main = read("main.tf");
    for service in ["ingest", "processor", "dispatcher", "admin"] {
        assert!(
            main.contains(&format!("\"{service}\"")),
            "{service} in main.tf"
        );
        let dockerfile = format!(
            "{}/../services/{service}/Dockerfile",
            env!("CARGO_MANIFEST_DIR")
        );
        let text =
            std::fs::read_to_string(&dockerfile).unwrap_or_else(|e| panic!("{dockerfile}: {e}"));
        assert!(
            text.contains(&format!("atiende-{service}")),
            "{dockerfile} builds atiende-{service}"
        );
    }
}

/// Every `ATIENDE_…` variable Terraform sets names a real setting.
#[test]
fn terraform_sets_only_settings_that_exist() {
    let settings = serde_json::to_value(atiende_platform::Settings::default()).unwrap();
    // Secrets are never serialized, so the default settings' JSON does not list them.
    let secrets = ["admin_token", "bus.push_token", "media.link_key"];
    let text = all_terraform();
    let mut checked = 0;
    for (i, _) in text.match_indices("ATIENDE_") {
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let path: Vec<String> = name["ATIENDE_".len()..]
            .split("__")
            .map(str::to_lowercase)
            .collect();
        let dotted = path.join(".");
        let exists = secrets.contains(&dotted.as_str())
            || path
                .iter()
                .try_fold(&settings, |v, key| v.get(key))
                .is_some();
        assert!(
            exists,
            "terraform sets {name}, which is not a setting ({dotted})"
        );
        checked += 1;
    }
    assert!(checked >= 10, "found only {checked} settings in terraform/");
}

/// Media is shared by the services, so it lives in the bucket every one of them is given, with
/// the access each needs: the processor and admin write, ingest and the dispatcher only read.
#[test]
fn the_services_that_keep_or_serve_media_share_one_bucket() {
    let main = read("main.tf");
    assert!(main.contains("ATIENDE_MEDIA__BUCKET = google_storage_bucket.media.name"));
    let media = read("media.tf");
    for (service, role) in [
        ("processor", "roles/storage.objectUser"),
        ("admin", "roles/storage.objectUser"),
        ("ingest", "roles/storage.objectViewer"),
        ("dispatcher", "roles/storage.objectViewer"),
    ] {
        assert!(
            media.lines().any(|l| {
                let l = l.trim();
                l.starts_with(service) && l.ends_with(&format!("\"{role}\""))
            }),
            "{service} gets {role} on the media bucket"
        );
    }
    assert!(media.contains("public_access_prevention = \"enforced\""));
}

/// The dispatcher signs links to customers' files and ingest checks them: both read the one key
/// from Secret Manager, and nothing else does.
#[test]
fn ingest_and_the_dispatcher_share_the_media_link_key() {
    let main = read("main.tf");
    let secrets = read("secrets.tf");
    let line = "ATIENDE_MEDIA__LINK_KEY = google_secret_manager_secret.media_link_key.secret_id";
    for service in ["ingest", "dispatcher"] {
        assert!(
            main.lines()
                .any(|l| l.trim().starts_with(service) && l.contains(line)),
            "{service} gets the link key"
        );
    }
    assert_eq!(main.matches(line).count(), 2);
    assert!(secrets.contains("for_each  = toset([\"ingest\", \"dispatcher\"])"));
}

#[cfg(feature = "gcp")]
#[test]
fn firestore_ttl_and_indexes_name_what_the_adapter_writes() {
    use atiende_adapter_gcp::store::{CONVERSATIONS, DEDUPE, DEDUPE_TTL_FIELD, OUTBOX};
    let firestore = read("firestore.tf");
    assert!(firestore.contains(&format!("collection = \"{DEDUPE}\"")));
    assert!(firestore.contains(&format!("field      = \"{DEDUPE_TTL_FIELD}\"")));
    for collection in [CONVERSATIONS, OUTBOX] {
        assert!(
            firestore.contains(&format!("collection  = \"{collection}\"")),
            "an index on {collection}"
        );
    }
}

/// Every collection with a TTL field in the adapter has Firestore's TTL policy on it, and the
/// database can be recovered (point-in-time recovery, a daily backup).
#[cfg(feature = "gcp")]
#[test]
fn every_expiring_collection_has_its_ttl_policy_and_the_database_its_backups() {
    use atiende_adapter_gcp::jobs::{INGESTION_JOBS, JOBS_TTL_FIELD};
    use atiende_adapter_gcp::webchat::{WEBCHAT, WEBCHAT_LINES, WEBCHAT_TTL_FIELD};
    let firestore = read("firestore.tf");
    for (collection, field) in [
        (WEBCHAT, WEBCHAT_TTL_FIELD),
        (WEBCHAT_LINES, WEBCHAT_TTL_FIELD),
        (INGESTION_JOBS, JOBS_TTL_FIELD),
    ] {
        let declared = firestore
            .split("resource \"google_firestore_field\"")
            .any(|block| {
                block.contains(&format!("collection = \"{collection}\""))
                    && block.contains(&format!("field      = \"{field}\""))
                    && block.contains("ttl_config")
            });
        assert!(declared, "a TTL policy on {collection}.{field}");
    }
    assert!(firestore.contains("POINT_IN_TIME_RECOVERY_ENABLED"));
    assert!(firestore.contains("google_firestore_backup_schedule"));
}

/// Cloud Scheduler calls the route ingest serves for the desk wait, with an OIDC token whose
/// audience ingest is told to expect.
#[test]
fn the_scheduler_calls_ingests_desk_wait_task_with_a_token_ingest_verifies() {
    let scheduler = read("scheduler.tf");
    let main = read("main.tf");
    let task = atiende_platform::push::DESK_WAIT_TASK;
    assert!(main.contains(&format!(
        "desk_wait_url = \"${{local.run_url[\"ingest\"]}}{task}\""
    )));
    assert!(scheduler.contains("uri         = local.desk_wait_url"));
    assert!(scheduler.contains("audience              = local.desk_wait_url"));
    let ingest = main
        .split("ingest = {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .unwrap();
    assert!(
        ingest.contains("ATIENDE_GCP__PUSH_AUDIENCE        = local.desk_wait_url"),
        "{ingest}"
    );
    assert!(
        ingest.contains("ATIENDE_GCP__PUSH_SERVICE_ACCOUNT"),
        "{ingest}"
    );
}
