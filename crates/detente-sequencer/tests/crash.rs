//! The sequencer under failures, on the in-memory log storage: every injected failure (a tile
//! write, the checkpoint swap, a restart after a partial step, a lease lost in the middle of
//! a step, a stale epoch publishing) leaves a published checkpoint that the tree rebuilt from
//! the store matches, with every tile it needs, and the log then catches up.

use std::sync::Arc;
use std::time::Duration;

use detente_sequencer::{Faults, MemoryLogStorage, Prover, Sequencer, checkpoint_root};
use detente_store::Store;
use detente_store::conformance;
use detente_store::published::{LogStorage, LogStorageError, PublishedCheckpoint};
use detente_store_sqlite::SqliteStore;
use detente_tlog::hash::subtree_root;
use detente_tlog::proof::verify_inclusion;
use detente_tlog::tile::encode_entry_bundle;
use detente_tlog::{TreeBuilder, leaf_hash};

mod common;

const ORIGIN: &str = "crash.test/log";
const SEED: [u8; 32] = [5; 32];

/// Ingests `n` more objects after those the store holds.
fn ingest(s: &SqliteStore, n: usize) {
    let from = usize::try_from(s.log_size().unwrap()).unwrap();
    common::ingest(s, from, n);
}

fn open(storage: &Arc<MemoryLogStorage>, holder: &str) -> Sequencer {
    Sequencer::with_storage(storage.clone(), ORIGIN, &SEED, holder).unwrap()
}

/// The published checkpoint is the tree of the store's first `size` leaves, and every tile
/// and entry bundle that size needs is stored with exactly the bytes those leaves give; a
/// sequencer opened afresh resumes from it. Returns the published size.
fn check_published(storage: &Arc<MemoryLogStorage>, store: &SqliteStore) -> u64 {
    let Some((size, root)) = checkpoint_root(&**storage) else {
        return 0;
    };
    let leaves = store.log_leaves(0, size).unwrap();
    assert_eq!(leaves.len() as u64, size);
    let hashes: Vec<_> = leaves.iter().map(|l| leaf_hash(l)).collect();
    assert_eq!(root, subtree_root(&hashes), "published root at size {size}");
    let mut b = TreeBuilder::new();
    for h in &hashes {
        b.append(*h);
    }
    let stored = storage.tiles();
    for t in b.take_full_tiles().into_iter().chain(b.partial_tiles()) {
        assert_eq!(stored.get(&t.id.path()), Some(&t.body), "{}", t.id.path());
        if t.id.level == 0 {
            let first = usize::try_from(t.id.first_entry()).unwrap();
            let bundle = encode_entry_bundle(
                leaves[first..first + usize::from(t.id.width)]
                    .iter()
                    .map(Vec::as_slice),
            )
            .unwrap();
            assert_eq!(stored.get(&t.id.entries_path()), Some(&bundle));
        }
    }
    assert_eq!(open(storage, "checker").size(), size);
    size
}

/// Steps until the log has every leaf of the store.
fn catch_up(q: &mut Sequencer, storage: &Arc<MemoryLogStorage>, store: &SqliteStore) {
    for _ in 0..10 {
        if q.step(store).unwrap().is_none()
            && check_published(storage, store) == store.log_size().unwrap()
        {
            return;
        }
        check_published(storage, store);
    }
    panic!("the log did not catch up");
}

/// Steps with `faults` armed; whether the step failed. A step that succeeded must not have
/// reached the fault (it stored fewer tiles than a `tiles_then_fail` allows). Disarms after.
fn step_with(
    q: &mut Sequencer,
    store: &SqliteStore,
    storage: &MemoryLogStorage,
    faults: Faults,
) -> bool {
    let writes = storage.tile_writes();
    let allowed = faults.tiles_then_fail;
    storage.inject(faults);
    let failed = q.step(store).is_err();
    if !failed {
        let wrote = usize::try_from(storage.tile_writes() - writes).unwrap();
        assert!(
            allowed.is_some_and(|k| wrote <= k),
            "the fault was not reached"
        );
    }
    storage.inject(Faults::default());
    failed
}

/// What happens to the step after each ingest.
#[derive(Debug, Clone)]
enum Case {
    /// A tile write fails after this many tiles of the step were stored.
    TileWriteFails(usize),
    /// The checkpoint swap fails before it is applied.
    SwapFails,
    /// The swap is applied but its answer is lost.
    SwapAnswerLost,
    /// The process dies after storing some of the step's tiles (a partial tile among them)
    /// and a new one (a new holder, once the lease expired) resumes.
    RestartAfterPartialStep(usize),
    /// The same, resumed by the same holder at once.
    RestartSameHolder(usize),
    /// The sequencer pauses after its lease check; another takes over before its tiles.
    LeaseLostBeforeTiles,
    /// ... or before its checkpoint swap.
    LeaseLostBeforeSwap,
}

