//! E-mail and password → the user, for every sign-in (the hosts' OAuth
//! page, the manager page): rate-limited per e-mail, locked for
//! [`LOCK_DURATION`] after [`MAX_FAILURES`] wrong passwords in a row, and
//! as slow for an unknown e-mail as for a wrong password.

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::Accounts;
use crate::api::ApiError;
use crate::domain::User;
use crate::storage::Store;

/// Wrong passwords in a row that lock an account.
pub const MAX_FAILURES: u32 = 5;
/// How long a locked account refuses every password.
pub const LOCK_DURATION: time::Duration = time::Duration::minutes(15);

/// The user whose e-mail and password these are.
pub async fn sign_in(
    accounts: &Accounts,
    store: &Store,
    email: &str,
    password: Zeroizing<String>,
) -> Result<User, ApiError> {
    let email = email.trim().to_lowercase();
    if email.is_empty() || email.len() > 254 || password.is_empty() {
        return Err(ApiError::invalid_credentials());
    }
    if !accounts.may_attempt(&email) {
        tracing::warn!("sign-in attempts over the limit for one e-mail");
        return Err(ApiError::too_many_attempts());
    }
    let now = OffsetDateTime::now_utc();
    let candidates = store.password_accounts(&email).await?;
    // Sign-in by e-mail finds one account: a password is set for one
    // tenant's user of an e-mail only (see `Store::use_account_link`).
    let Some(account) = candidates.into_iter().next() else {
        accounts.passwords.verify(password, None).await.ok();
        return Err(ApiError::invalid_credentials());
    };
    if let Some(until) = account.locked_until.filter(|until| *until > now) {
        return Err(ApiError::account_locked(minutes_left(until, now)));
    }
    let matched = accounts
        .passwords
        .verify(password, account.password_hash.clone())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot check a password");
            ApiError::internal()
        })?;
    if !matched {
        let locked = store
            .record_failed_sign_in(&account.user.id, MAX_FAILURES, now + LOCK_DURATION)
            .await?;
        tracing::info!(user_id = %account.user.id, locked = locked.is_some_and(|u| u > now), "wrong password");
        return match locked.filter(|until| *until > now) {
            Some(until) => Err(ApiError::account_locked(minutes_left(until, now))),
            None => Err(ApiError::invalid_credentials()),
        };
    }
    if account.disabled {
        return Err(ApiError::account_disabled());
    }
    store.record_sign_in(&account.user.id).await?;
    Ok(account.user)
}

fn minutes_left(until: OffsetDateTime, now: OffsetDateTime) -> i64 {
    ((until - now).whole_seconds() + 59) / 60
}
