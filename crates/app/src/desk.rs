//! The built-in agent console's use cases: who an agent is, what they may see, and what they do.
//!
//! An agent signs in with a key an operator created for them; the key names exactly one tenant,
//! and every read or action checks that the conversation belongs to it (a conversation id names
//! its tenant), so an agent never sees another tenant's customers. Actions are not applied here:
//! they are published as [`DeskEvent`]s on the inbound stream, where the processor applies them
//! in order with the customer's own messages.

use std::sync::Arc;
use std::time::Duration;

use atiende_domain::{
    Agent, Conversation, ConversationId, ConversationState, DeskAction, DeskEvent, DeskKind,
    MediaRef, TenantId, ValidationError, outgoing_media_key, sendable_media,
};
use atiende_ports::{
    AgentAccount, AgentStore, Clock, ConversationFilter, ConversationStore, FetchedMedia,
    MediaStore, TenantStore,
};
use sha2::{Digest, Sha256};

use crate::{
    AppError,
    ingest::{Acceptance, InboundGateway},
};

/// Longest agent reply, in bytes (WhatsApp's text limit is 4096 characters).
pub const MAX_REPLY_BYTES: usize = 4096;
/// How many conversations the queue shows.
const QUEUE_LIMIT: usize = 200;

/// The digest under which a key is stored and looked up.
pub fn key_digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The console's use cases.
pub struct AgentConsole {
    agents: Arc<dyn AgentStore>,
    conversations: Arc<dyn ConversationStore>,
    gateway: Arc<InboundGateway>,
    clock: Arc<dyn Clock>,
    media: Option<Arc<dyn MediaStore>>,
}

