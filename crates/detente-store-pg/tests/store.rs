//! The PostgreSQL backend against the store contract, on a throwaway cluster (or the server
//! `DETENTE_TEST_PG_URL` names), plus what is specific to it: migrations and errors.

use detente_store::conformance;
use detente_store::{Store, StoreError};
use detente_store_pg::PgStore;
use detente_testpg::TestPg;

#[test]
fn conforms_to_the_store_contract() {
    let pg = TestPg::start().unwrap();
    conformance::run_all(|| PgStore::open(&pg.fresh_database().unwrap()).unwrap());
}

#[test]
fn two_handles_on_one_database_conform() {
    let pg = TestPg::start().unwrap();
    conformance::run_shared(|| {
        let url = pg.fresh_database().unwrap();
        (PgStore::open(&url).unwrap(), PgStore::open(&url).unwrap())
    });
}

/// Reopening applies no migration twice and loses nothing; a database from a newer build is
/// refused with a message naming both versions.
#[test]
fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let pg = TestPg::start().unwrap();
    let url = pg.fresh_database().unwrap();
    let s = conformance::setup(PgStore::open(&url).unwrap());
    let secret = s.secret("node", &|| vec![7; 32]).unwrap();
    drop(s);
    // Nodes starting together: each migration is applied once.
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgStore::open(&url).map(|_| ()))
        })
        .collect();
    for t in opened {
        t.join().unwrap().unwrap();
    }
    let s = PgStore::open(&url).unwrap();
    assert_eq!(s.secret("node", &|| vec![8; 32]).unwrap(), secret);
    assert_eq!(s.collections().unwrap().len(), 1);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let rows = c.query("SELECT version FROM schema_version", &[]).unwrap();
    assert_eq!(rows.len(), 1);
    c.execute("UPDATE schema_version SET version = 999", &[])
        .unwrap();
    let e = PgStore::open(&url).unwrap_err();
    assert!(
        matches!(&e, StoreError::Invalid(m) if m.contains("999")),
        "{e}"
    );
}

/// A server that cannot be reached is `Unavailable` (retry later), not a plain failure; a
/// malformed URL is `Invalid`.
#[test]
fn unreachable_database_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = PgStore::open(&format!(
        "postgres://nobody@127.0.0.1:{port}/none?connect_timeout=2"
    ))
    .unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(matches!(
        PgStore::open("postgres://[::1"),
        Err(StoreError::Invalid(_))
    ));
}

