//! What the sequencer's test files share: filling a store with small objects.

use detente_store::conformance::COLL;
use detente_store::{IngestBatch, NewObject, Store, Tlp};
use detente_store_sqlite::SqliteStore;

/// Ingests `n` small TLP:CLEAR tools `tool--{from}`.. into the conformance collection, one
/// batch (so `n` log leaves, in order).
pub fn ingest(s: &SqliteStore, from: usize, n: usize) {
    let objects = (from..from + n)
        .map(|i| NewObject {
            id: format!("tool--{i}"),
            object_type: "tool".into(),
            spec_version: "2.1".into(),
            version: Some("v".into()),
            version_micros: Some(1),
            tlp: Tlp::Clear,
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
