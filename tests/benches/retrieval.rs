//! Retrieval quality and latency (issue 3's numbers), as a bench binary.
//!
//! `cargo bench -p atiende-e2e --bench retrieval -- [quality|latency|all] [--data DIR]`
//!
//! **Quality** — BM25-only, dense-only and hybrid (RRF) through the real [`KnowledgeService`],
//! with multilingual-e5-small:
//! * BANKING77 and CLINC150 (`--data`, default `../shared/data`): each intent's training
//!   utterances are the knowledge base (one document per intent, one passage per utterance), the
//!   test utterances are the questions; a hit is a passage of the right intent. Reports hit@1,
//!   hit@5 and MRR@10 over distinct intents.
//! * CLINC150's out-of-scope questions: how well "no relevant passage" (the bot's "I don't know")
//!   separates them from in-scope ones — precision and recall of "don't know". The dense
//!   threshold is swept on the validation split and the best one reported on the test split.
//! * The Spanish gold set `tests/data/gold-demo-es.jsonl` over the demo tenant (questions as
//!   customers write them, with the passages that answer them, and 40 out-of-scope questions).
//!
//! **Latency** — a hybrid query on one tenant of 10k and 100k chunks (random unit vectors for the
//! dense side, dataset utterances for the keyword side), excluding the question's embedding, which
//! is timed separately; and ingestion throughput (chunks embedded per second).
//!
//! Embeddings are cached in `target/bench-retrieval/` (the knowledge service's own SQLite cache),
//! so only the first run pays for embedding the datasets.

// A bench binary fails loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atiende_app::knowledge::{
    DenseRetrieval, DocumentInput, KnowledgeService, Retrieved, SearchMode,
};
use atiende_bootstrap::Embedded;
use atiende_domain::{TenantId, knowledge::split_text_document, retrieval::DenseCalibration};
use atiende_platform::config::EmbedderChoice;
use atiende_ports::{EmbedRole, Embedder, KeywordIndex, VectorIndex};

/// One labelled question.
struct Question {
    text: String,
    /// The acceptable answers: intents (datasets) or passage ids / `sku:` (gold set); empty means
    /// out of scope.
    expect: Vec<String>,
}

/// What one question's search said, per mode.
struct Outcome {
    /// 1-based rank of the first acceptable answer among distinct labels, if within 10.
    rank: Option<usize>,
    /// Each candidate's keyword coverage and dense similarity.
    signals: Vec<(f32, Option<f32>)>,
    /// Whether each candidate is in another language than the question.
    crosses: Vec<bool>,
    /// Each candidate, for offline analysis (`GOLD_DUMP`).
    dump: Vec<serde_json::Value>,
    /// Whether any candidate was relevant (≥ 0.5) at the configured calibration.
    answered: bool,
    elapsed: Duration,
}

#[derive(Default)]
struct Metrics {
    n: usize,
    hit1: usize,
    hit5: usize,
    rr: f64,
}

impl Metrics {
    fn add(&mut self, rank: Option<usize>) {
        self.n += 1;
        if let Some(r) = rank {
            self.hit1 += usize::from(r == 1);
            self.hit5 += usize::from(r <= 5);
            self.rr += 1.0 / r as f64;
        }
    }

    fn line(&self) -> String {
        let n = self.n.max(1) as f64;
        format!(
            "hit@1 {:.3}  hit@5 {:.3}  MRR@10 {:.3}  (n={})",
            self.hit1 as f64 / n,
            self.hit5 as f64 / n,
            self.rr / n,
            self.n
        )
    }
}

const MODES: [SearchMode; 3] = [SearchMode::Keyword, SearchMode::Dense, SearchMode::Hybrid];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn cache_key(text: &str) -> String {
    use std::fmt::Write as _;
    // A cheap stable key for the query cache (FNV-1a 64 is enough for a benchmark's cache).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut s = String::new();
    write!(s, "{h:016x}{}", text.len()).unwrap();
    s
}

struct Bench {
    infra: Embedded,
    threads: usize,
    embedder: Arc<dyn Embedder>,
    calibration: DenseCalibration,
}

