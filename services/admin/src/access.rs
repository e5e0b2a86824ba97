//! Who is calling the admin API, and what they may touch.
//!
//! Two kinds of bearer credentials are accepted:
//!
//! * the **operator's token** (`ATIENDE_ADMIN_TOKEN`, compared in constant time): every tenant,
//!   and the deployment's own routes (creating tenants, dead letters, metrics);
//! * a **tenant API key** (`atk_…`): one tenant, with its role's reach
//!   ([`Role::allows`](atiende_domain::access::Role::allows)).
//!
//! A key asking for another tenant gets the same 404 as a tenant that does not exist, so keys
//! cannot probe which businesses use the deployment; a key whose role falls short gets 403; a
//! key on an operator's route gets 403.

use actix_web::{
    FromRequest, HttpMessage, HttpRequest,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web::Data,
};
use atiende_domain::{TenantId, access::Need};
use atiende_platform::{ApiError, http::header_str};
use atiende_ports::ApiKey;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::Admin;

/// The authenticated caller, found by [`authenticate`] before the route is matched (so before
/// any body is read) and taken by handlers as their first parameter.
#[derive(Clone)]
pub(crate) enum Principal {
    /// The deployment's operator.
    Operator,
    /// A tenant's API key.
    Key(ApiKey),
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            request
                .extensions()
                .get::<Principal>()
                .cloned()
                .ok_or_else(|| ApiError::Internal("the request was not authenticated".to_owned())),
        )
    }
}

/// The middleware of every `/admin` route: finds the caller, or answers 401/503 without
/// running the route. Its answer comes before anything the route would say about the body.
pub(crate) async fn authenticate(
    admin: Data<Admin>,
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let presented = header_str(request.request(), "authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    match principal(&admin, &presented).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            Ok(next.call(request).await?.map_into_left_body())
        }
        Err(error) => Ok(request.error_response(error).map_into_right_body()),
    }
}

async fn principal(admin: &Admin, presented: &str) -> Result<Principal, ApiError> {
    let refused =
        || ApiError::Unauthorized("a valid admin token or API key is required".to_owned());
    if presented.starts_with(atiende_app::access::KEY_PREFIX) {
        return admin
            .keys
            .authenticate(presented)
            .await?
            .map(Principal::Key)
            .ok_or_else(refused);
    }
    let Some(expected) = &admin.token else {
        return Err(ApiError::Unavailable {
            message: "the operator's admin API is disabled: set ATIENDE_ADMIN_TOKEN, or use a \
                      tenant API key"
                .to_owned(),
            retry_after_secs: None,
        });
    };
    if bool::from(
        presented
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes()),
    ) {
        Ok(Principal::Operator)
    } else {
        Err(refused())
    }
}

/// The answer for a tenant the caller may not know about: the same as for one that does not
/// exist.
fn unknown_tenant(id: &str) -> ApiError {
    atiende_app::AppError::NotFound(format!("tenant {id}")).into()
}

impl Principal {
    /// The tenant `id`, if this caller may act on it with `need`: 404 for a tenant that does not
    /// exist or is not the key's, 403 for a role that falls short.
    pub(crate) async fn tenant(
        &self,
        admin: &Admin,
        id: &str,
        need: Need,
    ) -> Result<TenantId, ApiError> {
        match self {
            Principal::Operator => Ok(admin.tenants.get(id).await?.id.clone()),
            Principal::Key(key) if key.tenant.as_str() != id => Err(unknown_tenant(id)),
            Principal::Key(key) => {
                self.require(need)?;
                // A key outlives nothing: its tenant is there, or the key would be gone with it.
                Ok(key.tenant.clone())
            }
        }
    }

    /// Refuses a key whose role does not meet `need` (the operator meets every need).
    pub(crate) fn require(&self, need: Need) -> Result<(), ApiError> {
        match self {
            Principal::Key(key) if !key.role.allows(need) => Err(ApiError::Forbidden {
                code: "forbidden",
                message: format!(
                    "a {} key may not do this: it needs {}",
                    key.role.as_str(),
                    match need {
                        Need::Read => "any key",
                        Need::Edit => "an editor or owner key",
                        Need::Own => "an owner key",
                    }
                ),
            }),
            Principal::Key(_) | Principal::Operator => Ok(()),
        }
    }
}

/// The operator, on the deployment's own routes (creating tenants, dead letters, metrics): a
/// tenant key gets 403 before the body is read.
pub(crate) struct Operator;

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            match Principal::from_request(request, payload).into_inner() {
                Ok(Principal::Operator) => Ok(Operator),
                Ok(Principal::Key(_)) => Err(ApiError::Forbidden {
                    code: "operator_only",
                    message: "only the deployment's operator may do this".to_owned(),
                }),
                Err(error) => Err(error),
            },
        )
    }
}
