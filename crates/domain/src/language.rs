//! Which language a customer writes in.
//!
//! `whatlang` (a trigram model, restricted to the languages the bot speaks) decides for sentences;
//! very short messages ("hola", "ok") are decided by a handful of marker words and otherwise left
//! undecided, in which case the conversation keeps its language or the tenant's.

use whatlang::{Detector, Lang};

use crate::{Locale, text::words};

const SPANISH_MARKERS: &[&str] = &[
    "hola", "gracias", "que", "donde", "cuanto", "cuando", "como", "tienen", "tiene", "quiero",
    "necesito", "por", "favor", "el", "la", "los", "las", "de", "del", "en", "para", "es", "hay",
    "precio", "buenos", "buenas", "dias", "tardes", "si", "una", "un", "mi", "con", "y", "horario",
];
const ENGLISH_MARKERS: &[&str] = &[
    "hi", "hello", "thanks", "thank", "you", "what", "where", "how", "much", "when", "do", "does",
    "have", "want", "need", "please", "the", "is", "are", "of", "for", "in", "to", "price", "my",
    "can", "with", "and", "open", "hours", "good", "morning", "i",
];

/// Detects Spanish or English; `None` when the text does not say clearly.
pub fn detect(text: &str) -> Option<Locale> {
    let words = words(text);
    if words.is_empty() {
        return None;
    }
    let es = words
        .iter()
        .filter(|w| SPANISH_MARKERS.contains(&w.as_str()))
        .count();
    let en = words
        .iter()
        .filter(|w| ENGLISH_MARKERS.contains(&w.as_str()))
        .count();
    if words.len() >= 4 {
        let detector = Detector::with_allowlist(vec![Lang::Spa, Lang::Eng]);
        if let Some(info) = detector.detect(text)
            && info.confidence() >= 0.5
        {
            // The allowlist means only these two can come back.
            return Some(if info.lang() == Lang::Spa {
                Locale::Es
            } else {
                Locale::En
            });
        }
    }
    match es.cmp(&en) {
        std::cmp::Ordering::Greater => Some(Locale::Es),
        std::cmp::Ordering::Less => Some(Locale::En),
        std::cmp::Ordering::Equal => None,
    }
}

/// The language most of `passages` are written in, when one clearly dominates (two to one).
/// Catalog rows count by their product names; at most 300 passages are read. It decides a
/// tenant's keyword analyzer and whether a question crosses languages to reach the knowledge.
pub fn of_knowledge(passages: &[crate::knowledge::Passage]) -> Option<Locale> {
    let (mut es, mut en) = (0u32, 0u32);
    for passage in passages.iter().take(300) {
        let text = match &passage.product {
            Some(product) => product.name.as_str(),
            None => passage.text.as_str(),
        };
        match detect(text) {
            Some(Locale::Es) => es += 1,
            Some(Locale::En) => en += 1,
            None => {}
        }
    }
    if es > 0 && es >= 2 * en {
        Some(Locale::Es)
    } else if en > 0 && en >= 2 * es {
        Some(Locale::En)
    } else {
        None
    }
}

/// Distinctive words of the languages customers most often write in besides Spanish and
/// English (words Spanish also uses, like "de" or "para", are left out).
const FOREIGN_MARKERS: &[(&str, &[&str])] = &[
    (
        "Portuguese",
        &[
            "voce", "voces", "nao", "obrigado", "obrigada", "quanto", "custa", "tem", "uma", "um",
            "loja", "aqui", "onde", "vcs", "preciso", "gostaria", "esta", "sao", "entrega", "ola",
            "bom", "dia", "tudo", "bem", "qual", "fica", "meu", "minha", "com", "em", "na", "no",
            "do", "da", "o", "os",
        ],
    ),
    (
        "French",
        &[
            "le",
            "les",
            "est",
            "et",
            "je",
            "vous",
            "combien",
            "coute",
            "bonjour",
            "merci",
            "avez",
            "une",
            "des",
            "du",
            "avec",
            "ou",
            "quel",
            "quelle",
            "ce",
            "cette",
            "pouvez",
            "magasin",
            "livraison",
            "ciment",
            "gris",
            "prix",
            "il",
            "nous",
            "pas",
            "oui",
        ],
    ),
    (
        "German",
        &[
            "der", "die", "das", "ist", "und", "nicht", "ich", "sie", "wie", "viel", "was",
            "haben", "wir", "bitte", "danke", "ein", "eine", "kostet", "mit", "fur", "heute",
            "guten", "tag", "zement", "wann", "geoffnet", "ihr", "ihnen", "bei", "gibt", "es",
        ],
    ),
    (
        "Italian",
        &[
            "il",
            "lo",
            "gli",
            "sono",
            "quanto",
            "costa",
            "grazie",
            "buongiorno",
            "avete",
            "dove",
            "che",
            "cemento",
            "grigio",
            "negozio",
            "posso",
            "vorrei",
            "questo",
            "quando",
            "aperto",
            "ciao",
            "di",
            "per",
        ],
    ),
    (
        "Dutch",
        &[
            "het",
            "een",
            "is",
            "hoeveel",
            "kost",
            "jullie",
            "wij",
            "ik",
            "niet",
            "dank",
            "goedemorgen",
            "hebben",
            "waar",
            "wanneer",
            "open",
            "van",
            "voor",
        ],
    ),
];

