//! The extractive responder: answers quoted from the tenant's own knowledge, or an honest "I
//! don't know" with the offer of a person.
//!
//! It is the answer engine until a language model is configured, and the fallback when the model
//! is unavailable or over budget. It never invents anything: every fact in an answer is a passage
//! the tenant wrote (or a catalog row, rendered into a sentence). The reply fits WhatsApp: at most
//! two short paragraphs — the answer, then a question that keeps the conversation going.

use std::sync::Arc;

use crate::{
    AppError,
    knowledge::{KnowledgeService, Retrieved},
};
use atiende_domain::{
    Locale, Tenant,
    assistant::TracedPassage,
    i18n::SystemText,
    intent,
    knowledge::{PassageKind, Product},
    language,
    text::{limit_paragraphs, truncate_chars},
};

/// The least relevance (0–1, [`Retrieved::relevance`]) a passage must have to be quoted.
///
/// Relevance is keyword coverage or calibrated dense similarity, whichever is higher. Chosen on the
/// demo tenant's gold set (`tests/e2e/gold.rs`): questions the knowledge answers score 0.6–1.0,
/// questions it does not answer 0–0.45.
pub const DEFAULT_MIN_RELEVANCE: f32 = 0.5;
/// The longest answer paragraph, in characters.
pub const MAX_ANSWER_CHARS: usize = 700;
/// How many products one answer may list.
pub const MAX_PRODUCTS: usize = 3;
/// How many passages one answer may quote.
pub const MAX_PASSAGES: usize = 3;
/// A passage at least this relevant answers the question fully: every such passage is quoted
/// (within [`MAX_PASSAGES`] and [`MAX_ANSWER_CHARS`]).
pub const FULL_ANSWER: f32 = 0.9;

/// What the responder found.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// An answer grounded in these passages.
    Found {
        /// The reply, formatted for WhatsApp.
        text: String,
        /// The ids of the passages quoted.
        passages: Vec<String>,
        /// The best passage's relevance to the question.
        relevance: f32,
    },
    /// Nothing in the knowledge answers the question.
    NotFound,
}

/// Answers questions from a tenant's knowledge.
pub struct ExtractiveResponder {
    knowledge: Arc<KnowledgeService>,
    min_relevance: f32,
}

impl ExtractiveResponder {
    /// Builds a responder that quotes passages with at least `min_relevance`.
    pub fn new(knowledge: Arc<KnowledgeService>, min_relevance: f32) -> Self {
        Self {
            knowledge,
            min_relevance,
        }
    }

    /// Answers `question` for `tenant` in `locale`.
    pub async fn answer(
        &self,
        tenant: &Tenant,
        question: &str,
        locale: Locale,
    ) -> Result<Answer, AppError> {
        Ok(self.answer_traced(tenant, question, locale).await?.0)
    }

    /// [`ExtractiveResponder::answer`], with the passages the search returned (best first, at
    /// most five) and their relevance, for the turn's decision trace.
    pub async fn answer_traced(
        &self,
        tenant: &Tenant,
        question: &str,
        locale: Locale,
    ) -> Result<(Answer, Vec<TracedPassage>), AppError> {
        let hits = self.knowledge.search(&tenant.id, question, 8).await?;
        let prefer_products = intent::asks_price_or_stock(question);
        let retrieved = hits
            .iter()
            .take(5)
            .map(|h| TracedPassage {
                id: h.passage.id.clone(),
                relevance: h.relevance,
            })
            .collect();
        Ok((
            compose(&hits, self.min_relevance, prefer_products, locale),
            retrieved,
        ))
    }
}

