//! The manager page's own error answers: the API's JSON shape
//! (`{"error": {"code", "message"}}`) with Portuguese messages the page
//! shows as they are.

use axum::http::StatusCode;

use disca_protocol::ApiErrorCode;

use crate::api::ApiError;

impl ApiError {
    /// No session, or it expired or was ended.
    pub fn session_required() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ApiErrorCode::SessionRequired,
            "Sua sessão terminou. Entre de novo com o seu e-mail e senha.",
        )
    }

    pub fn login_token_invalid() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ApiErrorCode::InvalidToken,
            "Token inválido. Cole o token de gestor inteiro, como foi mostrado quando o usuário foi criado (começa com disca_).",
        )
    }

    pub fn login_not_a_manager() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ApiErrorCode::NotAManager,
            "Esta conta é de um vendedor. A página do gestor é só para gestores: entre com a conta de um gestor.",
        )
    }

    /// A state-changing request that did not come from the page itself.
    pub fn cross_site_refused() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ApiErrorCode::CrossSiteRequest,
            "Requisição recusada: ela não veio de uma página do Disca. Recarregue a página e tente de novo.",
        )
    }

    pub fn no_recording() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ApiErrorCode::RecordingNotFound,
            "Esta ligação não tem gravação.",
        )
    }

    pub fn recording_missing() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ApiErrorCode::RecordingNotFound,
            "A gravação desta ligação não foi encontrada no servidor.",
        )
    }

    pub fn recordings_not_configured() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ApiErrorCode::RecordingsNotConfigured,
            "As gravações não estão disponíveis: a pasta de gravações não foi configurada no servidor do Disca.",
        )
    }
}
