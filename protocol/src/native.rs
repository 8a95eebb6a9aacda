//! The native messaging protocol between the extension's service worker and
//! `disca-host`, version [`VERSION`].
//!
//! Every message is a JSON object with `"v": 1` and a `"type"`.
//!
//! Extension → host, requests, each with an `id` (a string or a non-negative
//! integer) that the reply echoes:
//!
//! | `type`         | fields                                 | reply `type`      |
//! |----------------|----------------------------------------|-------------------|
//! | `call.start`   | `number`, `context` (optional)         | `call.start.ok`   |
//! | `call.hangup`  | `call_id`                              | `call.hangup.ok`  |
//! | `status.get`   |                                        | `status.get.ok`   |
//! | `calls.recent` | `limit` (optional, 1 to [`MAX_RECENT`]) | `calls.recent.ok` |
//! | `phone.config` |                                        | `phone.config.ok` |
//! | `auth.sign_in` | `backend_url` (optional)               | `auth.sign_in.ok` |
//! | `auth.sign_out`|                                        | `auth.sign_out.ok`|
//!
//! Any request may instead get `{"type": "error", "id": ..., "error": {"code",
//! "message"}}`; `id` is `null` when the request's own id could not be read.
//!
//! Host → extension, events pushed while the port is open: `call.update`
//! (`call`), `auth.required` (`message`), `backend.unreachable` (`message`),
//! `backend.reachable`, and the end of a sign-in: `auth.signed_in` (`user`)
//! or `auth.sign_in_failed` (`message`).
//!
//! A sign-in (RFC 8252): `auth.sign_in.ok` carries the `authorize_url` of
//! the backend's sign-in page, which the extension opens in a tab; the host
//! waits for the browser's redirect on its one-shot loopback listener,
//! exchanges the code with its PKCE verifier, keeps the device token in the
//! OS credential store and pushes `auth.signed_in`. The token never
//! reaches the extension.
//!
//! [`Request::parse`] reads a request the way the host must: every problem
//! becomes a [`RequestError`] naming it (and the request id when readable),
//! never a panic.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::{ApiErrorCode, Me};
use crate::call::{Call, CallContext};
use crate::phone::PhoneConfig;
use crate::report::{CallReport, Disposition, OtherPhone, ReportSaved};

/// The name the host is registered under with the browser.
pub const HOST_NAME: &str = "com.disca.host";

/// The protocol version this crate speaks.
pub const VERSION: u32 = 1;

/// Most calls a `calls.recent` request may ask for.
pub const MAX_RECENT: u32 = 50;

/// Longest textual request id accepted.
pub const MAX_ID_LEN: usize = 128;

/// Longest backend address accepted in `auth.sign_in`.
pub const MAX_BACKEND_URL_LEN: usize = 256;

/// Longest number accepted in `call.start` (written forms included).
pub const MAX_NUMBER_LEN: usize = 64;

/// A request id, echoed verbatim in the reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RequestId {
    Number(u64),
    Text(String),
}

/// A request from the extension.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: RequestId,
    pub body: RequestBody,
}

/// The `type` of each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RequestType {
    #[serde(rename = "call.start")]
    CallStart,
    #[serde(rename = "call.hangup")]
    CallHangup,
    #[serde(rename = "status.get")]
    StatusGet,
    #[serde(rename = "calls.recent")]
    CallsRecent,
    #[serde(rename = "phone.config")]
    PhoneConfig,
    #[serde(rename = "auth.sign_in")]
    SignIn,
    #[serde(rename = "auth.sign_out")]
    SignOut,
    #[serde(rename = "call.report")]
    CallReport,
    #[serde(rename = "dispositions.get")]
    DispositionsGet,
    #[serde(rename = "call.other_phones")]
    CallOtherPhones,
}

impl RequestType {
    /// The `type` of the success reply.
    pub fn reply(self) -> HostMessageType {
        match self {
            RequestType::CallStart => HostMessageType::CallStarted,
            RequestType::CallHangup => HostMessageType::HangupRequested,
            RequestType::StatusGet => HostMessageType::Status,
            RequestType::CallsRecent => HostMessageType::RecentCalls,
            RequestType::PhoneConfig => HostMessageType::PhoneConfig,
            RequestType::SignIn => HostMessageType::SignInStarted,
            RequestType::SignOut => HostMessageType::SignedOut,
            RequestType::CallReport => HostMessageType::ReportSaved,
            RequestType::DispositionsGet => HostMessageType::Dispositions,
            RequestType::CallOtherPhones => HostMessageType::OtherPhones,
        }
    }
}

