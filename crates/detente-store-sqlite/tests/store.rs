//! The SQLite backend against the store contract, plus what is specific to it: reopening a
//! file and the query plans.

use std::sync::atomic::{AtomicUsize, Ordering};

use detente_store::conformance::{self, COLL};
use detente_store::{
    DeleteScope, IngestBatch, IngestOutcome, NewObject, Store, Tlp, VersionMatch, Viewer,
};
use detente_store_sqlite::SqliteStore;

#[test]
fn conforms_to_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    conformance::run_all(|| {
        let i = n.fetch_add(1, Ordering::Relaxed);
        SqliteStore::open(&dir.path().join(format!("db{i}.sqlite"))).unwrap()
    });
}

#[test]
fn two_handles_on_one_file_conform() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    conformance::run_shared(|| {
        let path = dir.path().join(format!(
            "shared{}.sqlite",
            n.fetch_add(1, Ordering::Relaxed)
        ));
        (
            SqliteStore::open(&path).unwrap(),
            SqliteStore::open(&path).unwrap(),
        )
    });
}

fn setup(dir: &tempfile::TempDir) -> SqliteStore {
    conformance::setup(SqliteStore::open(&dir.path().join("db.sqlite")).unwrap())
}

fn ingest_one(s: &SqliteStore, id: &str, status: &str) -> i64 {
    let r = s
        .ingest(IngestBatch {
            collection: COLL.into(),
            contributor: 1,
            status_id: status.into(),
            request_timestamp: 0,
            objects: vec![NewObject {
                id: id.into(),
                object_type: "tool".into(),
                spec_version: "2.1".into(),
                version: Some("v".into()),
                version_micros: Some(1),
                tlp: Tlp::Clear,
                recipients: vec![],
                body: "{}".into(),
            }],
            failures: vec![],
        })
        .unwrap();
    match r.outcomes[0] {
        IngestOutcome::Stored { date_added } => date_added,
        ref o => panic!("{o:?}"),
    }
}

/// Two processes on one file (a running node and an admin command or a sync): each handle's
/// date_added continues after the last one stored by any handle, so paging with
/// `added_after` never skips a row, even when the wall clock steps back between them.
#[test]
fn two_handles_on_one_file_interleave_date_added() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let a = setup(&dir);
    let b = SqliteStore::open(&path).unwrap();
    let first = ingest_one(&a, "tool--a", "a");
    // What a's write leaves behind if the clock then steps back an hour: a last date_added
    // an hour ahead of every later reading of the clock.
    let ahead = first + 3_600_000_000;
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'last_date_added'",
        [ahead],
    )
    .unwrap();
    drop(conn);
    let next = ingest_one(&b, "tool--b", "b");
    assert!(next > ahead, "b allocated {next}, not after {ahead}");
    assert!(ingest_one(&a, "tool--c", "c") > next);
}

#[test]
fn reopening_loses_nothing_and_date_added_keeps_increasing() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(&dir);
    let first = ingest_one(&s, "tool--a", "s1");
    drop(s);
    let s = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
    assert!(s.status("s1").unwrap().is_some());
    let second = ingest_one(&s, "tool--b", "s2");
    assert!(second > first);
    let page = s
        .query_objects(&detente_store::ObjectQuery {
            collection: COLL.into(),
            viewer: Viewer {
                member: 1,
                name: "x".into(),
                clearance: Tlp::Clear,
            },
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
            limit: 10,
            max_bytes: usize::MAX,
            with_body: false,
        })
        .unwrap();
    assert_eq!(
        page.items.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        ["tool--a", "tool--b"]
    );
}

