//! API errors: `{"error": {"code": "...", "message": "..."}}` with the right
//! status. Messages are Portuguese: the extension shows them to salespeople.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use disca_protocol::{ApiErrorCode, ErrorBody, ErrorDetail, InvalidNumberReason};

use crate::domain::{DestinationRefused, InvalidNumber};
use crate::storage::StoreError;

/// `Retry-After` when the database's disk is full: room comes back only
/// when somebody frees it.
const STORAGE_FULL_RETRY_SECS: u64 = 30;
/// `Retry-After` when the database was locked or did not answer.
const STORAGE_BUSY_RETRY_SECS: u64 = 5;
/// `Retry-After` when an event stream cap is reached: a stream frees its
/// place when its window closes or its connection drops.
const STREAMS_RETRY_SECS: u64 = 15;
/// `Retry-After` when the server has no connection to spare.
const SERVER_BUSY_RETRY_SECS: u64 = 5;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ApiErrorCode,
    message: String,
    reason: Option<InvalidNumberReason>,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: ApiErrorCode,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            reason: None,
            retry_after_secs: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The Portuguese message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Tells the client when to try again (`Retry-After`, at least 1 s).
    fn retry_after(self, secs: u64) -> ApiError {
        ApiError {
            retry_after_secs: Some(secs.max(1)),
            ..self
        }
    }

    pub fn malformed(detail: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ApiErrorCode::MalformedRequest,
            format!("Requisição inválida: {detail}"),
        )
    }

    /// A call report (or a list of outcomes) that cannot be taken: `why`,
    /// in Portuguese.
    pub fn invalid_report(why: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ApiErrorCode::InvalidReport,
            why,
        )
    }

    /// The body could not be read (too large, or the connection failed).
    pub fn body_rejected(status: StatusCode) -> ApiError {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                ApiErrorCode::PayloadTooLarge,
                format!(
                    "Requisição grande demais: o limite é {} KiB.",
                    super::MAX_BODY_BYTES / 1024
                ),
            )
        } else {
            ApiError::malformed("não foi possível ler o corpo da requisição")
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ApiErrorCode::Unauthorized,
            "Credencial ausente ou inválida. Faça login novamente no Disca.",
        )
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ApiErrorCode::Forbidden,
            "Você não tem acesso a esta ligação.",
        )
    }

    pub fn managers_only() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ApiErrorCode::ManagersOnly,
            "Só gestores podem fazer isso.",
        )
    }

    /// The call's CRM note is not stopped (it is delivered, pending, or the
    /// call has not ended): there is nothing to queue again.
    pub fn crm_not_stopped() -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            ApiErrorCode::CrmNotStopped,
            "A nota desta ligação não está parada: ela já foi entregue, está na fila ou a ligação ainda não terminou.",
        )
    }

    pub fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ApiErrorCode::NotFound,
            "Ligação não encontrada.",
        )
    }

    pub fn route_not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ApiErrorCode::NotFound,
            "Endereço não encontrado.",
        )
    }

    pub fn agent_busy() -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            ApiErrorCode::AgentBusy,
            "Você já está em uma ligação. Encerre-a antes de iniciar outra.",
        )
    }

    /// The salesperson's phone has no registration at the PBX: nothing
    /// rang and nothing was stored.
    pub fn agent_phone_offline(browser: bool) -> ApiError {
        let what = if browser {
            "Seu telefone não está conectado à central: abra o Chrome com a extensão do Disca, confira o indicador \"Telefone pronto\" no ícone do Disca e permita o microfone. Ninguém foi chamado."
        } else {
            "Seu telefone não está conectado à central: confira se o aparelho (ou o aplicativo) está ligado e registrado. Ninguém foi chamado."
        };
        ApiError::new(StatusCode::CONFLICT, ApiErrorCode::AgentPhoneOffline, what)
    }

    /// The user has a browser phone, but this server has no phone directory.
    pub fn browser_phone_unavailable() -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            ApiErrorCode::BrowserPhoneUnavailable,
            "O telefone no navegador não está configurado neste servidor do Disca. Avise o administrador do Disca.",
        )
    }

    pub fn rate_limited(retry_after_secs: u64) -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ApiErrorCode::RateLimited,
            "Muitas ligações em pouco tempo. Aguarde alguns segundos e tente de novo.",
        )
        .retry_after(retry_after_secs)
    }

    pub fn pbx_unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiErrorCode::PbxUnavailable,
            "A central telefônica está fora do ar. Tente novamente em instantes.",
        )
    }

    /// The AMI link died (or stalled) before Asterisk acknowledged the
    /// call: it is ended as not placed unless the PBX shows it after the
    /// reconnection.
    pub fn pbx_stopped_answering() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiErrorCode::PbxUnavailable,
            "A central telefônica parou de responder antes de confirmar a ligação; ela não foi completada. Tente novamente em instantes.",
        )
        .retry_after(STORAGE_BUSY_RETRY_SECS)
    }

    pub fn pbx_refused() -> ApiError {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            ApiErrorCode::PbxRefused,
            "A central telefônica recusou a ligação. Avise o administrador do Disca.",
        )
    }

    /// The database's disk is full: nothing was stored, and nothing done.
    pub fn storage_full() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiErrorCode::StorageFull,
            "O servidor do Disca está sem espaço em disco e não pôde registrar o pedido; nada foi feito. Avise o administrador do Disca e tente de novo em alguns minutos.",
        )
        .retry_after(STORAGE_FULL_RETRY_SECS)
    }

    /// Another process held the database's write lock past the busy
    /// timeout: nothing was stored, and nothing done.
    pub fn storage_busy() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiErrorCode::StorageBusy,
            "O banco de dados do Disca está ocupado e não pôde registrar o pedido; nada foi feito. Tente de novo em alguns segundos.",
        )
        .retry_after(STORAGE_BUSY_RETRY_SECS)
    }

    pub fn storage_unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiErrorCode::StorageUnavailable,
            "O banco de dados do Disca não está respondendo; nada foi feito. Tente de novo em instantes.",
        )
        .retry_after(STORAGE_BUSY_RETRY_SECS)
    }

    /// The user already has `cap` event streams open (several windows, or
    /// a client that reconnects without closing).
    pub fn too_many_user_streams(cap: usize) -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ApiErrorCode::TooManyStreams,
            format!(
                "Você já tem {cap} conexões de acompanhamento de ligações abertas com o Disca. Feche as janelas que não usa e tente de novo em alguns segundos."
            ),
        )
        .retry_after(STREAMS_RETRY_SECS)
    }

    /// The tenant already has `cap` event streams open.
    pub fn too_many_tenant_streams(cap: usize) -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ApiErrorCode::TooManyStreams,
            format!(
                "Sua empresa atingiu o limite de {cap} conexões de acompanhamento de ligações abertas ao mesmo tempo. Tente de novo em alguns segundos ou avise o administrador do Disca."
            ),
        )
        .retry_after(STREAMS_RETRY_SECS)
    }

    /// Every connection the server allows is taken: this one came in on
    /// the reserve kept for `/healthz` and `/metrics`.
    pub fn server_busy() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiErrorCode::ServerBusy,
            "O servidor do Disca está com o máximo de conexões abertas. Tente de novo em alguns segundos.",
        )
        .retry_after(SERVER_BUSY_RETRY_SECS)
    }

    /// The request (its body, or the work behind it) took longer than the
    /// request timeout.
    pub fn request_timeout() -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            ApiErrorCode::RequestTimeout,
            "A requisição demorou demais e foi interrompida. Tente de novo.",
        )
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ApiErrorCode::MethodNotAllowed,
            "Método não permitido neste endereço.",
        )
    }

    pub fn invalid_credentials() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ApiErrorCode::InvalidCredentials,
            "E-mail ou senha incorretos.",
        )
    }

    pub fn too_many_attempts() -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ApiErrorCode::TooManyAttempts,
            "Muitas tentativas de entrar em pouco tempo. Aguarde um minuto e tente de novo.",
        )
        .retry_after(60)
    }

    pub fn account_locked(minutes: i64) -> ApiError {
        let minutes = minutes.max(1);
        let unit = if minutes == 1 { "minuto" } else { "minutos" };
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ApiErrorCode::AccountLocked,
            format!(
                "Senha errada muitas vezes seguidas: a conta está bloqueada por {minutes} {unit}. \
                 Para entrar antes, use \"Esqueci minha senha\" ou peça ao seu gestor um link de nova senha."
            ),
        )
        .retry_after(u64::try_from(minutes * 60).unwrap_or(60))
    }

    pub fn account_disabled() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ApiErrorCode::AccountDisabled,
            "Sua conta no Disca está desativada. Fale com o seu gestor.",
        )
    }

    pub fn link_invalid() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ApiErrorCode::LinkInvalid,
            "Este link não é válido. Confira se foi copiado inteiro ou peça um novo ao seu gestor.",
        )
    }

    pub fn link_used() -> ApiError {
        ApiError::new(
            StatusCode::GONE,
            ApiErrorCode::LinkUsed,
            "Este link já foi usado. Se você já criou sua senha, entre pelo Disca; se não, peça um novo link ao seu gestor.",
        )
    }

    pub fn link_expired() -> ApiError {
        ApiError::new(
            StatusCode::GONE,
            ApiErrorCode::LinkExpired,
            "Este link expirou. Peça um novo ao seu gestor.",
        )
    }

    pub fn weak_password(why: String) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ApiErrorCode::WeakPassword,
            why,
        )
    }

    pub fn email_taken() -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            ApiErrorCode::EmailTaken,
            "Este e-mail já tem uma conta no Disca em outra empresa. Peça ao seu gestor para usar outro e-mail.",
        )
    }

    pub fn invalid_authorization_request(detail: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ApiErrorCode::InvalidAuthorizationRequest,
            format!(
                "Pedido de entrada inválido ({detail}). Clique de novo em \"Entrar\" no Disca."
            ),
        )
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiErrorCode::Internal,
            "Erro interno. Tente novamente.",
        )
    }
}