impl Bench {
    async fn open() -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-retrieval");
        std::fs::create_dir_all(&dir).unwrap();
        let mut settings = atiende_bootstrap::test_settings(&dir);
        settings.demo = Some(true);
        settings.knowledge.embedder = EmbedderChoice::E5;
        if let Some(threads) = std::env::var("BENCH_THREADS")
            .ok()
            .and_then(|t| t.parse().ok())
        {
            settings.knowledge.embedding_threads = threads;
        }
        let calibration = DenseCalibration {
            baseline: settings.knowledge.dense_baseline,
            gain: settings.knowledge.dense_gain,
            cross_baseline: settings.knowledge.dense_cross_baseline,
        };
        let embedder = atiende_bootstrap::embedder(&settings.knowledge)
            .unwrap()
            .expect("run infra/models.sh first");
        let infra = Embedded::open(&settings, 0).await.unwrap();
        infra.load_demo_if_enabled().await.unwrap();
        Self {
            threads: settings.knowledge.embedding_threads,
            infra,
            embedder,
            calibration,
        }
    }

    /// Query vectors, cached under a tenant of their own.
    async fn query_vectors(&self, questions: &[Question]) -> Vec<Vec<f32>> {
        let tenant = TenantId::parse("bench-queries").unwrap();
        let model = self.embedder.model().to_owned();
        let keys: Vec<String> = questions.iter().map(|q| cache_key(&q.text)).collect();
        let mut cached = self
            .infra
            .stores()
            .embeddings
            .get_embeddings(&tenant, &model, &keys)
            .await
            .unwrap();
        let missing: Vec<usize> = (0..keys.len())
            .filter(|&i| !cached.contains_key(&keys[i]))
            .collect();
        if !missing.is_empty() {
            let started = Instant::now();
            for slice in missing.chunks(256) {
                let texts = slice.iter().map(|&i| questions[i].text.clone()).collect();
                let vectors = self.embedder.embed(EmbedRole::Query, texts).await.unwrap();
                let entries: Vec<(String, Vec<f32>)> = slice
                    .iter()
                    .map(|&i| keys[i].clone())
                    .zip(vectors)
                    .collect();
                self.infra
                    .stores()
                    .embeddings
                    .put_embeddings(&tenant, &model, &entries)
                    .await
                    .unwrap();
                cached.extend(entries);
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "  embedded {} questions in {secs:.1}s ({:.1} ms each)",
                missing.len(),
                secs * 1000.0 / missing.len() as f64
            );
        }
        keys.iter().map(|k| cached[k].clone()).collect()
    }

    /// Runs every question in every mode; `label` maps a result to the label questions expect.
    async fn run(
        &self,
        tenant: &TenantId,
        questions: &[Question],
        label: impl Fn(&Retrieved) -> String,
    ) -> HashMap<&'static str, Vec<Outcome>> {
        let knowledge = &self.infra.knowledge().unwrap();
        knowledge.ensure_fresh(tenant).await.unwrap();
        let vectors = self.query_vectors(questions).await;
        let written_in = knowledge.knowledge_language(tenant).await.unwrap();
        let mut out = HashMap::new();
        for mode in MODES {
            let mut outcomes = Vec::with_capacity(questions.len());
            for (q, v) in questions.iter().zip(&vectors) {
                let started = Instant::now();
                let results = knowledge
                    .search_fresh(tenant, &q.text, Some(v), 10, mode)
                    .await
                    .unwrap();
                let elapsed = started.elapsed();
                let mut distinct: Vec<String> = Vec::new();
                for r in &results {
                    let l = label(r);
                    if !distinct.contains(&l) {
                        distinct.push(l);
                    }
                }
                let rank = distinct
                    .iter()
                    .position(|l| q.expect.contains(l))
                    .map(|i| i + 1);
                outcomes.push(Outcome {
                    rank,
                    signals: results.iter().map(|r| (r.coverage, r.similarity)).collect(),
                    crosses: vec![
                        atiende_app::knowledge::crosses_languages(
                            atiende_domain::language::detect(&q.text),
                            written_in,
                        );
                        results.len()
                    ],
                    dump: results
                        .iter()
                        .map(|r| {
                            serde_json::json!({"label": label(r), "cov": r.coverage, "sim": r.similarity,
                                "product": r.passage.product.is_some(), "dense_rank": r.dense_rank, "fused": r.fused})
                        })
                        .collect(),
                    answered: results.iter().any(|r| r.relevance >= 0.5),
                    elapsed,
                });
            }
            out.insert(mode_name(mode), outcomes);
        }
        out
    }
}

