//! Sequencing throughput, durable: `throughput N DIR` ingests N indicator objects into a fresh
//! SQLite store in envelopes of 1,000 (each committed with `synchronous=FULL`, its log leaves
//! in the same transaction), then sequences them into fsynced tiles and signed checkpoints,
//! and prints entries/s for each phase and the bytes of hash storage per entry.
//! Used by `bench/tlog.sh`.

use std::path::Path;
use std::time::Instant;

use detente_sequencer::Sequencer;
use detente_store::{ApiRootRecord, CollectionRecord, IngestBatch, NewObject, Store, Tlp};
use detente_store_sqlite::SqliteStore;

const COLL: &str = "11111111-2222-4333-8444-555555555555";

fn dir_bytes(dir: &Path, filter: &dyn Fn(&Path) -> bool) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if filter(&p) {
                total += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    total
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().ok_or("usage: throughput N DIR")?.parse()?;
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: throughput N DIR")?);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let store = SqliteStore::open(&dir.join("detente.sqlite"))?;
    store.ensure_api_root(&ApiRootRecord {
        path: "/api/".into(),
        title: "bench".into(),
        description: None,
    })?;
    store.add_collection(&CollectionRecord {
        id: COLL.into(),
        api_root: "/api/".into(),
        title: "bench".into(),
        description: None,
        alias: None,
        require_signatures: false,
    })?;
    let t = Instant::now();
    for (b, start) in (0..n).step_by(1000).enumerate() {
        let objects = (start..(start + 1000).min(n))
            .map(|i| NewObject {
                id: format!("indicator--00000000-0000-4000-8000-{i:012}"),
                object_type: "indicator".into(),
                spec_version: "2.1".into(),
                version: Some("2024-01-01T00:00:00.000Z".into()),
                version_micros: Some(1_704_067_200_000_000),
                tlp: Tlp::Clear,
                recipients: vec![],
                body: format!(
                    "{{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"indicator--00000000-0000-4000-8000-{i:012}\",\"created\":\"2024-01-01T00:00:00.000Z\",\"modified\":\"2024-01-01T00:00:00.000Z\",\"pattern\":\"[ipv4-addr:value = '10.{}.{}.{}']\",\"pattern_type\":\"stix\",\"valid_from\":\"2024-01-01T00:00:00Z\"}}",
                    i >> 16,
                    (i >> 8) & 255,
                    i & 255
                ),
            })
            .collect();
        store.ingest(IngestBatch {
            collection: COLL.into(),
            contributor: 1,
            status_id: format!("status-{b}"),
            request_timestamp: 0,
            objects,
            failures: vec![],
        })?;
    }
    let ingest = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let log = dir.join("log");
    let mut q = Sequencer::open(&log, "bench.example/log", &[1u8; 32])?;
    let mut steps = 0;
    while q.step(&store)?.is_some() {
        steps += 1;
    }
    let seq = t.elapsed().as_secs_f64();
    let hash_tiles = dir_bytes(&log, &|p| !p.to_string_lossy().contains("/entries/"));
    let bundles = dir_bytes(&log, &|p| p.to_string_lossy().contains("/entries/"));
    println!("entries: {n}");
    println!(
        "ingest + log append (durable SQLite commits of 1,000): {ingest:.2} s = {:.0} entries/s",
        n as f64 / ingest
    );
    println!(
        "sequencing into fsynced tiles + signed checkpoints ({steps} steps): {seq:.2} s = {:.0} entries/s",
        n as f64 / seq
    );
    println!(
        "published hash tiles: {hash_tiles} bytes = {:.1} bytes/entry; entry bundles: {:.1} bytes/entry (33-byte leaf + 2-byte length)",
        hash_tiles as f64 / n as f64,
        bundles as f64 / n as f64
    );
    Ok(())
}
