//! WAL checkpoints off the commit path.
//!
//! With SQLite's automatic checkpoint, the commit that pushes the WAL past 1,000 pages copies
//! the WAL into the database file and syncs it before it returns: every few hundred commits one
//! request (and every request queued behind the writer) waits for that, which is what made the
//! witness's p99 jump at 1,000 requests/s. The writer connection therefore checkpoints itself
//! only past [`WRITER_PAGES`] (a safety net, should this thread fail or fall behind), and a
//! thread with its own connection runs a `PASSIVE` checkpoint (which never blocks writers or
//! readers) every [`INTERVAL`]. Durability is unchanged: a commit is
//! durable once its WAL frames are synced (`synchronous = FULL`); a checkpoint only moves
//! them. When the store is dropped the thread stops, and SQLite checkpoints the rest when the
//! last connection closes.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use detente_store::{Result, StoreError};

/// How often the WAL is checkpointed.
pub(crate) const INTERVAL: Duration = Duration::from_millis(250);

/// The writer's own automatic checkpoint threshold, in pages (SQLite's default is 1,000).
pub(crate) const WRITER_PAGES: u32 = 50_000;

/// The checkpointing thread; dropping this stops it.
pub(crate) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the WAL of the database at `path` on a thread of its own.
    pub(crate) fn start(path: &Path) -> Result<Checkpointer> {
        let conn = crate::tx::open_conn(path, false, 1024)?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    // A busy or failed checkpoint is retried at the next tick (and the writer
                    // checkpoints past WRITER_PAGES): nothing to report.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer { _stop: stop })
    }
}
