//! The admin routes.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use atiende_app::{
    knowledge::SearchMode,
    tenants::{NewTenant, TenantPatch},
};
use atiende_domain::{
    ConversationState,
    access::{Need, Role},
};
use atiende_platform::ApiError;
use atiende_ports::OutboxState;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::{
    Admin,
    access::{Operator, Principal},
    uploads,
    views::TenantView,
};

type Data = web::Data<Admin>;

/// The admin API, described from its handlers (`GET /admin/openapi.json`, public: a description
/// opens nothing).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "atiende admin API",
        description = "Tenants, knowledge, conversations, agents, keys, reports. Every route takes a \
                       bearer credential: the operator's token (every tenant) or a tenant API key \
                       (`atk_…`) whose role — owner, editor, viewer — decides what it reaches."
    ),
    paths(
        create_tenant, list_tenants, get_tenant, update_tenant, delete_tenant, ingest_knowledge,
        list_knowledge, list_ingestion_jobs, get_ingestion_job, search_knowledge, delete_knowledge,
        list_conversations, get_conversation, resolve_conversation, add_agent, list_agents,
        remove_agent, create_key, list_keys, revoke_key, list_outbox, import_accounts, get_usage,
        get_stats, check_channels, simulate, security_audit, metrics, list_dead_letters,
        redrive_dead_letter
    ),
    modifiers(&Bearer),
    security(("bearer" = []))
)]
pub(crate) struct AdminApi;

/// The bearer scheme every operation uses.
struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(AdminApi::openapi())
}

pub(crate) fn configure(data: Data, cfg: &mut web::ServiceConfig) {
    let guard = data.clone();
    // Before the scope, so its authentication does not apply.
    cfg.service(web::resource("/admin/openapi.json").route(web::get().to(openapi)));
    cfg.service(
        web::scope("/admin")
            .app_data(data)
            .wrap(actix_web::middleware::from_fn(move |request, next| {
                crate::access::authenticate(guard.clone(), request, next)
            }))
            .route("/tenants", web::post().to(create_tenant))
            .route("/tenants", web::get().to(list_tenants))
            .route("/tenants/{id}", web::get().to(get_tenant))
            .route("/tenants/{id}", web::patch().to(update_tenant))
            .route("/tenants/{id}", web::delete().to(delete_tenant))
            .route("/tenants/{id}/knowledge", web::post().to(ingest_knowledge))
            .route("/tenants/{id}/knowledge", web::get().to(list_knowledge))
            .route(
                "/tenants/{id}/knowledge/jobs",
                web::get().to(list_ingestion_jobs),
            )
            .route(
                "/tenants/{id}/knowledge/jobs/{job}",
                web::get().to(get_ingestion_job),
            )
            .route(
                "/tenants/{id}/knowledge/search",
                web::post().to(search_knowledge),
            )
            .route(
                "/tenants/{id}/knowledge/{doc}",
                web::delete().to(delete_knowledge),
            )
            .route(
                "/tenants/{id}/conversations",
                web::get().to(list_conversations),
            )
            .route(
                "/tenants/{id}/conversations/{cid}",
                web::get().to(get_conversation),
            )
            .route(
                "/tenants/{id}/conversations/{cid}/resolve",
                web::post().to(resolve_conversation),
            )
            .route("/tenants/{id}/agents", web::post().to(add_agent))
            .route("/tenants/{id}/agents", web::get().to(list_agents))
            .route(
                "/tenants/{id}/agents/{agent}",
                web::delete().to(remove_agent),
            )
            .route("/tenants/{id}/keys", web::post().to(create_key))
            .route("/tenants/{id}/keys", web::get().to(list_keys))
            .route("/tenants/{id}/keys/{key}", web::delete().to(revoke_key))
            .route("/tenants/{id}/outbox", web::get().to(list_outbox))
            .route("/tenants/{id}/accounts", web::put().to(import_accounts))
            .route("/tenants/{id}/usage", web::get().to(get_usage))
            .route("/tenants/{id}/stats", web::get().to(get_stats))
            .route(
                "/tenants/{id}/channels/check",
                web::post().to(check_channels),
            )
            .route("/tenants/{id}/simulate", web::post().to(simulate))
            .route(
                "/tenants/{id}/security-audit",
                web::get().to(security_audit),
            )
            .route("/metrics", web::get().to(metrics))
            .route("/dead-letters", web::get().to(list_dead_letters))
            .route(
                "/dead-letters/{id}/redrive",
                web::post().to(redrive_dead_letter),
            ),
    );
}

