//! `GET /v1/phone`: the salesperson's phone, and for a browser phone the
//! credentials its softphone registers with. The backend is their single
//! source: the extension asks through `disca-host` and keeps them in
//! memory; the response is never cached.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use disca_protocol::ErrorBody;
use disca_protocol::phone::{PhoneConfig, PhoneKind};
use time::OffsetDateTime;

use super::AppState;
use super::auth::CurrentUser;
use super::error::ApiError;
use crate::configuration::PhoneSettings;
use crate::domain::{PbxName, Tenant};
use crate::phones::{self, Directory, PbxPhones};

/// Browser phones as the API serves them.
#[derive(Clone, Default)]
pub struct Phones {
    pub settings: PhoneSettings,
    /// Each PBX's phone directory, for the PBXs that have one.
    pub by_pbx: BTreeMap<PbxName, PbxPhones>,
    /// Unseals a registration trunk's password for the directory (the
    /// backend's secrets key; `None` only in tests that write no trunk).
    pub key: Option<crate::crm::SecretKey>,
}

impl Phones {
    /// The phones of `tenant`'s PBX; `None` when that PBX has no
    /// directory (its phones are in its site files).
    pub fn of(&self, tenant: &Tenant) -> Option<&PbxPhones> {
        self.by_pbx.get(&tenant.pbx)
    }

    /// The phone directory of `tenant`'s PBX.
    pub fn directory_for(&self, tenant: &Tenant) -> Option<&Directory> {
        self.of(tenant).map(|phones| &phones.directory)
    }
}

/// The user's phone.
#[utoipa::path(get, path = "/v1/phone", tag = "users",
    responses(
        (status = 200, body = PhoneConfig),
        (status = 401, body = ErrorBody),
        (status = 409, description = "browser phones are not configured", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn phone(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    // Credentials are handed out only to a user enabled now, whatever the
    // authentication cache still says: a disabled phone must not fetch its
    // new password.
    if !state.store.user_enabled(&user.id).await? {
        return Err(ApiError::unauthorized());
    }
    let endpoint = user.endpoint();
    let browser = match user.phone {
        PhoneKind::Desk => None,
        PhoneKind::Browser => {
            let Some(pbx) = state.phones.of(&user.tenant) else {
                return Err(ApiError::browser_phone_unavailable());
            };
            let password = phones::ensure(&pbx.directory, &pbx.settings, &user)
                .await
                .map_err(|error| {
                    tracing::error!(%error, endpoint, "the phone directory failed");
                    ApiError::storage_unavailable()
                })?;
            Some(phones::browser_phone(
                &pbx.settings,
                &endpoint,
                password.expose().to_owned(),
                OffsetDateTime::now_utc(),
            ))
        }
    };
    let mut response = Json(PhoneConfig {
        kind: user.phone,
        endpoint,
        browser,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
