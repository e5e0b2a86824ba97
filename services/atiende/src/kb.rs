//! `atiende kb ingest`: loads a folder of documents into a tenant's knowledge, with progress.
//!
//! ```text
//! atiende kb ingest <tenant> <dir-or-file>… [--url URL] [--kind text|faq|catalog]
//!                                                 # admin token from $ATIENDE_ADMIN_TOKEN
//! ```
//!
//! Every `.txt`, `.md`, `.csv`, `.json` and `.pdf` under the given folders (recursively) is
//! uploaded to the admin API (`POST /admin/tenants/{tenant}/knowledge`, multipart) in batches of
//! at most [`BATCH_FILES`] files and [`BATCH_BYTES`] bytes, each as a background job whose
//! progress is polled and drawn as a progress bar (on a terminal; plain lines otherwise). Other
//! files are listed as skipped. Re-running it uploads everything again and changes only what
//! changed: documents are identified by file name and compared by content hash.
//!
//! The exit code is 0 when every batch was stored, 1 when one failed (the others are kept), 2
//! when nothing could be tried (bad arguments, unreachable server).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

/// Most files per upload.
pub const BATCH_FILES: usize = 25;
/// Most bytes per upload (under the admin API's default 16 MiB body limit).
pub const BATCH_BYTES: usize = 12 * 1024 * 1024;

const EXTENSIONS: &[&str] = &["txt", "md", "markdown", "csv", "json", "pdf"];

struct Options {
    tenant: String,
    paths: Vec<PathBuf>,
    url: String,
    kind: Option<String>,
}

/// What an ingestion run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Documents new or changed.
    pub stored: usize,
    /// Documents already stored with the same content.
    pub unchanged: usize,
    /// Passages of the stored and unchanged documents.
    pub passages: usize,
    /// Files not uploaded because atiende does not read their type.
    pub skipped: Vec<PathBuf>,
    /// Batches that failed, with why.
    pub failures: Vec<String>,
}

fn usage() -> String {
    "usage: atiende kb ingest <tenant> <dir-or-file>... [--url URL] [--kind text|faq|catalog]  \
     (admin token: $ATIENDE_ADMIN_TOKEN)"
        .to_owned()
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut args = args.iter();
    if args.next().map(String::as_str) != Some("ingest") {
        return Err(usage());
    }
    let mut options = Options {
        tenant: String::new(),
        paths: Vec::new(),
        url: "http://localhost:8080".to_owned(),
        kind: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => {
                options.url = args
                    .next()
                    .ok_or_else(usage)?
                    .trim_end_matches('/')
                    .to_owned();
            }
            "--kind" => options.kind = Some(args.next().ok_or_else(usage)?.clone()),
            other if other.starts_with('-') => return Err(usage()),
            word if options.tenant.is_empty() => options.tenant = word.to_owned(),
            path => options.paths.push(PathBuf::from(path)),
        }
    }
    if options.tenant.is_empty() || options.paths.is_empty() {
        return Err(usage());
    }
    Ok(options)
}

/// The files under `paths`, sorted, split into (supported, skipped).
fn collect(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<PathBuf>), String> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
        let metadata =
            std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if metadata.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            for entry in entries {
                let entry = entry.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let name = entry.file_name();
                // Hidden files and folders (.git, .DS_Store) are not knowledge.
                if !name.to_string_lossy().starts_with('.') {
                    walk(&entry.path(), out)?;
                }
            }
        } else {
            out.push(path.to_owned());
        }
        Ok(())
    }
    let mut files = Vec::new();
    for path in paths {
        walk(path, &mut files)?;
    }
    files.sort();
    Ok(files.into_iter().partition(|f| {
        f.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
    }))
}

