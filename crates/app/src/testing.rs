//! Test fixtures shared by the crate's unit tests.

use atiende_domain::{Locale, Tenant, TenantId, assistant::AssistantSettings};

/// The tenant `demo` ("El Progreso", Spanish, no channels or desks) with `assistant`.
pub(crate) fn tenant(assistant: AssistantSettings) -> Tenant {
    let now = chrono::Utc::now();
    Tenant {
        id: TenantId::parse("demo").unwrap(),
        name: "Demo".into(),
        company_name: "El Progreso".into(),
        welcome_message: None,
        language: Locale::Es,
        twilio: None,
        meta: None,
        chatwoot: None,
        rocketchat: None,
        business_hours: None,
        desk_wait_minutes: None,
        alerts: None,
        crm: None,
        templates: std::collections::BTreeMap::new(),
        webchat_enabled: false,
        canned_replies: Vec::new(),
        assistant,
        created_at: now,
        updated_at: now,
    }
}