/// The `type` of what the extension's content script sends its service
/// worker (`chrome.runtime.sendMessage`): never the host's, but spelled
/// here so the classic content script (which cannot import the generated
/// module) gets it generated too (`content/messages.js`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter)]
pub enum ContentMessageType {
    /// A click on a number: `{type, number, context}`, placed as the host
    /// request of the same name.
    #[serde(rename = "call.start")]
    CallStart,
    /// The page refuses wasm: inject the content script compiled to JS.
    #[serde(rename = "content.fallback")]
    Fallback,
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RequestBody {
    /// Place a call to `number` (as found on the page, ideally E.164).
    #[serde(rename = "call.start")]
    CallStart(CallStart),
    /// Hang up a call of the user's.
    #[serde(rename = "call.hangup")]
    CallHangup(CallHangup),
    /// Who is logged in, whether the backend answers, the live call.
    #[serde(rename = "status.get")]
    StatusGet,
    /// The user's latest calls, newest first.
    #[serde(rename = "calls.recent")]
    CallsRecent(CallsRecent),
    /// The salesperson's phone, with a browser phone's credentials.
    #[serde(rename = "phone.config")]
    PhoneConfig,
    /// Start signing in: the reply names the page to open.
    #[serde(rename = "auth.sign_in")]
    SignIn(SignIn),
    /// Sign out: the device token is revoked and forgotten.
    #[serde(rename = "auth.sign_out")]
    SignOut,
    /// What the salesperson says about their ended call.
    #[serde(rename = "call.report")]
    CallReport(CallReportRequest),
    /// The company's outcomes to choose from after a call.
    #[serde(rename = "dispositions.get")]
    DispositionsGet,
    /// The call's deal's other phones (after a no-answer).
    #[serde(rename = "call.other_phones")]
    CallOtherPhones(CallHangup),
}

impl RequestBody {
    /// Its `type`.
    pub fn kind(&self) -> RequestType {
        match self {
            RequestBody::CallStart(_) => RequestType::CallStart,
            RequestBody::CallHangup(_) => RequestType::CallHangup,
            RequestBody::StatusGet => RequestType::StatusGet,
            RequestBody::CallsRecent(_) => RequestType::CallsRecent,
            RequestBody::PhoneConfig => RequestType::PhoneConfig,
            RequestBody::SignIn(_) => RequestType::SignIn,
            RequestBody::SignOut => RequestType::SignOut,
            RequestBody::CallReport(_) => RequestType::CallReport,
            RequestBody::DispositionsGet => RequestType::DispositionsGet,
            RequestBody::CallOtherPhones(_) => RequestType::CallOtherPhones,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallStart {
    pub number: String,
    #[serde(default)]
    pub context: CallContext,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallHangup {
    pub call_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallReportRequest {
    pub call_id: String,
    pub report: CallReport,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallsRecent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SignIn {
    /// The company's Disca address (asked once, or preset by IT); without
    /// it, the one the host used last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

/// Why a request was refused, with its id when that much could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {detail}")]
pub struct RequestError {
    pub id: Option<RequestId>,
    pub code: ErrorCode,
    /// What exactly was wrong, naming the field (Portuguese).
    pub detail: String,
}

impl RequestError {
    fn new(id: Option<&RequestId>, code: ErrorCode, detail: impl Into<String>) -> RequestError {
        RequestError {
            id: id.cloned(),
            code,
            detail: detail.into(),
        }
    }
}

impl Request {
    /// Reads a request from a decoded JSON frame, checking the envelope, the
    /// type, each field's type and each value's bounds.
    pub fn parse(value: Value) -> Result<Request, RequestError> {
        let Value::Object(mut fields) = value else {
            return Err(RequestError::new(
                None,
                ErrorCode::InvalidMessage,
                "a mensagem deve ser um objeto JSON",
            ));
        };
        let id = parse_id(fields.remove("id"))?;
        match fields.remove("v") {
            Some(Value::Number(n)) if n.as_u64() == Some(u64::from(VERSION)) => {}
            Some(other) => {
                return Err(RequestError::new(
                    Some(&id),
                    ErrorCode::UnsupportedVersion,
                    format!(
                        "versão {other} não suportada; este disca-host fala a versão {VERSION}"
                    ),
                ));
            }
            None => {
                return Err(RequestError::new(
                    Some(&id),
                    ErrorCode::UnsupportedVersion,
                    format!("campo \"v\" ausente; este disca-host fala a versão {VERSION}"),
                ));
            }
        }
        let kind_text = match fields.remove("type") {
            Some(Value::String(kind)) => kind,
            Some(_) => {
                return Err(RequestError::new(
                    Some(&id),
                    ErrorCode::InvalidFields,
                    "type: deve ser texto",
                ));
            }
            None => {
                return Err(RequestError::new(
                    Some(&id),
                    ErrorCode::InvalidFields,
                    "campo \"type\" ausente",
                ));
            }
        };
        let Ok(kind) = serde_json::from_value::<RequestType>(Value::String(kind_text.clone()))
        else {
            return Err(unknown_type(&id, &kind_text));
        };
        let body = match kind {
            RequestType::CallStart => {
                let start: CallStart = fields_as(&id, fields)?;
                check_number(&id, &start.number)?;
                start.context.validate().map_err(|e| {
                    RequestError::new(Some(&id), ErrorCode::InvalidFields, e.to_string())
                })?;
                RequestBody::CallStart(start)
            }
            RequestType::CallHangup => {
                let hangup: CallHangup = fields_as(&id, fields)?;
                check_call_id(&id, &hangup.call_id)?;
                RequestBody::CallHangup(hangup)
            }
            RequestType::StatusGet => {
                let NoFields {} = fields_as(&id, fields)?;
                RequestBody::StatusGet
            }
            RequestType::CallReport => {
                let request: CallReportRequest = fields_as(&id, fields)?;
                check_call_id(&id, &request.call_id)?;
                request
                    .report
                    .validate()
                    .map_err(|e| RequestError::new(Some(&id), ErrorCode::InvalidFields, e.0))?;
                RequestBody::CallReport(request)
            }
            RequestType::DispositionsGet => {
                let NoFields {} = fields_as(&id, fields)?;
                RequestBody::DispositionsGet
            }
            RequestType::CallOtherPhones => {
                let call: CallHangup = fields_as(&id, fields)?;
                check_call_id(&id, &call.call_id)?;
                RequestBody::CallOtherPhones(call)
            }
            RequestType::PhoneConfig => {
                let NoFields {} = fields_as(&id, fields)?;
                RequestBody::PhoneConfig
            }
            RequestType::SignOut => {
                let NoFields {} = fields_as(&id, fields)?;
                RequestBody::SignOut
            }
            RequestType::SignIn => {
                let sign_in: SignIn = fields_as(&id, fields)?;
                if sign_in.backend_url.as_ref().is_some_and(|u| {
                    u.trim().is_empty()
                        || u.len() > MAX_BACKEND_URL_LEN
                        || u.chars().any(char::is_control)
                }) {
                    return Err(RequestError::new(
                        Some(&id),
                        ErrorCode::InvalidFields,
                        format!(
                            "backend_url: deve ser um endereço de até {MAX_BACKEND_URL_LEN} caracteres"
                        ),
                    ));
                }
                RequestBody::SignIn(sign_in)
            }
            RequestType::CallsRecent => {
                let recent: CallsRecent = fields_as(&id, fields)?;
                if recent.limit.is_some_and(|l| l == 0 || l > MAX_RECENT) {
                    return Err(RequestError::new(
                        Some(&id),
                        ErrorCode::InvalidFields,
                        format!("limit: deve ser de 1 a {MAX_RECENT}"),
                    ));
                }
                RequestBody::CallsRecent(recent)
            }
        };
        Ok(Request { id, body })
    }
}

impl Serialize for Request {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            v: u32,
            id: &'a RequestId,
            #[serde(flatten)]
            body: &'a RequestBody,
        }
        Wire {
            v: VERSION,
            id: &self.id,
            body: &self.body,
        }
        .serialize(serializer)
    }
}

fn unknown_type(id: &RequestId, kind: &str) -> RequestError {
    let shown: String = kind.chars().take(64).collect();
    RequestError::new(
        Some(id),
        ErrorCode::UnknownType,
        format!("tipo de mensagem desconhecido: {shown:?}"),
    )
}

fn parse_id(id: Option<Value>) -> Result<RequestId, RequestError> {
    match id {
        Some(Value::String(s))
            if !s.is_empty() && s.len() <= MAX_ID_LEN && !s.chars().any(char::is_control) =>
        {
            Ok(RequestId::Text(s))
        }
        Some(Value::Number(n)) if n.as_u64().is_some() => {
            Ok(RequestId::Number(n.as_u64().unwrap_or_default()))
        }
        Some(_) => Err(RequestError::new(
            None,
            ErrorCode::InvalidFields,
            format!(
                "id: deve ser um texto de 1 a {MAX_ID_LEN} caracteres visíveis ou um inteiro não negativo"
            ),
        )),
        None => Err(RequestError::new(
            None,
            ErrorCode::InvalidFields,
            "campo \"id\" ausente",
        )),
    }
}

fn fields_as<T: DeserializeOwned>(
    id: &RequestId,
    fields: Map<String, Value>,
) -> Result<T, RequestError> {
    serde_path_to_error::deserialize(Value::Object(fields)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let detail = if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        RequestError::new(Some(id), ErrorCode::InvalidFields, detail)
    })
}

fn check_number(id: &RequestId, number: &str) -> Result<(), RequestError> {
    let problem = if number.trim().is_empty() {
        Some("number: está vazio")
    } else if number.len() > MAX_NUMBER_LEN {
        Some("number: longo demais para um telefone")
    } else if number.chars().any(char::is_control) {
        Some("number: contém caracteres de controle")
    } else {
        None
    };
    match problem {
        Some(p) => Err(RequestError::new(Some(id), ErrorCode::InvalidNumber, p)),
        None => Ok(()),
    }
}

fn check_call_id(id: &RequestId, call_id: &str) -> Result<(), RequestError> {
    let ok = !call_id.is_empty()
        && call_id.len() <= 64
        && call_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(RequestError::new(
            Some(id),
            ErrorCode::InvalidFields,
            "call_id: não é o id de uma ligação",
        ))
    }
}

/// Stable error codes of `error` replies (and of the extension's own
/// errors about the host, the last three before [`ErrorCode::Other`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ErrorCode {
    /// A frame longer than the host accepts.
    FrameTooLarge,
    /// The input ended inside a frame's length or body.
    TruncatedFrame,
    /// A frame that is not UTF-8.
    InvalidUtf8,
    /// A frame that is not JSON.
    InvalidJson,
    /// JSON that is not an object.
    InvalidMessage,
    /// A missing or other `v`.
    UnsupportedVersion,
    /// A `type` this host does not know.
    UnknownType,
    /// A missing field, an unknown field, a wrong type or an out-of-range value.
    InvalidFields,
    /// The extension is not the one this host was installed for.
    OriginNotAllowed,
    /// No token in the credential store, or the backend refused it.
    NotLoggedIn,
    /// The credential store did not answer (locked, or not running).
    CredentialStoreUnavailable,
    /// No company address to sign in to: the popup asks for it.
    BackendUrlRequired,
    /// A company address that is not an http(s) address.
    InvalidBackendUrl,
    /// The sign-in could not start (no loopback port) or did not finish.
    SignInFailed,
    /// The backend could not be reached, or answered with something unreadable.
    BackendUnreachable,
    InvalidNumber,
    DestinationNotAllowed,
    /// The PBX is down.
    PbxUnavailable,
    /// The PBX refused the call.
    PbxRefused,
    /// The user is already in a call.
    AgentBusy,
    /// The salesperson's phone is not connected to the PBX.
    AgentPhoneOffline,
    /// This server has no browser phones configured.
    BrowserPhoneUnavailable,
    RateLimited,
    NotFound,
    Forbidden,
    /// Any other backend error; the message is the backend's.
    BackendError,
    /// The host's reply could not be sent: over the browser's 1 MB limit
    /// (or, never expected, not serializable).
    ReplyTooLarge,
    /// Never sent by the host: the extension's service worker gave up
    /// waiting for a reply.
    HostTimeout,
    /// Never sent by the host: the browser found no native messaging host
    /// registered under Disca's name.
    HostNotInstalled,
    /// Never sent by the host: the host's port closed (it stopped, or could
    /// not start) before it replied.
    HostUnavailable,
    /// A code from a newer host.
    #[serde(other)]
    Other,
}

impl From<ApiErrorCode> for ErrorCode {
    /// The host's code for a backend error; backend codes the extension
    /// has no use for telling apart become [`ErrorCode::BackendError`].
    fn from(code: ApiErrorCode) -> ErrorCode {
        match code {
            ApiErrorCode::InvalidNumber => ErrorCode::InvalidNumber,
            ApiErrorCode::DestinationNotAllowed => ErrorCode::DestinationNotAllowed,
            ApiErrorCode::PbxUnavailable => ErrorCode::PbxUnavailable,
            ApiErrorCode::PbxRefused => ErrorCode::PbxRefused,
            ApiErrorCode::AgentBusy => ErrorCode::AgentBusy,
            ApiErrorCode::AgentPhoneOffline => ErrorCode::AgentPhoneOffline,
            ApiErrorCode::BrowserPhoneUnavailable => ErrorCode::BrowserPhoneUnavailable,
            ApiErrorCode::RateLimited => ErrorCode::RateLimited,
            ApiErrorCode::NotFound => ErrorCode::NotFound,
            ApiErrorCode::Forbidden => ErrorCode::Forbidden,
            _ => ErrorCode::BackendError,
        }
    }
}

/// The error of an `error` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HostError {
    pub code: ErrorCode,
    /// What happened and what to do, in Portuguese, ready to show.
    pub message: String,
}

/// How the host last found the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum BackendState {
    /// Nobody is logged in: there is no backend to reach.
    NotConfigured,
    /// Not known yet: the first contact is under way.
    Connecting,
    Reachable,
    Unreachable,
}

/// The reply to `status.get`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Status {
    pub host_version: String,
    pub logged_in: bool,
    /// Who is logged in, as of the last login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Me>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_url: Option<String>,
    pub backend: BackendState,
    /// Where the token is kept (`secret-service`, `kernel-keyring`,
    /// `macos-keychain`, `windows-credential-manager`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_store: Option<String>,
    /// The user's call in progress, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_call: Option<Call>,
}

