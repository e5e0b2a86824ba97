//! Conversations as operators see them: listing, reading and resolving.

use std::sync::Arc;

use atiende_domain::{Conversation, ConversationId, ConversationState, TenantId};
use atiende_ports::{Clock, ConversationFilter, ConversationStore};

use crate::AppError;

/// Operator actions on conversations.
pub struct ConversationAdmin {
    store: Arc<dyn ConversationStore>,
    clock: Arc<dyn Clock>,
}

impl ConversationAdmin {
    /// Builds the use case.
    pub fn new(store: Arc<dyn ConversationStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// A tenant's conversations, most recent first.
    pub async fn list(
        &self,
        tenant: &TenantId,
        state: Option<ConversationState>,
        limit: usize,
    ) -> Result<Vec<Conversation>, AppError> {
        Ok(self
            .store
            .list(tenant, &ConversationFilter { state, limit })
            .await?)
    }

    /// One conversation of `tenant` (another tenant's id is "not found").
    pub async fn get(&self, tenant: &TenantId, id: &str) -> Result<Conversation, AppError> {
        let id = ConversationId::parse(id)?;
        if &id.tenant() != tenant {
            return Err(AppError::NotFound(format!("conversation {id}")));
        }
        self.store
            .load(&id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| AppError::NotFound(format!("conversation {id}")))
    }

    /// Marks a handed-off conversation resolved: the bot answers the customer's next message.
    pub async fn resolve(&self, tenant: &TenantId, id: &str) -> Result<Conversation, AppError> {
        let id = ConversationId::parse(id)?;
        if &id.tenant() != tenant {
            return Err(AppError::NotFound(format!("conversation {id}")));
        }
        let stored = self
            .store
            .load(&id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("conversation {id}")))?;
        let mut conversation = stored.value;
        conversation
            .resolve(self.clock.now())
            .map_err(|e| AppError::Conflict(e.to_string()))?;
        self.store.save(&conversation, Some(stored.version)).await?;
        Ok(conversation)
    }
}
