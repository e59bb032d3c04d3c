//! Two [`LogStorage`]s: the data directory's `log/` folder (one node), and memory (tests,
//! with failures injected on demand). The PostgreSQL one is `detente-store-pg`'s.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use detente_store::StoreError;
use detente_store::published::{LogResult, LogStorage, LogStorageError, PublishedCheckpoint};
use detente_tlog::{Checkpoint, Note};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LogStorageError + '_ {
    move |source| LogStorageError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The lease of a storage that lives in one process: who holds it, its epoch, its expiry.
#[derive(Debug, Default)]
struct LocalLease {
    holder: String,
    epoch: u64,
    expires: Option<Instant>,
}

impl LocalLease {
    fn take(&mut self, holder: &str, ttl: Duration, now: Instant) -> Option<u64> {
        let free = self.expires.is_none_or(|e| e <= now);
        if self.holder == holder && self.epoch > 0 {
            self.expires = Some(now + ttl);
            return Some(self.epoch);
        }
        if !free {
            return None;
        }
        self.holder = holder.to_owned();
        self.epoch += 1;
        self.expires = Some(now + ttl);
        Some(self.epoch)
    }

    /// Hands the lease to `holder` at once, as a takeover after expiry would.
    fn take_over(&mut self, holder: String, ttl: Duration, now: Instant) {
        self.holder = holder;
        self.epoch += 1;
        self.expires = Some(now + ttl);
    }

    fn check(&self, epoch: u64) -> LogResult<()> {
        if epoch == 0 || epoch != self.epoch {
            return Err(LogStorageError::Fenced(epoch));
        }
        Ok(())
    }
}

/// Whether `expected` names the published checkpoint (by size, root and epoch).
fn same(current: Option<&PublishedCheckpoint>, expected: Option<&PublishedCheckpoint>) -> bool {
    match (current, expected) {
        (None, None) => true,
        (Some(c), Some(e)) => c.size == e.size && c.root == e.root && c.epoch == e.epoch,
        _ => false,
    }
}

/// The published log as files under a directory: `tile/<L>/<N>[.p/<W>]`,
/// `tile/entries/<N>[.p/<W>]` and `checkpoint`, each written to a temporary file, synced and
/// renamed, so a checkpoint is visible only after the tiles it needs are durable. One process
/// publishes a directory, so the lease and the checkpoint's epoch live in that process.
#[derive(Debug)]
pub struct FsLogStorage {
    dir: PathBuf,
    state: Mutex<FsState>,
}

#[derive(Debug)]
struct FsState {
    lease: LocalLease,
    checkpoint: Option<PublishedCheckpoint>,
}

impl FsLogStorage {
    /// The log under `dir` (created if missing).
    pub fn open(dir: &Path) -> LogResult<FsLogStorage> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join("checkpoint");
        let checkpoint = match fs::read(&path) {
            Ok(note) => Some(
                parse_checkpoint(&note, 0).map_err(|why| LogStorageError::Io {
                    path: path.clone(),
                    source: io::Error::new(io::ErrorKind::InvalidData, why),
                })?,
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&path)(e)),
        };
        Ok(FsLogStorage {
            dir: dir.to_owned(),
            state: Mutex::new(FsState {
                lease: LocalLease::default(),
                checkpoint,
            }),
        })
    }

    /// Writes `rel` under the directory atomically (temporary file, sync, rename).
    fn write(&self, rel: &str, body: &[u8]) -> LogResult<()> {
        self.write_all(&[(rel, body)])
    }

    /// Writes every `(rel, body)` atomically: all temporary files first, then each synced,
    /// then each renamed into place. The first sync commits the file system's journal for
    /// all of them, so a step's tiles cost about one journal commit rather than one each
    /// (every commit competes with the database's WAL syncs, which POSTs wait for).
    fn write_all(&self, files: &[(&str, &[u8])]) -> LogResult<()> {
        use std::io::Write as _;
        let mut open = Vec::with_capacity(files.len());
        for (rel, body) in files {
            let path = self.dir.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            let tmp = path.with_extension("tmp~");
            let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(body).map_err(io_err(&tmp))?;
            open.push((f, tmp, path));
        }
        // Tiles are durable before the checkpoint that needs them is.
        for (f, tmp, _) in &open {
            f.sync_all().map_err(io_err(tmp))?;
        }
        for (_, tmp, path) in &open {
            fs::rename(tmp, path).map_err(io_err(path))?;
        }
        Ok(())
    }
}

