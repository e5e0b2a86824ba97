//! One contract for the knowledge indexes, run against every implementation: the embedded ones
//! (tantivy and the exact vector index) always, and the Qdrant server adapter when `QDRANT_URL`
//! is set (build with `--features qdrant`; a throwaway collection is created and dropped). The
//! same documents must give the same top results, scores must depend on the asking tenant's
//! documents only, a tenant must never see another's passages, and a rebuild must replace the
//! old revision whole.

use atiende_domain::{TenantId, knowledge::split_text_document};
use atiende_ports::{KeywordIndex, VectorIndex};

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

const STORE: &str = "\
- Cemento gris Portland, funda de 42.5 kg, para toda obra.
- Varilla de acero corrugada de 3/8 pulgada, 20 pies.
- Pintura acrílica blanca para interiores, galón.
- Horario: lunes a sábado de 8:00 a.m. a 5:00 p.m.
";

fn texts(hits: &[String]) -> String {
    hits.join(" | ")
}

/// The keyword half of the contract.
async fn keyword_contract(index: &dyn KeywordIndex, prefix: &str) {
    let a = tenant(&format!("{prefix}a"));
    let b = tenant(&format!("{prefix}b"));
    assert_eq!(index.indexed_revision(&a).await.unwrap(), None);
    assert!(index.search(&a, "cemento", 5).await.unwrap().is_none());

    index
        .index_tenant(&a, 1, split_text_document("ferreteria", STORE))
        .await
        .unwrap();
    assert_eq!(index.indexed_revision(&a).await.unwrap(), Some(1));
    let top = |hits: Option<Vec<atiende_ports::KeywordHit>>| -> Vec<String> {
        hits.unwrap().into_iter().map(|h| h.passage.text).collect()
    };
    // Exact terms, including a measure, find their passage first.
    let found = top(index
        .search(&a, "¿tienen varilla de 3/8?", 5)
        .await
        .unwrap());
    assert!(found[0].starts_with("Varilla"), "{}", texts(&found));
    let found = top(index
        .search(&a, "precio del cemento gris", 5)
        .await
        .unwrap());
    assert!(found[0].starts_with("Cemento"), "{}", texts(&found));
    // A word no passage has finds nothing.
    assert!(top(index.search(&a, "jacuzzi", 5).await.unwrap()).is_empty());
    let before = index.search(&a, "cemento gris", 5).await.unwrap().unwrap();
    assert!((before[0].coverage - 1.0).abs() < 1e-6, "{before:?}");

    // Another tenant whose every passage says "cemento" (and has a jacuzzi).
    let other: String = (0..40)
        .map(|i| format!("- Cemento especial número {i} para piscinas.\n"))
        .chain(std::iter::once(
            "- Jacuzzi rojo de cuatro plazas.\n".to_owned(),
        ))
        .collect();
    index
        .index_tenant(&b, 1, split_text_document("piscinas", &other))
        .await
        .unwrap();
    // Tenant A's scores do not move: statistics are per tenant.
    let after = index.search(&a, "cemento gris", 5).await.unwrap().unwrap();
    assert_eq!(before.len(), after.len());
    for (x, y) in before.iter().zip(&after) {
        assert_eq!(x.passage.id, y.passage.id);
        assert!(
            (x.score - y.score).abs() < 1e-4,
            "{} vs {}",
            x.score,
            y.score
        );
    }
    // And A never sees B's passages, nor B A's.
    assert!(top(index.search(&a, "jacuzzi rojo", 5).await.unwrap()).is_empty());
    let of_b = index
        .search(&b, "cemento gris varilla", 50)
        .await
        .unwrap()
        .unwrap();
    assert!(of_b.iter().all(|h| h.passage.document_id == "piscinas"));

    // A rebuild replaces the old revision whole.
    let without_paint: String = STORE
        .lines()
        .filter(|l| !l.contains("Pintura"))
        .map(|l| format!("{l}\n"))
        .collect();
    index
        .index_tenant(&a, 2, split_text_document("ferreteria", &without_paint))
        .await
        .unwrap();
    assert_eq!(index.indexed_revision(&a).await.unwrap(), Some(2));
    assert!(top(index.search(&a, "pintura acrílica", 5).await.unwrap()).is_empty());
    assert_eq!(
        top(index.search(&a, "cemento", 5).await.unwrap()).len(),
        1,
        "no duplicate from the old revision"
    );

    index.forget_tenant(&a).await.unwrap();
    assert_eq!(index.indexed_revision(&a).await.unwrap(), None);
    assert!(index.search(&a, "cemento", 5).await.unwrap().is_none());
    assert!(index.search(&b, "jacuzzi", 5).await.unwrap().is_some());
    index.forget_tenant(&b).await.unwrap();

    // A tenant whose knowledge is in English gets English stemming, at index and query time:
    // "deliveries" finds "delivery", "batteries" finds "battery".
    let english = tenant(&format!("{prefix}en"));
    index
        .index_tenant(
            &english,
            1,
            split_text_document(
                "store",
                "- We offer delivery to every town in the province.\n\
                 - Each cordless drill comes with a battery and a charger.\n\
                 - The store is open from Monday to Saturday.\n",
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        index.indexed_language(&english).await.unwrap(),
        Some(atiende_domain::Locale::En),
        "the index records its analyzer's language for other processes"
    );
    let found = top(index
        .search(&english, "do you do deliveries?", 5)
        .await
        .unwrap());
    assert!(
        found.first().is_some_and(|t| t.contains("delivery")),
        "{}",
        texts(&found)
    );
    let found = top(index.search(&english, "spare batteries", 5).await.unwrap());
    assert!(
        found.first().is_some_and(|t| t.contains("battery")),
        "{}",
        texts(&found)
    );
    index.forget_tenant(&english).await.unwrap();
}

fn unit(v: [f32; 4]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

/// The dense half of the contract.
async fn dense_contract(index: &dyn VectorIndex, prefix: &str) {
    let a = tenant(&format!("{prefix}a"));
    let b = tenant(&format!("{prefix}b"));
    assert_eq!(index.indexed_revision(&a).await.unwrap(), None);
    assert!(
        index
            .search(&a, &unit([1.0, 0.0, 0.0, 0.0]), 3)
            .await
            .unwrap()
            .is_none()
    );
    let passages = split_text_document("ferreteria", STORE);
    let directions = [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let entries = passages
        .iter()
        .cloned()
        .zip(directions.iter().map(|d| unit(*d)))
        .collect();
    index.index_tenant(&a, 1, "m4", entries).await.unwrap();
    assert_eq!(
        index.indexed_revision(&a).await.unwrap(),
        Some((1, "m4".to_owned()))
    );
    // B's passages point exactly where A's query does.
    let b_passages = split_text_document("piscinas", "- Jacuzzi rojo.\n");
    index
        .index_tenant(
            &b,
            1,
            "m4",
            vec![(b_passages[0].clone(), unit([0.1, 0.9, 0.1, 0.0]))],
        )
        .await
        .unwrap();

    let query = unit([0.1, 0.9, 0.1, 0.0]);
    let hits = index.search(&a, &query, 3).await.unwrap().unwrap();
    assert_eq!(hits.len(), 3);
    assert!(hits[0].passage.text.starts_with("Varilla"), "{hits:?}");
    let expected = query[1];
    assert!((hits[0].similarity - expected).abs() < 1e-3, "{hits:?}");
    assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity));
    assert!(hits.iter().all(|h| h.passage.document_id == "ferreteria"));

    // A rebuild with another model replaces the vectors.
    let entries = passages
        .iter()
        .cloned()
        .zip(directions.iter().rev().map(|d| unit(*d)))
        .collect();
    index.index_tenant(&a, 2, "m4-bis", entries).await.unwrap();
    assert_eq!(
        index.indexed_revision(&a).await.unwrap(),
        Some((2, "m4-bis".to_owned()))
    );
    let hits = index
        .search(&a, &unit([1.0, 0.0, 0.0, 0.0]), 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hits.len(), 4, "no duplicate from the old revision");
    assert!(hits[0].passage.text.starts_with("Horario"), "{hits:?}");

    index.forget_tenant(&a).await.unwrap();
    assert_eq!(index.indexed_revision(&a).await.unwrap(), None);
    index.forget_tenant(&b).await.unwrap();
}

#[tokio::test]
async fn the_embedded_indexes_keep_the_contract() {
    keyword_contract(&atiende_adapter_tantivy::TantivyIndex::new(), "embedded-").await;
    dense_contract(
        &atiende_adapter_vectors::ExactVectorIndex::new(),
        "embedded-",
    )
    .await;
}

/// Against a real Qdrant (1.19+, for per-query IDF): `QDRANT_URL=http://localhost:6334
/// cargo nextest run -p atiende-e2e --features qdrant index_contract`.
#[cfg(feature = "qdrant")]
#[tokio::test]
async fn the_qdrant_indexes_keep_the_contract() {
    let Ok(url) = std::env::var("QDRANT_URL") else {
        eprintln!("QDRANT_URL is not set: the Qdrant half of the contract was not run");
        return;
    };
    let settings = atiende_adapter_qdrant::QdrantSettings {
        url,
        api_key: std::env::var("QDRANT_API_KEY")
            .ok()
            .map(secrecy::SecretString::from),
        collection: format!("atiende_contract_{}", uuid::Uuid::new_v4().simple()),
        timeout: std::time::Duration::from_secs(10),
    };
    let qdrant =
        std::sync::Arc::new(atiende_adapter_qdrant::QdrantKnowledge::connect(&settings).unwrap());
    assert!(qdrant.setup(4, true).await.unwrap());
    keyword_contract(qdrant.as_ref(), "qdrant-").await;
    dense_contract(qdrant.as_ref(), "qdrant-").await;
    qdrant.drop_collection().await.unwrap();
}
