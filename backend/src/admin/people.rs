//! The people of the admin's tenant: list and search, invite, change
//! (name, role, admin, phone kind, extension, RD Station user, disabled),
//! invitation and password links, and signing them out of every computer.
//! What a change means for the PBX (a browser phone written, moved,
//! removed, or its password rotated) follows in the phone directory.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::view::{self, Choice, PersonView};
use super::{Admin, import};
use crate::accounts::links;
use crate::api::{ApiError, AppState};
use crate::domain::{
    CrmUserId, Extension, PhoneKind, Role, User, email_address, person_name, sao_paulo,
};
use crate::manager::session::same_site;
use crate::phones;
use crate::storage::{
    Actor, AuditAction, AuditEntry, LinkPurpose, NewPerson, NewUser, Person, PersonChange,
    StoreError,
};

/// `GET /manager/admin/api/session`: who is signed in, their company, and
/// the console's choices.
#[derive(Serialize)]
pub struct SessionInfo {
    pub admin: AdminInfo,
    pub tenant: TenantInfo,
    pub roles: Vec<Choice>,
    pub phones: Vec<Choice>,
    /// Invitations and reset links are e-mailed (SMTP configured); else
    /// the console shows them for the admin to send.
    pub mail: bool,
    /// The server writes the phones for Asterisk (`[phones] directory_db`):
    /// browser phones work, and desk phones get their credentials here.
    pub phone_directory: bool,
}

#[derive(Serialize)]
pub struct AdminInfo {
    pub id: String,
    pub name: String,
    /// They may open the manager page too.
    pub manager: bool,
}

#[derive(Serialize)]
pub struct TenantInfo {
    pub slug: String,
    pub name: String,
}

pub async fn session_info(State(state): State<AppState>, Admin(admin): Admin) -> Json<SessionInfo> {
    Json(SessionInfo {
        admin: AdminInfo {
            id: admin.id.clone(),
            name: admin.name.clone(),
            manager: admin.role == Role::Manager,
        },
        tenant: TenantInfo {
            slug: admin.tenant.slug.to_string(),
            name: admin.tenant.name.clone(),
        },
        roles: view::role_choices(),
        phones: view::phone_choices(),
        mail: state.accounts.mailer.is_some(),
        phone_directory: state.phones.directory_for(&admin.tenant).is_some(),
    })
}

#[derive(Deserialize)]
pub struct Search {
    /// Part of a name, e-mail or extension.
    #[serde(default)]
    q: Option<String>,
}

#[derive(Serialize)]
pub struct PeopleList {
    pub people: Vec<PersonView>,
}

/// `GET /manager/admin/api/people?q=`.
pub async fn list(
    State(state): State<AppState>,
    Admin(admin): Admin,
    search: Result<Query<Search>, QueryRejection>,
) -> Result<Json<PeopleList>, ApiError> {
    let Query(search) = search.map_err(|_| ApiError::malformed("aceito: q (busca)"))?;
    let q = search
        .q
        .filter(|q| q.chars().count() <= 100 && !q.chars().any(char::is_control));
    let people = state
        .store
        .people(admin.tenant.slug.as_str(), q.as_deref())
        .await?;
    Ok(Json(PeopleList {
        people: people.iter().map(PersonView::from).collect(),
    }))
}

/// `POST /manager/admin/api/people`: a person to invite.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub name: String,
    pub email: String,
    /// Empty: the next free number from 1001.
    #[serde(default)]
    pub extension: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub phone: Option<PhoneKind>,
    /// Their `_id` in RD Station CRM (the author of their notes).
    #[serde(default)]
    pub crm_user_id: Option<String>,
}

