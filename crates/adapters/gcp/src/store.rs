//! The state ports on Firestore (the `firestore` crate over gRPC).
//!
//! Layout, as in the seeds: a document per tenant at `tenants/{tenant}`, and what the tenant owns
//! under it — `conversations/{conversation}`, `outbox/{action}`, `delivery/{channel}:{message}`,
//! and its knowledge (`crate::knowledge`).
//! Dead letters live at `dead_letters/{auto id}`, publish dedupe keys at `dedupe/{key}` with an
//! `expire_at` timestamp a Firestore TTL policy deletes (terraform/firestore.tf).
//!
//! Each document keeps the fields queries filter and sort on (`state`, `updated_at`) as native
//! Firestore fields and the domain value as its JSON (`data`), so one codec (the one SQLite uses)
//! defines what a conversation or a tenant is, in both stores.
//!
//! Optimistic concurrency uses Firestore's own write preconditions, one RPC per save, no
//! transaction: a conversation's version *is* its document's `update_time` (in nanoseconds),
//! and a save presents it as an `UpdateTime` precondition. A save over a stale read fails with
//! `FAILED_PRECONDITION`, reported as [`PortError::Conflict`], so two processors can never both
//! answer one message.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use atiende_domain::{
    ActionId, Channel, Conversation, ConversationId, ConversationState, DeliveryState,
    OutboundAction, StatusUpdate, Tenant, TenantId,
};
use atiende_ports::{
    Claim, ConversationFilter, ConversationStore, DeadLetter, DeadLetterStore, DeliveryLog,
    HealthCheck, Outbox, OutboxRecord, OutboxState, PortError, TenantStore, Versioned, tenant_doc,
};
use chrono::{DateTime, Utc};
use firestore::errors::FirestoreError;
use firestore::{
    FirestoreBatch, FirestoreBatchWriteResponse, FirestoreDb, FirestoreDbOptions, FirestoreResult,
    FirestoreSimpleBatchWriteOptions, FirestoreSimpleBatchWriter, FirestoreWritePrecondition,
    FirestoreWriteResult,
};
use serde::{Deserialize, Serialize};

/// The collection of tenants.
pub const TENANTS: &str = "tenants";
/// A tenant's conversations (sub-collection).
pub const CONVERSATIONS: &str = "conversations";
/// A tenant's outbox records (sub-collection).
pub const OUTBOX: &str = "outbox";
const DELIVERY: &str = "delivery";
const DEAD_LETTERS: &str = "dead_letters";
/// A tenant's desk revision: `tenants/{t}/desk/revision`, a counter bumped by every save of a
/// conversation that involves a person, which the agent console watches.
const DESK: &str = "desk";
const DESK_REVISION: &str = "revision";
/// The phone number each WhatsApp user id came with: `tenants/{t}/contact_aliases/{user id}`.
const CONTACT_ALIASES: &str = "contact_aliases";
/// Publish dedupe keys; terraform/firestore.tf puts a TTL policy on [`DEDUPE_TTL_FIELD`].
pub const DEDUPE: &str = "dedupe";
/// The timestamp field Firestore's TTL policy deletes dedupe keys by.
pub const DEDUPE_TTL_FIELD: &str = "expire_at";

/// Every state port on Firestore: tenants, conversations, the outbox, delivery receipts, dead
/// letters and publish dedupe keys here; knowledge, embeddings, agents and desk links, web chat,
/// accounts, usage and the audit in their own modules.
#[derive(Clone)]
pub struct FirestoreStores {
    db: Arc<FirestoreDb>,
    batches: Arc<FirestoreSimpleBatchWriter>,
}

impl std::fmt::Debug for FirestoreStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirestoreStores").finish_non_exhaustive()
    }
}

impl FirestoreStores {
    /// Connects to `database` (usually `(default)`) of `project`, with Application Default
    /// Credentials — or to the emulator `FIRESTORE_EMULATOR_HOST` names, with none.
    pub async fn connect(project: &str, database: &str) -> Result<Self, PortError> {
        let options =
            FirestoreDbOptions::new(project.to_owned()).with_database_id(database.to_owned());
        let db = FirestoreDb::with_options(options)
            .await
            .map_err(|e| PortError::transient_from("cannot connect to Firestore", e))?;
        // A batch that keeps failing is reported after a bounded time: the caller (a bus
        // delivery, an HTTP request) decides whether to try again, not the writer forever.
        let batches = FirestoreSimpleBatchWriter::new(
            db.clone(),
            FirestoreSimpleBatchWriteOptions::new()
                .with_retry_max_elapsed_time(std::time::Duration::from_secs(10)),
        )
        .await
        .map_err(classify)?;
        Ok(Self {
            db: Arc::new(db),
            batches: Arc::new(batches),
        })
    }

