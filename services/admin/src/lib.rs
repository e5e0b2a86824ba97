//! The admin service: how operators onboard tenants and look after them.
//!
//! Every route needs a bearer credential (see [`access`]): the operator's token
//! (`ATIENDE_ADMIN_TOKEN`, compared in constant time; without one configured the operator's
//! routes answer 503) or a tenant API key, whose role — owner, editor, viewer — decides what it
//! reaches of its one tenant. Secrets (auth tokens,
//! app secrets, access and verify tokens) are **write-only**: they can be set and replaced, never
//! read back — views say only whether each is set.
//!
//! # Routes
//! * `POST /admin/tenants`, `GET /admin/tenants`, `GET|PATCH|DELETE /admin/tenants/{id}`
//! * `POST /admin/tenants/{id}/knowledge`: JSON (`{"documents": ["text", …]}` or objects with
//!   `id`, `title`, `kind` = `text`|`faq`|`catalog`, `content`) or `multipart/form-data` files
//!   (.txt, .md, .csv, .json, .pdf; see `uploads`). 201 with the outcome per document, or with
//!   `Prefer: respond-async` 202 and a job: `GET …/knowledge/jobs[/{job}]` shows its state and
//!   progress. `GET …/knowledge`, `DELETE …/knowledge/{doc}`, `POST …/knowledge/search`
//!   (`{"query", "limit", "mode"}`: the debug view, with each retriever's rank and score and the
//!   fused order)
//! * `GET /admin/tenants/{id}/conversations[?state=]`, `GET …/conversations/{cid}`,
//!   `POST …/conversations/{cid}/resolve`
//! * `POST /admin/tenants/{id}/agents` (`{"name"}`; the answer carries the agent's console key,
//!   shown this once), `GET …/agents`, `DELETE …/agents/{agent}`
//! * `POST /admin/tenants/{id}/keys` (`{"name", "role"}`; the answer carries the key, shown this
//!   once), `GET …/keys`, `DELETE …/keys/{key}`
//! * `GET /admin/tenants/{id}/stats[?from=&to=&format=csv]` — the dashboard's figures per day
//!   and for the period (resolution and escalation rates, triggers, answer and wait times, model
//!   and WhatsApp costs), from daily counters
//! * `GET /admin/tenants/{id}/outbox[?state=]` — what was sent, parked or failed, and why
//! * `GET /admin/dead-letters` — bus messages given up on
//! * `GET /admin/openapi.json` — the OpenAPI 3.1 description of all of the above, generated
//!   from the handlers (public)
//! * `GET /metrics` — Prometheus text: per-tenant counters and the model key pools; the
//!   operator's token
//!
//! The same service serves the built-in agent console (see [`console`]) under `/console`, and
//! the business's web admin (dashboard, knowledge, playground, conversations, settings) at
//! `/panel`.

mod access;
pub mod console;
mod metrics;
mod panel;
mod routes;
mod uploads;
mod views;

use std::sync::Arc;

use actix_web::web;
use atiende_app::{
    access::ApiKeys,
    accounts::AccountsAdmin,
    conversations::ConversationAdmin,
    desk::AgentConsole,
    knowledge::{IngestionJobs, KnowledgeService},
    llm::ModelChain,
    reports::Reports,
    simulate::Simulator,
    tenants::TenantAdmin,
};
use atiende_bootstrap::{Embedded, Needs};
use atiende_ports::{Clock, DeadLetterStore, Outbox, SecurityAudit, UsageLedger};
use secrecy::SecretString;

/// The admin service's state.
pub struct Admin {
    token: Option<SecretString>,
    keys: ApiKeys,
    reports: Reports,
    stats: Arc<dyn atiende_ports::StatsLedger>,
    tenants: TenantAdmin,
    knowledge: Arc<KnowledgeService>,
    jobs: Arc<IngestionJobs>,
    max_upload_bytes: usize,
    max_file_bytes: usize,
    conversations: ConversationAdmin,
    console: Arc<AgentConsole>,
    outbox: Arc<dyn Outbox>,
    dead_letters: Arc<dyn DeadLetterStore>,
    publisher: Arc<dyn atiende_ports::EventPublisher>,
    default_budget_usd: f64,
    public_url: String,
    http: reqwest::Client,
    min_relevance: f32,
    accounts: AccountsAdmin,
    usage: Arc<dyn UsageLedger>,
    chain: Option<Arc<ModelChain>>,
    clock: Arc<dyn Clock>,
    simulator: Simulator,
    audit: Arc<dyn SecurityAudit>,
}

impl Admin {
    /// Builds the service on `infra`.
    pub fn new(infra: &Embedded) -> anyhow::Result<Self> {
        let knowledge = infra.knowledge()?;
        Ok(Self {
            token: infra.settings.admin_token.clone(),
            keys: ApiKeys::new(infra.stores().api_keys.clone(), infra.clock.clone()),
            stats: infra.stores().stats.clone(),
            reports: Reports::new(
                infra.stores().stats.clone(),
                infra.settings.dispatcher.template_price_usd,
            ),
            tenants: infra.tenant_admin()?,
            knowledge: knowledge.clone(),
            jobs: Arc::new(IngestionJobs::new(
                knowledge,
                infra.stores().jobs.clone(),
                infra.clock.clone(),
            )),
            max_upload_bytes: infra.settings.limits.max_admin_bytes,
            max_file_bytes: infra.settings.media.max_bytes,
            conversations: infra.conversation_admin(),
            console: infra.console(),
            outbox: infra.outbox(),
            dead_letters: infra.dead_letters(),
            publisher: infra.publisher(),
            default_budget_usd: infra.settings.llm.default_monthly_budget_usd,
            public_url: infra.public_url.clone(),
            http: infra.http.clone(),
            min_relevance: infra.settings.processor.min_relevance,
            accounts: infra.accounts_admin(),
            usage: infra.stores().usage.clone(),
            chain: infra.engine.as_ref().map(|e| e.chain().clone()),
            clock: infra.clock.clone(),
            simulator: infra.simulator()?,
            audit: infra.stores().audit.clone(),
        })
    }

    /// Registers the routes under `/admin` and the console under `/console`.
    pub fn configure(self: Arc<Self>, cfg: &mut web::ServiceConfig) {
        let data = web::Data::from(self);
        routes::configure(data.clone(), cfg);
        metrics::configure(data.clone(), cfg);
        console::configure(data, cfg);
        panel::configure(cfg);
    }
}

/// Runs the admin service alone.
pub async fn run(settings: atiende_platform::Settings) -> anyhow::Result<()> {
    atiende_bootstrap::run_service("admin", Needs::ALL, settings, |infra| async move {
        // Tenants are onboarded here, the demo tenant too.
        infra.load_demo_if_enabled().await?;
        if infra.settings.admin_token.is_none() {
            tracing::warn!("ATIENDE_ADMIN_TOKEN is not set: the admin API is disabled.");
        }
        let admin = Arc::new(Admin::new(&infra)?);
        Ok(
            Arc::new(move |cfg: &mut web::ServiceConfig| Arc::clone(&admin).configure(cfg))
                as atiende_platform::server::Configure,
        )
    })
    .await
}
