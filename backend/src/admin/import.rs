//! Salespeople from a CSV file (`POST /manager/admin/api/people/import`,
//! the file as the body): every row is checked first, and either all are
//! added (one transaction, one audit row each) and invited, or none is and
//! the answer lists every line to fix.
//!
//! The first line names the columns, in any order and case: `nome` and
//! `email` are required; `ramal` (empty: the next free number from 1001),
//! `papel` (`vendedor`/`gestor`), `telefone` (`navegador`/`mesa`), `admin`
//! (`sim`/`não`) and `usuario_rd` are optional. Spreadsheets' `;` and `,`
//! separators are both read.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;

use super::Admin;
use super::people::{
    LinkView, invited_detail, issue_link, parse_crm_user, parse_extension, taken, write_phone,
};
use super::view::PersonView;
use crate::api::{ApiError, AppState};
use crate::domain::{CrmUserId, Extension, PhoneKind, Role, email_address, person_name};
use crate::manager::session::same_site;
use crate::storage::{
    Actor, AuditAction, AuditEntry, LinkPurpose, NewPerson, NewUser, Store, StoreError,
};

/// Largest file taken.
pub const MAX_FILE_BYTES: usize = 512 * 1024;
/// Most people in one file.
pub const MAX_ROWS: usize = 2000;
/// Lines with a problem listed in the answer (the rest are counted).
const MAX_PROBLEMS_LISTED: usize = 20;
/// The first extension handed out when none is given.
const FIRST_EXTENSION: u64 = 1001;
/// Extensions handed out stay below this (numbers typed beyond it, up to
/// the 16 characters an extension may have, are skipped, never followed).
const LAST_EXTENSION: u64 = 99_999_999;

/// Free numeric extensions of a tenant, handed out in order.
pub struct ExtensionPool {
    taken: HashSet<String>,
    next: u64,
}

impl ExtensionPool {
    pub async fn of_tenant(store: &Store, tenant: &str) -> Result<ExtensionPool, StoreError> {
        let people = store.people(tenant, None).await?;
        Ok(ExtensionPool::new(
            people.iter().map(|p| p.user.extension.as_str().to_owned()),
        ))
    }

    fn new(taken: impl IntoIterator<Item = String>) -> ExtensionPool {
        let taken: HashSet<String> = taken.into_iter().collect();
        let next = taken
            .iter()
            .filter_map(|e| e.parse::<u64>().ok())
            .filter(|n| *n < LAST_EXTENSION)
            .max()
            .map_or(FIRST_EXTENSION, |max| (max + 1).max(FIRST_EXTENSION));
        ExtensionPool { taken, next }
    }

    /// Marks `extension` as used.
    fn take(&mut self, extension: &str) -> bool {
        self.taken.insert(extension.to_owned())
    }

    /// The next free extension; `None` when none is left below
    /// [`LAST_EXTENSION`] (the admin types one).
    pub fn hand_out(&mut self) -> Option<Extension> {
        while self.next <= LAST_EXTENSION {
            let candidate = self.next.to_string();
            self.next += 1;
            if self.take(&candidate)
                && let Ok(extension) = candidate.parse()
            {
                return Some(extension);
            }
        }
        None
    }
}

/// One row, checked.
#[derive(Debug)]
struct Row {
    name: String,
    email: String,
    extension: Option<Extension>,
    role: Role,
    phone: PhoneKind,
    admin: bool,
    crm_user_id: Option<CrmUserId>,
}

/// The columns the file may have.
#[derive(Default)]
struct Columns {
    name: Option<usize>,
    email: Option<usize>,
    extension: Option<usize>,
    role: Option<usize>,
    phone: Option<usize>,
    admin: Option<usize>,
    crm: Option<usize>,
}

