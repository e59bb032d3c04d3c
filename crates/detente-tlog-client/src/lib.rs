//! A verifying client for a transparency log served with the C2SP `tlog-tiles` read API.
//!
//! [`verify_log`] fetches the checkpoint, checks its signature against the log's key (given, or
//! pinned in a [`State`] directory on first use), checks consistency with the last checkpoint it
//! verified from that log, re-derives every tile level from the one below (and, optionally, the
//! level-0 hashes from the entry bundles), recomputes the root, and only then remembers the new
//! checkpoint. Every failure is a distinct [`ClientError`]. No help from the server is needed
//! beyond static files: proofs are computed from tiles.
//!
//! Per-process state: none; what it verified is pinned in the caller's [`State`] directory.

mod fetch;
mod state;
mod verify;

pub use fetch::{Fetcher, HttpFetcher};
pub use state::State;
pub use verify::{Options, Report, verify_log};

use detente_tlog::Hash;

/// Why a log did not verify (or could not be checked).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or the response could not be read.
    #[error("fetching {url}: {message}")]
    Fetch {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The server answered with a non-success status.
    #[error("fetching {url}: HTTP status {status}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The checkpoint is not a well-formed signed note or checkpoint.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// No key was given and none is pinned for this log.
    #[error(
        "no verifier key is pinned for {url}; pass the node's key (`detente log-key`) with --key"
    )]
    NoKey {
        /// The log URL.
        url: String,
    },
    /// The key given differs from the key pinned for this log.
    #[error("key {given} differs from the key pinned for this log, {pinned}")]
    KeyMismatch {
        /// The key given.
        given: String,
        /// The pinned key.
        pinned: String,
    },
    /// The checkpoint carries a signature by the log key that does not verify.
    #[error("checkpoint signature by {key} is invalid")]
    BadSignature {
        /// The log key.
        key: String,
    },
    /// The checkpoint carries no signature by the log key.
    #[error("checkpoint is not signed by {key}")]
    NotSigned {
        /// The log key.
        key: String,
    },
    /// The checkpoint names a different log than the one remembered.
    #[error("checkpoint origin {served:?} differs from the remembered origin {remembered:?}")]
    OriginChanged {
        /// Remembered origin.
        remembered: String,
        /// Served origin.
        served: String,
    },
    /// The log shrank: a checkpoint older than one already verified.
    #[error("log shrank: served size {served} is below the remembered size {remembered}")]
    Rollback {
        /// Remembered size.
        remembered: u64,
        /// Served size.
        served: u64,
    },
    /// Two different signed roots for the same size: a fork.
    #[error("fork: size {size} was signed with root {remembered}, now with root {served}")]
    Fork {
        /// Tree size.
        size: u64,
        /// Remembered root.
        remembered: Hash,
        /// Served root.
        served: Hash,
    },
    /// The new tree does not extend the remembered one: history was rewritten.
    #[error(
        "history rewritten: the tree of size {new_size} is not consistent with the remembered \
         checkpoint of size {old_size} ({reason})"
    )]
    Inconsistent {
        /// Remembered size.
        old_size: u64,
        /// Served size.
        new_size: u64,
        /// Why the proof failed.
        reason: String,
    },
    /// A tile of the wrong length (truncated or padded).
    #[error("tile {path} has {got} bytes, expected {want}")]
    TileLength {
        /// Tile path.
        path: String,
        /// Bytes served.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
    /// A hash in an upper tile does not match the tile below it.
    #[error("hash {position} of {path} does not match the hash of tile {child}")]
    TileHashMismatch {
        /// Upper tile path.
        path: String,
        /// Position of the hash in that tile.
        position: usize,
        /// The tile below.
        child: String,
    },
    /// An entry bundle that cannot be decoded or has the wrong number of entries.
    #[error("malformed entry bundle {path}: {detail}")]
    MalformedBundle {
        /// Bundle path.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// An entry whose hash differs from its level-0 tile hash.
    #[error("entry {index} in {path} does not match its hash in {tile}")]
    EntryMismatch {
        /// Bundle path.
        path: String,
        /// Log index of the entry.
        index: u64,
        /// The level-0 tile.
        tile: String,
    },
    /// The root recomputed from the tiles differs from the signed root.
    #[error(
        "root recomputed from tiles {computed} differs from the signed root {signed} (size {size})"
    )]
    RootMismatch {
        /// Tree size.
        size: u64,
        /// Root from tiles.
        computed: Hash,
        /// Root in the checkpoint.
        signed: Hash,
    },
    /// Reading or writing the state directory failed.
    #[error("state {path}: {source}")]
    State {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The state directory holds something unreadable.
    #[error("state {path} is corrupt: {detail}")]
    CorruptState {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The checkpoint lacks the witness cosignatures asked for.
    #[error("checkpoint is not cosigned by enough witnesses: {0}")]
    Quorum(#[from] detente_tlog::witness::QuorumError),
    /// A hash needed for a proof is missing from the tiles.
    #[error("computing from tiles: {0}")]
    Tiles(String),
}
