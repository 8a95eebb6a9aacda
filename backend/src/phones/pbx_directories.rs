//! Each PBX's phone directory and what its phones are told: the default
//! PBX's directory is a SQLite file (`[phones] directory_db`) or a schema
//! in PostgreSQL (`[ami] directory_url`), another PBX's a schema in
//! PostgreSQL (`[pbxs.<name>] directory_url`). A PBX without one keeps its
//! phones in its site files.

use std::collections::BTreeMap;

use super::directory::{Directory, DirectoryError, PostgresDirectory};
use crate::configuration::{AmiSettings, PhoneSettings, Settings};
use crate::domain::PbxName;

/// The phones of one PBX: the directory it reads them from, and what they
/// are told (`[phones]` with the PBX's own addresses).
#[derive(Clone)]
pub struct PbxPhones {
    pub directory: Directory,
    pub settings: PhoneSettings,
}

/// The schema of `pbx`'s directory in PostgreSQL.
pub fn schema_of(pbx: &PbxName) -> String {
    // PBX names are [a-z0-9]: the schema needs no quoting.
    format!("disca_phones_{}", pbx.as_str())
}

/// Opens the directory of every PBX that has one.
pub async fn open_all(settings: &Settings) -> Result<BTreeMap<PbxName, PbxPhones>, DirectoryError> {
    let mut all = BTreeMap::new();
    for (pbx, ami) in settings.all_pbxs() {
        if let Some(phones) = open_one(settings, &pbx, ami).await? {
            all.insert(pbx, phones);
        }
    }
    Ok(all)
}

/// Opens the directory of `pbx`; `None` when it has none (or is not
/// configured here).
pub async fn open(settings: &Settings, pbx: &PbxName) -> Result<Option<PbxPhones>, DirectoryError> {
    match settings
        .all_pbxs()
        .into_iter()
        .find(|(name, _)| name == pbx)
    {
        Some((pbx, ami)) => open_one(settings, &pbx, ami).await,
        None => Ok(None),
    }
}

async fn open_one(
    settings: &Settings,
    pbx: &PbxName,
    ami: &AmiSettings,
) -> Result<Option<PbxPhones>, DirectoryError> {
    let directory = match (&ami.directory_url, &settings.phones.directory_db) {
        (Some(url), _) => {
            Directory::connect(&PostgresDirectory {
                url: url.clone(),
                schema: schema_of(pbx),
                pbx_role: ami.directory_pbx_role.clone(),
            })
            .await?
        }
        (None, Some(path)) if pbx.is_default() => Directory::open(path).await?,
        (None, _) => return Ok(None),
    };
    Ok(Some(PbxPhones {
        directory,
        settings: settings.phones_of(ami),
    }))
}
