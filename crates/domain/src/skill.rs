//! What a customer asks the business to *do*, read without a language model: an account's
//! status, a quote, or to be contacted — and the short guided exchanges that collect what is
//! missing (the account number, the items, a name and an e-mail).
//!
//! Recognition is deliberately narrow: a request needs its cue words ("estado de cuenta",
//! "cotización", "que me contacten"), so an ordinary question still goes to the knowledge. The
//! tools that fulfil a request (and their authorization) are the same ones the model calls; this
//! module only reads the words. WhatsApp customers write without accents and with typos, so
//! everything is compared folded ([`crate::text::words`]).

use serde::{Deserialize, Serialize};

use crate::{lead::find_email, text::words, turn::LeadFields};

/// Something the customer asked the business to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// The status of a credit account; the number when the message has one.
    AccountStatus {
        /// The account number's digits.
        number: Option<String>,
    },
    /// A quote: items and quantities read from the message (empty when it named none).
    Quote {
        /// What and how many.
        lines: Vec<QuoteLine>,
    },
    /// To be contacted by the team (a lead).
    Contact,
}

/// One item of a quote request.
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteLine {
    /// The product as the customer named it.
    pub product: String,
    /// How many.
    pub quantity: f64,
}

/// A guided exchange waiting for the customer's next message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingSkill {
    /// The bot asked for the account number.
    AccountNumber,
    /// The bot asked which items and quantities to quote.
    QuoteItems,
    /// Lead capture: the bot asked for the customer's name.
    LeadName,
    /// Lead capture: the bot asked for an e-mail address.
    LeadEmail,
    /// Lead capture: the bot asked what the customer needs.
    LeadNeed,
}

const ACCOUNT_PHRASES: &[&[&str]] = &[
    &["estado", "de", "cuenta"],
    &["estado", "de", "mi", "cuenta"],
    &["balance", "de", "mi", "cuenta"],
    &["balance", "de", "la", "cuenta"],
    &["cuanto", "debo"],
    &["mi", "cuenta"],
    &["la", "cuenta"],
    &["cuenta", "de", "credito"],
    &["mi", "credito"],
    &["mi", "saldo"],
    &["account", "status"],
    &["my", "account"],
    &["account", "balance"],
    &["account", "number"],
    &["do", "i", "owe"],
    &["my", "balance"],
    &["my", "credit"],
];
const ACCOUNT_WORDS: &[&str] = &["saldo", "balance", "statement"];
/// Words that make an account question about something else: a bank account, or how to open
/// an account or get credit (the knowledge answers those).
const NOT_ACCOUNT_WORDS: &[&str] = &[
    "bancario",
    "bancaria",
    "banco",
    "bank",
    "abrir",
    "abro",
    "abre",
    "sacar",
    "tramitar",
    "open",
    "solicitar",
    "requisitos",
    "requirements",
    "apply",
    "transferencia",
    "transfer",
];

const QUOTE_WORDS: &[&str] = &[
    "cotizacion",
    "cotizaciones",
    "cotizar",
    "cotizame",
    "cotizeme",
    "cotize",
    "cotiza",
    "cotizen",
    "cotisacion",
    "presupuesto",
    "quote",
    "quotation",
    "estimate",
];

const CONTACT_PHRASES: &[&[&str]] = &[
    &["que", "me", "contacten"],
    &["me", "contacten"],
    &["me", "pueden", "contactar"],
    &["me", "pueden", "llamar"],
    &["que", "me", "llamen"],
    &["me", "llamen"],
    &["me", "escriban"],
    &["quiero", "ser", "distribuidor"],
    &["quiero", "ser", "cliente"],
    &["quiero", "ser", "proveedor"],
    &["quiero", "distribuir"],
    &["contact", "me"],
    &["call", "me"],
    &["get", "in", "touch"],
    &["reach", "me"],
    &["become", "a", "distributor"],
    &["become", "a", "reseller"],
];
const CONTACT_WORDS: &[&str] = &["contactenme", "llamenme", "escribanme"];

/// Words that make a message about quotes a question, not a request ("¿cuánto dura una
/// cotización?", "how long is a quote valid?").
const QUOTE_QUESTION_WORDS: &[&str] = &[
    "dura", "duran", "validez", "valida", "vence", "vencen", "tarda", "tardan", "demora",
    "demoran", "valid", "expire", "expires", "long",
];