#[utoipa::path(post, path = "/admin/tenants", tag = "tenants", request_body(content = Object, description = "The tenant: `id`, `name`, `company_name`, and optionally `language`, `twilio`, `meta`, `chatwoot`, `rocketchat`, `business_hours`, `templates`, `assistant`, `canned_replies`… (docs/configuration.md)"), responses((status = 201, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: operator"), (status = 400, description = "Invalid body")))]
async fn create_tenant(
    _: Operator,
    admin: Data,
    body: web::Json<NewTenant>,
) -> Result<HttpResponse, ApiError> {
    let tenant = admin.tenants.create(body.into_inner()).await?;
    tracing::info!(tenant = %tenant.id, "Tenant created.");
    Ok(HttpResponse::Created().json(TenantView::new(&tenant, &admin.public_url)))
}

/// Every tenant to the operator; a key's own tenant to a key.
#[utoipa::path(get, path = "/admin/tenants", tag = "tenants", responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: any key (its own tenant) or the operator (every tenant)")))]
async fn list_tenants(who: Principal, admin: Data) -> Result<HttpResponse, ApiError> {
    let tenants = match &who {
        Principal::Operator => admin.tenants.list().await?,
        Principal::Key(key) => vec![admin.tenants.get(key.tenant.as_str()).await?],
    };
    let views: Vec<_> = tenants
        .iter()
        .map(|t| TenantView::new(t, &admin.public_url))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "tenants": views })))
}

#[utoipa::path(get, path = "/admin/tenants/{id}", tag = "tenants", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)")), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: viewer"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn get_tenant(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.tenant(&admin, &id, Need::Read).await?;
    let tenant = admin.tenants.get(&id).await?;
    Ok(HttpResponse::Ok().json(TenantView::new(&tenant, &admin.public_url)))
}

#[utoipa::path(patch, path = "/admin/tenants/{id}", tag = "tenants", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)")), request_body(content = Object, description = "Any of the tenant's fields; `null` removes an optional one. `assistant` is a JSON merge patch (RFC 7396): the settings given change, a `null` one returns to its default, the rest stay"), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: editor (bot settings) or owner (channels, desks, alerts, CRM, names)"), (status = 404, description = "Unknown here (another tenant's is unknown too)"), (status = 400, description = "Invalid body")))]
async fn update_tenant(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
    body: web::Json<TenantPatch>,
) -> Result<HttpResponse, ApiError> {
    who.tenant(&admin, &id, Need::Edit).await?;
    let patch = body.into_inner();
    let owner_fields = patch.owner_fields();
    if !owner_fields.is_empty() {
        who.require(Need::Own).map_err(|_| ApiError::Forbidden {
            code: "forbidden",
            message: format!(
                "only an owner key may change {}: an editor changes the bot's behaviour",
                owner_fields.join(", ")
            ),
        })?;
    }
    let tenant = admin.tenants.update(&id, patch).await?;
    tracing::info!(tenant = %tenant.id, "Tenant updated.");
    Ok(HttpResponse::Ok().json(TenantView::new(&tenant, &admin.public_url)))
}

#[utoipa::path(delete, path = "/admin/tenants/{id}", tag = "tenants", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)")), responses((status = 204, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: owner"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn delete_tenant(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.tenant(&admin, &id, Need::Own).await?;
    admin.tenants.delete(&id).await?;
    tracing::info!(tenant = %id, "Tenant deleted.");
    Ok(HttpResponse::NoContent().finish())
}

