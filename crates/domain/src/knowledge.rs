//! A tenant's knowledge, cut into passages the bot can quote.
//!
//! Documents are cut where a reader would: a Markdown bullet or paragraph is one passage, kept with
//! its section heading; a question and its answer on consecutive lines stay together; a long
//! paragraph is split on sentence boundaries; a catalog row is one product. The heading travels
//! with each passage so that "¿abren los domingos?" finds the line under *Horarios*.

use serde::{Deserialize, Serialize};

use crate::{Locale, ValidationError, i18n::SystemText, text::markdown_line_to_whatsapp};

/// The longest passage cut from free text, in characters; longer paragraphs are split.
pub const MAX_PASSAGE_CHARS: usize = 700;

/// Words that shape a customer's question without saying what it is about ("¿cuánto cuesta…?",
/// "¿tienen…?", "do you have…"). A keyword index ignores them, like stop words, so that coverage
/// measures how much of the *subject* a passage speaks to. Accent-free, lower case.
#[rustfmt::skip]
pub const QUESTION_SCAFFOLDING: &[&str] = &[
    // Spanish: question words, price and availability words, courtesy, generic service verbs.
    "cuanto", "cuanta", "cuantos", "cuantas", "donde", "cuando", "como", "que", "cual", "cuales",
    "cuesta", "cuestan", "costo", "precio", "precios", "vale", "valen",
    "tienen", "tiene", "tienes", "hay", "venden", "vende", "disponible", "disponibles", "existencia",
    "quiero", "quisiera", "queria", "necesito", "busco", "buscando", "saber", "informacion", "info",
    "dime", "digame", "puede", "pueden", "podria", "podrian", "puedo", "podemos", "seria",
    "favor", "hola", "buenas", "buenos", "dias", "tardes", "noches", "gracias",
    "consulta", "pregunta", "ustedes", "usted", "alguno", "alguna", "algun",
    "aceptan", "acepta", "hacen", "hace", "ofrecen", "ofrece", "manejan", "maneja", "trabajan",
    "dan", "tendran", "tendra", "politica", "politicas",
    // English
    "how", "much", "many", "where", "when", "what", "which", "is", "are", "there",
    "cost", "costs", "price", "prices", "do", "does", "you", "have", "has", "sell", "available",
    "stock", "any", "want", "need", "looking", "know", "information", "tell", "please", "hello",
    "hi", "thanks", "can", "could", "accept", "make", "give", "policy", "policies",
];

/// Words customers use interchangeably for the same subject. A keyword index treats a question
/// word as matched when a passage has any word of its group: "¿a qué hora abren?" finds the
/// lines under *Horarios*. Generic customer-service vocabulary only — product names belong to
/// the tenant's documents. Accent-free, lower case.
#[rustfmt::skip]
pub const SYNONYMS: &[&[&str]] = &[
    &["hora", "horas", "horario", "horarios", "abren", "abre", "abierto", "abiertos", "cierran",
      "cierra", "cerrado", "cerrados", "open", "opening", "hours", "close", "closed"],
    &["entrega", "entregas", "entregan", "envio", "envios", "envian", "domicilio", "delivery",
      "deliver", "shipping"],
    &["pago", "pagos", "pagar", "tarjeta", "tarjetas", "payment", "pay", "card", "cards"],
    &["devolucion", "devoluciones", "devolver", "reembolso", "return", "returns", "refund"],
    &["garantia", "garantias", "warranty", "guarantee"],
    &["ubicacion", "direccion", "ubicados", "ubicada", "sucursal", "sucursales", "tienda",
      "location", "address", "branch", "store"],
    // Not "call": the Spanish stemmer turns "calle" (street) into "call".
    &["telefono", "llamar", "contacto", "correo", "email", "phone", "contact"],
    // Not "sale": it is also Spanish ("sale a las 5").
    &["oferta", "ofertas", "descuento", "descuentos", "promocion", "promociones", "offer", "offers",
      "discount"],
    // Not "trabajo": "guantes de trabajo" are work gloves, not a job.
    &["vacante", "vacantes", "empleo", "empleos", "job", "jobs", "hiring"],
    &["cotizacion", "cotizaciones", "cotizar", "presupuesto", "quote", "quotation"],
    &["credito", "financiamiento", "credit"],
];

