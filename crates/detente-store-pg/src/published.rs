//! The published transparency log in the database, shared by every node on it
//! ([`LogStorage`]): tiles, the checkpoint and the sequencer lease.
//!
//! Every write of tree state runs in a transaction that first takes a share lock on the lease
//! row and checks its epoch: a takeover (an `UPDATE` of that row) waits for the write to
//! commit, and a write that comes after a takeover sees the new epoch and is fenced. The lease
//! is one `UPDATE … WHERE holder = me OR expired`, so of nodes racing for it one wins, and
//! its expiry is on the database's clock, so the nodes' clocks need not agree.

use std::time::Duration;

use detente_store::StoreError;
use detente_store::published::{LogResult, LogStorage, LogStorageError, PublishedCheckpoint};
use postgres::Transaction;

use crate::error::pg;
use crate::store::PgStore;

fn to_sql(n: u64, what: &str) -> LogResult<i64> {
    i64::try_from(n).map_err(|_| {
        LogStorageError::Store(StoreError::Invalid(format!("{what} {n} above 2^63-1")))
    })
}

/// Fails with `Fenced` unless `epoch` is the lease's, holding the lease row until commit.
fn fence(tx: &mut Transaction<'_>, epoch: u64) -> LogResult<()> {
    let current: i64 = tx
        .query_one(
            "SELECT epoch FROM sequencer_lease WHERE id = 1 FOR SHARE",
            &[],
        )
        .map_err(pg)?
        .get(0);
    if epoch == 0 || current.unsigned_abs() != epoch {
        return Err(LogStorageError::Fenced(epoch));
    }
    Ok(())
}

impl PgStore {
    /// Runs `f` in one transaction, committed if it returns `Ok`.
    fn log_tx<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> LogResult<T>) -> LogResult<T> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(pg)?;
        let out = f(&mut tx)?;
        tx.commit().map_err(pg)?;
        Ok(out)
    }
}

impl LogStorage for PgStore {
    fn tile(&self, path: &str) -> LogResult<Option<Vec<u8>>> {
        Ok(self.with(|c| {
            Ok(
                c.query_opt("SELECT body FROM log_tiles WHERE path = $1", &[&path])
                    .map_err(pg)?
                    .map(|r| r.get(0)),
            )
        })?)
    }

    fn put_tiles(&self, epoch: u64, tiles: &[(String, Vec<u8>)]) -> LogResult<()> {
        let paths: Vec<&str> = tiles.iter().map(|(p, _)| p.as_str()).collect();
        let bodies: Vec<&[u8]> = tiles.iter().map(|(_, b)| b.as_slice()).collect();
        self.log_tx(|tx| {
            fence(tx, epoch)?;
            tx.execute(
                "INSERT INTO log_tiles (path, body) SELECT * FROM unnest($1::text[], $2::bytea[])
                 ON CONFLICT (path) DO NOTHING",
                &[&paths, &bodies],
            )
            .map_err(pg)?;
            // A path written before (by this step redone, or a crashed one) must hold the same
            // bytes: tiles never change.
            let differs = tx
                .query_opt(
                    "SELECT t.path FROM log_tiles t
                     JOIN unnest($1::text[], $2::bytea[]) AS n(path, body) ON t.path = n.path
                     WHERE t.body <> n.body LIMIT 1",
                    &[&paths, &bodies],
                )
                .map_err(pg)?;
            match differs {
                Some(r) => Err(LogStorageError::Immutable(r.get(0))),
                None => Ok(()),
            }
        })
    }

    fn checkpoint(&self) -> LogResult<Option<PublishedCheckpoint>> {
        Ok(self.with(|c| {
            Ok(c.query_opt(
                "SELECT size, root, epoch, note FROM log_checkpoint WHERE id = 1",
                &[],
            )
            .map_err(pg)?
            .map(|r| PublishedCheckpoint {
                size: r.get::<_, i64>(0).unsigned_abs(),
                root: r.get(1),
                epoch: r.get::<_, i64>(2).unsigned_abs(),
                note: r.get(3),
            }))
        })?)
    }

    fn swap_checkpoint(
        &self,
        expected: Option<&PublishedCheckpoint>,
        new: &PublishedCheckpoint,
    ) -> LogResult<bool> {
        let (size, epoch) = (to_sql(new.size, "tree size")?, to_sql(new.epoch, "epoch")?);
        self.log_tx(|tx| {
            fence(tx, new.epoch)?;
            let n = match expected {
                None => tx.execute(
                    "INSERT INTO log_checkpoint (id, size, root, epoch, note)
                     VALUES (1, $1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[&size, &new.root, &epoch, &new.note],
                ),
                Some(old) => tx.execute(
                    "UPDATE log_checkpoint SET size = $1, root = $2, epoch = $3, note = $4
                     WHERE id = 1 AND size = $5 AND root = $6 AND epoch = $7",
                    &[
                        &size,
                        &new.root,
                        &epoch,
                        &new.note,
                        &to_sql(old.size, "tree size")?,
                        &old.root,
                        &to_sql(old.epoch, "epoch")?,
                    ],
                ),
            }
            .map_err(pg)?;
            Ok(n == 1)
        })
    }

    fn lease(&self, holder: &str, ttl: Duration) -> LogResult<Option<u64>> {
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        Ok(self.with(|c| {
            Ok(c.query_opt(
                "UPDATE sequencer_lease SET
                     epoch = CASE WHEN holder = $1 THEN epoch ELSE epoch + 1 END,
                     holder = $1,
                     expires = clock_timestamp() + $2::bigint * interval '1 millisecond'
                 WHERE id = 1 AND (holder = $1 OR expires <= clock_timestamp())
                 RETURNING epoch",
                &[&holder, &ms],
            )
            .map_err(pg)?
            .map(|r| r.get::<_, i64>(0).unsigned_abs()))
        })?)
    }
}