    /// A batch of writes (at most [`MAX_BATCH`]), sent with [`FirestoreStores::commit`]. Each
    /// write applies atomically on its own (field transforms included); the batch as a whole
    /// does not.
    pub(crate) fn batch(&self) -> FirestoreBatch<'_, FirestoreSimpleBatchWriter> {
        self.batches.new_batch()
    }

    /// Sends `batch`; any write Firestore refused fails the call, classified like a single
    /// write's error. Returns each write's result (with its transforms' results) in order.
    pub(crate) async fn commit(
        batch: FirestoreBatch<'_, FirestoreSimpleBatchWriter>,
    ) -> Result<Vec<FirestoreWriteResult>, PortError> {
        checked(batch.write().await)
    }

    pub(crate) fn tenant_parent(&self, tenant: &str) -> Result<String, PortError> {
        Ok(self
            .db
            .parent_path(TENANTS, doc_id(tenant))
            .map_err(classify)?
            .into())
    }

    async fn bump_desk_revision(&self, parent: &str) -> Result<(), PortError> {
        let mut batch = self.batch();
        batch
            .update_object_at(
                parent,
                DESK,
                DESK_REVISION,
                &DeskRevisionDoc::default(),
                Some(Vec::new()),
                None,
                vec![increment("n", 1_i64)],
            )
            .map_err(classify)?;
        Self::commit(batch).await.map(|_| ())
    }

    pub(crate) fn db(&self) -> &FirestoreDb {
        &self.db
    }

    /// Whether the dedupe `key` was recorded and has not expired by `now` (Firestore's TTL
    /// deletes expired documents within a day, not at once).
    pub async fn dedupe_key_seen(&self, key: &str, now: DateTime<Utc>) -> Result<bool, PortError> {
        let doc: Option<DedupeDoc> = self
            .db
            .fluent()
            .select()
            .by_id_in(DEDUPE)
            .obj()
            .one(doc_id(key))
            .await
            .map_err(classify)?;
        Ok(doc.is_some_and(|d| d.expire_at.as_millisecond() > now.timestamp_millis()))
    }

    /// Records the dedupe `key` until `expire_at` (the publisher's webhook dedupe).
    pub async fn remember_dedupe_key(
        &self,
        key: &str,
        expire_at: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let doc = DedupeDoc {
            expire_at: jiff::Timestamp::from_millisecond(expire_at.timestamp_millis())
                .map_err(|e| PortError::permanent(format!("invalid expiry: {e}")))?,
        };
        self.db
            .fluent()
            .update()
            .in_col(DEDUPE)
            .document_id(doc_id(key))
            .object(&doc)
            .execute::<()>()
            .await
            .map_err(classify)
    }

    /// Deletes every document of `collection` under `parent` (not their sub-collections).
    pub(crate) async fn delete_all(&self, parent: &str, collection: &str) -> Result<(), PortError> {
        loop {
            let docs = self
                .db
                .fluent()
                .select()
                .fields(["updated_at"])
                .from(collection)
                .parent(parent)
                .limit(200)
                .query()
                .await
                .map_err(classify)?;
            if docs.is_empty() {
                return Ok(());
            }
            for doc in docs {
                let id = doc.name.rsplit('/').next().unwrap_or_default().to_owned();
                self.db
                    .fluent()
                    .delete()
                    .from(collection)
                    .parent(parent)
                    .document_id(id)
                    .execute()
                    .await
                    .map_err(classify)?;
            }
        }
    }
}

/// A document id for any string: Firestore ids cannot contain `/` (nor be `.`, `..` or
/// `__…__`), so `%` and `/` are percent-encoded and a leading `_` or `.` escaped.
pub(crate) fn doc_id(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for (i, c) in raw.chars().enumerate() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '.' | '_' if i == 0 => out.push_str(if c == '.' { "%2E" } else { "%5F" }),
            c => out.push(c),
        }
    }
    out
}

/// The most writes one `BatchWrite` request may carry.
pub(crate) const MAX_BATCH: usize = 500;

