//! Answers that hold without a model, on the all-in-one: the account, quote and lead skills
//! (the same tool code the model calls, driven by the customer's words) and the mood triggers.
//! `scale_to_zero.rs` runs the account and quote skills on the four services.

use atiende_e2e::{Stack, Visitor};
use reqwest::Method;
use serde_json::Value;

async fn conversation(stack: &Stack, id: &str) -> Value {
    let (_, c) = stack
        .admin(
            Method::GET,
            &format!("/admin/tenants/demo/conversations/{id}"),
            None,
        )
        .await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the twilio SDK (infra/test.sh)"]
async fn an_account_status_goes_to_its_registered_number_only() {
    let stack = Stack::start().await;
    // The demo's account 104233 is registered to +18095551010.
    stack
        .customer_says(
            "SM00000000000000000000000000000a01",
            "+18095551010",
            "Buenas, cual es el estado de mi cuenta 104-233?",
        )
        .await;
    stack
        .customer_says(
            "SM00000000000000000000000000000a02",
            "+18095559876",
            "estado de cuenta 104233",
        )
        .await;
    stack
        .customer_says(
            "SM00000000000000000000000000000a03",
            "+18095559876",
            "estado de cuenta 999999",
        )
        .await;
    let sent = stack.twilio_messages(3).await;
    let to = |n: &str| -> Vec<String> {
        sent.iter()
            .filter(|m| m.to == format!("whatsapp:{n}"))
            .filter_map(|m| m.body.clone())
            .collect()
    };
    let owner = to("+18095551010");
    assert!(
        owner[0].contains("al día") && owner[0].contains("RD$12,500"),
        "{owner:?}"
    );
    // Someone else's account and an account that does not exist: the same words.
    let other = to("+18095559876");
    assert_eq!(other.len(), 2, "{other:?}");
    assert_eq!(other[0], other[1]);
    assert!(!other[0].contains("12,500"), "{other:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_chat_never_tells_an_account_and_asks_for_the_number_first() {
    let stack = Stack::start().await;
    let visitor = Visitor::open(&stack).await;
    let ask = visitor.ask("quiero saber mi saldo").await;
    assert!(ask.contains("número de tu cuenta"), "{ask}");
    // The web chat's visitor is nobody's registered WhatsApp number.
    let refused = visitor.ask("104233").await;
    assert!(refused.starts_with("Por seguridad"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_quote_goes_to_a_person_under_its_case_number_and_a_small_one_is_offered() {
    let stack = Stack::start().await;
    let visitor = Visitor::open(&stack).await;
    let small = visitor
        .ask("cotizame 10 fundas de cemento gris y 20 varillas de 3/8")
        .await;
    assert!(
        small.contains("RD$4,950") && small.contains("RD$10,250"),
        "{small}"
    );
    assert_eq!(visitor.state().await, "bot");
    let accepted = visitor.ask("si, porfa").await;
    assert!(accepted.starts_with("Te comunico"), "{accepted}");

    let builder = Visitor::open(&stack).await;
    let items = builder.ask("Necesito una cotizacion").await;
    assert!(items.contains("¿Qué productos"), "{items}");
    let large = builder.ask("300 fundas de cemento gris").await;
    assert!(large.contains("RD$148,500"), "{large}");
    let notice = atiende_testkit::eventually(std::time::Duration::from_secs(10), || async {
        builder.bot_lines().await.get(2).cloned()
    })
    .await
    .expect("a handoff notice");
    let case = large.split('*').nth(1).unwrap();
    assert!(notice.contains(case), "{notice}");
    let c = conversation(&stack, &builder.conversation).await;
    assert_eq!(c["handoff_reason"], "business_rule");

    // "Cemento" fits two products: one is priced and the other named, so the customer can ask
    // for the one they meant instead of trusting a guess.
    let vague = Visitor::open(&stack)
        .await
        .ask("cotizame 10 fundas de cemento")
        .await;
    assert!(
        vague.contains("Cemento blanco") && vague.contains("Cemento gris"),
        "{vague}"
    );
    assert!(vague.contains("pídemelo con ese nombre"), "{vague}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_request_collects_the_lead_and_reaches_a_person() {
    let stack = Stack::start().await;
    let visitor = Visitor::open(&stack).await;
    let name = visitor
        .ask("quiero que me contacten para una compra de 40 planchas de zinc")
        .await;
    assert!(name.contains("nombre"), "{name}");
    let email = visitor.ask("me llamo Rosa Jiménez").await;
    assert!(
        email.contains("Rosa Jiménez") && email.contains("correo"),
        "{email}"
    );
    let again = visitor.ask("rosa en gmail").await;
    assert!(again.contains("de nuevo"), "{again}");
    let done = visitor.ask("rosa.jimenez@example.com").await;
    assert!(done.contains("rosa.jimenez@example.com"), "{done}");
    stack.settle().await;
    let c = conversation(&stack, &visitor.conversation).await;
    assert_eq!(c["state"], "waiting_for_human", "{c}");
    assert_eq!(c["lead"]["name"], "Rosa Jiménez");
    assert_eq!(c["lead"]["email"], "rosa.jimenez@example.com");
    assert!(
        c["lead"]["problem_statement"]
            .as_str()
            .unwrap()
            .contains("planchas de zinc")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upset_a_worsening_or_an_urgent_customer_reaches_a_person_without_a_model() {
    let stack = Stack::start().await;
    let upset = Visitor::open(&stack).await;
    let notice = upset.ask("Esto es una estafa, PÉSIMO servicio!!!").await;
    assert!(notice.starts_with("Te comunico"), "{notice}");
    let c = conversation(&stack, &upset.conversation).await;
    assert_eq!(c["handoff_reason"], "negative_sentiment");

    // No message is furious, but each is worse than the one before.
    let worsening = Visitor::open(&stack).await;
    worsening.ask("Hola, buenas, gracias por atender").await;
    worsening.ask("¿todavía nada de mi pedido?").await;
    let notice = worsening.ask("hay un problema con la factura").await;
    assert!(notice.starts_with("Te comunico"), "{notice}");

    let urgent = Visitor::open(&stack).await;
    let notice = urgent.ask("hay una fuga de gas en el local").await;
    assert!(notice.starts_with("Te comunico"), "{notice}");
    let c = conversation(&stack, &urgent.conversation).await;
    assert_eq!(c["handoff_reason"], "high_priority");

    // A calm question is answered.
    let calm = Visitor::open(&stack).await;
    let answer = calm.ask("¿Aceptan cheques?").await;
    assert!(answer.to_lowercase().contains("cheque"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_is_answered_in_its_own_language_and_never_two_at_once() {
    let stack = Stack::start().await;
    let visitor = Visitor::open(&stack).await;
    let english = visitor.ask("Do you have cement?").await;
    assert!(english.contains("per bag"), "{english}");
    assert!(
        !english.contains(" por ") && !english.contains("disponibles"),
        "{english}"
    );
    let spanish = visitor.ask("¿y cuánto cuesta el cemento blanco?").await;
    assert!(spanish.contains("por funda"), "{spanish}");
    assert!(
        !spanish.contains(" per ") && !spanish.contains("in stock"),
        "{spanish}"
    );
    // A language the bot does not speak gets the tenant's language, naming the ones it does.
    let german = visitor
        .ask("Guten Tag, wie viel kostet der Zement bei Ihnen?")
        .await;
    assert!(german.contains("español o en inglés"), "{german}");
}
