//! Sequencing store leaves into tiles and checkpoints, across restarts.

use detente_sequencer::{Sequencer, checkpoint_root, read_published};
use detente_store::{ApiRootRecord, CollectionRecord, IngestBatch, NewObject, Store, TlpRank};
use detente_store_sqlite::SqliteStore;
use detente_tlog::hash::subtree_root;
use detente_tlog::leaf_hash;

const COLL: &str = "11111111-2222-4333-8444-555555555555";

fn ingest(s: &SqliteStore, from: usize, n: usize) {
    let objects = (from..from + n)
        .map(|i| NewObject {
            id: format!("tool--{i}"),
            object_type: "tool".into(),
            spec_version: "2.1".into(),
            version: Some("v".into()),
            version_micros: Some(1),
            tlp: TlpRank::CLEAR,
            recipients: vec![],
            body: format!("{{\"n\":{i}}}"),
        })
        .collect();
    s.ingest(IngestBatch {
        collection: COLL.into(),
        contributor: 1,
        status_id: format!("s{from}"),
        request_timestamp: 0,
        objects,
        failures: vec![],
    })
    .unwrap();
}

#[test]
fn publishes_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
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
    })
    .unwrap();
    let log = dir.path().join("log");
    let seed = [9u8; 32];
    let mut q = Sequencer::open(&log, "example.test/log", &seed).unwrap();
    assert_eq!(q.step(&s).unwrap(), Some(0));
    assert_eq!(q.step(&s).unwrap(), None);
    ingest(&s, 0, 300);
    assert_eq!(q.step(&s).unwrap(), Some(300));
    drop(q);
    let mut q = Sequencer::open(&log, "example.test/log", &seed).unwrap();
    assert_eq!(q.size(), 300);
    ingest(&s, 300, 10);
    assert_eq!(q.step(&s).unwrap(), Some(310));
    let leaves = s.log_leaves(0, 1000).unwrap();
    let hashes: Vec<_> = leaves.iter().map(|l| leaf_hash(l)).collect();
    assert_eq!(checkpoint_root(&log).unwrap(), (310, subtree_root(&hashes)));
    assert!(read_published(&log, "tile/0/000").unwrap().immutable);
    assert!(read_published(&log, "tile/entries/001.p/54").is_some());
    assert!(read_published(&log, "tile/0/../../db.sqlite").is_none());
    assert!(!read_published(&log, "checkpoint").unwrap().immutable);
}