/// The language of a message in a language the bot does not speak ("Wie viel kostet der
/// Zement?" → `German`), when that is clear. A script other than Latin says so at once
/// (Cyrillic, Arabic, Chinese…); in Latin script, at least two distinctive words of one language
/// and more of them than of Spanish or English. WhatsApp Spanish (no accents, "q", "pa") must
/// never land here, so a doubt leaves the message to the bot's own languages.
pub fn detect_foreign(text: &str) -> Option<&'static str> {
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if letters >= 4
        && let Some(script) = whatlang::detect_script(text)
        && script != whatlang::Script::Latin
    {
        return Some(
            whatlang::detect(text).map_or("another language", |info| info.lang().eng_name()),
        );
    }
    let words = words(text);
    if words.len() < 3 {
        return None;
    }
    let count = |markers: &[&str]| {
        words
            .iter()
            .filter(|w| markers.contains(&w.as_str()))
            .count()
    };
    let ours = count(SPANISH_MARKERS).max(count(ENGLISH_MARKERS));
    FOREIGN_MARKERS
        .iter()
        .map(|(name, markers)| (*name, count(markers)))
        .filter(|(_, n)| *n >= 2 && *n > ours)
        .max_by_key(|(_, n)| *n)
        .map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spanish_and_english_sentences_are_told_apart() {
        for es in [
            "¿Tienen cemento gris en existencia?",
            "Hola",
            "¿A qué hora abren los domingos?",
            "necesito una cotización para mi obra",
        ] {
            assert_eq!(detect(es), Some(Locale::Es), "{es}");
        }
        for en in [
            "Do you have grey cement in stock?",
            "Hello",
            "What time do you open on Sundays?",
            "thanks",
        ] {
            assert_eq!(detect(en), Some(Locale::En), "{en}");
        }
    }

    #[test]
    fn other_languages_are_named_and_whatsapp_spanish_is_not_one() {
        assert_eq!(
            detect_foreign("Wie viel kostet der Zement bei Ihnen heute?"),
            Some("German")
        );
        assert_eq!(
            detect_foreign("Quanto custa o cimento cinza aqui na loja?"),
            Some("Portuguese")
        );
        assert_eq!(
            detect_foreign("Bonjour, combien coûte le ciment gris?"),
            Some("French")
        );
        assert_eq!(detect_foreign("Сколько стоит цемент?"), Some("Russian"));
        for ours in [
            "How much is the gray cement?",
            "a q hora abren los domingo",
            "tienen varilla de 3/8 pa entrega",
            "hola",
            "ok",
        ] {
            assert_eq!(detect_foreign(ours), None, "{ours}");
        }
        let gold = include_str!("../../../tests/data/gold-demo-es.jsonl");
        for line in gold.lines() {
            let question = line.split("\"question\": \"").nth(1).unwrap_or_default();
            let question = question.split('"').next().unwrap_or_default();
            assert_eq!(detect_foreign(question), None, "{question}");
        }
    }

    #[test]
    fn codes_and_numbers_say_nothing() {
        assert_eq!(detect("CEM-001"), None);
        assert_eq!(detect("104233"), None);
        assert_eq!(detect("ok"), None);
    }
}