impl AgentConsole {
    /// Builds the use cases.
    pub fn new(
        agents: Arc<dyn AgentStore>,
        conversations: Arc<dyn ConversationStore>,
        gateway: Arc<InboundGateway>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            agents,
            conversations,
            gateway,
            clock,
            media: None,
        }
    }

    /// Shows agents the files customers sent and lets them send files, kept in `store`.
    #[must_use]
    pub fn with_media(mut self, store: Arc<dyn MediaStore>) -> Self {
        self.media = Some(store);
        self
    }

    fn media_store(&self) -> Result<&Arc<dyn MediaStore>, AppError> {
        self.media
            .as_ref()
            .ok_or_else(|| AppError::NotFound("media: no media store is configured".into()))
    }

    /// A file of one of the agent's tenant's conversations, by its key: only a file the
    /// conversation's transcript names, so a key from another conversation opens nothing here.
    pub async fn media(
        &self,
        account: &AgentAccount,
        id: &str,
        key: &str,
    ) -> Result<(MediaRef, FetchedMedia), AppError> {
        let conversation = self.conversation(account, id).await?;
        let named = conversation
            .turns
            .iter()
            .flat_map(|t| &t.media)
            .find(|m| m.stored.as_deref() == Some(key))
            .cloned()
            .ok_or_else(|| AppError::NotFound(format!("media {key}")))?;
        let file = self
            .media_store()?
            .get(&account.tenant, key)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("media {key}")))?;
        Ok((named, file))
    }

    /// Sends the customer a file: checked against what WhatsApp takes (type and size), kept in
    /// the media store, and queued like a reply. Returns the action's id.
    pub async fn send_file(
        &self,
        account: &AgentAccount,
        id: &str,
        file: FetchedMedia,
        filename: Option<String>,
        caption: String,
    ) -> Result<String, AppError> {
        let Some((kind, limit)) = sendable_media(&file.content_type) else {
            return Err(ValidationError::new(
                "file",
                format!(
                    "WhatsApp does not take {:?}: send a JPEG or PNG image, a PDF or office document, an MP4 video or an audio file",
                    file.content_type
                ),
            )
            .into());
        };
        if file.bytes.is_empty() {
            return Err(ValidationError::new("file", "the file is empty").into());
        }
        if file.bytes.len() > limit {
            return Err(AppError::TooLarge(format!(
                "WhatsApp takes {kind:?} files of at most {} MB",
                limit / (1024 * 1024)
            )));
        }
        if caption.len() > MAX_REPLY_BYTES {
            return Err(ValidationError::new(
                "caption",
                format!("must be at most {MAX_REPLY_BYTES} bytes"),
            )
            .into());
        }
        let filename = filename
            .map(|n| {
                n.chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect::<String>()
            })
            .filter(|n| !n.trim().is_empty());
        // The conversation is checked before anything is kept.
        self.conversation(account, id).await?;
        let store = self.media_store()?;
        let key = outgoing_media_key(&uuid::Uuid::new_v4().simple().to_string());
        store.put(&account.tenant, &key, &file).await?;
        let media = MediaRef {
            kind,
            reference: filename.clone().unwrap_or_else(|| key.clone()),
            content_type: Some(file.content_type),
            filename,
            stored: Some(key),
        };
        let media = Box::new(media);
        self.act(account, id, DeskAction::SendFile { media, caption })
            .await
    }

    /// Creates an agent for `tenant`; returns the account and its key, shown this once.
    pub async fn add_agent(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<(AgentAccount, String), AppError> {
        let id = format!(
            "console:{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let agent = Agent::new(id, name.trim())?;
        let key = format!(
            "agk_{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let account = AgentAccount {
            tenant: tenant.clone(),
            agent,
        };
        self.agents.add(&account, &key_digest(&key)).await?;
        Ok((account, key))
    }

    /// Adds an agent with a key chosen by the caller (the demo tenant's public test agent).
    pub async fn add_agent_with_key(
        &self,
        account: &AgentAccount,
        key: &str,
    ) -> Result<(), AppError> {
        match self.agents.add(account, &key_digest(key)).await {
            Ok(()) | Err(atiende_ports::PortError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A tenant's agents.
    pub async fn agents(&self, tenant: &TenantId) -> Result<Vec<AgentAccount>, AppError> {
        Ok(self.agents.list(tenant).await?)
    }

    /// Removes an agent; their key stops working at once.
    pub async fn remove_agent(&self, tenant: &TenantId, id: &str) -> Result<(), AppError> {
        if self.agents.remove(tenant, id).await? {
            Ok(())
        } else {
            Err(AppError::NotFound(format!("agent {id}")))
        }
    }

    /// The agent a key belongs to, if any.
    pub async fn sign_in(&self, key: &str) -> Result<Option<AgentAccount>, AppError> {
        if key.is_empty() || key.len() > 200 {
            return Ok(None);
        }
        Ok(self.agents.find_by_key(&key_digest(key)).await?)
    }

    /// The conversations waiting for or owned by a person, most recently active first.
    pub async fn queue(&self, account: &AgentAccount) -> Result<Vec<Conversation>, AppError> {
        let mut all = Vec::new();
        for state in [ConversationState::WaitingForHuman, ConversationState::Human] {
            let filter = ConversationFilter {
                state: Some(state),
                limit: QUEUE_LIMIT,
            };
            all.extend(self.conversations.list(&account.tenant, &filter).await?);
        }
        // Waiting conversations first (someone must take them), then the latest activity.
        all.sort_by(|a, b| {
            (b.state == ConversationState::WaitingForHuman)
                .cmp(&(a.state == ConversationState::WaitingForHuman))
                .then(b.updated_at.cmp(&a.updated_at))
        });
        Ok(all)
    }

    /// The tenant's `limit` most recently resolved conversations, newest first.
    pub async fn resolved(
        &self,
        account: &AgentAccount,
        limit: usize,
    ) -> Result<Vec<Conversation>, AppError> {
        let filter = ConversationFilter {
            state: Some(ConversationState::Resolved),
            limit: limit.min(QUEUE_LIMIT),
        };
        Ok(self.conversations.list(&account.tenant, &filter).await?)
    }

    /// A value that changes whenever the agent's queue may have (one small read; see
    /// [`atiende_ports::ConversationStore::desk_revision`]).
    pub async fn revision(&self, account: &AgentAccount) -> Result<String, AppError> {
        Ok(self.conversations.desk_revision(&account.tenant).await?)
    }

    /// One conversation of the agent's tenant; another tenant's is forbidden.
    pub async fn conversation(
        &self,
        account: &AgentAccount,
        id: &str,
    ) -> Result<Conversation, AppError> {
        let id = self.own(account, id)?;
        self.conversations
            .load(&id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| AppError::NotFound(format!("conversation {id}")))
    }

    /// Takes, replies to or resolves a conversation. The action is queued for the processor and
    /// applied in order with the customer's messages; its id is returned.
    pub async fn act(
        &self,
        account: &AgentAccount,
        id: &str,
        action: DeskAction,
    ) -> Result<String, AppError> {
        if let DeskAction::Reply { text } = &action
            && (text.trim().is_empty() || text.len() > MAX_REPLY_BYTES)
        {
            return Err(
                ValidationError::new("text", format!("must be 1-{MAX_REPLY_BYTES} bytes")).into(),
            );
        }
        let conversation = self.conversation(account, id).await?;
        let event = DeskEvent {
            id: format!("console:{}", uuid::Uuid::new_v4().simple()),
            tenant: account.tenant.clone(),
            conversation: conversation.id,
            desk: DeskKind::Console,
            agent: account.agent.clone(),
            action,
            at: self.clock.now(),
        };
        let event_id = event.id.clone();
        self.gateway.accept_desk_event(event, None).await?;
        Ok(event_id)
    }

    fn own(&self, account: &AgentAccount, id: &str) -> Result<ConversationId, AppError> {
        let id = ConversationId::parse(id)?;
        if id.tenant() != account.tenant {
            return Err(AppError::Forbidden(format!(
                "conversation {id} belongs to another tenant"
            )));
        }
        Ok(id)
    }
}

/// Tells customers when nobody has taken their handed-off conversation after a while.
///
/// A sweep raises a `wait_expired` desk event per overdue conversation; the processor applies it
/// in order with everything else, so a person who took the conversation a moment earlier wins
/// and the customer is told at most once per handoff (the event id names the handoff).
pub struct WaitWatch {
    tenants: Arc<dyn TenantStore>,
    conversations: Arc<dyn ConversationStore>,
    gateway: Arc<InboundGateway>,
    clock: Arc<dyn Clock>,
    wait: Duration,
}

impl WaitWatch {
    /// A watch telling customers after `wait`.
    pub fn new(
        tenants: Arc<dyn TenantStore>,
        conversations: Arc<dyn ConversationStore>,
        gateway: Arc<InboundGateway>,
        clock: Arc<dyn Clock>,
        wait: Duration,
    ) -> Self {
        Self {
            tenants,
            conversations,
            gateway,
            clock,
            wait,
        }
    }

    /// One pass over every tenant's waiting conversations; returns how many were raised.
    pub async fn sweep(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let wait = chrono::Duration::from_std(self.wait).unwrap_or(chrono::Duration::MAX);
        let filter = ConversationFilter {
            state: Some(ConversationState::WaitingForHuman),
            limit: 1000,
        };
        let agent = Agent::new("atiende", "atiende")?;
        let mut raised = 0;
        for tenant in self.tenants.list().await? {
            for c in self.conversations.list(&tenant.id, &filter).await? {
                let Some(since) = c.handoff_at else { continue };
                let wait = tenant
                    .desk_wait_minutes
                    .map_or(wait, |m| chrono::Duration::minutes(i64::from(m)));
                if c.wait_notice_sent || now - since < wait {
                    continue;
                }
                let event = DeskEvent {
                    id: format!("wait:{}:{}", c.id, since.timestamp_millis()),
                    tenant: tenant.id.clone(),
                    conversation: c.id,
                    desk: tenant.desk(),
                    agent: agent.clone(),
                    action: DeskAction::WaitExpired,
                    at: now,
                };
                if self.gateway.accept_desk_event(event, None).await? == Acceptance::Accepted {
                    raised += 1;
                }
            }
        }
        Ok(raised)
    }
}
