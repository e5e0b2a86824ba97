//! Knowledge ingestion jobs' records on Firestore ([`JobStore`]).
//!
//! An upload's job runs in the admin instance that received it, but its status is asked of
//! whichever instance the load balancer picks, possibly after the first one scaled down. Layout:
//! `tenants/{tenant}/ingestion_jobs/{job}`, with [`JOBS_TTL_FIELD`] a timestamp
//! [`JOBS_TTL`] after the job started, which a Firestore TTL policy deletes by
//! (terraform/firestore.tf); listing returns the newest [`JOBS_KEPT`].

use async_trait::async_trait;
use atiende_domain::TenantId;
use atiende_ports::{JOBS_KEPT, JobRecord, JobStore, PortError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{FirestoreStores, classify, doc_id};

/// A tenant's ingestion jobs (sub-collection).
pub const INGESTION_JOBS: &str = "ingestion_jobs";
/// The timestamp field the TTL policy deletes jobs by.
pub const JOBS_TTL_FIELD: &str = "expire_at";
/// How long a job's record is kept.
pub const JOBS_TTL: chrono::Duration = chrono::Duration::days(30);

#[derive(Serialize, Deserialize)]
struct JobDoc {
    id: String,
    started_at: i64,
    heartbeat_at: i64,
    finished: bool,
    data: String,
    #[serde(with = "firestore::serialize_as_timestamp")]
    expire_at: jiff::Timestamp,
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl From<JobDoc> for JobRecord {
    fn from(d: JobDoc) -> Self {
        Self {
            id: d.id,
            started_at: at(d.started_at),
            heartbeat_at: at(d.heartbeat_at),
            finished: d.finished,
            data: d.data,
        }
    }
}

#[async_trait]
impl JobStore for FirestoreStores {
    async fn put_job(&self, tenant: &TenantId, job: &JobRecord) -> Result<(), PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let doc = JobDoc {
            id: job.id.clone(),
            started_at: job.started_at.timestamp_millis(),
            heartbeat_at: job.heartbeat_at.timestamp_millis(),
            finished: job.finished,
            data: job.data.clone(),
            expire_at: jiff::Timestamp::from_millisecond(
                (job.started_at + JOBS_TTL).timestamp_millis(),
            )
            .map_err(|e| PortError::permanent(format!("invalid expiry: {e}")))?,
        };
        self.db()
            .fluent()
            .update()
            .in_col(INGESTION_JOBS)
            .document_id(doc_id(&job.id))
            .parent(&parent)
            .object(&doc)
            .execute::<()>()
            .await
            .map_err(classify)
    }

    async fn job(&self, tenant: &TenantId, id: &str) -> Result<Option<JobRecord>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let doc: Option<JobDoc> = self
            .db()
            .fluent()
            .select()
            .by_id_in(INGESTION_JOBS)
            .parent(&parent)
            .obj()
            .one(doc_id(id))
            .await
            .map_err(classify)?;
        Ok(doc.map(JobRecord::from))
    }

    async fn jobs(&self, tenant: &TenantId, limit: usize) -> Result<Vec<JobRecord>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let limit = u32::try_from(limit.clamp(1, JOBS_KEPT)).unwrap_or(50);
        let docs: Vec<JobDoc> = self
            .db()
            .fluent()
            .select()
            .from(INGESTION_JOBS)
            .parent(&parent)
            .order(|o| o.fields([o.field(firestore::path!(JobDoc::started_at)).desc()]))
            .limit(limit)
            .obj()
            .query()
            .await
            .map_err(classify)?;
        Ok(docs.into_iter().map(JobRecord::from).collect())
    }
}
