//! An offline sentiment score for customer messages in Spanish and English, −1 to 1.
//!
//! It is the handoff evaluator's view of the customer's mood when no language model is
//! configured (and a second opinion when one is). General-purpose lexicons score support
//! Spanish badly — "llevo dos semanas esperando" reads as hopeful, because *esperar* is also "to
//! hope" — so this is a small lexicon written for customer service: complaints, delays, threats
//! to leave or sue, insults and their praise counterparts, with phrase entries for the idioms a
//! word list misses, negation ("no funciona", "not happy") that flips the next sentiment word,
//! intensifiers ("muy", "super", "really"), and emphasis from exclamation marks and capitals.
//! Its accuracy is measured on a labelled set in the tests, not assumed.

/// Words and their weight (−4..4), accent-folded and lower-case, Spanish and English together.
const WORDS: &[(&str, f32)] = &[
    // Spanish, negative.
    ("malo", -2.0),
    ("mala", -2.0),
    ("pesimo", -3.5),
    ("pesima", -3.5),
    ("horrible", -3.5),
    ("terrible", -3.5),
    ("fatal", -3.0),
    ("molesto", -2.5),
    ("molesta", -2.5),
    ("enojado", -3.0),
    ("enojada", -3.0),
    ("furioso", -3.5),
    ("harto", -3.0),
    ("harta", -3.0),
    ("cansado", -2.0),
    ("decepcionado", -3.0),
    ("decepcionada", -3.0),
    ("decepcion", -3.0),
    ("estafa", -4.0),
    ("estafadores", -4.0),
    ("ladrones", -4.0),
    ("robo", -3.0),
    ("mentira", -3.0),
    ("mentirosos", -3.5),
    ("verguenza", -3.0),
    ("inaceptable", -3.5),
    ("inutil", -3.0),
    ("inutiles", -3.0),
    ("incompetentes", -3.5),
    ("basura", -3.5),
    ("porqueria", -3.5),
    ("queja", -2.0),
    ("reclamo", -2.0),
    ("denuncia", -3.0),
    ("demanda", -2.5),
    ("abogado", -2.5),
    ("nunca", -1.0),
    ("jamas", -1.5),
    ("roto", -2.0),
    ("rota", -2.0),
    ("danado", -2.0),
    ("danada", -2.0),
    ("defectuoso", -2.0),
    ("tarde", -1.0),
    ("retraso", -2.0),
    ("demora", -2.0),
    ("problema", -1.5),
    ("problemas", -1.5),
    ("falla", -2.0),
    ("error", -1.5),
    ("peor", -3.0),
    ("desastre", -3.5),
    ("lamentable", -3.0),
    ("absurdo", -2.5),
    ("ridiculo", -2.5),
    ("irresponsables", -3.5),
    ("cancelar", -1.5),
    ("devuelvan", -2.0),
    ("reembolso", -1.0),
    ("nadie", -1.0),
    ("ignoran", -2.5),
    ("grosero", -3.0),
    ("grosera", -3.0),
    ("maltrato", -3.5),
    ("triste", -2.0),
    ("preocupado", -1.5),
    ("preocupada", -1.5),
    ("urgente", -1.0),
    ("cobraron", -1.0),
    ("mierda", -4.0),
    ("carajo", -3.0),
    ("diablo", -1.5),
    ("coño", -3.0),
    ("estafado", -3.5),
    ("estafada", -3.5),
    ("estafaron", -3.5),
    ("abuso", -3.0),
    ("indignado", -3.5),
    ("indignada", -3.5),
    ("mintieron", -3.0),
    ("enganaron", -3.0),
    ("robaron", -3.5),
    ("demando", -3.0),
    ("demandar", -3.0),
    ("desesperado", -3.0),
    ("desesperada", -3.0),
    ("devuelvanme", -2.5),
    ("fraude", -4.0),
    ("colmo", -3.0),
    ("arrepiento", -3.0),
    ("malisimo", -3.5),
    ("malisima", -3.5),
    // Spanish, positive.
    ("bueno", 1.5),
    ("buena", 1.5),
    ("bien", 1.0),
    ("excelente", 3.0),
    ("genial", 3.0),
    ("perfecto", 2.5),
    ("perfecta", 2.5),
    ("gracias", 1.5),
    ("agradecido", 2.5),
    ("agradecida", 2.5),
    ("encanta", 3.0),
    ("encanto", 3.0),
    ("feliz", 3.0),
    ("contento", 2.5),
    ("contenta", 2.5),
    ("satisfecho", 2.5),
    ("satisfecha", 2.5),
    ("rapido", 1.5),
    ("rapida", 1.5),
    ("amables", 2.5),
    ("amable", 2.5),
    ("maravilloso", 3.5),
    ("increible", 2.5),
    ("mejor", 2.0),
    ("recomiendo", 2.5),
    ("chevere", 2.5),
    ("brutal", 2.0),
    ("fino", 1.5),
    // English, negative.
    ("bad", -2.0),
    ("awful", -3.5),
    ("worst", -3.5),
    ("angry", -3.0),
    ("upset", -2.5),
    ("annoyed", -2.5),
    ("frustrated", -3.0),
    ("disappointed", -3.0),
    ("scam", -4.0),
    ("useless", -3.0),
    ("unacceptable", -3.5),
    ("ridiculous", -2.5),
    ("never", -1.0),
    ("broken", -2.0),
    ("late", -1.0),
    ("delay", -2.0),
    ("delayed", -2.0),
    ("problem", -1.5),
    ("lawyer", -2.5),
    ("sue", -3.0),
    ("complaint", -2.0),
    ("refund", -1.0),
    ("rude", -3.0),
    ("liars", -3.5),
    ("hate", -3.5),
    ("sucks", -3.0),
    ("joke", -1.5),
    ("disgusting", -3.5),
    ("thieves", -3.5),
    ("disgraceful", -3.5),
    ("garbage", -3.0),
    ("trash", -3.0),
    ("irresponsible", -3.0),
    ("lies", -3.0),
    ("lied", -3.0),
    ("disaster", -3.0),
    ("cheated", -3.5),
    ("scammed", -3.5),
    ("incompetent", -3.5),
    ("furious", -3.5),
    ("desperate", -3.0),
    ("suing", -3.0),
    ("unbelievable", -2.5),
    ("outrageous", -3.5),
    ("fraud", -4.0),
    ("regret", -3.0),
    // English, positive.
    ("good", 1.5),
    ("great", 3.0),
    ("excellent", 3.0),
    ("perfect", 2.5),
    ("thanks", 1.5),
    ("thank", 1.5),
    ("love", 3.0),
    ("happy", 3.0),
    ("awesome", 3.0),
    ("amazing", 3.0),
    ("helpful", 2.5),
    ("fast", 1.5),
    ("nice", 2.0),
    ("satisfied", 2.5),
    ("recommend", 2.5),
];