impl From<InvalidNumber> for ApiError {
    fn from(e: InvalidNumber) -> ApiError {
        ApiError {
            reason: Some(e.reason()),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ApiErrorCode::InvalidNumber,
                e.to_string(),
            )
        }
    }
}

impl From<DestinationRefused> for ApiError {
    fn from(e: DestinationRefused) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ApiErrorCode::DestinationNotAllowed,
            e.to_string(),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::AgentBusy => ApiError::agent_busy(),
            StoreError::IdempotencyMismatch => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ApiErrorCode::IdempotencyKeyReused,
                "Esta Idempotency-Key já foi usada para outra ligação.",
            ),
            StoreError::CallLive => ApiError::new(
                StatusCode::CONFLICT,
                ApiErrorCode::CallStillLive,
                "A ligação ainda não terminou.",
            ),
            StoreError::Invalid(why) => ApiError::invalid_report(why),
            StoreError::DiskFull => ApiError::storage_full(),
            StoreError::Busy => ApiError::storage_busy(),
            e @ (StoreError::Unavailable(_) | StoreError::Closed) => {
                tracing::error!(error = %e, "storage unavailable");
                ApiError::storage_unavailable()
            }
            other => {
                tracing::error!(error = %other, "storage error");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                reason: self.reason,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
