//! Bodies of the backend's HTTP API (besides [`Call`] itself) that its clients
//! read or write.

use serde::{Deserialize, Serialize};

use crate::call::{Call, CallContext};

/// `POST /v1/calls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateCallRequest {
    /// The number as written on the page, e.g. `(11) 98765-4321`.
    pub to: String,
    /// Where the click happened, for the CRM write-back.
    #[serde(default)]
    pub context: CallContext,
}

/// A page of calls, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallPage {
    pub calls: Vec<Call>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable, machine-readable code.
    pub code: ApiErrorCode,
    /// What happened and what to do, in Portuguese.
    pub message: String,
    /// For `invalid_number`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<InvalidNumberReason>,
}

/// The `code` of every API error. A client reads a code it does not know
/// (from a newer backend) as [`ApiErrorCode::Unknown`] and falls back on the
/// error's `message`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ApiErrorCode {
    /// A body or query the API cannot read.
    MalformedRequest,
    PayloadTooLarge,
    /// No valid token.
    Unauthorized,
    /// Not the user's call.
    Forbidden,
    ManagersOnly,
    /// The call's CRM note is not stopped: nothing to queue again.
    CrmNotStopped,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    /// The number is not one that can be dialled (`reason` says why).
    InvalidNumber,
    /// The tenant's policy refuses the number's kind.
    DestinationNotAllowed,
    /// The user is already in a call.
    AgentBusy,
    /// The salesperson's phone is not connected to the PBX: nothing rang.
    AgentPhoneOffline,
    /// The user has a browser phone but this server has no browser phones
    /// configured (`[phones]`).
    BrowserPhoneUnavailable,
    IdempotencyKeyReused,
    RateLimited,
    TooManyStreams,
    /// The PBX is down or stopped answering.
    PbxUnavailable,
    /// The PBX refused the call.
    PbxRefused,
    StorageFull,
    StorageBusy,
    StorageUnavailable,
    ServerBusy,
    Internal,
    /// The manager page's session is missing or expired.
    SessionRequired,
    /// The manager page's login token is not a valid token.
    InvalidToken,
    /// The manager page's login token is a salesperson's.
    NotAManager,
    /// A state-changing request that did not come from the manager page.
    CrossSiteRequest,
    RecordingNotFound,
    RecordingsNotConfigured,
    /// The e-mail and password do not match an account.
    InvalidCredentials,
    /// Too many wrong passwords in a row: sign-in is refused for a while.
    AccountLocked,
    /// Too many sign-in attempts for one e-mail in a short time.
    TooManyAttempts,
    /// The account is disabled.
    AccountDisabled,
    /// An invitation or password link that does not exist.
    LinkInvalid,
    LinkUsed,
    LinkExpired,
    /// A new password the rules refuse (the message says which rule).
    WeakPassword,
    /// The e-mail already has a password in another company.
    EmailTaken,
    /// An OAuth sign-in request with a bad client, redirect or challenge.
    InvalidAuthorizationRequest,
    /// The admin console is for the tenant's admins.
    AdminsOnly,
    /// Another person of the tenant already has this e-mail or extension.
    AlreadyExists,
    /// A CSV import with rows the console cannot take (none was imported).
    ImportRejected,
    /// RD Station refused the credentials or could not be reached while
    /// connecting a tenant.
    CrmConnectionFailed,
    /// SIP credentials asked for a person whose phone is not a desk phone.
    NotADeskPhone,
    /// The server writes no phones for Asterisk (`[phones] directory_db`).
    PhonesNotConfigured,
    /// The call has not ended yet (a report waits for its end).
    CallStillLive,
    /// A call report, or a list of the outcomes it is chosen from, the
    /// backend cannot take (the message says why).
    InvalidReport,
    /// A code this build does not know (never sent).
    #[serde(other)]
    Unknown,
}

/// Why a number is not one the backend can dial (`reason` of
/// `invalid_number`). Unknown reasons read as [`InvalidNumberReason::Unknown`].
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum InvalidNumberReason {
    /// Line breaks or other control characters.
    ControlCharacters,
    /// Longer than any written number.
    InputTooLong,
    NotANumber,
    InvalidCountryCode,
    TooShort,
    TooLong,
    MissingAreaCode,
    /// A number no line has (e.g. a mobile without its leading 9).
    NotAssigned,
    /// A reason this build does not know (never sent).
    #[serde(other)]
    Unknown,
}

/// What a user may see and do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Role {
    /// A salesperson: places calls, sees their own.
    Agent,
    /// Sees and streams every call of the tenant.
    Manager,
}

impl ApiErrorCode {
    /// The code as sent (`agent_busy`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl InvalidNumberReason {
    /// The reason as sent (`missing_area_code`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Manager => "manager",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "agent" => Some(Role::Agent),
            "manager" => Some(Role::Manager),
            _ => None,
        }
    }
}

/// The OAuth 2.0 client id of `disca-host`, a public native client (RFC
/// 8252): it signs in with the authorization code flow and PKCE (S256),
/// its redirect URI a one-shot listener at
/// `http://127.0.0.1:<port>/callback`.
pub const OAUTH_CLIENT_ID: &str = "disca-host";
/// Where the host sends the browser to sign in (the backend's page).
pub const OAUTH_AUTHORIZE_PATH: &str = "/oauth/authorize";
/// Where the host exchanges the code for a device token (form-encoded).
pub const OAUTH_TOKEN_PATH: &str = "/oauth/token";
/// `POST` with the device token: revokes it (the host's "Sair").
pub const SIGN_OUT_PATH: &str = "/v1/auth/sign-out";
/// The path of the host's loopback redirect URI.
pub const OAUTH_CALLBACK_PATH: &str = "/callback";

/// What `POST /oauth/token` answers: a device token for this host, and
/// whose it is.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub user: Me,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("user", &self.user)
            .finish()
    }
}

/// An OAuth 2.0 token endpoint error (RFC 6749 section 5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthError {
    pub error: OAuthErrorCode,
    /// Portuguese, for the person.
    pub error_description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    /// The code is unknown, expired, used, or does not match the verifier
    /// or the redirect URI.
    InvalidGrant,
    UnsupportedGrantType,
    /// The server could not answer now (its storage).
    TemporarilyUnavailable,
    #[serde(other)]
    Unknown,
}

/// `GET /v1/me`: who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Me {
    pub id: String,
    pub name: String,
    pub email: String,
    /// The tenant's slug.
    pub tenant: String,
    pub role: Role,
    /// The user's extension.
    pub extension: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use strum::IntoEnumIterator;

    #[test]
    fn codes_and_reasons_are_spelled_as_serde_sends_them() {
        for code in ApiErrorCode::iter() {
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        }
        for reason in InvalidNumberReason::iter() {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                json!(reason.as_str())
            );
        }
        assert_eq!(ApiErrorCode::AgentBusy.as_str(), "agent_busy");
        assert_eq!(ApiErrorCode::NotAManager.as_str(), "not_a_manager");
        assert_eq!(InvalidNumberReason::NotANumber.as_str(), "not_a_number");
    }

    #[test]
    fn codes_from_a_newer_backend_read_as_unknown() {
        let body: ErrorBody = serde_json::from_value(json!({"error": {
            "code": "brand_new", "message": "m", "reason": "brand_new_too"}}))
        .unwrap();
        assert_eq!(body.error.code, ApiErrorCode::Unknown);
        assert_eq!(body.error.reason, Some(InvalidNumberReason::Unknown));
    }
}