#[test]
fn ingest_and_delete_append_log_leaves_in_the_same_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(&dir);
    assert_eq!(s.log_size().unwrap(), 0);
    let a = ingest_one(&s, "tool--a", "s1");
    // A duplicate stores nothing, so it logs nothing.
    s.ingest(IngestBatch {
        collection: COLL.into(),
        contributor: 1,
        status_id: "s1b".into(),
        request_timestamp: 0,
        objects: vec![NewObject {
            id: "tool--a".into(),
            object_type: "tool".into(),
            spec_version: "2.1".into(),
            version: Some("v".into()),
            version_micros: Some(1),
            tlp: Tlp::Clear,
            recipients: vec![],
            body: "{}".into(),
        }],
        failures: vec![],
    })
    .unwrap();
    ingest_one(&s, "tool--b", "s2");
    assert_eq!(s.log_size().unwrap(), 2);
    let entry = s.log_object_entry(a).unwrap().unwrap();
    assert_eq!(entry.index, 0);
    assert_eq!(entry.contributor, "1");
    let nonce: [u8; 32] = entry.nonce.try_into().unwrap();
    let expected = detente_logentry::object_leaf(
        &detente_logentry::ObjectVersion {
            collection: COLL,
            object_id: "tool--a",
            version: "v",
            member: "1",
            object: &serde_json::json!({}),
        },
        &nonce,
    )
    .unwrap();
    let leaves = s.log_leaves(0, 10).unwrap();
    assert_eq!(leaves[0], expected.to_bytes());
    assert_eq!(entry.leaf, leaves[0]);
    let viewer = Viewer {
        member: 1,
        name: "deleter".into(),
        clearance: Tlp::Clear,
    };
    let all = VersionMatch {
        all: true,
        first: false,
        last: false,
        exact: vec![],
    };
    let gone = s
        .delete_object(
            COLL,
            "tool--a",
            &all,
            &[],
            &DeleteScope::Own(viewer.clone()),
        )
        .unwrap();
    assert_eq!(gone.len(), 1);
    let leaves = s.log_leaves(0, 10).unwrap();
    assert_eq!(leaves.len(), 3);
    let t = detente_logentry::Leaf::parse(&leaves[2]).unwrap();
    assert_eq!(t.kind, detente_logentry::Kind::Tombstone);
    // The tombstone is visible to whoever could see the deleted version, and recomputes.
    let tombs = s.log_tombstones(COLL, "tool--a", &viewer).unwrap();
    assert_eq!(tombs.len(), 1);
    let tomb = &tombs[0];
    assert_eq!((tomb.index, tomb.deleted_index), (2, 0));
    assert_eq!(tomb.leaf, leaves[2]);
    let again = detente_logentry::tombstone_leaf(
        &detente_logentry::Tombstone {
            collection: COLL,
            object_id: "tool--a",
            version: &tomb.version,
            member: &tomb.member,
            time: &tomb.time,
            deleted_index: tomb.deleted_index,
        },
        &tomb.nonce.clone().try_into().unwrap(),
    );
    assert_eq!(again.to_bytes().to_vec(), leaves[2]);
    assert!(s.log_object_entry(a).unwrap().is_none());
    drop(s);
    let s = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
    assert_eq!(s.log_size().unwrap(), 3);
}

