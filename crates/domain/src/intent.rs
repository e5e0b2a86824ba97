//! The few intents the bot recognizes without a language model: greetings, thanks, a request for
//! a person, and yes or no to an offer.
//!
//! They are deliberately narrow — whole words, short messages — because a false positive (handing
//! off a customer who asked about an "agente limpiador") costs less than a missed one only for the
//! request for a person.

use crate::text::words;

/// Small talk the bot answers without searching the knowledge base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmallTalk {
    /// "Hola", "buenos días", "hi".
    Greeting,
    /// "Gracias", "thanks".
    Thanks,
}

const GREETING_WORDS: &[&str] = &[
    "hola",
    "holaa",
    "buenas",
    "buenos",
    "buen",
    "dia",
    "dias",
    "tardes",
    "noches",
    "saludos",
    "hi",
    "hello",
    "hey",
    "good",
    "morning",
    "afternoon",
    "evening",
    "que",
    "tal",
    "klk",
    "alo",
];
const THANKS_WORDS: &[&str] = &[
    "gracias",
    "muchas",
    "mil",
    "thanks",
    "thank",
    "you",
    "thx",
    "ok",
    "okay",
    "perfecto",
    "genial",
    "excelente",
    "listo",
    "great",
    "bien",
    "muy",
    "very",
    "much",
];
const FILLER_WORDS: &[&str] = &[
    "y", "and", "a", "todos", "all", "senor", "senora", "sir", "madam", "there", "everyone",
];

/// Recognizes a message that is *only* small talk.
pub fn small_talk(text: &str) -> Option<SmallTalk> {
    let words = words(text);
    if words.is_empty() || words.len() > 6 {
        return None;
    }
    let all_in = |set: &[&str]| {
        words
            .iter()
            .all(|w| set.contains(&w.as_str()) || FILLER_WORDS.contains(&w.as_str()))
    };
    let is_greeting = words.iter().any(|w| {
        matches!(
            w.as_str(),
            "hola"
                | "holaa"
                | "buenas"
                | "buenos"
                | "saludos"
                | "hi"
                | "hello"
                | "hey"
                | "good"
                | "klk"
                | "alo"
        )
    });
    let is_thanks = words
        .iter()
        .any(|w| matches!(w.as_str(), "gracias" | "thanks" | "thank" | "thx"));
    if is_greeting && all_in(GREETING_WORDS) {
        Some(SmallTalk::Greeting)
    } else if is_thanks && all_in(THANKS_WORDS) {
        Some(SmallTalk::Thanks)
    } else {
        None
    }
}

const HUMAN_WORDS: &[&str] = &[
    "advisor",
    "agente",
    "agentes",
    "humano",
    "humana",
    "asesor",
    "asesora",
    "operador",
    "operadora",
    "representante",
    "human",
    "agent",
    "representative",
    "operator",
];
const HUMAN_PHRASES: &[&[&str]] = &[
    // "Hablar con el dueño", not "soy dueño de una tienda".
    &["con", "el", "dueno"],
    &["con", "la", "duena"],
    &["con", "el", "gerente"],
    &["con", "la", "gerente"],
    &["con", "un", "supervisor"],
    &["con", "el", "supervisor"],
    &["con", "el", "encargado"],
    &["con", "la", "encargada"],
    &["the", "owner"],
    &["the", "manager"],
    &["a", "manager"],
    &["a", "supervisor"],
    &["una", "persona"],
    &["con", "alguien"],
    &["persona", "real"],
    &["real", "person"],
    &["a", "person"],
    &["someone", "real"],
    &["talk", "to", "someone"],
    &["speak", "to", "someone"],
];

/// Whether the customer asks for a person.
pub fn wants_human(text: &str) -> bool {
    let words = words(text);
    if words.iter().any(|w| HUMAN_WORDS.contains(&w.as_str())) {
        return true;
    }
    HUMAN_PHRASES.iter().any(|phrase| {
        words
            .windows(phrase.len())
            .any(|window| window.iter().zip(phrase.iter()).all(|(a, b)| a == b))
    })
}

/// Reads a short yes or no ("sí, por favor", "dale", "no gracias", "yes").
pub fn yes_or_no(text: &str) -> Option<bool> {
    let words = words(text);
    if words.is_empty() || words.len() > 5 {
        return None;
    }
    let first = words[0].as_str();
    match first {
        "si" | "sip" | "claro" | "dale" | "ok" | "okay" | "okey" | "vale" | "yes" | "yeah"
        | "yep" | "sure" | "please" | "porfa" | "bueno" => Some(true),
        "por" if words.get(1).is_some_and(|w| w == "favor") => Some(true),
        "no" | "nop" | "nope" | "nah" => Some(false),
        _ => None,
    }
}