fn mode_name(mode: SearchMode) -> &'static str {
    match mode {
        SearchMode::Keyword => "bm25",
        SearchMode::Dense => "dense",
        SearchMode::Hybrid => "hybrid",
    }
}

fn report_ranking(questions: &[Question], outcomes: &HashMap<&'static str, Vec<Outcome>>) {
    for mode in MODES {
        let name = mode_name(mode);
        let mut m = Metrics::default();
        let mut times = Vec::new();
        for (q, o) in questions.iter().zip(&outcomes[name]) {
            if !q.expect.is_empty() {
                m.add(o.rank);
            }
            times.push(o.elapsed);
        }
        times.sort();
        println!(
            "  {name:<7} {}  search p50 {:.2?} p99 {:.2?}",
            m.line(),
            percentile(&times, 50.0),
            percentile(&times, 99.0)
        );
    }
}

/// Precision and recall of "don't know" (no candidate relevant) against out-of-scope labels.
fn dont_know(
    questions: &[Question],
    outcomes: &[Outcome],
    says_no: impl Fn(&Outcome) -> bool,
) -> (f64, f64, f64) {
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for (q, o) in questions.iter().zip(outcomes) {
        let oos = q.expect.is_empty();
        match (says_no(o), oos) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            (false, false) => {}
        }
    }
    let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let r = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
    let f1 = if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    };
    (p, r, f1)
}

/// The hybrid "don't know" rule with the dense baseline at `t` (the configured gain): no
/// candidate reaches relevance 0.5.
fn says_no_at(t: f32, gain: f32) -> impl Fn(&Outcome) -> bool {
    let c = DenseCalibration {
        baseline: t,
        gain,
        cross_baseline: 1.0,
    };
    move |o: &Outcome| {
        o.signals
            .iter()
            .all(|(cov, sim)| c.relevance(*cov, *sim) < 0.5)
    }
}

/// The full rule with the cross-language baseline at `cross` (the configured baseline and gain).
fn says_no_across(c: DenseCalibration, cross: f32) -> impl Fn(&Outcome) -> bool {
    let c = DenseCalibration {
        cross_baseline: cross,
        ..c
    };
    move |o: &Outcome| {
        o.signals.iter().zip(&o.crosses).all(|((cov, sim), x)| {
            let r = if *x {
                c.relevance_across(*cov, *sim)
            } else {
                c.relevance(*cov, *sim)
            };
            r < 0.5
        })
    }
}

/// Prints "don't know" precision, recall and F1, and the in-scope questions answered with the
/// right passage first, for each threshold `t` of the rule `rule(t)`.
fn print_sweep(
    questions: &[Question],
    outcomes: &[Outcome],
    thresholds: &[f32],
    rule: impl Fn(f32) -> Box<dyn Fn(&Outcome) -> bool>,
) {
    let in_scope = questions.iter().filter(|q| !q.expect.is_empty()).count();
    for &t in thresholds {
        let says_no = rule(t);
        let (p, r, f1) = dont_know(questions, outcomes, &says_no);
        let answered_right = questions
            .iter()
            .zip(outcomes)
            .filter(|(q, o)| !q.expect.is_empty() && o.rank == Some(1) && !says_no(o))
            .count();
        println!(
            "    {t:.3}: precision {p:.3} recall {r:.3} F1 {f1:.3}; in-scope answered with the right passage first: {answered_right}/{in_scope}"
        );
    }
}