/// What a passage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassageKind {
    /// A line or paragraph of prose.
    Text,
    /// The answer to one question of an FAQ; the question is its heading.
    Faq,
    /// One product of a catalog.
    Product,
}

/// A quotable unit of a tenant's knowledge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// `{document id}#{position}`.
    pub id: String,
    /// The document it was cut from.
    pub document_id: String,
    /// What it is.
    pub kind: PassageKind,
    /// The section heading it sits under, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading: Option<String>,
    /// The text, as WhatsApp shows it.
    pub text: String,
    /// The product, for catalog passages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
}

impl Passage {
    /// The text a keyword index should see: heading and body, so section words match too.
    /// E-mail addresses and links are left out: their pieces are not words a customer asks by
    /// ("ventas@elprogreso.com.do" would match "¿venden comida?" on "vend" and "com").
    pub fn searchable_text(&self) -> String {
        let text = without_addresses(&self.text);
        match &self.heading {
            Some(heading) => format!("{heading}: {text}"),
            None => text,
        }
    }
}

/// `text` without e-mail addresses and links.
fn without_addresses(text: &str) -> String {
    if !text.contains('@') && !text.contains("http") && !text.contains("www.") {
        return text.to_owned();
    }
    text.split(' ')
        .filter(|w| !(w.contains('@') || w.starts_with("http") || w.starts_with("www.")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A product of a tenant's catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// Stock-keeping unit, e.g. `CEM-001` (empty when the catalog has none).
    #[serde(default)]
    pub sku: String,
    /// Name as the customer sees it.
    pub name: String,
    /// Category.
    pub category: String,
    /// Unit price.
    pub price: f64,
    /// ISO currency code (`DOP`).
    pub currency: String,
    /// Unit of sale (`funda`, `unidad`).
    pub unit: String,
    /// Units in stock; `None` when the catalog has no stock column.
    #[serde(default)]
    pub stock: Option<i64>,
    /// Branch that holds the stock.
    pub branch: String,
}

impl Product {
    /// Checks the fields a catalog row must have.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.name.trim().is_empty() {
            return Err(ValidationError::new("product", "a name is required"));
        }
        if !self.price.is_finite() || self.price < 0.0 {
            return Err(ValidationError::new(
                "product price",
                "must be a non-negative number",
            ));
        }
        Ok(())
    }

    /// The text indexed for the product: every field a customer might ask by.
    pub fn searchable_text(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.name, self.sku, self.category, self.unit, self.branch
        )
    }

    /// The price as a customer reads it: `RD$5,650`, `US$12.50`.
    pub fn price_display(&self) -> String {
        money(self.price, &self.currency)
    }

    /// One line describing the product for WhatsApp, in `locale`.
    pub fn describe(&self, locale: Locale) -> String {
        // Only the name and the price are required; each other column adds its words when the
        // catalog has it, so a short catalog still reads as a sentence.
        let mut line = format!("*{}*", self.name);
        if !self.sku.trim().is_empty() {
            line.push_str(&format!(" ({})", self.sku.trim()));
        }
        line.push_str(": ");
        line.push_str(&self.price_display());
        if !self.unit.trim().is_empty() {
            line.push_str(&format!(
                " {} {}",
                SystemText::Per.render(locale),
                unit_in(self.unit.trim(), locale)
            ));
        }
        let branch = self.branch.trim();
        match self.stock {
            Some(count) if count > 0 => {
                line.push_str("; ");
                line.push_str(&SystemText::InStock { count, branch }.render(locale));
            }
            Some(_) => {
                line.push_str("; ");
                line.push_str(&SystemText::OutOfStock { branch }.render(locale));
            }
            None => {}
        }
        line.push('.');
        line
    }
}