/// The size and root of a signed checkpoint note.
pub(crate) fn parse_checkpoint(note: &[u8], epoch: u64) -> Result<PublishedCheckpoint, String> {
    let parsed = Note::parse(note).map_err(|e| e.to_string())?;
    let cp = Checkpoint::parse(parsed.text()).map_err(|e| e.to_string())?;
    Ok(PublishedCheckpoint {
        size: cp.size,
        root: cp.root.as_bytes().to_vec(),
        epoch,
        note: note.to_vec(),
    })
}

impl LogStorage for FsLogStorage {
    fn tile(&self, path: &str) -> LogResult<Option<Vec<u8>>> {
        let file = self.dir.join(path);
        match fs::read(&file) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&file)(e)),
        }
    }

    fn put_tiles(&self, epoch: u64, tiles: &[(String, Vec<u8>)]) -> LogResult<()> {
        lock(&self.state).lease.check(epoch)?;
        let mut new: Vec<(&str, &[u8])> = Vec::with_capacity(tiles.len());
        for (path, body) in tiles {
            // A path given twice in one call is compared with its first body, as if stored.
            let same = match new.iter().find(|(p, _)| *p == path.as_str()) {
                Some((_, first)) => Some(*first == body.as_slice()),
                None => self.tile(path)?.map(|have| have == *body),
            };
            match same {
                Some(true) => {}
                Some(false) => return Err(LogStorageError::Immutable(path.clone())),
                None => new.push((path.as_str(), body.as_slice())),
            }
        }
        self.write_all(&new)
    }

    fn checkpoint(&self) -> LogResult<Option<PublishedCheckpoint>> {
        Ok(lock(&self.state).checkpoint.clone())
    }

    fn swap_checkpoint(
        &self,
        expected: Option<&PublishedCheckpoint>,
        new: &PublishedCheckpoint,
    ) -> LogResult<bool> {
        let mut state = lock(&self.state);
        state.lease.check(new.epoch)?;
        if !same(state.checkpoint.as_ref(), expected) {
            return Ok(false);
        }
        self.write("checkpoint", &new.note)?;
        state.checkpoint = Some(new.clone());
        Ok(true)
    }

    fn lease(&self, holder: &str, ttl: Duration) -> LogResult<Option<u64>> {
        Ok(lock(&self.state).lease.take(holder, ttl, Instant::now()))
    }
}

/// What a [`MemoryLogStorage`] is told to get wrong next (each fault fires once).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Faults {
    /// Store this many more tiles, then fail the next tile write (the rest of that call is
    /// lost, as in a crash in the middle of a step).
    pub tiles_then_fail: Option<usize>,
    /// Fail the next checkpoint swap before applying it.
    pub swap_fails: bool,
    /// Apply the next checkpoint swap but report a failure (the answer was lost).
    pub swap_applied_then_fails: bool,
    /// Before the next tile write, hand the lease to this holder (as if the writer paused
    /// past its lease's expiry and another sequencer took over).
    pub lease_lost_before_tiles: Option<String>,
    /// Before the next checkpoint swap, hand the lease to this holder.
    pub lease_lost_before_swap: Option<String>,
}

/// A log storage in memory, for tests: it refuses to overwrite a tile with other bytes, as
/// every storage must, fails on demand ([`Faults`]), and has a clock tests can move forward
/// ([`MemoryLogStorage::advance`]) to expire the lease.
#[derive(Debug)]
pub struct MemoryLogStorage {
    start: Instant,
    inner: Mutex<Memory>,
}

#[derive(Debug, Default)]
struct Memory {
    tiles: HashMap<String, Vec<u8>>,
    checkpoint: Option<PublishedCheckpoint>,
    lease: LocalLease,
    skew: Duration,
    faults: Faults,
    tile_writes: u64,
}

impl Default for MemoryLogStorage {
    fn default() -> Self {
        MemoryLogStorage {
            start: Instant::now(),
            inner: Mutex::new(Memory::default()),
        }
    }
}

fn injected(what: &str) -> LogStorageError {
    LogStorageError::Store(StoreError::Backend(format!("injected failure: {what}")))
}

impl MemoryLogStorage {
    /// The storage's clock: real time plus what tests advanced it by.
    fn now(&self, m: &Memory) -> Instant {
        self.start + (self.start.elapsed() + m.skew)
    }

    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms the faults for the next calls.
    pub fn inject(&self, faults: Faults) {
        lock(&self.inner).faults = faults;
    }

    /// Moves the storage's clock forward (the lease expires when it passes the expiry).
    pub fn advance(&self, by: Duration) {
        lock(&self.inner).skew += by;
    }

    /// Every stored tile path with its bytes.
    pub fn tiles(&self) -> HashMap<String, Vec<u8>> {
        lock(&self.inner).tiles.clone()
    }

