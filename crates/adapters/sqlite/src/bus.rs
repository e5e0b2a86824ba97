//! The embedded bus: durable, ordered per key, at-least-once, with dead-lettering.
//!
//! It keeps Pub/Sub's contract so that the same handlers run on it and on Google's service:
//!
//! * **Durable.** [`SqliteBus::publish`] returns once the message and one delivery row per
//!   subscription are committed; a crash after that loses nothing.
//! * **Ordered per key.** A subscription's pump delivers at most one message per ordering key at a
//!   time, in publish order; different keys run in parallel (up to `max_in_flight`).
//! * **At-least-once.** A delivery row is deleted only after the handler acknowledged it; rows
//!   still present after a crash are delivered again.
//! * **Retries and dead letters.** `Retry` schedules a redelivery with exponential backoff (or the
//!   handler's own delay); after `max_attempts`, or on `Reject`, the message moves to the
//!   `dead_letters` table.
//! * **Idempotent publish.** A message with a dedupe key seen within `dedupe_ttl` is not published
//!   again (ingest uses the provider's message id).
//!
//! Each subscription's pump holds an OS lock on `bus-{subscription}.lock` next to the database, so
//! when several processes share one data directory exactly one delivers each subscription, and a
//! process that dies releases its lock at once.
//!
//! The scheduler's state (which keys are ready, delayed or in flight) lives in memory and is
//! rebuilt from the delivery rows at start; the database is the log.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use atiende_domain::Topic;
use atiende_ports::{
    DeadLetter, Delivery, EventPublisher, HandleOutcome, HealthCheck, MessageHandler,
    OutgoingMessage, PortError, PublishOutcome, bus::redelivery_backoff,
};
use chrono::Utc;
use rusqlite::{OptionalExtension, params};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::Db;
use crate::db::{Cached, DbError, from_millis};
use crate::stores;

/// How the bus retries, paces and cleans up.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// Deliveries in flight at once per subscription (distinct ordering keys).
    pub max_in_flight: usize,
    /// Deliveries before a message is dead-lettered.
    pub max_attempts: u32,
    /// First redelivery delay.
    pub min_backoff: Duration,
    /// Longest redelivery delay.
    pub max_backoff: Duration,
    /// A handler running longer is considered failed and the message is redelivered.
    pub handler_timeout: Duration,
    /// How often the database is checked for messages published by other processes.
    pub poll_interval: Duration,
    /// How long dedupe keys are remembered.
    pub dedupe_ttl: Duration,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 64,
            max_attempts: 50,
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            handler_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_millis(500),
            // Meta retries webhooks for up to 7 days (protocols.md §2.7).
            dedupe_ttl: Duration::from_secs(8 * 24 * 3600),
        }
    }
}