/// An invitation or reset link as the admin sees it.
#[derive(Serialize)]
pub struct LinkView {
    /// It reached the person by e-mail.
    pub mailed: bool,
    /// When it was not mailed: the link, for the admin to send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Until when it works, São Paulo time.
    pub valid_until: String,
    /// Why it was not mailed, when the mail failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Serialize)]
pub struct Invited {
    pub person: PersonView,
    pub link: LinkView,
    /// Something the admin should know (the browser phone could not be
    /// written yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

pub async fn invite(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    body: Result<Json<InviteRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Invited>), ApiError> {
    same_site(&headers)?;
    let Json(request) = body.map_err(|e| {
        ApiError::malformed(format!(
            "o corpo deve ser {{\"name\", \"email\", \"extension\", \"role\", \"admin\", \"phone\", \"crm_user_id\"}} ({})",
            e.body_text()
        ))
    })?;
    let tenant = admin.tenant.slug.as_str();
    let name = person_name(&request.name).map_err(ApiError::malformed)?;
    let email = email_address(&request.email).map_err(ApiError::malformed)?;
    if state.store.email_in_other_tenant(tenant, &email).await? {
        return Err(ApiError::email_in_other_company());
    }
    let extension = match request
        .extension
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        Some(e) => parse_extension(e)?,
        None => import::ExtensionPool::of_tenant(&state.store, tenant)
            .await?
            .hand_out()
            .ok_or_else(import::no_free_extension)?,
    };
    let crm_user_id = parse_crm_user(request.crm_user_id.as_deref())?;
    let role = request.role.unwrap_or(Role::Agent);
    let phone = request.phone.unwrap_or(PhoneKind::Browser);
    let new = NewPerson {
        user: NewUser {
            tenant,
            name: &name,
            email: &email,
            extension: &extension,
            role,
            phone,
            token_hash: None,
        },
        admin: request.admin,
        crm_user_id: crm_user_id.as_ref(),
    };
    let entry = AuditEntry {
        action: AuditAction::PersonInvited,
        target: email.clone(),
        detail: invited_detail(&new),
    };
    let user = state
        .store
        .add_people(std::slice::from_ref(&new), &Actor::admin(&admin), &[entry])
        .await
        .map_err(taken)?
        .remove(0);
    tracing::info!(admin = %admin.id, user_id = %user.id, "person invited from the console");
    let warning = write_phone(&state, &user).await;
    let link = issue_link(&state, &user, LinkPurpose::Invite).await?;
    let person = state.store.person(tenant, &user.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(Invited {
            person: PersonView::from(&person),
            link,
            warning,
        }),
    ))
}

/// `PATCH /manager/admin/api/people/{id}`: what to change; absent fields
/// stay as they are. `crm_user_id: ""` clears it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub admin: Option<bool>,
    #[serde(default)]
    pub phone: Option<PhoneKind>,
    #[serde(default)]
    pub extension: Option<String>,
    #[serde(default)]
    pub crm_user_id: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

#[derive(Serialize)]
pub struct Changed {
    pub person: PersonView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

pub async fn change(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<PersonPatch>, JsonRejection>,
) -> Result<Json<Changed>, ApiError> {
    same_site(&headers)?;
    let Json(patch) = body.map_err(|e| {
        ApiError::malformed(format!(
            "campos aceitos: name, role, admin, phone, extension, crm_user_id, disabled ({})",
            e.body_text()
        ))
    })?;
    let tenant = admin.tenant.slug.as_str();
    let before = find(&state, tenant, &id).await?;
    if id == admin.id && (patch.disabled == Some(true) || patch.admin == Some(false)) {
        return Err(ApiError::own_access());
    }
    let change = effective(
        PersonChange {
            name: patch
                .name
                .as_deref()
                .map(person_name)
                .transpose()
                .map_err(ApiError::malformed)?,
            role: patch.role,
            admin: patch.admin,
            phone: patch.phone,
            extension: patch
                .extension
                .as_deref()
                .map(parse_extension)
                .transpose()?,
            crm_user_id: patch
                .crm_user_id
                .as_deref()
                .map(|c| parse_crm_user(Some(c)))
                .transpose()?,
            disabled: patch.disabled,
        },
        &before,
    );
    let Some(detail) = change_detail(&before, &change) else {
        return Ok(Json(Changed {
            person: PersonView::from(&before),
            warning: None,
        }));
    };
    let entry = AuditEntry {
        action: AuditAction::PersonChanged,
        target: before.user.email.clone(),
        detail,
    };
    let after = state
        .store
        .change_person(tenant, &id, &change, &Actor::admin(&admin), &entry)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::person_not_found(),
            e => taken(e),
        })?;
    state.revocations.forget_now();
    tracing::info!(admin = %admin.id, user_id = %id, "person changed from the console");
    // A salesperson's own caller ID is found by their extension.
    let dialing_warning = match change.extension {
        Some(_) => super::dialing::refresh(&state, &admin.tenant).await,
        None => None,
    };
    let phone_warning = match (state.phones.of(&after.user.tenant), moves_phone(&change)) {
        (Some(pbx), true) => phones::follow(
            &pbx.directory,
            &pbx.settings,
            &before.user.endpoint(),
            &after.user,
            after.disabled,
        )
        .await
        .err()
        .map(|e| {
            tracing::error!(user_id = %id, error = %e, "cannot update the phone");
            PHONE_NOT_WRITTEN.to_owned()
        }),
        (None, true) if after.user.phone == PhoneKind::Browser => {
            Some(NO_BROWSER_PHONES.to_owned())
        }
        _ => None,
    };
    Ok(Json(Changed {
        person: PersonView::from(&after),
        warning: phone_warning.or(dialing_warning),
    }))
}

