//! Where settings come from besides the TOML file, as figment providers
//! that remember the name each value was given under, so an error names
//! `DISCA_HTTP__MAX_CONNECTIONS` or `--max-connections`, not a key path.
//!
//! The environment: `DISCA_<KEY>` for a top-level key (`DISCA_DATA_DIR`),
//! `DISCA_<SECTION>__<KEY>` for a key in a section (`DISCA_AMI__ADDR`);
//! secrets also as `DISCA_<SECTION>__<KEY>_FILE`, naming a file that holds
//! the value (its trailing newline dropped). The flat names of earlier
//! versions (`DISCA_AMI_SECRET`, `DISCA_MAX_CONNECTIONS`...) still work.
//! Other `DISCA_` variables (`DISCA_CONFIG`, `DISCA_CRM_TOKEN`...) are not
//! settings and are left alone; a nested name that is no setting is an
//! error, so a typo does not go unnoticed. Empty variables count as unset.
//!
//! figment's own `Env` provider is not used: it reads `123456` as a number
//! and `true` as a boolean, so a numeric AMI secret would be refused (and
//! `0123` would lose its zero); here every value stays the text it was,
//! and only a number- or boolean-typed key parses it.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Serialize;

use super::{ConfigError, Settings};

const PREFIX: &str = "DISCA_";

/// Keys whose value may come from a file (`DISCA_AMI__SECRET_FILE`).
const SECRET_KEYS: &[&str] = &["ami.secret", "mail.password"];

/// Variable names of earlier versions, and the key each sets.
const FLAT_NAMES: &[(&str, &str)] = &[
    ("DISCA_AMI_ADDR", "ami.addr"),
    ("DISCA_AMI_USERNAME", "ami.username"),
    ("DISCA_AMI_SECRET", "ami.secret"),
    (
        "DISCA_AGENT_RING_TIMEOUT_SECS",
        "calls.agent_ring_timeout_secs",
    ),
    ("DISCA_AGENT_CHANNEL", "calls.agent_channel"),
    ("DISCA_PUBLIC_URL", "crm.public_url"),
    ("DISCA_RECORDINGS_DIR", "crm.recordings_dir"),
    ("DISCA_CRM_SECRETS_KEY", "crm.secrets_key_file"),
    ("DISCA_MAX_CONNECTIONS", "http.max_connections"),
    (
        "DISCA_HEADER_READ_TIMEOUT_MS",
        "http.header_read_timeout_ms",
    ),
    ("DISCA_WRITE_TIMEOUT_MS", "http.write_timeout_ms"),
    ("DISCA_SSE_STREAMS_PER_USER", "http.sse_streams_per_user"),
    (
        "DISCA_SSE_STREAMS_PER_TENANT",
        "http.sse_streams_per_tenant",
    ),
];

/// Values for some keys, from one source.
pub(super) struct Layer {
    /// The kind of source, as messages say it: "environment variable".
    kind: &'static str,
    /// The file they were read from.
    file: Option<PathBuf>,
    values: Dict,
    /// Each key path (`ami.addr`) and the name it was given under.
    names: Arc<BTreeMap<String, String>>,
}

impl Layer {
    /// The built-in defaults.
    pub(super) fn defaults(settings: &Settings) -> Result<Layer, ConfigError> {
        let values = Value::serialize(settings)
            .map_err(|e| ConfigError::Layered(Box::new(e)))?
            .into_dict()
            .unwrap_or_default();
        Ok(Layer {
            kind: "built-in default",
            file: None,
            values,
            names: Arc::default(),
        })
    }