/// Every message the host sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum HostMessage {
    #[serde(rename = "call.start.ok")]
    CallStarted { id: RequestId, call: Call },
    #[serde(rename = "call.hangup.ok")]
    HangupRequested { id: RequestId, call: Call },
    #[serde(rename = "status.get.ok")]
    Status { id: RequestId, status: Box<Status> },
    #[serde(rename = "calls.recent.ok")]
    RecentCalls { id: RequestId, calls: Vec<Call> },
    #[serde(rename = "phone.config.ok")]
    PhoneConfig { id: RequestId, phone: PhoneConfig },
    /// Open `authorize_url` (the backend's sign-in page) in a tab.
    #[serde(rename = "auth.sign_in.ok")]
    SignInStarted {
        id: RequestId,
        authorize_url: String,
    },
    #[serde(rename = "auth.sign_out.ok")]
    SignedOut { id: RequestId },
    /// The report is stored; where it goes in the CRM.
    #[serde(rename = "call.report.ok")]
    ReportSaved { id: RequestId, saved: ReportSaved },
    #[serde(rename = "dispositions.get.ok")]
    Dispositions {
        id: RequestId,
        dispositions: Vec<Disposition>,
    },
    #[serde(rename = "call.other_phones.ok")]
    OtherPhones {
        id: RequestId,
        /// The deal they were read from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deal_id: Option<String>,
        phones: Vec<OtherPhone>,
    },
    #[serde(rename = "error")]
    Error {
        id: Option<RequestId>,
        error: HostError,
    },
    /// A call of the user's changed.
    #[serde(rename = "call.update")]
    CallUpdate { call: Box<Call> },
    /// The token is missing or was refused: run `disca-host login`.
    #[serde(rename = "auth.required")]
    AuthRequired { message: String },
    #[serde(rename = "backend.unreachable")]
    BackendUnreachable { message: String },
    /// The backend answers again (after `backend.unreachable`), or for the
    /// first time since the port opened.
    #[serde(rename = "backend.reachable")]
    BackendReachable,
    /// The sign-in finished: `user` is signed in on this computer.
    #[serde(rename = "auth.signed_in")]
    SignedIn { user: Me },
    /// The sign-in did not finish (timed out, refused, the code failed).
    #[serde(rename = "auth.sign_in_failed")]
    SignInFailed { message: String },
}