/// Units of sale in Spanish and English, so a price line reads in one language.
const UNITS: &[(&str, &str)] = &[
    ("funda", "bag"),
    ("saco", "sack"),
    ("unidad", "unit"),
    ("galón", "gallon"),
    ("galon", "gallon"),
    ("cubeta", "bucket"),
    ("caja", "box"),
    ("rollo", "roll"),
    ("plancha", "sheet"),
    ("libra", "pound"),
    ("kilo", "kilo"),
    ("metro", "meter"),
    ("pie", "foot"),
    ("lata", "can"),
    ("juego", "set"),
    ("par", "pair"),
    ("paquete", "pack"),
    ("docena", "dozen"),
    ("tubo", "tube"),
    ("litro", "liter"),
    ("quintal", "hundredweight"),
    ("yarda", "yard"),
];

/// `unit` in `locale` when it is a known unit of the other language; as written otherwise.
pub fn unit_in(unit: &str, locale: Locale) -> String {
    let lower = unit.to_lowercase();
    let found = UNITS.iter().find_map(|(es, en)| match locale {
        Locale::En if *es == lower => Some(*en),
        Locale::Es if *en == lower => Some(*es),
        Locale::Es | Locale::En => None,
    });
    found.map_or_else(|| unit.to_owned(), str::to_owned)
}

/// An amount as a customer reads it: `RD$5,650`, `US$12.50`, `€3`, `MXN 120`.
pub fn money(amount: f64, currency: &str) -> String {
    let symbol = match currency {
        "DOP" => "RD$".to_owned(),
        "USD" => "US$".to_owned(),
        "EUR" => "€".to_owned(),
        other => format!("{other} "),
    };
    format!("{symbol}{}", group_thousands(amount))
}

fn group_thousands(amount: f64) -> String {
    let cents = (amount * 100.0).round() as i64;
    let whole = cents / 100;
    let frac = cents % 100;
    let digits = whole.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if frac == 0 {
        grouped
    } else {
        format!("{grouped}.{frac:02}")
    }
}

/// Cuts a plain-text or Markdown document into passages.
pub fn split_text_document(document_id: &str, text: &str) -> Vec<Passage> {
    let mut passages = Vec::new();
    let mut heading: Option<String> = None;
    let mut paragraph: Vec<String> = Vec::new();
    let push = |heading: &Option<String>, body: String, passages: &mut Vec<Passage>| {
        for piece in split_long(&body, MAX_PASSAGE_CHARS) {
            passages.push(Passage {
                id: format!("{document_id}#{}", passages.len()),
                document_id: document_id.to_owned(),
                kind: PassageKind::Text,
                heading: heading.clone(),
                text: piece,
                product: None,
            });
        }
    };
    for line in text.lines().map(str::trim) {
        let is_heading = line.starts_with('#');
        let is_bullet = line.starts_with("- ") || line.starts_with("* ") || line.starts_with("• ");
        if (line.is_empty() || is_heading || is_bullet) && !paragraph.is_empty() {
            push(&heading, paragraph.join("\n"), &mut passages);
            paragraph.clear();
        }
        if is_heading {
            let title = markdown_line_to_whatsapp(line);
            heading = (!title.is_empty()).then_some(title);
        } else if is_bullet {
            let body = markdown_line_to_whatsapp(line);
            if !body.is_empty() {
                push(&heading, body, &mut passages);
            }
        } else if !line.is_empty() {
            paragraph.push(markdown_line_to_whatsapp(line));
        }
    }
    if !paragraph.is_empty() {
        push(&heading, paragraph.join("\n"), &mut passages);
    }
    passages
}