/// Ingests JSON documents or uploaded files: 201 with the outcome per document, or 202 and a job
/// to poll (`Location`) when the client sent `Prefer: respond-async`.
#[utoipa::path(post, path = "/admin/tenants/{id}/knowledge", tag = "knowledge", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)")), request_body(content = Object, description = "JSON `{\"documents\": […]}` or `multipart/form-data` files (.txt, .md, .csv, .json, .pdf)"), responses((status = 201, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: editor"), (status = 404, description = "Unknown here (another tenant's is unknown too)"), (status = 400, description = "Invalid body")))]
async fn ingest_knowledge(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Edit).await?;
    let documents = uploads::read_documents(&request, payload, admin.max_upload_bytes).await?;
    if uploads::prefers_async(&request) {
        let job = admin.jobs.start(tenant.clone(), documents).await?;
        return Ok(HttpResponse::Accepted()
            .insert_header((
                header::LOCATION,
                format!("/admin/tenants/{tenant}/knowledge/jobs/{}", job.id),
            ))
            .insert_header(("Preference-Applied", "respond-async"))
            .json(job));
    }
    let documents = admin.knowledge.ingest(&tenant, documents).await?;
    Ok(HttpResponse::Created().json(json!({ "documents": documents })))
}

#[utoipa::path(get, path = "/admin/tenants/{id}/knowledge/jobs", tag = "knowledge", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)")), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: viewer"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn list_ingestion_jobs(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Read).await?;
    Ok(HttpResponse::Ok().json(json!({ "jobs": admin.jobs.list(&tenant).await? })))
}

#[utoipa::path(get, path = "/admin/tenants/{id}/knowledge/jobs/{job}", tag = "knowledge", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)"), ("job" = String, Path, description = "The ingestion job")), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: viewer"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn get_ingestion_job(
    who: Principal,
    admin: Data,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, job) = path.into_inner();
    let tenant = who.tenant(&admin, &id, Need::Read).await?;
    Ok(HttpResponse::Ok().json(admin.jobs.get(&tenant, &job).await?))
}

#[utoipa::path(get, path = "/admin/tenants/{id}/knowledge", tag = "knowledge", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)")), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: viewer"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn list_knowledge(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Read).await?;
    let documents = admin.knowledge.documents(&tenant).await?;
    Ok(HttpResponse::Ok().json(json!({ "documents": documents })))
}

#[utoipa::path(delete, path = "/admin/tenants/{id}/knowledge/{doc}", tag = "knowledge", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)"), ("doc" = String, Path, description = "The document")), responses((status = 204, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: editor"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn delete_knowledge(
    who: Principal,
    admin: Data,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, doc) = path.into_inner();
    let tenant = who.tenant(&admin, &id, Need::Edit).await?;
    admin.knowledge.delete(&tenant, &doc).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SearchRequest {
    query: String,
    limit: Option<usize>,
    /// `hybrid` (default), `keyword` or `dense`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    mode: SearchMode,
}

