//! Ingestion jobs: large uploads run in the background and report their progress.
//!
//! Embedding runs at about 30 passages a second on one core (docs/benchmarks.md), so a big
//! catalog takes minutes — longer than an HTTP request should wait. A job runs the same
//! ingestion as a synchronous upload in the process that received it, counting documents and
//! passages as it goes, and writes its status to the [`JobStore`] when it starts, every
//! [`HEARTBEAT`] while it runs and when it ends: on Cloud Run the next status request may reach
//! another admin instance, or come after this one scaled down.
//!
//! A job whose process died stops beating; once its last beat is older than [`STALE_AFTER`] it
//! is reported — and recorded — as failed with the code `interrupted`, never left "running".
//! Nothing stored is lost with it: documents are stored whole or not at all, and the upload can
//! simply be sent again (it is idempotent).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use atiende_domain::TenantId;
use atiende_ports::{Clock, JOBS_KEPT, JobRecord, JobStore, PortError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::{DocumentInput, IngestedDocument, KnowledgeService};
use crate::AppError;

/// How often a running job writes its progress (and so says it is alive).
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long after its last beat a running job is taken for dead.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// Jobs kept per tenant for status queries; older ones are forgotten.
pub const MAX_JOBS_PER_TENANT: usize = JOBS_KEPT;

/// What an ingestion has done so far.
#[derive(Debug, Default)]
pub struct IngestProgress {
    documents_total: AtomicUsize,
    documents_done: AtomicUsize,
    passages_total: AtomicUsize,
    passages_embedded: AtomicUsize,
}

/// A snapshot of [`IngestProgress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
        /// `validation`, `too_large`, `unsupported`, `unavailable`, `internal`, or
        /// `interrupted` (the process running it stopped).
        code: String,
        /// Why.
        message: String,
    },
}

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// Runs ingestions in the background and keeps their status in the [`JobStore`].
pub struct IngestionJobs {
    knowledge: Arc<KnowledgeService>,
    store: Arc<dyn JobStore>,
    clock: Arc<dyn Clock>,
}

impl IngestionJobs {
    /// Jobs over `knowledge`, recorded in `store`.
    pub fn new(
        knowledge: Arc<KnowledgeService>,
        store: Arc<dyn JobStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            knowledge,
            store,
            clock,
        }
    }

    /// Records a new job for `tenant` and starts ingesting `documents` on the runtime; returns
    /// once the job is recorded (any admin instance can then tell its status).
    pub async fn start(
        self: &Arc<Self>,
        tenant: TenantId,
        documents: Vec<DocumentInput>,
    ) -> Result<JobView, AppError> {
        let view = JobView {
            id: format!("job-{}", uuid::Uuid::new_v4().simple()),
            state: JobState::Running,
            progress: IngestProgress::default().view(),
            started_at: self.clock.now(),
            finished_at: None,
        };
        self.record(&tenant, &view).await?;
        let (this, job) = (self.clone(), view.clone());
        tokio::spawn(async move { this.run(tenant, job, documents).await });
        Ok(view)
    }

    async fn run(&self, tenant: TenantId, mut job: JobView, documents: Vec<DocumentInput>) {
        let progress = IngestProgress::default();
        let ingest = self
            .knowledge
            .ingest_with_progress(&tenant, documents, &progress);
        tokio::pin!(ingest);
        let mut beats = tokio::time::interval(HEARTBEAT);
        beats.tick().await;
        let result = loop {
            tokio::select! {
                result = &mut ingest => break result,
                _ = beats.tick() => {
                    job.progress = progress.view();
                    if let Err(e) = self.record(&tenant, &job).await {
                        warn!(tenant = %tenant, job = %job.id, error = %e, "Could not record an ingestion job's progress.");
                    }
                }
            }
        };
        job.progress = progress.view();
        job.state = match result {
            Ok(documents) => {
                info!(tenant = %tenant, job = %job.id, documents = documents.len(), "Ingestion job finished.");
                JobState::Succeeded { documents }
            }
            Err(e) => {
                warn!(tenant = %tenant, job = %job.id, error = %e, "Ingestion job failed.");
                JobState::Failed {
                    code: error_code(&e).to_owned(),
                    message: e.to_string(),
                }
            }
        };
        job.finished_at = Some(self.clock.now());
        // The outcome must not be lost to a passing store error: a few tries, then the job is
        // reported interrupted once its beats stop.
        for attempt in 0..3 {
            match self.record(&tenant, &job).await {
                Ok(()) => return,
                Err(e) => {
                    warn!(tenant = %tenant, job = %job.id, attempt, error = %e, "Could not record an ingestion job's outcome.");
                    tokio::time::sleep(HEARTBEAT).await;
                }
            }
        }
    }

    async fn record(&self, tenant: &TenantId, job: &JobView) -> Result<(), AppError> {
        let data = serde_json::to_string(job)
            .map_err(|e| AppError::Internal(PortError::permanent_from("cannot encode a job", e)))?;
        self.store
            .put_job(
                tenant,
                &JobRecord {
                    id: job.id.clone(),
                    started_at: job.started_at,
                    heartbeat_at: self.clock.now(),
                    finished: job.finished_at.is_some(),
                    data,
                },
            )
            .await?;
        Ok(())
    }

    /// The job as stored, or as failed if the process running it has stopped beating (the
    /// verdict is recorded, so the job is never left running).
    async fn view(&self, tenant: &TenantId, record: JobRecord) -> Result<JobView, AppError> {
        let mut view: JobView = serde_json::from_str(&record.data).map_err(|e| {
            AppError::Internal(PortError::permanent(format!(
                "corrupt ingestion job {}: {e}",
                record.id
            )))
        })?;
        let silent = (self.clock.now() - record.heartbeat_at)
            .to_std()
            .unwrap_or_default();
        if !record.finished && silent > STALE_AFTER {
            view.state = JobState::Failed {
                code: "interrupted".to_owned(),
                message: format!(
                    "the admin instance running it stopped {}s ago; documents it stored are kept, and sending the upload again stores the rest",
                    silent.as_secs()
                ),
            };
            view.finished_at = Some(self.clock.now());
            if let Err(e) = self.record(tenant, &view).await {
                warn!(tenant = %tenant, job = %view.id, error = %e, "Could not record an interrupted ingestion job.");
            }
        }
        Ok(view)
    }

    /// One of `tenant`'s jobs; another tenant's job id is not found.
    pub async fn get(&self, tenant: &TenantId, id: &str) -> Result<JobView, AppError> {
        let record = self
            .store
            .job(tenant, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("ingestion job {id}")))?;
        self.view(tenant, record).await
    }

    /// `tenant`'s recent jobs, newest first.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<JobView>, AppError> {
        let mut views = Vec::new();
        for record in self.store.jobs(tenant, MAX_JOBS_PER_TENANT).await? {
            views.push(self.view(tenant, record).await?);
        }
        Ok(views)
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
