//! Sequencer of detente's transparency log.
//!
//! The store appends log leaves in the same transaction as each change; [`Sequencer::step`]
//! integrates the new ones into a [`TreeBuilder`] and publishes a static tlog-tiles tree under
//! a directory: `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]` and `checkpoint` (written
//! last, by atomic rename, so every tile a checkpoint needs exists before it is visible).
//! After a restart, [`Sequencer::open`] resumes from the published checkpoint and partial
//! tiles, then catches up from the store.

mod prover;
pub mod witnessing;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use detente_store::Store;
use detente_tlog::tile::{self, TilePath};
use detente_tlog::{Checkpoint, Hash, Note, NoteSigner, TileId, TreeBuilder, leaf_hash};

/// Most leaves integrated per step (bounds memory and latency of one step).
const BATCH: u64 = 65_536;

/// Why the sequencer failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the tile directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] detente_store::StoreError),
    /// Published state is inconsistent or malformed.
    #[error("published log state is corrupt: {0}")]
    Corrupt(String),
    /// The note or checkpoint could not be formed.
    #[error("signing the checkpoint failed: {0}")]
    Sign(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

pub use prover::{ProofError, Prover};

/// The latest published checkpoint, shared between the sequencer and the proof server.
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
    /// When this process published or loaded it.
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

    fn set(&self, latest: Latest) {
        *self.latest.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(latest));
    }
}

/// Builds and publishes the log from the store's leaves.
pub struct Sequencer {
    dir: PathBuf,
    origin: String,
    signer: NoteSigner,
    builder: TreeBuilder,
    published: Arc<Published>,
}

impl Sequencer {
    /// Opens the log published under `dir` (creating it empty), signing as `origin` with the
    /// Ed25519 `seed`.
    pub fn open(dir: &Path, origin: &str, seed: &[u8; 32]) -> Result<Self, Error> {
        let signer = NoteSigner::from_seed(origin, seed).map_err(|e| Error::Sign(e.to_string()))?;
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let cp_path = dir.join("checkpoint");
        let published = Arc::new(Published::default());
        let builder = match fs::read(&cp_path) {
            Ok(bytes) => {
                let note = Note::parse(&bytes).map_err(|e| Error::Corrupt(e.to_string()))?;
                let cp =
                    Checkpoint::parse(note.text()).map_err(|e| Error::Corrupt(e.to_string()))?;
                let size = cp.size;
                let mut partials = Vec::new();
                for level in 0u8..8 {
                    let width = tile::hashes_at_level(size, level) % 256;
                    if tile::hashes_at_level(size, level) == 0 {
                        break;
                    }
                    if width == 0 {
                        partials.push(Vec::new());
                        continue;
                    }
                    let id = TileId {
                        level,
                        index: tile::hashes_at_level(size, level) / 256,
                        width: u16::try_from(width).map_err(|e| Error::Corrupt(e.to_string()))?,
                    };
                    let p = dir.join(id.path());
                    let body = fs::read(&p).map_err(io_err(&p))?;
                    let hashes =
                        tile::decode_tile(id, &body).map_err(|e| Error::Corrupt(e.to_string()))?;
                    partials.push(hashes);
                }
                let b = TreeBuilder::resume(size, partials)
                    .map_err(|e| Error::Corrupt(format!("{e:?}")))?;
                if b.root() != cp.root {
                    return Err(Error::Corrupt(
                        "resumed tree root differs from the checkpoint".into(),
                    ));
                }
                published.set(Latest {
                    size,
                    note: bytes,
                    at: std::time::SystemTime::now(),
                });
                b
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => TreeBuilder::new(),
            Err(e) => return Err(io_err(&cp_path)(e)),
        };
        Ok(Sequencer {
            dir: dir.to_owned(),
            origin: origin.to_owned(),
            signer,
            builder,
            published,
        })
    }

    /// The handle through which the latest checkpoint is seen (by a [`Prover`]).
    pub fn published(&self) -> Arc<Published> {
        self.published.clone()
    }

    /// The `vkey` line verifiers use for this log.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier().to_string()
    }

