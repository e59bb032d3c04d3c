//! The verification run.

use std::collections::HashMap;

use detente_tlog::hash::{leaf_hash, subtree_root};
use detente_tlog::note::NoteError;
use detente_tlog::proof::{prove_consistency, tree_root, verify_consistency};
use detente_tlog::tile::{
    TILE_WIDTH, TileError, TileHashReader, TileReadError, TileSource, decode_bundle_for,
    decode_tile, tile_containing, tiles_for_size,
};
use detente_tlog::witness::check_quorum;
use detente_tlog::{Checkpoint, Hash, Note, TileId, VerifierKey, Verifiers};

use crate::{ClientError, Fetcher, State};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The log's verifier key; if absent, the key pinned in the state is used.
    pub key: Option<VerifierKey>,
    /// Skip the entry bundles (only hash tiles are checked).
    pub skip_entries: bool,
    /// Witnesses whose cosignatures count towards [`Options::quorum`].
    pub witnesses: Vec<VerifierKey>,
    /// Valid cosignatures by distinct `witnesses` the checkpoint needs (0: none).
    pub quorum: usize,
}

/// What a successful run verified.
#[derive(Debug, Clone)]
pub struct Report {
    /// The log's origin.
    pub origin: String,
    /// The verified tree size.
    pub size: u64,
    /// The verified root.
    pub root: Hash,
    /// The key that signed it.
    pub key: String,
    /// Whether the key was pinned by this run.
    pub pinned_key: bool,
    /// The size of the remembered checkpoint it was shown consistent with.
    pub previous_size: Option<u64>,
    /// Hash tiles fetched and checked.
    pub tiles: usize,
    /// Entry bundles fetched and checked.
    pub bundles: usize,
    /// The witnesses (vkeys) whose valid cosignatures the checkpoint carries, when a quorum
    /// was asked for.
    pub cosigned_by: Vec<String>,
}

/// Fetches tiles, checking each body's length, and keeps the ones needed again (upper levels
/// and partial tiles; full level-0 tiles are read once during the audit).
struct Tiles<'a, F: Fetcher> {
    fetcher: &'a F,
    cache: HashMap<TileId, Vec<u8>>,
    fetched: usize,
}

impl<F: Fetcher> Tiles<'_, F> {
    fn get(&mut self, tile: TileId) -> Result<Vec<u8>, ClientError> {
        if let Some(b) = self.cache.get(&tile) {
            return Ok(b.clone());
        }
        let body = self.fetcher.fetch(&tile.path())?;
        self.fetched += 1;
        if body.len() != tile.byte_len() {
            return Err(ClientError::TileLength {
                path: tile.path(),
                got: body.len(),
                want: tile.byte_len(),
            });
        }
        if tile.level > 0 || !tile.is_full() {
            self.cache.insert(tile, body.clone());
        }
        Ok(body)
    }

    fn hashes(&mut self, tile: TileId) -> Result<Vec<Hash>, ClientError> {
        let body = self.get(tile)?;
        decode_tile(tile, &body).map_err(tile_error)
    }
}

impl<F: Fetcher> TileSource for &mut Tiles<'_, F> {
    type Error = ClientError;
    fn read_tile(&mut self, tile: TileId) -> Result<Vec<u8>, ClientError> {
        self.get(tile)
    }
}

fn tile_error(e: TileError) -> ClientError {
    match e {
        TileError::Length { path, got, want } => ClientError::TileLength { path, got, want },
        other => ClientError::Tiles(other.to_string()),
    }
}

fn read_error(e: TileReadError<ClientError>) -> ClientError {
    match e {
        TileReadError::Source { source, .. } => source,
        TileReadError::Tile(t) => tile_error(t),
        other => ClientError::Tiles(other.to_string()),
    }
}

/// Parses and verifies a checkpoint note with one key.
fn open_checkpoint(bytes: &[u8], key: &VerifierKey) -> Result<Checkpoint, ClientError> {
    let note = Note::parse(bytes).map_err(|e| ClientError::MalformedCheckpoint(e.to_string()))?;
    let checkpoint = Checkpoint::parse(note.text())
        .map_err(|e| ClientError::MalformedCheckpoint(e.to_string()))?;
    match note.verify(&Verifiers::new(vec![key.clone()])) {
        Ok(_) => Ok(checkpoint),
        Err(NoteError::InvalidSignature { .. }) => Err(ClientError::BadSignature {
            key: key.to_string(),
        }),
        Err(_) => Err(ClientError::NotSigned {
            key: key.to_string(),
        }),
    }
}