/// Replaces the tenant's credit accounts with a CSV (the demo's `cuentas.csv` layout).
#[utoipa::path(put, path = "/admin/tenants/{id}/accounts", tag = "tenants", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)")), request_body(content = String, content_type = "text/csv", description = "The credit accounts, as the demo's `cuentas.csv`"), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: editor"), (status = 404, description = "Unknown here (another tenant's is unknown too)"), (status = 400, description = "Invalid body")))]
async fn import_accounts(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
    body: String,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Edit).await?;
    let imported = admin.accounts.import_csv(&tenant, &body).await?;
    Ok(HttpResponse::Ok().json(json!({ "imported": imported })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MonthQuery {
    month: Option<String>,
}

/// Model tokens and spending of a month (`?month=2026-11`; default: this month, UTC), against
/// the tenant's budget.
#[utoipa::path(get, path = "/admin/tenants/{id}/usage", tag = "reports", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)"), MonthQuery), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: viewer"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn get_usage(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
    query: web::Query<MonthQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Read).await?;
    let month = match query.into_inner().month {
        Some(m) if chrono::NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").is_ok() => m,
        Some(m) => {
            return Err(ApiError::BadRequest {
                code: "validation",
                message: format!("month {m:?} is not YYYY-MM"),
            });
        }
        None => admin.clock.now().format("%Y-%m").to_string(),
    };
    let (prompt_tokens, completion_tokens, cost_usd) = admin.usage.usage(&tenant, &month).await?;
    let own = admin
        .tenants
        .get(tenant.as_str())
        .await?
        .assistant
        .monthly_budget_usd;
    // A tenant that set no budget has the deployment's default: spending always has a cap.
    let budget = own.unwrap_or(admin.default_budget_usd);
    Ok(HttpResponse::Ok().json(json!({
        "month": month, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "cost_usd": cost_usd, "monthly_budget_usd": budget, "budget_is_default": own.is_none(),
        "over_budget": cost_usd >= budget,
    })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

fn day(value: Option<&str>, field: &'static str) -> Result<Option<chrono::NaiveDate>, ApiError> {
    value
        .map(|v| {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| ApiError::BadRequest {
                code: "validation",
                message: format!("{field} {v:?} is not YYYY-MM-DD"),
            })
        })
        .transpose()
}

/// The dashboard's figures per day and for the period (`?from=&to=`, days in UTC; default the
/// last 30 days), as JSON or, with `?format=csv`, as CSV.
#[utoipa::path(get, path = "/admin/tenants/{id}/stats", tag = "reports", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)"), PeriodQuery), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: viewer"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn get_stats(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
    query: web::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Read).await?;
    let query = query.into_inner();
    let to = day(query.to.as_deref(), "to")?.unwrap_or_else(|| admin.clock.now().date_naive());
    let from =
        day(query.from.as_deref(), "from")?.unwrap_or_else(|| to - chrono::Duration::days(29));
    let report = admin.reports.report(&tenant, from, to).await?;
    match query.format.as_deref() {
        None | Some("json") => Ok(HttpResponse::Ok().json(report)),
        Some("csv") => Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"atiende-{tenant}-{from}-{to}.csv\""),
            ))
            .body(atiende_app::reports::to_csv(&report)?)),
        Some(other) => Err(ApiError::BadRequest {
            code: "validation",
            message: format!("format {other:?} is not json or csv"),
        }),
    }
}

