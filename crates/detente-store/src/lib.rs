//! The storage contract of the detente node.
//!
//! [`Store`] is what the server needs from a backend; the default backend is
//! `detente-store-sqlite`, and nothing here is specific to it. The contract:
//!
//! - **Durability**: a method that returns `Ok` has committed its effect durably; a
//!   method that returns `Err` changed nothing (every write is one transaction).
//! - **Ingest** ([`Store::ingest`]): one call stores a whole envelope, and its status
//!   record, all or nothing, and reports one [`IngestOutcome`] per object in order (a backend
//!   may commit envelopes posted at once in one transaction, each in its own savepoint).
//!   Every accepted object version gets a `date_added` strictly greater than every
//!   `date_added` handed out before in this store (microseconds), so `date_added` is a total
//!   order and a paging position on its own. All versions are kept.
//! - **Queries** ([`Store::query_objects`]) return rows in ascending `date_added` order,
//!   strictly after [`ObjectQuery::after`] and [`ObjectQuery::added_after`], at most
//!   `limit` rows and about [`ObjectQuery::max_bytes`] bytes, with `more` telling whether
//!   further matching rows exist. Rows the [`Viewer`] may not see (TLP) are neither returned
//!   nor counted, and the version selection applies to the versions the viewer sees (`last`
//!   is the newest of those).
//! - **Ownership and copies** ([`rules`]): backends decide each posted object with
//!   [`rules::decide`] inside the ingest transaction and write [`rules::status_detail`]s.
//!   Value-identified objects (no `modified`/`created`) are kept per contributor, each copy
//!   a version whose version key is its `date_added`.
//! - **Members**: every change to members, grants, tokens or collections increments the
//!   counter returned by [`Store::generation`], so caches of credentials can be dropped.
//! - **Transparency log**: every stored object version and every deleted one appends one
//!   leaf (`detente-logentry` format) in the same transaction as the change, at the next
//!   index; leaves are never changed or removed. The sequencer reads them with
//!   [`Store::log_leaves`]; receipts come from [`Store::log_object_entry`] and
//!   [`Store::log_tombstones`].
//! - **PSI limits** ([`Store::psi_charge`]): a member's item budget and the set of answered
//!   session ids are in the store, charged and checked atomically, so nodes sharing a
//!   database share them.
//! - **Witnessing**: the witness state of an origin only moves by compare-and-set
//!   ([`Store::witness_advance`]), so of two concurrent requests from the same state at most
//!   one succeeds; trusted log keys, witness states and evidence are never removed.
//! - **Contributor keys**: binding a key to a member ([`Store::bind_key`]) appends a
//!   key-binding leaf in the same transaction; bindings are never removed, a new one
//!   supersedes the member's previous one.
//!   A partner's bindings the sync recorded are published ([`Store::peer_keys_publish`]) as
//!   key-binding leaves of this log too, under names no local member can hold
//!   (`peer:PARTNER/NAME`).
//! - **Federation**: a mirror page ([`Store::mirror_apply`]) stores its objects (through the
//!   same ingest rules and log entries), applies the partner's tombstones, keeps provenance
//!   and moves the mirror's positions in one transaction, by compare-and-set on the positions;
//!   a partner checkpoint is accepted by compare-and-set on the size ([`Store::peer_log_accept`]).
//! - Backends are `Send + Sync` and called from blocking threads; calls may run
//!   concurrently, and several handles (processes, nodes) may share one database.
//!
//! ## One serialization point for `date_added` and log indices
//!
//! A reader pages with `added_after = the last date_added it saw`, so a version must never
//! become visible with a `date_added` below one already visible, and log indices must be
//! contiguous. Each backend allocates both under one database-wide lock held until its
//! transaction commits, so the order of allocation is the order of visibility:
//!
//! - **SQLite**: `BEGIN IMMEDIATE` takes the file's single write lock; the last `date_added`
//!   is read from the `meta` row under it, and the next log index is `max(idx) + 1`.
//! - **PostgreSQL** (`detente-store-pg`): every writing transaction that allocates starts
//!   with `UPDATE sequence_point … RETURNING` on a single row holding the last `date_added`
//!   and the log size; the row lock serializes allocating transactions across every node and
//!   is released only at commit or rollback (no session advisory locks, which leak through
//!   connection pools).
//!
//! Both call [`entries::next_date_added`] with the value read there, and build log entries
//! with [`entries`], so the rule and the entry format have one home.
//!
//! ## Errors a caller may retry
//!
//! [`StoreError::Conflict`] means a concurrent transaction got in the way (a serialization
//! failure, a deadlock): nothing changed, and the same call may succeed if made again;
//! [`retry_conflicts`] does that a bounded number of times. [`StoreError::Unavailable`] means
//! the database cannot be reached now (fail-over, connection limit); the caller should come
//! back after the given delay.
//!
//! Per-process state: none.

