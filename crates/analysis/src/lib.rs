//! The keyword analyzer both keyword indexes share (the embedded tantivy index and the Qdrant
//! server's sparse vectors), so a question matches the same passages on either.
//!
//! Tuned for customer messages in Spanish (and English): lower-case, Spanish and English stop
//! words, accent folding ("devolución" = "devolucion"), the question scaffolding of
//! [`atiende_domain::knowledge::QUESTION_SCAFFOLDING`] ("¿cuánto cuesta…?", "¿tienen…?"), then the
//! Snowball stemmer of the knowledge's language: Spanish ("entregas" = "entrega") by default,
//! English for a tenant whose knowledge is in English ([`analyzer_for`]). A question word also matches the words of its
//! [`SYNONYMS`] group ([`query_groups`]).

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use atiende_domain::{
    Locale,
    knowledge::{Passage, QUESTION_SCAFFOLDING, SYNONYMS},
    text::fold,
};
pub use tantivy::tokenizer::TextAnalyzer;
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter,
};

/// The analyzer shared by indexing and querying, for Spanish knowledge (the default). Built once
/// (its stop-word sets are hashed at construction) and cloned per use, which is cheap.
pub fn analyzer() -> TextAnalyzer {
    analyzer_for(None)
}

/// The analyzer for knowledge written in `language`: the English stemmer for English knowledge
/// ("deliveries" = "delivery"), the Spanish one otherwise. Index and queries of a tenant must use
/// the same one; [`language_of`] picks it from the passages.
pub fn analyzer_for(language: Option<Locale>) -> TextAnalyzer {
    static SPANISH: LazyLock<TextAnalyzer> = LazyLock::new(|| build_analyzer(Language::Spanish));
    static ENGLISH: LazyLock<TextAnalyzer> = LazyLock::new(|| build_analyzer(Language::English));
    match language {
        Some(Locale::En) => ENGLISH.clone(),
        Some(Locale::Es) | None => SPANISH.clone(),
    }
}

/// The language whose analyzer a tenant's `passages` get.
pub fn language_of(passages: &[Passage]) -> Option<Locale> {
    atiende_domain::language::of_knowledge(passages)
}

fn build_analyzer(stemmer: Language) -> TextAnalyzer {
    let mut builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .dynamic();
    // Stop words are matched before folding (the lists are accented), scaffolding after.
    for language in [Language::Spanish, Language::English] {
        if let Some(filter) = StopWordFilter::new(language) {
            builder = builder.filter_dynamic(filter);
        }
    }
    builder
        .filter_dynamic(AsciiFoldingFilter)
        .filter_dynamic(StopWordFilter::remove(
            QUESTION_SCAFFOLDING.iter().map(|w| (*w).to_owned()),
        ))
        .filter_dynamic(Stemmer::new(stemmer))
        .build()
}

/// What a question asks about: one group of interchangeable analyzed terms per question word
/// (the word's own term plus those of its [`SYNONYMS`]), duplicates removed.
pub fn query_groups(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Vec<String>> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    for word in fold(text).split_whitespace() {
        for term in terms(analyzer, word) {
            let mut group = vec![term];
            if let Some(synonyms) = analyzed_synonyms().get(word) {
                for t in synonyms {
                    if !group.contains(t) {
                        group.push(t.clone());
                    }
                }
            }
            let seen = groups.iter().any(|g| g.iter().any(|t| group.contains(t)));
            if !seen {
                groups.push(group);
            }
        }
    }
    groups
}

/// For every word of a synonym group, the analyzed terms of its whole group (computed once).
fn analyzed_synonyms() -> &'static HashMap<&'static str, Vec<String>> {
    static GROUPS: LazyLock<HashMap<&'static str, Vec<String>>> = LazyLock::new(|| {
        let mut analyzer = analyzer();
        let mut map = HashMap::new();
        for group in SYNONYMS {
            let mut terms_of_group: Vec<String> = Vec::new();
            for word in *group {
                for t in terms(&mut analyzer, word) {
                    if !terms_of_group.contains(&t) {
                        terms_of_group.push(t);
                    }
                }
            }
            for word in *group {
                map.insert(*word, terms_of_group.clone());
            }
        }
        map
    });
    &GROUPS
}

