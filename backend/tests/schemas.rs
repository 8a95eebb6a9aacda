//! The SQLite and PostgreSQL migrations make the same schema: the same
//! tables, columns (of the same kind, nullable alike), primary keys,
//! unique keys and named indexes. Runs when `DISCA_TEST_POSTGRES` names a
//! server (`cargo xtask test` does, in its PostgreSQL pass).

use std::collections::BTreeSet;

use disca_backend::storage::testing;
use sqlx::{AnyPool, Row};

/// A column: table, name, kind (`integer`, `text` or `bytes`), whether it
/// may be NULL, whether it is part of the primary key.
type Column = (String, String, &'static str, bool, bool);

/// Tables and their columns, unique keys (table and sorted columns, the
/// primary key included) and the indexes made by name.
#[derive(Debug, PartialEq)]
struct Schema {
    columns: BTreeSet<Column>,
    unique: BTreeSet<(String, Vec<String>)>,
    indexes: BTreeSet<String>,
}

fn kind(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        // Flags are BOOLEAN on PostgreSQL, 0/1 on SQLite.
        "integer" | "bigint" | "boolean" => "integer",
        "text" => "text",
        "blob" | "bytea" => "bytes",
        other => panic!("a column of an unexpected type: {other}"),
    }
}

async fn sqlite_schema(pool: &AnyPool) -> Schema {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut schema = Schema {
        columns: BTreeSet::new(),
        unique: BTreeSet::new(),
        indexes: BTreeSet::new(),
    };
    for table in tables {
        let mut key = Vec::new();
        for c in sqlx::query("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1)")
            .bind(&table)
            .fetch_all(pool)
            .await
            .unwrap()
        {
            let name: String = c.get("name");
            let pk = c.get::<i64, _>("pk") > 0;
            if pk {
                key.push(name.clone());
            }
            let nullable = c.get::<i64, _>("notnull") == 0 && !pk;
            let declared: String = c.get("type");
            schema
                .columns
                .insert((table.clone(), name, kind(&declared), nullable, pk));
        }
        key.sort();
        schema.unique.insert((table.clone(), key));
        for i in sqlx::query("SELECT name, \"unique\", origin FROM pragma_index_list($1)")
            .bind(&table)
            .fetch_all(pool)
            .await
            .unwrap()
        {
            let name: String = i.get("name");
            if i.get::<String, _>("origin") == "c" {
                schema.indexes.insert(name.clone());
            }
            if i.get::<i64, _>("unique") == 1 && i.get::<String, _>("origin") != "c" {
                let mut columns: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_index_info($1)")
                        .bind(&name)
                        .fetch_all(pool)
                        .await
                        .unwrap();
                columns.sort();
                schema.unique.insert((table.clone(), columns));
            }
        }
    }
    schema
}

async fn postgres_schema(pool: &AnyPool) -> Schema {
    let mut schema = Schema {
        columns: BTreeSet::new(),
        unique: BTreeSet::new(),
        indexes: BTreeSet::new(),
    };
    // The primary keys' columns.
    let keys: Vec<(String, String)> = sqlx::query(
        "SELECT c.relname::text AS tbl, a.attname::text AS col \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) \
         WHERE n.nspname = 'public' AND c.relname <> '_sqlx_migrations' AND i.indisprimary",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("tbl"), r.get("col")))
    .collect();
    for c in sqlx::query(
        "SELECT table_name::text AS tbl, column_name::text AS col, data_type::text AS ty, \
         is_nullable::text AS nullable FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    {
        let (table, name): (String, String) = (c.get("tbl"), c.get("col"));
        let pk = keys.iter().any(|(t, k)| *t == table && *k == name);
        let declared: String = c.get("ty");
        let nullable = c.get::<String, _>("nullable") == "YES";
        schema
            .columns
            .insert((table, name, kind(&declared), nullable, pk));
    }
    // Unique keys: the primary key and UNIQUE constraints, by index.
    for r in sqlx::query(
        "SELECT c.relname::text AS tbl, \
         array_to_string(ARRAY(SELECT a.attname::text FROM pg_attribute a \
           WHERE a.attrelid = c.oid AND a.attnum = ANY(i.indkey) ORDER BY a.attname), ',') AS cols \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relname <> '_sqlx_migrations' AND (i.indisprimary OR \
           EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid))",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    {
        let columns: String = r.get("cols");
        schema.unique.insert((
            r.get("tbl"),
            columns.split(',').map(str::to_owned).collect(),
        ));
    }
    // Indexes made by CREATE INDEX: those behind no constraint.
    for name in sqlx::query_scalar::<_, String>(
        "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND NOT i.indisprimary \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    {
        schema.indexes.insert(name);
    }
    schema
}

#[tokio::test]
async fn sqlite_and_postgresql_migrations_make_the_same_schema() {
    let Some(url) = testing::fresh_database().await.unwrap() else {
        eprintln!("DISCA_TEST_POSTGRES is not set: nothing to compare");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Opening migrates.
    drop(
        disca_backend::storage::Store::open(dir.path())
            .await
            .unwrap(),
    );
    drop(disca_backend::storage::Store::connect(&url).await.unwrap());
    sqlx::any::install_default_drivers();
    let sqlite = AnyPool::connect(&format!(
        "sqlite://{}",
        dir.path().join("disca.sqlite3").display()
    ))
    .await
    .unwrap();
    let postgres = AnyPool::connect(&url).await.unwrap();
    let (lite, pg) = (
        sqlite_schema(&sqlite).await,
        postgres_schema(&postgres).await,
    );
    assert!(lite.columns.len() > 150, "{lite:?}");
    assert!(
        lite.unique.len() > 20 && lite.indexes.len() > 10,
        "{lite:?}"
    );
    let only = |a: &BTreeSet<Column>, b: &BTreeSet<Column>| -> Vec<Column> {
        a.difference(b).cloned().collect()
    };
    assert_eq!(
        (
            only(&lite.columns, &pg.columns),
            only(&pg.columns, &lite.columns)
        ),
        (vec![], vec![]),
        "columns only on SQLite, only on PostgreSQL"
    );
    assert_eq!(lite.unique, pg.unique, "unique keys");
    assert_eq!(lite.indexes, pg.indexes, "indexes");
}