/// Tries each of the tenant's webhook URLs through the deployment's public URL, as the provider
/// would reach it: Twilio's answers 403 to an unsigned request (the route is there and checks
/// signatures), Meta's echoes the challenge of a verification with the tenant's verify token,
/// the web chat's describes the tenant. A wrong public URL, a proxy that does not forward, or a
/// channel that is not configured shows here before a customer writes.
#[utoipa::path(post, path = "/admin/tenants/{id}/channels/check", tag = "tenants", params(("id" = String, Path, description = "The tenant")), responses((status = 200, description = "Each channel: its URL, whether it answered as expected, the status and time"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: editor"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn check_channels(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = who.tenant(&admin, &id, Need::Edit).await?;
    let tenant = admin.tenants.get(tenant_id.as_str()).await?;
    let base = admin.public_url.trim_end_matches('/');
    let timeout = std::time::Duration::from_secs(5);
    let mut checks = Vec::new();
    let mut record = |channel: &str,
                      url: String,
                      outcome: Result<(u16, String), String>,
                      expect: &dyn Fn(u16, &str) -> bool,
                      started: std::time::Instant| {
        let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        checks.push(match outcome {
            Ok((status, body)) => json!({
                "channel": channel, "url": url, "status": status, "ms": elapsed,
                "reachable": expect(status, &body),
            }),
            Err(error) => json!({
                "channel": channel, "url": url, "reachable": false, "ms": elapsed, "error": error,
            }),
        });
    };
    let send = |request: reqwest::RequestBuilder| async move {
        let response = request
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        Ok::<_, String>((status, response.text().await.unwrap_or_default()))
    };
    if tenant.twilio.is_some() {
        let url = format!("{base}/webhooks/twilio/{}", tenant.id);
        let started = std::time::Instant::now();
        let outcome = send(admin.http.post(&url).form(&[("Body", "atiende check")])).await;
        record("twilio", url, outcome, &|status, _| status == 403, started);
    }
    if let Some(meta) = &tenant.meta {
        let url = format!("{base}/webhooks/meta/{}", tenant.id);
        let challenge = uuid::Uuid::new_v4().simple().to_string();
        let started = std::time::Instant::now();
        let outcome = match reqwest::Url::parse_with_params(
            &url,
            &[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", meta.verify_token.expose_secret()),
                ("hub.challenge", challenge.as_str()),
            ],
        ) {
            Ok(full) => send(admin.http.get(full)).await,
            Err(e) => Err(e.to_string()),
        };
        record(
            "meta",
            url,
            outcome,
            &|status, body| status == 200 && body == challenge,
            started,
        );
    }
    if tenant.webchat_enabled {
        let url = format!("{base}/webchat/{}", tenant.id);
        let started = std::time::Instant::now();
        let outcome = send(admin.http.get(&url)).await;
        record("webchat", url, outcome, &|status, _| status == 200, started);
    }
    Ok(HttpResponse::Ok().json(json!({ "public_url": base, "checks": checks })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SimulateRequest {
    from: String,
    text: String,
    #[serde(default)]
    reset: bool,
}

/// A dry run: the message goes through the real processor, the actions come back here instead
/// of going out (nothing reaches WhatsApp, a desk or a CRM).
#[utoipa::path(post, path = "/admin/tenants/{id}/simulate", tag = "playground", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)")), request_body = SimulateRequest, responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: editor"), (status = 404, description = "Unknown here (another tenant's is unknown too)"), (status = 400, description = "Invalid body")))]
async fn simulate(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
    body: web::Json<SimulateRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Edit).await?;
    let request = body.into_inner();
    if request.text.trim().is_empty() || request.text.chars().count() > 4096 {
        return Err(ApiError::BadRequest {
            code: "validation",
            message: "text must be 1-4096 characters".to_owned(),
        });
    }
    let turn = admin
        .simulator
        .turn(&tenant, &request.from, &request.text, request.reset)
        .await?;
    Ok(HttpResponse::Ok().json(turn))
}

/// The tenant's security audit log, newest first (injection attempts, prompt echoes).
#[utoipa::path(get, path = "/admin/tenants/{id}/security-audit", tag = "reports", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)")), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: viewer"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn security_audit(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Read).await?;
    let entries = admin.audit.entries(&tenant, 200).await?;
    Ok(HttpResponse::Ok().json(json!({ "entries": entries })))
}

/// The model providers' breakers and key pools (the seeds' `/metrics`, with its 80 % alert).
#[utoipa::path(get, path = "/admin/metrics", tag = "operator", responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: operator")))]
async fn metrics(_: Operator, admin: Data) -> Result<HttpResponse, ApiError> {
    let providers = admin.chain.as_ref().map(|c| c.status()).unwrap_or_default();
    let alert = providers.iter().any(|p| p.keys.alert);
    Ok(HttpResponse::Ok().json(json!({ "llm": { "providers": providers, "alert": alert } })))
}

/// The debug view of a search: every result with what each retriever said about it.
#[utoipa::path(post, path = "/admin/tenants/{id}/knowledge/search", tag = "knowledge", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)")), request_body = SearchRequest, responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: viewer"), (status = 404, description = "Unknown here (another tenant's is unknown too)"), (status = 400, description = "Invalid body")))]
async fn search_knowledge(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
    body: web::Json<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Read).await?;
    let SearchRequest { query, limit, mode } = body.into_inner();
    let hits = admin
        .knowledge
        .search_with(&tenant, &query, limit.unwrap_or(10).clamp(1, 50), mode)
        .await?;
    let results: Vec<serde_json::Value> = hits
        .iter()
        .enumerate()
        .map(|(rank, h)| {
            let mut result = json!(h);
            result["rank"] = json!(rank + 1);
            result["relevant"] = json!(h.relevance >= admin.min_relevance);
            result
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "query": query,
        "mode": mode,
        "embedding_model": admin.knowledge.embedding_model(),
        "results": results,
    })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StateFilter {
    state: Option<String>,
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/admin/tenants/{id}/conversations", tag = "conversations", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)"), StateFilter), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: viewer"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn list_conversations(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
    query: web::Query<StateFilter>,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Read).await?;
    let state = query
        .state
        .as_deref()
        .map(|s| {
            serde_json::from_value::<ConversationState>(json!(s)).map_err(|_| {
                ApiError::bad_body("state must be bot, waiting_for_human, human or resolved")
            })
        })
        .transpose()?;
    let conversations = admin
        .conversations
        .list(&tenant, state, query.limit.unwrap_or(50).clamp(1, 500))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "conversations": conversations })))
}

