//! Numbered migrations: a file written before they existed (made by `detente serve` and the
//! admin commands of that release, `testdata/sqlite-pre-migrations/`) is upgraded in place
//! and keeps every row; a new file starts at the latest version; a file newer than this build
//! is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use detente_store::{ObjectQuery, Store, Tlp, VersionMatch, Viewer};
use detente_store_sqlite::SqliteStore;
use rusqlite::Connection;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/sqlite-pre-migrations/detente.sqlite")
}

/// The number of migration files: the version a migrated file must be at.
fn latest() -> i64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let n = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".sql")
        })
        .count();
    i64::try_from(n).unwrap()
}

/// Every row of every table, as text, by table.
fn dump(conn: &Connection) -> BTreeMap<String, Vec<String>> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let mut st = conn
                .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY 1, 2"))
                .or_else(|_| conn.prepare(&format!("SELECT * FROM \"{t}\" ORDER BY 1")))
                .unwrap();
            let n = st.column_count();
            let rows = st
                .query_map([], |r| {
                    Ok((0..n)
                        .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (t, rows)
        })
        .collect()
}

fn version(conn: &Connection) -> i64 {
    conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap()
}

fn admin() -> Viewer {
    Viewer {
        member: 1,
        name: "admin".into(),
        clearance: Tlp::Red,
    }
}

#[test]
fn a_file_from_before_numbered_migrations_is_upgraded_in_place_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("detente.sqlite");
    std::fs::copy(fixture(), &path).unwrap();
    let before = {
        let conn = Connection::open(&path).unwrap();
        let before = dump(&conn);
        assert!(
            !before.contains_key("schema_version"),
            "the fixture predates numbered migrations"
        );
        assert!(!before["objects"].is_empty() && !before["log_leaves"].is_empty());
        before
    };
    let s = SqliteStore::open(&path).unwrap();
    let leaves = u64::try_from(before["log_leaves"].len()).unwrap();
    assert_eq!(s.log_size().unwrap(), leaves);
    let collections = s.collections().unwrap();
    assert_eq!(collections.len(), 1);
    let names: Vec<String> = s.members().unwrap().into_iter().map(|m| m.name).collect();
    assert!(names.contains(&"admin".to_owned()) && names.contains(&"alice".to_owned()));
    let page = s
        .query_objects(&ObjectQuery {
            collection: collections[0].id.clone(),
            viewer: admin(),
            ids: vec![],
            types: vec![],
            versions: VersionMatch {
                all: true,
                first: false,
                last: false,
                exact: vec![],
            },
            spec_versions: vec![],
            added_after: None,
            after: None,
            limit: 1000,
            max_bytes: usize::MAX,
            with_body: true,
        })
        .unwrap();
    assert_eq!(page.items.len(), before["objects"].len());
    drop(s);
    // Every row the file held is still there, unchanged; only the version table and the id
    // gate (migration 2, filled from the objects) are new.
    let conn = Connection::open(&path).unwrap();
    assert_eq!(version(&conn), latest());
    let after = dump(&conn);
    for (table, rows) in &before {
        assert_eq!(after.get(table), Some(rows), "table {table}");
    }
    assert!(
        after.get("id_gate").is_some_and(|rows| !rows.is_empty()),
        "the id gate is filled from the stored objects"
    );
    assert!(after.keys().all(|t| {
        before.contains_key(t)
            || [
                "schema_version",
                "id_gate",
                "id_red_contributors",
                "id_red_recipients",
            ]
            .contains(&t.as_str())
    }));
    drop(conn);
    // Opening again changes nothing, and the store goes on: a new collection, a new object.
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.log_size().unwrap(), leaves);
    let conn = Connection::open(&path).unwrap();
    assert_eq!(version(&conn), latest());
    assert_eq!(dump(&conn), after);
}

#[test]
fn a_new_file_starts_at_the_latest_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    drop(SqliteStore::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    assert_eq!(version(&conn), latest());
    assert_eq!(
        conn.query_row("SELECT count(*) FROM schema_version", [], |r| r
            .get::<_, i64>(0))
            .unwrap(),
        1
    );
}

#[test]
fn a_file_newer_than_this_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    drop(SqliteStore::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.execute("UPDATE schema_version SET version = version + 1", [])
        .unwrap();
    drop(conn);
    let e = match SqliteStore::open(&path) {
        Ok(_) => panic!("a file at a version this build does not know was opened"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("run a newer detente"), "{e}");
}
