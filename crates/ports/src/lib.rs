//! Ports: the traits through which atiende's use cases touch the world.
//!
//! Every side effect — storing a conversation, publishing an event, sending a WhatsApp message,
//! searching a tenant's knowledge — goes through a trait defined here, owned by the use cases
//! that call it. Adapters implement them: embedded ones (SQLite, tantivy, an in-process bus) for a
//! single machine, cloud ones (Firestore, Pub/Sub, Qdrant) for GCP. No vendor type crosses a port.
//!
//! Failures are classified where they are known, in the adapter: [`PortError::Transient`] means
//! "try again later" (the bus redelivers, a retry loop backs off), [`PortError::Permanent`] means
//! retrying cannot help (the message is parked or dead-lettered and someone can look at it).
//!
//! # Layout
//! * [`error`]: the classified error every port returns.
//! * [`bus`]: publishing events and handling deliveries, plus the Pub/Sub push envelope.
//! * [`store`]: tenants, conversations, delivery receipts, the dispatcher's outbox, web chat.
//! * [`tenant_doc`]: the stored form of a tenant, shared by every tenant store.
//! * [`knowledge`]: a tenant's documents, the keyword and vector indexes over them, the
//!   embedding model, and the records of ingestion jobs.
//! * [`assistant`]: credit accounts the tools read, model spending per tenant.
//! * [`llm`]: one chat completion at an OpenAI-compatible provider.
//! * [`media`]: downloading customers' media from their provider, and transcribing voice notes.
//! * [`channel`]: sending a message through a provider.
//! * [`desk`]: the human desk conversations are handed to, and the console's agents.
//! * [`access`]: tenants' API keys for the admin.
//! * [`stats`]: tenants' daily counters, behind the dashboard.
//! * [`clock`] and [`health`]: time and readiness.

pub mod access;
pub mod assistant;
pub mod bus;
pub mod channel;
pub mod clock;
pub mod desk;
pub mod error;
pub mod health;
pub mod knowledge;
pub mod llm;
pub mod media;
pub mod stats;
pub mod store;
pub mod tenant_doc;

pub use access::{ApiKey, ApiKeyStore};
pub use assistant::{AccountStore, AuditEntry, SecurityAudit, UsageLedger};
pub use bus::{
    DeadLetter, DeadLetterStore, Delivery, EventPublisher, HandleOutcome, MessageHandler,
    OutgoingMessage, PublishOutcome,
};
pub use channel::{ChannelSender, SendContent, SendError, SendReceipt, SendRequest};
pub use clock::{Clock, SystemClock};
pub use desk::{AgentAccount, AgentStore, Alerter, DeskError, DeskLinkStore, HumanDesk, LeadSink};
pub use error::{BoxError, PortError};
pub use health::HealthCheck;
pub use knowledge::{
    DenseHit, EmbedRole, Embedder, EmbeddingCache, JOBS_KEPT, JobRecord, JobStore, KeywordHit,
    KeywordIndex, KnowledgeDocument, KnowledgeStore, VectorIndex,
};
pub use llm::{
    ChatMessage, ChatModel, ChatRequest, ChatResponse, ChatRole, FinishReason, LlmError, ToolCall,
    ToolSpec, Usage,
};
pub use media::{
    FetchedMedia, MediaFetcher, MediaLinker, MediaStore, Transcriber, check_media_key,
};
pub use stats::StatsLedger;
pub use store::{
    Claim, ConversationFilter, ConversationStore, DeliveryLog, Outbox, OutboxRecord, OutboxState,
    TenantStore, Versioned, WebChatEntry, WebChatStore,
};