impl Columns {
    fn read(header: &csv::StringRecord) -> Result<Columns, String> {
        let mut columns = Columns::default();
        for (i, name) in header.iter().enumerate() {
            let name = name.trim().trim_start_matches('\u{feff}').to_lowercase();
            let slot = match name.as_str() {
                "nome" | "name" => &mut columns.name,
                "email" | "e-mail" => &mut columns.email,
                "ramal" | "extension" => &mut columns.extension,
                "papel" | "role" => &mut columns.role,
                "telefone" | "phone" => &mut columns.phone,
                "admin" | "administrador" => &mut columns.admin,
                "usuario_rd" | "usuário_rd" | "crm_user_id" => &mut columns.crm,
                "" => continue,
                other => {
                    return Err(format!(
                        "Linha 1: coluna desconhecida \"{other}\". Colunas aceitas: nome, email, ramal, papel, telefone, admin, usuario_rd."
                    ));
                }
            };
            *slot = Some(i);
        }
        if columns.name.is_none() || columns.email.is_none() {
            return Err(
                "Linha 1: o arquivo precisa das colunas \"nome\" e \"email\" na primeira linha."
                    .to_owned(),
            );
        }
        Ok(columns)
    }

    fn row(&self, record: &csv::StringRecord) -> Result<Row, String> {
        let cell = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("").trim();
        let role = match cell(self.role).to_lowercase().as_str() {
            "" | "vendedor" | "vendedora" | "agent" => Role::Agent,
            "gestor" | "gestora" | "manager" => Role::Manager,
            other => {
                return Err(format!(
                    "papel \"{other}\" desconhecido (use vendedor ou gestor)"
                ));
            }
        };
        let phone = match cell(self.phone).to_lowercase().as_str() {
            "" | "navegador" | "browser" => PhoneKind::Browser,
            "mesa" | "telefone de mesa" | "desk" => PhoneKind::Desk,
            other => {
                return Err(format!(
                    "telefone \"{other}\" desconhecido (use navegador ou mesa)"
                ));
            }
        };
        let admin = match cell(self.admin).to_lowercase().as_str() {
            "" | "não" | "nao" | "n" | "no" | "false" => false,
            "sim" | "s" | "yes" | "true" => true,
            other => return Err(format!("admin \"{other}\" não é sim nem não")),
        };
        let extension = match cell(self.extension) {
            "" => None,
            e => Some(parse_extension(e).map_err(|e| e.message().to_owned())?),
        };
        Ok(Row {
            name: person_name(cell(self.name)).map_err(|e| e.to_string())?,
            email: email_address(cell(self.email)).map_err(|e| e.to_string())?,
            extension,
            role,
            phone,
            admin,
            crm_user_id: parse_crm_user(Some(cell(self.crm)))
                .map_err(|e| e.message().to_owned())?,
        })
    }
}

/// Reads `text`: the rows, or every problem (with its line number).
fn read(text: &str) -> Result<Vec<(usize, Row)>, Vec<String>> {
    let first_line = text.lines().next().unwrap_or_default();
    let delimiter = if first_line.matches(';').count() > first_line.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let columns = match reader.headers() {
        Ok(header) => Columns::read(header).map_err(|e| vec![e])?,
        Err(e) => {
            return Err(vec![format!(
                "Linha 1: o arquivo não é um CSV legível ({e})."
            )]);
        }
    };
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut emails = HashSet::new();
    let mut extensions = HashSet::new();
    let mut lines = Lines::new(text);
    for (read, record) in reader.records().enumerate() {
        if read >= MAX_ROWS {
            problems.push(format!(
                "O arquivo tem mais de {MAX_ROWS} pessoas: divida-o em partes."
            ));
            break;
        }
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.at(p.byte()));
                problems.push(format!("Linha {line}: não pôde ser lida ({e})."));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| lines.at(p.byte()));
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        match columns.row(&record) {
            Ok(row) if !emails.insert(row.email.clone()) => {
                problems.push(format!(
                    "Linha {line}: o e-mail {} aparece mais de uma vez no arquivo.",
                    row.email
                ));
            }
            Ok(row)
                if row
                    .extension
                    .as_ref()
                    .is_some_and(|e| !extensions.insert(e.as_str().to_owned())) =>
            {
                problems.push(format!(
                    "Linha {line}: o ramal aparece mais de uma vez no arquivo."
                ));
            }
            Ok(row) => rows.push((line, row)),
            Err(problem) => problems.push(format!("Linha {line}: {problem}")),
        }
    }
    if rows.is_empty() && problems.is_empty() {
        problems.push(
            "O arquivo não tem nenhuma pessoa depois da linha dos nomes das colunas.".to_owned(),
        );
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// Line numbers (from 1) of records, asked in increasing offsets (as the
/// reader gives them): the CSV reader's own count skips blank lines, and
/// its offset is that of the blank lines before the record. Counted as it
/// goes, so a file is read once.
struct Lines<'a> {
    bytes: &'a [u8],
    counted_to: usize,
    newlines: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        Lines {
            bytes: text.as_bytes(),
            counted_to: 0,
            newlines: 0,
        }
    }

    fn at(&mut self, offset: u64) -> usize {
        let bytes = self.bytes;
        let mut offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        while offset < bytes.len() && matches!(bytes[offset], b'\r' | b'\n') {
            offset += 1;
        }
        if offset > self.counted_to {
            self.newlines += bytes[self.counted_to..offset]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.counted_to = offset;
        }
        1 + self.newlines
    }
}

