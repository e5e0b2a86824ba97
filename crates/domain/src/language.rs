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
    fn codes_and_numbers_say_nothing() {
        assert_eq!(detect("CEM-001"), None);
        assert_eq!(detect("104233"), None);
        assert_eq!(detect("ok"), None);
    }
}