    /// Size of the tree integrated so far.
    pub fn size(&self) -> u64 {
        self.builder.size()
    }

    /// Integrates leaves appended since the last step (at most one batch) and publishes a new
    /// checkpoint. Returns the published size, or `None` when there was nothing new (and a
    /// checkpoint already exists).
    pub fn step<S: Store + ?Sized>(&mut self, store: &S) -> Result<Option<u64>, Error> {
        let start = self.builder.size();
        let have = store.log_size()?;
        if have == start && self.dir.join("checkpoint").exists() {
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
        for t in self.builder.take_full_tiles() {
            self.write(&t.id.path(), &t.body)?;
            if t.id.level == 0 {
                self.write_entries(store, t.id)?;
            }
        }
        let size = self.builder.size();
        for t in self.builder.partial_tiles() {
            self.write(&t.id.path(), &t.body)?;
            if t.id.level == 0 {
                self.write_entries(store, t.id)?;
            }
        }
        let cp = Checkpoint::new(&self.origin, size, self.builder.root())
            .map_err(|e| Error::Sign(e.to_string()))?;
        let mut note = Note::new(cp.to_string()).map_err(|e| Error::Sign(e.to_string()))?;
        note.add_signature(self.signer.sign(note.text()))
            .map_err(|e| Error::Sign(e.to_string()))?;
        let bytes = note.to_bytes();
        self.write("checkpoint", &bytes)?;
        self.published.set(Latest {
            size,
            note: bytes,
            at: std::time::SystemTime::now(),
        });
        Ok(Some(size))
    }

    fn write_entries<S: Store + ?Sized>(&self, store: &S, id: TileId) -> Result<(), Error> {
        let first = u64::try_from(id.first_entry()).map_err(|e| Error::Corrupt(e.to_string()))?;
        let leaves = store.log_leaves(first, first + u64::from(id.width))?;
        let bundle = tile::encode_entry_bundle(leaves.iter().map(Vec::as_slice))
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        self.write(&id.entries_path(), &bundle)
    }

    /// Writes `rel` under the directory atomically (temporary file, then rename).
    fn write(&self, rel: &str, body: &[u8]) -> Result<(), Error> {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let tmp = path.with_extension("tmp~");
        {
            use std::io::Write as _;
            let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(body).map_err(io_err(&tmp))?;
            // Tiles are durable before the checkpoint that needs them is.
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io_err(&path))
    }
}

/// A published log resource: its bytes and whether it never changes (tiles) or may (checkpoint).
#[derive(Debug)]
pub struct Resource {
    /// Body.
    pub body: Vec<u8>,
    /// True for tiles and bundles, false for the checkpoint.
    pub immutable: bool,
}

/// Reads `path` (relative to the log prefix: `checkpoint` or a canonical `tile/...` path) from
/// the directory; `None` for anything else or anything not yet published.
pub fn read_published(dir: &Path, path: &str) -> Option<Resource> {
    if path == "checkpoint" {
        return fs::read(dir.join("checkpoint")).ok().map(|body| Resource {
            body,
            immutable: false,
        });
    }
    // Only canonical tile paths reach the file system, so no `..` or odd names can.
    let canonical = match TileId::parse_path(path).ok()? {
        TilePath::Hashes(id) => id.path(),
        TilePath::Entries(id) => id.entries_path(),
    };
    if canonical != path {
        return None;
    }
    fs::read(dir.join(&canonical)).ok().map(|body| Resource {
        body,
        immutable: true,
    })
}

/// Decodes the root of a published checkpoint (for tests and tools).
pub fn checkpoint_root(dir: &Path) -> Option<(u64, Hash)> {
    let note = Note::parse(&fs::read(dir.join("checkpoint")).ok()?).ok()?;
    let cp = Checkpoint::parse(note.text()).ok()?;
    Some((cp.size, cp.root))
}
