//! The storage seam of the published transparency log: tiles, entry bundles, the checkpoint
//! (moved only by compare-and-set) and the sequencer lease whose epoch fences every write.
//!
//! The sequencer publishes through a [`LogStorage`]; every node serves `/log/` from it. The
//! filesystem and in-memory implementations live in `detente-sequencer`, the PostgreSQL one
//! in `detente-store-pg`, so several nodes on one database publish and serve one log.
//!
//! **Fencing.** At most one sequencer holds the lease at a time; the lease's epoch grows at
//! each takeover. Every tree-state write names the writer's epoch and is refused with
//! [`LogStorageError::Fenced`] unless that epoch is still the lease's, so a sequencer that
//! paused, lost its lease and woke up cannot publish.
//!
//! **Immutability.** A tile path names fixed content (a partial tile's path carries its
//! width), so writing an existing path again with other bytes is refused
//! ([`LogStorageError::Immutable`]); the same bytes again are accepted (a sequencer redoing a
//! step after a crash).

use std::time::Duration;

use crate::StoreError;

/// The published checkpoint: the tree it commits to, the epoch of the sequencer that
/// published it, and the signed note as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedCheckpoint {
    /// Tree size.
    pub size: u64,
    /// Root hash (32 bytes).
    pub root: Vec<u8>,
    /// The lease epoch of the sequencer that published it.
    pub epoch: u64,
    /// The signed checkpoint note.
    pub note: Vec<u8>,
}

/// Why the published log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LogStorageError {
    /// The writer's lease epoch is no longer the current one: another sequencer took over.
    #[error("sequencer epoch {0} is no longer current: the lease was taken over")]
    Fenced(u64),
    /// The tile is published already with other bytes.
    #[error("tile {0} is already published with other bytes")]
    Immutable(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The database failed (retryable or not, as [`StoreError::is_retryable`] says).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result of log storage operations.
pub type LogResult<T> = std::result::Result<T, LogStorageError>;

/// Where the published log lives; see the module docs.
pub trait LogStorage: Send + Sync + 'static {
    /// The bytes of the tile or entry bundle at canonical `path` (`tile/…`), if published.
    fn tile(&self, path: &str) -> LogResult<Option<Vec<u8>>>;

    /// Publishes `tiles` (canonical path, bytes) if `epoch` is the lease's current epoch;
    /// an existing path with other bytes is [`LogStorageError::Immutable`].
    fn put_tiles(&self, epoch: u64, tiles: &[(String, Vec<u8>)]) -> LogResult<()>;

    /// The published checkpoint, if any.
    fn checkpoint(&self) -> LogResult<Option<PublishedCheckpoint>>;

    /// Replaces the checkpoint by `new` if the published one still has the size, root and
    /// epoch of `expected` (or none is published and `expected` is `None`) and `new.epoch` is
    /// the lease's current epoch. `Ok(false)` when the checkpoint moved; `Fenced` when the
    /// lease did.
    fn swap_checkpoint(
        &self,
        expected: Option<&PublishedCheckpoint>,
        new: &PublishedCheckpoint,
    ) -> LogResult<bool>;

    /// Takes the sequencer lease for `holder` (if free, expired or already `holder`'s) until
    /// `ttl` from now, by the storage's clock. Returns the epoch `holder` now holds (one more
    /// than the last when taken over from another holder), or `None` while another holds it.
    fn lease(&self, holder: &str, ttl: Duration) -> LogResult<Option<u64>>;
}
