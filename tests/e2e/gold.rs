//! The extractive responder on the demo tenant: a hand-written gold set of customer questions.
//!
//! In-scope questions must be answered with the fact that answers them; out-of-scope questions
//! must get "I don't know" (and the offer of a person), never a confidently wrong passage. No
//! labelled Spanish customer-service data exists offline, so this set is written from the demo
//! store's own documents, in the way its customers write (with and without accents).

use atiende_app::responder::{Answer, ExtractiveResponder};
use atiende_domain::{Locale, TenantId};
use atiende_platform::config::EmbedderChoice;

/// (question, language, the fact the answer must contain; `None` = must not answer).
const GOLD: &[(&str, Locale, Option<&str>)] = &[
    (
        "¿Cuánto cuesta el cemento gris?",
        Locale::Es,
        Some("RD$495"),
    ),
    (
        "cuanto cuesta el cemento blanco",
        Locale::Es,
        Some("RD$890"),
    ),
    ("¿Tienen block de 6 pulgadas?", Locale::Es, Some("BLK-006")),
    (
        "precio de la cubeta de pintura acrilica blanca",
        Locale::Es,
        Some("RD$5,650"),
    ),
    ("¿Tienen taladro inalámbrico?", Locale::Es, Some("TAL-INAL")),
    ("¿Hay varilla de 3/8?", Locale::Es, Some("VAR-038")),
    (
        "¿Cuánto vale el aire acondicionado de 12000 BTU?",
        Locale::Es,
        Some("RD$28,500"),
    ),
    ("CEM-002", Locale::Es, Some("Cemento blanco")),
    (
        "¿A qué hora abren los sábados?",
        Locale::Es,
        Some("sábados de 8:00 a.m. a 4:00 p.m."),
    ),
    ("¿Abren los domingos?", Locale::Es, Some("domingos")),
    ("¿Hacen entregas en Guaymate?", Locale::Es, Some("Guaymate")),
    (
        "¿Cuánto cuesta la entrega a Cumayasa?",
        Locale::Es,
        Some("RD$800"),
    ),
    (
        "¿Aceptan cheques?",
        Locale::Es,
        Some("No aceptamos cheques personales"),
    ),
    ("¿Puedo pagar con tarjeta?", Locale::Es, Some("Visa")),
    (
        "¿Cuál es la política de devoluciones?",
        Locale::Es,
        Some("15 días"),
    ),
    (
        "¿Qué garantía tienen las herramientas eléctricas?",
        Locale::Es,
        Some("1 año"),
    ),
    (
        "garantia del aire acondicionado",
        Locale::Es,
        Some("2 años"),
    ),
    (
        "¿Cuánto cuesta alquilar la mezcladora?",
        Locale::Es,
        Some("RD$1,500"),
    ),
    ("¿Tienen vacantes de empleo?", Locale::Es, Some("chofer")),
    ("¿Qué ofertas tienen?", Locale::Es, Some("descuento")),
    (
        "¿Cuáles son los requisitos para el crédito?",
        Locale::Es,
        Some("referencias comerciales"),
    ),
    (
        "¿Cuál es el teléfono de la tienda?",
        Locale::Es,
        Some("(809) 556-0145"),
    ),
    (
        "¿Cortan madera a la medida?",
        Locale::Es,
        Some("RD$50 por corte"),
    ),
    ("Do you have cement?", Locale::En, Some("RD$495 per bag")),
    (
        "How much is the delivery to Guaymate?",
        Locale::En,
        Some("RD$1,200"),
    ),
    ("¿Venden carros usados?", Locale::Es, None),
    ("¿Cuál es la capital de Francia?", Locale::Es, None),
    ("¿Tienen jacuzzi?", Locale::Es, None),
    (
        "Quiero reservar una mesa para dos personas",
        Locale::Es,
        None,
    ),
    ("¿Arreglan celulares?", Locale::Es, None),
    ("What is the weather like tomorrow?", Locale::En, None),
];

/// English questions to the Spanish knowledge: only meaning reaches across languages, so these
/// run with hybrid search only (`knowledge.dense_cross_baseline`).
const ACROSS: &[(&str, Locale, Option<&str>)] = &[
    ("How much is the gray cement?", Locale::En, Some("RD$495")),
    ("do you take personal checks", Locale::En, Some("cheques")),
    ("are you hiring drivers", Locale::En, Some("chofer")),
    ("do you rent concrete mixers", Locale::En, Some("RD$1,500")),
    ("do you sell used cars", Locale::En, None),
    ("do you sell pizza", Locale::En, None),
    // Known miss, measured in docs/benchmarks.md: "how much is a haircut" is answered with the
    // wood-cutting service (similarity 0.847 across languages).
];

/// Runs the gold set on the demo tenant with `embedder`; returns the failures.
async fn run_gold(embedder: EmbedderChoice) -> Vec<String> {
    run_questions(embedder, GOLD).await
}

/// Runs `questions` on the demo tenant with `embedder`; returns the failures.
async fn run_questions(
    embedder: EmbedderChoice,
    questions: &[(&str, Locale, Option<&str>)],
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = atiende_bootstrap::test_settings(dir.path());
    settings.demo = Some(true);
    settings.knowledge.embedder = embedder;
    let infra = atiende_bootstrap::Embedded::open(&settings, 0)
        .await
        .unwrap();
    infra.load_demo_if_enabled().await.unwrap();
    let responder =
        ExtractiveResponder::new(infra.knowledge().unwrap(), settings.processor.min_relevance);
    let tenant = infra
        .tenants
        .get(&TenantId::parse("demo").unwrap())
        .await
        .unwrap()
        .unwrap();

    let mut failures = Vec::new();
    for (question, locale, expected) in questions {
        let answer = responder.answer(&tenant, question, *locale).await.unwrap();
        let ok = match (expected, &answer) {
            (Some(fact), Answer::Found { text, .. }) => text.contains(fact),
            (None, Answer::NotFound) => true,
            (Some(_), Answer::NotFound) | (None, Answer::Found { .. }) => false,
        };
        if !ok {
            failures.push(format!(
                "{question:?} expected {expected:?}, got {answer:?}"
            ));
        }
    }
    println!(
        "gold set ({embedder:?}): {}/{} correct",
        questions.len() - failures.len(),
        questions.len()
    );
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_gold_set_is_answered_and_out_of_scope_questions_are_not() {
    let failures = run_gold(EmbedderChoice::None).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same questions with hybrid search: meaning-based matches must not make the bot answer
/// what it does not know.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model fetched by infra/models.sh"]
async fn the_demo_gold_set_holds_with_hybrid_search() {
    let failures = run_gold(EmbedderChoice::E5).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// English questions over the Spanish demo knowledge are answered on meaning, quoted under a
/// line that says the information is in Spanish, and out-of-scope ones still are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the model fetched by infra/models.sh"]
async fn english_questions_reach_the_spanish_knowledge_with_hybrid_search() {
    let failures = run_questions(EmbedderChoice::E5, ACROSS).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