const PHONE_NOT_WRITTEN: &str = "A mudança foi salva, mas o telefone não pôde ser atualizado agora (a central de telefonia não respondeu). Salve de novo em alguns minutos.";
const NO_BROWSER_PHONES: &str = "A mudança foi salva, mas este servidor não tem telefones de navegador configurados: o telefone funciona quando a TI configurar [phones].";

/// `POST /manager/admin/api/people/{id}/invitation`: a new invitation (the
/// old link stops working) for someone who has not set a password yet.
pub async fn send_invitation(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<LinkView>, ApiError> {
    same_site(&headers)?;
    let person = find(&state, admin.tenant.slug.as_str(), &id).await?;
    if person.password_set {
        return Err(ApiError::already_exists(
            "Esta pessoa já criou a senha dela. Para uma senha nova, use \"Redefinir senha\".",
        ));
    }
    send(&state, &admin, &person, LinkPurpose::Invite)
        .await
        .map(Json)
}

/// `POST /manager/admin/api/people/{id}/password-reset`: a reset link;
/// the new password signs them out of every computer.
pub async fn send_reset(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<LinkView>, ApiError> {
    same_site(&headers)?;
    let person = find(&state, admin.tenant.slug.as_str(), &id).await?;
    send(&state, &admin, &person, LinkPurpose::Reset)
        .await
        .map(Json)
}

#[derive(Serialize)]
pub struct SignedOut {
    /// Computers signed out.
    pub computers: u64,
}

/// `POST /manager/admin/api/people/{id}/sign-out`: signs them out of every
/// computer (the device tokens are revoked at once, on every backend).
pub async fn sign_out(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<SignedOut>, ApiError> {
    same_site(&headers)?;
    let tenant = admin.tenant.slug.as_str();
    let person = find(&state, tenant, &id).await?;
    let entry = AuditEntry {
        action: AuditAction::DevicesSignedOut,
        target: person.user.email.clone(),
        detail: format!("{} computador(es) desconectado(s)", person.devices),
    };
    let computers = state
        .store
        .sign_out_devices(tenant, &id, &Actor::admin(&admin), &entry)
        .await?;
    state.revocations.forget_now();
    Ok(Json(SignedOut { computers }))
}

/// `POST /manager/admin/api/people/{id}/desk-phone`: gives the person's desk
/// phone a new SIP password (the registration made with the old one drops
/// at once) and shows the credentials to type into the phone, this once.
/// The audit row is written before they are shown.
pub async fn desk_phone(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    same_site(&headers)?;
    let tenant = admin.tenant.slug.as_str();
    let person = find(&state, tenant, &id).await?;
    if person.user.phone != PhoneKind::Desk {
        return Err(ApiError::not_a_desk_phone());
    }
    if person.disabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            disca_protocol::ApiErrorCode::AccountDisabled,
            "Esta pessoa está desativada: reative-a antes de configurar o telefone dela.",
        ));
    }
    let Some(pbx) = state.phones.of(&person.user.tenant) else {
        return Err(ApiError::phones_not_configured());
    };
    let credentials = phones::desk_credentials(&pbx.directory, &pbx.settings, &person.user)
        .await
        .map_err(|e| {
            tracing::error!(user_id = %id, error = %e, "cannot write the desk phone");
            ApiError::pbx_unavailable()
        })?;
    let entry = AuditEntry {
        action: AuditAction::DeskPhoneCredentials,
        target: person.user.email.clone(),
        detail: format!(
            "Nova senha SIP do ramal {} gerada e mostrada ao administrador",
            person.user.extension.as_str()
        ),
    };
    state
        .store
        .record_audit(tenant, &Actor::admin(&admin), &entry)
        .await?;
    tracing::info!(admin = %admin.id, user_id = %id, "desk phone credentials issued");
    Ok(([(CACHE_CONTROL, "no-store")], Json(credentials)).into_response())
}

