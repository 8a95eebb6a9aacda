//! Databases for tests, each test its own: a SQLite file in the test's
//! folder, or, when [`TEST_POSTGRES`] names a PostgreSQL server, a new
//! database on it. `cargo xtask test` runs the storage and API tests once
//! each way (see the README); the in-crate tests and `disca-testkit` both
//! start here.

use std::path::{Path, PathBuf};

use sqlx::{Connection, Executor};

use super::{Store, StoreError};

/// The environment variable naming a PostgreSQL server for the tests: the
/// URL of a database there whose user may create databases
/// (`postgres://disca@127.0.0.1:5433/postgres`). Unset, tests use SQLite.
pub const TEST_POSTGRES: &str = "DISCA_TEST_POSTGRES";

/// A new, empty PostgreSQL database for one test, its URL, when
/// [`TEST_POSTGRES`] is set; `None` otherwise (the test uses SQLite).
pub async fn fresh_database() -> Result<Option<String>, StoreError> {
    let Ok(server) = std::env::var(TEST_POSTGRES) else {
        return Ok(None);
    };
    let mut url = reqwest::Url::parse(&server)
        .map_err(|e| StoreError::Unavailable(format!("{TEST_POSTGRES}: {e}")))?;
    let name = format!("disca_test_{}", hex::encode(rand::random::<[u8; 8]>()));
    let mut admin = sqlx::PgConnection::connect(&server).await?;
    // `name` is made of [a-z0-9_] above: nothing to quote.
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    admin.close().await?;
    url.set_path(&name);
    Ok(Some(url.into()))
}

/// A new database for one test, to open as often as the test likes.
pub struct TestDatabase {
    url: Option<String>,
    dir: PathBuf,
}

impl TestDatabase {
    /// On PostgreSQL per [`TEST_POSTGRES`], otherwise SQLite in `dir`.
    pub async fn new(dir: &Path) -> Result<TestDatabase, StoreError> {
        Ok(TestDatabase {
            url: fresh_database().await?,
            dir: dir.to_path_buf(),
        })
    }

    /// The PostgreSQL database's URL; `None` on SQLite.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// A store on it (migrated when first opened).
    pub async fn open(&self) -> Result<Store, StoreError> {
        match &self.url {
            Some(url) => Store::connect(url).await,
            None => Store::open(&self.dir).await,
        }
    }
}

/// A store on a new database for one test: PostgreSQL per
/// [`TEST_POSTGRES`], otherwise SQLite in `dir`.
pub async fn fresh_store(dir: &Path) -> Result<Store, StoreError> {
    TestDatabase::new(dir).await?.open().await
}
