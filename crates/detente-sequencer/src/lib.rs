//! Sequencer of detente's transparency log.
//!
//! The store appends log leaves in the same transaction as each change; [`Sequencer::step`]
//! integrates the new ones into a [`TreeBuilder`] and publishes a static tlog-tiles tree
//! through a [`LogStorage`]: `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`, then the
//! checkpoint, swapped by compare-and-set only after every tile it needs is stored. The
//! storage is a directory ([`FsLogStorage`], one node), memory ([`MemoryLogStorage`], tests)
//! or the nodes' shared database (`detente-store-pg`).
//!
//! Several nodes may run a sequencer over one storage: each step first takes or renews the
//! storage's lease, and only its holder publishes, with every write fenced by the lease's
//! epoch (`detente_store::published`). A sequencer whose step failed, or that (re)gained the
//! lease, reloads its tree from the published checkpoint and partial tiles before it goes
//! on, so whatever a crash or a lost lease left behind, it continues from what is published.
//!
//! Per-process state: none global; each [`Sequencer`] holds its tree, and [`witnessing::start`]
//! runs a supervisor thread and one submitter thread per witness for as long as the process
//! runs.

mod prover;
mod storage;
pub mod witnessing;

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use detente_store::Store;
use detente_store::published::{LogStorage, LogStorageError, PublishedCheckpoint};
use detente_tlog::tile::{self, TilePath};
use detente_tlog::{Checkpoint, Hash, Note, NoteSigner, TileId, TreeBuilder, leaf_hash};

pub use storage::{Faults, FsLogStorage, MemoryLogStorage};

/// Most leaves integrated per step (bounds memory and latency of one step).
const BATCH: u64 = 65_536;

/// How long a sequencer's lease lasts unless renewed (each step renews it).
pub const LEASE_TTL: Duration = Duration::from_secs(3);

/// Why the sequencer failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The log storage failed, refused an overwrite, or fenced this sequencer off.
    #[error(transparent)]
    Storage(#[from] LogStorageError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] detente_store::StoreError),
    /// Published state is inconsistent or malformed.
    #[error("published log state is corrupt: {0}")]
    Corrupt(String),
    /// The note or checkpoint could not be formed.
    #[error("signing the checkpoint failed: {0}")]
    Sign(String),
    /// The checkpoint moved under this sequencer (another one published); it reloads.
    #[error("the published checkpoint changed under this sequencer")]
    Moved,
}

pub use prover::{ProofError, Prover};

/// The latest checkpoint this process has seen, shared between the sequencer and the proof
/// server; it only ever grows.
#[derive(Debug, Default)]
pub struct Published {
    latest: RwLock<Option<Arc<Latest>>>,
}

/// A published checkpoint: its tree size and signed note bytes.
#[derive(Debug)]
pub struct Latest {
    /// Tree size.
    pub size: u64,
    /// The signed checkpoint note, as served at `checkpoint`.
    pub note: Vec<u8>,
    /// When this process published or first saw it.
    pub at: std::time::SystemTime,
}

impl Published {
    /// The latest checkpoint, if one was published.
    pub fn latest(&self) -> Option<Arc<Latest>> {
        self.latest
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records `cp` unless a checkpoint at least as large is known; returns the latest.
    fn advance(&self, cp: &PublishedCheckpoint) -> Arc<Latest> {
        if let Some(l) = self.latest().filter(|l| l.size >= cp.size) {
            return l;
        }
        let mut w = self.latest.write().unwrap_or_else(PoisonError::into_inner);
        match &*w {
            Some(l) if l.size >= cp.size => l.clone(),
            _ => {
                let l = Arc::new(Latest {
                    size: cp.size,
                    note: cp.note.clone(),
                    at: std::time::SystemTime::now(),
                });
                *w = Some(l.clone());
                l
            }
        }
    }
}

/// Builds and publishes the log from the store's leaves.
pub struct Sequencer {
    storage: Arc<dyn LogStorage>,
    origin: String,
    signer: NoteSigner,
    builder: TreeBuilder,
    published: Arc<Published>,
    /// The checkpoint the builder's state is at (as read or swapped).
    current: Option<PublishedCheckpoint>,
    /// Who this sequencer is in the lease.
    holder: String,
    ttl: Duration,
    /// The lease epoch held (0: none).
    epoch: u64,
    /// The builder must be reloaded from storage before the next step.
    stale: bool,
}

impl Sequencer {
    /// Opens the log published under `dir` (creating it empty), signing as `origin` with the
    /// Ed25519 `seed`: the one-node layout of a data directory.
    pub fn open(dir: &Path, origin: &str, seed: &[u8; 32]) -> Result<Self, Error> {
        let storage = Arc::new(FsLogStorage::open(dir)?);
        Self::with_storage(storage, origin, seed, "local")
    }