/// The tenant's person `id`, or "not found" (another tenant's included).
async fn find(state: &AppState, tenant: &str, id: &str) -> Result<Person, ApiError> {
    state.store.person(tenant, id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::person_not_found(),
        e => e.into(),
    })
}

async fn send(
    state: &AppState,
    admin: &User,
    person: &Person,
    purpose: LinkPurpose,
) -> Result<LinkView, ApiError> {
    let link = issue_link(state, &person.user, purpose).await?;
    let (action, what) = match purpose {
        LinkPurpose::Invite => (AuditAction::InvitationSent, "Convite"),
        LinkPurpose::Reset => (AuditAction::PasswordResetSent, "Link de nova senha"),
    };
    let how = if link.mailed {
        "enviado por e-mail"
    } else {
        "mostrado ao administrador para enviar"
    };
    let entry = AuditEntry {
        action,
        target: person.user.email.clone(),
        detail: format!("{what} {how}, válido até {}", link.valid_until),
    };
    state
        .store
        .record_audit(admin.tenant.slug.as_str(), &Actor::admin(admin), &entry)
        .await?;
    Ok(link)
}

/// Makes a link of `purpose` for `user`, e-mailed when SMTP is configured.
pub(super) async fn issue_link(
    state: &AppState,
    user: &User,
    purpose: LinkPurpose,
) -> Result<LinkView, ApiError> {
    let issued = links::issue(&state.accounts, &state.store, user, purpose).await?;
    let valid_until = sao_paulo::format(issued.expires_at, "%d/%m/%Y %H:%M");
    Ok(match issued.mailed {
        Ok(true) => LinkView {
            mailed: true,
            url: None,
            valid_until,
            problem: None,
        },
        Ok(false) => LinkView {
            mailed: false,
            url: Some(issued.url),
            valid_until,
            problem: None,
        },
        Err(e) => LinkView {
            mailed: false,
            url: Some(issued.url),
            valid_until,
            problem: Some(format!(
                "O e-mail não pôde ser enviado ({e}). Envie o link você mesmo."
            )),
        },
    })
}

/// Writes a new person's phone into the directory; a warning when it
/// could not be. Without a directory, a desk phone is the site files'
/// business.
pub(super) async fn write_phone(state: &AppState, user: &User) -> Option<String> {
    let Some(pbx) = state.phones.of(&user.tenant) else {
        return (user.phone == PhoneKind::Browser).then(|| NO_BROWSER_PHONES.to_owned());
    };
    match phones::ensure(&pbx.directory, &pbx.settings, user).await {
        Ok(_) => None,
        Err(e) => {
            tracing::error!(user_id = %user.id, error = %e, "cannot write the phone");
            Some(PHONE_NOT_WRITTEN.to_owned())
        }
    }
}

