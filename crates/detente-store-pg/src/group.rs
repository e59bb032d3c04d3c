//! Group commit of envelopes at one node, as the SQLite backend does: envelopes that arrive
//! while a group is being written queue up, and whoever writes next writes them in one
//! transaction (one acquisition of the sequence lock, one commit and WAL flush), in queue
//! order, each caller answered only after the commit.
//!
//! The group grows while it waits for the lock: its first envelope's write takes the lock
//! (waiting for the other nodes' groups), and only then are the envelopes queued meanwhile
//! taken into the group, each in its own savepoint so that one failing leaves the others as
//! if alone. The first needs none: alone in the transaction when it fails, it is rolled back
//! with it and the rest start a new one. So with two requests in flight per node and the lock
//! busy with other nodes, each group holds both; an envelope alone costs one round trip under
//! the lock more than outside a group (the commit after the write).
//!
//! The writer is a caller, on its own pooled connection: no thread of its own. A group holds
//! at most one envelope per caller, and each caller holds a pooled connection while it waits,
//! so a group is never larger than the pool (its savepoints' subtransactions stay within the
//! 64 PostgreSQL tracks without overflow).

use std::sync::mpsc;
use std::sync::{Condvar, Mutex, MutexGuard};

use detente_store::{IngestReport, Result, StoreError};
use postgres::Client;

use crate::error::pg;
use crate::ingest::{Prepared, write_in};

/// An envelope waiting to be written, and where its result goes.
struct Queued {
    envelope: Prepared,
    reply: mpsc::Sender<Result<IngestReport>>,
}

/// The queue and whether a caller is writing a group now.
#[derive(Default)]
struct State {
    queue: Vec<Queued>,
    writing: bool,
}

/// One node's group commit of envelopes (see the module doc).
#[derive(Default)]
pub(crate) struct Groups {
    state: Mutex<State>,
    /// Signalled when a group's writer is done: its callers have their results, and another
    /// may write.
    done: Condvar,
}

impl Groups {
    /// Writes `envelope` with whatever else is queued, on connection `c` if this caller writes
    /// the group; its result once committed.
    pub(crate) fn submit(&self, c: &mut Client, envelope: Prepared) -> Result<IngestReport> {
        let (reply, result) = mpsc::channel();
        let mut state = self.lock()?;
        state.queue.push(Queued { envelope, reply });
        loop {
            // A writer before this caller may have written its envelope with its own group.
            match result.try_recv() {
                Ok(r) => return r,
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err(StoreError::Backend(
                        "the envelope's group gave no result".into(),
                    ));
                }
            }
            if state.writing {
                state = self.done.wait(state).map_err(|_| poisoned())?;
                continue;
            }
            state.writing = true;
            let group = std::mem::take(&mut state.queue);
            drop(state);
            self.write(c, group);
            state = self.lock()?;
            state.writing = false;
            self.done.notify_all();
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| poisoned())
    }

    /// Writes `group` and what joins it while its first write waits for the lock, and
    /// answers every caller.
    fn write(&self, c: &mut Client, group: Vec<Queued>) {
        let mut next = group.into_iter();
        while let Some(first) = next.next() {
            let mut tx = match c.transaction() {
                Ok(tx) => tx,
                Err(e) => {
                    let e = pg(e);
                    for q in std::iter::once(first).chain(next) {
                        let _ = q.reply.send(Err(e.clone()));
                    }
                    return;
                }
            };
            let report = match write_in(first.envelope, &mut tx) {
                Ok(r) => r,
                Err(e) => {
                    // Alone in the transaction, which rolls back on drop: the rest start anew.
                    drop(tx);
                    let _ = first.reply.send(Err(e));
                    continue;
                }
            };
            // The transaction holds the lock now: what queued meanwhile joins the group.
            let mut rest: Vec<Queued> = next.collect();
            if let Ok(mut s) = self.lock() {
                rest.append(&mut s.queue);
            }
            let mut rest = rest.into_iter();
            let mut done = vec![(first.reply, Ok(report))];
            let mut close = "";
            let committed = (|| {
                for q in rest.by_ref() {
                    tx.batch_execute(&format!("{close}SAVEPOINT envelope"))
                        .map_err(pg)?;
                    let r = write_in(q.envelope, &mut tx);
                    close = if r.is_ok() {
                        "RELEASE envelope; "
                    } else {
                        "ROLLBACK TO envelope; RELEASE envelope; "
                    };
                    done.push((q.reply, r));
                }
                if done.last().is_some_and(|d| d.1.is_err()) {
                    tx.batch_execute("ROLLBACK TO envelope").map_err(pg)?;
                }
                tx.commit().map_err(pg)
            })();
            match committed {
                Ok(()) => {
                    for (reply, r) in done {
                        // A caller that went away needs no answer.
                        let _ = reply.send(r);
                    }
                }
                Err(e) => {
                    // Nothing of the group was stored: every envelope fails with the reason.
                    for (reply, _) in done {
                        let _ = reply.send(Err(e.clone()));
                    }
                    for q in rest {
                        let _ = q.reply.send(Err(e.clone()));
                    }
                }
            }
            return;
        }
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend("ingest group lock poisoned".into())
}