    /// Opens the log published in `storage`, signing as `origin` with the Ed25519 `seed`;
    /// `holder` names this sequencer in the lease (unique among the nodes sharing it).
    pub fn with_storage(
        storage: Arc<dyn LogStorage>,
        origin: &str,
        seed: &[u8; 32],
        holder: &str,
    ) -> Result<Self, Error> {
        let signer = NoteSigner::from_seed(origin, seed).map_err(|e| Error::Sign(e.to_string()))?;
        let mut s = Sequencer {
            storage,
            origin: origin.to_owned(),
            signer,
            builder: TreeBuilder::new(),
            published: Arc::new(Published::default()),
            current: None,
            holder: holder.to_owned(),
            ttl: LEASE_TTL,
            epoch: 0,
            stale: true,
        };
        s.reload()?;
        Ok(s)
    }

    /// Holds the lease for `ttl` at each renewal instead of [`LEASE_TTL`].
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Resumes the builder from the published checkpoint and its partial tiles.
    fn reload(&mut self) -> Result<(), Error> {
        let Some(cp) = self.storage.checkpoint()? else {
            self.builder = TreeBuilder::new();
            self.current = None;
            self.stale = false;
            return Ok(());
        };
        let size = cp.size;
        let mut partials = Vec::new();
        for level in 0u8..8 {
            let hashes = tile::hashes_at_level(size, level);
            if hashes == 0 {
                break;
            }
            let width = hashes % 256;
            if width == 0 {
                partials.push(Vec::new());
                continue;
            }
            let id = TileId {
                level,
                index: hashes / 256,
                width: u16::try_from(width).map_err(|e| Error::Corrupt(e.to_string()))?,
            };
            let body = self
                .storage
                .tile(&id.path())?
                .ok_or_else(|| Error::Corrupt(format!("{} is missing", id.path())))?;
            partials.push(tile::decode_tile(id, &body).map_err(|e| Error::Corrupt(e.to_string()))?);
        }
        let b =
            TreeBuilder::resume(size, partials).map_err(|e| Error::Corrupt(format!("{e:?}")))?;
        if b.root().as_bytes().as_slice() != cp.root.as_slice() {
            return Err(Error::Corrupt(
                "resumed tree root differs from the checkpoint".into(),
            ));
        }
        self.published.advance(&cp);
        self.builder = b;
        self.current = Some(cp);
        self.stale = false;
        Ok(())
    }

    /// The handle through which the latest checkpoint is seen (by a [`Prover`]).
    pub fn published(&self) -> Arc<Published> {
        self.published.clone()
    }

    /// The storage this sequencer publishes to (for a [`Prover`]).
    pub fn storage(&self) -> Arc<dyn LogStorage> {
        self.storage.clone()
    }

    /// The `vkey` line verifiers use for this log.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier().to_string()
    }

    /// Size of the tree integrated so far.
    pub fn size(&self) -> u64 {
        self.builder.size()
    }

    /// The lease epoch this sequencer holds (0 when it holds none).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Takes or renews the lease; true while this sequencer holds it. On taking it (or
    /// taking it back) the tree is reloaded from storage before the next step.
    pub fn lead(&mut self) -> Result<bool, Error> {
        match self.storage.lease(&self.holder, self.ttl)? {
            Some(e) => {
                if e != self.epoch {
                    self.epoch = e;
                    self.stale = true;
                }
                Ok(true)
            }
            None => {
                self.epoch = 0;
                Ok(false)
            }
        }
    }