#[utoipa::path(get, path = "/admin/tenants/{id}/conversations/{cid}", tag = "conversations", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)"), ("cid" = String, Path, description = "The conversation")), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: viewer"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn get_conversation(
    who: Principal,
    admin: Data,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, cid) = path.into_inner();
    let tenant = who.tenant(&admin, &id, Need::Read).await?;
    Ok(HttpResponse::Ok().json(admin.conversations.get(&tenant, &cid).await?))
}

#[utoipa::path(post, path = "/admin/tenants/{id}/conversations/{cid}/resolve", tag = "conversations", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)"), ("cid" = String, Path, description = "The conversation")), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: editor"), (status = 404, description = "Unknown here (another tenant's is unknown too)"), (status = 400, description = "Invalid body")))]
async fn resolve_conversation(
    who: Principal,
    admin: Data,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, cid) = path.into_inner();
    let tenant = who.tenant(&admin, &id, Need::Edit).await?;
    Ok(HttpResponse::Ok().json(admin.conversations.resolve(&tenant, &cid).await?))
}

#[utoipa::path(get, path = "/admin/tenants/{id}/outbox", tag = "delivery", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)"), StateFilter), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: viewer"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn list_outbox(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
    query: web::Query<StateFilter>,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Read).await?;
    let state = query
        .state
        .as_deref()
        .map(|s| {
            OutboxState::parse(s)
                .ok_or_else(|| ApiError::bad_body("state must be sending, sent, parked or failed"))
        })
        .transpose()?;
    let records = admin
        .outbox
        .list(&tenant, state, query.limit.unwrap_or(50).clamp(1, 500))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "outbox": records })))
}

#[derive(Deserialize, ToSchema)]
struct NewAgent {
    name: String,
}

fn agent_view(account: &atiende_ports::AgentAccount) -> serde_json::Value {
    json!({ "id": account.agent.id, "name": account.agent.name, "tenant": account.tenant })
}

#[utoipa::path(post, path = "/admin/tenants/{id}/agents", tag = "desk", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)")), request_body = NewAgent, responses((status = 201, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: owner"), (status = 404, description = "Unknown here (another tenant's is unknown too)"), (status = 400, description = "Invalid body")))]
async fn add_agent(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
    body: web::Json<NewAgent>,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Own).await?;
    let (account, key) = admin.console.add_agent(&tenant, &body.name).await?;
    tracing::info!(tenant = %tenant, agent = %account.agent.id, "Agent created.");
    let mut view = agent_view(&account);
    view["key"] = json!(key);
    view["console_url"] = json!(format!("{}/console", admin.public_url));
    Ok(HttpResponse::Created().json(view))
}

#[utoipa::path(get, path = "/admin/tenants/{id}/agents", tag = "desk", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)")), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: viewer"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn list_agents(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Read).await?;
    let agents: Vec<_> = admin
        .console
        .agents(&tenant)
        .await?
        .iter()
        .map(agent_view)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "agents": agents })))
}

#[utoipa::path(delete, path = "/admin/tenants/{id}/agents/{agent}", tag = "desk", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)"), ("agent" = String, Path, description = "The agent")), responses((status = 204, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: owner"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn remove_agent(
    who: Principal,
    admin: Data,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, agent) = path.into_inner();
    let tenant = who.tenant(&admin, &id, Need::Own).await?;
    admin.console.remove_agent(&tenant, &agent).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    role: String,
}

