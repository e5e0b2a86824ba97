//! The web chat's transcripts on Firestore ([`WebChatStore`]).
//!
//! A visitor's messages arrive at ingest and the bot's replies are written by the dispatcher,
//! which on Cloud Run are different instances, each with a disk of its own: the transcript must
//! be shared. Layout:
//!
//! * `tenants/{tenant}/webchat/{session}`: the session, with `next_seq`, the counter lines are
//!   numbered by (a server-side increment, so two writers never take the same number);
//! * `tenants/{tenant}/webchat/{session}/lines/{seq}`: each line, its id the zero-padded number.
//!
//! Both carry [`WEBCHAT_TTL_FIELD`], a timestamp [`WEBCHAT_TTL`] after the session's last line,
//! which Firestore's TTL policies (terraform/firestore.tf) delete by: a transcript of an
//! abandoned chat does not stay forever.

use async_trait::async_trait;
use atiende_domain::{Author, TenantId};
use atiende_ports::{PortError, WebChatEntry, WebChatStore};
use chrono::{DateTime, Utc};
use firestore::FirestoreDb;
use firestore::gcloud_sdk::google::firestore::v1::value::ValueType;
use serde::{Deserialize, Serialize};

use crate::store::{FirestoreStores, classify, doc_id, increment};

/// A tenant's web chat sessions (sub-collection).
pub const WEBCHAT: &str = "webchat";
/// A session's lines (sub-collection of a session).
pub const WEBCHAT_LINES: &str = "lines";
/// The timestamp field the TTL policies of both collections delete by.
pub const WEBCHAT_TTL_FIELD: &str = "expire_at";
/// How long a transcript outlives its last line.
pub const WEBCHAT_TTL: chrono::Duration = chrono::Duration::days(7);

#[derive(Serialize, Deserialize)]
struct SessionDoc {
    created_at: i64,
    #[serde(with = "firestore::serialize_as_timestamp")]
    expire_at: jiff::Timestamp,
}

#[derive(Serialize, Deserialize)]
struct LineDoc {
    seq: i64,
    author: Author,
    text: String,
    at: i64,
    #[serde(with = "firestore::serialize_as_timestamp")]
    expire_at: jiff::Timestamp,
}

fn expiry(now: DateTime<Utc>) -> Result<jiff::Timestamp, PortError> {
    jiff::Timestamp::from_millisecond((now + WEBCHAT_TTL).timestamp_millis())
        .map_err(|e| PortError::permanent(format!("invalid expiry: {e}")))
}

impl FirestoreStores {
    fn session_path(&self, tenant: &TenantId, session: &str) -> Result<String, PortError> {
        Ok(format!(
            "{}/{WEBCHAT}/{}",
            self.tenant_parent(tenant.as_ref())?,
            doc_id(session)
        ))
    }

    /// Deletes every session of a tenant with its lines (part of deleting the tenant).
    pub(crate) async fn delete_webchat(&self, tenant: &TenantId) -> Result<(), PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        loop {
            let sessions = self
                .db()
                .fluent()
                .select()
                .fields(["created_at"])
                .from(WEBCHAT)
                .parent(&parent)
                .limit(100)
                .query()
                .await
                .map_err(classify)?;
            if sessions.is_empty() {
                return Ok(());
            }
            for session in sessions {
                self.delete_all(&session.name, WEBCHAT_LINES).await?;
                let id = session.name.rsplit('/').next().unwrap_or_default();
                self.db()
                    .fluent()
                    .delete()
                    .from(WEBCHAT)
                    .parent(&parent)
                    .document_id(id)
                    .execute()
                    .await
                    .map_err(classify)?;
            }
        }
    }
}

#[async_trait]
impl WebChatStore for FirestoreStores {
    async fn create_session(
        &self,
        tenant: &TenantId,
        session: &str,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let doc = SessionDoc {
            created_at: now.timestamp_millis(),
            expire_at: expiry(now)?,
        };
        match self
            .db()
            .fluent()
            .insert()
            .into(WEBCHAT)
            .document_id(doc_id(session))
            .parent(&parent)
            .object(&doc)
            .execute::<()>()
            .await
            .map_err(classify)
        {
            Ok(()) | Err(PortError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn session_started(
        &self,
        tenant: &TenantId,
        session: &str,
    ) -> Result<Option<DateTime<Utc>>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let doc: Option<SessionDoc> = self
            .db()
            .fluent()
            .select()
            .by_id_in(WEBCHAT)
            .parent(&parent)
            .obj()
            .one(doc_id(session))
            .await
            .map_err(classify)?;
        Ok(doc.and_then(|d| DateTime::from_timestamp_millis(d.created_at)))
    }

    async fn append(
        &self,
        tenant: &TenantId,
        session: &str,
        author: Author,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let expire_at = expiry(now)?;
        // One write: the session must exist, its counter goes up by one and its expiry moves;
        // the counter's new value is the line's number.
        let mut batch = self.batch();
        let session_doc = SessionDoc {
            created_at: 0,
            expire_at,
        };
        batch
            .update_object_at(
                &parent,
                WEBCHAT,
                doc_id(session),
                &session_doc,
                Some(vec![WEBCHAT_TTL_FIELD.to_owned()]),
                Some(firestore::FirestoreWritePrecondition::Exists(true)),
                vec![increment("next_seq", 1_i64)],
            )
            .map_err(classify)?;
        let results = Self::commit(batch).await.map_err(|e| match e {
            PortError::NotFound(_) | PortError::Conflict(_) => {
                PortError::NotFound(format!("web chat session {session}"))
            }
            other @ (PortError::Transient { .. } | PortError::Permanent { .. }) => other,
        })?;
        let seq = results
            .first()
            .and_then(|r| r.transform_results.first())
            .and_then(|v| match v.value.value_type {
                Some(ValueType::IntegerValue(n)) => Some(n),
                _ => None,
            })
            .ok_or_else(|| PortError::permanent("Firestore did not return the line's number"))?;
        let line = LineDoc {
            seq,
            author,
            text: text.to_owned(),
            at: now.timestamp_millis(),
            expire_at,
        };
        self.db()
            .fluent()
            .update()
            .in_col(WEBCHAT_LINES)
            .document_id(format!("{seq:012}"))
            .parent(self.session_path(tenant, session)?)
            .object(&line)
            .execute::<()>()
            .await
            .map_err(classify)?;
        Ok(seq)
    }

    async fn list_after(
        &self,
        tenant: &TenantId,
        session: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<WebChatEntry>, PortError> {
        let limit = u32::try_from(limit.clamp(1, 500)).unwrap_or(100);
        let docs: Vec<firestore::FirestoreDocument> = self
            .db()
            .fluent()
            .select()
            .from(WEBCHAT_LINES)
            .parent(self.session_path(tenant, session)?)
            .filter(|q| q.for_all([q.field(firestore::path!(LineDoc::seq)).greater_than(after)]))
            .order(|o| o.fields([o.field(firestore::path!(LineDoc::seq)).asc()]))
            .limit(limit)
            .query()
            .await
            .map_err(classify)?;
        docs.iter()
            .map(|d| {
                let line: LineDoc = FirestoreDb::deserialize_doc_to(d)
                    .map_err(|e| PortError::permanent(format!("corrupt web chat line: {e}")))?;
                Ok(WebChatEntry {
                    seq: line.seq,
                    author: line.author,
                    text: line.text,
                    at: DateTime::from_timestamp_millis(line.at).unwrap_or_default(),
                })
            })
            .collect()
    }
}
