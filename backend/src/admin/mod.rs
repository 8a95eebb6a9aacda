//! The admin console: a tenant's admins (a flag beside the role: a manager
//! may be an admin too) run their company's people and settings from
//! `/manager/admin`, with no CLI and no Asterisk file to edit.
//!
//! Module map:
//! - [`people`]: the people (list and search, invite, change role, admin,
//!   phone kind, extension, RD Station user, disable and enable, password
//!   reset, sign-out of every computer), and what a change does to the
//!   phone directory Asterisk reads.
//! - [`import`]: salespeople from a CSV file, all or none.
//! - [`policy`]: the tenant's destination policy.
//! - [`dialing`]: the tenant's trunk and caller IDs, written where
//!   Asterisk reads them ([`crate::pbx::dialing`]).
//! - [`rdstation`]: the RD Station connection (state, "Conectar RD
//!   Station" by OAuth2, the v1 token form, salespeople matched by e-mail).
//! - [`dispositions`]: the outcomes salespeople choose from after a call.
//! - [`recording`]: recording on/off, the announcement, the retention.
//! - [`audit`]: the log of every change, shown and exported as CSV.
//! - [`view`]: people and changes as the console shows them (Portuguese).
//! - [`page`]: the static HTML, JS and CSS (embedded).
//!
//! Invariants: the console shares the manager page's session (cookie,
//! lifetime, logout, CSRF marker); every route requires a live session of
//! an admin ([`Admin`]) and reads and changes only that admin's tenant (a
//! person of another tenant is "not found"); every change commits with its
//! audit row and bumps the auth epoch, so every backend reloads the people
//! it changed at once; an admin cannot take their own access away; page
//! text is set with DOM calls, never parsed as HTML.

pub mod audit;
pub mod dialing;
pub mod dispositions;
pub mod import;
pub mod page;
pub mod people;
pub mod policy;
pub mod rdstation;
pub mod recording;
pub mod view;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, patch, post};
use disca_protocol::ApiErrorCode;

use crate::api::{ApiError, AppState};
use crate::domain::User;
use crate::manager::session::session_user;

/// Where the console lives.
pub const HOME: &str = "/manager/admin";

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(HOME, get(page::index))
        .route("/manager/admin/static/{file}", get(page::asset))
        .route("/manager/admin/audit.csv", get(audit::audit_csv))
        .route("/manager/admin/api/session", get(people::session_info))
        .route(
            "/manager/admin/api/people",
            get(people::list).post(people::invite),
        )
        .route(
            "/manager/admin/api/people/import",
            post(import::import).layer(DefaultBodyLimit::max(import::MAX_FILE_BYTES)),
        )
        .route("/manager/admin/api/people/{id}", patch(people::change))
        .route(
            "/manager/admin/api/people/{id}/invitation",
            post(people::send_invitation),
        )
        .route(
            "/manager/admin/api/people/{id}/password-reset",
            post(people::send_reset),
        )
        .route(
            "/manager/admin/api/people/{id}/sign-out",
            post(people::sign_out),
        )
        .route(
            "/manager/admin/api/people/{id}/desk-phone",
            post(people::desk_phone),
        )
        .route(
            "/manager/admin/api/policy",
            get(policy::get_policy).put(policy::put_policy),
        )
        .route(
            "/manager/admin/api/dialing",
            get(dialing::get_dialing).put(dialing::put_dialing),
        )
        .route("/manager/admin/api/audit", get(audit::list))
        .route(
            "/manager/admin/api/dispositions",
            get(dispositions::get_dispositions).put(dispositions::put_dispositions),
        )
        .route("/manager/admin/api/rdstation", get(rdstation::status))
        .route(
            "/manager/admin/api/rdstation/v1",
            post(rdstation::connect_with_token),
        )
        .route(
            "/manager/admin/api/rdstation/v2",
            post(rdstation::start_authorization),
        )
        .route(
            "/manager/admin/api/rdstation/match-users",
            post(rdstation::match_users),
        )
        .route(rdstation::CALLBACK_PATH, get(rdstation::callback))
        .route(
            "/manager/admin/api/recording",
            get(recording::get_rules).put(recording::put_rules),
        )
        .route(
            "/manager/admin/api/recording/announcement",
            post(recording::put_announcement)
                .delete(recording::delete_announcement)
                .layer(DefaultBodyLimit::max(
                    crate::recordings::announcement::MAX_FILE_BYTES,
                )),
        )
        .route(
            "/manager/admin/api/recording/announcement/default",
            post(recording::use_default_announcement),
        )
        .layer(middleware::map_response(crate::manager::security_headers))
}

/// The admin behind a request of the console's JSON API: without a live
/// session `401 session_required`; a session of someone who is not an
/// admin `403 admins_only`.
pub struct Admin(pub User);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Admin, ApiError> {
        match session_user(&parts.headers, state).await? {
            Some(user) if user.admin => Ok(Admin(user)),
            Some(_) => Err(ApiError::admins_only()),
            None => Err(ApiError::session_required()),
        }
    }
}

/// The admin behind a request the browser navigates to (the console, the
/// CSV): without a session, a redirect to the login, which comes back here;
/// someone who is not an admin goes to the manager page.
pub struct PageAdmin(pub User);

impl FromRequestParts<AppState> for PageAdmin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<PageAdmin, Response> {
        match session_user(&parts.headers, state).await {
            Ok(Some(user)) if user.admin => Ok(PageAdmin(user)),
            Ok(Some(_)) => Err(Redirect::to(crate::manager::session::HOME).into_response()),
            Ok(None) => {
                let here = parts.uri.path_and_query().map_or(HOME, |p| p.as_str());
                Err(Redirect::to(&crate::manager::session::login_url(here)).into_response())
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

impl ApiError {
    pub fn admins_only() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ApiErrorCode::AdminsOnly,
            "O console de administração é só para administradores da empresa.",
        )
    }

    pub fn person_not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ApiErrorCode::NotFound,
            "Pessoa não encontrada.",
        )
    }

    pub fn not_a_desk_phone() -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            ApiErrorCode::NotADeskPhone,
            "Esta pessoa usa o telefone do navegador, que recebe a senha sozinho. Mude o tipo de telefone para \"Telefone de mesa\" antes.",
        )
    }

    pub fn phones_not_configured() -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            ApiErrorCode::PhonesNotConfigured,
            "Este servidor não guarda os telefones da central desta empresa ([phones] directory_db, ou directory_url da central): os telefones de mesa são configurados pela TI nos arquivos da central.",
        )
    }

    pub fn already_exists(what: &str) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, ApiErrorCode::AlreadyExists, what)
    }

    /// An admin about to take their own access away.
    pub fn own_access() -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            ApiErrorCode::Forbidden,
            "Você não pode desativar a sua própria conta nem tirar o seu próprio acesso de administrador: peça a outro administrador.",
        )
    }

    pub fn import_rejected(message: String) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ApiErrorCode::ImportRejected,
            message,
        )
    }
}