/// The longest sentence carried from the end of one piece of a split paragraph to the start of
/// the next (about 100 tokens), so a fact that spans the cut is found in either piece.
pub const MAX_OVERLAP_CHARS: usize = 400;

/// Splits text longer than `max` characters at sentence ends (falling back to spaces). Each piece
/// after the first starts with the last sentence of the piece before it, when that sentence is at
/// most [`MAX_OVERLAP_CHARS`] and the piece stays within `max`.
fn split_long(text: &str, max: usize) -> Vec<String> {
    if text.chars().count() <= max {
        return vec![text.to_owned()];
    }
    let mut pieces = Vec::new();
    let mut current = String::new();
    // The last whole sentence added to `current`, for the next piece's overlap.
    let mut last_sentence = String::new();
    for sentence in text.split_inclusive(['.', '!', '?', '\n']) {
        let length = sentence.chars().count();
        if !current.is_empty() && current.chars().count() + length > max {
            pieces.push(current.trim().to_owned());
            current.clear();
            let overlap = last_sentence.chars().count();
            if overlap <= MAX_OVERLAP_CHARS && overlap + length <= max {
                current.push_str(last_sentence.trim_start());
            }
        }
        if length > max {
            for word in sentence.split_inclusive(' ') {
                if current.chars().count() + word.chars().count() > max && !current.is_empty() {
                    pieces.push(current.trim().to_owned());
                    current.clear();
                }
                current.push_str(word);
            }
            last_sentence.clear();
        } else {
            current.push_str(sentence);
            last_sentence = sentence.to_owned();
        }
    }
    if !current.trim().is_empty() {
        pieces.push(current.trim().to_owned());
    }
    pieces
}

/// One question of a tenant's FAQ with its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaqEntry {
    /// The question, as customers would ask it.
    pub question: String,
    /// The answer.
    pub answer: String,
}

/// Turns FAQ entries into passages: one per question, the question as heading and the answer as
/// text, so keyword and vector search see both while the bot quotes only the answer. An answer
/// longer than [`MAX_PASSAGE_CHARS`] is split on sentences, every piece keeping its question.
pub fn faq_passages(document_id: &str, entries: &[FaqEntry]) -> Vec<Passage> {
    let mut passages = Vec::new();
    for entry in entries {
        let question = entry.question.trim();
        let answer = entry.answer.trim();
        if question.is_empty() || answer.is_empty() {
            continue;
        }
        for piece in split_long(answer, MAX_PASSAGE_CHARS) {
            passages.push(Passage {
                id: format!("{document_id}#{}", passages.len()),
                document_id: document_id.to_owned(),
                kind: PassageKind::Faq,
                heading: Some(question.to_owned()),
                text: piece,
                product: None,
            });
        }
    }
    passages
}

