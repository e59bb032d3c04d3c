//! The WAL is checkpointed by the store's background thread, not inside commits: committed
//! pages reach the database file while the writer's own threshold is far off.

use std::time::{Duration, Instant};

use detente_store::conformance::{self, COLL};
use detente_store::{IngestBatch, NewObject, Store, Tlp};
use detente_store_sqlite::SqliteStore;

#[test]
fn the_wal_is_checkpointed_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let store = conformance::setup(SqliteStore::open(&path).unwrap());
    let before = std::fs::metadata(&path).unwrap().len();
    // About 300 pages of objects: far below the writer's threshold (and SQLite's default of
    // 1,000), so only the background checkpoint moves them into the database file.
    let body = format!("{{\"x\":\"{}\"}}", "a".repeat(4000));
    for i in 0..300 {
        store
            .ingest(IngestBatch {
                collection: COLL.into(),
                contributor: 1,
                status_id: format!("s{i}"),
                request_timestamp: 0,
                objects: vec![NewObject {
                    id: format!("tool--00000000-0000-4000-8000-{i:012}"),
                    object_type: "tool".into(),
                    spec_version: "2.1".into(),
                    version: Some("v".into()),
                    version_micros: Some(1),
                    tlp: Tlp::Clear,
                    recipients: vec![],
                    body: body.clone(),
                }],
                failures: vec![],
            })
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = std::fs::metadata(&path).unwrap().len();
        if now >= before + 1_000_000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the database file stayed at {now} bytes (from {before}): no checkpoint ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
