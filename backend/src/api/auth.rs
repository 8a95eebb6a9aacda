//! The `Authorization: Bearer <token>` extractor.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::auth::{hash_token, looks_like_token};
use crate::domain::User;
use crate::storage::StoreError;

/// The user a request is made by.
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<CurrentUser, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| looks_like_token(t))
            .ok_or_else(ApiError::unauthorized)?;
        match state.store.user_by_token_hash(&hash_token(token)).await {
            Ok(user) => Ok(CurrentUser(user)),
            Err(StoreError::NotFound) => Err(ApiError::unauthorized()),
            Err(e) => Err(e.into()),
        }
    }
}