/// Idioms a word list misses, matched on folded words in order.
const PHRASES: &[(&[&str], f32)] = &[
    (&["llevo", "esperando"], -3.0),
    (&["sigo", "esperando"], -3.0),
    (&["todavia", "no", "llega"], -3.0),
    (&["aun", "no", "llega"], -3.0),
    (&["no", "llego"], -2.0),
    (&["nadie", "me", "responde"], -3.0),
    (&["nadie", "responde"], -3.0),
    (&["no", "me", "responden"], -3.0),
    (&["no", "sirve"], -2.5),
    (&["no", "funciona"], -2.5),
    (&["otra", "vez"], -1.0),
    (&["ya", "les", "dije"], -2.5),
    (&["ya", "te", "dije"], -2.5),
    (&["tomadura", "de", "pelo"], -3.5),
    (&["me", "voy", "a", "otra"], -3.0),
    (&["nunca", "mas"], -3.0),
    (&["mal", "servicio"], -3.5),
    (&["pesimo", "servicio"], -4.0),
    (&["falta", "de", "respeto"], -3.5),
    (&["no", "aguanto"], -3.0),
    (&["nadie", "me", "contesta"], -3.0),
    (&["nadie", "contesta"], -3.0),
    (&["tomando", "el", "pelo"], -3.0),
    (&["tiran", "el", "telefono"], -3.0),
    (&["que", "clase", "de"], -2.0),
    (&["ya", "basta"], -2.5),
    (&["gracias", "por", "nada"], -3.5),
    (&["dejaron", "plantado"], -3.0),
    (&["dejaron", "plantada"], -3.0),
    (&["no", "me", "han", "devuelto"], -3.0),
    (&["ahora", "mismo"], -1.0),
    (&["fed", "up"], -3.0),
    (&["sick", "of"], -3.0),
    (&["can", "t", "take"], -3.0),
    (&["ripped", "me", "off"], -3.5),
    (&["wasting", "my", "time"], -3.0),
    (&["thanks", "for", "nothing"], -3.5),
    (&["money", "back"], -2.0),
    (&["right", "now"], -1.0),
    (&["filing", "a", "complaint"], -3.0),
    (&["muy", "mal"], -3.0),
    (&["still", "waiting"], -3.0),
    (&["been", "waiting"], -2.5),
    (&["no", "one"], -1.5),
    (&["waste", "of", "time"], -3.5),
    (&["does", "not", "work"], -2.5),
    (&["doesn", "t", "work"], -2.5),
    (&["not", "working"], -2.5),
    (&["muchas", "gracias"], 1.0),
    (&["muy", "amable"], 1.0),
];