fn sweep(questions: &[Question], outcomes: &[Outcome], gain: f32) -> f32 {
    let mut best = (0.0, 0.0);
    for step in 0..=40 {
        let t = 0.78 + step as f32 * 0.005;
        let (_, _, f1) = dont_know(questions, outcomes, says_no_at(t, gain));
        if f1 > best.1 {
            best = (t, f1);
        }
    }
    best.0
}

fn sanitize(intent: &str) -> String {
    intent
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

async fn ingest_intents(bench: &Bench, tenant: &TenantId, train: &[(String, String)]) {
    let mut by_intent: HashMap<&str, Vec<&str>> = HashMap::new();
    for (text, intent) in train {
        by_intent.entry(intent).or_default().push(text);
    }
    let documents: Vec<DocumentInput> = by_intent
        .iter()
        .map(|(intent, texts)| DocumentInput::Full {
            id: Some(sanitize(intent)),
            title: Some((*intent).to_owned()),
            kind: Some("text".to_owned()),
            content: texts
                .iter()
                .map(|t| format!("- {}\n", t.replace('\n', " ")))
                .collect(),
        })
        .collect();
    let started = Instant::now();
    let ingested = bench
        .infra
        .knowledge()
        .unwrap()
        .ingest(tenant, documents)
        .await
        .unwrap();
    let changed = ingested.iter().filter(|d| !d.unchanged).count();
    if changed > 0 {
        let chunks: usize = ingested.iter().map(|d| d.passages).sum();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  ingested {chunks} chunks in {secs:.1}s: {:.0} chunks/s (embedding included, {} thread(s))",
            chunks as f64 / secs,
            bench.threads
        );
    }
}

/// At most `n` examples per intent (in file order): `BENCH_KB_PER_INTENT` and
/// `BENCH_TEST_PER_INTENT` bound how much a run embeds (0 = all).
fn cap(pairs: Vec<(String, String)>, var: &str, default: usize) -> Vec<(String, String)> {
    let n = std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    if n == 0 {
        return pairs;
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    pairs
        .into_iter()
        .filter(|(_, intent)| {
            let count = seen.entry(intent.clone()).or_default();
            *count += 1;
            *count <= n
        })
        .collect()
}

fn questions(pairs: &[(String, String)]) -> Vec<Question> {
    pairs
        .iter()
        .map(|(text, intent)| Question {
            text: text.clone(),
            expect: if intent == "oos" {
                Vec::new()
            } else {
                vec![sanitize(intent)]
            },
        })
        .collect()
}

async fn banking77(bench: &Bench, data: &Path) {
    println!("BANKING77");
    let read = |name: &str| -> Vec<(String, String)> {
        let mut reader = csv::Reader::from_path(data.join("banking77").join(name)).unwrap();
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].to_owned(), r[1].to_owned())
            })
            .collect()
    };
    let tenant = TenantId::parse("bench-banking77").unwrap();
    let train = cap(read("train.csv"), "BENCH_KB_PER_INTENT", 30);
    ingest_intents(bench, &tenant, &train).await;
    let qs = questions(&cap(read("test.csv"), "BENCH_TEST_PER_INTENT", 0));
    println!(
        "  knowledge: {} utterances; questions: {}",
        train.len(),
        qs.len()
    );
    let outcomes = bench
        .run(&tenant, &qs, |r| r.passage.document_id.clone())
        .await;
    report_ranking(&qs, &outcomes);
}