#[cfg(feature = "testing")]
pub mod conformance;
pub mod entries;
mod flags;
mod keys;
pub mod migrations;
mod peers;
mod psi;
pub mod published;
pub mod rules;
mod types;
mod witness;

pub use flags::*;
pub use keys::*;
pub use peers::*;
pub use psi::*;
pub use types::*;
pub use witness::*;

/// What can go wrong in a store.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The named thing already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A value given to the store is out of its domain.
    #[error("invalid value: {0}")]
    Invalid(String),
    /// The backend failed (I/O, corruption, lock timeout); the message is for logs only.
    #[error("storage backend failed: {0}")]
    Backend(String),
    /// A concurrent transaction conflicted with this one (serialization failure, deadlock);
    /// nothing changed and the call may be repeated. The message is for logs only.
    #[error("conflict with a concurrent change: {0}")]
    Conflict(String),
    /// The database cannot be reached now (fail-over, no free connection); nothing changed.
    /// The message is for logs only.
    #[error("storage unavailable (retry after {retry_after:?}): {reason}")]
    Unavailable {
        /// Why.
        reason: String,
        /// When to try again.
        retry_after: std::time::Duration,
    },
}

impl StoreError {
    /// Whether repeating the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Conflict(_) | StoreError::Unavailable { .. }
        )
    }
}

/// How many times [`retry_conflicts`] makes a call that keeps conflicting.
pub const CONFLICT_ATTEMPTS: u32 = 8;

/// Makes `call` again while it fails with [`StoreError::Conflict`], at most
/// [`CONFLICT_ATTEMPTS`] times in all, waiting a little longer (with jitter) before each try,
/// so a valid write never fails only because another writer was busy.
pub fn retry_conflicts<T>(mut call: impl FnMut() -> Result<T>) -> Result<T> {
    let mut attempt = 0;
    loop {
        match call() {
            Err(StoreError::Conflict(_)) if attempt + 1 < CONFLICT_ATTEMPTS => {
                attempt += 1;
                // Jitter from the clock's sub-microsecond noise: writers that conflicted
                // together should not retry together.
                let jitter = u64::from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.subsec_nanos() % 1000)
                        .unwrap_or(0),
                );
                let wait = (1u64 << attempt.min(6)) * 1000 + jitter;
                std::thread::sleep(std::time::Duration::from_micros(wait));
            }
            other => return other,
        }
    }
}

/// Result of store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

