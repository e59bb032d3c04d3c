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
//!
//! SQLite syncs the database file only when a checkpoint reaches the end of the WAL, which a
//! `PASSIVE` checkpoint never does while writes keep coming. The copied pages then stayed
//! dirty until the writer's own checkpoint at [`WRITER_PAGES`], whose sync flushed them all
//! inside one commit: 94–149 ms every ~2.4 s under a POST-only load, most of that load's p99.
//! So this thread syncs the database file itself after each checkpoint that copied pages,
//! through a descriptor of its own; the writer's checkpoint is left with what one interval
//! copied. That descriptor is closed only after the thread's connection, and the thread is
//! joined when the store is dropped (after the store's other connections, by field order):
//! closing a descriptor drops every POSIX lock the process holds on the file, so it must not
//! close while this store's SQLite connections are open.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use detente_store::{Result, StoreError};

/// How often the WAL is checkpointed.
pub(crate) const INTERVAL: Duration = Duration::from_millis(250);

/// The writer's own automatic checkpoint threshold, in pages (SQLite's default is 1,000).
pub(crate) const WRITER_PAGES: u32 = 50_000;

/// The checkpointing thread; dropping this stops it and waits for it.
pub(crate) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the WAL of the database at `path` on a thread of its own.
    pub(crate) fn start(path: &Path) -> Result<Checkpointer> {
        let db = std::fs::File::open(path).map_err(|e| {
            StoreError::Backend(format!("cannot open {} to sync it: {e}", path.display()))
        })?;
        let conn = crate::tx::open_conn(path, false, 1024)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut last = None;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    // A busy or failed checkpoint or sync is retried at the next tick (and the
                    // writer checkpoints past WRITER_PAGES): nothing to report. A write-back
                    // error is not lost to SQLite: Linux reports it to every descriptor that
                    // was open when it happened, so SQLite's next sync of the file sees it.
                    let Ok(moved) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                    }) else {
                        continue;
                    };
                    // SQLite syncs the file only if no frame was appended while it copied, and
                    // what it reports does not say whether one was: sync whenever it copied.
                    if moved.1 > 0 && last != Some(moved) {
                        let _ = db.sync_data();
                    }
                    last = Some(moved);
                }
                drop(conn);
                drop(db);
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