async fn clinc150(bench: &Bench, data: &Path) {
    println!("CLINC150");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("clinc150/data_full.json")).unwrap(),
    )
    .unwrap();
    let split = |key: &str| -> Vec<(String, String)> {
        json[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_owned(),
                    p[1].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let tenant = TenantId::parse("bench-clinc150").unwrap();
    let train = cap(split("train"), "BENCH_KB_PER_INTENT", 30);
    ingest_intents(bench, &tenant, &train).await;
    let test: Vec<Question> = questions(
        &[
            cap(split("test"), "BENCH_TEST_PER_INTENT", 10),
            split("oos_test"),
        ]
        .concat(),
    );
    let val: Vec<Question> = questions(
        &[
            cap(split("val"), "BENCH_VAL_PER_INTENT", 5),
            split("oos_val"),
        ]
        .concat(),
    );
    println!(
        "  knowledge: {} utterances; questions: {} (test, {} out of scope), {} (validation)",
        train.len(),
        test.len(),
        test.iter().filter(|q| q.expect.is_empty()).count(),
        val.len()
    );
    let label = |r: &Retrieved| r.passage.document_id.clone();
    let outcomes = bench.run(&tenant, &test, label).await;
    report_ranking(&test, &outcomes);
    let hybrid = &outcomes["hybrid"];
    let (p, r, f1) = dont_know(&test, hybrid, |o| !o.answered);
    println!(
        "  don't know (hybrid, baseline {:.3}): precision {p:.3} recall {r:.3} F1 {f1:.3}",
        bench.calibration.baseline
    );
    let (p, r, f1) = dont_know(&test, &outcomes["bm25"], |o| !o.answered);
    println!("  don't know (bm25 coverage only): precision {p:.3} recall {r:.3} F1 {f1:.3}");
    let val_outcomes = bench.run(&tenant, &val, label).await;
    let gain = bench.calibration.gain;
    let t = sweep(&val, &val_outcomes["hybrid"], gain);
    let (p, r, f1) = dont_know(&test, hybrid, says_no_at(t, gain));
    println!(
        "  don't know (hybrid, baseline {t:.3} chosen on val): precision {p:.3} recall {r:.3} F1 {f1:.3}"
    );
}

async fn gold(bench: &Bench) {
    gold_set(
        bench,
        "Spanish gold set (demo tenant)",
        "gold-demo-es.jsonl",
    )
    .await;
    gold_set(
        bench,
        "English questions over the Spanish demo tenant",
        "gold-demo-en.jsonl",
    )
    .await;
}

async fn gold_set(bench: &Bench, title: &str, file: &str) {
    println!("{title}");
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("data")
            .join(file),
    )
    .unwrap();
    let qs: Vec<Question> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Question {
                text: v["question"].as_str().unwrap().to_owned(),
                expect: v["expect"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap().to_owned())
                    .collect(),
            }
        })
        .collect();
    let tenant = TenantId::parse("demo").unwrap();
    let outcomes = bench
        .run(&tenant, &qs, |r| match &r.passage.product {
            Some(p) => format!("sku:{}", p.sku),
            None => r.passage.id.clone(),
        })
        .await;
    report_ranking(&qs, &outcomes);
    for mode in ["bm25", "hybrid"] {
        let (p, r, f1) = dont_know(&qs, &outcomes[mode], |o| !o.answered);
        println!("  don't know ({mode}): precision {p:.3} recall {r:.3} F1 {f1:.3}");
    }
    let gain = bench.calibration.gain;
    println!("  hybrid don't-know by dense baseline (gain {gain}):");
    print_sweep(
        &qs,
        &outcomes["hybrid"],
        &[0.82, 0.825, 0.83, 0.835, 0.84, 0.845, 0.85, 0.86],
        |t| Box::new(says_no_at(t, gain)),
    );
    println!("  don't-know by cross-language baseline (others as configured):");
    print_sweep(
        &qs,
        &outcomes["hybrid"],
        &[0.76, 0.765, 0.77, 0.775, 0.78, 0.785, 0.79, 0.80],
        |t| Box::new(says_no_across(bench.calibration, t)),
    );
    if let Some(dir) = std::env::var_os("GOLD_DUMP") {
        let path = PathBuf::from(dir).join(file);
        let lines: Vec<String> = qs
            .iter()
            .zip(&outcomes["hybrid"])
            .map(|(q, o)| {
                serde_json::json!({"question": q.text, "expect": q.expect, "crosses": o.crosses.first(),
                    "results": o.dump})
                .to_string()
            })
            .collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        println!("  dumped to {}", path.display());
    }
    if std::env::var_os("GOLD_VERBOSE").is_some() {
        for (q, o) in qs.iter().zip(&outcomes["hybrid"]) {
            println!(
                "    {:<60} rank {:?} answered {} top {:?}",
                q.text,
                o.rank,
                o.answered,
                o.signals.first()
            );
        }
    }
}

