//! Backend conformance checks of the [`Store`] contract (feature `testing`).
//!
//! Each check takes a fresh, empty store and panics on a violation; a backend's tests call
//! [`run_all`] with a factory of fresh stores.

use std::time::Duration;

use crate::rules::NOT_OWNER;
use crate::{
    Access, ApiRootRecord, Clearance, CollectionRecord, DeleteScope, IngestBatch, IngestOutcome,
    LogWitness, NewMember, NewObject, ObjectQuery, PsiCharge, PsiChargeOutcome, PsiRole,
    PsiSessionRecord, Role, Store, StoreError, Tlp, TokenRecord, VersionMatch, Viewer,
    WitnessAdvance, WitnessEvidence, WitnessState,
};

/// Runs every check, each on a store from `fresh`.
pub fn run_all<S: Store>(fresh: impl Fn() -> S) {
    ingest_versions_paging_delete(fresh());
    tlp_visibility(fresh());
    members_and_generation(fresh());
    latest_spec_version_by_default(fresh());
    log_rows(fresh());
    psi_grants_and_audit(fresh());
    psi_budget_and_replay(fresh());
    page_byte_budget(fresh());
    witness_rows(fresh());
    ownership_of_versions(fresh());
    value_copies_per_contributor(fresh());
    last_is_per_viewer(fresh());
    drop(id_gate_follows_versions(fresh()));
    flag_sources_and_records(fresh());
    peers_and_mirrors(fresh());
    contributor_keys(fresh());
    partner_keys(fresh());
    filters(fresh());
    delete_selections(fresh());
    failed_writes_change_nothing(fresh());
}

/// Runs the checks that need two handles on one database (two nodes, or a node and an admin
/// command): `pair` gives two handles on a fresh, empty database.
pub fn run_shared<S: Store>(pair: impl Fn() -> (S, S)) {
    interleaved_writers_leave_no_gap(pair());
    racing_writers_on_one_id(pair());
    secret_created_once(pair());
    psi_charges_shared_by_handles(pair());
}

/// The collection every check uses (backends' own tests may use it too).
pub const COLL: &str = "11111111-2222-4333-8444-555555555555";

/// `s` with the API root `/api/` and the collection [`COLL`] in it.
pub fn setup<S: Store>(s: S) -> S {
    s.ensure_api_root(&ApiRootRecord {
        path: "/api/".into(),
        title: "t".into(),
        description: None,
    })
    .unwrap();
    s.add_collection(&CollectionRecord {
        id: COLL.into(),
        api_root: "/api/".into(),
        title: "c".into(),
        description: None,
        alias: None,
        require_signatures: false,
    })
    .unwrap();
    s
}

fn obj(id: &str, version_us: i64, tlp: Tlp, body: &str) -> NewObject {
    NewObject {
        id: id.into(),
        object_type: id.split("--").next().unwrap().into(),
        spec_version: "2.1".into(),
        version: Some(format!("v{version_us}")),
        version_micros: Some(version_us),
        tlp,
        recipients: if tlp == Tlp::Red {
            vec!["friend".into()]
        } else {
            vec![]
        },
        body: body.into(),
    }
}

fn batch(objects: Vec<NewObject>, status: &str) -> IngestBatch {
    IngestBatch {
        collection: COLL.into(),
        contributor: 1,
        status_id: status.into(),
        request_timestamp: 0,
        objects,
        failures: vec![],
    }
}

fn viewer(member: i64, name: &str, clearance: Tlp) -> Viewer {
    Viewer {
        member,
        name: name.into(),
        clearance,
    }
}

fn query(v: Viewer, versions: VersionMatch) -> ObjectQuery {
    ObjectQuery {
        collection: COLL.into(),
        viewer: v,
        ids: vec![],
        types: vec![],
        versions,
        spec_versions: vec![],
        added_after: None,
        after: None,
        limit: 100,
        max_bytes: usize::MAX,
        with_body: true,
    }
}

fn last() -> VersionMatch {
    VersionMatch {
        all: false,
        first: false,
        last: true,
        exact: vec![],
    }
}

fn all() -> VersionMatch {
    VersionMatch {
        all: true,
        first: false,
        last: false,
        exact: vec![],
    }
}

