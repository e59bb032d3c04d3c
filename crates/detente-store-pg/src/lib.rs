//! PostgreSQL backend of the detente store, so several stateless nodes can share one database.
//!
//! [`PgStore::open`] takes a `postgres://` URL, applies the numbered migrations in
//! `migrations/` that the database lacks (recorded in `schema_version`, under a
//! transaction-level advisory lock so nodes starting together apply each once) and keeps a
//! pool of connections.
//!
//! **Driver.** The [`Store`](detente_store::Store) trait is synchronous and called from
//! blocking threads, so the backend uses the synchronous `postgres` client with an `r2d2`
//! pool (`r2d2_postgres`), both maintained with `tokio-postgres`: no async runtime is
//! threaded through the trait, and a pooled connection is checked out per call exactly as
//! the SQLite backend takes a reader. Connections use no TLS yet (a database on the nodes'
//! private network or a unix socket).
//!
//! **One serialization point.** Every transaction that hands out `date_added` values or log
//! indices (ingest, delete, key bindings, mirror pages) locks the single row of
//! `sequence_point` (`SELECT … FOR UPDATE`) before it allocates or writes, which holds the last `date_added` and the log
//! size, and writes it back before committing. The row lock is held to commit or rollback,
//! so allocating transactions of every node run one after the other in allocation order: a
//! version becomes visible only after every version with a smaller `date_added`, and log
//! indices are contiguous. Transaction-scoped, so nothing leaks through the pool the way a
//! session advisory lock would. Transactions run at READ COMMITTED: each statement after the
//! lock sees everything committed before it, so the ownership and duplicate rules see the
//! previous writer's rows. Objects, tombstones and log leaves change only under the lock.
//!
//! **Ingest holds that lock briefly** (`src/ingest.rs`): an envelope is read (in two
//! statements, a third if the collection knows some of its ids) and decided, and its log leaves built, before the lock, with the allocation
//! state the reads saw; then one statement (the function `ingest_write`) takes the lock,
//! writes every row, the new allocation state and the status record. If the
//! state moved meanwhile, the function checks under the lock that no writer touched the
//! envelope's ids since and moves the rows' `date_added` values and log indices past the
//! state it found; if one did, the envelope is read again and decided under the lock.
//! Envelopes that queue at one node while its group is being written, or waits for the lock,
//! are written as one group (`src/group.rs`): one transaction, one acquisition of the lock
//! and one commit, each envelope in its own savepoint, every caller answered after the commit.
//!
//! **PSI charges** ([`Store::psi_charge`](detente_store::Store::psi_charge)) serialize per
//! member instead: each first locks its budget key's row of `psi_peers` (an upsert, held to
//! commit), then reads that key's charges; a session id inserted concurrently for another key
//! is caught by `ON CONFLICT` on `psi_charges`' primary key and reported as a replay.
//!
//! **Compare-and-sets** (a mirror's paging positions, a partner's accepted checkpoint) are
//! one `UPDATE … WHERE <expected>` whose row count says whether it moved: at READ COMMITTED a
//! concurrent update waits for the row and re-checks the condition on the committed version,
//! so of nodes racing on one row exactly one wins. A mirror page moves its positions first,
//! then stores its objects through the same `ingest_tx` as
//! [`Store::ingest`](detente_store::Store::ingest), all in one transaction.
//!
//! **The published log** (tiles, checkpoint, sequencer lease) is in the database too
//! (`src/published.rs`, implementing
//! [`LogStorage`](detente_store::published::LogStorage)), so every node serves one log and
//! one sequencer at a time publishes it, fenced by the lease's epoch.
//!
//! **Errors.** Serialization failures and deadlocks become
//! [`StoreError::Conflict`](detente_store::StoreError::Conflict) (retried by the caller);
//! a lost connection, a server shutting down or in recovery, a read-only server (a replica
//! after fail-over) and an exhausted pool become
//! [`StoreError::Unavailable`](detente_store::StoreError::Unavailable).
//!
//! Per-process state: none global; each [`PgStore`] holds its own connection pool.

mod error;
mod flags;
mod group;
mod ingest;
mod keys;
mod peers;
mod published;
mod query;
mod schema;
mod store;
mod tx;
mod witness;

pub use store::PgStore;