/// A server-side increment of `field` by `by` (an `i64` or an `f64`), applied atomically with
/// the write that carries it.
pub(crate) fn increment(
    field: &str,
    by: impl Into<firestore::FirestoreValue>,
) -> firestore::FirestoreFieldTransform {
    firestore::FirestoreFieldTransform {
        field: field.to_owned(),
        transform_type: firestore::FirestoreFieldTransformType::Increment(by.into()),
    }
}

/// A batch's answer, with per-write refusals turned into the port's errors.
fn checked(
    response: FirestoreResult<FirestoreBatchWriteResponse>,
) -> Result<Vec<FirestoreWriteResult>, PortError> {
    let response = response.map_err(classify)?;
    for status in &response.statuses {
        // google.rpc.Code: 0 OK, 5 NOT_FOUND, 6 ALREADY_EXISTS, 9 FAILED_PRECONDITION,
        // 4/8/10/14 deadline, exhausted, aborted, unavailable.
        match status.code {
            0 => {}
            5 => return Err(PortError::NotFound(status.message.clone())),
            6 | 9 => return Err(PortError::Conflict(status.message.clone())),
            4 | 8 | 10 | 14 => {
                return Err(PortError::transient(format!(
                    "Firestore is unavailable: {}",
                    status.message
                )));
            }
            code => {
                return Err(PortError::permanent(format!(
                    "Firestore refused a write (code {code}): {}",
                    status.message
                )));
            }
        }
    }
    Ok(response.write_results)
}