/// The subscriptions of each topic (one each; mirrors the Pub/Sub topology in `terraform/`).
fn subscriptions_of(topic: Topic) -> [&'static str; 1] {
    [topic.subscription()]
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

struct Shared {
    db: Db,
    config: BusConfig,
    notifiers: HashMap<&'static str, Arc<Notify>>,
    cancel: CancellationToken,
    pumps: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// The embedded bus. Cheap to clone.
#[derive(Clone)]
pub struct SqliteBus {
    shared: Arc<Shared>,
}

impl SqliteBus {
    /// A bus on `db`. Starts the maintenance task that forgets expired dedupe keys.
    pub fn new(db: Db, config: BusConfig) -> Self {
        let notifiers = Topic::ALL
            .iter()
            .flat_map(|t| subscriptions_of(*t))
            .map(|s| (s, Arc::new(Notify::new())))
            .collect();
        let bus = Self {
            shared: Arc::new(Shared {
                db,
                config,
                notifiers,
                cancel: CancellationToken::new(),
                pumps: std::sync::Mutex::new(Vec::new()),
            }),
        };
        let maintenance = bus.clone();
        let handle = tokio::spawn(async move { maintenance.maintain().await });
        bus.track(handle);
        bus
    }

    fn track(&self, handle: tokio::task::JoinHandle<()>) {
        self.shared
            .pumps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(handle);
    }

    /// Starts delivering `subscription` to `handler` in this process.
    pub fn subscribe(
        &self,
        subscription: &'static str,
        handler: Arc<dyn MessageHandler>,
    ) -> Result<(), PortError> {
        let Some(notify) = self.shared.notifiers.get(subscription).cloned() else {
            return Err(PortError::permanent(format!(
                "unknown subscription {subscription}"
            )));
        };
        let pump = Pump {
            shared: Arc::clone(&self.shared),
            subscription,
            handler,
            notify,
        };
        self.track(tokio::spawn(pump.run()));
        Ok(())
    }

    /// Deliveries not yet acknowledged for `subscription` (queued, delayed or in flight).
    pub async fn pending(&self, subscription: &'static str) -> Result<u64, PortError> {
        let n: i64 = self
            .shared
            .db
            .read(move |c| {
                Ok(c.row(
                    "SELECT COUNT(*) FROM bus_deliveries WHERE subscription = ?1",
                    [subscription],
                    |r| r.get(0),
                )?)
            })
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Waits until no subscription has pending deliveries, or `timeout` passes; returns whether
    /// the bus drained.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut busy = false;
            for topic in Topic::ALL {
                for sub in subscriptions_of(topic) {
                    busy |= self.pending(sub).await.map_or(true, |n| n > 0);
                }
            }
            if !busy {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Forgets expired dedupe keys and deletes fully delivered messages now (the maintenance task
    /// does it every few seconds); returns how many of each.
    pub async fn collect_garbage(&self) -> Result<(usize, usize), PortError> {
        let now = now_ms();
        Ok(self
            .shared
            .db
            .write(move |c| collect_garbage(c, now))
            .await?)
    }

    /// Stops delivering: in-flight handlers finish (up to `grace`), their outcomes are recorded,
    /// and the subscription locks are released.
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.cancel.cancel();
        let handles: Vec<_> = std::mem::take(
            &mut *self
                .shared
                .pumps
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let all = futures_join_all(handles);
        if tokio::time::timeout(grace, all).await.is_err() {
            warn!("Bus shutdown grace period ended with deliveries still running.");
        }
    }

    /// Every few seconds: forget expired dedupe keys, and delete messages every subscription
    /// has acknowledged (those below each subscription's oldest pending delivery). Keeping this
    /// off the acknowledgement path makes an ack a single primary-key delete.
    async fn maintain(&self) {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                () = self.shared.cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.collect_garbage().await {
                Ok((keys, messages)) if keys + messages > 0 => {
                    debug!(keys, messages, "Bus garbage collected.");
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "Could not collect bus garbage."),
            }
        }
    }
}

/// Removes one subscription's delivery of a message (acknowledged or dead-lettered).
fn delete_delivery(c: &rusqlite::Connection, subscription: &str, seq: i64) -> Result<(), DbError> {
    c.exec(
        "DELETE FROM bus_deliveries WHERE subscription = ?1 AND seq = ?2",
        params![subscription, seq],
    )?;
    Ok(())
}

/// Deletes expired dedupe keys and fully delivered messages; returns how many of each.
fn collect_garbage(c: &rusqlite::Connection, now: i64) -> Result<(usize, usize), DbError> {
    let keys = c
        .prepare_cached("DELETE FROM bus_dedupe WHERE expires_at <= ?1")?
        .execute([now])?;
    // Messages with a sequence below every subscription's oldest pending delivery are
    // delivered everywhere. MIN per subscription is a primary-key seek.
    let mut floor = c
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM bus_messages")?
        .query_row([], |r| r.get::<_, i64>(0))?;
    let mut oldest =
        c.prepare_cached("SELECT MIN(seq) FROM bus_deliveries WHERE subscription = ?1")?;
    for topic in Topic::ALL {
        for sub in subscriptions_of(topic) {
            if let Some(min) = oldest.query_row([sub], |r| r.get::<_, Option<i64>>(0))? {
                floor = floor.min(min);
            }
        }
    }
    let messages = c
        .prepare_cached("DELETE FROM bus_messages WHERE seq < ?1")?
        .execute([floor])?;
    Ok((keys, messages))
}

async fn futures_join_all(handles: Vec<tokio::task::JoinHandle<()>>) {
    for handle in handles {
        let _ = handle.await;
    }
}

#[async_trait]
impl EventPublisher for SqliteBus {
    async fn publish(
        &self,
        topic: Topic,
        message: OutgoingMessage,
    ) -> Result<PublishOutcome, PortError> {
        let now = now_ms();
        let expires = now.saturating_add(ms(self.shared.config.dedupe_ttl));
        let attributes = serde_json::to_string(&message.attributes).map_err(DbError::from)?;
        let subscriptions = subscriptions_of(topic);
        let outcome = self
            .shared
            .db
            .write(move |c| {
                if let Some(key) = &message.dedupe_key {
                    let fresh = c
                        .prepare_cached(
                            "INSERT INTO bus_dedupe (key, expires_at) VALUES (?1, ?2)
                             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at
                             WHERE bus_dedupe.expires_at <= ?3",
                        )?
                        .execute(params![key, expires, now])?;
                    if fresh == 0 {
                        return Ok(PublishOutcome::Duplicate);
                    }
                }
                c.prepare_cached(
                    "INSERT INTO bus_messages (topic, ordering_key, attributes, data, published_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    topic.name(),
                    message.ordering_key,
                    attributes,
                    message.data,
                    now
                ])?;
                let seq = c.last_insert_rowid();
                let mut deliver = c.prepare_cached(
                    "INSERT INTO bus_deliveries (subscription, seq, ordering_key, attempts, next_attempt_at)
                     VALUES (?1, ?2, ?3, 0, ?4)",
                )?;
                for sub in subscriptions {
                    deliver.execute(params![sub, seq, message.ordering_key, now])?;
                }
                Ok(PublishOutcome::Published {
                    message_id: seq.to_string(),
                })
            })
            .await?;
        if matches!(outcome, PublishOutcome::Published { .. }) {
            for sub in subscriptions {
                if let Some(n) = self.shared.notifiers.get(sub) {
                    n.notify_one();
                }
            }
        }
        Ok(outcome)
    }
}

#[async_trait]
impl HealthCheck for SqliteBus {
    fn name(&self) -> &'static str {
        "bus"
    }

    async fn check(&self) -> Result<(), PortError> {
        if self.shared.cancel.is_cancelled() {
            return Err(PortError::transient("the bus is shutting down"));
        }
        let dead = self
            .shared
            .pumps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(tokio::task::JoinHandle::is_finished);
        if dead {
            return Err(PortError::permanent("a bus delivery task stopped"));
        }
        self.shared
            .db
            .read(|c| Ok(c.row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await?;
        Ok(())
    }
}

/// A delivery row as the scheduler tracks it.
#[derive(Debug, Clone)]
struct Pending {
    seq: i64,
    attempts: u32,
    not_before: i64,
}

/// Per-key queues: which keys can go now, which wait for a backoff, which are in flight.
#[derive(Default)]
struct Scheduler {
    queues: HashMap<String, VecDeque<Pending>>,
    ready: VecDeque<String>,
    delayed: BinaryHeap<Reverse<(i64, String)>>,
    in_flight: HashSet<String>,
    last_seq: i64,
}

impl Scheduler {
    fn add(&mut self, key: String, pending: Pending, now: i64) {
        self.last_seq = self.last_seq.max(pending.seq);
        let queue = self.queues.entry(key.clone()).or_default();
        let was_empty = queue.is_empty();
        queue.push_back(pending);
        if was_empty && !self.in_flight.contains(&key) {
            self.schedule(key, now);
        }
    }

    fn schedule(&mut self, key: String, now: i64) {
        if let Some(head) = self.queues.get(&key).and_then(VecDeque::front) {
            if head.not_before <= now {
                self.ready.push_back(key);
            } else {
                self.delayed.push(Reverse((head.not_before, key)));
            }
        }
    }

    fn promote_due(&mut self, now: i64) {
        while let Some(Reverse((at, _))) = self.delayed.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((_, key))) = self.delayed.pop() {
                self.ready.push_back(key);
            }
        }
    }

    fn next_wake(&self) -> Option<i64> {
        self.delayed.peek().map(|Reverse((at, _))| *at)
    }

    /// The key is done with its head delivery (acked or dead-lettered).
    fn pop_head(&mut self, key: &str, now: i64) {
        self.in_flight.remove(key);
        let empty = match self.queues.get_mut(key) {
            Some(queue) => {
                queue.pop_front();
                queue.is_empty()
            }
            None => true,
        };
        if empty {
            self.queues.remove(key);
        } else {
            self.schedule(key.to_owned(), now);
        }
    }

    /// The key's head delivery will be retried at `not_before`.
    fn delay_head(&mut self, key: &str, attempts: u32, not_before: i64) {
        self.in_flight.remove(key);
        if let Some(head) = self.queues.get_mut(key).and_then(VecDeque::front_mut) {
            head.attempts = attempts;
            head.not_before = not_before;
            self.delayed.push(Reverse((not_before, key.to_owned())));
        }
    }
}

struct Finished {
    key: String,
    pending: Pending,
    outcome: HandleOutcome,
    letter: Option<Delivery>,
}

/// The delivery loop of one subscription.
struct Pump {
    shared: Arc<Shared>,
    subscription: &'static str,
    handler: Arc<dyn MessageHandler>,
    notify: Arc<Notify>,
}

impl Pump {
    async fn run(self) {
        let Some(_lock) = self.acquire_lock().await else {
            return;
        };
        info!(subscription = self.subscription, "Bus delivery started.");
        let mut scheduler = Scheduler::default();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
        let mut handlers: JoinSet<()> = JoinSet::new();
        let mut writes: JoinSet<()> = JoinSet::new();
        let config = self.shared.config.clone();
        loop {
            if self.shared.cancel.is_cancelled() {
                break;
            }
            let now = now_ms();
            match self.load_new(&mut scheduler, now).await {
                Ok(full) if full => continue,
                Ok(_) => {}
                Err(e) => {
                    warn!(subscription = self.subscription, error = %e, "Could not read new deliveries.")
                }
            }
            scheduler.promote_due(now);
            while scheduler.in_flight.len() < config.max_in_flight {
                let Some(key) = scheduler.ready.pop_front() else {
                    break;
                };
                let Some(head) = scheduler
                    .queues
                    .get(&key)
                    .and_then(VecDeque::front)
                    .cloned()
                else {
                    continue;
                };
                scheduler.in_flight.insert(key.clone());
                handlers.spawn(self.deliver(key, head, done_tx.clone()));
            }
            while writes.try_join_next().is_some() {}
            while handlers.try_join_next().is_some() {}

            let wake = scheduler
                .next_wake()
                .map(|at| Duration::from_millis(u64::try_from(at - now).unwrap_or(0)))
                .unwrap_or(config.poll_interval)
                .min(config.poll_interval);
            tokio::select! {
                () = self.shared.cancel.cancelled() => break,
                () = self.notify.notified() => {}
                () = tokio::time::sleep(wake) => {}
                Some(finished) = done_rx.recv() => {
                    self.complete(&mut scheduler, &mut writes, finished);
                    while let Ok(more) = done_rx.try_recv() {
                        self.complete(&mut scheduler, &mut writes, more);
                    }
                }
            }
        }
        // Let running handlers finish and record their outcomes: nothing is acked early.
        drop(done_tx);
        while let Some(finished) = done_rx.recv().await {
            self.complete(&mut scheduler, &mut writes, finished);
        }
        while writes.join_next().await.is_some() {}
        info!(subscription = self.subscription, "Bus delivery stopped.");
    }

    /// Takes the subscription's lock file, waiting while another process holds it.
    async fn acquire_lock(&self) -> Option<File> {
        let path = self
            .shared
            .db
            .path()
            .with_file_name(format!("bus-{}.lock", self.subscription));
        let file = match OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) => {
                error!(path = %path.display(), error = %e, "Cannot open the bus lock file.");
                return None;
            }
        };
        let mut warned = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Some(file),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !warned {
                        info!(
                            subscription = self.subscription,
                            "Another process delivers this subscription; waiting for its lock."
                        );
                        warned = true;
                    }
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    error!(path = %path.display(), error = %e, "Cannot lock the bus lock file.");
                    return None;
                }
            }
            tokio::select! {
                () = self.shared.cancel.cancelled() => return None,
                () = tokio::time::sleep(self.shared.config.poll_interval) => {}
            }
        }
    }

    /// Reads delivery rows added since the last read; `true` if there may be more.
    async fn load_new(&self, scheduler: &mut Scheduler, now: i64) -> Result<bool, PortError> {
        const PAGE: i64 = 2000;
        let (sub, after) = (self.subscription, scheduler.last_seq);
        let rows: Vec<(i64, Option<String>, u32, i64)> = self
            .shared
            .db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq, ordering_key, attempts, next_attempt_at FROM bus_deliveries
                     WHERE subscription = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )?;
                let rows = stmt.query_map(params![sub, after, PAGE], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        let full = rows.len() as i64 == PAGE;
        for (seq, key, attempts, not_before) in rows {
            // Messages without an ordering key are independent of each other.
            let key = key.unwrap_or_else(|| format!("#{seq}"));
            scheduler.add(
                key,
                Pending {
                    seq,
                    attempts,
                    not_before,
                },
                now,
            );
        }
        Ok(full)
    }

    fn deliver(
        &self,
        key: String,
        pending: Pending,
        done: mpsc::UnboundedSender<Finished>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let db = self.shared.db.clone();
        let handler = Arc::clone(&self.handler);
        let subscription = self.subscription;
        let timeout = self.shared.config.handler_timeout;
        async move {
            let seq = pending.seq;
            let row = db
                .read(move |c| {
                    Ok(c.prepare_cached(
                        "SELECT ordering_key, attributes, data, published_at FROM bus_messages WHERE seq = ?1",
                    )?
                    .query_row(
                        [seq],
                        |r| {
                            Ok((
                                r.get::<_, Option<String>>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, Vec<u8>>(2)?,
                                r.get::<_, i64>(3)?,
                            ))
                        },
                    )
                    .optional()?)
                })
                .await;
            let (outcome, letter) = match row {
                Ok(Some((ordering_key, attributes, data, published_at))) => {
                    let attributes: BTreeMap<String, String> =
                        serde_json::from_str(&attributes).unwrap_or_default();
                    let delivery = Delivery {
                        subscription: subscription.to_owned(),
                        message_id: seq.to_string(),
                        ordering_key,
                        attributes,
                        data,
                        delivery_attempt: pending.attempts + 1,
                        publish_time: from_millis(published_at),
                    };
                    let outcome =
                        match tokio::time::timeout(timeout, handler.handle(&delivery)).await {
                            Ok(outcome) => outcome,
                            Err(_) => HandleOutcome::Retry {
                                reason: format!("handler did not finish within {timeout:?}"),
                                after: None,
                            },
                        };
                    (outcome, Some(delivery))
                }
                // The message row is gone (it cannot be, short of manual surgery): nothing to do.
                Ok(None) => (HandleOutcome::Ack, None),
                Err(e) => (
                    HandleOutcome::Retry {
                        reason: format!("could not read the message: {e}"),
                        after: None,
                    },
                    None,
                ),
            };
            let _ = done.send(Finished {
                key,
                pending,
                outcome,
                letter,
            });
        }
    }

    fn complete(&self, scheduler: &mut Scheduler, writes: &mut JoinSet<()>, finished: Finished) {
        let Finished {
            key,
            pending,
            outcome,
            letter,
        } = finished;
        let now = now_ms();
        let config = &self.shared.config;
        let attempts = pending.attempts + 1;
        let db = self.shared.db.clone();
        let sub = self.subscription;
        let seq = pending.seq;
        let reason = match outcome {
            HandleOutcome::Ack => {
                scheduler.pop_head(&key, now);
                writes.spawn(async move {
                    let result = db
                        .write(move |c| {
                            delete_delivery(c, sub, seq)
                        })
                        .await;
                    if let Err(e) = result {
                        // The message will be delivered again after a restart; handlers are
                        // idempotent.
                        warn!(subscription = sub, seq, error = %e, "Could not record an acknowledgement.");
                    }
                });
                return;
            }
            HandleOutcome::Retry { reason, after } if attempts < config.max_attempts => {
                let backoff = redelivery_backoff(attempts, config.min_backoff, config.max_backoff);
                let wait = after.map_or(backoff, |a| a.max(backoff).min(config.max_backoff.max(a)));
                let not_before = now.saturating_add(ms(wait));
                debug!(subscription = sub, seq, attempts, ?wait, reason = %atiende_domain::mask::scrub_digits(&reason), "Delivery will be retried.");
                scheduler.delay_head(&key, attempts, not_before);
                writes.spawn(async move {
                    let result = db
                        .write(move |c| {
                            c.prepare_cached(
                                "UPDATE bus_deliveries SET attempts = ?3, next_attempt_at = ?4
                                 WHERE subscription = ?1 AND seq = ?2",
                            )?
                            .execute(params![sub, seq, attempts, not_before])?;
                            Ok(())
                        })
                        .await;
                    if let Err(e) = result {
                        warn!(subscription = sub, seq, error = %e, "Could not record a retry.");
                    }
                });
                return;
            }
            HandleOutcome::Retry { reason, .. } => {
                format!("gave up after {attempts} attempts: {reason}")
            }
            HandleOutcome::Reject { reason } => reason,
        };
        error!(subscription = sub, seq, attempts, reason = %atiende_domain::mask::scrub_digits(&reason), "Message dead-lettered.");
        scheduler.pop_head(&key, now);
        let letter = DeadLetter {
            id: String::new(),
            subscription: sub.to_owned(),
            message_id: seq.to_string(),
            ordering_key: letter.as_ref().and_then(|d| d.ordering_key.clone()),
            attributes: letter
                .as_ref()
                .map(|d| d.attributes.clone())
                .unwrap_or_default(),
            data: letter
                .as_ref()
                .map(|d| String::from_utf8_lossy(&d.data).into_owned())
                .unwrap_or_default(),
            reason,
            attempts,
            at: Utc::now(),
        };
        writes.spawn(async move {
            let result = db
                .write(move |c| {
                    stores::dead_letter_insert(c, &letter)?;
                    delete_delivery(c, sub, seq)
                })
                .await;
            if let Err(e) = result {
                error!(subscription = sub, seq, error = %e, "Could not park a dead letter.");
            }
        });
    }
}