/// Ingest outcomes, strictly increasing `date_added`, version selection, paging, delete.
pub fn ingest_versions_paging_delete<S: Store>(store: S) {
    let s = setup(store);
    let r = s
        .ingest(batch(
            vec![
                obj(
                    "indicator--a",
                    10,
                    Tlp::Clear,
                    r#"{"id":"indicator--a","v":10}"#,
                ),
                obj(
                    "indicator--a",
                    20,
                    Tlp::Clear,
                    r#"{"id":"indicator--a","v":20}"#,
                ),
                obj("malware--b", 5, Tlp::Clear, r#"{"id":"malware--b"}"#),
                // Same version again in the same batch, spaced differently: a duplicate.
                obj("malware--b", 5, Tlp::Clear, r#"{ "id" : "malware--b" }"#),
                obj("malware--b", 5, Tlp::Clear, r#"{"id":"malware--b","x":1}"#),
                // An older version arriving later.
                obj(
                    "indicator--a",
                    1,
                    Tlp::Clear,
                    r#"{"id":"indicator--a","v":1}"#,
                ),
            ],
            "s1",
        ))
        .unwrap();
    let stored: Vec<i64> = r
        .outcomes
        .iter()
        .filter_map(|o| match o {
            IngestOutcome::Stored { date_added } => Some(*date_added),
            _ => None,
        })
        .collect();
    assert_eq!(stored.len(), 4);
    assert!(
        stored.windows(2).all(|w| w[0] < w[1]),
        "date_added strictly increases"
    );
    assert_eq!(r.outcomes[3], IngestOutcome::Duplicate { date_added: 0 });
    assert_eq!(r.outcomes[4], IngestOutcome::Conflict);
    assert_eq!(r.status.successes.len(), 5);
    assert_eq!(r.status.failures.len(), 1);
    assert_eq!(s.status("s1").unwrap().unwrap(), r.status);

    let v = viewer(1, "me", Tlp::Green);
    let latest = s.query_objects(&query(v.clone(), last())).unwrap();
    let got: Vec<_> = latest
        .items
        .iter()
        .map(|o| (o.id.as_str(), o.version.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![("indicator--a", Some("v20")), ("malware--b", Some("v5"))]
    );
    let first = VersionMatch {
        all: false,
        first: true,
        last: false,
        exact: vec![],
    };
    let f = s.query_objects(&query(v.clone(), first)).unwrap();
    assert_eq!(f.items.iter().filter(|o| o.id == "indicator--a").count(), 1);
    assert_eq!(
        f.items
            .iter()
            .find(|o| o.id == "indicator--a")
            .unwrap()
            .version
            .as_deref(),
        Some("v1")
    );
    let exact = VersionMatch {
        all: false,
        first: false,
        last: false,
        exact: vec![10],
    };
    assert_eq!(
        s.query_objects(&query(v.clone(), exact))
            .unwrap()
            .items
            .len(),
        1
    );

    // Paging over all versions, two at a time, visits each once in date_added order.
    let mut q = query(v.clone(), all());
    q.limit = 2;
    let mut seen = vec![];
    loop {
        let p = s.query_objects(&q).unwrap();
        seen.extend(p.items.iter().map(|o| o.date_added));
        match (p.more, p.items.last()) {
            (true, Some(l)) => q.after = Some(l.date_added),
            _ => break,
        }
    }
    assert_eq!(seen, stored);

    // Deleting the newest version makes the previous one the latest.
    let gone = s
        .delete_object(
            COLL,
            "indicator--a",
            &VersionMatch {
                all: false,
                first: false,
                last: false,
                exact: vec![20],
            },
            &[],
            &DeleteScope::Own(v.clone()),
        )
        .unwrap();
    assert_eq!(gone.len(), 1);
    let latest = s.query_objects(&query(v.clone(), last())).unwrap();
    assert_eq!(
        latest
            .items
            .iter()
            .find(|o| o.id == "indicator--a")
            .unwrap()
            .version
            .as_deref(),
        Some("v10")
    );
    assert_eq!(
        s.delete_object(
            COLL,
            "indicator--a",
            &all(),
            &[],
            &DeleteScope::Own(v.clone())
        )
        .unwrap()
        .len(),
        2
    );
    assert!(
        s.delete_object(
            COLL,
            "indicator--a",
            &all(),
            &[],
            &DeleteScope::Own(v.clone())
        )
        .unwrap()
        .is_empty()
    );
}

/// TLP: clearance ranks, RED for contributor and recipients only, no deleting the unseen.
pub fn tlp_visibility<S: Store>(store: S) {
    let s = setup(store);
    s.ingest(batch(
        vec![
            obj("indicator--clear", 1, Tlp::Clear, "{}"),
            obj("indicator--green", 1, Tlp::Green, "{}"),
            obj("indicator--amber", 1, Tlp::Amber, "{}"),
            obj("indicator--red", 1, Tlp::Red, "{}"),
        ],
        "s",
    ))
    .unwrap();
    let ids = |v: Viewer| -> Vec<String> {
        s.query_objects(&query(v, last()))
            .unwrap()
            .items
            .into_iter()
            .map(|o| o.id)
            .collect()
    };
    assert_eq!(ids(viewer(9, "x", Tlp::Clear)), vec!["indicator--clear"]);
    assert_eq!(ids(viewer(9, "x", Tlp::Amber)).len(), 3);
    assert!(!ids(viewer(9, "x", Tlp::AmberStrict)).contains(&"indicator--red".to_owned()));
    assert!(ids(viewer(9, "friend", Tlp::Clear)).contains(&"indicator--red".to_owned()));
    assert!(ids(viewer(1, "author", Tlp::Clear)).contains(&"indicator--red".to_owned()));
    // Nobody deletes what they cannot see.
    assert!(
        s.delete_object(
            COLL,
            "indicator--red",
            &all(),
            &[],
            &DeleteScope::Own(viewer(9, "x", Tlp::Amber))
        )
        .unwrap()
        .is_empty()
    );
}

/// Members, grants and their errors; every change bumps the generation.
pub fn members_and_generation<S: Store>(store: S) {
    let s = setup(store);
    let g0 = s.generation().unwrap();
    let m = s
        .add_member(&NewMember {
            name: "alice".into(),
            role: Role::Reader,
            clearance: Clearance::AMBER,
            secret_hash: "h".into(),
        })
        .unwrap();
    assert!(matches!(
        s.add_member(&NewMember {
            name: "alice".into(),
            role: Role::Reader,
            clearance: Clearance::GREEN,
            secret_hash: "h".into()
        }),
        Err(StoreError::AlreadyExists(_))
    ));
    let g1 = s.generation().unwrap();
    assert!(g1 > g0);
    s.grant(COLL, "alice", Access::Read).unwrap();
    s.grant(COLL, "alice", Access::ReadWrite).unwrap();
    assert_eq!(
        s.grants_of(m.id).unwrap(),
        vec![(COLL.to_owned(), Access::ReadWrite)]
    );
    assert!(matches!(
        s.grant(COLL, "bob", Access::Read),
        Err(StoreError::NotFound(_))
    ));
    s.set_disabled("alice", true).unwrap();
    assert!(s.member_by_name("alice").unwrap().unwrap().disabled);
    assert!(s.generation().unwrap() > g1);
    assert!(matches!(
        s.set_secret_hash("bob", "x"),
        Err(StoreError::NotFound(_))
    ));
    let g2 = s.generation().unwrap();
    assert!(!s.upgrade_secret_hash("alice", "not h", "new").unwrap());
    assert!(s.upgrade_secret_hash("alice", "h", "new").unwrap());
    assert_eq!(
        s.member_by_name("alice").unwrap().unwrap().secret_hash,
        "new"
    );
    assert!(!s.upgrade_secret_hash("bob", "h", "new").unwrap());
    assert_eq!(s.generation().unwrap(), g2);
    s.add_token(&TokenRecord {
        id: "00112233aabbccdd".into(),
        member: m.id,
        secret_hash: "t".into(),
        revoked: false,
    })
    .unwrap();
    let g3 = s.generation().unwrap();
    assert!(!s.upgrade_token_hash("00112233aabbccdd", "x", "t2").unwrap());
    assert!(s.upgrade_token_hash("00112233aabbccdd", "t", "t2").unwrap());
    let t = s.token("00112233aabbccdd").unwrap().unwrap();
    assert_eq!(t.secret_hash, "t2");
    assert_eq!(s.generation().unwrap(), g3);
    // Revoking a grant and changing a clearance take effect and bump the generation.
    let g2 = s.generation().unwrap();
    s.revoke(COLL, "alice").unwrap();
    assert!(s.grants_of(m.id).unwrap().is_empty());
    assert!(matches!(
        s.revoke(COLL, "alice"),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.revoke("no-such-collection", "alice"),
        Err(StoreError::NotFound(_))
    ));
    s.set_clearance("alice", Clearance::CLEAR).unwrap();
    assert_eq!(
        s.member_by_name("alice").unwrap().unwrap().clearance,
        Clearance::CLEAR
    );
    assert!(s.generation().unwrap() > g2);
    assert!(matches!(
        s.set_clearance("bob", Clearance::GREEN),
        Err(StoreError::NotFound(_))
    ));
}

/// Without `spec_versions`, only each object's latest spec version is returned; with them,
/// exactly the versions named.
pub fn latest_spec_version_by_default<S: Store>(store: S) {
    let s = setup(store);
    let mut old = obj("tool--a", 1, Tlp::Clear, "{\"a\":20}");
    old.spec_version = "2.0".into();
    let newer = obj("tool--a", 2, Tlp::Clear, "{\"a\":21}");
    let mut only_old = obj("tool--b", 1, Tlp::Clear, "{\"b\":20}");
    only_old.spec_version = "2.0".into();
    s.ingest(batch(vec![old, newer, only_old], "s1")).unwrap();
    let v = viewer(1, "admin", Tlp::Clear);
    let bodies = |q: &ObjectQuery| -> Vec<String> {
        s.query_objects(q)
            .unwrap()
            .items
            .into_iter()
            .map(|o| o.body)
            .collect()
    };
    assert_eq!(
        bodies(&query(v.clone(), all())),
        vec!["{\"a\":21}", "{\"b\":20}"]
    );
    let mut q20 = query(v.clone(), all());
    q20.spec_versions = vec!["2.0".into()];
    assert_eq!(bodies(&q20), vec!["{\"a\":20}", "{\"b\":20}"]);
    let mut by_id = query(v, all());
    by_id.ids = vec!["tool--a".into()];
    assert_eq!(bodies(&by_id), vec!["{\"a\":21}"]);
}

/// `psi` grants combine with read/write and round-trip; PSI audit rows come back oldest
/// first, the latest `limit` of them, exactly as recorded.
pub fn psi_grants_and_audit<S: Store>(store: S) {
    let s = setup(store);
    let m = s
        .add_member(&NewMember {
            name: "peer".into(),
            role: Role::Reader,
            clearance: Clearance::GREEN,
            secret_hash: "h".into(),
        })
        .unwrap();
    for access in [Access::Psi, Access::ReadPsi, Access::ReadWritePsi] {
        s.grant(COLL, "peer", access).unwrap();
        assert_eq!(s.grants_of(m.id).unwrap(), vec![(COLL.to_owned(), access)]);
    }
    assert!(s.psi_sessions(10).unwrap().is_empty());
    let row = |i: i64, role: PsiRole| PsiSessionRecord {
        id: 0,
        time: 1_700_000_000_000_000 + i,
        role,
        session: format!("{i:032x}"),
        peer: format!("peer{i}"),
        collection: COLL.into(),
        mode: "count-only".into(),
        own_items: Some(10 + i.unsigned_abs()),
        peer_items: (i > 0).then_some(7),
        result_items: (role == PsiRole::Querier).then_some(3),
        bytes_in: 1000,
        bytes_out: 2000,
        duration_micros: 5,
        outcome: if i == 1 {
            "refused: budget".into()
        } else {
            "ok".into()
        },
    };
    for i in 0..3 {
        let role = if i == 2 {
            PsiRole::Querier
        } else {
            PsiRole::Answerer
        };
        s.record_psi_session(&row(i, role)).unwrap();
    }
    let got = s.psi_sessions(2).unwrap();
    assert_eq!(got.len(), 2);
    assert!(got[0].id < got[1].id);
    for (g, i) in got.iter().zip(1..) {
        let role = if i == 2 {
            PsiRole::Querier
        } else {
            PsiRole::Answerer
        };
        assert_eq!(
            *g,
            PsiSessionRecord {
                id: g.id,
                ..row(i, role)
            }
        );
    }
    assert_eq!(s.psi_sessions(100).unwrap().len(), 3);
}

/// A PSI charge at `at` (µs), `cost` items of `peer`'s budget of 100 per minute.
fn psi_charge(peer: &str, session: &str, cost: u64, at: i64) -> PsiCharge {
    PsiCharge {
        peer: peer.into(),
        session: session.into(),
        cost,
        limit: Some(100),
        window_micros: 60_000_000,
        at,
        dry_run: false,
    }
}

/// PSI budgets: charges add up per peer within the sliding window and a charge that does not
/// fit is refused with the charges in the window; a dry run records nothing; a session id is
/// refused for good once charged, whatever the peer, the budget or the time.
pub fn psi_budget_and_replay<S: Store>(s: S) {
    const T: i64 = 1_700_000_000_000_000;
    const SEC: i64 = 1_000_000;
    use PsiChargeOutcome::{Charged, Exhausted, Replayed};
    assert_eq!(
        s.psi_charge(&psi_charge("p1", "s1", 60, T)).unwrap(),
        Charged
    );
    let dry = PsiCharge {
        dry_run: true,
        ..psi_charge("p1", "s2", 50, T + SEC)
    };
    assert_eq!(
        s.psi_charge(&dry).unwrap(),
        Exhausted {
            charges: vec![(T, 60)]
        }
    );
    let dry_fits = PsiCharge {
        dry_run: true,
        ..psi_charge("p1", "s2", 40, T + SEC)
    };
    assert_eq!(s.psi_charge(&dry_fits).unwrap(), Charged);
    assert_eq!(
        s.psi_charge(&psi_charge("p1", "s2", 40, T + 10 * SEC))
            .unwrap(),
        Charged,
        "the dry runs recorded nothing"
    );
    assert_eq!(
        s.psi_charge(&psi_charge("p1", "s3", 1, T + 20 * SEC))
            .unwrap(),
        Exhausted {
            charges: vec![(T, 60), (T + 10 * SEC, 40)]
        }
    );
    // Another peer has its own budget; the refused id was not recorded.
    assert_eq!(
        s.psi_charge(&psi_charge("p2", "s3", 100, T + 20 * SEC))
            .unwrap(),
        Charged
    );
    // An id charged before is a replay for any peer, at any time, even on a dry run.
    for (peer, at) in [("p1", T + 20 * SEC), ("p3", T + 3600 * SEC)] {
        assert_eq!(
            s.psi_charge(&psi_charge(peer, "s1", 0, at)).unwrap(),
            Replayed
        );
    }
    let dry_replay = PsiCharge {
        dry_run: true,
        ..psi_charge("p3", "s2", 0, T)
    };
    assert_eq!(s.psi_charge(&dry_replay).unwrap(), Replayed);
    // The window slides: at T + 60 s the first charge has left it (40 of 100 remain used).
    assert_eq!(
        s.psi_charge(&psi_charge("p1", "s4", 61, T + 60 * SEC))
            .unwrap(),
        Exhausted {
            charges: vec![(T + 10 * SEC, 40)]
        }
    );
    assert_eq!(
        s.psi_charge(&psi_charge("p1", "s4", 60, T + 60 * SEC))
            .unwrap(),
        Charged
    );
    // Without a budget only replays are refused.
    let unlimited = PsiCharge {
        limit: None,
        ..psi_charge("p1", "s5", u64::MAX / 2, T + 61 * SEC)
    };
    assert_eq!(s.psi_charge(&unlimited).unwrap(), Charged);
    assert_eq!(s.psi_charge(&unlimited).unwrap(), Replayed);
}

/// Every stored version and every deletion appends one leaf, in order; entries and
/// tombstones point at their leaves; tombstones are visible to whoever could see the version.
pub fn log_rows<S: Store>(store: S) {
    let s = setup(store);
    assert_eq!(s.log_size().unwrap(), 0);
    let r = s
        .ingest(batch(
            vec![
                obj("tool--a", 1, Tlp::Clear, "{\"a\":1}"),
                obj("tool--b", 1, Tlp::Amber, "{\"b\":1}"),
            ],
            "s1",
        ))
        .unwrap();
    let added: Vec<i64> = r
        .outcomes
        .iter()
        .map(|o| match o {
            IngestOutcome::Stored { date_added } => *date_added,
            other => panic!("expected stored, got {other:?}"),
        })
        .collect();
    // A duplicate stores nothing and logs nothing.
    s.ingest(batch(vec![obj("tool--a", 1, Tlp::Clear, "{}")], "s2"))
        .unwrap();
    assert_eq!(s.log_size().unwrap(), 2);
    let leaves = s.log_leaves(0, 10).unwrap();
    assert_eq!(leaves.len(), 2);
    for (i, d) in added.iter().enumerate() {
        let e = s.log_object_entry(*d).unwrap().unwrap();
        assert_eq!(e.index, i as u64);
        assert_eq!(e.leaf, leaves[i]);
        assert_eq!(e.nonce.len(), 32);
    }
    let nonces: Vec<Vec<u8>> = added
        .iter()
        .map(|d| s.log_object_entry(*d).unwrap().unwrap().nonce)
        .collect();
    assert_ne!(nonces[0], nonces[1], "nonces are fresh per version");
    // The batched form answers the same entries in the order asked, `None` for an absent one.
    let asked = [added[1], 12345, added[0]];
    let batch = s.log_object_entries(&asked).unwrap();
    assert_eq!(batch.len(), 3);
    assert_eq!(batch[0], s.log_object_entry(added[1]).unwrap());
    assert_eq!(batch[1], None);
    assert_eq!(batch[2], s.log_object_entry(added[0]).unwrap());
    assert!(s.log_object_entries(&[]).unwrap().is_empty());
    let admin = viewer(1, "admin", Tlp::AmberStrict);
    for id in ["tool--a", "tool--b"] {
        s.delete_object(
            COLL,
            id,
            &all(),
            &[],
            &DeleteScope::Moderator("admin".into()),
        )
        .unwrap();
    }
    assert_eq!(s.log_size().unwrap(), 4);
    assert_eq!(s.log_leaves(2, 4).unwrap().len(), 2);
    let green = viewer(2, "other", Tlp::Green);
    let t = s.log_tombstones(COLL, "tool--a", &green).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!((t[0].index, t[0].deleted_index), (2, 0));
    assert_eq!(t[0].member, "admin");
    assert!(
        s.log_tombstones(COLL, "tool--b", &green)
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.log_tombstones(COLL, "tool--b", &admin).unwrap().len(), 1);
    assert!(s.log_object_entry(added[0]).unwrap().is_none());
}

/// A page stops before its bytes pass `max_bytes` and says `more`; paging on from its last
/// row loses nothing; a single row larger than the budget still makes a page.
pub fn page_byte_budget<S: Store>(store: S) {
    let s = setup(store);
    let big = format!("{{\"x\":\"{}\"}}", "a".repeat(1000));
    let objects = (0..5)
        .map(|i| obj(&format!("tool--{i}"), 1, Tlp::Clear, &big))
        .collect();
    s.ingest(batch(objects, "s")).unwrap();
    let mut q = query(viewer(1, "m", Tlp::Clear), last());
    q.max_bytes = 2500;
    let mut seen = Vec::new();
    loop {
        let page = s.query_objects(&q).unwrap();
        assert!(!page.items.is_empty());
        assert!(
            page.items.len() <= 2,
            "{} rows over the budget",
            page.items.len()
        );
        seen.extend(page.items.iter().map(|o| o.id.clone()));
        if !page.more {
            break;
        }
        q.after = page.items.last().map(|o| o.date_added);
    }
    assert_eq!(
        seen,
        (0..5).map(|i| format!("tool--{i}")).collect::<Vec<_>>()
    );
    q.after = None;
    q.max_bytes = 10;
    let page = s.query_objects(&q).unwrap();
    assert_eq!((page.items.len(), page.more), (1, true));
}

/// Witnessing: trust is kept once, the witness state moves only by compare-and-set (of two
/// racing advances from one state exactly one wins), evidence is kept once per conflict, and a
/// log witness is registered once.
pub fn witness_rows<S: Store>(s: S) {
    assert!(s.witness_trust("log.example", "log.example+1+AA").unwrap());
    assert!(!s.witness_trust("log.example", "log.example+1+AA").unwrap());
    assert!(s.witness_trust("log.example", "log.example+2+BB").unwrap());
    assert_eq!(
        s.witness_trusted("log.example").unwrap(),
        vec!["log.example+1+AA".to_owned(), "log.example+2+BB".to_owned()]
    );
    assert!(s.witness_trusted("other").unwrap().is_empty());
    assert_eq!(s.witness_trusted_logs().unwrap().len(), 2);
    assert_eq!(s.witness_state("log.example").unwrap(), None);
    let st = |size: u64, root: u8| WitnessState {
        origin: "log.example".into(),
        size,
        root: vec![root; 32],
        note: format!("note {size}").into_bytes(),
        updated: 7,
    };
    assert!(!s.witness_advance(Some((0, &[0; 32])), &st(3, 1)).unwrap());
    assert!(s.witness_advance(None, &st(3, 1)).unwrap());
    assert!(!s.witness_advance(None, &st(4, 2)).unwrap());
    assert!(!s.witness_advance(Some((3, &[9; 32])), &st(4, 2)).unwrap());
    assert!(s.witness_advance(Some((3, &[1; 32])), &st(4, 2)).unwrap());
    assert_eq!(s.witness_state("log.example").unwrap(), Some(st(4, 2)));
    assert_eq!(s.witness_states().unwrap(), vec![st(4, 2)]);
    let s = std::sync::Arc::new(s);
    let wins: usize = (0..2u8)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || s.witness_advance(Some((4, &[2; 32])), &st(5, 10 + i)))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| usize::from(t.join().unwrap().unwrap()))
        .sum();
    assert_eq!(wins, 1);
    assert_eq!(s.witness_state("log.example").unwrap().unwrap().size, 5);
    // A batch applies in order: of two advances from the same state only the first wins.
    let from5 = Some((5, s.witness_state("log.example").unwrap().unwrap().root));
    let batch = [
        WitnessAdvance {
            expected: from5.clone(),
            new: st(6, 3),
        },
        WitnessAdvance {
            expected: from5,
            new: st(7, 4),
        },
        WitnessAdvance {
            expected: Some((6, vec![3; 32])),
            new: st(8, 5),
        },
    ];
    assert_eq!(
        s.witness_advance_batch(&batch).unwrap(),
        vec![true, false, true]
    );
    assert_eq!(s.witness_state("log.example").unwrap(), Some(st(8, 5)));
    let e = WitnessEvidence {
        origin: "log.example".into(),
        cosigned: b"a".to_vec(),
        conflicting: b"b".to_vec(),
        reason: "fork".into(),
        seen: 9,
    };
    assert!(s.witness_record_evidence(&e).unwrap());
    assert!(!s.witness_record_evidence(&e).unwrap());
    assert_eq!(s.witness_evidence().unwrap(), vec![e]);
    let w = LogWitness {
        url: "http://127.0.0.1:1".into(),
        vkey: "w+1+CC".into(),
        added: 1,
    };
    s.log_add_witness(&w).unwrap();
    assert!(matches!(
        s.log_add_witness(&w),
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(s.log_witnesses().unwrap(), vec![w]);
}

/// Adds members `alice` and `bob` (contributors, GREEN) and `root` (admin, AMBER+STRICT).
fn three_members<S: Store>(s: &S) -> [Viewer; 3] {
    let add = |name: &str, role, clearance: Clearance| {
        let m = s
            .add_member(&NewMember {
                name: name.into(),
                role,
                clearance,
                secret_hash: "x".into(),
            })
            .unwrap();
        viewer(m.id, name, clearance.level())
    };
    [
        add("alice", Role::Contributor, Clearance::GREEN),
        add("bob", Role::Contributor, Clearance::GREEN),
        add("root", Role::Admin, Clearance::AMBER_STRICT),
    ]
}

fn batch_by(v: &Viewer, objects: Vec<NewObject>, status: &str) -> IngestBatch {
    IngestBatch {
        contributor: v.member,
        ..batch(objects, status)
    }
}

fn ids_versions(s: &impl Store, v: &Viewer, id: &str, versions: VersionMatch) -> Vec<String> {
    let mut q = query(v.clone(), versions);
    q.ids = vec![id.into()];
    s.query_objects(&q)
        .unwrap()
        .items
        .into_iter()
        .map(|o| o.body)
        .collect()
}

/// Only the first contributor of an object (or an admin) adds versions; ownership outlives
/// deletion; members delete only their own versions; admins delete anything.
pub fn ownership_of_versions<S: Store>(store: S) {
    let s = setup(store);
    let [alice, bob, root] = three_members(&s);
    let x = "indicator--x";
    let r = s
        .ingest(batch_by(
            &alice,
            vec![obj(x, 10, Tlp::Green, "{\"v\":10}")],
            "a1",
        ))
        .unwrap();
    assert!(matches!(r.outcomes[0], IngestOutcome::Stored { .. }));
    // bob: a newer version, a different same version and a hidden identical one are refused
    // alike; an identical copy of a version he reads is already present.
    let r = s
        .ingest(batch_by(
            &bob,
            vec![
                obj(x, 99, Tlp::Red, "{\"v\":99}"),
                obj(x, 10, Tlp::Green, "{\"v\":666}"),
                obj(x, 10, Tlp::Green, "{ \"v\": 10 }"),
            ],
            "b1",
        ))
        .unwrap();
    assert_eq!(
        r.outcomes,
        vec![
            IngestOutcome::NotOwner,
            IngestOutcome::NotOwner,
            IngestOutcome::Duplicate { date_added: 0 }
        ]
    );
    assert_eq!(r.status.failures.len(), 2);
    assert!(
        r.status
            .failures
            .iter()
            .all(|f| f.message.as_deref() == Some(NOT_OWNER))
    );
    let h = "indicator--hidden";
    s.ingest(batch_by(&alice, vec![obj(h, 1, Tlp::Amber, "{}")], "a2"))
        .unwrap();
    let r = s
        .ingest(batch_by(&bob, vec![obj(h, 1, Tlp::Amber, "{}")], "b2"))
        .unwrap();
    assert_eq!(r.outcomes, vec![IngestOutcome::NotOwner]);
    assert_eq!(
        ids_versions(&s, &bob, x, last()),
        vec!["{\"v\":10}"],
        "the owner's version is still the one served"
    );
    // An admin versions anyone's object; alice's own DELETE leaves the admin's version.
    let r = s
        .ingest(batch_by(
            &root,
            vec![obj(x, 30, Tlp::Green, "{\"v\":30}")],
            "r1",
        ))
        .unwrap();
    assert!(matches!(r.outcomes[0], IngestOutcome::Stored { .. }));
    let gone = s
        .delete_object(COLL, x, &all(), &[], &DeleteScope::Own(alice.clone()))
        .unwrap();
    assert_eq!(gone.len(), 1);
    assert!(
        s.delete_object(COLL, x, &all(), &[], &DeleteScope::Own(bob.clone()))
            .unwrap()
            .is_empty(),
        "bob deletes nothing of others'"
    );
    assert_eq!(ids_versions(&s, &bob, x, all()), vec!["{\"v\":30}"]);
    // The admin deletes what it cannot even see (RED, not a recipient).
    let red = "indicator--red";
    let mut o = obj(red, 1, Tlp::Red, "{}");
    o.recipients.clear();
    s.ingest(batch_by(&alice, vec![o], "a3")).unwrap();
    assert!(ids_versions(&s, &root, red, all()).is_empty());
    let gone = s
        .delete_object(
            COLL,
            red,
            &all(),
            &[],
            &DeleteScope::Moderator("root".into()),
        )
        .unwrap();
    assert_eq!(gone.len(), 1);
    let t = s.log_tombstones(COLL, red, &alice).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].member, "root");
    // Ownership outlives deletion: the id stays alice's.
    s.delete_object(COLL, x, &all(), &[], &DeleteScope::Moderator("root".into()))
        .unwrap();
    let r = s
        .ingest(batch_by(&bob, vec![obj(x, 40, Tlp::Green, "{}")], "b3"))
        .unwrap();
    assert_eq!(r.outcomes, vec![IngestOutcome::NotOwner]);
    // An id new to the collection, several times in one batch: each version sees the ones
    // stored before it in the batch (the same version again, the first and last flags).
    let n = "indicator--new-in-batch";
    let r = s
        .ingest(batch_by(
            &alice,
            vec![
                obj(n, 10, Tlp::Green, "{\"v\":10}"),
                obj(n, 20, Tlp::Green, "{\"v\":20}"),
                obj(n, 10, Tlp::Green, "{\"v\":10}"),
                obj(n, 5, Tlp::Green, "{\"v\":5}"),
            ],
            "a4",
        ))
        .unwrap();
    assert!(matches!(r.outcomes[0], IngestOutcome::Stored { .. }));
    assert!(matches!(r.outcomes[1], IngestOutcome::Stored { .. }));
    assert!(matches!(r.outcomes[2], IngestOutcome::Duplicate { .. }));
    assert!(matches!(r.outcomes[3], IngestOutcome::Stored { .. }));
    assert_eq!(ids_versions(&s, &bob, n, last()), vec!["{\"v\":20}"]);
    let first = VersionMatch {
        all: false,
        first: true,
        last: false,
        exact: vec![],
    };
    assert_eq!(ids_versions(&s, &bob, n, first), vec!["{\"v\":5}"]);
    // And bob, in one batch, cannot take an id alice posted in an earlier one.
    let r = s
        .ingest(batch_by(
            &bob,
            vec![
                obj("indicator--bobs", 1, Tlp::Green, "{}"),
                obj(n, 30, Tlp::Green, "{}"),
            ],
            "b4",
        ))
        .unwrap();
    assert!(matches!(r.outcomes[0], IngestOutcome::Stored { .. }));
    assert_eq!(r.outcomes[1], IngestOutcome::NotOwner);
}

fn copy(id: &str, tlp: Tlp, body: &str) -> NewObject {
    NewObject {
        version: None,
        version_micros: None,
        ..obj(id, 0, tlp, body)
    }
}

/// Value-identified objects are kept per contributor: what a poster learns does not depend
/// on copies it cannot read, and readers see only the copies they may.
pub fn value_copies_per_contributor<S: Store>(store: S) {
    let s = setup(store);
    let [alice, bob, root] = three_members(&s);
    let d = "domain-name--d";
    let probe = |status: &str, id: &str| {
        let r = s
            .ingest(batch_by(
                &bob,
                vec![copy(id, Tlp::Green, "{\"b\":1}")],
                status,
            ))
            .unwrap();
        let Some(IngestOutcome::Stored { date_added }) = r.outcomes.first().cloned() else {
            panic!("a first copy is stored: {:?}", r.outcomes);
        };
        assert!(r.status.failures.is_empty());
        (date_added, r.status.successes[0].message.clone())
    };
    s.ingest(batch_by(
        &alice,
        vec![copy(d, Tlp::Amber, "{\"a\":1}")],
        "a1",
    ))
    .unwrap();
    // bob's post of a value alice holds (hidden from him) reads like one nobody holds.
    let (bob_d, m1) = probe("b1", d);
    let (_, m2) = probe("b2", "domain-name--fresh");
    assert_eq!(m1, m2);
    let r = s
        .ingest(batch_by(
            &bob,
            vec![copy(d, Tlp::Green, "{ \"b\": 1 }")],
            "b3",
        ))
        .unwrap();
    assert_eq!(
        r.outcomes,
        vec![IngestOutcome::Duplicate { date_added: bob_d }]
    );
    // Readers see the copies they may; `last` is the newest of those.
    assert_eq!(ids_versions(&s, &bob, d, all()), vec!["{\"b\":1}"]);
    assert_eq!(ids_versions(&s, &root, d, all()).len(), 2);
    assert_eq!(ids_versions(&s, &root, d, last()), vec!["{\"b\":1}"]);
    // bob's DELETE removes his copy only.
    let gone = s
        .delete_object(COLL, d, &all(), &[], &DeleteScope::Own(bob.clone()))
        .unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].date_added, bob_d);
    assert_eq!(ids_versions(&s, &root, d, last()), vec!["{\"a\":1}"]);
    assert!(ids_versions(&s, &bob, d, all()).is_empty());
}