/// Creates a tenant API key: 201 with the key, shown this once.
#[utoipa::path(post, path = "/admin/tenants/{id}/keys", tag = "access", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)")), request_body = NewKey, responses((status = 201, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: owner"), (status = 404, description = "Unknown here (another tenant's is unknown too)"), (status = 400, description = "Invalid body")))]
async fn create_key(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
    body: web::Json<NewKey>,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Own).await?;
    let NewKey { name, role } = body.into_inner();
    let role = Role::parse(&role)
        .ok_or_else(|| ApiError::bad_body("role must be owner, editor or viewer"))?;
    let (key, secret) = admin.keys.create(&tenant, &name, role).await?;
    tracing::info!(tenant = %tenant, key = %key.id, role = role.as_str(), "API key created.");
    let mut view = json!(key);
    view["key"] = json!(secret);
    Ok(HttpResponse::Created().json(view))
}

#[utoipa::path(get, path = "/admin/tenants/{id}/keys", tag = "access", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)")), responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: owner"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn list_keys(
    who: Principal,
    admin: Data,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = who.tenant(&admin, &id, Need::Own).await?;
    Ok(HttpResponse::Ok().json(json!({ "keys": admin.keys.list(&tenant).await? })))
}

#[utoipa::path(delete, path = "/admin/tenants/{id}/keys/{key}", tag = "access", params(("id" = String, Path, description = "The tenant (on the dead-letter routes, the dead letter)"), ("key" = String, Path, description = "The key's id")), responses((status = 204, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: owner"), (status = 404, description = "Unknown here (another tenant's is unknown too)")))]
async fn revoke_key(
    who: Principal,
    admin: Data,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, key) = path.into_inner();
    let tenant = who.tenant(&admin, &id, Need::Own).await?;
    admin.keys.revoke(&tenant, &key).await?;
    tracing::info!(tenant = %tenant, key = %key, "API key revoked.");
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/admin/dead-letters", tag = "operator", responses((status = 200, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: operator")))]
async fn list_dead_letters(_: Operator, admin: Data) -> Result<HttpResponse, ApiError> {
    let letters = admin.dead_letters.list(100).await?;
    Ok(HttpResponse::Ok().json(json!({ "dead_letters": letters })))
}

/// `POST /admin/dead-letters/{id}/redrive`: publishes a parked bus message again, once what
/// made it fail is fixed (a tenant's credentials, a desk that was down for days), and removes
/// it from the dead letters. It goes out with its ordering key and trace, and without a dedupe
/// key: the bus dropping it as already seen would make the redrive a no-op, and the consumers
/// recognize what they already applied. A parked webhook item that never became a bus message
/// cannot be redriven (409): the provider has to send it again.
#[utoipa::path(post, path = "/admin/dead-letters/{id}/redrive", tag = "operator", params(("id" = String, Path, description = "The dead letter")), responses((status = 202, description = "Done"), (status = 401, description = "No valid admin token or API key"), (status = 403, description = "Needs: operator"), (status = 404, description = "Unknown here (another tenant's is unknown too)"), (status = 400, description = "Invalid body")))]
async fn redrive_dead_letter(
    _: Operator,
    admin: Data,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let letter = admin
        .dead_letters
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            code: "unknown_dead_letter",
            message: format!("no dead letter {id:?}"),
        })?;
    let event: atiende_domain::BusEvent = serde_json::from_str(&letter.data).map_err(|_| {
        ApiError::Conflict(format!(
            "dead letter {} is not a bus message ({}): it cannot be redriven",
            letter.id, letter.subscription
        ))
    })?;
    let outgoing = atiende_ports::OutgoingMessage::from_event(
        &event,
        letter
            .attributes
            .get(atiende_ports::bus::ATTR_TRACEPARENT)
            .map(String::as_str),
    )?;
    let topic = event.topic();
    admin.publisher.publish(topic, outgoing).await?;
    admin.dead_letters.remove(&letter.id).await?;
    tracing::info!(letter = %letter.id, topic = topic.name(), "Redrove a dead letter.");
    Ok(HttpResponse::Accepted().json(json!({ "redriven": letter.id, "topic": topic.name() })))
}
