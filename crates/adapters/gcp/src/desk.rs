//! The console's agents and the desks' links on Firestore ([`AgentStore`], [`DeskLinkStore`]).
//!
//! On Cloud Run an agent is created by one admin instance and signs in at another (or at the
//! same one after a restart), and a Rocket.Chat room opened by the dispatcher is traced back by
//! ingest: both must live in the shared store. Layout:
//!
//! * `tenants/{tenant}/agents/{agent}`: the agent and the digest of their key;
//! * `agent_keys/{digest}`: who a key belongs to, so a sign-in is one read by key (the key alone
//!   names no tenant). Written after the agent, deleted before it: a key document never names
//!   an agent that is not there for long, and a sign-in checks the agent's record anyway;
//! * `tenants/{tenant}/desk_links/{desk}~{conversation}`: the desk's reference (a Chatwoot
//!   conversation id, a Rocket.Chat room id), queried the other way by desk and reference,
//!   within the tenant.

use async_trait::async_trait;
use atiende_domain::{Agent, ConversationId, DeskKind, TenantId};
use atiende_ports::{AgentAccount, AgentStore, DeskLinkStore, PortError};
use serde::{Deserialize, Serialize};

use crate::store::{FirestoreStores, classify, doc_id};

/// A tenant's agents (sub-collection).
pub(crate) const AGENTS: &str = "agents";
/// Keys to agents (top level).
pub(crate) const AGENT_KEYS: &str = "agent_keys";
/// A tenant's desk links (sub-collection).
pub(crate) const DESK_LINKS: &str = "desk_links";

#[derive(Serialize, Deserialize)]
struct AgentDoc {
    id: String,
    name: String,
    key_digest: String,
}

#[derive(Serialize, Deserialize)]
struct AgentKeyDoc {
    tenant: String,
    agent: String,
}

#[derive(Serialize, Deserialize)]
struct LinkDoc {
    conversation: String,
    desk: String,
    external: String,
}

fn account(tenant: &str, doc: AgentDoc) -> Result<AgentAccount, PortError> {
    let corrupt = |e: atiende_domain::ValidationError| {
        PortError::permanent(format!("corrupt agent document: {e}"))
    };
    Ok(AgentAccount {
        tenant: TenantId::parse(tenant).map_err(corrupt)?,
        agent: Agent::new(doc.id, doc.name).map_err(corrupt)?,
    })
}

impl FirestoreStores {
    async fn agent_doc(&self, tenant: &str, agent: &str) -> Result<Option<AgentDoc>, PortError> {
        let parent = self.tenant_parent(tenant)?;
        self.db()
            .fluent()
            .select()
            .by_id_in(AGENTS)
            .parent(&parent)
            .obj()
            .one(doc_id(agent))
            .await
            .map_err(classify)
    }

    /// Deletes the key documents of a tenant's agents (part of deleting the tenant).
    pub(crate) async fn delete_agent_keys(&self, tenant: &TenantId) -> Result<(), PortError> {
        for doc in self.agent_docs(tenant).await? {
            self.delete_key(&doc.key_digest).await?;
        }
        Ok(())
    }

    /// A tenant's agents as stored, keys' digests included: one query.
    async fn agent_docs(&self, tenant: &TenantId) -> Result<Vec<AgentDoc>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        self.db()
            .fluent()
            .select()
            .from(AGENTS)
            .parent(&parent)
            .obj()
            .query()
            .await
            .map_err(classify)
    }

    async fn delete_key(&self, digest: &str) -> Result<(), PortError> {
        self.db()
            .fluent()
            .delete()
            .from(AGENT_KEYS)
            .document_id(doc_id(digest))
            .execute()
            .await
            .map_err(classify)
    }
}

#[async_trait]
impl AgentStore for FirestoreStores {
    async fn add(&self, account: &AgentAccount, key_digest: &str) -> Result<(), PortError> {
        let parent = self.tenant_parent(account.tenant.as_ref())?;
        let doc = AgentDoc {
            id: account.agent.id.clone(),
            name: account.agent.name.clone(),
            key_digest: key_digest.to_owned(),
        };
        self.db()
            .fluent()
            .insert()
            .into(AGENTS)
            .document_id(doc_id(&account.agent.id))
            .parent(&parent)
            .object(&doc)
            .execute::<()>()
            .await
            .map_err(|e| match classify(e) {
                PortError::Conflict(_) => {
                    PortError::Conflict(format!("agent {} already exists", account.agent.id))
                }
                other @ (PortError::NotFound(_)
                | PortError::Transient { .. }
                | PortError::Permanent { .. }) => other,
            })?;
        let key = AgentKeyDoc {
            tenant: account.tenant.to_string(),
            agent: account.agent.id.clone(),
        };
        self.db()
            .fluent()
            .update()
            .in_col(AGENT_KEYS)
            .document_id(doc_id(key_digest))
            .object(&key)
            .execute::<()>()
            .await
            .map_err(classify)
    }