/// `first` and `last` are taken among the versions the viewer sees.
pub fn last_is_per_viewer<S: Store>(store: S) {
    let s = setup(store);
    let [alice, bob, root] = three_members(&s);
    let m = "malware--m";
    s.ingest(batch_by(
        &alice,
        vec![
            obj(m, 1, Tlp::Green, "{\"v\":1}"),
            obj(m, 2, Tlp::Amber, "{\"v\":2}"),
            obj(m, 3, Tlp::Green, "{\"v\":3}"),
            obj(m, 4, Tlp::Amber, "{\"v\":4}"),
        ],
        "a1",
    ))
    .unwrap();
    assert_eq!(ids_versions(&s, &bob, m, last()), vec!["{\"v\":3}"]);
    assert_eq!(ids_versions(&s, &root, m, last()), vec!["{\"v\":4}"]);
    let first = VersionMatch {
        all: false,
        first: true,
        last: false,
        exact: vec![],
    };
    assert_eq!(ids_versions(&s, &bob, m, first.clone()), vec!["{\"v\":1}"]);
    // Paging the collection's latest versions gives bob v3 and the admin v4.
    let page = |v: &Viewer| -> Vec<String> {
        s.query_objects(&query(v.clone(), last()))
            .unwrap()
            .items
            .into_iter()
            .map(|o| o.body)
            .collect()
    };
    assert_eq!(page(&bob), vec!["{\"v\":3}"]);
    assert_eq!(page(&root), vec!["{\"v\":4}"]);
    // A member's `last` DELETE takes its own newest version it sees.
    let gone = s
        .delete_object(COLL, m, &last(), &[], &DeleteScope::Own(alice.clone()))
        .unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].version.as_deref(), Some("v3"));
}

