//! Ingestion jobs: large uploads run in the background and report their progress.
//!
//! Embedding runs at about 30 passages a second on one core (docs/benchmarks.md), so a big
//! catalog takes minutes — longer than an HTTP request should wait. A job runs the same
//! ingestion as a synchronous upload, counting documents and passages as it goes; its status is
//! kept in the process that runs it (the admin service) for the most recent
//! [`MAX_JOBS_PER_TENANT`] jobs of each tenant. A job lost to a restart lost nothing stored:
//! documents are stored whole or not at all, and the upload can simply be sent again (it is
//! idempotent).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use atiende_domain::TenantId;
use atiende_ports::Clock;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{info, warn};

use super::{DocumentInput, IngestedDocument, KnowledgeService};
use crate::AppError;

/// Finished jobs kept per tenant for status queries; older ones are forgotten.
pub const MAX_JOBS_PER_TENANT: usize = 50;

/// What an ingestion has done so far.
#[derive(Debug, Default)]
pub struct IngestProgress {
    documents_total: AtomicUsize,
    documents_done: AtomicUsize,
    passages_total: AtomicUsize,
    passages_embedded: AtomicUsize,
}

/// A snapshot of [`IngestProgress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProgressView {
    /// Documents in the upload.
    pub documents_total: usize,
    /// Documents stored (or found unchanged).
    pub documents_done: usize,
    /// New passages to embed.
    pub passages_total: usize,
    /// New passages embedded (or found in the cache).
    pub passages_embedded: usize,
}

impl IngestProgress {
    pub(super) fn start(&self, documents: usize, passages: usize) {
        self.documents_total.store(documents, Ordering::Relaxed);
        self.passages_total.store(passages, Ordering::Relaxed);
    }

    pub(super) fn document_done(&self) {
        self.documents_done.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn embedded(&self, passages: usize) {
        self.passages_embedded
            .fetch_add(passages, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn view(&self) -> ProgressView {
        ProgressView {
            documents_total: self.documents_total.load(Ordering::Relaxed),
            documents_done: self.documents_done.load(Ordering::Relaxed),
            passages_total: self.passages_total.load(Ordering::Relaxed),
            passages_embedded: self.passages_embedded.load(Ordering::Relaxed),
        }
    }
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum JobState {
    /// Still working.
    Running,
    /// Done: what happened to each document.
    Succeeded {
        /// Per document, as a synchronous upload reports it.
        documents: Vec<IngestedDocument>,
    },
    /// Stopped; nothing of the upload was stored unless it says so in `message`.
    Failed {
        /// `validation`, `too_large`, `unsupported` or `unavailable`, `internal`.
        code: &'static str,
        /// Why.
        message: String,
    },
}

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    /// Its id.
    pub id: String,
    /// Its state, flattened (`state`, and `documents` or `code`/`message`).
    #[serde(flatten)]
    pub state: JobState,
    /// Its progress.
    pub progress: ProgressView,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

struct Job {
    id: String,
    started_at: DateTime<Utc>,
    progress: IngestProgress,
    outcome: Mutex<(JobState, Option<DateTime<Utc>>)>,
}

impl Job {
    fn view(&self) -> JobView {
        let (state, finished_at) = self
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        JobView {
            id: self.id.clone(),
            state,
            progress: self.progress.view(),
            started_at: self.started_at,
            finished_at,
        }
    }
}

/// Runs ingestions in the background and remembers how they went.
pub struct IngestionJobs {
    knowledge: Arc<KnowledgeService>,
    clock: Arc<dyn Clock>,
    /// Per tenant, oldest first.
    jobs: Mutex<HashMap<TenantId, Vec<Arc<Job>>>>,
}

impl IngestionJobs {
    /// Jobs over `knowledge`.
    pub fn new(knowledge: Arc<KnowledgeService>, clock: Arc<dyn Clock>) -> Self {
        Self {
            knowledge,
            clock,
            jobs: Mutex::new(HashMap::new()),
        }
    }

    /// Starts ingesting `documents` for `tenant` on the runtime; returns at once.
    pub fn start(self: &Arc<Self>, tenant: TenantId, documents: Vec<DocumentInput>) -> JobView {
        let job = Arc::new(Job {
            id: format!("job-{}", uuid::Uuid::new_v4().simple()),
            started_at: self.clock.now(),
            progress: IngestProgress::default(),
            outcome: Mutex::new((JobState::Running, None)),
        });
        {
            let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            let list = jobs.entry(tenant.clone()).or_default();
            list.push(job.clone());
            // Forget the oldest finished jobs beyond the limit; running ones stay.
            while list.len() > MAX_JOBS_PER_TENANT {
                let Some(oldest) = list.iter().position(|j| {
                    !matches!(
                        j.outcome.lock().unwrap_or_else(PoisonError::into_inner).0,
                        JobState::Running
                    )
                }) else {
                    break;
                };
                list.remove(oldest);
            }
        }
        let view = job.view();
        let this = self.clone();
        tokio::spawn(async move {
            let result = this
                .knowledge
                .ingest_with_progress(&tenant, documents, &job.progress)
                .await;
            let state = match result {
                Ok(documents) => {
                    info!(tenant = %tenant, job = %job.id, documents = documents.len(), "Ingestion job finished.");
                    JobState::Succeeded { documents }
                }
                Err(e) => {
                    warn!(tenant = %tenant, job = %job.id, error = %e, "Ingestion job failed.");
                    JobState::Failed {
                        code: error_code(&e),
                        message: e.to_string(),
                    }
                }
            };
            *job.outcome.lock().unwrap_or_else(PoisonError::into_inner) =
                (state, Some(this.clock.now()));
        });
        view
    }

    /// One of `tenant`'s jobs; another tenant's job id is not found.
    pub fn get(&self, tenant: &TenantId, id: &str) -> Result<JobView, AppError> {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .and_then(|list| list.iter().find(|j| j.id == id))
            .map(|j| j.view())
            .ok_or_else(|| AppError::NotFound(format!("ingestion job {id}")))
    }

    /// `tenant`'s recent jobs, newest first.
    pub fn list(&self, tenant: &TenantId) -> Vec<JobView> {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .map(|list| list.iter().rev().map(|j| j.view()).collect())
            .unwrap_or_default()
    }
}

fn error_code(error: &AppError) -> &'static str {
    match error {
        AppError::Validation(_) => "validation",
        AppError::TooLarge(_) => "too_large",
        AppError::Unsupported(_) => "unsupported",
        AppError::Unavailable(_) | AppError::Conflict(_) => "unavailable",
        AppError::NotFound(_) => "not_found",
        AppError::Forbidden(_) | AppError::Internal(_) => "internal",
    }
}