#[test]
fn every_failure_leaves_a_checkpoint_the_store_rebuilds() {
    let cases = [
        Case::TileWriteFails(0),
        Case::TileWriteFails(1),
        Case::TileWriteFails(3),
        Case::SwapFails,
        Case::SwapAnswerLost,
        Case::RestartAfterPartialStep(0),
        Case::RestartAfterPartialStep(2),
        Case::RestartSameHolder(1),
        Case::LeaseLostBeforeTiles,
        Case::LeaseLostBeforeSwap,
    ];
    // Sizes that cross partial and full tiles at levels 0 and 1.
    let batches = [1usize, 254, 1, 300, 2_000, 700, 1];
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let store = conformance::setup(SqliteStore::open(&dir.path().join("db.sqlite")).unwrap());
        let storage = Arc::new(MemoryLogStorage::new());
        let mut holder = 0;
        let mut q = open(&storage, "h0");
        assert_eq!(q.step(&store).unwrap(), Some(0));
        for &n in &batches {
            ingest(&store, n);
            let before = check_published(&storage, &store);
            let tiles_fail = |k: usize| Faults {
                tiles_then_fail: Some(k),
                ..Faults::default()
            };
            match &case {
                Case::TileWriteFails(k) => {
                    if step_with(&mut q, &store, &storage, tiles_fail(*k)) {
                        assert_eq!(check_published(&storage, &store), before);
                    }
                }
                Case::SwapFails => {
                    let f = Faults {
                        swap_fails: true,
                        ..Faults::default()
                    };
                    assert!(step_with(&mut q, &store, &storage, f));
                    assert_eq!(check_published(&storage, &store), before);
                }
                Case::SwapAnswerLost => {
                    let f = Faults {
                        swap_applied_then_fails: true,
                        ..Faults::default()
                    };
                    assert!(step_with(&mut q, &store, &storage, f));
                    assert!(
                        check_published(&storage, &store) > before,
                        "{case:?}: applied"
                    );
                }
                Case::RestartAfterPartialStep(k) | Case::RestartSameHolder(k) => {
                    if step_with(&mut q, &store, &storage, tiles_fail(*k)) {
                        assert_eq!(check_published(&storage, &store), before);
                    }
                    if matches!(case, Case::RestartAfterPartialStep(_)) {
                        holder += 1;
                        drop(q);
                        q = open(&storage, &format!("h{holder}"));
                        // The dead holder's lease runs out before the new one publishes.
                        assert_eq!(q.step(&store).unwrap(), None);
                        storage.advance(Duration::from_secs(4));
                    } else {
                        drop(q);
                        q = open(&storage, &format!("h{holder}"));
                    }
                }
                Case::LeaseLostBeforeTiles | Case::LeaseLostBeforeSwap => {
                    let b = format!("b{holder}");
                    let f = if matches!(case, Case::LeaseLostBeforeTiles) {
                        Faults {
                            lease_lost_before_tiles: Some(b.clone()),
                            ..Faults::default()
                        }
                    } else {
                        Faults {
                            lease_lost_before_swap: Some(b.clone()),
                            ..Faults::default()
                        }
                    };
                    storage.inject(f);
                    let epoch = q.epoch();
                    let e = q.step(&store).unwrap_err();
                    storage.inject(Faults::default());
                    assert!(
                        matches!(&e, detente_sequencer::Error::Storage(LogStorageError::Fenced(x)) if *x == epoch),
                        "{case:?}: {e}"
                    );
                    assert_eq!(
                        check_published(&storage, &store),
                        before,
                        "{case:?}: fenced"
                    );
                    // The new holder publishes; the old one follows, then takes over again
                    // once the new one's lease runs out.
                    let mut nb = open(&storage, &b);
                    catch_up(&mut nb, &storage, &store);
                    assert_eq!(q.step(&store).unwrap(), None);
                    assert_eq!(
                        q.published().latest().unwrap().size,
                        store.log_size().unwrap(),
                        "the fenced sequencer follows what the holder published"
                    );
                    storage.advance(Duration::from_secs(4));
                    holder += 1;
                }
            }
            let after = check_published(&storage, &store);
            assert!(after >= before, "{case:?}: {after} < {before}");
            catch_up(&mut q, &storage, &store);
        }
        assert_eq!(check_published(&storage, &store), store.log_size().unwrap());
        // Proofs come from what was published.
        let prover = Prover::new(storage.clone(), q.published());
        let size = store.log_size().unwrap();
        let (_, root) = checkpoint_root(&*storage).unwrap();
        let leaves = store.log_leaves(0, size).unwrap();
        for i in [0, size / 2, size - 1] {
            let (_, proof) = prover.inclusion(i).unwrap();
            verify_inclusion(i, size, &leaf_hash(&leaves[i as usize]), &proof, &root).unwrap();
        }
    }
}