/// Chooses the key: the one given (which must match any pinned key) or the pinned one.
fn resolve_key(
    given: Option<VerifierKey>,
    state: Option<&State>,
    location: &str,
) -> Result<(VerifierKey, bool), ClientError> {
    let pinned = match state {
        Some(s) => s.pinned_key()?,
        None => None,
    };
    match (given, pinned) {
        (Some(k), Some(p)) if k.to_string() != p => Err(ClientError::KeyMismatch {
            given: k.to_string(),
            pinned: p,
        }),
        (Some(k), pinned) => Ok((k, pinned.is_none())),
        (None, Some(p)) => {
            let path = state.map_or_else(String::new, |s| s.path("key"));
            let key = VerifierKey::parse(&p).map_err(|e| ClientError::CorruptState {
                path,
                detail: e.to_string(),
            })?;
            Ok((key, false))
        }
        (None, None) => Err(ClientError::NoKey {
            url: location.to_owned(),
        }),
    }
}

/// Verifies the log behind `fetcher`; see the crate docs. The state (if any) is updated only
/// when every check passed.
pub fn verify_log<F: Fetcher>(
    fetcher: &F,
    state: Option<&State>,
    options: &Options,
) -> Result<Report, ClientError> {
    let (key, pin) = resolve_key(options.key.clone(), state, fetcher.location())?;
    let note_bytes = fetcher.fetch("checkpoint")?;
    let checkpoint = open_checkpoint(&note_bytes, &key)?;
    let n = checkpoint.size;
    let cosigned_by = if options.quorum > 0 || !options.witnesses.is_empty() {
        let note = Note::parse(&note_bytes)
            .map_err(|e| ClientError::MalformedCheckpoint(e.to_string()))?;
        check_quorum(&note, &options.witnesses, options.quorum)?
    } else {
        Vec::new()
    };

    let previous = match state.map(State::last_checkpoint).transpose()?.flatten() {
        Some(bytes) => {
            let path = state.map_or_else(String::new, |s| s.path("checkpoint"));
            let old = open_checkpoint(&bytes, &key).map_err(|e| ClientError::CorruptState {
                path,
                detail: e.to_string(),
            })?;
            if old.origin != checkpoint.origin {
                return Err(ClientError::OriginChanged {
                    remembered: old.origin,
                    served: checkpoint.origin,
                });
            }
            if old.size > n {
                return Err(ClientError::Rollback {
                    remembered: old.size,
                    served: n,
                });
            }
            if old.size == n && old.root != checkpoint.root {
                return Err(ClientError::Fork {
                    size: n,
                    remembered: old.root,
                    served: checkpoint.root,
                });
            }
            Some(old)
        }
        None => None,
    };

    let mut tiles = Tiles {
        fetcher,
        cache: HashMap::new(),
        fetched: 0,
    };
    let mut bundles = 0;
    for tile in tiles_for_size(n) {
        let hashes = tiles.hashes(tile)?;
        if tile.is_full() {
            // A full tile's hash is stored one level up; a partial one is never hashed upward.
            let parent = tile_containing(tile.level + 1, tile.index, n)
                .ok_or_else(|| ClientError::Tiles(format!("no parent for {tile}")))?;
            let position = (tile.index % TILE_WIDTH) as usize;
            let parent_hashes = tiles.hashes(parent)?;
            if parent_hashes.get(position) != Some(&subtree_root(&hashes)) {
                return Err(ClientError::TileHashMismatch {
                    path: parent.path(),
                    position,
                    child: tile.path(),
                });
            }
        }
        if tile.level == 0 && !options.skip_entries {
            let path = tile.entries_path();
            let body = fetcher.fetch(&path)?;
            bundles += 1;
            let entries =
                decode_bundle_for(tile, &body).map_err(|e| ClientError::MalformedBundle {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
            for (j, entry) in entries.iter().enumerate() {
                if leaf_hash(entry) != hashes[j] {
                    return Err(ClientError::EntryMismatch {
                        path,
                        index: tile.index * TILE_WIDTH + j as u64,
                        tile: tile.path(),
                    });
                }
            }
        }
    }

    let mut reader = TileHashReader::new(&mut tiles, n);
    let computed = tree_root(&mut reader, n).map_err(read_error)?;
    if computed != checkpoint.root {
        return Err(ClientError::RootMismatch {
            size: n,
            computed,
            signed: checkpoint.root,
        });
    }
    if let Some(old) = previous.as_ref().filter(|o| o.size > 0 && o.size < n) {
        let proof = prove_consistency(&mut reader, old.size, n).map_err(|e| match e {
            detente_tlog::proof::ProveError::Read(r) => read_error(r),
            other => ClientError::Tiles(other.to_string()),
        })?;
        verify_consistency(old.size, n, &old.root, &checkpoint.root, &proof).map_err(|e| {
            ClientError::Inconsistent {
                old_size: old.size,
                new_size: n,
                reason: e.to_string(),
            }
        })?;
    }
    drop(reader);

    if let Some(s) = state {
        if pin {
            s.pin_key(&key.to_string())?;
        }
        s.save_checkpoint(&note_bytes, fetcher.location())?;
    }
    Ok(Report {
        origin: checkpoint.origin,
        size: n,
        root: checkpoint.root,
        key: key.to_string(),
        pinned_key: pin && state.is_some(),
        previous_size: previous.map(|p| p.size),
        tiles: tiles.fetched,
        bundles,
        cosigned_by,
    })
}