/// The distinct analyzed terms of `text`, in order of first appearance.
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        if seen.insert(token.text.clone()) {
            out.push(token.text.clone());
        }
    }
    out
}

/// Every analyzed token of `text`, in order, repeats kept (term frequencies need them).
pub fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

/// The text a keyword index analyzes for a passage: a product's searchable fields, or the
/// passage's heading and body.
pub fn indexed_text(passage: &Passage) -> String {
    match &passage.product {
        Some(product) => product.searchable_text(),
        None => passage.searchable_text(),
    }
}

/// BM25's inverse document frequency of a term found in `df` of `n` passages.
pub fn idf(n: f64, df: f64) -> f64 {
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// What each group of [`query_groups`] weighs in a tenant of `n` passages, given every term's
/// document frequency (`frequencies`, in the order of the groups' terms, flattened). A group weighs
/// as its rarest known term; a group the tenant never uses weighs the most, so "¿tienen jacuzzi
/// rojo?" does not match red paint on the strength of "rojo" alone.
pub fn group_weights(groups: &[Vec<String>], n: f64, frequencies: &[f64]) -> Vec<f64> {
    let mut offset = 0;
    groups
        .iter()
        .map(|group| {
            let dfs = frequencies
                .get(offset..offset + group.len())
                .unwrap_or_default();
            offset += group.len();
            dfs.iter()
                .filter(|df| **df > 0.0)
                .map(|df| idf(n, *df))
                .reduce(f64::max)
                .unwrap_or_else(|| idf(n, 0.0))
        })
        .collect()
}

/// The share (0–1) of the question's weight a passage with `terms` contains: comparable across
/// questions, unlike a BM25 score.
pub fn coverage(groups: &[Vec<String>], weights: &[f64], terms: &HashSet<String>) -> f32 {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let matched: f64 = groups
        .iter()
        .zip(weights)
        .filter(|(group, _)| group.iter().any(|t| terms.contains(t)))
        .map(|(_, w)| w)
        .sum();
    #[allow(clippy::cast_possible_truncation)]
    let share = (matched / total) as f32;
    share
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rare_and_unknown_words_weigh_most_in_coverage() {
        let groups = vec![vec!["cement".to_owned()], vec!["jacuzzi".to_owned()]];
        // 10 passages: "cement" in 9, "jacuzzi" in none.
        let weights = group_weights(&groups, 10.0, &[9.0, 0.0]);
        assert!(weights[1] > weights[0]);
        let has = |t: &str| HashSet::from([t.to_owned()]);
        assert!(coverage(&groups, &weights, &has("cement")) < 0.5);
        assert!((coverage(&groups, &weights, &HashSet::new())).abs() < f32::EPSILON);
    }

    #[test]
    fn questions_are_stemmed_folded_and_stripped_of_scaffolding() {
        let mut a = analyzer();
        assert_eq!(
            terms(&mut a, "¿Cuánto cuestan las entregas a domicilio?"),
            vec!["entreg", "domicili"]
        );
        assert_eq!(tokens(&mut a, "cemento cemento"), vec!["cement", "cement"]);
        let groups = query_groups(&mut a, "¿a qué hora abren?");
        assert!(
            groups.iter().any(|g| g.contains(&"horari".to_owned())),
            "{groups:?}"
        );
    }

    #[test]
    fn english_knowledge_gets_english_stems() {
        let mut spanish = analyzer_for(Some(Locale::Es));
        let mut english = analyzer_for(Some(Locale::En));
        assert_ne!(
            terms(&mut spanish, "deliveries"),
            terms(&mut spanish, "delivery")
        );
        assert_eq!(
            terms(&mut english, "deliveries"),
            terms(&mut english, "delivery")
        );
    }
}