/// Maps Firestore's errors onto the port's classification.
pub(crate) fn classify(error: FirestoreError) -> PortError {
    match &error {
        FirestoreError::DataConflictError(_) => PortError::Conflict(error.to_string()),
        FirestoreError::DataNotFoundError(_) => PortError::NotFound(error.to_string()),
        FirestoreError::DatabaseError(db) if db.public.code == "FailedPrecondition" => {
            PortError::Conflict(error.to_string())
        }
        FirestoreError::DatabaseError(db) if db.retry_possible => {
            PortError::transient_from("Firestore is unavailable", error)
        }
        FirestoreError::NetworkError(_) | FirestoreError::SystemError(_) => {
            PortError::transient_from("Firestore is unreachable", error)
        }
        FirestoreError::DatabaseError(_)
        | FirestoreError::InvalidParametersError(_)
        | FirestoreError::SerializeError(_)
        | FirestoreError::DeserializeError(_)
        | FirestoreError::ErrorInTransaction(_)
        | FirestoreError::CacheError(_) => {
            PortError::permanent_from("Firestore refused the request", error)
        }
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> PortError {
    PortError::permanent(format!("corrupt {what} document: {e}"))
}

/// A document's `update_time` as a version number (nanoseconds since the epoch).
pub(crate) fn version_of(doc: &firestore::FirestoreDocument) -> Result<u64, PortError> {
    let t = doc
        .update_time
        .as_ref()
        .ok_or_else(|| PortError::permanent("Firestore returned a document without update_time"))?;
    let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    u64::try_from(nanos).map_err(|_| PortError::permanent("update_time before 1970"))
}

fn precondition_of(version: u64) -> Result<FirestoreWritePrecondition, PortError> {
    let at = jiff::Timestamp::from_nanosecond(i128::from(version))
        .map_err(|e| PortError::permanent(format!("invalid version {version}: {e}")))?;
    Ok(FirestoreWritePrecondition::UpdateTime(at))
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[derive(Serialize, Deserialize)]
struct DedupeDoc {
    /// A timestamp field: the TTL policy's.
    #[serde(with = "firestore::serialize_as_timestamp")]
    expire_at: jiff::Timestamp,
}

#[derive(Serialize, Deserialize)]
struct TenantDoc {
    data: String,
    updated_at: i64,
}

#[derive(Serialize, Deserialize)]
struct ConversationDoc {
    tenant: String,
    state: String,
    updated_at: i64,
    data: String,
    /// New on every save. Firestore keeps a document's `update_time` when a write changes
    /// nothing, so without it a save of an unchanged conversation would keep the version and
    /// let a second save over the same read succeed too.
    #[serde(default)]
    save_id: String,
}

#[derive(Serialize, Deserialize)]
struct OutboxDoc {
    action_id: String,
    tenant: String,
    conversation: String,
    channel: String,
    state: String,
    provider_message_id: Option<String>,
    detail: Option<String>,
    attempts: i64,
    updated_at: i64,
}

#[derive(Serialize, Deserialize)]
struct DeliveryDoc {
    state: String,
    error_code: Option<String>,
    updated_at: i64,
}

#[derive(Serialize, Deserialize)]
struct AliasDoc {
    phone: String,
}

#[derive(Serialize, Deserialize, Default)]
struct DeskRevisionDoc {
    #[serde(default)]
    n: i64,
}

#[derive(Serialize, Deserialize)]
struct DeadLetterDoc {
    #[serde(default)]
    id: String,
    subscription: String,
    message_id: String,
    ordering_key: Option<String>,
    attributes: String,
    data: String,
    reason: String,
    attempts: i64,
    at: i64,
}

impl OutboxDoc {
    fn record(self) -> Result<OutboxRecord, PortError> {
        let bad = |what: &str| corrupt("outbox", what);
        Ok(OutboxRecord {
            action_id: ActionId::parse(self.action_id).map_err(|_| bad("action id"))?,
            tenant: TenantId::parse(self.tenant).map_err(|_| bad("tenant"))?,
            conversation: ConversationId::parse(self.conversation)
                .map_err(|_| bad("conversation"))?,
            channel: Channel::parse(&self.channel).map_err(|_| bad("channel"))?,
            state: OutboxState::parse(&self.state).ok_or_else(|| bad("state"))?,
            provider_message_id: self.provider_message_id,
            detail: self.detail,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            updated_at: from_millis(self.updated_at),
        })
    }
}

fn state_name(state: ConversationState) -> Result<String, PortError> {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .ok_or_else(|| PortError::permanent("a conversation state without a name"))
}

#[async_trait]
impl TenantStore for FirestoreStores {
    async fn get(&self, id: &TenantId) -> Result<Option<Arc<Tenant>>, PortError> {
        let doc: Option<TenantDoc> = self
            .db
            .fluent()
            .select()
            .by_id_in(TENANTS)
            .obj()
            .one(doc_id(id.as_ref()))
            .await
            .map_err(classify)?;
        doc.map(|d| tenant_doc::decode(&d.data).map(Arc::new))
            .transpose()
    }

    async fn list(&self) -> Result<Vec<Arc<Tenant>>, PortError> {
        let docs: Vec<TenantDoc> = self
            .db
            .fluent()
            .select()
            .from(TENANTS)
            .order(|o| o.fields([o.field(firestore::path!(TenantDoc::updated_at)).asc()]))
            .obj()
            .query()
            .await
            .map_err(classify)?;
        let mut tenants = docs
            .iter()
            .map(|d| tenant_doc::decode(&d.data).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        tenants.sort_by(|a, b| a.id.as_ref().cmp(b.id.as_ref()));
        Ok(tenants)
    }

    async fn create(&self, tenant: &Tenant) -> Result<(), PortError> {
        let doc = TenantDoc {
            data: tenant_doc::encode(tenant)?,
            updated_at: millis(tenant.updated_at),
        };
        self.db
            .fluent()
            .insert()
            .into(TENANTS)
            .document_id(doc_id(tenant.id.as_ref()))
            .object(&doc)
            .execute::<()>()
            .await
            .map_err(|e| match classify(e) {
                PortError::Conflict(_) => {
                    PortError::Conflict(format!("tenant {} already exists", tenant.id))
                }
                other @ (PortError::NotFound(_)
                | PortError::Transient { .. }
                | PortError::Permanent { .. }) => other,
            })
    }

    async fn update(&self, tenant: &Tenant) -> Result<(), PortError> {
        let doc = TenantDoc {
            data: tenant_doc::encode(tenant)?,
            updated_at: millis(tenant.updated_at),
        };
        self.db
            .fluent()
            .update()
            .in_col(TENANTS)
            .precondition(FirestoreWritePrecondition::Exists(true))
            .document_id(doc_id(tenant.id.as_ref()))
            .object(&doc)
            .execute::<()>()
            .await
            .map_err(|e| match classify(e) {
                // A missing document fails the `Exists` precondition.
                PortError::Conflict(_) | PortError::NotFound(_) => {
                    PortError::NotFound(format!("tenant {}", tenant.id))
                }
                other @ (PortError::Transient { .. } | PortError::Permanent { .. }) => other,
            })
    }

    async fn delete(&self, id: &TenantId) -> Result<bool, PortError> {
        let existed = TenantStore::get(self, id).await?.is_some();
        let parent = self.tenant_parent(id.as_ref())?;
        // Everything the tenant owns goes with it: first what lives outside its document's
        // tree (agents' keys) and what nests deeper (web chat lines), then each collection.
        self.delete_agent_keys(id).await?;
        self.delete_api_key_digests(id).await?;
        self.delete_webchat(id).await?;
        for collection in [
            CONVERSATIONS,
            OUTBOX,
            DELIVERY,
            "knowledge",
            "knowledge_chunks",
            "knowledge_meta",
            crate::desk::AGENTS,
            crate::keys::API_KEYS,
            crate::stats::DAILY_STATS,
            crate::desk::DESK_LINKS,
            crate::assistant::ACCOUNTS,
            crate::assistant::ACCOUNTS_META,
            crate::assistant::USAGE,
            crate::assistant::AUDIT,
            crate::embeddings::EMBEDDINGS,
            crate::jobs::INGESTION_JOBS,
            DESK,
            CONTACT_ALIASES,
        ] {
            self.delete_all(&parent, collection).await?;
        }
        self.db
            .fluent()
            .delete()
            .from(TENANTS)
            .document_id(doc_id(id.as_ref()))
            .execute()
            .await
            .map_err(classify)?;
        Ok(existed)
    }
}

#[async_trait]
impl ConversationStore for FirestoreStores {
    async fn load(
        &self,
        id: &ConversationId,
    ) -> Result<Option<Versioned<Conversation>>, PortError> {
        let parent = self.tenant_parent(id.tenant().as_ref())?;
        let Some(doc) = self
            .db
            .fluent()
            .select()
            .by_id_in(CONVERSATIONS)
            .parent(&parent)
            .one(doc_id(id.as_str()))
            .await
            .map_err(classify)?
        else {
            return Ok(None);
        };
        let version = version_of(&doc)?;
        let stored: ConversationDoc =
            FirestoreDb::deserialize_doc_to(&doc).map_err(|e| corrupt("conversation", e))?;
        let value: Conversation =
            serde_json::from_str(&stored.data).map_err(|e| corrupt("conversation", e))?;
        Ok(Some(Versioned { value, version }))
    }

    async fn phone_of(
        &self,
        tenant: &TenantId,
        user: &atiende_domain::UserId,
    ) -> Result<Option<atiende_domain::PhoneNumber>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let doc: Option<AliasDoc> = self
            .db
            .fluent()
            .select()
            .by_id_in(CONTACT_ALIASES)
            .parent(&parent)
            .obj()
            .one(doc_id(user.as_str()))
            .await
            .map_err(classify)?;
        doc.map(|d| {
            atiende_domain::PhoneNumber::parse(&d.phone).map_err(|e| corrupt("contact alias", e))
        })
        .transpose()
    }

    async fn remember_phone(
        &self,
        tenant: &TenantId,
        user: &atiende_domain::UserId,
        phone: &atiende_domain::PhoneNumber,
    ) -> Result<(), PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        self.db
            .fluent()
            .update()
            .in_col(CONTACT_ALIASES)
            .document_id(doc_id(user.as_str()))
            .parent(&parent)
            .object(&AliasDoc {
                phone: phone.as_str().to_owned(),
            })
            .execute::<()>()
            .await
            .map_err(classify)
    }

    async fn desk_revision(&self, tenant: &TenantId) -> Result<String, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let doc: Option<DeskRevisionDoc> = self
            .db
            .fluent()
            .select()
            .by_id_in(DESK)
            .parent(&parent)
            .obj()
            .one(DESK_REVISION)
            .await
            .map_err(classify)?;
        Ok(doc.map_or(0, |d| d.n).to_string())
    }

    async fn save(
        &self,
        conversation: &Conversation,
        expected: Option<u64>,
    ) -> Result<u64, PortError> {
        let parent = self.tenant_parent(conversation.tenant.as_ref())?;
        let doc = ConversationDoc {
            tenant: conversation.tenant.to_string(),
            state: state_name(conversation.state)?,
            updated_at: millis(conversation.updated_at),
            data: serde_json::to_string(conversation)
                .map_err(|e| PortError::permanent_from("cannot encode a conversation", e))?,
            save_id: uuid::Uuid::new_v4().simple().to_string(),
        };
        let id = doc_id(conversation.id.as_str());
        // A create names the document by its id (the body must not carry a name); an update
        // by its full path.
        let path = match expected {
            None => String::new(),
            Some(_) => format!("{parent}/{CONVERSATIONS}/{id}"),
        };
        let document = FirestoreDb::serialize_to_doc(path, &doc)
            .map_err(|e| PortError::permanent_from("cannot encode a conversation", e))?;
        let conflict = || {
            PortError::Conflict(format!(
                "conversation {} changed since it was read",
                conversation.id.masked()
            ))
        };
        let written = match expected {
            None => {
                self.db
                    .fluent()
                    .insert()
                    .into(CONVERSATIONS)
                    .document_id(id)
                    .parent(&parent)
                    .document(document)
                    .execute()
                    .await
            }
            Some(version) => {
                self.db
                    .fluent()
                    .update()
                    .in_col(CONVERSATIONS)
                    .precondition(precondition_of(version)?)
                    .document(document)
                    .execute()
                    .await
            }
        };
        match written.map_err(classify) {
            Ok(doc) => {
                let version = version_of(&doc)?;
                if atiende_ports::store::involves_desk(conversation) {
                    // After the save, not with it: a lost bump only delays a console's refresh
                    // until its periodic full read, never a conversation.
                    if let Err(e) = self.bump_desk_revision(&parent).await {
                        tracing::warn!(error = %e, "Could not bump the desk revision.");
                    }
                }
                Ok(version)
            }
            Err(PortError::Conflict(_) | PortError::NotFound(_)) => Err(conflict()),
            Err(other) => Err(other),
        }
    }

    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ConversationFilter,
    ) -> Result<Vec<Conversation>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let state = filter.state.map(state_name).transpose()?;
        let limit = u32::try_from(filter.limit.clamp(1, 1000)).unwrap_or(100);
        let docs: Vec<ConversationDoc> = self
            .db
            .fluent()
            .select()
            .from(CONVERSATIONS)
            .parent(&parent)
            .filter(|q| {
                q.for_all([state.as_ref().and_then(|s| {
                    q.field(firestore::path!(ConversationDoc::state))
                        .eq(s.as_str())
                })])
            })
            .order(|o| {
                o.fields([o
                    .field(firestore::path!(ConversationDoc::updated_at))
                    .desc()])
            })
            .limit(limit)
            .obj()
            .query()
            .await
            .map_err(classify)?;
        docs.iter()
            .map(|d| serde_json::from_str(&d.data).map_err(|e| corrupt("conversation", e)))
            .collect()
    }
}