/// The `type` of each message the host sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum HostMessageType {
    #[serde(rename = "call.start.ok")]
    CallStarted,
    #[serde(rename = "call.hangup.ok")]
    HangupRequested,
    #[serde(rename = "status.get.ok")]
    Status,
    #[serde(rename = "calls.recent.ok")]
    RecentCalls,
    #[serde(rename = "phone.config.ok")]
    PhoneConfig,
    #[serde(rename = "auth.sign_in.ok")]
    SignInStarted,
    #[serde(rename = "auth.sign_out.ok")]
    SignedOut,
    #[serde(rename = "call.report.ok")]
    ReportSaved,
    #[serde(rename = "dispositions.get.ok")]
    Dispositions,
    #[serde(rename = "call.other_phones.ok")]
    OtherPhones,
    #[serde(rename = "error")]
    Error,
    #[serde(rename = "call.update")]
    CallUpdate,
    #[serde(rename = "auth.required")]
    AuthRequired,
    #[serde(rename = "backend.unreachable")]
    BackendUnreachable,
    #[serde(rename = "backend.reachable")]
    BackendReachable,
    #[serde(rename = "auth.signed_in")]
    SignedIn,
    #[serde(rename = "auth.sign_in_failed")]
    SignInFailed,
}

impl HostMessage {
    /// Its `type`.
    pub fn kind(&self) -> HostMessageType {
        match self {
            HostMessage::CallStarted { .. } => HostMessageType::CallStarted,
            HostMessage::HangupRequested { .. } => HostMessageType::HangupRequested,
            HostMessage::Status { .. } => HostMessageType::Status,
            HostMessage::RecentCalls { .. } => HostMessageType::RecentCalls,
            HostMessage::PhoneConfig { .. } => HostMessageType::PhoneConfig,
            HostMessage::Error { .. } => HostMessageType::Error,
            HostMessage::CallUpdate { .. } => HostMessageType::CallUpdate,
            HostMessage::AuthRequired { .. } => HostMessageType::AuthRequired,
            HostMessage::BackendUnreachable { .. } => HostMessageType::BackendUnreachable,
            HostMessage::BackendReachable => HostMessageType::BackendReachable,
            HostMessage::SignInStarted { .. } => HostMessageType::SignInStarted,
            HostMessage::SignedOut { .. } => HostMessageType::SignedOut,
            HostMessage::SignedIn { .. } => HostMessageType::SignedIn,
            HostMessage::SignInFailed { .. } => HostMessageType::SignInFailed,
            HostMessage::ReportSaved { .. } => HostMessageType::ReportSaved,
            HostMessage::Dispositions { .. } => HostMessageType::Dispositions,
            HostMessage::OtherPhones { .. } => HostMessageType::OtherPhones,
        }
    }
}