/// Groups files into uploads of at most [`BATCH_FILES`] files and [`BATCH_BYTES`] bytes (a file
/// larger than that goes alone, and the server says whether it is too large).
fn batches(files: Vec<(PathBuf, Vec<u8>)>) -> Vec<Vec<(PathBuf, Vec<u8>)>> {
    let mut out: Vec<Vec<(PathBuf, Vec<u8>)>> = Vec::new();
    let mut bytes = 0;
    for file in files {
        let fits = out
            .last()
            .is_some_and(|batch| batch.len() < BATCH_FILES && bytes + file.1.len() <= BATCH_BYTES);
        if !fits {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += file.1.len();
        if let Some(batch) = out.last_mut() {
            batch.push(file);
        }
    }
    out
}

/// Runs `atiende kb`; `args` are the words after `kb`.
pub async fn main(args: &[String]) -> ExitCode {
    let Ok(token) = std::env::var("ATIENDE_ADMIN_TOKEN") else {
        eprintln!(
            "atiende kb: set ATIENDE_ADMIN_TOKEN to the admin API's token (the operator's, or a \
             tenant's editor or owner API key)"
        );
        return ExitCode::from(2);
    };
    match run(
        args,
        &token,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    )
    .await
    {
        Ok(summary) if summary.failures.is_empty() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("atiende kb: {e}");
            ExitCode::from(2)
        }
    }
}

/// Ingests the files `args` name with the admin `token`, drawing a progress bar when `bar` and
/// printing a summary. `Err` when nothing could be tried.
pub async fn run(args: &[String], token: &str, bar: bool) -> Result<Summary, String> {
    let options = parse_args(args)?;
    let (files, skipped) = collect(&options.paths)?;
    if files.is_empty() {
        return Err(format!(
            "no .txt, .md, .csv, .json or .pdf files under {}",
            options
                .paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut loaded = Vec::with_capacity(files.len());
    for file in files {
        let bytes =
            std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        loaded.push((file, bytes));
    }
    let total_files = loaded.len();
    let progress = ProgressBar::with_draw_target(
        Some(total_files as u64),
        if bar {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} files · {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    progress.enable_steady_tick(Duration::from_millis(120));

    let client = reqwest::Client::new();
    let mut summary = Summary {
        skipped,
        ..Summary::default()
    };
    let mut files_done = 0u64;
    for batch in batches(loaded) {
        let names: Vec<String> = batch
            .iter()
            .map(|(path, _)| path.display().to_string())
            .collect();
        let count = batch.len() as u64;
        match upload(&client, &options, token, batch, &progress, files_done).await {
            Ok(job) => {
                for document in job["documents"].as_array().into_iter().flatten() {
                    if document["unchanged"] == true {
                        summary.unchanged += 1;
                    } else {
                        summary.stored += 1;
                    }
                    summary.passages += usize::try_from(document["passages"].as_u64().unwrap_or(0))
                        .unwrap_or(usize::MAX);
                }
            }
            Err(e)
                if files_done == 0
                    && (e.starts_with("cannot reach") || e.starts_with("refused:")) =>
            {
                progress.finish_and_clear();
                return Err(e);
            }
            Err(e) => {
                progress.println(format!("failed: {}: {e}", names.join(", ")));
                summary.failures.push(format!("{}: {e}", names.join(", ")));
            }
        }
        files_done += count;
        progress.set_position(files_done);
    }
    progress.finish_and_clear();
    for file in &summary.skipped {
        println!(
            "skipped {} (not .txt, .md, .csv, .json or .pdf)",
            file.display()
        );
    }
    println!(
        "{} documents stored, {} unchanged, {} passages; {} skipped, {} failed batches",
        summary.stored,
        summary.unchanged,
        summary.passages,
        summary.skipped.len(),
        summary.failures.len()
    );
    Ok(summary)
}

/// Uploads one batch as a job and follows it to the end; the finished job's JSON.
async fn upload(
    client: &reqwest::Client,
    options: &Options,
    token: &str,
    batch: Vec<(PathBuf, Vec<u8>)>,
    progress: &ProgressBar,
    files_done: u64,
) -> Result<Value, String> {
    let mut form = reqwest::multipart::Form::new();
    if let Some(kind) = &options.kind {
        form = form.text("kind", kind.clone());
    }
    for (path, bytes) in batch {
        let name = path
            .file_name()
            .map_or_else(|| "upload".to_owned(), |n| n.to_string_lossy().into_owned());
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name),
        );
    }
    let base = format!("{}/admin/tenants/{}/knowledge", options.url, options.tenant);
    let response = client
        .post(&base)
        .bearer_auth(token)
        .header("Prefer", "respond-async")
        .multipart(form)
        .send()
        .await
        .map_err(|e| format!("cannot reach {}: {e}", options.url))?;
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut job: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(api_error(status, &job));
    }
    let Some(location) = location else {
        // A server that ran it synchronously answered with the outcome itself.
        return Ok(job);
    };
    loop {
        if job["state"] != "running" {
            break;
        }
        let p = &job["progress"];
        progress.set_message(format!(
            "embedding {}/{} passages, {}/{} documents stored",
            p["passages_embedded"], p["passages_total"], p["documents_done"], p["documents_total"]
        ));
        progress.set_position(files_done + p["documents_done"].as_u64().unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(250)).await;
        let response = client
            .get(format!("{}{location}", options.url))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| format!("lost {}: {e}", options.url))?;
        let status = response.status();
        job = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(api_error(status, &job));
        }
    }
    if job["state"] == "succeeded" {
        Ok(job)
    } else {
        Err(format!(
            "{}: {}",
            job["code"].as_str().unwrap_or("failed"),
            job["message"].as_str().unwrap_or("the job failed")
        ))
    }
}

