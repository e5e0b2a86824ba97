//! A cold processor's first answer for a tenant with 10,000 passages, on Firestore (Google's
//! emulator): what a Cloud Run processor instance started from zero pays before it can answer a
//! tenant it has never seen — reading the passages and their vectors from the shared store and
//! building its keyword and vector indexes, with no embedding of any passage (admin embedded them
//! at upload time; here the cache is filled directly, as admin leaves it).
//!
//! Prints the cold answer, the warm answer after it, and the difference.
//!
//! Run: `. infra/emulators.sh && cargo bench -p atiende-e2e --features gcp --bench cold_knowledge`
//! (`PASSAGES`, default 10,000). With multilingual-e5-small installed (`infra/models.sh`) the
//! search is hybrid, as in production; without it, keyword-only (it says which).

// A bench binary fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use atiende_bootstrap::{Embedded, test_settings};
use atiende_domain::{
    Locale, Tenant, TenantId,
    knowledge::{Passage, PassageKind},
};
use atiende_platform::config::{EmbedderChoice, StoreBackend};
use atiende_ports::KnowledgeDocument;
use sha2::Digest as _;

const WORDS: [&str; 16] = [
    "cemento", "varilla", "tubo", "pintura", "clavo", "tornillo", "cable", "llave", "arena",
    "bloque", "madera", "yeso", "malla", "brocha", "cinta", "codo",
];

fn passage(i: usize) -> Passage {
    let word = |k: usize| WORDS[(i * 7 + k * 13) % WORDS.len()];
    Passage {
        id: format!("catalogo#{i}"),
        document_id: "catalogo".into(),
        kind: PassageKind::Text,
        heading: Some(format!("Artículo {i}")),
        text: format!(
            "Artículo {i}: {} de {} para {}, referencia R-{i:05}, disponible en sucursal Centro.",
            word(0),
            word(1),
            word(2)
        ),
        product: None,
    }
}

/// A unit vector of `dimensions`, different for each `seed`.
fn vector(seed: usize, dimensions: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dimensions)
        .map(|d| ((seed * 31 + d * 17) % 97) as f32 - 48.0)
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.into_iter().map(|x| x / norm).collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    assert!(
        std::env::var("FIRESTORE_EMULATOR_HOST").is_ok(),
        "start the emulators first: . infra/emulators.sh"
    );
    let n: usize = std::env::var("PASSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.store.backend = StoreBackend::Firestore;
    settings.gcp.project = Some("atiende-test".into());
    settings.knowledge.embedder = EmbedderChoice::Auto;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let tenant_id = TenantId::parse(format!("cold-{}", &run[..10])).unwrap();

    // What admin leaves in Firestore after an upload: the tenant, its passages, their vectors.
    let seed = Embedded::open(&settings, 0).await.unwrap();
    let now = chrono::Utc::now();
    seed.stores()
        .tenants
        .create(&Tenant {
            id: tenant_id.clone(),
            name: "Ferretería".into(),
            company_name: "Ferretería SRL".into(),
            welcome_message: None,
            language: Locale::Es,
            twilio: None,
            meta: None,
            chatwoot: None,
            rocketchat: None,
            business_hours: None,
            desk_wait_minutes: None,
            alerts: None,
            crm: None,
            templates: Default::default(),
            webchat_enabled: false,
            canned_replies: Vec::new(),
            assistant: atiende_domain::assistant::AssistantSettings {
                llm: false,
                ..Default::default()
            },
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    let passages: Vec<Passage> = (0..n).map(passage).collect();
    let stored = Instant::now();
    seed.stores()
        .knowledge
        .put_document(
            &tenant_id,
            &KnowledgeDocument {
                id: "catalogo".into(),
                title: "Catálogo".into(),
                kind: "text".into(),
                content_hash: run.clone(),
                passages: n,
                created_at: now,
            },
            &passages,
        )
        .await
        .unwrap();
    let knowledge = seed.knowledge().unwrap();
    let hybrid = knowledge.embedding_model().map(str::to_owned);
    if let Some(model) = &hybrid {
        let dimensions = atiende_bootstrap::embedder(&settings.knowledge)
            .unwrap()
            .unwrap()
            .dimensions();
        let entries: Vec<(String, Vec<f32>)> = passages
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let key = hex::encode(sha2::Sha256::digest(p.searchable_text().as_bytes()));
                (key, vector(i, dimensions))
            })
            .collect();
        seed.stores()
            .embeddings
            .put_embeddings(&tenant_id, model, &entries)
            .await
            .unwrap();
    }
    println!(
        "seeded {n} passages{} in {:.1?}",
        if hybrid.is_some() {
            " and their vectors"
        } else {
            ""
        },
        stored.elapsed()
    );
    drop(seed);

    // A processor instance started from zero.
    let started = Instant::now();
    let cold = Embedded::open(&settings, 0).await.unwrap();
    let opened = started.elapsed();
    let processor = cold.processor().unwrap();
    let ask = |sid: &str, text: &str| {
        atiende_testkit::whatsapp_text(tenant_id.as_ref(), "+18095550199", sid, text)
    };
    let first = Instant::now();
    processor
        .process(
            &ask("SM1", "¿Tienen varilla de cemento referencia R-04711?"),
            None,
        )
        .await
        .unwrap();
    let cold_answer = first.elapsed();
    let second = Instant::now();
    processor
        .process(
            &ask("SM2", "¿Tienen pintura de yeso referencia R-00042?"),
            None,
        )
        .await
        .unwrap();
    let warm_answer = second.elapsed();
    println!(
        "{} search, {n} passages: instance ready in {:.0} ms; first answer {:.0} ms (cold: reads passages and vectors, builds both indexes, embeds only the question); next answer {:.0} ms; cold costs {:.0} ms more",
        if hybrid.is_some() {
            "hybrid"
        } else {
            "keyword-only"
        },
        opened.as_secs_f64() * 1e3,
        cold_answer.as_secs_f64() * 1e3,
        warm_answer.as_secs_f64() * 1e3,
        (cold_answer.saturating_sub(warm_answer)).as_secs_f64() * 1e3,
    );
    let _ = Arc::new(cold);
}
