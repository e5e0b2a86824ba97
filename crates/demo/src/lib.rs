//! The demo tenant, `demo`: Ferretería El Progreso, a hardware store in La Romana.
//!
//! Its information page and product catalog come from the design documents' demo data and are
//! compiled into the binary, so `cargo run` answers questions about it on a fresh machine. Its
//! credentials are **public test values** (the Twilio auth token is `12345`, as in Twilio's own
//! test vectors): the demo is for trying atiende locally and must be switched off
//! (`ATIENDE_DEMO=false`) anywhere reachable from the internet.

use atiende_app::{
    AppError,
    knowledge::{DocumentInput, KnowledgeService},
    tenants::{NewTenant, TenantAdmin},
};
use atiende_domain::ValidationError;

/// The tenant's configuration, as the admin API would receive it.
pub const TENANT_JSON: &str = include_str!("../data/tenant.json");
/// The store's information page (hours, delivery, payment, returns, offers, services).
pub const INFORMATION_MD: &str = include_str!("../data/informacion.md");
/// The product catalog.
pub const PRODUCTS_CSV: &str = include_str!("../data/productos.csv");
/// The credit accounts the account-status tool reads (fictional people and numbers).
pub const ACCOUNTS_CSV: &str = include_str!("../data/cuentas.csv");

/// The demo tenant's id.
pub const TENANT_ID: &str = "demo";
/// The demo tenant's Twilio auth token (public).
pub const TWILIO_AUTH_TOKEN: &str = "demo-twilio-auth-token-0000";
/// The demo tenant's Meta app secret (public).
pub const META_APP_SECRET: &str = "demo-meta-app-secret";
/// The demo tenant's Meta phone number id.
pub const META_PHONE_NUMBER_ID: &str = "106540352242922";
/// The demo agent's console key (public, like the other demo credentials).
pub const AGENT_KEY: &str = "demo-agent-key";

/// The tenant configuration.
pub fn tenant() -> Result<NewTenant, AppError> {
    serde_json::from_str(TENANT_JSON)
        .map_err(|e| AppError::Validation(ValidationError::new("demo tenant", e.to_string())))
}

/// The knowledge documents.
pub fn documents() -> Vec<DocumentInput> {
    vec![
        DocumentInput::Full {
            id: Some("informacion".to_owned()),
            title: Some("Información para clientes".to_owned()),
            kind: Some("text".to_owned()),
            content: INFORMATION_MD.to_owned(),
        },
        DocumentInput::Full {
            id: Some("productos".to_owned()),
            title: Some("Catálogo de productos".to_owned()),
            kind: Some("catalog".to_owned()),
            content: PRODUCTS_CSV.to_owned(),
        },
    ]
}

/// Creates or refreshes the demo tenant and its knowledge. Idempotent: unchanged documents are
/// recognized by their content hash.
pub async fn load(tenants: &TenantAdmin, knowledge: &KnowledgeService) -> Result<(), AppError> {
    let tenant = tenants.upsert(tenant()?).await?;
    let ingested = knowledge.ingest(&tenant.id, documents()).await?;
    let passages: usize = ingested.iter().map(|d| d.passages).sum();
    tracing::warn!(
        tenant = %tenant.id,
        passages,
        "Demo tenant loaded with public test credentials; set ATIENDE_DEMO=false anywhere reachable from the internet."
    );
    Ok(())
}

/// Loads the demo tenant's credit accounts (replacing any); idempotent.
pub async fn load_accounts(
    accounts: &atiende_app::accounts::AccountsAdmin,
) -> Result<(), AppError> {
    accounts
        .import_csv(&atiende_domain::TenantId::parse(TENANT_ID)?, ACCOUNTS_CSV)
        .await
        .map(|_| ())
}

/// Adds the demo tenant's console agent ("Agente demo", key [`AGENT_KEY`]); idempotent.
pub async fn load_agent(console: &atiende_app::desk::AgentConsole) -> Result<(), AppError> {
    let account = atiende_ports::AgentAccount {
        tenant: atiende_domain::TenantId::parse(TENANT_ID)?,
        agent: atiende_domain::Agent::new("console:demo", "Agente demo")?,
    };
    console.add_agent_with_key(&account, AGENT_KEY).await
}