/// By id, a viewer sees exactly the versions it may read while an object's versions come
/// and go: a lower level added later, the lowest deleted, TLP:RED versions (seen by their
/// contributor and recipients) added and removed, copies of a value from two contributors,
/// several ids in one query. Backends decide "may this viewer see any version of the id"
/// from a per-id gate before scanning versions; this is what that gate must never get
/// wrong. Returns the store, left holding objects of each kind, so a backend can compare its
/// gate with what the stored versions give.
pub fn id_gate_follows_versions<S: Store>(store: S) -> S {
    let s = setup(store);
    let [alice, bob, root] = three_members(&s);
    let amber = viewer(90, "carol", Tlp::Amber);
    let friend = viewer(91, "friend", Tlp::Clear);
    let x = "indicator--gate";
    let body = |v: i64| format!("{{\"v\":{v}}}");
    let post = |v: &Viewer, objects: Vec<NewObject>, status: &str| {
        let r = s.ingest(batch_by(v, objects, status)).unwrap();
        assert!(
            r.outcomes
                .iter()
                .all(|o| matches!(o, IngestOutcome::Stored { .. })),
            "{status}: {:?}",
            r.outcomes
        );
    };
    let exact = |v: i64| VersionMatch {
        exact: vec![v],
        ..VersionMatch {
            last: false,
            ..last()
        }
    };
    let moderate = |id: &str, v: i64| {
        let gone = s
            .delete_object(
                COLL,
                id,
                &exact(v),
                &[],
                &DeleteScope::Moderator("root".into()),
            )
            .unwrap();
        assert_eq!(gone.len(), 1, "moderator deletes {id} v{v}");
    };
    // What `v` sees of `id`: all versions and the newest of them; and a member's DELETE of
    // an id it cannot see finds nothing and removes nothing.
    let sees = |v: &Viewer, id: &str, want: &[i64]| {
        let want: Vec<String> = want.iter().map(|&n| body(n)).collect();
        assert_eq!(
            ids_versions(&s, v, id, all()),
            want,
            "{} all of {id}",
            v.name
        );
        let newest: Vec<String> = want.last().cloned().into_iter().collect();
        assert_eq!(
            ids_versions(&s, v, id, last()),
            newest,
            "{} last of {id}",
            v.name
        );
        if want.is_empty() {
            let before = ids_versions(&s, &root, id, all());
            let gone = s
                .delete_object(COLL, id, &all(), &[], &DeleteScope::Own(v.clone()))
                .unwrap();
            assert!(gone.is_empty(), "{} deletes hidden {id}", v.name);
            assert_eq!(ids_versions(&s, &root, id, all()), before);
        }
    };
    post(&alice, vec![obj(x, 10, Tlp::Amber, &body(10))], "g1");
    sees(&bob, x, &[]);
    sees(&friend, x, &[]);
    sees(&amber, x, &[10]);
    // A lower level stored later opens the id to GREEN readers.
    post(&alice, vec![obj(x, 20, Tlp::Clear, &body(20))], "g2");
    sees(&bob, x, &[20]);
    sees(&amber, x, &[10, 20]);
    // RED: its contributor and the recipient it names (obj names "friend").
    post(&alice, vec![obj(x, 30, Tlp::Red, &body(30))], "g3");
    sees(&friend, x, &[20, 30]);
    sees(&alice, x, &[20, 30]);
    sees(&amber, x, &[10, 20]);
    // Deleting the lowest version closes the id to GREEN readers again.
    moderate(x, 20);
    sees(&bob, x, &[]);
    sees(&friend, x, &[30]);
    sees(&alice, x, &[30]);
    sees(&amber, x, &[10]);
    // Deleting the RED version closes it to its recipient and (GREEN) contributor.
    moderate(x, 30);
    sees(&friend, x, &[]);
    sees(&alice, x, &[]);
    sees(&amber, x, &[10]);
    // Two RED versions naming different recipients: deleting one leaves the other's.
    let y = "indicator--red";
    let mut r1 = obj(y, 1, Tlp::Red, &body(1));
    r1.recipients = vec!["friend".into(), "bob".into()];
    let mut r2 = obj(y, 2, Tlp::Red, &body(2));
    r2.recipients = vec!["bob".into()];
    post(&alice, vec![r1, r2], "g4");
    sees(&friend, y, &[1]);
    sees(&bob, y, &[1, 2]);
    sees(&amber, y, &[]);
    moderate(y, 1);
    sees(&friend, y, &[]);
    sees(&bob, y, &[2]);
    sees(&alice, y, &[2]);
    // Every version gone, then the owner posts again.
    moderate(x, 10);
    sees(&amber, x, &[]);
    post(&alice, vec![obj(x, 40, Tlp::Green, &body(40))], "g5");
    sees(&bob, x, &[40]);
    // Copies of a value: alice's RED one, bob's GREEN one; bob deletes his.
    let d = "domain-name--gate";
    let mut red = copy(d, Tlp::Red, &body(0));
    red.recipients = vec![];
    post(&alice, vec![red], "g6");
    post(&bob, vec![copy(d, Tlp::Green, &body(0))], "g7");
    sees(&friend, d, &[]);
    sees(&amber, d, &[0]);
    let gone = s
        .delete_object(COLL, d, &all(), &[], &DeleteScope::Own(bob.clone()))
        .unwrap();
    assert_eq!(gone.len(), 1);
    sees(&amber, d, &[]);
    sees(&bob, d, &[]);
    sees(&alice, d, &[0]);
    // Several ids in one query: only the visible ones answer.
    let mut q = query(amber.clone(), all());
    q.ids = vec![d.into(), y.into(), x.into(), "indicator--none".into()];
    assert_eq!(bodies_of(&s, &q), vec![body(40)]);
    s
}