/// Builds the reply from search results, best first (pure, so it is tested without an index).
/// With `prefer_products`, a catalog row about as relevant as the best result wins: "¿cuánto
/// cuesta el cemento?" wants the price, not the prose that mentions cement.
pub fn compose(
    hits: &[Retrieved],
    min_relevance: f32,
    prefer_products: bool,
    locale: Locale,
) -> Answer {
    // What to quote is chosen by relevance (how well each passage answers), not by the fusion
    // rank that ordered the search: a passage ranked second can answer better than the first.
    let mut relevant: Vec<&Retrieved> = hits
        .iter()
        .filter(|h| h.relevance >= min_relevance)
        .collect();
    relevant.sort_by(|a, b| b.relevance.total_cmp(&a.relevance));
    let Some(first) = relevant.first() else {
        return Answer::NotFound;
    };
    // A price question prefers a catalog row about as relevant as the best passage — unless
    // the best is prose that answers fully and better ("¿qué garantía tiene el aire?" is about
    // the warranty, not the air conditioner's price).
    let best = if prefer_products {
        relevant
            .iter()
            .find(|h| {
                h.passage.kind == PassageKind::Product
                    && h.relevance >= first.relevance - 0.15
                    && (first.passage.kind == PassageKind::Product
                        || first.relevance < FULL_ANSWER
                        || h.relevance >= first.relevance)
            })
            .unwrap_or(first)
    } else {
        first
    };
    let close = |h: &&&Retrieved| h.relevance >= best.relevance - 0.15;
    let (body, used): (String, Vec<String>) = match best.passage.kind {
        PassageKind::Product => {
            let products: Vec<(&Product, &str)> = relevant
                .iter()
                .filter(close)
                .filter_map(|h| {
                    h.passage
                        .product
                        .as_ref()
                        .map(|p| (p, h.passage.id.as_str()))
                })
                .take(MAX_PRODUCTS)
                .collect();
            let lines: Vec<String> = products.iter().map(|(p, _)| p.describe(locale)).collect();
            let body = if lines.len() == 1 {
                lines.concat()
            } else {
                lines
                    .iter()
                    .map(|l| format!("• {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            (
                body,
                products.iter().map(|(_, id)| (*id).to_owned()).collect(),
            )
        }
        PassageKind::Text | PassageKind::Faq => {
            let mut body = best.passage.text.clone();
            let mut used = vec![best.passage.id.clone()];
            // Every other passage that answers as fully belongs in the same answer (the Sunday
            // hours of each branch), and so does a neighbouring line of the same section that
            // answers almost as well — as long as the answer stays short.
            for other in relevant.iter().filter(|h| {
                h.passage.id != best.passage.id
                    && h.passage.kind != PassageKind::Product
                    && (h.relevance >= FULL_ANSWER.min(best.relevance)
                        || (h.passage.heading == best.passage.heading
                            && h.relevance >= best.relevance - 0.15))
            }) {
                if used.len() >= MAX_PASSAGES
                    || body.chars().count() + other.passage.text.chars().count() >= MAX_ANSWER_CHARS
                {
                    break;
                }
                body.push('\n');
                body.push_str(&other.passage.text);
                used.push(other.passage.id.clone());
            }
            // Quoted in another language than the reply's, the passage is announced as such:
            // the reply's own words stay in the customer's language.
            if let Some(language) = language::detect(&body).filter(|l| *l != locale) {
                body = format!(
                    "{}\n{body}",
                    SystemText::QuotingIn { language }.render(locale)
                );
            }
            (body, used)
        }
    };
    let body = truncate_chars(&body, MAX_ANSWER_CHARS);
    let text = limit_paragraphs(
        &format!("{body}\n\n{}", SystemText::AnythingElse.render(locale)),
        2,
    );
    Answer::Found {
        text,
        passages: used,
        relevance: best.relevance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atiende_domain::knowledge::{Passage, product_passages, split_text_document};

    fn hit(passage: Passage, coverage: f32) -> Retrieved {
        Retrieved {
            passage,
            keyword_rank: Some(1),
            bm25: Some(coverage * 10.0),
            coverage,
            dense_rank: None,
            similarity: None,
            fused: 0.0,
            relevance: coverage,
        }
    }

    fn product(sku: &str, name: &str, stock: i64) -> Product {
        Product {
            sku: sku.into(),
            name: name.into(),
            category: "Construcción".into(),
            price: 495.0,
            currency: "DOP".into(),
            unit: "funda".into(),
            stock: Some(stock),
            branch: "Centro".into(),
        }
    }

    #[test]
    fn nothing_relevant_means_not_found() {
        let p = split_text_document("d", "- Aceptamos tarjetas.").remove(0);
        assert_eq!(
            compose(&[hit(p, 0.3)], 0.5, false, Locale::Es),
            Answer::NotFound
        );
        assert_eq!(compose(&[], 0.5, false, Locale::Es), Answer::NotFound);
    }

    #[test]
    fn a_text_answer_quotes_the_passage_and_ends_with_a_question() {
        let mut ps = split_text_document(
            "info",
            "## Horarios\n- Centro: domingos de 8:00 a.m. a 12:00 m.\n- Villa Verde: domingos cerrado.\n## Pagos\n- Efectivo.",
        );
        let pay = ps.pop().unwrap();
        let villa = ps.pop().unwrap();
        let centro = ps.pop().unwrap();
        let Answer::Found { text, passages, .. } = compose(
            &[hit(centro, 1.0), hit(villa, 0.9), hit(pay, 0.6)],
            0.5,
            false,
            Locale::Es,
        ) else {
            panic!("expected an answer");
        };
        assert_eq!(
            text,
            "Centro: domingos de 8:00 a.m. a 12:00 m.\nVilla Verde: domingos cerrado.\n\n¿Te ayudo con algo más?"
        );
        assert_eq!(passages, vec!["info#0", "info#1"]);
    }

    #[test]
    fn every_fully_answering_passage_is_quoted_and_the_most_relevant_leads() {
        let mut ps = split_text_document(
            "info",
            "## Horarios\n- Villa Verde: domingos cerrado.\n## Feriados\n- Feriados: de 8:00 a.m. a 12:00 m.\n## Sucursal Centro\n- Centro abre los domingos de 8:00 a.m. a 12:00 m.\n## Crédito\n- Crédito: límite inicial de RD$50,000.",
        );
        let credit = ps.pop().unwrap();
        let centro = ps.pop().unwrap();
        let holidays = ps.pop().unwrap();
        let villa = ps.pop().unwrap();
        // Fusion put the Centro branch third; its relevance is the highest.
        let Answer::Found { passages, .. } = compose(
            &[
                hit(villa, 0.95),
                hit(holidays, 0.6),
                hit(centro, 1.0),
                hit(credit, 0.55),
            ],
            0.5,
            false,
            Locale::Es,
        ) else {
            panic!("expected an answer");
        };
        assert_eq!(passages, vec!["info#2", "info#0"]);

        // A neighbouring topic that fusion ranked first loses to the one that answers.
        let mut ps = split_text_document(
            "info",
            "## Crédito\n- Límite inicial de RD$50,000.\n## Estado de cuenta\n- Se consulta con el número de cuenta.",
        );
        let status = ps.pop().unwrap();
        let limit = ps.pop().unwrap();
        let Answer::Found { passages, .. } = compose(
            &[hit(limit, 0.82), hit(status, 0.99)],
            0.5,
            false,
            Locale::Es,
        ) else {
            panic!("expected an answer");
        };
        assert_eq!(passages, vec!["info#1"]);
    }

    #[test]
    fn price_questions_prefer_a_catalog_row_over_prose() {
        let offer = split_text_document(
            "info",
            "- Compra 10 fundas de cemento gris y la entrega es gratis.",
        )
        .remove(0);
        let row = product_passages("cat", vec![product("CEM-001", "Cemento gris", 25)]).remove(0);
        let hits = [hit(offer.clone(), 1.0), hit(row, 1.0)];
        let Answer::Found { passages, .. } = compose(&hits, 0.5, true, Locale::Es) else {
            panic!("expected an answer");
        };
        assert_eq!(passages, vec!["cat#0"]);
        let Answer::Found { passages, .. } = compose(&hits, 0.5, false, Locale::Es) else {
            panic!("expected an answer");
        };
        assert_eq!(passages, vec!["info#0"]);
    }

    #[test]
    fn close_product_matches_are_listed_and_localized() {
        let ps = product_passages(
            "cat",
            vec![
                product("CEM-001", "Cemento gris", 25),
                product("CEM-002", "Cemento blanco", 0),
                product("BLK-006", "Block 6", 10),
            ],
        );
        let hits = vec![
            hit(ps[0].clone(), 1.0),
            hit(ps[1].clone(), 0.9),
            hit(ps[2].clone(), 0.5),
        ];
        let Answer::Found { text, passages, .. } = compose(&hits, 0.5, true, Locale::En) else {
            panic!("expected an answer");
        };
        assert!(text.starts_with("• *Cemento gris* (CEM-001): RD$495 per bag; 25 in stock"));
        assert!(text.contains("• *Cemento blanco* (CEM-002)"));
        assert!(text.contains("out of stock"));
        assert!(!text.contains("Block"));
        assert!(text.ends_with("Can I help you with anything else?"));
        assert_eq!(passages.len(), 2);
    }
}