/// Units that make a number part of a product's size ("block de 6 pulgadas"), not a quantity.
const SIZE_UNITS: &[&str] = &[
    "pulgada", "pulgadas", "pulg", "pulgs", "inch", "inches", "in", "kg", "kilo", "kilos", "lb",
    "lbs", "libras", "mm", "cm", "watts", "w", "v", "voltios", "amp", "amperes",
];
/// Words that say "how many" but name no product ("unidades de", "units of").
const QUANTITY_FILLER: &[&str] = &[
    "unidades", "unidad", "units", "unit", "piezas", "pcs", "de", "of",
];

const NUMBER_WORDS: &[(&str, f64)] = &[
    ("un", 1.0),
    ("una", 1.0),
    ("uno", 1.0),
    ("dos", 2.0),
    ("tres", 3.0),
    ("cuatro", 4.0),
    ("cinco", 5.0),
    ("seis", 6.0),
    ("siete", 7.0),
    ("ocho", 8.0),
    ("nueve", 9.0),
    ("diez", 10.0),
    ("doce", 12.0),
    ("quince", 15.0),
    ("veinte", 20.0),
    ("treinta", 30.0),
    ("cuarenta", 40.0),
    ("cincuenta", 50.0),
    ("cien", 100.0),
    ("one", 1.0),
    ("two", 2.0),
    ("three", 3.0),
    ("four", 4.0),
    ("five", 5.0),
    ("six", 6.0),
    ("ten", 10.0),
    ("twelve", 12.0),
    ("twenty", 20.0),
    ("fifty", 50.0),
    ("hundred", 100.0),
];

fn has_phrase(words: &[String], phrases: &[&[&str]]) -> bool {
    phrases.iter().any(|phrase| {
        words
            .windows(phrase.len())
            .any(|window| window.iter().zip(phrase.iter()).all(|(a, b)| a == b))
    })
}

/// The first account number in `text`: a run of 4–12 digits, dashes and spaces between digit
/// groups allowed ("104-233", "#104233").
pub fn find_account_number(text: &str) -> Option<String> {
    let mut run = String::new();
    let mut best = None;
    let flush = |run: &mut String, best: &mut Option<String>| {
        let digits: String = run.chars().filter(char::is_ascii_digit).collect();
        if best.is_none() && (4..=12).contains(&digits.len()) {
            *best = Some(digits);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || (matches!(c, '-' | ' ') && !run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut best);
        }
    }
    flush(&mut run, &mut best);
    best
}

/// What `text` asks the business to do, if it asks anything recognizable.
pub fn recognize(text: &str) -> Option<Request> {
    let words = words(text);
    if words.iter().any(|w| QUOTE_WORDS.contains(&w.as_str()))
        && !words
            .iter()
            .any(|w| QUOTE_QUESTION_WORDS.contains(&w.as_str()))
    {
        return Some(Request::Quote {
            lines: quote_lines(text),
        });
    }
    let about_account = has_phrase(&words, ACCOUNT_PHRASES)
        || words.iter().any(|w| ACCOUNT_WORDS.contains(&w.as_str()));
    if about_account
        && !words
            .iter()
            .any(|w| NOT_ACCOUNT_WORDS.contains(&w.as_str()))
    {
        return Some(Request::AccountStatus {
            number: find_account_number(text),
        });
    }
    if has_phrase(&words, CONTACT_PHRASES)
        || words.iter().any(|w| CONTACT_WORDS.contains(&w.as_str()))
    {
        return Some(Request::Contact);
    }
    None
}

fn quantity(word: &str) -> Option<f64> {
    if word.chars().all(|c| c.is_ascii_digit()) && !word.is_empty() && word.len() <= 7 {
        return word.parse().ok();
    }
    NUMBER_WORDS
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, n)| *n)
}