fn stored_dates(r: &crate::IngestReport) -> Vec<i64> {
    r.outcomes
        .iter()
        .filter_map(|o| match o {
            IngestOutcome::Stored { date_added } => Some(*date_added),
            _ => None,
        })
        .collect()
}

fn bodies_of(s: &impl Store, q: &ObjectQuery) -> Vec<String> {
    s.query_objects(q)
        .unwrap()
        .items
        .into_iter()
        .map(|o| o.body)
        .collect()
}

/// `types`, `ids`, `added_after` and version filters, alone and combined.
pub fn filters<S: Store>(store: S) {
    let s = setup(store);
    let first = s
        .ingest(batch(
            vec![
                obj("indicator--1", 1, Tlp::Clear, "{\"i\":1}"),
                obj("malware--1", 1, Tlp::Clear, "{\"m\":1}"),
                obj("tool--1", 1, Tlp::Clear, "{\"t\":1}"),
            ],
            "s1",
        ))
        .unwrap();
    let second = s
        .ingest(batch(
            vec![
                obj("indicator--1", 2, Tlp::Clear, "{\"i\":2}"),
                obj("indicator--2", 1, Tlp::Clear, "{\"i2\":1}"),
            ],
            "s2",
        ))
        .unwrap();
    let v = viewer(1, "me", Tlp::Clear);
    let mut q = query(v.clone(), all());
    q.types = vec!["indicator".into()];
    assert_eq!(
        bodies_of(&s, &q),
        vec!["{\"i\":1}", "{\"i\":2}", "{\"i2\":1}"]
    );
    q.types = vec!["malware".into(), "tool".into()];
    assert_eq!(bodies_of(&s, &q), vec!["{\"m\":1}", "{\"t\":1}"]);
    q.types = vec!["campaign".into()];
    assert!(bodies_of(&s, &q).is_empty());
    let mut q = query(v.clone(), last());
    q.ids = vec!["indicator--1".into(), "tool--1".into()];
    assert_eq!(bodies_of(&s, &q), vec!["{\"t\":1}", "{\"i\":2}"]);
    q.types = vec!["indicator".into()];
    assert_eq!(
        bodies_of(&s, &q),
        vec!["{\"i\":2}"],
        "ids and types combine"
    );
    // added_after: strictly after the given date_added.
    let mut q = query(v.clone(), all());
    q.added_after = Some(*stored_dates(&first).last().unwrap());
    assert_eq!(bodies_of(&s, &q), vec!["{\"i\":2}", "{\"i2\":1}"]);
    q.added_after = Some(*stored_dates(&second).last().unwrap());
    assert!(bodies_of(&s, &q).is_empty());
    // `after` (the paging position) and `added_after` together: the later one wins.
    q.added_after = Some(stored_dates(&first)[0]);
    q.after = Some(stored_dates(&second)[0]);
    assert_eq!(bodies_of(&s, &q), vec!["{\"i2\":1}"]);
    // An exact version together with `last`.
    let mut q = query(
        v,
        VersionMatch {
            all: false,
            first: false,
            last: true,
            exact: vec![1],
        },
    );
    q.ids = vec!["indicator--1".into()];
    assert_eq!(bodies_of(&s, &q), vec!["{\"i\":1}", "{\"i\":2}"]);
    // A collection that does not exist.
    let mut q = query(viewer(1, "me", Tlp::Clear), all());
    q.collection = "no-such-collection".into();
    assert!(matches!(s.query_objects(&q), Err(StoreError::NotFound(_))));
}

/// DELETE by spec version and by `first`; other objects and collections stay; each deleted
/// version gets one tombstone leaf; an unknown collection is `NotFound`.
pub fn delete_selections<S: Store>(store: S) {
    let s = setup(store);
    let mut old = obj("tool--a", 1, Tlp::Clear, "{\"a\":1}");
    old.spec_version = "2.0".into();
    s.ingest(batch(
        vec![
            old,
            obj("tool--a", 2, Tlp::Clear, "{\"a\":2}"),
            obj("tool--a", 3, Tlp::Clear, "{\"a\":3}"),
            obj("tool--b", 1, Tlp::Clear, "{\"b\":1}"),
        ],
        "s",
    ))
    .unwrap();
    let admin = DeleteScope::Moderator("admin".into());
    let size = s.log_size().unwrap();
    let gone = s
        .delete_object(COLL, "tool--a", &all(), &["2.0".into()], &admin)
        .unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].version.as_deref(), Some("v1"));
    assert_eq!(s.log_size().unwrap(), size + 1);
    let first = VersionMatch {
        all: false,
        first: true,
        last: false,
        exact: vec![],
    };
    let gone = s
        .delete_object(COLL, "tool--a", &first, &[], &admin)
        .unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(
        gone[0].version.as_deref(),
        Some("v2"),
        "first of what is left"
    );
    assert_eq!(s.log_size().unwrap(), size + 2);
    let v = viewer(1, "me", Tlp::Clear);
    assert_eq!(
        bodies_of(&s, &query(v.clone(), all())),
        vec!["{\"a\":3}", "{\"b\":1}"]
    );
    let mut q = query(v.clone(), first.clone());
    q.ids = vec!["tool--a".into()];
    assert_eq!(
        bodies_of(&s, &q),
        vec!["{\"a\":3}"],
        "flags follow the deletion"
    );
    assert!(matches!(
        s.delete_object("no-such-collection", "tool--a", &all(), &[], &admin),
        Err(StoreError::NotFound(_))
    ));
    assert!(
        s.delete_object(COLL, "tool--none", &all(), &[], &admin)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.log_size().unwrap(),
        size + 2,
        "deleting nothing logs nothing"
    );
    let t = s.log_tombstones(COLL, "tool--a", &v).unwrap();
    assert_eq!(t.len(), 2);
    assert!(t[0].index < t[1].index);
}