/// What an import did.
#[derive(Serialize)]
pub struct Imported {
    pub imported: usize,
    pub people: Vec<ImportedPerson>,
}

#[derive(Serialize)]
pub struct ImportedPerson {
    pub person: PersonView,
    pub link: LinkView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

pub async fn import(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    body: String,
) -> Result<Json<Imported>, ApiError> {
    same_site(&headers)?;
    let tenant = admin.tenant.slug.as_str();
    let rows = tokio::task::spawn_blocking(move || read(&body))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(rejected)?;
    let existing = state.store.people(tenant, None).await?;
    let mut problems = Vec::new();
    for (line, row) in &rows {
        if existing.iter().any(|p| p.user.email == row.email) {
            problems.push(format!(
                "Linha {line}: {} já está na sua empresa.",
                row.email
            ));
        } else if state
            .store
            .email_in_other_tenant(tenant, &row.email)
            .await?
        {
            problems.push(format!(
                "Linha {line}: {} já é de uma pessoa de outra empresa neste servidor.",
                row.email
            ));
        }
        if let Some(e) = &row.extension
            && existing.iter().any(|p| p.user.extension == *e)
        {
            problems.push(format!(
                "Linha {line}: o ramal {} já é de outra pessoa.",
                e.as_str()
            ));
        }
    }
    if !problems.is_empty() {
        return Err(rejected(problems));
    }
    let mut pool = ExtensionPool::new(
        existing
            .iter()
            .map(|p| p.user.extension.as_str().to_owned())
            .chain(
                rows.iter()
                    .filter_map(|(_, r)| r.extension.as_ref().map(|e| e.as_str().to_owned())),
            ),
    );
    let extensions: Vec<Extension> = rows
        .iter()
        .map(|(_, r)| r.extension.clone().or_else(|| pool.hand_out()))
        .collect::<Option<_>>()
        .ok_or_else(no_free_extension)?;
    let new: Vec<NewPerson> = rows
        .iter()
        .zip(&extensions)
        .map(|((_, r), extension)| NewPerson {
            user: NewUser {
                tenant,
                name: &r.name,
                email: &r.email,
                extension,
                role: r.role,
                phone: r.phone,
                token_hash: None,
            },
            admin: r.admin,
            crm_user_id: r.crm_user_id.as_ref(),
        })
        .collect();
    let entries: Vec<AuditEntry> = new
        .iter()
        .map(|n| AuditEntry {
            action: AuditAction::PeopleImported,
            target: n.user.email.to_owned(),
            detail: invited_detail(n),
        })
        .collect();
    let users = state
        .store
        .add_people(&new, &Actor::admin(&admin), &entries)
        .await
        .map_err(taken)?;
    tracing::info!(admin = %admin.id, people = users.len(), "people imported from a CSV file");
    let mut people = Vec::with_capacity(users.len());
    for user in &users {
        let warning = write_phone(&state, user).await;
        let link = issue_link(&state, user, LinkPurpose::Invite).await?;
        let person = state.store.person(tenant, &user.id).await?;
        people.push(ImportedPerson {
            person: PersonView::from(&person),
            link,
            warning,
        });
    }
    Ok(Json(Imported {
        imported: people.len(),
        people,
    }))
}

pub(super) fn no_free_extension() -> ApiError {
    ApiError::malformed("Não há mais ramais livres para escolher sozinho: informe o ramal.")
}

fn rejected(problems: Vec<String>) -> ApiError {
    let mut message = format!(
        "Nenhuma pessoa foi importada: corrija {} e envie o arquivo de novo.\n",
        if problems.len() == 1 {
            "esta linha".to_owned()
        } else {
            format!("estas {} linhas", problems.len())
        }
    );
    for problem in problems.iter().take(MAX_PROBLEMS_LISTED) {
        message.push_str(problem);
        message.push('\n');
    }
    if problems.len() > MAX_PROBLEMS_LISTED {
        message.push_str(&format!(
            "… e mais {}.",
            problems.len() - MAX_PROBLEMS_LISTED
        ));
    }
    ApiError::import_rejected(message.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spreadsheet_file_is_read_with_either_separator() {
        let text = "\u{feff}Nome;E-mail;Ramal;Papel;Telefone;Admin\n\
                    Ana Souza;ana@acme.com.br;1001;vendedora;navegador;não\n\
                    \n\
                    Marta;MARTA@acme.com.br;;gestora;mesa;sim\n";
        let rows = read(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].0, 4);
        assert_eq!(rows[1].1.email, "marta@acme.com.br");
        assert_eq!(rows[1].1.role, Role::Manager);
        assert_eq!(rows[1].1.phone, PhoneKind::Desk);
        assert!(rows[1].1.admin);
        assert!(rows[1].1.extension.is_none());
        let rows = read("nome,email\nBruno,bruno@acme.com.br\n").unwrap();
        assert_eq!(rows[0].1.role, Role::Agent);
        assert_eq!(rows[0].1.phone, PhoneKind::Browser);
    }

    #[test]
    fn every_bad_line_is_reported() {
        let problems = read(
            "nome;email;papel\n\
             Ana;ana@acme.com.br;vendedor\n\
             ;sem-nome@acme.com.br;\n\
             Bruno;não-é-email;\n\
             Ana de novo;ana@acme.com.br;\n\
             Carla;carla@acme.com.br;chefe\n",
        )
        .unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("Linha 3: O nome"), "{problems:?}");
        assert!(problems[1].starts_with("Linha 4:"), "{problems:?}");
        assert!(problems[2].contains("mais de uma vez"), "{problems:?}");
        assert!(problems[3].contains("chefe"), "{problems:?}");
        assert!(read("email\nana@acme.com.br\n").is_err());
        assert!(read("nome;email;cargo\n").unwrap_err()[0].contains("cargo"));
        assert!(read("nome;email\n").unwrap_err()[0].contains("nenhuma pessoa"));
    }

    #[test]
    fn free_extensions_follow_the_highest() {
        let mut pool =
            ExtensionPool::new(["1001".to_owned(), "1003".to_owned(), "sala".to_owned()]);
        assert_eq!(pool.hand_out().unwrap().as_str(), "1004");
        assert_eq!(pool.hand_out().unwrap().as_str(), "1005");
        let mut empty = ExtensionPool::new(Vec::new());
        assert_eq!(empty.hand_out().unwrap().as_str(), "1001");
        let mut low = ExtensionPool::new(["7".to_owned()]);
        assert_eq!(low.hand_out().unwrap().as_str(), "1001");
        // A huge number typed by someone is skipped, not followed.
        let mut huge = ExtensionPool::new(["9999999999999999".to_owned(), "1001".to_owned()]);
        assert_eq!(huge.hand_out().unwrap().as_str(), "1002");
        let mut full = ExtensionPool::new([LAST_EXTENSION.to_string()]);
        full.next = LAST_EXTENSION;
        assert!(full.hand_out().is_none());
    }
}