/// Several nodes on one database syncing the same mirror page at once: the positions'
/// compare-and-set lets exactly one apply it (the others are refused, nothing doubled), and
/// of nodes racing to accept a partner checkpoint from the same size exactly one wins.
#[test]
fn racing_nodes_apply_a_mirror_page_and_accept_a_checkpoint_once() {
    use detente_store::{
        Clearance, MirrorPage, MirroredObject, NewMember, NewObject, NewPeer, PeerLog, Role, Tlp,
    };
    use std::sync::{Arc, Barrier};

    const NODES: usize = 6;
    let pg = TestPg::start().unwrap();
    let url = pg.fresh_database().unwrap();
    let first = conformance::setup(PgStore::open(&url).unwrap());
    first
        .peer_add(&NewPeer {
            name: "a".into(),
            url: "https://a.example".into(),
            log_key: "a+00000000+AA".into(),
            witnesses: vec![],
            quorum: 0,
            authorization: "Bearer t".into(),
            ca_cert: None,
            identity: NewMember {
                name: "peer:a".into(),
                role: Role::Contributor,
                clearance: Clearance::AMBER_STRICT,
                secret_hash: "x".into(),
            },
        })
        .unwrap();
    let mirror = first
        .peer_add_mirror("a", "remote", conformance::COLL)
        .unwrap();
    let objects: Vec<MirroredObject> = (0..20u64)
        .map(|i| MirroredObject {
            object: NewObject {
                id: format!("tool--{i}"),
                object_type: "tool".into(),
                spec_version: "2.1".into(),
                version: Some("v1".into()),
                version_micros: Some(1),
                tlp: Tlp::Green,
                recipients: vec![],
                body: format!(r#"{{"id":"tool--{i}"}}"#),
            },
            canonical: format!(r#"{{"id":"tool--{i}"}}"#).into_bytes(),
            partner_index: i,
            partner_contributor: "alice".into(),
            partner_date_added: 1000 + i64::try_from(i).unwrap(),
        })
        .collect();
    let nodes: Vec<Arc<PgStore>> = (0..NODES)
        .map(|_| Arc::new(PgStore::open(&url).unwrap()))
        .collect();
    let start = Arc::new(Barrier::new(NODES));
    let runs: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(n, node)| {
            let (node, start) = (node.clone(), start.clone());
            let page = MirrorPage {
                mirror: mirror.id,
                expected: (0, -1),
                next: (1019 + i64::try_from(n).unwrap(), -1),
                deleted: vec![],
                objects: objects.clone(),
            };
            std::thread::spawn(move || {
                start.wait();
                let applied = node.mirror_apply(&page);
                start.wait();
                let size = 20 + u64::try_from(n).unwrap();
                let log = PeerLog {
                    size,
                    root: vec![1; 32],
                    note: b"note".to_vec(),
                    frontier: vec![],
                };
                let accepted = node.peer_log_accept("a", None, &log).unwrap();
                (applied, accepted.then_some(size))
            })
        })
        .collect();
    let results: Vec<_> = runs.into_iter().map(|t| t.join().unwrap()).collect();
    let winners: Vec<usize> = (0..NODES).filter(|&n| results[n].0.is_ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one sync applies the page");
    for (n, (applied, _)) in results.iter().enumerate() {
        match applied {
            Ok(a) => assert_eq!(a.new.len(), 20),
            Err(e) => assert!(matches!(e, StoreError::Invalid(_)), "node {n}: {e}"),
        }
    }
    assert_eq!(first.log_size().unwrap(), 20, "every version logged once");
    let m = &first.mirrors(Some("a")).unwrap()[0];
    assert_eq!(m.objects_after, 1019 + i64::try_from(winners[0]).unwrap());
    let accepted: Vec<u64> = results.iter().filter_map(|r| r.1).collect();
    assert_eq!(
        accepted.len(),
        1,
        "exactly one node accepts from no checkpoint"
    );
    let log = first.peer("a").unwrap().unwrap().log.unwrap();
    assert_eq!(log.size, accepted[0]);
}

/// The published log's storage on two handles of one database (two nodes): one lease holder,
/// epochs fencing stale writers, immutable tiles, the checkpoint moved by compare-and-set.
#[test]
fn the_published_log_storage_conforms_on_two_handles() {
    let pg = TestPg::start().unwrap();
    let url = pg.fresh_database().unwrap();
    let (a, b) = (PgStore::open(&url).unwrap(), PgStore::open(&url).unwrap());
    conformance::log_storage(&a, &b, std::time::Duration::from_millis(500));
}

/// The id gate's rows as they are, and as the stored versions give them (its backfill):
/// lowest level per id, RED contributors and RED recipients, each sorted, as text.
fn gate_rows(c: &mut postgres::Client) -> [Vec<String>; 2] {
    let mut rows = |sql: &str| -> Vec<String> {
        c.query(sql, &[])
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect()
    };
    let gate = rows(
        "SELECT t FROM (
           SELECT 'min ' || coll || ' ' || object_id || ' ' || min_tlp AS t FROM id_gate
           UNION ALL SELECT 'by ' || coll || ' ' || object_id || ' ' || contributor
             FROM id_red_contributors
           UNION ALL SELECT 'to ' || coll || ' ' || object_id || ' ' || member
             FROM id_red_recipients) g ORDER BY t",
    );
    let want = rows(
        "SELECT t FROM (
           SELECT 'min ' || coll || ' ' || object_id || ' ' || min(tlp) AS t FROM objects
             GROUP BY coll, object_id
           UNION SELECT 'by ' || coll || ' ' || object_id || ' ' || contributor
             FROM objects WHERE tlp = 4
           UNION SELECT 'to ' || o.coll || ' ' || o.object_id || ' ' || r.member
             FROM objects o JOIN red_recipients r ON r.date_added = o.date_added
             WHERE o.tlp = 4) g ORDER BY t",
    );
    [gate, want]
}

/// The id gate follows every insert and delete exactly (never wider, which would let a
/// hidden id cost more than an absent one, nor narrower, which would hide what a viewer may
/// read); a database from before migration 8 gets it, filled from its objects.
#[test]
fn the_id_gate_follows_the_stored_versions_and_is_filled_by_its_migration() {
    let pg = TestPg::start().unwrap();
    let url = pg.fresh_database().unwrap();
    drop(conformance::id_gate_follows_versions(
        PgStore::open(&url).unwrap(),
    ));
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let [gate, want] = gate_rows(&mut c);
    assert_eq!(gate, want);
    for kind in ["min ", "by ", "to "] {
        assert!(gate.iter().any(|t| t.starts_with(kind)), "{kind}: {gate:?}");
    }
    // What migration 7 left: no gate.
    c.batch_execute(
        "DROP TABLE id_gate, id_red_contributors, id_red_recipients;
         DROP FUNCTION id_gate_objects_deleted CASCADE;
         UPDATE schema_version SET version = 7;",
    )
    .unwrap();
    drop(PgStore::open(&url).unwrap());
    let [gate, want] = gate_rows(&mut c);
    assert_eq!(gate, want, "filled by the migration");
    assert!(gate.iter().any(|t| t.starts_with("to ")), "{gate:?}");
}

