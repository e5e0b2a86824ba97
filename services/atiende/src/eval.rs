//! `atiende eval`: the tenant test suite. Scripted conversations run against a running atiende
//! through the admin API's dry-run endpoint (the real processor, engine and tools; nothing sent to
//! customers), and each case's expectations are checked.
//!
//! ```text
//! atiende eval [--tenant T] [--url URL] cases.jsonl      # admin token from $ATIENDE_ADMIN_TOKEN
//! ```
//!
//! A case is one JSON object per line:
//! `{"id", "tenant"?, "from"?, "turns": [..], "expect": {"contains_any"?: [..], "not_contains"?:
//! [..], "handoff"?: bool, "lead"?: {..}}}`. Texts are compared without case or accents;
//! `contains_any` and `not_contains` look at every bot reply of the case, `handoff` at whether
//! any turn handed off, `lead` at the lead fields known at the end (each expected value contained
//! in the captured one). Each case starts a fresh conversation for its number (default: a test
//! number derived from the case id). One line per case, then `N passed, M failed`; the exit code
//! is 1 when any case failed, 2 when the suite could not run. Cases may name a `category`
//! (`precio`, `cuenta`, `animo`…): the pass rate of each is reported at the end.

use std::process::ExitCode;

use atiende_domain::text::fold;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    id: String,
    #[serde(default)]
    tenant: Option<String>,
    /// What the case exercises (`precio`, `cuenta`, `animo`…); the pass rate is reported per
    /// category.
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    from: Option<String>,
    turns: Vec<String>,
    #[serde(default)]
    expect: Expect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    contains_any: Vec<String>,
    #[serde(default)]
    not_contains: Vec<String>,
    #[serde(default)]
    handoff: Option<bool>,
    #[serde(default)]
    lead: Option<serde_json::Map<String, Value>>,
}

struct Options {
    tenant: Option<String>,
    url: String,
    file: String,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: atiende eval [--tenant T] [--url URL] cases.jsonl  (admin token: $ATIENDE_ADMIN_TOKEN)"
    );
    ExitCode::from(2)
}

fn parse_args(args: &[String]) -> Option<Options> {
    let mut options = Options {
        tenant: None,
        url: "http://localhost:8080".to_owned(),
        file: String::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tenant" => options.tenant = Some(args.next()?.clone()),
            "--url" => options.url = args.next()?.trim_end_matches('/').to_owned(),
            other if other.starts_with('-') => return None,
            file => options.file = file.to_owned(),
        }
    }
    (!options.file.is_empty()).then_some(options)
}

/// A stable test number for a case: +1 555 01x xxxx (the 555-01xx range is reserved for
/// fiction), so reruns reuse, and reset, the same conversation.
fn test_number(id: &str) -> String {
    let hash = id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("+155501{:05}", hash % 100_000)
}

/// What the case got wrong, if anything.
fn check(case: &Case, replies: &[String], handed_off: bool, lead: &Value) -> Vec<String> {
    let all = fold(&replies.join("\n"));
    let mut problems = Vec::new();
    let expect = &case.expect;
    if !expect.contains_any.is_empty()
        && !expect.contains_any.iter().any(|s| all.contains(&fold(s)))
    {
        problems.push(format!("none of {:?} in the replies", expect.contains_any));
    }
    for forbidden in &expect.not_contains {
        if all.contains(&fold(forbidden)) {
            problems.push(format!("{forbidden:?} in the replies"));
        }
    }
    if let Some(expected) = expect.handoff
        && expected != handed_off
    {
        problems.push(format!("handoff expected {expected}, got {handed_off}"));
    }
    for (field, expected) in expect.lead.iter().flatten() {
        let got = lead.get(field).and_then(Value::as_str).unwrap_or("");
        let wanted = expected
            .as_str()
            .map_or_else(|| expected.to_string(), str::to_owned);
        if !fold(got).contains(&fold(&wanted)) {
            problems.push(format!("lead.{field}: expected {wanted:?}, got {got:?}"));
        }
    }
    problems
}

