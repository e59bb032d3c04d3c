//! Inclusion and consistency proofs served from the published tiles.

use std::sync::{Arc, Mutex, PoisonError};

use detente_store::published::{LogStorage, LogStorageError};

use detente_tlog::proof::{ProveError, prove_consistency, prove_inclusion};
use detente_tlog::tile::{TileHashReader, TileReadError, TileSource};
use detente_tlog::{Hash, TileId};

use crate::{Latest, Published};

/// Tiles kept in memory by the prover (each full tile is 8 KiB): enough for the upper levels
/// and the recent level-0 tiles of a log of tens of millions of entries.
const CACHED_TILES: usize = 8192;

/// Why a proof could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// Nothing is published yet.
    #[error("the log has no checkpoint yet")]
    NoCheckpoint,
    /// The entry is not covered by the latest checkpoint yet (it will be within a second).
    #[error("entry {index} is not yet in the published tree of size {size}")]
    NotYetSequenced {
        /// Entry index.
        index: u64,
        /// Published size.
        size: u64,
    },
    /// The sizes asked for make no proof.
    #[error("no consistency proof from size {from} to size {to} (published size {size})")]
    BadRange {
        /// Older size.
        from: u64,
        /// Newer size.
        to: u64,
        /// Published size.
        size: u64,
    },
    /// A published tile could not be read or is malformed.
    #[error("reading published tiles: {0}")]
    Tiles(String),
    /// The log storage cannot be reached now.
    #[error("the published log cannot be read now: {0}")]
    Unavailable(String),
}

/// Why a tile could not be read from storage.
#[derive(Debug, thiserror::Error)]
enum TileFetchError {
    #[error("{0} is not published")]
    Missing(String),
    #[error(transparent)]
    Storage(#[from] LogStorageError),
}

/// Reads hash tiles from the log storage.
struct StorageTiles(Arc<dyn LogStorage>);

impl TileSource for StorageTiles {
    type Error = TileFetchError;

    fn read_tile(&mut self, tile: TileId) -> Result<Vec<u8>, TileFetchError> {
        let path = tile.path();
        self.0.tile(&path)?.ok_or(TileFetchError::Missing(path))
    }
}

/// Makes proofs against the latest published checkpoint, keeping tiles and their inner
/// subtree hashes cached so a proof costs a few hash operations.
pub struct Prover {
    storage: Arc<dyn LogStorage>,
    published: Arc<Published>,
    reader: Mutex<TileHashReader<StorageTiles>>,
}

fn tiles_error<E: std::error::Error>(e: ProveError<TileReadError<E>>) -> ProofError {
    ProofError::Tiles(e.to_string())
}

impl Prover {
    /// A prover over the log published in `storage`, sharing `published` with the process's
    /// sequencer.
    pub fn new(storage: Arc<dyn LogStorage>, published: Arc<Published>) -> Self {
        Prover {
            reader: Mutex::new(
                TileHashReader::new(StorageTiles(storage.clone()), 0)
                    .with_cache_limit(CACHED_TILES),
            ),
            storage,
            published,
        }
    }

    /// The latest checkpoint this process has seen (without asking the storage: for status
    /// pages and witnesses, which may lag a little).
    pub fn latest(&self) -> Option<Arc<Latest>> {
        self.published.latest()
    }

    /// The checkpoint published in the storage now (never smaller than one this process
    /// served before): what `/log/` serves, so that nodes sharing a storage never show a
    /// verifier a smaller checkpoint after a larger one.
    pub fn current(&self) -> Result<Arc<Latest>, ProofError> {
        match self.storage.checkpoint() {
            Ok(Some(cp)) => Ok(self.published.advance(&cp)),
            Ok(None) => self.latest().ok_or(ProofError::NoCheckpoint),
            Err(e) => Err(ProofError::Unavailable(e.to_string())),
        }
    }

    /// Runs `f` on a reader for the tree of the current checkpoint.
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&mut TileHashReader<StorageTiles>, &Arc<Latest>) -> Result<T, ProofError>,
    ) -> Result<T, ProofError> {
        let latest = self.current()?;
        let mut reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        if reader.size() != latest.size {
            reader.set_size(latest.size);
        }
        f(&mut reader, &latest)
    }

    /// The inclusion proof of entry `index` in the current checkpoint's tree, with that
    /// checkpoint.
    pub fn inclusion(&self, index: u64) -> Result<(Arc<Latest>, Vec<Hash>), ProofError> {
        self.with_reader(|r, latest| {
            if index >= latest.size {
                return Err(ProofError::NotYetSequenced {
                    index,
                    size: latest.size,
                });
            }
            let proof = prove_inclusion(r, index, latest.size).map_err(tiles_error)?;
            Ok((latest.clone(), proof))
        })
    }

    /// The consistency proof from tree size `from` to `to` (both at most the current size).
    pub fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>, ProofError> {
        self.with_reader(|r, latest| {
            if from > to || to > latest.size {
                return Err(ProofError::BadRange {
                    from,
                    to,
                    size: latest.size,
                });
            }
            if from == 0 || from == to {
                return Ok(Vec::new());
            }
            prove_consistency(r, from, to).map_err(tiles_error)
        })
    }
}