    async fn find_by_key(&self, key_digest: &str) -> Result<Option<AgentAccount>, PortError> {
        let key: Option<AgentKeyDoc> = self
            .db()
            .fluent()
            .select()
            .by_id_in(AGENT_KEYS)
            .obj()
            .one(doc_id(key_digest))
            .await
            .map_err(classify)?;
        let Some(key) = key else {
            return Ok(None);
        };
        // The agent's own record decides: a key left behind by a removal cut short, or a key
        // document for an agent since replaced, signs nobody in.
        match self.agent_doc(&key.tenant, &key.agent).await? {
            Some(doc) if doc.key_digest == key_digest => account(&key.tenant, doc).map(Some),
            Some(_) | None => Ok(None),
        }
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<AgentAccount>, PortError> {
        let mut agents = self
            .agent_docs(tenant)
            .await?
            .into_iter()
            .map(|d| account(tenant.as_ref(), d))
            .collect::<Result<Vec<_>, _>>()?;
        agents.sort_by(|a, b| a.agent.id.cmp(&b.agent.id));
        Ok(agents)
    }

    async fn remove(&self, tenant: &TenantId, agent_id: &str) -> Result<bool, PortError> {
        let Some(doc) = self.agent_doc(tenant.as_ref(), agent_id).await? else {
            return Ok(false);
        };
        self.delete_key(&doc.key_digest).await?;
        let parent = self.tenant_parent(tenant.as_ref())?;
        self.db()
            .fluent()
            .delete()
            .from(AGENTS)
            .parent(&parent)
            .document_id(doc_id(agent_id))
            .execute()
            .await
            .map_err(classify)?;
        Ok(true)
    }
}

fn link_id(conversation: &ConversationId, desk: DeskKind) -> String {
    doc_id(&format!("{}~{}", desk.as_str(), conversation.as_str()))
}

#[async_trait]
impl DeskLinkStore for FirestoreStores {
    async fn link(
        &self,
        conversation: &ConversationId,
        desk: DeskKind,
    ) -> Result<Option<String>, PortError> {
        let parent = self.tenant_parent(conversation.tenant().as_ref())?;
        let doc: Option<LinkDoc> = self
            .db()
            .fluent()
            .select()
            .by_id_in(DESK_LINKS)
            .parent(&parent)
            .obj()
            .one(link_id(conversation, desk))
            .await
            .map_err(classify)?;
        Ok(doc.map(|d| d.external))
    }

    async fn conversation_for(
        &self,
        tenant: &TenantId,
        desk: DeskKind,
        external: &str,
    ) -> Result<Option<ConversationId>, PortError> {
        let parent = self.tenant_parent(tenant.as_ref())?;
        let docs: Vec<LinkDoc> = self
            .db()
            .fluent()
            .select()
            .from(DESK_LINKS)
            .parent(&parent)
            .filter(|q| {
                q.for_all([
                    q.field(firestore::path!(LinkDoc::desk)).eq(desk.as_str()),
                    q.field(firestore::path!(LinkDoc::external)).eq(external),
                ])
            })
            .limit(1)
            .obj()
            .query()
            .await
            .map_err(classify)?;
        docs.into_iter()
            .next()
            .map(|d| {
                ConversationId::parse(&d.conversation)
                    .map_err(|e| PortError::permanent(format!("corrupt desk link: {e}")))
            })
            .transpose()
    }

    async fn set_link(
        &self,
        conversation: &ConversationId,
        desk: DeskKind,
        external: &str,
    ) -> Result<(), PortError> {
        let parent = self.tenant_parent(conversation.tenant().as_ref())?;
        let doc = LinkDoc {
            conversation: conversation.to_string(),
            desk: desk.as_str().to_owned(),
            external: external.to_owned(),
        };
        self.db()
            .fluent()
            .update()
            .in_col(DESK_LINKS)
            .document_id(link_id(conversation, desk))
            .parent(&parent)
            .object(&doc)
            .execute::<()>()
            .await
            .map_err(classify)
    }
}