/// Envelopes posted at once are committed in groups (one transaction, one WAL sync), yet each
/// stays all or nothing on its own: an envelope that fails after storing part of itself (here
/// a trigger refuses its second object) leaves no row, leaf or status behind, and the
/// envelopes committed with it keep theirs. Stored versions' `date_added` order is log order.
#[test]
fn concurrent_envelopes_commit_together_and_each_stays_all_or_nothing() {
    const THREADS: usize = 8;
    const EACH: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let s = setup(&dir);
    let raw = rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap();
    raw.execute_batch(
        "CREATE TRIGGER poison BEFORE INSERT ON objects WHEN NEW.object_id LIKE 'tool--poison%'
         BEGIN SELECT RAISE(ABORT, 'poisoned object'); END;",
    )
    .unwrap();
    let object = |id: String| NewObject {
        id,
        object_type: "tool".into(),
        spec_version: "2.1".into(),
        version: Some("v".into()),
        version_micros: Some(1),
        tlp: Tlp::Clear,
        recipients: vec![],
        body: "{}".into(),
    };
    let results: Vec<(
        String,
        bool,
        detente_store::Result<detente_store::IngestReport>,
    )> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let s = &s;
                scope.spawn(move || {
                    (0..EACH)
                        .map(|e| {
                            let poisoned = e % 4 == 3;
                            let mut objects = vec![object(format!("tool--t{t}-e{e}-a"))];
                            objects.push(object(if poisoned {
                                format!("tool--poison-t{t}-e{e}")
                            } else {
                                format!("tool--t{t}-e{e}-b")
                            }));
                            let status = format!("status-{t}-{e}");
                            let r = s.ingest(IngestBatch {
                                collection: COLL.into(),
                                contributor: 1,
                                status_id: status.clone(),
                                request_timestamp: 0,
                                objects,
                                failures: vec![],
                            });
                            (status, poisoned, r)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut stored = Vec::new();
    for (status, poisoned, r) in &results {
        if *poisoned {
            let e = r.as_ref().unwrap_err();
            assert!(e.to_string().contains("poisoned object"), "{e}");
            assert!(s.status(status).unwrap().is_none(), "{status}");
        } else {
            let report = r.as_ref().unwrap();
            assert_eq!(report.status.id, *status);
            assert_eq!(s.status(status).unwrap().unwrap().successes.len(), 2);
            for o in &report.outcomes {
                match o {
                    IngestOutcome::Stored { date_added } => stored.push(*date_added),
                    o => panic!("{o:?}"),
                }
            }
        }
    }
    let good = results.iter().filter(|(_, poisoned, _)| !poisoned).count();
    assert_eq!(good, THREADS * (EACH - EACH / 4));
    assert_eq!(stored.len(), 2 * good);
    let count = |sql: &str| raw.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    // The poisoned envelopes' first objects were inserted, then rolled back with them.
    assert_eq!(count("SELECT count(*) FROM objects"), 2 * good as i64);
    assert_eq!(count("SELECT count(*) FROM statuses"), good as i64);
    assert_eq!(s.log_size().unwrap(), 2 * good as u64);
    // date_added order is log order, the leaves exactly the stored versions'.
    stored.sort_unstable();
    let indices: Vec<u64> = stored
        .iter()
        .map(|d| s.log_object_entry(*d).unwrap().unwrap().index)
        .collect();
    assert_eq!(indices, (0..2 * good as u64).collect::<Vec<_>>());
}

#[test]
fn every_query_uses_an_index() {
    let dir = tempfile::tempdir().unwrap();
    drop(setup(&dir));
    let c = rusqlite_conn(&dir);
    for sql in [
        "SELECT * FROM objects o INDEXED BY objects_all WHERE o.coll = 1 AND o.date_added > 0 ORDER BY o.date_added LIMIT 10",
        "SELECT * FROM objects o INDEXED BY objects_type WHERE o.coll = 1 AND o.object_type IN ('a','b') AND o.date_added > 0 ORDER BY o.date_added LIMIT 10",
        "SELECT * FROM objects o INDEXED BY objects_version WHERE o.coll = 1 AND o.object_id IN ('a') AND o.date_added > 0 ORDER BY o.date_added LIMIT 10",
    ] {
        let plan = c.plan(sql);
        assert!(
            plan.contains("USING INDEX") || plan.contains("USING COVERING INDEX"),
            "{sql}: {plan}"
        );
        assert!(
            !plan.contains("SCAN o\n") && !plan.ends_with("SCAN o"),
            "{sql}: {plan}"
        );
    }
}

struct Plan(rusqlite::Connection);

impl Plan {
    fn plan(&self, sql: &str) -> String {
        let mut st = self
            .0
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = st.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("\n")
    }
}

fn rusqlite_conn(dir: &tempfile::TempDir) -> Plan {
    Plan(rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap())
}

#[test]
fn a_data_directory_from_before_witnessing_opens_and_gains_the_witness_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let s = setup(&dir);
    ingest_one(&s, "tool--a", "s1");
    drop(s);
    // What a node from before witnessing left: the same file without the witness tables (nor
    // the schema version, which came later).
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE witness_trusted; DROP TABLE witness_state; DROP TABLE witness_evidence;
         DROP TABLE log_witnesses; DROP TABLE schema_version;",
    )
    .unwrap();
    drop(conn);
    let s = SqliteStore::open(&path).unwrap();
    assert!(s.status("s1").unwrap().is_some());
    assert_eq!(s.log_size().unwrap(), 1);
    assert!(s.witness_trust("log.example", "k").unwrap());
    let state = detente_store::WitnessState {
        origin: "log.example".into(),
        size: 1,
        root: vec![1; 32],
        note: b"n".to_vec(),
        updated: 1,
    };
    assert!(s.witness_advance(None, &state).unwrap());
    drop(s);
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.witness_state("log.example").unwrap(), Some(state));
}

/// A store written before per-contributor copies (one copy per value-identified id under a
/// fixed version key) opens with that copy kept as its contributor's.
#[test]
fn old_single_copies_become_their_contributors_copies() {
    let dir = tempfile::tempdir().unwrap();
    drop(setup(&dir));
    let c = rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap();
    c.execute(
        "INSERT INTO objects (date_added, coll, object_id, object_type, spec_version, version,
         version_us, is_first, is_last, tlp, contributor, body)
         VALUES (5, 1, 'domain-name--d', 'domain-name', '2.1', NULL, ?1, 1, 1, 0, 1, '{}')",
        [i64::MIN],
    )
    .unwrap();
    // A file written before the migration existed does not say it ran, and has no schema
    // version.
    c.execute_batch(
        "DELETE FROM meta WHERE key = 'unversioned_migrated'; DROP TABLE schema_version;",
    )
    .unwrap();
    drop(c);
    let s = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
    let copy = |contributor| IngestBatch {
        collection: COLL.into(),
        contributor,
        status_id: format!("s{contributor}"),
        request_timestamp: 0,
        objects: vec![NewObject {
            id: "domain-name--d".into(),
            object_type: "domain-name".into(),
            spec_version: "2.1".into(),
            version: None,
            version_micros: None,
            tlp: Tlp::Clear,
            recipients: vec![],
            body: "{}".into(),
        }],
        failures: vec![],
    };
    assert_eq!(
        s.ingest(copy(1)).unwrap().outcomes,
        vec![IngestOutcome::Duplicate { date_added: 5 }]
    );
    assert!(matches!(
        s.ingest(copy(2)).unwrap().outcomes[0],
        IngestOutcome::Stored { .. }
    ));
    let exact = VersionMatch {
        all: false,
        first: false,
        last: false,
        exact: vec![5],
    };
    let mut q = detente_store::ObjectQuery {
        collection: COLL.into(),
        viewer: Viewer {
            member: 3,
            name: "r".into(),
            clearance: Tlp::Clear,
        },
        ids: vec!["domain-name--d".into()],
        types: vec![],
        versions: exact,
        spec_versions: vec![],
        added_after: None,
        after: None,
        limit: 10,
        with_body: false,
        max_bytes: usize::MAX,
    };
    assert_eq!(s.query_objects(&q).unwrap().items.len(), 1);
    q.versions.all = true;
    assert_eq!(s.query_objects(&q).unwrap().items.len(), 2);
}

