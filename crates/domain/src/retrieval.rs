//! Hybrid retrieval's arithmetic: Reciprocal Rank Fusion and the relevance the bot acts on.
//!
//! Keyword search finds exact terms (SKUs, "3/8", error codes); dense search finds paraphrases
//! and other languages. Their scores are not comparable, their ranks are: **Reciprocal Rank
//! Fusion** (Cormack, Clarke & Büttcher, 2009) scores a passage Σ 1 / (k + rank) over the lists it
//! appears in, with 1-based ranks and k = 60. (Qdrant numbers ranks from 0, so the same fusion is
//! its `rrf.k = 61`.)
//!
//! Ranks say nothing about whether the best passage answers at all, so each candidate also gets a
//! **relevance** in 0–1 that means the same across questions. Its base is the keyword
//! **coverage**: the share of the question's informative words the passage contains, which is
//! precise but blind to paraphrase. Dense similarity can only *raise* it: each point of cosine
//! similarity above a calibrated baseline adds `gain` points of relevance. So a passage that
//! shares some words with the question *and* means the same thing answers, and one that only
//! shares words or is only vaguely similar does not. The responder quotes passages at or above 0.5.
//!
//! Why not a threshold on similarity alone: multilingual-e5 similarities are compressed (most
//! pairs score 0.78–0.90), and on the demo tenant's gold set out-of-scope questions ("¿venden
//! carros usados?", 0.856) scored as high as answerable ones; combined with coverage they separate
//! (docs/benchmarks.md, "Knowledge retrieval").

/// The paper's k.
pub const RRF_K: f32 = 60.0;

/// Reciprocal Rank Fusion of a candidate's 1-based ranks in each list it appears in.
pub fn rrf(ranks: impl IntoIterator<Item = usize>) -> f32 {
    ranks
        .into_iter()
        .map(|rank| 1.0 / (RRF_K + rank as f32))
        .sum()
}

/// How dense similarity raises a passage's relevance above its keyword coverage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseCalibration {
    /// The cosine similarity below which meaning adds nothing.
    pub baseline: f32,
    /// Relevance added per unit of similarity above the baseline.
    pub gain: f32,
    /// The baseline when question and passage are in different languages. Keyword coverage is
    /// near zero across languages and cross-lingual similarities run lower, so there similarity
    /// alone decides, against a baseline of its own (calibrated on `gold-demo-en.jsonl`).
    pub cross_baseline: f32,
}

impl DenseCalibration {
    /// The relevance (0–1) of a passage with keyword `coverage` (0 when keyword search did not
    /// find it) and dense `similarity` (`None` when dense search did not find it).
    pub fn relevance(&self, coverage: f32, similarity: Option<f32>) -> f32 {
        let boost = similarity.map_or(0.0, |s| (self.gain * (s - self.baseline)).max(0.0));
        (coverage + boost).clamp(0.0, 1.0)
    }

    /// [`DenseCalibration::relevance`] for a question in another language than the passage:
    /// the same sum, with similarity counted from [`DenseCalibration::cross_baseline`] (so a
    /// passage sharing no word answers on meaning alone from `cross_baseline + 0.5 / gain`, and a
    /// shared word such as a brand or "cement" still counts).
    pub fn relevance_across(&self, coverage: f32, similarity: Option<f32>) -> f32 {
        let boost = similarity.map_or(0.0, |s| (self.gain * (s - self.cross_baseline)).max(0.0));
        (coverage + boost).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_follows_the_paper() {
        assert!((rrf([1]) - 1.0 / 61.0).abs() < 1e-7);
        assert!((rrf([1, 3]) - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-7);
        assert_eq!(rrf([]), 0.0);
        // Second in both lists beats first in one.
        assert!(rrf([2, 2]) > rrf([1]));
    }

    #[test]
    fn meaning_raises_coverage_and_never_lowers_it() {
        let c = DenseCalibration {
            baseline: 0.835,
            gain: 10.0,
            cross_baseline: 0.77,
        };
        // Below the baseline, or without a dense score, relevance is the coverage.
        assert_eq!(c.relevance(0.6, Some(0.70)), 0.6);
        assert_eq!(c.relevance(0.6, None), 0.6);
        // Some shared words plus close meaning answer; either alone does not.
        assert!(c.relevance(0.4, Some(0.855)) >= 0.5);
        assert!(c.relevance(0.4, Some(0.835)) < 0.5);
        assert!(c.relevance(0.0, Some(0.855)) < 0.5);
        // A close paraphrase answers on meaning alone.
        assert!(c.relevance(0.0, Some(0.89)) >= 0.5);
        assert_eq!(c.relevance(0.9, Some(0.95)), 1.0);
        // Across languages similarity alone decides, at its own baseline.
        assert!(c.relevance_across(0.0, Some(0.83)) >= 0.5);
        assert!(c.relevance_across(0.0, Some(0.80)) < 0.5);
        assert_eq!(c.relevance_across(0.0, None), 0.0);
        assert_eq!(c.relevance_across(0.6, Some(0.70)), 0.6);
        assert!(c.relevance_across(0.2, Some(0.79)) > c.relevance_across(0.0, Some(0.80)));
    }
}
