//! The keyword index analyzes Spanish sensibly, ranks per tenant and reports coverage.

// A failing test should panic with the value it choked on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use atiende_adapter_tantivy::{TantivyIndex, analyzer, query_groups, terms};
use atiende_domain::{TenantId, knowledge::split_text_document};
use atiende_ports::KeywordIndex;

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

#[test]
fn the_analyzer_folds_accents_stems_and_drops_scaffolding() {
    let mut a = analyzer();
    assert_eq!(
        terms(&mut a, "¿Cuánto cuesta la devolución?"),
        terms(&mut a, "devolucion")
    );
    assert_eq!(terms(&mut a, "entregas"), terms(&mut a, "Entrega"));
    assert!(terms(&mut a, "¿Tienen algo disponible, por favor?").is_empty());
    assert_eq!(terms(&mut a, "CEM-001"), vec!["cem", "001"]);
}

#[tokio::test]
async fn the_best_passage_covers_the_question() {
    let index = TantivyIndex::new();
    let t = tenant("demo");
    let doc = "## Entregas\n- Entregamos en La Romana y Guaymate.\n- El costo de entrega a Guaymate es RD$1,200.\n## Pagos\n- Aceptamos tarjetas Visa.";
    index
        .index_tenant(&t, 1, split_text_document("info", doc))
        .await
        .unwrap();
    let hits = index
        .search(&t, "¿Cuánto cuesta la entrega a Guaymate?", 5)
        .await
        .unwrap()
        .unwrap();
    // Both delivery lines name Guaymate; the responder quotes same-section siblings together.
    assert!(
        hits[..2]
            .iter()
            .any(|h| h.passage.text.contains("RD$1,200")),
        "{hits:?}"
    );
    assert!(hits[..2].iter().all(|h| h.coverage > 0.99));
    assert!(
        hits.iter()
            .all(|h| h.passage.heading.as_deref() != Some("Pagos"))
    );
    let none = index
        .search(&t, "¿venden jacuzzis?", 5)
        .await
        .unwrap()
        .unwrap();
    assert!(none.iter().all(|h| h.coverage < 0.5), "{none:?}");
    assert_eq!(index.indexed_revision(&t).await.unwrap(), Some(1));
}

#[tokio::test]
async fn an_unknown_word_keeps_a_partial_match_below_the_bar() {
    let index = TantivyIndex::new();
    let t = tenant("demo");
    let doc = "- Impermeabilizante para techos rojo, cubeta 5 galones.\n- Pintura blanca.";
    index
        .index_tenant(&t, 1, split_text_document("cat", doc))
        .await
        .unwrap();
    let hits = index
        .search(&t, "¿tienen jacuzzi rojo?", 5)
        .await
        .unwrap()
        .unwrap();
    assert!(hits[0].coverage < 0.5, "{hits:?}");
}

#[tokio::test]
async fn one_tenants_documents_do_not_change_another_tenants_scores() {
    let a_docs = split_text_document(
        "a",
        "- Cemento gris.\n- Block de 6 pulgadas.\n- Varilla de acero.",
    );
    let alone = TantivyIndex::new();
    alone
        .index_tenant(&tenant("a"), 1, a_docs.clone())
        .await
        .unwrap();
    let shared = TantivyIndex::new();
    shared.index_tenant(&tenant("a"), 1, a_docs).await.unwrap();
    // Tenant b's corpus is full of "cemento", which would lower its IDF in a shared index.
    let b_docs = split_text_document("b", &"- Cemento.\n".repeat(200));
    shared.index_tenant(&tenant("b"), 1, b_docs).await.unwrap();

    let q = "cemento gris";
    let h1 = alone.search(&tenant("a"), q, 3).await.unwrap().unwrap();
    let h2 = shared.search(&tenant("a"), q, 3).await.unwrap().unwrap();
    assert_eq!(h1.len(), h2.len());
    for (x, y) in h1.iter().zip(&h2) {
        assert_eq!(x.passage.id, y.passage.id);
        assert_eq!(x.score, y.score);
        assert_eq!(x.coverage, y.coverage);
    }
    assert!(
        h2.iter().all(|h| h.passage.document_id == "a"),
        "no cross-tenant results"
    );
}

#[tokio::test]
async fn unindexed_tenants_say_so_and_forgotten_ones_are_gone() {
    let index = TantivyIndex::new();
    assert!(
        index
            .search(&tenant("x"), "hola", 3)
            .await
            .unwrap()
            .is_none()
    );
    index
        .index_tenant(&tenant("x"), 7, split_text_document("d", "- hola"))
        .await
        .unwrap();
    index.forget_tenant(&tenant("x")).await.unwrap();
    assert!(
        index
            .search(&tenant("x"), "hola", 3)
            .await
            .unwrap()
            .is_none()
    );
}

#[test]
fn synonyms_join_a_question_word_with_its_group() {
    let mut a = analyzer();
    let groups = query_groups(&mut a, "¿A qué hora abren los sábados?");
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert!(groups[0].contains(&terms(&mut a, "horarios")[0]));
}

#[tokio::test]
async fn a_question_in_other_words_finds_the_section() {
    let index = TantivyIndex::new();
    let t = tenant("demo");
    let doc = "## Horarios\n- Centro: sábados de 8:00 a.m. a 4:00 p.m.\n## Pagos\n- Aceptamos tarjetas Visa.";
    index
        .index_tenant(&t, 1, split_text_document("info", doc))
        .await
        .unwrap();
    let hits = index
        .search(&t, "¿A qué hora abren los sábados?", 5)
        .await
        .unwrap()
        .unwrap();
    assert!(hits[0].passage.text.contains("sábados"), "{hits:?}");
    assert!(hits[0].coverage > 0.99);
    let hits = index
        .search(&t, "¿Puedo pagar con tarjeta?", 5)
        .await
        .unwrap()
        .unwrap();
    assert!(
        hits[0].passage.text.contains("Visa") && hits[0].coverage > 0.99,
        "{hits:?}"
    );
}