/// The node's storage: members, collections, STIX object versions and status records.
pub trait Store: Send + Sync + 'static {
    /// A value that changes whenever members, grants, tokens or collections change.
    fn generation(&self) -> Result<u64>;

    /// A named node secret, created with `init` (32 random bytes) on first request.
    fn secret(&self, name: &str, init: &dyn Fn() -> Vec<u8>) -> Result<Vec<u8>>;

    /// Creates the API root at `path` (e.g. `/api/`), or returns false if it exists.
    fn ensure_api_root(&self, root: &ApiRootRecord) -> Result<bool>;
    /// Every API root, ordered by path.
    fn api_roots(&self) -> Result<Vec<ApiRootRecord>>;

    /// Adds a member; fails with `AlreadyExists` on a taken name.
    fn add_member(&self, member: &NewMember) -> Result<Member>;
    /// The member called `name`.
    fn member_by_name(&self, name: &str) -> Result<Option<Member>>;
    /// The member with id `id`.
    fn member_by_id(&self, id: MemberId) -> Result<Option<Member>>;
    /// Every member, ordered by name.
    fn members(&self) -> Result<Vec<Member>>;
    /// Disables or re-enables a member.
    fn set_disabled(&self, name: &str, disabled: bool) -> Result<()>;
    /// Replaces a member's secret hash.
    fn set_secret_hash(&self, name: &str, secret_hash: &str) -> Result<()>;
    /// Replaces a member's secret hash only while it still is `old` (so upgrading a hash at
    /// login never undoes a concurrent rotation); whether it did. The generation is unchanged.
    fn upgrade_secret_hash(&self, name: &str, old: &str, new: &str) -> Result<bool>;
    /// [`Store::upgrade_secret_hash`] for a token.
    fn upgrade_token_hash(&self, id: &str, old: &str, new: &str) -> Result<bool>;
    /// Changes a member's TLP clearance.
    fn set_clearance(&self, name: &str, clearance: Clearance) -> Result<()>;

    /// Adds a token for a member.
    fn add_token(&self, token: &TokenRecord) -> Result<()>;
    /// The token with this id, revoked or not.
    fn token(&self, id: &str) -> Result<Option<TokenRecord>>;
    /// Revokes a token; `NotFound` if there is no such token.
    fn revoke_token(&self, id: &str) -> Result<()>;

    /// Adds a collection; `AlreadyExists` on a taken id or alias.
    fn add_collection(&self, collection: &CollectionRecord) -> Result<()>;
    /// The collection with this id.
    fn collection(&self, id: &str) -> Result<Option<CollectionRecord>>;
    /// Every collection, in a stable order (creation order).
    fn collections(&self) -> Result<Vec<CollectionRecord>>;
    /// Sets (replaces) a member's access to a collection.
    fn grant(&self, collection: &str, member: &str, access: Access) -> Result<()>;
    /// Removes a member's access to a collection; `NotFound` if it had none there.
    fn revoke(&self, collection: &str, member: &str) -> Result<()>;
    /// A member's grants, as (collection id, access).
    fn grants_of(&self, member: MemberId) -> Result<Vec<(String, Access)>>;

    /// Stores an envelope's object versions and its status record in one transaction.
    ///
    /// This and [`Store::mirror_apply`] (same rules, same log entries) are the only paths by
    /// which object versions enter the store.
    fn ingest(&self, batch: IngestBatch) -> Result<IngestReport>;

    /// Object versions matching a query, one page.
    fn query_objects(&self, query: &ObjectQuery) -> Result<Page>;

    /// Deletes the matching versions of one object within `scope`, logging a tombstone for
    /// each, and returns them.
    fn delete_object(
        &self,
        collection: &str,
        object_id: &str,
        versions: &VersionMatch,
        spec_versions: &[String],
        scope: &DeleteScope,
    ) -> Result<Vec<DeletedVersion>>;

    /// A status record.
    fn status(&self, id: &str) -> Result<Option<StatusRecord>>;

    /// Number of leaves appended to the transparency log so far.
    fn log_size(&self) -> Result<u64>;
    /// Log leaves with index in `start..end`, in index order.
    fn log_leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>>;
    /// The log entry of the stored object version added at `date_added`.
    fn log_object_entry(&self, date_added: i64) -> Result<Option<ObjectLogEntry>>;
    /// The log entries of the stored object versions added at `date_added` (`None` where
    /// absent), in the order asked: one query for a whole page (the federation feed).
    fn log_object_entries(&self, date_added: &[i64]) -> Result<Vec<Option<ObjectLogEntry>>>;
    /// Tombstones of deleted versions of one object that `viewer` could see before the
    /// deletion, in log order.
    fn log_tombstones(
        &self,
        collection: &str,
        object_id: &str,
        viewer: &Viewer,
    ) -> Result<Vec<TombstoneLogEntry>>;

    /// Appends a PSI session to the audit table.
    fn record_psi_session(&self, record: &PsiSessionRecord) -> Result<()>;
    /// The latest `limit` audited PSI sessions, oldest first.
    fn psi_sessions(&self, limit: usize) -> Result<Vec<PsiSessionRecord>>;
    /// Charges a PSI session to its peer's budget and records its session id, in one
    /// transaction that serializes with every other charge of that peer on any handle of the
    /// database ([`decide_psi_charge`] under the lock): `Replayed` if the id was recorded
    /// before (session ids are kept for good), `Exhausted` if the peer's charges made after
    /// [`PsiCharge::window_start`] plus the cost exceed the limit. A refusal, or a dry run,
    /// changes nothing.
    fn psi_charge(&self, charge: &PsiCharge) -> Result<PsiChargeOutcome>;

    // --- Witnessing (issue 12) ---

    /// Trusts a log key for an origin; false if it was trusted already. Trust is never
    /// removed: a log dropped and re-added could otherwise be cosigned on a split view.
    fn witness_trust(&self, origin: &str, vkey: &str) -> Result<bool>;
    /// The trusted keys of an origin, in the order they were trusted.
    fn witness_trusted(&self, origin: &str) -> Result<Vec<String>>;
    /// Every trusted log key, ordered by origin then time trusted.
    fn witness_trusted_logs(&self) -> Result<Vec<TrustedLog>>;
    /// What the witness last cosigned for an origin.
    fn witness_state(&self, origin: &str) -> Result<Option<WitnessState>>;
    /// Every origin's witness state, ordered by origin.
    fn witness_states(&self) -> Result<Vec<WitnessState>>;
    /// Compare-and-set: stores `new` as the origin's state only if the current state is
    /// exactly `expected` (size and root; `None`: no state yet). False if it was not.
    fn witness_advance(&self, expected: Option<(u64, &[u8])>, new: &WitnessState) -> Result<bool>;
    /// Several compare-and-sets applied in order and made durable together (a witness commits
    /// the requests that queued during one write with the next); one result per op, as
    /// [`Store::witness_advance`] would give them in that order.
    fn witness_advance_batch(&self, ops: &[WitnessAdvance]) -> Result<Vec<bool>> {
        ops.iter()
            .map(|o| {
                let expected = o.expected.as_ref().map(|(s, r)| (*s, r.as_slice()));
                self.witness_advance(expected, &o.new)
            })
            .collect()
    }
    /// Keeps evidence of a conflict, once per (origin, conflicting note); false if kept already.
    fn witness_record_evidence(&self, evidence: &WitnessEvidence) -> Result<bool>;
    /// Every kept conflict, oldest first.
    fn witness_evidence(&self) -> Result<Vec<WitnessEvidence>>;
    /// Registers a witness of this node's log; `AlreadyExists` if its key is registered.
    fn log_add_witness(&self, witness: &LogWitness) -> Result<()>;
    /// The witnesses of this node's log, in the order they were registered.
    fn log_witnesses(&self) -> Result<Vec<LogWitness>>;

    // --- Contributor keys (issue 13) ---

    /// Binds `member` to the contributor verifier key `vkey` (superseding its current one),
    /// appending a key-binding leaf in the same transaction. `NotFound` for an unknown member;
    /// `AlreadyExists` if `vkey` is the member's current key (nothing is logged).
    fn bind_key(&self, member: &str, vkey: &str) -> Result<KeyBindingRecord>;
    /// Every key binding ever made, in log order.
    fn key_bindings(&self) -> Result<Vec<KeyBindingRecord>>;
    /// The member's current (latest) key binding.
    fn current_key(&self, member: &str) -> Result<Option<KeyBindingRecord>>;
    /// Sets whether a collection refuses objects without a contributor signature.
    fn set_require_signatures(&self, collection: &str, required: bool) -> Result<()>;

    // --- Peers and mirrors (issue 13) ---

    /// Adds a partner node and its local identity member (disabled) in one transaction;
    /// `AlreadyExists` on a taken peer or member name.
    fn peer_add(&self, peer: &NewPeer) -> Result<PeerRecord>;
    /// The partner called `name`.
    fn peer(&self, name: &str) -> Result<Option<PeerRecord>>;
    /// Every partner, ordered by name.
    fn peers(&self) -> Result<Vec<PeerRecord>>;
    /// Mirrors a partner collection into a local one; `NotFound` for an unknown peer or local
    /// collection, `AlreadyExists` if that partner collection is already mirrored there.
    fn peer_add_mirror(
        &self,
        peer: &str,
        remote_collection: &str,
        local_collection: &str,
    ) -> Result<MirrorRecord>;
    /// The mirrors of one partner (every partner when `None`), in the order they were added.
    fn mirrors(&self, peer: Option<&str>) -> Result<Vec<MirrorRecord>>;
    /// Stores fetched partner log entries from index `start` on (not yet accepted: they
    /// count only below the accepted size); replaces any stored at those indices.
    fn peer_leaves_put(&self, peer: &str, start: u64, leaves: &[Vec<u8>]) -> Result<()>;
    /// Records a partner's key bindings (proven against its log) in one transaction; those
    /// already recorded (same peer and partner index) are skipped. A new binding of a member
    /// whose bindings are published is published too. Returns the new ones.
    fn peer_keys_record(
        &self,
        peer: &str,
        bindings: &[PeerKeyBinding],
    ) -> Result<Vec<PeerKeyBinding>>;
    /// Publishes every unpublished recorded binding of these partner members, in the
    /// partner's log order, each as a key-binding entry of this node's log for
    /// [`PeerKeyBinding::member`], in one transaction; how many it published.
    fn peer_keys_publish(&self, peer: &str, partner_members: &[String]) -> Result<u64>;
    /// Every recorded key binding of a partner, in the partner's log order.
    fn peer_keys(&self, peer: &str) -> Result<Vec<PeerKeyBinding>>;
    /// Stored partner log entries at `indices` (`None` where absent), in the same order.
    fn peer_leaves_at(&self, peer: &str, indices: &[u64]) -> Result<Vec<Option<Vec<u8>>>>;
    /// Compare-and-set: accepts `new` as the partner's checkpoint if the accepted size is
    /// still `expected` (`None`: none yet); false if it was not.
    fn peer_log_accept(&self, peer: &str, expected: Option<u64>, new: &PeerLog) -> Result<bool>;
    /// Applies one verified mirror page in one transaction; `Invalid` if the mirror's
    /// positions are no longer `page.expected` (another sync applied it).
    fn mirror_apply(&self, page: &MirrorPage) -> Result<MirrorApplied>;
    /// Provenance of the mirrored versions among `date_added` values of a collection.
    fn mirror_provenance(&self, collection: &str, date_added: &[i64]) -> Result<Vec<Provenance>>;
    /// Tombstones of a collection's versions that `viewer` could see, with log index above
    /// `after`, in log order, at most `limit`.
    fn log_tombstones_after(
        &self,
        collection: &str,
        viewer: &Viewer,
        after: i64,
        limit: usize,
    ) -> Result<Vec<TombstoneFeedEntry>>;

    // --- Protected assets and ingest flags (issues 14, 16) ---

    /// Adds a warninglist, or replaces the one with the same key and collection; true if it
    /// is new. `NotFound` for an unknown collection. Increments the generation.
    fn flag_warninglist_put(&self, list: &WarninglistRecord) -> Result<bool>;
    /// Removes a warninglist; `NotFound` if there is none with that key and collection.
    /// Increments the generation.
    fn flag_warninglist_remove(&self, key: &str, collection: Option<&str>) -> Result<()>;
    /// Every warninglist, in the order added.
    fn flag_warninglists(&self) -> Result<Vec<WarninglistRecord>>;
    /// Adds a protected asset; false if it is there already (same kind, value and
    /// collection). `NotFound` for an unknown collection. Increments the generation when it
    /// adds.
    fn asset_add(&self, asset: &AssetRecord) -> Result<bool>;
    /// Removes a protected asset; `NotFound` if there is none. Increments the generation.
    fn asset_remove(&self, kind: AssetKind, value: &str, collection: Option<&str>) -> Result<()>;
    /// Every protected asset, ordered by kind, value and collection.
    fn assets(&self) -> Result<Vec<AssetRecord>>;
    /// Records flags the node wrote (their notes went through [`Store::ingest`]).
    fn flag_record(&self, flags: &[FlagRecord]) -> Result<()>;
    /// The latest `limit` flags, oldest first.
    fn flags(&self, limit: usize) -> Result<Vec<FlagRecord>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_are_retried_a_bounded_number_of_times() {
        let mut calls = 0;
        let r: Result<u32> = retry_conflicts(|| {
            calls += 1;
            if calls < 3 {
                Err(StoreError::Conflict("busy".into()))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 3);
        let mut calls = 0;
        let r: Result<()> = retry_conflicts(|| {
            calls += 1;
            Err(StoreError::Conflict("always".into()))
        });
        assert!(matches!(r, Err(StoreError::Conflict(_))));
        assert_eq!(calls, CONFLICT_ATTEMPTS);
        // Other errors are not retried.
        let mut calls = 0;
        let r: Result<()> = retry_conflicts(|| {
            calls += 1;
            Err(StoreError::Backend("disk".into()))
        });
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }
}