    /// Integrates leaves appended since the last step (at most one batch) and publishes a new
    /// checkpoint, if this sequencer holds (or takes) the lease. Returns the published size,
    /// or `None` when there was nothing new (and a checkpoint already exists) or another
    /// sequencer holds the lease (then the published checkpoint is followed instead). After a
    /// failure the next step starts again from what is published.
    pub fn step<S: Store + ?Sized>(&mut self, store: &S) -> Result<Option<u64>, Error> {
        if !self.lead()? {
            if let Some(cp) = self.storage.checkpoint()? {
                self.published.advance(&cp);
            }
            self.stale = true;
            return Ok(None);
        }
        let r = self.publish(store);
        if r.is_err() {
            self.stale = true;
        }
        r
    }

    fn publish<S: Store + ?Sized>(&mut self, store: &S) -> Result<Option<u64>, Error> {
        if self.stale {
            self.reload()?;
        }
        let start = self.builder.size();
        let have = store.log_size()?;
        if have < start {
            return Err(Error::Corrupt(format!(
                "the store holds {have} leaves, the published tree {start}"
            )));
        }
        if have == start && self.current.is_some() {
            return Ok(None);
        }
        let end = have.min(start.saturating_add(BATCH));
        let leaves = store.log_leaves(start, end)?;
        if u64::try_from(leaves.len()).ok() != Some(end - start) {
            return Err(Error::Corrupt(format!(
                "store returned {} leaves for {start}..{end}",
                leaves.len()
            )));
        }
        for leaf in &leaves {
            self.builder.append(leaf_hash(leaf));
        }
        let mut tiles = Vec::new();
        let done = self.builder.take_full_tiles();
        let partial = self.builder.partial_tiles();
        for t in done.into_iter().chain(partial) {
            if t.id.level == 0 {
                tiles.push((t.id.entries_path(), entry_bundle(store, t.id)?));
            }
            tiles.push((t.id.path(), t.body));
        }
        self.storage.put_tiles(self.epoch, &tiles)?;
        let size = self.builder.size();
        let cp = Checkpoint::new(&self.origin, size, self.builder.root())
            .map_err(|e| Error::Sign(e.to_string()))?;
        let mut note = Note::new(cp.to_string()).map_err(|e| Error::Sign(e.to_string()))?;
        note.add_signature(self.signer.sign(note.text()))
            .map_err(|e| Error::Sign(e.to_string()))?;
        let new = PublishedCheckpoint {
            size,
            root: self.builder.root().as_bytes().to_vec(),
            epoch: self.epoch,
            note: note.to_bytes(),
        };
        if !self.storage.swap_checkpoint(self.current.as_ref(), &new)? {
            return Err(Error::Moved);
        }
        self.published.advance(&new);
        self.current = Some(new);
        Ok(Some(size))
    }
}

/// The entry bundle of level-0 tile `id`, from the store's leaves.
fn entry_bundle<S: Store + ?Sized>(store: &S, id: TileId) -> Result<Vec<u8>, Error> {
    let first = u64::try_from(id.first_entry()).map_err(|e| Error::Corrupt(e.to_string()))?;
    let leaves = store.log_leaves(first, first + u64::from(id.width))?;
    tile::encode_entry_bundle(leaves.iter().map(Vec::as_slice))
        .map_err(|e| Error::Corrupt(e.to_string()))
}

/// Reads `path` (relative to the log prefix: a canonical `tile/...` path, immutable once
/// published) from `storage`; `None` for anything else or anything not yet published.
pub fn read_published(
    storage: &dyn LogStorage,
    path: &str,
) -> Result<Option<Vec<u8>>, LogStorageError> {
    // Only canonical tile paths reach the storage, so no `..` or odd names can.
    let Ok(parsed) = TileId::parse_path(path) else {
        return Ok(None);
    };
    let canonical = match parsed {
        TilePath::Hashes(id) => id.path(),
        TilePath::Entries(id) => id.entries_path(),
    };
    if canonical != path {
        return Ok(None);
    }
    storage.tile(&canonical)
}

/// The size and root of the checkpoint published in `storage` (for tests and tools).
pub fn checkpoint_root(storage: &dyn LogStorage) -> Option<(u64, Hash)> {
    let cp = storage.checkpoint().ok()??;
    let note = Note::parse(&cp.note).ok()?;
    let cp = Checkpoint::parse(note.text()).ok()?;
    Some((cp.size, cp.root))
}