/// Turns catalog products into passages.
pub fn product_passages(document_id: &str, products: Vec<Product>) -> Vec<Passage> {
    products
        .into_iter()
        .enumerate()
        .map(|(i, product)| Passage {
            id: format!("{document_id}#{i}"),
            document_id: document_id.to_owned(),
            kind: PassageKind::Product,
            heading: Some(product.category.clone()),
            text: product.describe(Locale::Es),
            product: Some(product),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Tienda\n\n## Horarios\n- Centro: lunes a viernes de 8 a 5.\n- Domingos cerrado.\n\n## Preguntas\n¿Hacen envíos?\nSí, a toda la ciudad.\n\nOtro párrafo.\n";

    #[test]
    fn bullets_and_paragraphs_become_passages_under_their_heading() {
        let p = split_text_document("info", DOC);
        let texts: Vec<_> = p
            .iter()
            .map(|p| (p.heading.as_deref(), p.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            vec![
                (Some("Horarios"), "Centro: lunes a viernes de 8 a 5."),
                (Some("Horarios"), "Domingos cerrado."),
                (Some("Preguntas"), "¿Hacen envíos?\nSí, a toda la ciudad."),
                (Some("Preguntas"), "Otro párrafo."),
            ]
        );
        assert_eq!(p[0].id, "info#0");
        assert_eq!(p[1].searchable_text(), "Horarios: Domingos cerrado.");
    }

    #[test]
    fn long_paragraphs_are_split_at_sentences() {
        let sentence = "Esta es una oración de prueba bastante larga. ";
        let text = sentence.repeat(40);
        let p = split_text_document("d", &text);
        assert!(p.len() > 1);
        assert!(
            p.iter()
                .all(|p| p.text.chars().count() <= MAX_PASSAGE_CHARS)
        );
        assert!(p.iter().all(|p| p.text.ends_with('.')));
    }

    #[test]
    fn split_pieces_overlap_by_one_sentence() {
        let sentences: Vec<String> = (0..30)
            .map(|i| format!("La oración número {i} dice algo útil."))
            .collect();
        let p = split_text_document("d", &sentences.join(" "));
        assert!(p.len() > 1);
        for pair in p.windows(2) {
            let last = sentences
                .iter()
                .find(|s| pair[0].text.ends_with(s.as_str()))
                .expect("pieces end on a sentence");
            assert!(
                pair[1].text.starts_with(last.as_str()),
                "{:?} does not start with {last:?}",
                pair[1].text
            );
        }
        // Every sentence is somewhere, in order.
        let joined: String = p
            .iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        for s in &sentences {
            assert!(joined.contains(s.as_str()), "{s} lost");
        }
    }

    #[test]
    fn faq_entries_keep_their_question_as_heading() {
        let entries = vec![
            FaqEntry {
                question: "¿Hacen envíos?".into(),
                answer: "Sí, a toda la ciudad.".into(),
            },
            FaqEntry {
                question: "  ".into(),
                answer: "Sin pregunta: se omite.".into(),
            },
            FaqEntry {
                question: "¿Cuál es la garantía?".into(),
                answer: "Un año en herramientas eléctricas. ".repeat(40),
            },
        ];
        let p = faq_passages("faq", &entries);
        assert_eq!(p[0].kind, PassageKind::Faq);
        assert_eq!(p[0].heading.as_deref(), Some("¿Hacen envíos?"));
        assert_eq!(p[0].text, "Sí, a toda la ciudad.");
        assert_eq!(
            p[0].searchable_text(),
            "¿Hacen envíos?: Sí, a toda la ciudad."
        );
        assert!(p.len() > 2, "the long answer is split");
        assert!(
            p[1..]
                .iter()
                .all(|p| p.heading.as_deref() == Some("¿Cuál es la garantía?"))
        );
        assert!(
            p.iter()
                .all(|p| p.text.chars().count() <= MAX_PASSAGE_CHARS)
        );
        assert_eq!(
            p.last().map(|p| p.id.clone()),
            Some(format!("faq#{}", p.len() - 1))
        );
    }

    #[test]
    fn products_describe_price_and_stock() {
        let product = Product {
            sku: "PIN-102".into(),
            name: "Pintura acrílica, cubeta 5 galones".into(),
            category: "Pinturas".into(),
            price: 5650.0,
            currency: "DOP".into(),
            unit: "cubeta".into(),
            stock: Some(8),
            branch: "Centro".into(),
        };
        assert_eq!(
            product.describe(Locale::Es),
            "*Pintura acrílica, cubeta 5 galones* (PIN-102): RD$5,650 por cubeta; 8 disponibles en sucursal Centro."
        );
        let out = Product {
            stock: Some(0),
            ..product
        };
        assert!(
            out.describe(Locale::En)
                .contains("out of stock at the Centro branch")
        );
        assert_eq!(
            Product {
                price: 12.5,
                currency: "USD".into(),
                ..out
            }
            .price_display(),
            "US$12.50"
        );
    }
}
