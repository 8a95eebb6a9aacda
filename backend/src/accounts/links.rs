//! One-time links that set a password: an invitation (the first password
//! of a user a manager added) or a reset. The link is
//! `<public_url>/account/password#<secret>`: the secret is in the
//! fragment, which browsers never send to a server (nor in `Referer`), and
//! the page posts it. Only its SHA-256 is stored.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::password::weakness;
use super::{Accounts, from_page};
use crate::api::{ApiError, AppState};
use crate::auth::{hash_token, random_secret};
use crate::domain::User;
use crate::mail::MailError;
use crate::storage::{LinkError, LinkPurpose, Store, StoreError};

/// How long an invitation works.
pub const INVITE_LIFETIME: time::Duration = time::Duration::days(7);
/// How long a password reset link works.
pub const RESET_LIFETIME: time::Duration = time::Duration::hours(1);

/// A link made for someone.
pub struct IssuedLink {
    pub url: String,
    pub expires_at: OffsetDateTime,
    /// How it reached them: `Ok(true)` e-mailed, `Ok(false)` no SMTP
    /// configured (whoever made it sends it), `Err` the mail failed.
    pub mailed: Result<bool, MailError>,
}

/// Makes a link of `purpose` for `user` (their earlier unused one of the
/// same purpose stops working) and e-mails it when SMTP is configured.
pub async fn issue(
    accounts: &Accounts,
    store: &Store,
    user: &User,
    purpose: LinkPurpose,
) -> Result<IssuedLink, StoreError> {
    let secret = random_secret();
    let lifetime = match purpose {
        LinkPurpose::Invite => INVITE_LIFETIME,
        LinkPurpose::Reset => RESET_LIFETIME,
    };
    let expires_at = OffsetDateTime::now_utc() + lifetime;
    store
        .add_account_link(&user.id, purpose, &hash_token(&secret), expires_at)
        .await?;
    let url = format!("{}/account/password#{secret}", accounts.public_url);
    let mailed = match &accounts.mailer {
        None => Ok(false),
        Some(mailer) => {
            let (subject, body) = message(user, purpose, &url);
            mailer
                .send(&user.name, &user.email, subject, body)
                .await
                .map(|()| true)
        }
    };
    match &mailed {
        Ok(true) => tracing::info!(user_id = %user.id, purpose = purpose.as_str(), "link e-mailed"),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(user_id = %user.id, purpose = purpose.as_str(), error = %e, "cannot e-mail a link")
        }
    }
    Ok(IssuedLink {
        url,
        expires_at,
        mailed,
    })
}