    /// The TOML configuration file at `path`.
    pub(super) fn file(path: &Path) -> Result<Layer, ConfigError> {
        let error = |problem: String| ConfigError::File {
            path: path.to_owned(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let values: Dict = toml::from_str(&text).map_err(|e| error(e.to_string()))?;
        Ok(Layer {
            kind: "configuration file",
            file: Some(path.to_owned()),
            values,
            names: Arc::default(),
        })
    }

    /// The `DISCA_*` settings among `variables`; `defaults` tells which
    /// keys exist.
    pub(super) fn environment(
        variables: impl IntoIterator<Item = (OsString, OsString)>,
        defaults: &Layer,
    ) -> Result<Layer, ConfigError> {
        let known = leaf_keys(&defaults.values);
        let mut layer = Layer {
            kind: "environment variable",
            file: None,
            values: Dict::new(),
            names: Arc::default(),
        };
        let mut names = BTreeMap::new();
        for (variable, value) in variables {
            let Some(variable) = variable.to_str() else {
                continue;
            };
            let Some((key, from_file)) = setting_of(variable, &known)? else {
                continue;
            };
            let error = |problem: String| ConfigError::Environment {
                variable: variable.to_owned(),
                problem,
            };
            let value = value
                .into_string()
                .map_err(|_| error("is not valid UTF-8".into()))?;
            if value.is_empty() {
                continue;
            }
            let value = if from_file {
                std::fs::read_to_string(&value)
                    .map_err(|e| error(format!("cannot read {value}: {e}")))?
                    .trim_end_matches(['\n', '\r'])
                    .to_owned()
            } else {
                value
            };
            if let Some(other) = names.insert(key.clone(), variable.to_owned()) {
                return Err(error(format!(
                    "sets {key}, as {other} does: keep only one of them"
                )));
            }
            insert(&mut layer.values, &key, Value::from(value));
        }
        layer.names = Arc::new(names);
        Ok(layer)
    }
}

/// The key `variable` sets, and whether it names a file holding the value;
/// `None` for a variable that is no setting.
fn setting_of(
    variable: &str,
    known: &BTreeSet<String>,
) -> Result<Option<(String, bool)>, ConfigError> {
    if let Some((_, key)) = FLAT_NAMES.iter().find(|(name, _)| *name == variable) {
        return Ok(Some(((*key).to_owned(), false)));
    }
    let Some(rest) = variable.strip_prefix(PREFIX) else {
        return Ok(None);
    };
    let key_of = |name: &str| name.to_ascii_lowercase().replace("__", ".");
    if let Some(secret) = rest.strip_suffix("_FILE").map(key_of)
        && SECRET_KEYS.contains(&secret.as_str())
    {
        return Ok(Some((secret, true)));
    }
    if let Some(secret) = rest.strip_suffix("_FILE").map(key_of)
        && other_pbx_key(&secret, known).is_some_and(|field| field == "secret")
    {
        return Ok(Some((secret, true)));
    }
    let key = key_of(rest);
    if known.contains(&key) || other_pbx_key(&key, known).is_some() {
        Ok(Some((key, false)))
    } else if rest.contains("__") {
        Err(ConfigError::Environment {
            variable: variable.to_owned(),
            problem: format!(
                "{key} is not a setting (sections and keys: {})",
                known.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        })
    } else {
        Ok(None)
    }
}

/// For `pbxs.<name>.<field>` (a PBX besides the default one, whose names
/// the defaults cannot know), `<field>` when `[ami]` has it.
fn other_pbx_key<'k>(key: &'k str, known: &BTreeSet<String>) -> Option<&'k str> {
    let (name, field) = key.strip_prefix("pbxs.")?.split_once('.')?;
    (!name.is_empty() && known.contains(&format!("ami.{field}"))).then_some(field)
}

/// The dotted paths of every value (not section) in `dict`.
fn leaf_keys(dict: &Dict) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for (name, value) in dict {
        match value.as_dict() {
            Some(section) => keys.extend(
                leaf_keys(section)
                    .into_iter()
                    .map(|k| format!("{name}.{k}")),
            ),
            None => {
                keys.insert(name.clone());
            }
        }
    }
    keys
}

/// Puts `value` at the dotted `key` of `dict`, making sections on the way.
fn insert(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((section, rest)) => {
            let entry = dict
                .entry(section.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        let names = Arc::clone(&self.names);
        let metadata =
            Metadata::named(self.kind).interpolater(move |_: &Profile, keys: &[&str]| {
                let key = keys.join(".");
                names.get(&key).cloned().unwrap_or(key)
            });
        match &self.file {
            Some(path) => metadata.source(path.as_path()),
            None => metadata,
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

/// Settings given as command-line flags, the last layer.
#[derive(Default)]
pub struct Flags {
    values: Vec<(&'static str, &'static str, Result<Value, figment::Error>)>,
}

impl Flags {
    /// Sets `key` (`ami.addr`) from `flag` (`--ami-addr`), when given.
    pub fn set<T: Serialize>(
        mut self,
        key: &'static str,
        flag: &'static str,
        value: Option<T>,
    ) -> Flags {
        if let Some(value) = value {
            self.values.push((key, flag, Value::serialize(value)));
        }
        self
    }

    /// These flags and `other`'s.
    pub fn merged(mut self, other: Flags) -> Flags {
        self.values.extend(other.values);
        self
    }

    pub(super) fn into_layer(self) -> Result<Layer, ConfigError> {
        let mut values = Dict::new();
        let mut names = BTreeMap::new();
        for (key, flag, value) in self.values {
            let value = value.map_err(|e| ConfigError::Flag {
                flag,
                problem: e.to_string(),
            })?;
            insert(&mut values, key, value);
            names.insert(key.to_owned(), flag.to_owned());
        }
        Ok(Layer {
            kind: "command-line flag",
            file: None,
            values,
            names: Arc::new(names),
        })
    }
}

/// Where the value of `key` came from, for a message: `DISCA_AMI__ADDR
/// (environment variable)`, `crm.public_url in /etc/disca.toml
/// (configuration file)`.
pub(super) fn origin(figment: &Figment, key: &str) -> String {
    let Some(metadata) = figment.find_metadata(key) else {
        return "unknown source".into();
    };
    let parts: Vec<&str> = key.split('.').collect();
    let name = metadata.interpolate(&Profile::Default, &parts);
    match &metadata.source {
        Some(source) => format!("{name} in {source} ({})", metadata.name),
        None => format!("{name} ({})", metadata.name),
    }
}