pub(super) fn parse_extension(value: &str) -> Result<Extension, ApiError> {
    value.trim().parse().map_err(|_| {
        ApiError::malformed("O ramal deve ter de 1 a 16 letras ou algarismos (por exemplo 1001); \"trunk\" é o nome da operadora.")
    })
}

pub(super) fn parse_crm_user(value: Option<&str>) -> Result<Option<CrmUserId>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => CrmUserId::parse(v).map(Some).map_err(|_| {
            ApiError::malformed(
                "O usuário do RD Station deve ter de 1 a 64 letras, algarismos, - ou _.",
            )
        }),
    }
}

impl ApiError {
    /// An e-mail that belongs to someone of another company on this server.
    pub fn email_in_other_company() -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            disca_protocol::ApiErrorCode::EmailTaken,
            "Este e-mail já é de uma pessoa de outra empresa neste servidor do Disca: use outro e-mail.",
        )
    }
}

/// A duplicate e-mail or extension, in words.
pub(super) fn taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::already_exists(
            "Já existe uma pessoa com este e-mail ou ramal na sua empresa.",
        ),
        e => e.into(),
    }
}

/// The audit detail of a new person.
pub fn invited_detail(new: &NewPerson<'_>) -> String {
    let mut detail = format!(
        "{} ({}); ramal {}; telefone: {}",
        new.user.name,
        view::role_label(new.user.role),
        new.user.extension.as_str(),
        view::phone_label(new.user.phone),
    );
    if new.admin {
        detail.push_str("; administrador");
    }
    if let Some(crm) = new.crm_user_id {
        detail.push_str(&format!("; usuário RD Station {}", crm.as_str()));
    }
    detail
}

/// `change` without what would leave `before` as it is.
pub fn effective(change: PersonChange, before: &Person) -> PersonChange {
    let user = &before.user;
    PersonChange {
        name: change.name.filter(|n| *n != user.name),
        role: change.role.filter(|r| *r != user.role),
        admin: change.admin.filter(|a| *a != user.admin),
        phone: change.phone.filter(|p| *p != user.phone),
        extension: change.extension.filter(|e| *e != user.extension),
        crm_user_id: change
            .crm_user_id
            .filter(|c| c.as_ref().map(CrmUserId::as_str) != before.crm_user_id.as_deref()),
        disabled: change.disabled.filter(|d| *d != before.disabled),
    }
}

/// Whether `change` concerns the person's phone on the PBX.
pub fn moves_phone(change: &PersonChange) -> bool {
    change.phone.is_some() || change.extension.is_some() || change.disabled.is_some()
}

/// What `change` does to `before`, in words; `None` when nothing changes.
pub fn change_detail(before: &Person, change: &PersonChange) -> Option<String> {
    let yes_no = |b: bool| if b { "sim" } else { "não" };
    let mut parts = Vec::new();
    if let Some(name) = &change.name {
        parts.push(format!("Nome: {} → {name}", before.user.name));
    }
    if let Some(role) = change.role {
        parts.push(format!(
            "Papel: {} → {}",
            view::role_label(before.user.role),
            view::role_label(role)
        ));
    }
    if let Some(admin) = change.admin {
        parts.push(format!(
            "Administrador: {} → {}",
            yes_no(before.user.admin),
            yes_no(admin)
        ));
    }
    if let Some(phone) = change.phone {
        parts.push(format!(
            "Telefone: {} → {}",
            view::phone_label(before.user.phone),
            view::phone_label(phone)
        ));
    }
    if let Some(extension) = &change.extension {
        parts.push(format!(
            "Ramal: {} → {}",
            before.user.extension.as_str(),
            extension.as_str()
        ));
    }
    if let Some(crm) = &change.crm_user_id {
        parts.push(format!(
            "Usuário RD Station: {} → {}",
            before.crm_user_id.as_deref().unwrap_or("nenhum"),
            crm.as_ref().map_or("nenhum", CrmUserId::as_str)
        ));
    }
    if let Some(disabled) = change.disabled {
        parts.push(if disabled { "Desativado" } else { "Reativado" }.to_owned());
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}