/// A write that fails changes nothing: no object, leaf, status or `date_added` of it stays.
pub fn failed_writes_change_nothing<S: Store>(store: S) {
    let s = setup(store);
    let ok = s
        .ingest(batch(vec![obj("tool--a", 1, Tlp::Clear, "{}")], "s1"))
        .unwrap();
    let size = s.log_size().unwrap();
    let v = viewer(1, "me", Tlp::Clear);
    let before = bodies_of(&s, &query(v.clone(), all()));
    // The second object fails after the first was written inside the transaction.
    let r = s.ingest(batch(
        vec![
            obj("tool--b", 1, Tlp::Clear, "{\"b\":1}"),
            obj("tool--c", 1, Tlp::Clear, "{not json"),
        ],
        "s2",
    ));
    assert!(r.is_err(), "{r:?}");
    // A status id used twice fails the whole envelope.
    let r = s.ingest(batch(vec![obj("tool--d", 1, Tlp::Clear, "{}")], "s1"));
    assert!(r.is_err(), "{r:?}");
    let r = s.ingest(IngestBatch {
        collection: "no-such-collection".into(),
        ..batch(vec![obj("tool--e", 1, Tlp::Clear, "{}")], "s3")
    });
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    assert_eq!(s.log_size().unwrap(), size);
    assert_eq!(bodies_of(&s, &query(v.clone(), all())), before);
    assert!(s.status("s2").unwrap().is_none());
    assert!(s.status("s3").unwrap().is_none());
    assert_eq!(s.status("s1").unwrap().unwrap(), ok.status);
    // The next stored version continues the log and date_added order.
    let next = s
        .ingest(batch(vec![obj("tool--b", 1, Tlp::Clear, "{}")], "s4"))
        .unwrap();
    assert!(stored_dates(&next)[0] > stored_dates(&ok)[0]);
    assert_eq!(
        s.log_object_entry(stored_dates(&next)[0])
            .unwrap()
            .unwrap()
            .index,
        size
    );
}

/// Two writers on two handles of one database while a reader pages with `added_after`: the
/// reader sees every stored version exactly once and in increasing `date_added`, and the log's
/// indices are exactly `0..n`, one per stored version.
pub fn interleaved_writers_leave_no_gap<S: Store>((a, b): (S, S)) {
    const BATCHES: usize = 40;
    const PER_BATCH: usize = 5;
    let a = std::sync::Arc::new(setup(a));
    let b = std::sync::Arc::new(b);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = |s: std::sync::Arc<S>, name: &'static str| {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut stored = Vec::new();
            for i in 0..BATCHES {
                let objects: Vec<NewObject> = (0..PER_BATCH)
                    .map(|j| {
                        let id = format!("tool--{name}-{i}-{j}");
                        let body = format!("{{\"id\":\"{id}\"}}");
                        obj(&id, 1, Tlp::Clear, &body)
                    })
                    .collect();
                let r = crate::retry_conflicts(|| {
                    s.ingest(batch(objects.clone(), &format!("{name}{i}")))
                })
                .unwrap();
                stored.extend(stored_dates(&r));
            }
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            stored
        })
    };
    let wa = writer(a.clone(), "a");
    let wb = writer(b.clone(), "b");
    let reader = {
        let (a, done) = (a.clone(), done.clone());
        std::thread::spawn(move || {
            let v = viewer(1, "reader", Tlp::Clear);
            let mut seen: Vec<i64> = Vec::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst) == 2;
                let mut q = query(v.clone(), all());
                q.limit = 7;
                q.added_after = seen.last().copied();
                let p = a.query_objects(&q).unwrap();
                seen.extend(p.items.iter().map(|o| o.date_added));
                if finished && p.items.is_empty() {
                    return seen;
                }
            }
        })
    };
    let mut stored = wa.join().unwrap();
    stored.extend(wb.join().unwrap());
    let seen = reader.join().unwrap();
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "the reader saw date_added in increasing order, each once"
    );
    stored.sort_unstable();
    assert_eq!(stored.len(), 2 * BATCHES * PER_BATCH);
    assert_eq!(seen, stored, "paging with added_after skipped nothing");
    let n = stored.len() as u64;
    assert_eq!(a.log_size().unwrap(), n);
    assert_eq!(b.log_size().unwrap(), n);
    assert_eq!(b.log_leaves(0, n + 10).unwrap().len() as u64, n);
    let mut indices: Vec<u64> = stored
        .iter()
        .map(|d| b.log_object_entry(*d).unwrap().unwrap().index)
        .collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..n).collect::<Vec<_>>(), "log indices are 0..n");
}

/// Writers on two handles racing on the same ids, round after round: of two members posting
/// the first version of one id at once, exactly one owns it and the other is refused; of two
/// posts of one value copy by its contributor, one stores it and the other finds it present;
/// of two new versions of one object posted at once, the larger is its only last version.
/// (A backend deciding on what it read before another writer committed would store both
/// first versions, both copies, or two last versions.)
pub fn racing_writers_on_one_id<S: Store>((a, b): (S, S)) {
    const ROUNDS: usize = 25;
    let a = std::sync::Arc::new(setup(a));
    let b = std::sync::Arc::new(b);
    let [alice, bob, root] = three_members(&*a);
    // The three posts of a round start together.
    let start = std::sync::Arc::new(std::sync::Barrier::new(3));
    let post = |s: &std::sync::Arc<S>, v: &Viewer, objects: Vec<NewObject>, status: String| {
        let (s, v, start) = (s.clone(), v.clone(), start.clone());
        std::thread::spawn(move || {
            start.wait();
            crate::retry_conflicts(|| s.ingest(batch_by(&v, objects.clone(), &status)))
                .unwrap()
                .outcomes
        })
    };
    for round in 0..ROUNDS {
        let (x, d, y) = (
            format!("indicator--race-x-{round}"),
            format!("domain-name--race-d-{round}"),
            format!("indicator--race-y-{round}"),
        );
        a.ingest(batch_by(
            &alice,
            vec![obj(&y, 10, Tlp::Green, "{\"y\":10}")],
            &format!("y{round}"),
        ))
        .unwrap();
        let t1 = post(
            &a,
            &alice,
            vec![
                obj(&x, 10, Tlp::Green, "{\"x\":\"alice\"}"),
                copy(&d, Tlp::Green, "{\"d\":1}"),
                obj(&y, 30, Tlp::Green, "{\"y\":30}"),
            ],
            format!("t1-{round}"),
        );
        let t2 = post(
            &b,
            &bob,
            vec![obj(&x, 20, Tlp::Green, "{\"x\":\"bob\"}")],
            format!("t2-{round}"),
        );
        let t3 = post(
            &b,
            &alice,
            vec![
                copy(&d, Tlp::Green, "{\"d\":1}"),
                obj(&y, 40, Tlp::Green, "{\"y\":40}"),
            ],
            format!("t3-{round}"),
        );
        let (o1, o2, o3) = (t1.join().unwrap(), t2.join().unwrap(), t3.join().unwrap());
        let stored = |o: &IngestOutcome| matches!(o, IngestOutcome::Stored { .. });
        assert!(
            stored(&o1[0]) != stored(&o2[0])
                && [&o1[0], &o2[0]].contains(&&IngestOutcome::NotOwner),
            "round {round}: one owner of {x}: {o1:?} {o2:?}"
        );
        assert_eq!(
            ids_versions(&*b, &root, &x, all()).len(),
            1,
            "round {round}"
        );
        assert!(
            stored(&o1[1]) != stored(&o3[0])
                && [&o1[1], &o3[0]]
                    .iter()
                    .any(|o| matches!(o, IngestOutcome::Duplicate { .. })),
            "round {round}: one copy of {d}: {o1:?} {o3:?}"
        );
        assert_eq!(
            ids_versions(&*b, &root, &d, all()).len(),
            1,
            "round {round}"
        );
        assert!(
            stored(&o1[2]) && stored(&o3[1]),
            "round {round}: {o1:?} {o3:?}"
        );
        assert_eq!(
            ids_versions(&*a, &root, &y, last()),
            vec!["{\"y\":40}"],
            "round {round}: one last version of {y}"
        );
        assert_eq!(
            ids_versions(&*a, &root, &y, all()).len(),
            3,
            "round {round}"
        );
    }
}

