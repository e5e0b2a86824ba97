//! The API-key pool of the seeds' lead-capture blueprint (§4, `LLMKeyPool`).
//!
//! Providers rate-limit per key, so a provider may be configured with several keys. Each
//! conversation is pinned to one key for its whole life (its requests share one rate budget and
//! one prompt cache); a new conversation gets the key with the fewest active conversations
//! (least connections). A pin is released when the conversation ends — handed to a person or
//! resolved — or after it has been idle for `idle_release`, since most chats just stop. The
//! status is what `/metrics` reports, with an alert from 80 % of the pool's capacity.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use atiende_ports::ChatModel;
use serde::Serialize;

/// The pool's share of capacity at which it raises its alert.
pub const ALERT_CAPACITY_PCT: u32 = 80;

/// One key of the pool.
pub struct PooledKey {
    /// A name safe to show (`key_a`; never the key).
    pub id: String,
    /// The model reached with this key.
    pub model: Arc<dyn ChatModel>,
}

/// One key's load, as `/metrics` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyStatus {
    /// The key's name.
    pub key_id: String,
    /// Conversations pinned to it.
    pub active_conversations: u32,
    /// Its share of its capacity, in percent.
    pub capacity_pct: u32,
}

/// The pool's load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolStatus {
    /// The provider.
    pub provider: String,
    /// Each key.
    pub pool_status: Vec<KeyStatus>,
    /// Conversations pinned to any key.
    pub total_active: u32,
    /// The pool's share of its capacity, in percent.
    pub pool_capacity_pct: u32,
    /// Whether the share is at or above [`ALERT_CAPACITY_PCT`].
    pub alert: bool,
}

struct Pin {
    key: usize,
    last_used: Instant,
}

/// A provider's keys.
pub struct KeyPool {
    provider: String,
    keys: Vec<PooledKey>,
    conversations_per_key: u32,
    idle_release: Duration,
    pins: Mutex<HashMap<String, Pin>>,
}

impl KeyPool {
    /// A pool over `keys` (at least one), each good for `conversations_per_key` conversations.
    pub fn new(
        provider: impl Into<String>,
        keys: Vec<PooledKey>,
        conversations_per_key: u32,
        idle_release: Duration,
    ) -> Self {
        Self {
            provider: provider.into(),
            keys,
            conversations_per_key: conversations_per_key.max(1),
            idle_release,
            pins: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pin>> {
        self.pins.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn active(pins: &HashMap<String, Pin>, keys: usize) -> Vec<u32> {
        let mut active = vec![0u32; keys];
        for pin in pins.values() {
            if let Some(count) = active.get_mut(pin.key) {
                *count += 1;
            }
        }
        active
    }

    /// The key for `conversation` at `now`: its pinned key, or the least-loaded one, pinned.
    /// `None` only for a pool without keys.
    pub fn acquire(
        &self,
        conversation: &str,
        now: Instant,
    ) -> Option<(String, Arc<dyn ChatModel>)> {
        let mut pins = self.lock();
        let idle = self.idle_release;
        pins.retain(|_, pin| now.saturating_duration_since(pin.last_used) < idle);
        let key = match pins.get_mut(conversation) {
            Some(pin) => {
                pin.last_used = now;
                pin.key
            }
            None => {
                let active = Self::active(&pins, self.keys.len());
                let (key, _) = active.iter().enumerate().min_by_key(|(_, n)| **n)?;
                pins.insert(
                    conversation.to_owned(),
                    Pin {
                        key,
                        last_used: now,
                    },
                );
                key
            }
        };
        let pooled = self.keys.get(key)?;
        Some((pooled.id.clone(), Arc::clone(&pooled.model)))
    }

    /// Releases the conversation's key (it ended).
    pub fn release(&self, conversation: &str) {
        self.lock().remove(conversation);
    }

    /// The pool's load.
    pub fn status(&self) -> PoolStatus {
        let pins = self.lock();
        let active = Self::active(&pins, self.keys.len());
        let pct = |n: u32, of: u32| (n.saturating_mul(100) / of.max(1)).min(999);
        let pool_status: Vec<KeyStatus> = self
            .keys
            .iter()
            .zip(&active)
            .map(|(key, n)| KeyStatus {
                key_id: key.id.clone(),
                active_conversations: *n,
                capacity_pct: pct(*n, self.conversations_per_key),
            })
            .collect();
        let total_active: u32 = active.iter().sum();
        let capacity = self
            .conversations_per_key
            .saturating_mul(u32::try_from(self.keys.len()).unwrap_or(u32::MAX));
        let pool_capacity_pct = pct(total_active, capacity);
        PoolStatus {
            provider: self.provider.clone(),
            pool_status,
            total_active,
            pool_capacity_pct,
            alert: pool_capacity_pct >= ALERT_CAPACITY_PCT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use atiende_ports::{ChatRequest, ChatResponse, LlmError};

    struct Named(String);

    #[async_trait]
    impl ChatModel for Named {
        fn provider(&self) -> &str {
            "p"
        }
        fn model(&self) -> &str {
            &self.0
        }
        async fn complete(&self, _: &ChatRequest) -> Result<ChatResponse, LlmError> {
            Err(LlmError::CircuitOpen {
                provider: "p".into(),
            })
        }
    }

    fn pool(keys: usize, per_key: u32) -> KeyPool {
        let keys = (0..keys)
            .map(|i| PooledKey {
                id: format!("key_{i}"),
                model: Arc::new(Named(format!("m{i}"))),
            })
            .collect();
        KeyPool::new("p", keys, per_key, Duration::from_secs(60))
    }

    #[test]
    fn conversations_go_to_the_least_loaded_key_and_stay_there() {
        let pool = pool(3, 10);
        let now = Instant::now();
        let keys: Vec<String> = ["a", "b", "c", "d"]
            .iter()
            .map(|c| pool.acquire(c, now).unwrap().0)
            .collect();
        assert_eq!(keys, ["key_0", "key_1", "key_2", "key_0"]);
        assert_eq!(pool.acquire("b", now).unwrap().0, "key_1", "pinned");
        pool.release("b");
        pool.release("c");
        assert_eq!(pool.acquire("e", now).unwrap().0, "key_1");
        let status = pool.status();
        assert_eq!(status.total_active, 3);
        assert_eq!(status.pool_status[0].active_conversations, 2);
        assert_eq!(status.pool_status[0].capacity_pct, 20);
        assert_eq!(status.pool_capacity_pct, 10);
        assert!(!status.alert);
    }

    #[test]
    fn idle_pins_are_released_and_the_alert_fires_at_eighty_percent() {
        let pool = pool(2, 5);
        let t0 = Instant::now();
        for c in 0..8 {
            pool.acquire(&format!("c{c}"), t0);
        }
        let status = pool.status();
        assert_eq!(status.pool_capacity_pct, 80);
        assert!(status.alert);
        pool.acquire("fresh", t0 + Duration::from_secs(61));
        assert_eq!(pool.status().total_active, 1, "idle pins were released");
    }
}