/// A sequencer whose epoch is no longer the lease's cannot store a tile or move the
/// checkpoint, whatever it tries; the holder's tree is untouched.
#[test]
fn a_stale_epoch_cannot_publish() {
    let dir = tempfile::tempdir().unwrap();
    let store = conformance::setup(SqliteStore::open(&dir.path().join("db.sqlite")).unwrap());
    let storage = Arc::new(MemoryLogStorage::new());
    let mut a = open(&storage, "a");
    ingest(&store, 10);
    assert_eq!(a.step(&store).unwrap(), Some(10));
    let old_epoch = a.epoch();
    let published = storage.checkpoint().unwrap().unwrap();
    storage.advance(Duration::from_secs(4));
    let mut b = open(&storage, "b");
    ingest(&store, 5);
    assert_eq!(b.step(&store).unwrap(), Some(15));
    assert!(b.epoch() > old_epoch);
    let held = storage.checkpoint().unwrap().unwrap();
    // What a paused `a` would write with its old epoch: a tile, and a checkpoint forked from
    // the one it knew.
    let e = storage
        .put_tiles(old_epoch, &[("tile/0/000.p/11".into(), vec![0; 32 * 11])])
        .unwrap_err();
    assert!(
        matches!(e, LogStorageError::Fenced(x) if x == old_epoch),
        "{e}"
    );
    let fork = PublishedCheckpoint {
        size: 11,
        epoch: old_epoch,
        ..published.clone()
    };
    assert!(matches!(
        storage.swap_checkpoint(Some(&published), &fork),
        Err(LogStorageError::Fenced(_))
    ));
    assert!(matches!(
        storage.swap_checkpoint(Some(&held), &fork),
        Err(LogStorageError::Fenced(_))
    ));
    assert_eq!(storage.checkpoint().unwrap(), Some(held));
    assert!(storage.tile("tile/0/000.p/11").unwrap().is_none());
    // `a` itself neither publishes nor fails: it follows.
    ingest(&store, 1);
    assert_eq!(a.step(&store).unwrap(), None);
    assert_eq!(a.published().latest().unwrap().size, 15);
    assert_eq!(check_published(&storage, &store), 15);
}

/// Tiles never change: a different body at a published path is refused, and a corrupted
/// partial tile stops a resume instead of publishing a wrong tree.
#[test]
fn tiles_are_immutable_and_corruption_stops_the_sequencer() {
    let dir = tempfile::tempdir().unwrap();
    let store = conformance::setup(SqliteStore::open(&dir.path().join("db.sqlite")).unwrap());
    let storage = Arc::new(MemoryLogStorage::new());
    let mut q = open(&storage, "a");
    ingest(&store, 300);
    assert_eq!(q.step(&store).unwrap(), Some(300));
    let e = storage
        .put_tiles(q.epoch(), &[("tile/0/000".into(), vec![0; 8192])])
        .unwrap_err();
    assert!(
        matches!(&e, LogStorageError::Immutable(p) if p == "tile/0/000"),
        "{e}"
    );
    storage.overwrite("tile/0/001.p/44", &[0; 32 * 44]);
    let e = Sequencer::with_storage(storage.clone(), ORIGIN, &SEED, "b")
        .err()
        .expect("a corrupt partial tile is found on resume");
    assert!(matches!(e, detente_sequencer::Error::Corrupt(_)), "{e}");
    // The running sequencer does not overwrite it either: its next step fails.
    ingest(&store, 1);
    storage.overwrite("tile/0/001.p/45", &[1; 32 * 45]);
    assert!(q.step(&store).is_err());
    assert_eq!(checkpoint_root(&*storage).unwrap().0, 300);
}

/// The directory and memory storages keep the `LogStorage` contract (each serves one
/// process, so both handles are the same storage).
#[test]
fn the_directory_and_memory_storages_conform() {
    let ttl = Duration::from_millis(300);
    let m = MemoryLogStorage::new();
    conformance::log_storage(&m, &m, ttl);
    let dir = tempfile::tempdir().unwrap();
    let fs = detente_sequencer::FsLogStorage::open(dir.path()).unwrap();
    conformance::log_storage(&fs, &fs, ttl);
}
