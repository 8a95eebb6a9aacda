//! The `Authorization: Bearer <token>` extractor, and the short-lived cache
//! of authenticated users behind it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
        let hash = hash_token(token);
        if let Some(user) = state.users.get(&hash) {
            return Ok(CurrentUser(user));
        }
        match state.store.user_by_token_hash(&hash).await {
            Ok(user) => {
                state.users.put(hash, user.clone());
                Ok(CurrentUser(user))
            }
            Err(StoreError::NotFound) => Err(ApiError::unauthorized()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Users recently found by token hash, so a burst of clicks does not queue on
/// the database. An entry lives [`UserCache::TTL`]: a user whose record
/// changes keeps their old view of it at most that long. Failed look-ups are
/// not cached.
#[derive(Default)]
pub struct UserCache {
    entries: Mutex<HashMap<String, (Instant, User)>>,
}

impl UserCache {
    pub const TTL: Duration = Duration::from_secs(30);
    const MAX_ENTRIES: usize = 10_000;

    fn get(&self, token_hash: &str) -> Option<User> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(token_hash)
            .filter(|(at, _)| at.elapsed() < Self::TTL)
            .map(|(_, user)| user.clone())
    }

    fn put(&self, token_hash: String, user: User) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= Self::MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < Self::TTL);
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(token_hash, (Instant::now(), user));
    }
}