async fn run_case(
    client: &reqwest::Client,
    options: &Options,
    token: &str,
    case: &Case,
) -> Result<Vec<String>, String> {
    let tenant = case
        .tenant
        .as_deref()
        .or(options.tenant.as_deref())
        .ok_or("the case names no tenant and --tenant was not given")?;
    let from = case.from.clone().unwrap_or_else(|| test_number(&case.id));
    let (mut replies, mut handed_off, mut lead) = (Vec::new(), false, Value::Null);
    for (i, text) in case.turns.iter().enumerate() {
        let response = client
            .post(format!("{}/admin/tenants/{tenant}/simulate", options.url))
            .bearer_auth(token)
            .json(&json!({"from": from, "text": text, "reset": i == 0}))
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", options.url))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("turn {}: HTTP {status}: {body}", i + 1));
        }
        for reply in body["replies"].as_array().into_iter().flatten() {
            replies.push(reply.as_str().unwrap_or_default().to_owned());
        }
        handed_off |= !body["handoff"].is_null();
        lead = body["lead"].clone();
    }
    Ok(check(case, &replies, handed_off, &lead))
}

/// Runs the suite; `args` are the words after `eval`.
pub async fn main(args: &[String]) -> ExitCode {
    let Ok(token) = std::env::var("ATIENDE_ADMIN_TOKEN") else {
        eprintln!("atiende eval: set ATIENDE_ADMIN_TOKEN to the admin API's token");
        return ExitCode::from(2);
    };
    match run(args, &token).await {
        Some((_, 0)) => ExitCode::SUCCESS,
        Some(_) => ExitCode::from(1),
        None => ExitCode::from(2),
    }
}

/// Runs the suite with the admin `token`, printing a line per case and the totals; returns
/// (passed, failed), or `None` when the suite could not run (bad arguments, unreadable file).
pub async fn run(args: &[String], token: &str) -> Option<(u32, u32)> {
    let Some(options) = parse_args(args) else {
        usage();
        return None;
    };
    let text = match std::fs::read_to_string(&options.file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("atiende eval: cannot read {}: {e}", options.file);
            return None;
        }
    };
    let client = reqwest::Client::new();
    let (mut passed, mut failed) = (0u32, 0u32);
    // Category → (passed, failed).
    let mut categories: std::collections::BTreeMap<String, (u32, u32)> = Default::default();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: Case = match serde_json::from_str(line) {
            Ok(case) => case,
            Err(e) => {
                println!("FAIL line {}: not a case: {e}", n + 1);
                failed += 1;
                continue;
            }
        };
        let tally = categories
            .entry(case.category.clone().unwrap_or_else(|| "-".to_owned()))
            .or_default();
        match run_case(&client, &options, token, &case).await {
            Ok(problems) if problems.is_empty() => {
                passed += 1;
                tally.0 += 1;
                println!("PASS {}", case.id);
            }
            Ok(problems) => {
                failed += 1;
                tally.1 += 1;
                println!("FAIL {}: {}", case.id, problems.join("; "));
            }
            Err(error) => {
                failed += 1;
                tally.1 += 1;
                println!("FAIL {}: {error}", case.id);
            }
        }
    }
    if categories.len() > 1 {
        println!("by category:");
        for (category, (p, f)) in &categories {
            println!(
                "  {category:<20} {p:>3}/{:<3} {:>5.1} %",
                p + f,
                f64::from(*p) * 100.0 / f64::from(p + f).max(1.0)
            );
        }
    }
    println!(
        "{passed} passed, {failed} failed ({:.1} %)",
        f64::from(passed) * 100.0 / f64::from(passed + failed).max(1.0)
    );
    Some((passed, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(line: &str) -> Case {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn expectations_are_checked_without_case_or_accents() {
        let c = case(
            r#"{"id":"x","turns":["a"],"expect":{"contains_any":["RD$495","cemento gris"],"not_contains":["gratis"],"handoff":false,"lead":{"email":"ana@"}}}"#,
        );
        let lead = json!({"email": "ana@x.com"});
        assert!(check(&c, &["El CEMENTO GRÍS cuesta...".into()], false, &lead).is_empty());
        let problems = check(&c, &["Entrega gratis".into()], true, &json!({}));
        assert_eq!(problems.len(), 4, "{problems:?}");
    }

    #[test]
    fn arguments_and_test_numbers() {
        let args: Vec<String> = ["--tenant", "demo", "--url", "http://x:1/", "c.jsonl"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let o = parse_args(&args).unwrap();
        assert_eq!(
            (o.tenant.as_deref(), o.url.as_str(), o.file.as_str()),
            (Some("demo"), "http://x:1", "c.jsonl")
        );
        assert!(parse_args(&[]).is_none());
        assert_eq!(test_number("a"), test_number("a"));
        assert!(atiende_domain::PhoneNumber::parse(&test_number("case-1")).is_ok());
    }
}