/// The e-mail for a link (Portuguese, plain text).
fn message(user: &User, purpose: LinkPurpose, url: &str) -> (&'static str, String) {
    let company = &user.tenant.name;
    match purpose {
        LinkPurpose::Invite => (
            "Seu convite para o Disca",
            format!(
                "Olá, {name}!\n\n\
                 Você foi convidado(a) para usar o Disca na {company}: ligue para seus \
                 clientes com um clique, direto do RD Station CRM.\n\n\
                 Para criar sua senha, abra este link (ele vale por 7 dias e só pode ser usado uma vez):\n\n\
                 {url}\n\n\
                 Depois, instale a extensão do Disca no navegador e clique em \"Entrar\".\n\n\
                 Se você não esperava este convite, ignore este e-mail.\n",
                name = user.name,
            ),
        ),
        LinkPurpose::Reset => (
            "Nova senha do Disca",
            format!(
                "Olá, {name}!\n\n\
                 Alguém pediu uma nova senha para a sua conta do Disca na {company}. \
                 Para criá-la, abra este link (ele vale por 1 hora e só pode ser usado uma vez):\n\n\
                 {url}\n\n\
                 Ao criar a nova senha, o Disca sai de todos os navegadores onde você entrou.\n\n\
                 Se não foi você, ignore este e-mail: sua senha continua a mesma.\n",
                name = user.name,
            ),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    token: String,
}

/// What the page shows before the form: whose link it is and what for.
#[derive(Serialize)]
pub struct LinkInfo {
    name: String,
    email: String,
    company: String,
    purpose: &'static str,
}

/// `POST /account/api/link`: the link's owner and purpose, or why it does
/// not work.
pub async fn inspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<LinkRequest>, JsonRejection>,
) -> Result<Json<LinkInfo>, ApiError> {
    from_page(&headers)?;
    let Json(request) = body.map_err(|_| ApiError::malformed("o corpo deve ser {\"token\"}"))?;
    let link = match state.store.account_link(&link_hash(&request.token)?).await {
        Ok(link) => link,
        Err(StoreError::NotFound) => return Err(ApiError::link_invalid()),
        Err(e) => return Err(e.into()),
    };
    if link.used {
        return Err(ApiError::link_used());
    }
    if link.expires_at <= OffsetDateTime::now_utc() {
        return Err(ApiError::link_expired());
    }
    Ok(Json(LinkInfo {
        name: link.user.name,
        email: link.user.email,
        company: link.user.tenant.name,
        purpose: link.purpose.as_str(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    token: String,
    password: Zeroizing<String>,
}

#[derive(Serialize)]
pub struct PasswordSet {
    email: String,
}

/// `POST /account/api/password`: uses the link to set the password.
pub async fn set_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<SetPassword>, JsonRejection>,
) -> Result<Json<PasswordSet>, ApiError> {
    from_page(&headers)?;
    let Json(request) =
        body.map_err(|_| ApiError::malformed("o corpo deve ser {\"token\", \"password\"}"))?;
    let hash = link_hash(&request.token)?;
    let link = match state.store.account_link(&hash).await {
        Ok(link) => link,
        Err(StoreError::NotFound) => return Err(ApiError::link_invalid()),
        Err(e) => return Err(e.into()),
    };
    if let Some(why) = weakness(&request.password, &link.user.email) {
        return Err(ApiError::weak_password(why));
    }
    let password_hash = state
        .accounts
        .passwords
        .hash(request.password)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot hash a password");
            ApiError::internal()
        })?;
    let user = state
        .store
        .use_account_link(&hash, &password_hash, OffsetDateTime::now_utc())
        .await
        .map_err(|e| match e {
            LinkError::Unknown => ApiError::link_invalid(),
            LinkError::Used => ApiError::link_used(),
            LinkError::Expired => ApiError::link_expired(),
            LinkError::EmailTaken => ApiError::email_taken(),
            LinkError::Store(e) => e.into(),
        })?;
    tracing::info!(user_id = %user.id, purpose = link.purpose.as_str(), "password set from a link");
    Ok(Json(PasswordSet { email: user.email }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forgot {
    email: String,
}

/// What "Esqueci minha senha" answers, whether or not the e-mail has an
/// account (the answer never says).
#[derive(Serialize)]
pub struct ForgotAnswer {
    /// Links are e-mailed by this server (else: ask the manager).
    mails: bool,
}

/// `POST /account/api/forgot`: e-mails a reset link to the account with
/// that e-mail, if there is one and SMTP is configured.
pub async fn forgot(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<Forgot>, JsonRejection>,
) -> Result<(StatusCode, Json<ForgotAnswer>), ApiError> {
    from_page(&headers)?;
    let Json(request) = body.map_err(|_| ApiError::malformed("o corpo deve ser {\"email\"}"))?;
    let email = request.email.trim().to_lowercase();
    let mails = state.accounts.mailer.is_some();
    if mails && !email.is_empty() && email.len() <= 254 {
        if !state.accounts.may_mail_reset(&email) {
            // Said the same as a mail sent: the answer never tells whether
            // the e-mail has an account, nor floods its inbox.
            return Ok((StatusCode::ACCEPTED, Json(ForgotAnswer { mails })));
        }
        let accounts = state.store.password_accounts(&email).await?;
        if let Some(account) = accounts.into_iter().find(|a| !a.disabled) {
            // Mailed in the background: the answer takes as long whether
            // or not the e-mail has an account.
            let (accounts, store) = (state.accounts.clone(), state.store.clone());
            tokio::spawn(async move {
                if let Err(e) = issue(&accounts, &store, &account.user, LinkPurpose::Reset).await {
                    tracing::error!(error = %e, "cannot make a reset link");
                }
            });
        }
    }
    Ok((StatusCode::ACCEPTED, Json(ForgotAnswer { mails })))
}

/// The stored hash of a link secret, refusing what cannot be one.
fn link_hash(secret: &str) -> Result<String, ApiError> {
    let secret = secret.trim();
    if secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hash_token(secret))
    } else {
        Err(ApiError::link_invalid())
    }
}