    /// How many tiles were stored or rewritten (identically) so far.
    pub fn tile_writes(&self) -> u64 {
        lock(&self.inner).tile_writes
    }

    /// Stores `body` at `path` whatever is there (a test corrupting or tearing a tile, as
    /// bad hardware or a bug would).
    pub fn overwrite(&self, path: &str, body: &[u8]) {
        lock(&self.inner)
            .tiles
            .insert(path.to_owned(), body.to_vec());
    }
}

impl LogStorage for MemoryLogStorage {
    fn tile(&self, path: &str) -> LogResult<Option<Vec<u8>>> {
        Ok(lock(&self.inner).tiles.get(path).cloned())
    }

    fn put_tiles(&self, epoch: u64, tiles: &[(String, Vec<u8>)]) -> LogResult<()> {
        let mut m = lock(&self.inner);
        if let Some(h) = m.faults.lease_lost_before_tiles.take() {
            let now = self.now(&m);
            m.lease.take_over(h, crate::LEASE_TTL, now);
        }
        m.lease.check(epoch)?;
        for (path, body) in tiles {
            if let Some(left) = m.faults.tiles_then_fail {
                if left == 0 {
                    m.faults.tiles_then_fail = None;
                    return Err(injected(&format!("writing {path}")));
                }
                m.faults.tiles_then_fail = Some(left - 1);
            }
            if m.tiles.get(path).is_some_and(|have| have != body) {
                return Err(LogStorageError::Immutable(path.clone()));
            }
            m.tiles.insert(path.clone(), body.clone());
            m.tile_writes += 1;
        }
        Ok(())
    }

    fn checkpoint(&self) -> LogResult<Option<PublishedCheckpoint>> {
        Ok(lock(&self.inner).checkpoint.clone())
    }

    fn swap_checkpoint(
        &self,
        expected: Option<&PublishedCheckpoint>,
        new: &PublishedCheckpoint,
    ) -> LogResult<bool> {
        let mut m = lock(&self.inner);
        if let Some(h) = m.faults.lease_lost_before_swap.take() {
            let now = self.now(&m);
            m.lease.take_over(h, crate::LEASE_TTL, now);
        }
        m.lease.check(new.epoch)?;
        if std::mem::take(&mut m.faults.swap_fails) {
            return Err(injected("swapping the checkpoint"));
        }
        if !same(m.checkpoint.as_ref(), expected) {
            return Ok(false);
        }
        m.checkpoint = Some(new.clone());
        if std::mem::take(&mut m.faults.swap_applied_then_fails) {
            return Err(injected("the checkpoint swap's answer"));
        }
        Ok(true)
    }

    fn lease(&self, holder: &str, ttl: Duration) -> LogResult<Option<u64>> {
        let mut m = lock(&self.inner);
        let now = self.now(&m);
        Ok(m.lease.take(holder, ttl, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiles(list: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
        list.iter()
            .map(|(p, b)| (p.to_string(), b.to_vec()))
            .collect()
    }

    #[test]
    fn a_step_of_tiles_is_written_whole_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FsLogStorage::open(dir.path()).unwrap();
        let epoch = fs.lease("a", Duration::from_secs(60)).unwrap().unwrap();
        let step = tiles(&[("tile/0/000", b"level 0"), ("tile/entries/000.p/3", b"abc")]);
        fs.put_tiles(epoch, &step).unwrap();
        for (path, body) in &step {
            assert_eq!(fs.tile(path).unwrap().as_deref(), Some(body.as_slice()));
        }
        // The same tiles again are accepted; a different body for a stored or a repeated
        // path is refused, and nothing of that call is written.
        fs.put_tiles(epoch, &step).unwrap();
        let changed = tiles(&[("tile/1/000", b"new"), ("tile/0/000", b"other")]);
        assert!(matches!(
            fs.put_tiles(epoch, &changed),
            Err(LogStorageError::Immutable(p)) if p == "tile/0/000"
        ));
        let twice = tiles(&[("tile/2/000", b"x"), ("tile/2/000", b"y")]);
        assert!(matches!(
            fs.put_tiles(epoch, &twice),
            Err(LogStorageError::Immutable(p)) if p == "tile/2/000"
        ));
        assert_eq!(
            fs.tile("tile/0/000").unwrap().as_deref(),
            Some(&b"level 0"[..])
        );
        assert_eq!(fs.tile("tile/1/000").unwrap(), None);
        assert_eq!(fs.tile("tile/2/000").unwrap(), None);
        // A stale epoch writes nothing.
        assert!(
            fs.put_tiles(epoch + 1, &tiles(&[("tile/3/000", b"z")]))
                .is_err()
        );
        assert_eq!(fs.tile("tile/3/000").unwrap(), None);
    }
}
