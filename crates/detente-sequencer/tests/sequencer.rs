//! Sequencing store leaves into tiles and checkpoints, across restarts.

use detente_sequencer::{
    FsLogStorage, ProofError, Prover, Sequencer, checkpoint_root, read_published,
};
use detente_store::Store;
use detente_store::conformance;
use detente_store_sqlite::SqliteStore;
use detente_tlog::hash::subtree_root;
use detente_tlog::leaf_hash;
use detente_tlog::proof::{verify_consistency, verify_inclusion};

mod common;
use common::ingest;

#[test]
fn publishes_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
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
    let fs = FsLogStorage::open(&log).unwrap();
    assert_eq!(checkpoint_root(&fs).unwrap(), (310, subtree_root(&hashes)));
    assert_eq!(
        read_published(&fs, "tile/0/000").unwrap().unwrap().len(),
        8192
    );
    assert!(
        read_published(&fs, "tile/entries/001.p/54")
            .unwrap()
            .is_some()
    );
    assert!(
        read_published(&fs, "tile/0/../../db.sqlite")
            .unwrap()
            .is_none()
    );
    assert!(read_published(&fs, "checkpoint").unwrap().is_none());
}

#[test]
fn proves_from_published_tiles_as_the_log_grows() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let log = dir.path().join("log");
    let mut q = Sequencer::open(&log, "example.test/log", &[7u8; 32]).unwrap();
    let prover = Prover::new(q.storage(), q.published());
    assert!(matches!(prover.inclusion(0), Err(ProofError::NoCheckpoint)));
    let mut roots = vec![];
    for (from, n) in [(0, 1), (1, 255), (256, 1), (257, 600), (857, 70_000)] {
        ingest(&s, from, n);
        while q.step(&s).unwrap().is_some() {}
        let (size, root) = checkpoint_root(&*q.storage()).unwrap();
        assert_eq!(size, (from + n) as u64);
        roots.push((size, root));
    }
    assert!(matches!(
        prover.inclusion(70_857),
        Err(ProofError::NotYetSequenced { .. })
    ));
    let leaves = s.log_leaves(0, 70_857).unwrap();
    let (size, root) = *roots.last().unwrap();
    for i in (0..size).step_by(997).chain([0, 255, 256, size - 1]) {
        let (latest, proof) = prover.inclusion(i).unwrap();
        assert_eq!(latest.size, size);
        verify_inclusion(i, size, &leaf_hash(&leaves[i as usize]), &proof, &root).unwrap();
        let mut bad = leaves[i as usize].clone();
        bad[1] ^= 1;
        assert!(verify_inclusion(i, size, &leaf_hash(&bad), &proof, &root).is_err());
    }
    for &(old, old_root) in &roots {
        let proof = prover.consistency(old, size).unwrap();
        verify_consistency(old, size, &old_root, &root, &proof).unwrap();
    }
    assert!(matches!(
        prover.consistency(5, size + 1),
        Err(ProofError::BadRange { .. })
    ));
    assert!(matches!(
        prover.consistency(9, 8),
        Err(ProofError::BadRange { .. })
    ));
}

fn store(dir: &std::path::Path) -> SqliteStore {
    conformance::setup(SqliteStore::open(&dir.join("db.sqlite")).unwrap())
}