/// The id gate's rows as they are, and as the stored versions give them (its backfill):
/// (lowest level per id, RED contributors, RED recipients), each sorted.
type GateRows = (
    Vec<(i64, String, i64)>,
    Vec<(i64, String, i64)>,
    Vec<(i64, String, String)>,
);

fn gate_rows(c: &rusqlite::Connection) -> [GateRows; 2] {
    let rows3 = |sql: &str| -> Vec<(i64, String, i64)> {
        let mut st = c.prepare(sql).unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let names = |sql: &str| -> Vec<(i64, String, String)> {
        let mut st = c.prepare(sql).unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    [
        (
            rows3("SELECT coll, object_id, min_tlp FROM id_gate ORDER BY 1, 2, 3"),
            rows3("SELECT coll, object_id, contributor FROM id_red_contributors ORDER BY 1, 2, 3"),
            names("SELECT coll, object_id, member FROM id_red_recipients ORDER BY 1, 2, 3"),
        ),
        (
            rows3(
                "SELECT coll, object_id, min(tlp) FROM objects GROUP BY coll, object_id \
                 ORDER BY 1, 2, 3",
            ),
            rows3(
                "SELECT DISTINCT coll, object_id, contributor FROM objects WHERE tlp = 4 \
                 ORDER BY 1, 2, 3",
            ),
            names(
                "SELECT DISTINCT o.coll, o.object_id, r.member FROM objects o \
                 JOIN red_recipients r ON r.date_added = o.date_added WHERE o.tlp = 4 \
                 ORDER BY 1, 2, 3",
            ),
        ),
    ]
}

/// The id gate follows every insert and delete exactly (never wider, which would let a
/// hidden id cost more than an absent one, nor narrower, which would hide what a viewer may
/// read); a file from before the gate gets it, filled from its objects, on open.
#[test]
fn the_id_gate_follows_the_stored_versions_and_is_filled_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    drop(conformance::id_gate_follows_versions(
        SqliteStore::open(&path).unwrap(),
    ));
    let c = rusqlite::Connection::open(&path).unwrap();
    let [gate, want] = gate_rows(&c);
    assert_eq!(gate, want);
    assert!(!gate.0.is_empty() && !gate.1.is_empty() && !gate.2.is_empty());
    // What a node from before the gate left: no gate tables or triggers, schema version 1.
    c.execute_batch(
        "DROP TRIGGER objects_id_gate_insert; DROP TRIGGER objects_id_gate_delete;
         DROP TRIGGER red_recipients_id_gate_insert; DROP TABLE id_gate;
         DROP TABLE id_red_contributors; DROP TABLE id_red_recipients;
         UPDATE schema_version SET version = 1;",
    )
    .unwrap();
    drop(c);
    let s = SqliteStore::open(&path).unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let [gate, want] = gate_rows(&c);
    assert_eq!(gate, want, "filled on open");
    // The triggers are back: a new RED version is in the gate at once.
    let red = NewObject {
        id: "tool--late".into(),
        object_type: "tool".into(),
        spec_version: "2.1".into(),
        version: Some("v".into()),
        version_micros: Some(1),
        tlp: Tlp::Red,
        recipients: vec!["late".into(), "later".into()],
        body: "{}".into(),
    };
    s.ingest(IngestBatch {
        collection: COLL.into(),
        contributor: 1,
        status_id: "late".into(),
        request_timestamp: 0,
        objects: vec![red],
        failures: vec![],
    })
    .unwrap();
    let [gate, want] = gate_rows(&c);
    assert_eq!(gate, want, "kept after reopening");
    assert!(
        gate.2
            .iter()
            .any(|(_, id, m)| id == "tool--late" && m == "later")
    );
}
