//! SQLite backend of the detente store.
//!
//! One file `detente.sqlite` in WAL mode with `synchronous=FULL`, so a committed ingest
//! survives a crash; the WAL is checkpointed by a background thread, not inside a commit
//! (`checkpoint.rs`). Writes go through one connection behind a mutex (SQLite has one
//! writer anyway); reads use a pool of connections and run concurrently with writes.
//! Envelopes are group-committed: each caller of `ingest` queues its envelope, and whoever
//! takes the writer next stores every queued one in one transaction (one WAL sync), each in
//! its own savepoint, and answers each after the commit; so an acknowledged envelope is
//! durable, and one that fails leaves nothing of itself and nothing of the others undone. The
//! schema comes from numbered migrations (`migrations/`, applied on open by `schema.rs`).
//!
//! Object versions live in `objects`, keyed by their `date_added` (µs, strictly increasing
//! across the store). The indexes cover every TAXII query:
//! `(coll, object_id, version_us)` for ids, versions and de-duplication,
//! `(coll, date_added) WHERE is_last` for the default "latest version" listing,
//! `(coll, date_added)` for all versions, and `(coll, object_type, date_added)` for types.
//! Before a by-id query or a member's delete scans an id's versions, the id gate
//! (migration `0002_id_gate.sql`, kept by triggers) says in one probe per table whether the viewer may see
//! any of them, so an id above the viewer's view costs what an absent one does.
//!
//! Per-process state: none global; each [`SqliteStore`] holds its writer connection, a pool of
//! readers and its WAL checkpoint thread (stopped when the store is dropped).

mod assets;
mod checkpoint;
mod id_gate;
mod keys;
mod peers;
mod psi_audit;
mod schema;
mod store;
mod tx;
mod witness;

pub use store::SqliteStore;