/// A [`HostMessage`] on the wire, with the protocol version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    #[serde(flatten)]
    pub message: HostMessage,
}

impl From<HostMessage> for Envelope {
    fn from(message: HostMessage) -> Envelope {
        Envelope {
            v: VERSION,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Request, RequestError> {
        Request::parse(v)
    }

    /// A click becomes the host request of the same name in the worker.
    #[test]
    fn a_click_is_spelled_as_the_host_request() {
        assert_eq!(
            serde_json::to_value(ContentMessageType::CallStart).unwrap(),
            serde_json::to_value(RequestType::CallStart).unwrap()
        );
    }

    #[test]
    fn reads_each_request_type() {
        let start = parse(json!({"v": 1, "id": "r1", "type": "call.start",
            "number": "+5511987654321", "context": {"deal_id": "5f1e7a9b2c3d4e5f6a7b8c9d"}}))
        .unwrap();
        assert_eq!(start.id, RequestId::Text("r1".into()));
        let RequestBody::CallStart(s) = start.body else {
            panic!("{start:?}")
        };
        assert_eq!(s.number, "+5511987654321");
        assert_eq!(
            s.context.deal_id.as_deref(),
            Some("5f1e7a9b2c3d4e5f6a7b8c9d")
        );

        let hangup = parse(json!({"v": 1, "id": 7, "type": "call.hangup",
            "call_id": "0193a1b2-0000-7000-8000-000000000001"}))
        .unwrap();
        assert_eq!(hangup.id, RequestId::Number(7));
        assert!(matches!(hangup.body, RequestBody::CallHangup(_)));

        let status = parse(json!({"v": 1, "id": "s", "type": "status.get"})).unwrap();
        assert_eq!(status.body, RequestBody::StatusGet);

        let recent = parse(json!({"v": 1, "id": "c", "type": "calls.recent", "limit": 5})).unwrap();
        assert_eq!(
            recent.body,
            RequestBody::CallsRecent(CallsRecent { limit: Some(5) })
        );
    }

    #[test]
    fn a_serialized_request_parses_back() {
        let request = Request {
            id: RequestId::Text("abc".into()),
            body: RequestBody::CallStart(CallStart {
                number: "(11) 98765-4321".into(),
                context: CallContext::default(),
            }),
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["type"], "call.start");
        assert_eq!(json["v"], 1);
        assert_eq!(parse(json).unwrap(), request);
        let status = Request {
            id: RequestId::Number(1),
            body: RequestBody::StatusGet,
        };
        assert_eq!(
            parse(serde_json::to_value(&status).unwrap()).unwrap(),
            status
        );
    }

    fn refused(v: Value) -> RequestError {
        parse(v).unwrap_err()
    }

    #[test]
    fn each_problem_is_named() {
        let e = refused(json!([1, 2]));
        assert_eq!((e.code, e.id), (ErrorCode::InvalidMessage, None));

        let e = refused(json!({"v": 1, "type": "status.get"}));
        assert_eq!(e.code, ErrorCode::InvalidFields);
        assert!(e.detail.contains("id"), "{}", e.detail);

        let e = refused(json!({"v": 1, "id": {"x": 1}, "type": "status.get"}));
        assert_eq!((e.code, e.id), (ErrorCode::InvalidFields, None));

        let e = refused(json!({"v": 2, "id": "a", "type": "status.get"}));
        assert_eq!(e.code, ErrorCode::UnsupportedVersion);
        assert_eq!(e.id, Some(RequestId::Text("a".into())));

        let e = refused(json!({"v": 1, "id": "a", "type": "call.transfer"}));
        assert_eq!(e.code, ErrorCode::UnknownType);
        assert!(e.detail.contains("call.transfer"));

        let e = refused(json!({"v": 1, "id": "a", "type": "call.start", "number": 11987654321u64}));
        assert_eq!(e.code, ErrorCode::InvalidFields);
        assert!(e.detail.starts_with("number: invalid type"), "{}", e.detail);

        let e = refused(
            json!({"v": 1, "id": "a", "type": "call.start", "number": "11987654321",
            "context": {"deal_id": 5}}),
        );
        assert!(
            e.detail.starts_with("context.deal_id: invalid type"),
            "{}",
            e.detail
        );

        let e = refused(json!({"v": 1, "id": "a", "type": "call.start"}));
        assert!(e.detail.contains("missing field `number`"), "{}", e.detail);

        let e = refused(json!({"v": 1, "id": "a", "type": "status.get", "extra": true}));
        assert!(e.detail.contains("unknown field `extra`"), "{}", e.detail);

        let e = refused(json!({"v": 1, "id": "a", "type": "call.start", "number": "11\r\n9876"}));
        assert_eq!(e.code, ErrorCode::InvalidNumber);

        let e = refused(
            json!({"v": 1, "id": "a", "type": "call.start", "number": "11987654321",
            "context": {"page_url": "javascript:alert(1)"}}),
        );
        assert!(e.detail.starts_with("context.page_url"), "{}", e.detail);

        let e =
            refused(json!({"v": 1, "id": "a", "type": "call.hangup", "call_id": "1\r\nAction: x"}));
        assert_eq!(e.code, ErrorCode::InvalidFields);

        let e = refused(json!({"v": 1, "id": "a", "type": "auth.sign_in", "backend_url": "  "}));
        assert!(e.detail.starts_with("backend_url"), "{}", e.detail);
        let e = refused(
            json!({"v": 1, "id": "a", "type": "auth.sign_in", "backend_url": "https://x\n"}),
        );
        assert!(e.detail.starts_with("backend_url"), "{}", e.detail);
        let e = refused(json!({"v": 1, "id": "a", "type": "auth.sign_in", "token": "x"}));
        assert_eq!(e.code, ErrorCode::InvalidFields);
        let e = refused(json!({"v": 1, "id": "a", "type": "auth.sign_out", "x": 1}));
        assert_eq!(e.code, ErrorCode::InvalidFields);
        let e = refused(json!({"v": 1, "id": "a", "type": "calls.recent", "limit": 0}));
        assert!(e.detail.starts_with("limit"), "{}", e.detail);
        let e = refused(json!({"v": 1, "id": "a", "type": "calls.recent", "limit": -1}));
        assert!(e.detail.starts_with("limit: invalid value"), "{}", e.detail);
    }

    #[test]
    fn host_messages_carry_the_version_and_read_back() {
        let messages = [
            HostMessage::Error {
                id: None,
                error: HostError {
                    code: ErrorCode::InvalidJson,
                    message: "x".into(),
                },
            },
            HostMessage::BackendReachable,
            HostMessage::AuthRequired {
                message: "Faça login".into(),
            },
            HostMessage::RecentCalls {
                id: RequestId::Number(3),
                calls: vec![],
            },
        ];
        for message in messages {
            let wire = serde_json::to_value(Envelope::from(message.clone())).unwrap();
            assert_eq!(wire["v"], 1);
            let back: Envelope = serde_json::from_value(wire).unwrap();
            assert_eq!(back.message, message);
        }
        let unknown: HostError =
            serde_json::from_value(json!({"code": "brand_new", "message": "m"})).unwrap();
        assert_eq!(unknown.code, ErrorCode::Other);
    }

    #[test]
    fn each_message_is_sent_with_the_type_of_its_kind() {
        use strum::IntoEnumIterator;
        let bodies = [
            RequestBody::CallStart(CallStart {
                number: "1".into(),
                context: CallContext::default(),
            }),
            RequestBody::CallHangup(CallHangup {
                call_id: "a".into(),
            }),
            RequestBody::StatusGet,
            RequestBody::CallsRecent(CallsRecent::default()),
            RequestBody::PhoneConfig,
            RequestBody::SignIn(SignIn::default()),
            RequestBody::SignOut,
            RequestBody::CallReport(CallReportRequest {
                call_id: "a".into(),
                report: CallReport {
                    disposition: Some("interessado".into()),
                    note: String::new(),
                    follow_up_at: None,
                },
            }),
            RequestBody::DispositionsGet,
            RequestBody::CallOtherPhones(CallHangup {
                call_id: "a".into(),
            }),
        ];
        let kinds: Vec<RequestType> = bodies.iter().map(RequestBody::kind).collect();
        assert_eq!(kinds, RequestType::iter().collect::<Vec<_>>());
        for body in &bodies {
            let wire = serde_json::to_value(body).unwrap();
            assert_eq!(wire["type"], serde_json::to_value(body.kind()).unwrap());
        }

        let call: Call = serde_json::from_value(json!({"id": "a", "tenant": "acme",
            "user_id": "u1", "agent_endpoint": "acme-1001", "to": "+5511987654321",
            "state": "queued", "created_at": "2026-11-21T12:00:00Z"}))
        .unwrap();
        let id = RequestId::Number(1);
        let messages = [
            HostMessage::CallStarted {
                id: id.clone(),
                call: call.clone(),
            },
            HostMessage::HangupRequested {
                id: id.clone(),
                call: call.clone(),
            },
            HostMessage::Status {
                id: id.clone(),
                status: Box::new(Status {
                    host_version: "0".into(),
                    logged_in: false,
                    user: None,
                    backend_url: None,
                    backend: BackendState::NotConfigured,
                    credential_store: None,
                    live_call: None,
                }),
            },
            HostMessage::RecentCalls {
                id: id.clone(),
                calls: vec![],
            },
            HostMessage::PhoneConfig {
                id: id.clone(),
                phone: crate::phone::PhoneConfig {
                    kind: crate::phone::PhoneKind::Desk,
                    endpoint: "acme-1001".into(),
                    browser: None,
                },
            },
            HostMessage::SignInStarted {
                id: id.clone(),
                authorize_url: "https://disca.example.com/oauth/authorize?x".into(),
            },
            HostMessage::SignedOut { id: id.clone() },
            HostMessage::ReportSaved {
                id: id.clone(),
                saved: ReportSaved {
                    report: CallReport {
                        disposition: None,
                        note: "x".into(),
                        follow_up_at: None,
                    },
                    note: crate::report::ReportNote::InTheNote,
                    task: crate::report::ReportTask::None,
                },
            },
            HostMessage::Dispositions {
                id: id.clone(),
                dispositions: vec![],
            },
            HostMessage::OtherPhones {
                id: id.clone(),
                deal_id: None,
                phones: vec![],
            },
            HostMessage::Error {
                id: None,
                error: HostError {
                    code: ErrorCode::Other,
                    message: "m".into(),
                },
            },
            HostMessage::CallUpdate {
                call: Box::new(call),
            },
            HostMessage::AuthRequired {
                message: "m".into(),
            },
            HostMessage::BackendUnreachable {
                message: "m".into(),
            },
            HostMessage::BackendReachable,
            HostMessage::SignedIn {
                user: Me {
                    id: "u1".into(),
                    name: "Ana".into(),
                    email: "ana@acme.com.br".into(),
                    tenant: "acme".into(),
                    role: crate::Role::Agent,
                    extension: "1001".into(),
                },
            },
            HostMessage::SignInFailed {
                message: "m".into(),
            },
        ];
        let kinds: Vec<HostMessageType> = messages.iter().map(HostMessage::kind).collect();
        assert_eq!(kinds, HostMessageType::iter().collect::<Vec<_>>());
        for message in &messages {
            let wire = serde_json::to_value(message).unwrap();
            assert_eq!(wire["type"], serde_json::to_value(message.kind()).unwrap());
        }
    }

    #[test]
    fn backend_codes_map_to_host_codes() {
        assert_eq!(
            ErrorCode::from(ApiErrorCode::AgentBusy),
            ErrorCode::AgentBusy
        );
        assert_eq!(
            ErrorCode::from(ApiErrorCode::StorageBusy),
            ErrorCode::BackendError
        );
        assert_eq!(
            ErrorCode::from(ApiErrorCode::Unknown),
            ErrorCode::BackendError
        );
    }
}
