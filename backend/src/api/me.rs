//! `GET /v1/me`: who a token belongs to. `disca-host login` checks a token
//! with it before storing it.

use axum::Json;
use disca_protocol::{ErrorBody, Me};

use super::auth::CurrentUser;
use super::error::ApiError;

/// The user the bearer token belongs to.
#[utoipa::path(get, path = "/v1/me", tag = "users",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn me(CurrentUser(user): CurrentUser) -> Result<Json<Me>, ApiError> {
    Ok(Json(Me::from(user)))
}