/// The items and quantities of a quote request: "cotízame 100 fundas de cemento gris y 50
/// varillas de 3/8" → (100, "fundas de cemento gris"), (50, "varillas de 3/8").
pub fn quote_lines(text: &str) -> Vec<QuoteLine> {
    // Items are separated by commas, semicolons, new lines, "y", "and" or "+"; each names its
    // quantity (the first number not followed by a size unit) and the product after it.
    let normalized = text.replace(['\n', ';', '+'], ",");
    let mut lines = Vec::new();
    for segment in normalized.split(',') {
        for part in split_on_and(segment) {
            let ws: Vec<String> = part
                .split_whitespace()
                .map(|w| {
                    // Keep "3/8" and "1/2" whole: they are sizes, not quantities.
                    if w.contains('/') {
                        w.to_owned()
                    } else {
                        words(w).join(" ")
                    }
                })
                .filter(|w| !w.is_empty())
                .collect();
            let position = ws.iter().enumerate().position(|(i, w)| {
                quantity(w).is_some()
                    && !ws
                        .get(i + 1)
                        .is_some_and(|next| SIZE_UNITS.contains(&next.as_str()))
                    // "un"/"una" before a quote word is an article ("una cotización").
                    && !ws
                        .get(i + 1)
                        .is_some_and(|next| QUOTE_WORDS.contains(&next.as_str()))
            });
            let Some(at) = position else { continue };
            let Some(amount) = quantity(&ws[at]) else {
                continue;
            };
            let product: Vec<&str> = ws[at + 1..]
                .iter()
                .map(String::as_str)
                .skip_while(|w| QUANTITY_FILLER.contains(w))
                .collect();
            if product.is_empty() || amount <= 0.0 {
                continue;
            }
            lines.push(QuoteLine {
                product: product.join(" "),
                quantity: amount,
            });
        }
    }
    lines
}

fn split_on_and(segment: &str) -> Vec<String> {
    let mut parts: Vec<Vec<&str>> = vec![Vec::new()];
    for word in segment.split_whitespace() {
        if matches!(word.to_lowercase().as_str(), "y" | "and" | "e") {
            parts.push(Vec::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(word);
        }
    }
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| p.join(" "))
        .collect()
}

/// Whether a message reads as a new question rather than the answer the bot asked for (a
/// guided exchange gives way to it).
pub fn is_new_question(text: &str) -> bool {
    let ws = words(text);
    text.contains('?')
        || ws.first().is_some_and(|w| {
            matches!(
                w.as_str(),
                "cuanto"
                    | "cuanta"
                    | "donde"
                    | "cuando"
                    | "como"
                    | "que"
                    | "tienen"
                    | "venden"
                    | "hay"
                    | "what"
                    | "where"
                    | "when"
                    | "how"
                    | "do"
                    | "does"
                    | "can"
            )
        })
}

/// A name as a customer gives it ("me llamo Ana Pérez", "soy Ana", "Ana Pérez"): at most four
/// words, no digits, no address.
pub fn find_name(text: &str) -> Option<String> {
    let trimmed = text.trim().trim_end_matches(['.', '!']);
    let lowered = trimmed.to_lowercase();
    let mut rest = trimmed;
    for prefix in [
        "me llamo ",
        "mi nombre es ",
        "soy ",
        "my name is ",
        "i am ",
        "i'm ",
        "this is ",
    ] {
        if lowered.starts_with(prefix) {
            rest = &trimmed[prefix.len()..];
            break;
        }
    }
    let rest = rest.trim();
    let count = rest.split_whitespace().count();
    let plausible = (1..=4).contains(&count)
        && !rest.contains('@')
        && !rest.chars().any(|c| c.is_ascii_digit())
        && rest.chars().any(char::is_alphabetic);
    plausible.then(|| rest.to_owned())
}

/// Reads the customer's answer to the lead step `step` into `lead`; `false` when the answer
/// does not fit (an invalid e-mail), so the bot asks again.
pub fn read_lead_answer(step: PendingSkill, text: &str, lead: &mut LeadFields) -> bool {
    match step {
        PendingSkill::LeadName => find_name(text).map(|n| lead.name = Some(n)).is_some(),
        PendingSkill::LeadEmail => find_email(text).map(|e| lead.email = Some(e)).is_some(),
        PendingSkill::LeadNeed => {
            let need = text.trim();
            let ok = need.chars().filter(|c| c.is_alphabetic()).count() >= 3;
            if ok {
                lead.problem_statement = Some(crate::text::truncate_chars(need, 300));
            }
            ok
        }
        PendingSkill::AccountNumber | PendingSkill::QuoteItems => false,
    }
}