const EMERGENCY_WORDS: &[&str] = &[
    "emergencia",
    "emergencias",
    "emergency",
    "accidente",
    "accident",
    "herido",
    "herida",
    "heridos",
    "injured",
    "incendio",
    "quemando",
    "peligro",
    "danger",
    "dangerous",
    "electrocuto",
    "electrocutado",
    "inundando",
    "inundacion",
    "flooding",
    "chispas",
    "sparking",
    "choco",
    "chocaron",
    "crashed",
];
const EMERGENCY_PHRASES: &[&[&str]] = &[
    &["fuga", "de", "gas"],
    &["gas", "leak"],
    &["leaking", "gas"],
    &["se", "esta", "inundando"],
    &["on", "fire"],
    &["hit", "my", "car"],
];

/// Whether the message reports an emergency (an accident, a gas leak, a fire): a person should
/// see it now, whatever its words weigh in sentiment.
pub fn is_emergency(text: &str) -> bool {
    let words = words(text);
    words.iter().any(|w| EMERGENCY_WORDS.contains(&w.as_str()))
        || EMERGENCY_PHRASES.iter().any(|phrase| {
            words
                .windows(phrase.len())
                .any(|window| window.iter().zip(phrase.iter()).all(|(a, b)| a == b))
        })
}

const PRODUCT_CUES: &[&str] = &[
    "cuanto",
    "cuanta",
    "cuesta",
    "cuestan",
    "precio",
    "precios",
    "vale",
    "valen",
    "costo",
    "tienen",
    "tiene",
    "hay",
    "venden",
    "existencia",
    "disponible",
    "disponibles",
    "stock",
    "inventario",
    "quedan",
    "price",
    "cost",
    "costs",
    "sell",
    "available",
    "much",
    "have",
];

/// Two-word price cues: "¿a cómo está…?", "¿qué precio…?", "¿cuánto sale…?".
const PRODUCT_PHRASES: &[&[&str]] = &[&["a", "como"], &["q", "precio"], &["que", "precio"]];

/// Whether a question asks about a product's price or availability ("¿cuánto cuesta…?",
/// "¿tienen…?"), in which case a catalog row answers it better than prose that mentions the
/// product.
pub fn asks_price_or_stock(text: &str) -> bool {
    let words = words(text);
    words.iter().any(|w| PRODUCT_CUES.contains(&w.as_str()))
        || PRODUCT_PHRASES.iter().any(|phrase| {
            words
                .windows(phrase.len())
                .any(|window| window.iter().zip(phrase.iter()).all(|(a, b)| a == b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_and_thanks_are_recognized_only_when_alone() {
        for g in [
            "Hola",
            "hola!!",
            "Buenos días",
            "buenas tardes",
            "Hi there",
            "hey",
            "Hola, ¿qué tal?",
        ] {
            assert_eq!(small_talk(g), Some(SmallTalk::Greeting), "{g}");
        }
        for t in ["Gracias", "muchas gracias!", "Thank you", "ok gracias"] {
            assert_eq!(small_talk(t), Some(SmallTalk::Thanks), "{t}");
        }
        for q in [
            "Hola, ¿tienen cemento?",
            "gracias, y el precio del block?",
            "¿a qué hora abren?",
        ] {
            assert_eq!(small_talk(q), None, "{q}");
        }
    }

    #[test]
    fn requests_for_a_person_are_recognized_in_spanish_and_english() {
        for h in [
            "Quiero hablar con un agente",
            "pásame con un humano",
            "necesito un asesor",
            "puedo hablar con una persona?",
            "I want to talk to a human",
            "agent please",
            "can I speak to someone real",
        ] {
            assert!(wants_human(h), "{h}");
        }
        for n in [
            "¿Cuántas personas caben?",
            "¿tienen cemento gris?",
            "horario del domingo",
        ] {
            assert!(!wants_human(n), "{n}");
        }
    }

    #[test]
    fn price_and_stock_questions_are_recognized() {
        assert!(asks_price_or_stock("¿Cuánto cuesta el cemento gris?"));
        assert!(asks_price_or_stock("¿Tienen block de 6?"));
        assert!(asks_price_or_stock("how much is the drill"));
        assert!(!asks_price_or_stock("¿A qué hora abren?"));
    }

    #[test]
    fn yes_and_no_are_read_from_short_answers() {
        assert_eq!(yes_or_no("Sí, por favor"), Some(true));
        assert_eq!(yes_or_no("dale"), Some(true));
        assert_eq!(yes_or_no("por favor"), Some(true));
        assert_eq!(yes_or_no("No, gracias"), Some(false));
        assert_eq!(yes_or_no("yes"), Some(true));
        assert_eq!(yes_or_no("¿cuánto cuesta el cemento blanco?"), None);
    }
}
