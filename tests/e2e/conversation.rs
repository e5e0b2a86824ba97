//! Whole conversations, through the web chat (the same ingest → processor → dispatcher path as
//! WhatsApp): welcome, answers, "I don't know" and the offer of a person, the handoff, the bot's
//! silence while a person owns the conversation, and its return after the person resolves.

use std::time::Duration;

use atiende_e2e::Stack;
use reqwest::Method;
use serde_json::{Value, json};

struct Visitor<'a> {
    stack: &'a Stack,
    url: String,
    conversation: String,
}

impl<'a> Visitor<'a> {
    async fn open(stack: &'a Stack) -> Self {
        let base = stack.running.local_url();
        let session: Value = stack
            .http
            .post(format!("{base}/webchat/demo/sessions"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = session["session"].as_str().unwrap().to_owned();
        Self {
            stack,
            url: format!("{base}/webchat/demo/sessions/{session}/messages"),
            conversation: format!("demo:webchat:u.{session}"),
        }
    }

    async fn bot_lines(&self) -> Vec<String> {
        let transcript: Value = self
            .stack
            .http
            .get(&self.url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        transcript["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["author"] == "bot")
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Says `text` and returns the bot's reply.
    async fn ask(&self, text: &str) -> String {
        let before = self.bot_lines().await.len();
        self.say(text).await;
        atiende_testkit::eventually(Duration::from_secs(15), || async {
            self.bot_lines().await.get(before).cloned()
        })
        .await
        .unwrap_or_else(|| panic!("no reply to {text:?}"))
    }

    async fn say(&self, text: &str) {
        let response = self
            .stack
            .http
            .post(&self.url)
            .json(&json!({ "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }

    async fn state(&self) -> String {
        let (_, c) = self
            .stack
            .admin(
                Method::GET,
                &format!("/admin/tenants/demo/conversations/{}", self.conversation),
                None,
            )
            .await;
        c["state"].as_str().unwrap_or_default().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_silence_and_return_of_the_bot() {
    let stack = Stack::start().await;
    let visitor = Visitor::open(&stack).await;

    let welcome = visitor.ask("Hola").await;
    assert!(welcome.contains("Ferretería El Progreso"), "{welcome}");

    let unknown = visitor.ask("¿Venden carros usados?").await;
    assert!(
        unknown.contains("persona del equipo") && unknown.ends_with('?'),
        "{unknown}"
    );

    let notice = visitor.ask("Sí, por favor").await;
    assert!(
        notice.starts_with("Te comunico con una persona"),
        "{notice}"
    );
    assert_eq!(visitor.state().await, "waiting_for_human");

    // While a person owns the conversation, the bot says nothing — whatever the customer writes.
    visitor.say("¿Hola? ¿Hay alguien?").await;
    visitor.say("¿Cuánto cuesta el cemento gris?").await;
    stack.settle().await;
    assert_eq!(
        visitor.bot_lines().await.len(),
        3,
        "no bot reply during the handoff"
    );

    let (status, _) = stack
        .admin(
            Method::POST,
            &format!(
                "/admin/tenants/demo/conversations/{}/resolve",
                visitor.conversation
            ),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let answer = visitor.ask("¿Cuánto cuesta el cemento gris?").await;
    assert!(answer.contains("RD$495"), "the bot is back: {answer}");
    assert_eq!(visitor.state().await, "bot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn english_speakers_are_answered_in_english() {
    let stack = Stack::start().await;
    let visitor = Visitor::open(&stack).await;
    let welcome = visitor.ask("Hello").await;
    assert!(
        welcome.starts_with("Hi! I'm the virtual assistant"),
        "{welcome}"
    );
    let answer = visitor.ask("How much is the delivery to Guaymate?").await;
    assert!(answer.contains("RD$1,200"), "{answer}");
    assert!(
        answer.ends_with("Can I help you with anything else?"),
        "{answer}"
    );
    let unknown = visitor.ask("Do you repair cell phones?").await;
    assert!(unknown.starts_with("I couldn't find that"), "{unknown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_unanswerable_questions_in_a_row_reach_a_person_without_asking() {
    let stack = Stack::start().await;
    let visitor = Visitor::open(&stack).await;
    visitor.ask("¿Venden carros usados?").await;
    visitor.ask("¿Arreglan celulares?").await;
    let third = visitor.ask("¿Tienen jacuzzi?").await;
    assert!(third.starts_with("Te comunico con una persona"), "{third}");
    assert_eq!(visitor.state().await, "waiting_for_human");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_a_person_hands_off_at_once() {
    let stack = Stack::start().await;
    let visitor = Visitor::open(&stack).await;
    let notice = visitor.ask("Quiero hablar con un asesor").await;
    assert!(
        notice.starts_with("Te comunico con una persona"),
        "{notice}"
    );
    let (_, waiting) = stack
        .admin(
            Method::GET,
            "/admin/tenants/demo/conversations?state=waiting_for_human",
            None,
        )
        .await;
    assert_eq!(waiting["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(
        waiting["conversations"][0]["handoff_reason"],
        "customer_requested"
    );
}