/// A unit vector from a seed (xorshift), for the latency corpus.
fn random_unit(seed: u64, dims: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.iter_mut().for_each(|a| *a /= n);
    v
}

async fn latency(bench: &Bench, data: &Path) {
    println!("Latency (one tenant, hybrid, top 10, query embedding excluded)");
    let mut reader = csv::Reader::from_path(data.join("banking77/train.csv")).unwrap();
    let utterances: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
    let queries: Vec<Question> = csv::Reader::from_path(data.join("banking77/test.csv"))
        .unwrap()
        .records()
        .take(500)
        .map(|r| Question {
            text: r.unwrap()[0].to_owned(),
            expect: Vec::new(),
        })
        .collect();
    let vectors = bench.query_vectors(&queries).await;
    // The query's embedding, on its own (one thread, as served).
    let mut embed_times = Vec::new();
    for q in queries.iter().take(100) {
        let started = Instant::now();
        bench
            .embedder
            .embed(EmbedRole::Query, vec![q.text.clone()])
            .await
            .unwrap();
        embed_times.push(started.elapsed());
    }
    embed_times.sort();
    println!(
        "  query embedding (multilingual-e5-small, 1 thread): p50 {:.2?} p99 {:.2?}",
        percentile(&embed_times, 50.0),
        percentile(&embed_times, 99.0)
    );
    let dims = bench.embedder.dimensions();
    for size in [10_000usize, 100_000] {
        let tenant = TenantId::parse(format!("latency-{size}")).unwrap();
        let keyword = Arc::new(atiende_adapter_tantivy::TantivyIndex::new());
        let vectors_index = Arc::new(atiende_adapter_vectors::ExactVectorIndex::new());
        let passages: Vec<_> = (0..size)
            .map(|i| {
                let text = format!("- {} ({i})", utterances[i % utterances.len()]);
                split_text_document(&format!("d{}", i / 1000), &text).remove(0)
            })
            .collect();
        let entries = passages
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), random_unit(i as u64, dims)))
            .collect();
        keyword.index_tenant(&tenant, 1, passages).await.unwrap();
        vectors_index
            .index_tenant(&tenant, 1, bench.embedder.model(), entries)
            .await
            .unwrap();
        let service = KnowledgeService::new(
            bench.infra.stores().knowledge.clone(),
            keyword,
            bench.infra.clock.clone(),
        )
        .with_dense(DenseRetrieval {
            embedder: bench.embedder.clone(),
            index: vectors_index,
            cache: bench.infra.stores().embeddings.clone(),
            calibration: bench.calibration,
        });
        for mode in MODES {
            let mut times = Vec::new();
            for _round in 0..2 {
                for (q, v) in queries.iter().zip(&vectors) {
                    let started = Instant::now();
                    let r = service
                        .search_fresh(&tenant, &q.text, Some(v), 10, mode)
                        .await
                        .unwrap();
                    times.push(started.elapsed());
                    assert!(!r.is_empty());
                }
            }
            times.sort();
            println!(
                "  {size:>7} chunks  {:<7} p50 {:>9.2?}  p99 {:>9.2?}  (n={})",
                mode_name(mode),
                percentile(&times, 50.0),
                percentile(&times, 99.0),
                times.len()
            );
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let what = args
        .iter()
        .find(|a| ["quality", "latency", "all", "gold"].contains(&a.as_str()))
        .cloned()
        .unwrap_or_else(|| "all".to_owned());
    let data = args
        .iter()
        .position(|a| a == "--data")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let bench = Bench::open().await;
    if what == "gold" {
        gold(&bench).await;
        return;
    }
    if what == "quality" || what == "all" {
        gold(&bench).await;
        banking77(&bench, &data).await;
        clinc150(&bench, &data).await;
    }
    if what == "latency" || what == "all" {
        latency(&bench, &data).await;
    }
}