/// What the admin API said, and for the refusals that will refuse every batch alike (a wrong
/// credential, a key whose role falls short, an unknown tenant) what to do about it, prefixed
/// `refused:` so the run stops at once.
fn api_error(status: reqwest::StatusCode, body: &Value) -> String {
    let said = match body["error"]["message"].as_str() {
        Some(message) => format!("HTTP {status}: {message}"),
        None => format!("HTTP {status}"),
    };
    let tenant_unknown = body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("tenant "));
    match status.as_u16() {
        401 | 503 => format!(
            "refused: {said} — set ATIENDE_ADMIN_TOKEN to the operator's token or to an editor's \
             API key of this tenant"
        ),
        403 => format!("refused: {said} — uploading knowledge needs an editor or owner key"),
        404 if tenant_unknown => format!(
            "refused: {said} — check the tenant id (`GET /admin/tenants` lists the ones this \
             credential sees)"
        ),
        _ => said,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn arguments_need_a_tenant_and_a_path() {
        let o = parse_args(&words("ingest demo docs extra --url http://x/ --kind faq")).unwrap();
        assert_eq!(o.tenant, "demo");
        assert_eq!(o.paths, vec![PathBuf::from("docs"), PathBuf::from("extra")]);
        assert_eq!(o.url, "http://x");
        assert_eq!(o.kind.as_deref(), Some("faq"));
        assert!(parse_args(&words("ingest demo")).is_err());
        assert!(parse_args(&words("ingest")).is_err());
        assert!(parse_args(&words("other demo docs")).is_err());
        assert!(parse_args(&words("ingest demo docs --bogus")).is_err());
    }

    #[test]
    fn batches_respect_file_and_byte_limits() {
        let file = |n: usize, size: usize| (PathBuf::from(format!("f{n}")), vec![0u8; size]);
        let many: Vec<_> = (0..BATCH_FILES * 2 + 1).map(|n| file(n, 1)).collect();
        let sizes: Vec<usize> = batches(many).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![BATCH_FILES, BATCH_FILES, 1]);
        let big = vec![
            file(0, BATCH_BYTES / 2),
            file(1, BATCH_BYTES / 2 + 1),
            file(2, BATCH_BYTES * 2),
            file(3, 10),
        ];
        let sizes: Vec<usize> = batches(big).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![1, 1, 1, 1]);
    }
}