#[async_trait]
impl Outbox for FirestoreStores {
    async fn claim(&self, action: &OutboundAction, now: DateTime<Utc>) -> Result<Claim, PortError> {
        let parent = self.tenant_parent(action.tenant.as_ref())?;
        let id = doc_id(&action.id.to_string());
        // Two dispatchers may race for one action: the loser of a write sees the winner's record
        // on its next read. A bounded loop, since each lost race means someone else progressed.
        for _ in 0..5 {
            let existing = self
                .db
                .fluent()
                .select()
                .by_id_in(OUTBOX)
                .parent(&parent)
                .one(&id)
                .await
                .map_err(classify)?;
            let Some(doc) = existing else {
                let fresh = OutboxDoc {
                    action_id: action.id.to_string(),
                    tenant: action.tenant.to_string(),
                    conversation: action.conversation.to_string(),
                    channel: action.channel.as_str().to_owned(),
                    state: OutboxState::Sending.as_str().to_owned(),
                    provider_message_id: None,
                    detail: None,
                    attempts: 1,
                    updated_at: millis(now),
                };
                match self
                    .db
                    .fluent()
                    .insert()
                    .into(OUTBOX)
                    .document_id(&id)
                    .parent(&parent)
                    .object(&fresh)
                    .execute::<()>()
                    .await
                    .map_err(classify)
                {
                    Ok(()) => return Ok(Claim::Claimed { attempts: 1 }),
                    Err(PortError::Conflict(_)) => continue,
                    Err(e) => return Err(e),
                }
            };
            let version = version_of(&doc)?;
            let mut stored: OutboxDoc =
                FirestoreDb::deserialize_doc_to(&doc).map_err(|e| corrupt("outbox", e))?;
            if stored.state != OutboxState::Sending.as_str() {
                return Ok(Claim::AlreadyDone(stored.record()?));
            }
            stored.attempts += 1;
            stored.updated_at = millis(now);
            let attempts = u32::try_from(stored.attempts).unwrap_or(u32::MAX);
            match self
                .db
                .fluent()
                .update()
                .in_col(OUTBOX)
                .precondition(precondition_of(version)?)
                .document_id(&id)
                .parent(&parent)
                .object(&stored)
                .execute::<()>()
                .await
                .map_err(classify)
            {
                Ok(()) => return Ok(Claim::Claimed { attempts }),
                Err(PortError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(PortError::transient(format!(
            "outbox record {} is contended",
            action.id
        )))
    }

    async fn finish(
        &self,
        tenant: &TenantId,
        action: &ActionId,
        state: OutboxState,
        provider_message_id: Option<&str>,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        /// The fields a finish changes (an update mask: the rest of the record stays).
        #[derive(Serialize, Deserialize)]
        struct Finished {
            state: String,
            provider_message_id: Option<String>,
            detail: Option<String>,
            updated_at: i64,
        }
        let parent = self.tenant_parent(tenant.as_ref())?;
        let finished = Finished {
            state: state.as_str().to_owned(),
            provider_message_id: provider_message_id.map(str::to_owned),
            detail: detail.map(str::to_owned),
            updated_at: millis(now),
        };
        // One write by path, no lookup; the record must exist (claimed before the send).
        self.db
            .fluent()
            .update()
            .fields(["state", "provider_message_id", "detail", "updated_at"])
            .in_col(OUTBOX)
            .precondition(FirestoreWritePrecondition::Exists(true))
            .document_id(doc_id(&action.to_string()))
            .parent(&parent)
            .object(&finished)
            .execute::<()>()
            .await
            .map_err(|e| match classify(e) {
                PortError::Conflict(_) | PortError::NotFound(_) => {
                    PortError::NotFound(format!("outbox record {action}"))
                }
                other @ (PortError::Transient { .. } | PortError::Permanent { .. }) => other,
            })
    }

    async fn list(
        &self,
        tenant: &TenantId,
        state: Option<OutboxState>,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let limit = u32::try_from(limit.clamp(1, 1000)).unwrap_or(100);
        let docs: Vec<OutboxDoc> =
            self.db
                .fluent()
                .select()
                .from(OUTBOX)
                .parent(&parent)
                .filter(|q| {
                    q.for_all([state
                        .and_then(|s| q.field(firestore::path!(OutboxDoc::state)).eq(s.as_str()))])
                })
                .order(|o| o.fields([o.field(firestore::path!(OutboxDoc::updated_at)).desc()]))
                .limit(limit)
                .obj()
                .query()
                .await
                .map_err(classify)?;
        docs.into_iter().map(OutboxDoc::record).collect()
    }
}

fn delivery_id(channel: Channel, provider_message_id: &str) -> String {
    doc_id(&format!("{}:{provider_message_id}", channel.as_str()))
}

#[async_trait]
impl DeliveryLog for FirestoreStores {
    async fn record_status(&self, update: &StatusUpdate) -> Result<DeliveryState, PortError> {
        let parent = self.tenant_parent(update.tenant.as_ref())?;
        let id = delivery_id(update.channel, update.provider_message_id.as_str());
        // Receipts of one message race (sent, delivered and read arrive together): merge under
        // the read's update_time, and read again if another receipt won.
        for _ in 0..8 {
            let existing = self
                .db
                .fluent()
                .select()
                .by_id_in(DELIVERY)
                .parent(&parent)
                .one(&id)
                .await
                .map_err(classify)?;
            let (merged, error_code, precondition) = match &existing {
                Some(doc) => {
                    let stored: DeliveryDoc =
                        FirestoreDb::deserialize_doc_to(doc).map_err(|e| corrupt("delivery", e))?;
                    let current = DeliveryState::parse(&stored.state)
                        .ok_or_else(|| corrupt("delivery", "unknown state"))?;
                    (
                        current.merge(update.state),
                        update.error_code.clone().or(stored.error_code),
                        precondition_of(version_of(doc)?)?,
                    )
                }
                None => (
                    update.state,
                    update.error_code.clone(),
                    FirestoreWritePrecondition::Exists(false),
                ),
            };
            let doc = DeliveryDoc {
                state: merged.as_str().to_owned(),
                error_code,
                updated_at: millis(update.at),
            };
            match self
                .db
                .fluent()
                .update()
                .in_col(DELIVERY)
                .precondition(precondition)
                .document_id(&id)
                .parent(&parent)
                .object(&doc)
                .execute::<()>()
                .await
                .map_err(classify)
            {
                Ok(()) => return Ok(merged),
                Err(PortError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(PortError::transient("delivery receipt is contended"))
    }

    async fn status(
        &self,
        tenant: &TenantId,
        channel: Channel,
        provider_message_id: &str,
    ) -> Result<Option<DeliveryState>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let doc: Option<DeliveryDoc> = self
            .db
            .fluent()
            .select()
            .by_id_in(DELIVERY)
            .parent(&parent)
            .obj()
            .one(delivery_id(channel, provider_message_id))
            .await
            .map_err(classify)?;
        doc.map(|d| {
            DeliveryState::parse(&d.state).ok_or_else(|| corrupt("delivery", "unknown state"))
        })
        .transpose()
    }
}

#[async_trait]
impl DeadLetterStore for FirestoreStores {
    async fn record(&self, letter: DeadLetter) -> Result<(), PortError> {
        // The id is chosen here, not by Firestore, so it is also a field the list can return.
        let id = uuid::Uuid::new_v4().simple().to_string();
        let doc = DeadLetterDoc {
            id: id.clone(),
            subscription: letter.subscription,
            message_id: letter.message_id,
            ordering_key: letter.ordering_key,
            attributes: serde_json::to_string(&letter.attributes)
                .map_err(|e| PortError::permanent_from("cannot encode attributes", e))?,
            data: letter.data,
            reason: letter.reason,
            attempts: i64::from(letter.attempts),
            at: millis(letter.at),
        };
        self.db
            .fluent()
            .insert()
            .into(DEAD_LETTERS)
            .document_id(&id)
            .object(&doc)
            .execute::<()>()
            .await
            .map_err(classify)
    }

    async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, PortError> {
        let limit = u32::try_from(limit.clamp(1, 1000)).unwrap_or(100);
        let docs: Vec<DeadLetterDoc> = self
            .db
            .fluent()
            .select()
            .from(DEAD_LETTERS)
            .order(|o| o.fields([o.field(firestore::path!(DeadLetterDoc::at)).desc()]))
            .limit(limit)
            .obj()
            .query()
            .await
            .map_err(classify)?;
        docs.into_iter().map(DeadLetterDoc::letter).collect()
    }

    async fn get(&self, id: &str) -> Result<Option<DeadLetter>, PortError> {
        let doc: Option<DeadLetterDoc> = self
            .db
            .fluent()
            .select()
            .by_id_in(DEAD_LETTERS)
            .obj()
            .one(doc_id(id))
            .await
            .map_err(classify)?;
        doc.map(DeadLetterDoc::letter).transpose()
    }

    async fn remove(&self, id: &str) -> Result<bool, PortError> {
        if DeadLetterStore::get(self, id).await?.is_none() {
            return Ok(false);
        }
        self.db
            .fluent()
            .delete()
            .from(DEAD_LETTERS)
            .document_id(doc_id(id))
            .execute()
            .await
            .map_err(classify)?;
        Ok(true)
    }
}

impl DeadLetterDoc {
    fn letter(self) -> Result<DeadLetter, PortError> {
        let attributes: BTreeMap<String, String> =
            serde_json::from_str(&self.attributes).map_err(|e| corrupt("dead letter", e))?;
        Ok(DeadLetter {
            id: self.id,
            subscription: self.subscription,
            message_id: self.message_id,
            ordering_key: self.ordering_key,
            attributes,
            data: self.data,
            reason: self.reason,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            at: from_millis(self.at),
        })
    }
}

#[async_trait]
impl HealthCheck for FirestoreStores {
    fn name(&self) -> &'static str {
        "firestore"
    }

    async fn check(&self) -> Result<(), PortError> {
        // A real round trip: reading a document that need not exist.
        self.db
            .fluent()
            .select()
            .by_id_in(TENANTS)
            .one("%5F%5Fhealth")
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_ids_never_hold_a_slash_and_stay_distinct() {
        assert_eq!(doc_id("demo:twilio:+1809"), "demo:twilio:+1809");
        assert_eq!(doc_id("a/b"), "a%2Fb");
        assert_eq!(doc_id("a%2Fb"), "a%252Fb");
        assert_eq!(doc_id(".."), "%2E.");
        assert_eq!(doc_id("__x__"), "%5F_x__");
        assert_ne!(doc_id("a/b"), doc_id("a%2Fb"));
    }

    #[test]
    fn versions_round_trip_through_preconditions() {
        let version = 1_763_000_000_123_456_000_u64;
        let Ok(FirestoreWritePrecondition::UpdateTime(at)) = precondition_of(version) else {
            panic!("not an update-time precondition");
        };
        assert_eq!(u64::try_from(at.as_nanosecond()).unwrap(), version);
    }
}