/// The next lead step still missing, or `None` when the lead is complete.
pub fn next_lead_step(lead: &LeadFields) -> Option<PendingSkill> {
    if lead.name.is_none() {
        Some(PendingSkill::LeadName)
    } else if lead.email.is_none() {
        Some(PendingSkill::LeadEmail)
    } else if lead.problem_statement.is_none() {
        Some(PendingSkill::LeadNeed)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_questions_are_recognized_with_or_without_the_number() {
        assert_eq!(
            recognize("Hola, quiero saber el estado de mi cuenta 104233"),
            Some(Request::AccountStatus {
                number: Some("104233".into())
            })
        );
        assert_eq!(
            recognize("cuanto debo? cuenta #104-233"),
            Some(Request::AccountStatus {
                number: Some("104233".into())
            })
        );
        assert_eq!(
            recognize("What's my account balance?"),
            Some(Request::AccountStatus { number: None })
        );
        // A question about payments is not an account request.
        assert_eq!(recognize("¿aceptan tarjeta de crédito?"), None);
        assert_eq!(
            recognize("para el credito piden estado de cuenta bancario?"),
            None
        );
        assert_eq!(recognize("como abro una cuenta de credito"), None);
        assert_eq!(recognize("¿Cuánto cuesta el cemento?"), None);
    }

    #[test]
    fn quote_items_and_quantities_are_read_the_way_customers_write_them() {
        let Some(Request::Quote { lines }) =
            recognize("cotizame 100 fundas de cemento gris y 50 varillas de 3/8")
        else {
            panic!("a quote");
        };
        assert_eq!(
            lines,
            vec![
                QuoteLine {
                    product: "fundas de cemento gris".into(),
                    quantity: 100.0
                },
                QuoteLine {
                    product: "varillas de 3/8".into(),
                    quantity: 50.0
                },
            ]
        );
        // A size is not a quantity; an article before "cotización" is not one either.
        assert_eq!(
            quote_lines("necesito una cotizacion de block de 6 pulgadas, 200 unidades"),
            Vec::<QuoteLine>::new()
        );
        assert_eq!(
            quote_lines("200 block de 6 pulgadas"),
            vec![QuoteLine {
                product: "block de 6 pulgadas".into(),
                quantity: 200.0
            }]
        );
        assert_eq!(recognize("cuanto dura una cotizacion"), None);
        assert_eq!(recognize("how long is a quote valid?"), None);
        assert_eq!(
            recognize("Can you send me a quote?"),
            Some(Request::Quote { lines: vec![] })
        );
        assert_eq!(
            quote_lines("two gallons of white paint"),
            vec![QuoteLine {
                product: "gallons of white paint".into(),
                quantity: 2.0
            }]
        );
    }

    #[test]
    fn contact_requests_start_a_lead() {
        assert_eq!(
            recognize("quiero que me contacten de ventas"),
            Some(Request::Contact)
        );
        assert_eq!(recognize("please call me back"), Some(Request::Contact));
        assert_eq!(recognize("¿dónde quedan?"), None);
    }

    #[test]
    fn lead_answers_fill_the_fields_in_order() {
        let mut lead = LeadFields::default();
        assert_eq!(next_lead_step(&lead), Some(PendingSkill::LeadName));
        assert!(read_lead_answer(
            PendingSkill::LeadName,
            "me llamo Ana Pérez",
            &mut lead
        ));
        assert_eq!(lead.name.as_deref(), Some("Ana Pérez"));
        assert!(!read_lead_answer(
            PendingSkill::LeadEmail,
            "ana arroba gmail",
            &mut lead
        ));
        assert!(read_lead_answer(
            PendingSkill::LeadEmail,
            "es Ana@Example.com",
            &mut lead
        ));
        assert_eq!(next_lead_step(&lead), Some(PendingSkill::LeadNeed));
        assert!(read_lead_answer(
            PendingSkill::LeadNeed,
            "cemento para una obra de 3 niveles",
            &mut lead
        ));
        assert_eq!(next_lead_step(&lead), None);
        assert_eq!(find_name("calle 5 #23"), None);
    }

    #[test]
    fn questions_interrupt_a_guided_exchange() {
        assert!(is_new_question("¿y a qué hora abren?"));
        assert!(is_new_question("cuanto cuesta el cemento"));
        assert!(!is_new_question("104233"));
        assert!(!is_new_question("Ana Pérez"));
    }
}
