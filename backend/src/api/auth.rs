//! The `Authorization: Bearer <token>` extractors, the short-lived cache of
//! authenticated users behind them, and [`Revocations`], which empties that
//! cache (and tells open event streams) as soon as access is taken away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use tokio::sync::watch;

use super::AppState;
use super::error::ApiError;
use crate::auth::{hash_token, looks_like_token};
use crate::domain::User;
use crate::storage::{Store, StoreError};

/// The user a request is made by.
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<CurrentUser, ApiError> {
        let CurrentToken { user, .. } = CurrentToken::from_request_parts(parts, state).await?;
        Ok(CurrentUser(user))
    }
}

/// The user a request is made by, and the hash of the token it carries.
pub struct CurrentToken {
    pub hash: String,
    pub user: User,
}

impl FromRequestParts<AppState> for CurrentToken {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<CurrentToken, ApiError> {
        let hash = bearer_hash(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        if let Some(user) = state.users.get(&hash) {
            return Ok(CurrentToken { hash, user });
        }
        // Read before the look-up: a revocation committed after it empties
        // the cache again, so a user found here is never cached past it.
        let epoch = state.revocations.seen();
        match state.store.user_by_token_hash(&hash).await {
            Ok(user) => {
                state.users.put(hash.clone(), user.clone(), epoch);
                Ok(CurrentToken { hash, user })
            }
            Err(StoreError::NotFound) => Err(ApiError::unauthorized()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The hash of the bearer token in `headers`, if one has a token's shape.
pub fn bearer_hash(headers: &HeaderMap) -> Option<String> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| looks_like_token(t))
        .map(hash_token)
}

/// Users recently found by token hash, so a burst of clicks does not queue on
/// the database. An entry lives [`UserCache::TTL`] at most, and every entry
/// goes as soon as [`Revocations`] sees access taken away. Failed look-ups
/// are not cached.
#[derive(Default)]
pub struct UserCache {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// The revocation epoch the entries were read under.
    epoch: i64,
    users: HashMap<String, (Instant, User)>,
}

impl UserCache {
    pub const TTL: Duration = Duration::from_secs(30);
    const MAX_ENTRIES: usize = 10_000;

    fn get(&self, token_hash: &str) -> Option<User> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .users
            .get(token_hash)
            .filter(|(at, _)| at.elapsed() < Self::TTL)
            .map(|(_, user)| user.clone())
    }

    /// Keeps `user`, read when the revocation epoch was `epoch` (dropped
    /// when a newer epoch was seen meanwhile).
    fn put(&self, token_hash: String, user: User, epoch: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if epoch < entries.epoch {
            return;
        }
        if entries.users.len() >= Self::MAX_ENTRIES {
            entries.users.retain(|_, (at, _)| at.elapsed() < Self::TTL);
            if entries.users.len() >= Self::MAX_ENTRIES {
                entries.users.clear();
            }
        }
        entries.users.insert(token_hash, (Instant::now(), user));
    }

    /// Drops every entry: access was taken away (at `epoch`).
    fn clear(&self, epoch: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.epoch = entries.epoch.max(epoch);
        entries.users.clear();
    }
}

/// Follows the database's auth epoch (bumped in the transaction of every
/// change that takes access away: a user disabled, a token revoked, a
/// password reset), whichever process or backend made the change: on each
/// change the user cache is emptied and open event streams recheck their
/// token. A change made by this backend is applied at once
/// ([`Revocations::forget_now`]); one made elsewhere (the CLI, another
/// backend) within [`Revocations::POLL`].
#[derive(Clone)]
pub struct Revocations {
    inner: Arc<Inner>,
}

struct Inner {
    /// Bumped at every forgetting.
    generation: watch::Sender<i64>,
    cache: Arc<UserCache>,
}

impl Revocations {
    /// How often the database's epoch is read.
    pub const POLL: Duration = Duration::from_secs(1);

    pub fn new(cache: Arc<UserCache>) -> Revocations {
        Revocations {
            inner: Arc::new(Inner {
                generation: watch::Sender::new(0),
                cache,
            }),
        }
    }

    /// The current generation (bumped at every forgetting).
    pub fn seen(&self) -> i64 {
        *self.inner.generation.borrow()
    }

    /// Forgettings, for event streams.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.inner.generation.subscribe()
    }

    /// Access was just taken away: forget every cached user at once.
    pub fn forget_now(&self) {
        let mut next = 0;
        self.inner.generation.send_modify(|g| {
            *g += 1;
            next = *g;
        });
        self.inner.cache.clear(next);
    }

    /// Polls `store`'s epoch, forgetting whenever it changes, for as long as
    /// a clone of this `Revocations` lives.
    pub fn follow(&self, store: Store) -> impl Future<Output = ()> + use<> {
        let weak = Arc::downgrade(&self.inner);
        async move {
            let mut last: Option<i64> = None;
            let mut tick = tokio::time::interval(Self::POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                match store.auth_epoch().await {
                    Ok(stored) => {
                        if last.is_some_and(|l| l != stored) {
                            tracing::info!(
                                epoch = stored,
                                "access was taken away; forgetting cached users"
                            );
                            Revocations { inner }.forget_now();
                        }
                        last = Some(stored);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the auth epoch"),
                }
            }
        }
    }
}