/// Handles racing to create a node secret all get the one that was stored first.
pub fn secret_created_once<S: Store>((a, b): (S, S)) {
    let handles = [std::sync::Arc::new(a), std::sync::Arc::new(b)];
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let got: Vec<Vec<u8>> = (0..8u8)
        .map(|i| {
            let s = handles[usize::from(i % 2)].clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                s.secret("node", &|| vec![i; 32]).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(got.iter().all(|g| *g == got[0]), "one secret: {got:?}");
    assert_eq!(handles[1].secret("node", &|| vec![99; 32]).unwrap(), got[0]);
}

/// Handles on one database charging one peer's budget at once never exceed it, and of
/// handles racing to charge one session id (for different peers) exactly one does.
pub fn psi_charges_shared_by_handles<S: Store>((a, b): (S, S)) {
    const THREADS: usize = 8;
    const TRIES: usize = 10;
    let handles = [std::sync::Arc::new(a), std::sync::Arc::new(b)];
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(THREADS));
    let at = crate::entries::now_micros();
    let charged: usize = (0..THREADS)
        .map(|t| {
            let s = handles[t % 2].clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut charged = 0;
                for i in 0..TRIES {
                    let charge = psi_charge("member:1", &format!("t{t}-{i}"), 7, at);
                    if crate::retry_conflicts(|| s.psi_charge(&charge)).unwrap()
                        == PsiChargeOutcome::Charged
                    {
                        charged += 1;
                    }
                }
                // Every thread also races for one shared session id, as its own peer.
                let shared = psi_charge(&format!("member:{}", 100 + t), "shared", 1, at);
                let won = crate::retry_conflicts(|| s.psi_charge(&shared)).unwrap();
                (charged, won)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold(0, |sum, (charged, won)| {
            assert!(
                matches!(won, PsiChargeOutcome::Charged | PsiChargeOutcome::Replayed),
                "{won:?}"
            );
            sum + charged + 1000 * usize::from(won == PsiChargeOutcome::Charged)
        });
    assert_eq!(
        charged % 1000,
        100 / 7,
        "exactly as many 7-item charges as fit in 100, across both handles"
    );
    assert_eq!(
        charged / 1000,
        1,
        "one handle charged the shared session id"
    );
}

/// Contributor keys (issue 13): a binding appends a key-binding leaf in the same transaction,
/// a rotation supersedes without removing, re-binding the current key logs nothing, unknown
/// members are refused, and a collection's signature requirement can be set and cleared.
pub fn contributor_keys<S: Store>(store: S) {
    let s = setup(store);
    for name in ["alice", "bob"] {
        s.add_member(&NewMember {
            name: name.into(),
            role: Role::Contributor,
            clearance: Clearance::GREEN,
            secret_hash: "h".into(),
        })
        .unwrap();
    }
    assert!(matches!(
        s.bind_key("nobody", "k+00000000+AA=="),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.log_size().unwrap(), 0);
    let first = s.bind_key("alice", "k1").unwrap();
    assert_eq!(first.log_index, 0);
    assert_eq!(first.superseded_by, None);
    assert_eq!(first.nonce.len(), 32);
    assert_eq!(s.log_leaves(0, 1).unwrap(), vec![first.leaf.clone()]);
    assert_eq!(first.leaf[0], 0x03);
    assert!(matches!(
        s.bind_key("alice", "k1"),
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(s.log_size().unwrap(), 1);
    s.bind_key("bob", "kb").unwrap();
    let second = s.bind_key("alice", "k2").unwrap();
    assert_eq!(second.log_index, 2);
    assert_eq!(s.current_key("alice").unwrap().unwrap().vkey, "k2");
    assert_eq!(s.current_key("bob").unwrap().unwrap().vkey, "kb");
    assert_eq!(s.current_key("carol").unwrap(), None);
    let all = s.key_bindings().unwrap();
    let summary: Vec<(&str, &str, Option<u64>)> = all
        .iter()
        .map(|b| (b.member.as_str(), b.vkey.as_str(), b.superseded_by))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("alice", "k1", Some(2)),
            ("bob", "kb", None),
            ("alice", "k2", None)
        ]
    );
    assert_eq!(all[0], {
        let mut f = first;
        f.superseded_by = Some(2);
        f
    });
    assert!(!s.collection(COLL).unwrap().unwrap().require_signatures);
    let g = s.generation().unwrap();
    s.set_require_signatures(COLL, true).unwrap();
    assert!(s.collection(COLL).unwrap().unwrap().require_signatures);
    assert!(s.generation().unwrap() > g);
    s.set_require_signatures(COLL, false).unwrap();
    assert!(!s.collections().unwrap()[0].require_signatures);
    assert!(matches!(
        s.set_require_signatures("no-such-collection", true),
        Err(StoreError::NotFound(_))
    ));
}

/// A partner's key bindings (issue 13): recorded once per partner index, private until
/// published, then key-binding leaves of this log (served like local bindings), and a
/// published member's later bindings published as they are recorded.
pub fn partner_keys<S: Store>(store: S) {
    use crate::PeerKeyBinding;
    let s = setup(store);
    let b = |member: &str, vkey: &str, partner_index: u64| PeerKeyBinding {
        member: format!("peer:a/{member}"),
        partner_member: member.into(),
        vkey: vkey.into(),
        partner_index,
        log_index: None,
    };
    let first = [b("alice", "k1", 0), b("bob", "kb", 4)];
    assert_eq!(s.peer_keys_record("a", &first).unwrap(), first.to_vec());
    // Recording again records nothing; nothing is in this log yet.
    assert_eq!(s.peer_keys_record("a", &first).unwrap(), vec![]);
    assert_eq!(s.log_size().unwrap(), 0);
    assert!(s.key_bindings().unwrap().is_empty());
    assert_eq!(s.peer_keys("a").unwrap(), first.to_vec());
    assert_eq!(s.peer_keys("other").unwrap(), vec![]);

    // Publishing alice's: one leaf, served as peer:a/alice; bob's stays private.
    assert_eq!(s.peer_keys_publish("a", &["alice".into()]).unwrap(), 1);
    assert_eq!(s.peer_keys_publish("a", &["alice".into()]).unwrap(), 0);
    assert_eq!(s.log_size().unwrap(), 1);
    let all = s.key_bindings().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].member.as_str(), all[0].vkey.as_str()),
        ("peer:a/alice", "k1")
    );
    assert_eq!(all[0].leaf[0], 0x03);
    assert_eq!(s.log_leaves(0, 1).unwrap(), vec![all[0].leaf.clone()]);
    let keys = s.peer_keys("a").unwrap();
    assert_eq!(keys[0].log_index, Some(0));
    assert_eq!(keys[1].log_index, None);

    // alice's rotation is published as it is recorded, and supersedes her first key.
    let rotation = [b("alice", "k2", 9)];
    assert_eq!(
        s.peer_keys_record("a", &rotation).unwrap(),
        rotation.to_vec()
    );
    assert_eq!(s.log_size().unwrap(), 2);
    let all = s.key_bindings().unwrap();
    assert_eq!(all[0].superseded_by, Some(1));
    assert_eq!(s.current_key("peer:a/alice").unwrap().unwrap().vkey, "k2");
    let order: Vec<u64> = s
        .peer_keys("a")
        .unwrap()
        .iter()
        .map(|k| k.partner_index)
        .collect();
    assert_eq!(order, vec![0, 4, 9]);
}

/// Peers (issue 13): the identity member, mirrors, partner log entries, the accepted
/// checkpoint's compare-and-set, and mirror pages: objects with provenance, partner
/// tombstones with local ones, positions moved by compare-and-set in the same transaction.
pub fn peers_and_mirrors<S: Store>(store: S) {
    use crate::{MirrorPage, MirroredObject, NewPeer, PeerLog};
    let s = setup(store);
    let peer = NewPeer {
        name: "a".into(),
        url: "https://a.example".into(),
        log_key: "a+00000000+AA".into(),
        witnesses: vec!["w+11111111+BB".into()],
        quorum: 1,
        authorization: "Bearer t".into(),
        ca_cert: None,
        identity: NewMember {
            name: "peer:a".into(),
            role: Role::Contributor,
            clearance: Clearance::AMBER_STRICT,
            secret_hash: "x".into(),
        },
    };
    let g = s.generation().unwrap();
    let added = s.peer_add(&peer).unwrap();
    assert!(s.generation().unwrap() > g);
    let identity = s.member_by_name("peer:a").unwrap().unwrap();
    assert!(identity.disabled);
    assert_eq!(added.member, identity.id);
    assert_eq!(s.peer("a").unwrap().unwrap(), added);
    assert_eq!(s.peers().unwrap(), vec![added.clone()]);
    assert!(matches!(
        s.peer_add(&peer),
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        s.peer_add_mirror("nobody", "r", COLL),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.peer_add_mirror("a", "r", "no-such-collection"),
        Err(StoreError::NotFound(_))
    ));
    let m = s.peer_add_mirror("a", "remote", COLL).unwrap();
    assert_eq!((m.objects_after, m.tombstones_after), (0, -1));
    assert!(matches!(
        s.peer_add_mirror("a", "remote", COLL),
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(s.mirrors(Some("a")).unwrap(), vec![m.clone()]);
    assert_eq!(s.mirrors(None).unwrap(), vec![m.clone()]);

    s.peer_leaves_put("a", 2, &[vec![2], vec![3]]).unwrap();
    s.peer_leaves_put("a", 3, &[vec![33]]).unwrap();
    assert_eq!(
        s.peer_leaves_at("a", &[1, 2, 3]).unwrap(),
        vec![None, Some(vec![2]), Some(vec![33])]
    );
    let log = |size: u64| PeerLog {
        size,
        root: vec![size as u8; 32],
        note: b"note".to_vec(),
        frontier: vec![1, 2],
    };
    assert!(s.peer_log_accept("a", None, &log(4)).unwrap());
    assert!(!s.peer_log_accept("a", None, &log(5)).unwrap());
    assert!(!s.peer_log_accept("a", Some(3), &log(5)).unwrap());
    assert!(s.peer_log_accept("a", Some(4), &log(5)).unwrap());
    assert_eq!(s.peer("a").unwrap().unwrap().log, Some(log(5)));

    let mirrored = |n: u32, version: i64, partner_index: u64| {
        let body = format!(r#"{{"v":{version}, "id":"tool--{n}"}}"#);
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        MirroredObject {
            object: obj(&format!("tool--{n}"), version, Tlp::Amber, &body),
            canonical: detente_logentry::canonical_form(&value).unwrap(),
            partner_index,
            partner_contributor: "alice".into(),
            partner_date_added: 1000 + partner_index as i64,
        }
    };
    let applied = s
        .mirror_apply(&MirrorPage {
            mirror: m.id,
            expected: (0, -1),
            next: (1002, -1),
            deleted: vec![],
            objects: vec![mirrored(1, 1, 0), mirrored(1, 2, 1), mirrored(2, 1, 2)],
        })
        .unwrap();
    assert_eq!(applied.new, vec!["tool--1", "tool--2"]);
    assert_eq!(applied.updated, vec!["tool--1"]);
    // Stale positions: refused, nothing applied.
    assert!(matches!(
        s.mirror_apply(&MirrorPage {
            mirror: m.id,
            expected: (0, -1),
            next: (1003, -1),
            deleted: vec![],
            objects: vec![mirrored(3, 1, 3)],
        }),
        Err(StoreError::Invalid(_))
    ));
    let admin = viewer(1, "admin", Tlp::AmberStrict);
    let page = s.query_objects(&query(admin.clone(), all())).unwrap();
    assert_eq!(page.items.len(), 3);
    let dates: Vec<i64> = page.items.iter().map(|o| o.date_added).collect();
    let prov = s.mirror_provenance(COLL, &dates).unwrap();
    assert_eq!(
        prov.iter().map(|p| p.partner_index).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert!(
        prov.iter()
            .all(|p| p.peer == "a" && p.partner_contributor == "alice")
    );
    // Each version's local entry, by the peer's identity, commits to the stored bytes (the
    // canonical form handed in with the page is the body's).
    for (o, e) in page.items.iter().zip(s.log_object_entries(&dates).unwrap()) {
        let e = e.unwrap();
        let value: serde_json::Value = serde_json::from_str(&o.body).unwrap();
        let leaf = detente_logentry::object_leaf(
            &detente_logentry::ObjectVersion {
                collection: COLL,
                object_id: &o.id,
                version: o.version.as_deref().unwrap_or(""),
                member: "peer:a",
                object: &value,
            },
            &e.nonce.clone().try_into().unwrap(),
        )
        .unwrap();
        assert_eq!(e.leaf, leaf.to_bytes());
        assert_eq!(e.contributor, "peer:a");
    }
    // The peer's identity owns them: a local contributor's new version is refused.
    let r = s
        .ingest(IngestBatch {
            contributor: 2,
            ..batch(vec![obj("tool--1", 9, Tlp::Clear, r#"{"x":1}"#)], "st")
        })
        .unwrap();
    assert_eq!(r.outcomes, vec![IngestOutcome::NotOwner]);
    // A partner tombstone of entry 1 deletes that version here, with a local tombstone.
    let before = s.log_size().unwrap();
    let applied = s
        .mirror_apply(&MirrorPage {
            mirror: m.id,
            expected: (1002, -1),
            next: (1002, 7),
            deleted: vec![1, 99],
            objects: vec![mirrored(1, 2, 1)],
        })
        .unwrap();
    assert_eq!(applied.deleted, vec!["tool--1"]);
    // The same version posted again after its deletion is stored again.
    assert_eq!(applied.updated, vec!["tool--1"]);
    assert_eq!(s.log_size().unwrap(), before + 2);
    let ts = s.log_tombstones_after(COLL, &admin, -1, 10).unwrap();
    assert_eq!(ts.len(), 1);
    assert_eq!(
        (ts[0].object_id.as_str(), ts[0].entry.member.as_str()),
        ("tool--1", "peer:a")
    );
    assert!(
        s.log_tombstones_after(COLL, &admin, i64::try_from(ts[0].entry.index).unwrap(), 10)
            .unwrap()
            .is_empty()
    );
    // Hidden from a viewer who could not read the deleted version.
    assert!(
        s.log_tombstones_after(COLL, &viewer(3, "g", Tlp::Green), -1, 10)
            .unwrap()
            .is_empty()
    );
    let m = &s.mirrors(Some("a")).unwrap()[0];
    assert_eq!((m.objects_after, m.tombstones_after), (1002, 7));
}

/// Protected assets and ingest flags: warninglists are replaced by key and collection, assets
/// are kept once, both refuse unknown collections and every change moves the generation;
/// flags are listed oldest first within the limit.
pub fn flag_sources_and_records<S: Store>(s: S) {
    use crate::{AssetKind, AssetRecord, FlagAction, FlagRecord, WarninglistRecord};
    let s = setup(s);
    let g0 = s.generation().unwrap();
    let wl = |key: &str, collection: Option<&str>, action| WarninglistRecord {
        key: key.into(),
        collection: collection.map(str::to_owned),
        action,
        body: format!("{{\"name\":\"{key}\",\"type\":\"string\",\"list\":[\"a\"]}}"),
        added: 0,
    };
    assert!(
        s.flag_warninglist_put(&wl("google", None, FlagAction::Inform))
            .unwrap()
    );
    assert!(
        s.flag_warninglist_put(&wl("google", Some(COLL), FlagAction::Suppress))
            .unwrap()
    );
    assert!(
        !s.flag_warninglist_put(&wl("google", None, FlagAction::Suppress))
            .unwrap()
    );
    let g1 = s.generation().unwrap();
    assert!(g1 > g0, "adding warninglists moves the generation");
    let lists = s.flag_warninglists().unwrap();
    assert_eq!(lists.len(), 2);
    assert!(
        lists
            .iter()
            .all(|l| l.action == FlagAction::Suppress && l.added > 0)
    );
    assert!(matches!(
        s.flag_warninglist_put(&wl("x", Some("no-such-collection"), FlagAction::Inform)),
        Err(StoreError::NotFound(_))
    ));
    s.flag_warninglist_remove("google", None).unwrap();
    assert!(matches!(
        s.flag_warninglist_remove("google", None),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        s.flag_warninglists().unwrap()[0].collection.as_deref(),
        Some(COLL)
    );

    let asset = |kind, value: &str, collection: Option<&str>| AssetRecord {
        kind,
        value: value.into(),
        subdomains: true,
        collection: collection.map(str::to_owned),
        added: 0,
    };
    let g2 = s.generation().unwrap();
    assert!(
        s.asset_add(&asset(AssetKind::Domain, "sos.ca.gov", None))
            .unwrap()
    );
    assert!(
        !s.asset_add(&asset(AssetKind::Domain, "sos.ca.gov", None))
            .unwrap()
    );
    assert!(
        s.asset_add(&asset(AssetKind::Domain, "sos.ca.gov", Some(COLL)))
            .unwrap()
    );
    assert!(
        s.asset_add(&asset(AssetKind::Cidr, "192.0.2.0/24", None))
            .unwrap()
    );
    assert!(
        s.asset_add(&asset(AssetKind::Org, "Secretary of State", None))
            .unwrap()
    );
    assert!(s.generation().unwrap() > g2);
    assert!(matches!(
        s.asset_add(&asset(AssetKind::Cidr, "10.0.0.0/8", Some("nope"))),
        Err(StoreError::NotFound(_))
    ));
    let all = s.assets().unwrap();
    assert_eq!(
        all.iter()
            .map(|a| (a.kind, a.value.as_str()))
            .collect::<Vec<_>>(),
        [
            (AssetKind::Cidr, "192.0.2.0/24"),
            (AssetKind::Domain, "sos.ca.gov"),
            (AssetKind::Domain, "sos.ca.gov"),
            (AssetKind::Org, "Secretary of State"),
        ]
    );
    s.asset_remove(AssetKind::Domain, "sos.ca.gov", Some(COLL))
        .unwrap();
    assert!(matches!(
        s.asset_remove(AssetKind::Domain, "sos.ca.gov", Some(COLL)),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.assets().unwrap().len(), 3);

    let flag = |n: i64| FlagRecord {
        id: 0,
        collection: COLL.into(),
        note_id: format!("note--{n}"),
        indicator_id: "indicator--1".into(),
        indicator_version: "2026-01-01T00:00:00Z".into(),
        contributor: "alice".into(),
        tlp: Tlp::Amber,
        matches: "[]".into(),
        created: n,
    };
    s.flag_record(&[flag(1), flag(2)]).unwrap();
    s.flag_record(&[flag(3)]).unwrap();
    let got = s.flags(2).unwrap();
    assert_eq!(
        got.iter().map(|f| f.note_id.as_str()).collect::<Vec<_>>(),
        ["note--2", "note--3"]
    );
    assert_eq!(got[1].tlp, Tlp::Amber);
    assert_eq!(s.flags(10).unwrap().len(), 3);
}

/// The [`LogStorage`](crate::published::LogStorage) contract on two handles of one storage
/// (two nodes): one lease holder at a time, a growing epoch at takeover, writes fenced by
/// it, immutable tiles and a checkpoint moved only by compare-and-set. `ttl` must be short
/// (the check waits it out to let the lease expire).
pub fn log_storage<L: crate::published::LogStorage + ?Sized>(a: &L, b: &L, ttl: Duration) {
    use crate::published::{LogStorageError, PublishedCheckpoint};
    assert!(a.checkpoint().unwrap().is_none());
    assert!(a.tile("tile/0/000").unwrap().is_none());
    let e1 = a.lease("a", ttl).unwrap().expect("a free lease is taken");
    assert!(b.lease("b", ttl).unwrap().is_none(), "a held lease is not");
    assert_eq!(
        a.lease("a", ttl).unwrap(),
        Some(e1),
        "renewal keeps the epoch"
    );
    let tiles = vec![
        ("tile/0/000.p/1".to_owned(), vec![1u8; 32]),
        ("tile/entries/000.p/1".to_owned(), b"\x00\x01x".to_vec()),
    ];
    a.put_tiles(e1, &tiles).unwrap();
    a.put_tiles(e1, &tiles).unwrap();
    assert_eq!(b.tile("tile/0/000.p/1").unwrap(), Some(vec![1u8; 32]));
    assert!(matches!(
        a.put_tiles(e1, &[("tile/0/000.p/1".to_owned(), vec![2u8; 32])]),
        Err(LogStorageError::Immutable(p)) if p == "tile/0/000.p/1"
    ));
    assert_eq!(b.tile("tile/0/000.p/1").unwrap(), Some(vec![1u8; 32]));
    let cp = |size: u64, epoch: u64| PublishedCheckpoint {
        size,
        root: vec![u8::try_from(size % 256).unwrap_or(0); 32],
        epoch,
        note: format!("note {size}\n").into_bytes(),
    };
    let one = cp(1, e1);
    assert!(a.swap_checkpoint(None, &one).unwrap());
    assert!(
        !a.swap_checkpoint(None, &cp(2, e1)).unwrap(),
        "CAS on absence"
    );
    assert_eq!(b.checkpoint().unwrap(), Some(one.clone()));
    // b waits the lease out and takes over with a larger epoch; a is fenced from then on.
    std::thread::sleep(ttl + Duration::from_millis(200));
    let e2 = b
        .lease("b", ttl)
        .unwrap()
        .expect("an expired lease is taken over");
    assert!(e2 > e1, "epoch {e2} after {e1}");
    assert!(a.lease("a", ttl).unwrap().is_none());
    assert!(matches!(
        a.put_tiles(e1, &[("tile/0/000.p/2".to_owned(), vec![3u8; 64])]),
        Err(LogStorageError::Fenced(e)) if e == e1
    ));
    assert!(b.tile("tile/0/000.p/2").unwrap().is_none());
    assert!(matches!(
        a.swap_checkpoint(Some(&one), &cp(2, e1)),
        Err(LogStorageError::Fenced(_))
    ));
    assert_eq!(b.checkpoint().unwrap(), Some(one.clone()));
    // The new holder swaps from what it read; a stale expectation (wrong epoch) is refused.
    let stale = PublishedCheckpoint {
        epoch: e2,
        ..one.clone()
    };
    assert!(!b.swap_checkpoint(Some(&stale), &cp(2, e2)).unwrap());
    let two = cp(2, e2);
    assert!(b.swap_checkpoint(Some(&one), &two).unwrap());
    assert_eq!(a.checkpoint().unwrap(), Some(two));
}