/// A new version of `id` (or, with no version, a value copy), TLP:CLEAR, by member 1.
fn object(id: &str, version_us: Option<i64>) -> detente_store::NewObject {
    detente_store::NewObject {
        id: id.into(),
        object_type: id.split("--").next().unwrap_or_default().into(),
        spec_version: "2.1".into(),
        version: version_us.map(|v| format!("v{v}")),
        version_micros: version_us,
        tlp: detente_store::Tlp::Clear,
        recipients: vec![],
        body: format!(r#"{{"id":"{id}"}}"#),
    }
}

/// Envelopes posted at once on one handle are written in groups (one transaction, a
/// savepoint each) while another handle writes too: every envelope is stored once with its
/// status record, in one `date_added` order that is the log's index order, `0..n` with no
/// gap; an envelope of a group that fails (its status id is taken) stores nothing and leaves
/// the others of its group stored; value copies (whose rows cannot be moved, so they are
/// decided again under the lock inside the group) are stored once each.
#[test]
fn grouped_envelopes_are_written_apart_and_in_order() {
    use detente_store::{IngestBatch, IngestOutcome, retry_conflicts};
    use std::sync::{Arc, Barrier};

    const WRITERS: usize = 6;
    const ROUNDS: usize = 20;
    let pg = TestPg::start().unwrap();
    let url = pg.fresh_database().unwrap();
    let a = Arc::new(conformance::setup(PgStore::open(&url).unwrap()));
    let b = Arc::new(PgStore::open(&url).unwrap());
    let envelope = |objects, status: &str| IngestBatch {
        collection: conformance::COLL.into(),
        contributor: 1,
        status_id: status.into(),
        request_timestamp: 0,
        objects,
        failures: vec![],
    };
    let first = match a
        .ingest(envelope(vec![object("tool--first", Some(1))], "taken"))
        .unwrap()
        .outcomes[..]
    {
        [IngestOutcome::Stored { date_added }] => date_added,
        ref other => panic!("{other:?}"),
    };
    let start = Arc::new(Barrier::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            // Four writers share handle a (so its groups hold several envelopes), two b.
            let s = if w < 4 { a.clone() } else { b.clone() };
            let start = start.clone();
            std::thread::spawn(move || {
                let mut stored = Vec::new();
                for r in 0..ROUNDS {
                    let mut objects: Vec<_> = (0..3)
                        .map(|j| object(&format!("tool--{w}-{r}-{j}"), Some(1)))
                        .collect();
                    if w == 1 {
                        objects.push(object(&format!("domain-name--{r}"), None));
                    }
                    let status = if w == 0 {
                        "taken".to_owned()
                    } else {
                        format!("s{w}-{r}")
                    };
                    start.wait();
                    let report = retry_conflicts(|| s.ingest(envelope(objects.clone(), &status)));
                    if w == 0 {
                        assert!(
                            matches!(report, Err(StoreError::AlreadyExists(_))),
                            "{report:?}"
                        );
                        continue;
                    }
                    for o in report.unwrap().outcomes {
                        match o {
                            IngestOutcome::Stored { date_added } => stored.push(date_added),
                            other => panic!("writer {w} round {r}: {other:?}"),
                        }
                    }
                }
                stored
            })
        })
        .collect();
    let mut stored: Vec<i64> = writers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    stored.push(first);
    stored.sort_unstable();
    stored.dedup();
    let n = u64::try_from(stored.len()).unwrap();
    assert_eq!(n, 1 + ((WRITERS - 1) * 3 + 1) as u64 * ROUNDS as u64);
    assert_eq!(a.log_size().unwrap(), n);
    let indices: Vec<u64> = stored
        .iter()
        .map(|d| b.log_object_entry(*d).unwrap().unwrap().index)
        .collect();
    assert_eq!(
        indices,
        (0..n).collect::<Vec<_>>(),
        "log indices follow date_added, with no gap"
    );
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let count =
        |c: &mut postgres::Client, sql: &str| -> i64 { c.query_one(sql, &[]).unwrap().get(0) };
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM objects WHERE object_id LIKE 'tool--0-%'"
        ),
        0,
        "the failed envelopes stored nothing"
    );
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM statuses"),
        1 + ((WRITERS - 1) * ROUNDS) as i64
    );
}