const NEGATIONS: &[&str] = &[
    "no", "ni", "nunca", "tampoco", "sin", "not", "never", "dont", "don", "isn", "wasn", "nor",
];
const INTENSIFIERS: &[&str] = &[
    "muy",
    "super",
    "demasiado",
    "tan",
    "totalmente",
    "bien",
    "really",
    "very",
    "so",
    "extremely",
    "totally",
];

/// The sentiment of `text`, −1 (furious) to 1 (delighted); 0 when nothing in it carries any.
pub fn score(text: &str) -> f32 {
    // Words, each with its clause: a negation reaches forward only within its own clause
    // ("me dejaron sin agua, terrible" is not "not terrible").
    let mut words = Vec::new();
    let mut clauses = Vec::new();
    for (n, clause) in text.split([',', '.', ';', ':', '!', '?', '\n']).enumerate() {
        for word in crate::text::words(clause) {
            words.push(word);
            clauses.push(n);
        }
    }
    let mut total = 0.0f32;
    let mut covered = vec![false; words.len()];
    for (phrase, weight) in PHRASES {
        if phrase.len() > words.len() {
            continue;
        }
        for start in 0..=words.len() - phrase.len() {
            let window = &words[start..start + phrase.len()];
            if window.iter().zip(phrase.iter()).all(|(a, b)| a == b) {
                total += weight;
                covered[start..start + phrase.len()]
                    .iter_mut()
                    .for_each(|c| *c = true);
            }
        }
    }
    for (i, word) in words.iter().enumerate() {
        if covered[i] {
            continue;
        }
        let Some(&(_, weight)) = WORDS.iter().find(|(w, _)| w == word) else {
            continue;
        };
        let from = i.saturating_sub(3);
        let negated =
            (from..i).any(|j| clauses[j] == clauses[i] && NEGATIONS.contains(&words[j].as_str()));
        let boosted = i > 0 && INTENSIFIERS.contains(&words[i - 1].as_str());
        let mut value = if boosted { weight * 1.3 } else { weight };
        if negated {
            // "no es bueno" is bad; "no es malo" is only mildly good (about neutral).
            value = if value > 0.0 { -value } else { -value * 0.4 };
        }
        total += value;
    }
    // Shouting with repeated question or exclamation marks and no kind word reads as anger
    // ("WHERE IS MY ORDER???").
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let shouting = letters.len() >= 8
        && letters.iter().filter(|c| c.is_uppercase()).count() * 10 >= letters.len() * 7;
    if shouting && total <= 0.0 && (text.contains("??") || text.contains("!!")) {
        total -= 2.0;
    }
    if total == 0.0 {
        return 0.0;
    }
    // Emphasis: exclamation marks and shouting make a feeling stronger, not different.
    let exclamations = text.matches('!').count().min(3) as f32;
    let emphasis = 1.0 + 0.1 * exclamations + if shouting { 0.3 } else { 0.0 };
    let raw = total * emphasis;
    // VADER's normalization: x / sqrt(x² + α), α = 15.
    raw / (raw * raw + 15.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A labelled set of support messages: -1 negative, 0 neutral, 1 positive.
    const LABELLED: &[(&str, i8)] = &[
        (
            "Llevo dos semanas esperando mi pedido y nadie me responde",
            -1,
        ),
        ("Esto es una estafa, quiero mi dinero", -1),
        ("Pésimo servicio, nunca más les compro", -1),
        ("El taladro que compré no funciona", -1),
        ("Ya les dije tres veces lo mismo!!!", -1),
        ("Estoy harto de esperar", -1),
        ("Son unos incompetentes", -1),
        ("QUE FALTA DE RESPETO, NADIE CONTESTA", -1),
        ("Me cobraron dos veces y nadie resuelve", -1),
        ("voy a poner una denuncia", -1),
        (
            "Todavía no llega el camión con el cemento, que desastre",
            -1,
        ),
        ("This is the worst service ever", -1),
        ("I'm still waiting for my refund", -1),
        ("Your app does not work and I'm frustrated", -1),
        ("¿Cuánto cuesta el cemento gris?", 0),
        ("¿A qué hora abren el domingo?", 0),
        ("Necesito 20 fundas de cemento", 0),
        ("Mi número de cuenta es 104233", 0),
        ("¿Hacen entregas en Guaymate?", 0),
        ("Hola", 0),
        ("What are your opening hours?", 0),
        ("Do you deliver to Cumayasa?", 0),
        ("¿Tienen block de 6?", 0),
        ("Quiero una cotización para una obra", 0),
        ("Muchas gracias, excelente servicio", 1),
        ("Perfecto, muy amables", 1),
        ("Me encanta, llegó rápido", 1),
        ("Genial, gracias!", 1),
        ("Great, thank you so much", 1),
        ("Los recomiendo, buen servicio", 1),
        ("No es malo el precio", 0),
        ("No está bueno ese precio", -1),
    ];

    fn label(score: f32) -> i8 {
        if score <= -0.3 {
            -1
        } else if score >= 0.3 {
            1
        } else {
            0
        }
    }

    #[test]
    fn the_labelled_support_messages_are_scored_right() {
        let wrong: Vec<(&str, i8, f32)> = LABELLED
            .iter()
            .map(|(text, expected)| (*text, *expected, score(text)))
            .filter(|(_, expected, s)| label(*s) != *expected)
            .collect();
        assert!(wrong.is_empty(), "misread: {wrong:?}");
    }

    #[test]
    fn the_frustrated_cross_the_handoff_threshold_and_the_neutral_do_not() {
        assert!(score("Llevo dos semanas esperando y nadie me responde, pésimo servicio") < -0.5);
        assert!(score("ESTO ES UNA ESTAFA!!!") < -0.5);
        assert!(score("¿Cuánto cuesta el cemento?").abs() < f32::EPSILON);
        assert!(score("") == 0.0);
        let s = score("excelente excelente excelente excelente excelente excelente");
        assert!(s > 0.9 && s <= 1.0);
    }
}
