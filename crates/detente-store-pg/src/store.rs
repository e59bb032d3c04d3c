//! [`PgStore`]: the [`Store`] implementation.

use std::collections::HashMap;
use std::time::Duration;

use detente_store::entries::{self, LogEntry, details_from_json, details_to_json, now_micros};
use detente_store::rules::{self, Held, HeldVersion, Poster};
use detente_store::{
    Access, ApiRootRecord, AssetKind, AssetRecord, Clearance, CollectionRecord, DeleteScope,
    DeletedVersion, FlagRecord, IngestBatch, IngestOutcome, IngestReport, KeyBindingRecord,
    LogWitness, Member, MemberId, MirrorApplied, MirrorPage, MirrorRecord, NewMember, NewPeer,
    ObjectLogEntry, ObjectQuery, Page, PeerLog, PeerRecord, Provenance, PsiCharge,
    PsiChargeOutcome, PsiSessionRecord, Result, StatusRecord, Store, StoreError, StoredObject,
    TokenRecord, TombstoneFeedEntry, TombstoneLogEntry, TrustedLog, VersionMatch, Viewer,
    WarninglistRecord, WitnessAdvance, WitnessEvidence, WitnessState, tlp_from_stored,
};
use postgres::{GenericClient, NoTls, Transaction};
use r2d2_postgres::PostgresConnectionManager;

use crate::error::{pg, taken_or_pg, unavailable};
use crate::query::{
    Arg, Args, LATEST_SPEC_VERSION, in_list, may_see, version_cond, vis_of, vis_params,
};
use crate::witness;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
type Conn = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// Connections kept per node: enough for the blocking threads that call the store at once.
const POOL_SIZE: u32 = 32;
/// How long a call waits for a free connection before the store reports itself unavailable.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// A detente store in a PostgreSQL database, shareable by several nodes.
pub struct PgStore {
    pool: Pool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn bump_generation(c: &mut impl GenericClient) -> Result<()> {
    c.execute(
        "UPDATE counters SET value = value + 1 WHERE name = 'generation'",
        &[],
    )
    .map_err(pg)?;
    Ok(())
}

fn to_member(r: &postgres::Row) -> Result<Member> {
    Ok(Member {
        id: r.get(0),
        name: r.get(1),
        role: r.get::<_, String>(2).parse()?,
        clearance: r.get::<_, String>(3).parse()?,
        disabled: r.get(4),
        secret_hash: r.get(5),
    })
}

fn to_collection(r: &postgres::Row) -> CollectionRecord {
    CollectionRecord {
        id: r.get(0),
        api_root: r.get(1),
        title: r.get(2),
        description: r.get(3),
        alias: r.get(4),
        require_signatures: r.get(5),
    }
}

pub(crate) fn coll_key(c: &mut impl GenericClient, id: &str) -> Result<i64> {
    c.query_opt("SELECT coll FROM collections WHERE id = $1", &[&id])
        .map_err(pg)?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::NotFound(format!("collection {id}")))
}

/// The allocation state, locked for the rest of the transaction: the one serialization point
/// of `date_added` and log indices across every node (see the crate doc).
pub(crate) struct Sequence {
    last_date_added: i64,
    log_size: i64,
}

impl Sequence {
    pub(crate) fn lock(tx: &mut Transaction<'_>) -> Result<Sequence> {
        let r = tx
            .query_one(
                "SELECT last_date_added, log_size FROM sequence_point FOR UPDATE",
                &[],
            )
            .map_err(pg)?;
        Ok(Sequence {
            last_date_added: r.get(0),
            log_size: r.get(1),
        })
    }

    pub(crate) fn next_date_added(&mut self) -> i64 {
        self.last_date_added = entries::next_date_added(self.last_date_added);
        self.last_date_added
    }

    /// The next log index, for a leaf the caller inserts in this transaction.
    fn reserve(&mut self) -> i64 {
        self.log_size += 1;
        self.log_size - 1
    }

    /// Appends a leaf at the next index; its index.
    pub(crate) fn append(&mut self, tx: &mut Transaction<'_>, entry: &LogEntry) -> Result<i64> {
        let idx = self.reserve();
        tx.execute(
            "INSERT INTO log_leaves (idx, leaf) VALUES ($1, $2)",
            &[&idx, &entry.leaf],
        )
        .map_err(pg)?;
        Ok(idx)
    }

    pub(crate) fn store(&self, tx: &mut Transaction<'_>) -> Result<()> {
        tx.execute(
            "UPDATE sequence_point SET last_date_added = $1, log_size = $2",
            &[&self.last_date_added, &self.log_size],
        )
        .map_err(pg)?;
        Ok(())
    }
}

fn poster(tx: &mut Transaction<'_>, id: MemberId) -> Result<Poster> {
    let row = tx
        .query_opt(
            "SELECT name, role, clearance FROM members WHERE id = $1",
            &[&id],
        )
        .map_err(pg)?
        .map(|r| (r.get(0), r.get(1), r.get(2)));
    Poster::from_row(id, row)
}

/// A stored version with the same id and version key as a posted one, as the rules need it.
struct SameVersion {
    body: String,
    tlp: i64,
    contributor: MemberId,
    recipients: Vec<String>,
}

/// What the store holds for the ids of one envelope, read with one query per kind and then
/// kept up to date in memory as the envelope's own objects are stored (a later object of the
/// envelope sees the earlier ones, as if each were written before the next was decided).
#[derive(Default)]
struct Holdings {
    owners: HashMap<String, MemberId>,
    same: HashMap<(String, i64), SameVersion>,
    own_copies: HashMap<String, Vec<(i64, String)>>,
    bounds: HashMap<String, (i64, i64)>,
}

impl Holdings {
    fn read(tx: &mut Transaction<'_>, coll: i64, batch: &IngestBatch) -> Result<Holdings> {
        let mut ids: Vec<&str> = batch.objects.iter().map(|o| o.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let (keyed_ids, keyed_versions): (Vec<&str>, Vec<i64>) = batch
            .objects
            .iter()
            .filter_map(|o| Some((o.id.as_str(), o.version_micros?)))
            .unzip();
        let mut h = Holdings::default();
        // The owner is the contributor of the first version ever stored, deleted ones included.
        for r in tx
            .query(
                "SELECT DISTINCT ON (object_id) object_id, contributor FROM (
                   SELECT object_id, date_added, contributor FROM objects
                     WHERE coll = $1 AND object_id = ANY($2) AND version IS NOT NULL
                   UNION ALL
                   SELECT object_id, date_added, contributor FROM log_tombstones
                     WHERE coll_id = $3 AND object_id = ANY($2) AND version <> '') t
                 ORDER BY object_id, date_added",
                &[&coll, &ids, &batch.collection],
            )
            .map_err(pg)?
        {
            h.owners.insert(r.get(0), r.get(1));
        }
        for r in tx
            .query(
                "SELECT o.object_id, o.version_us, o.body, o.tlp, o.contributor,
                   ARRAY(SELECT member FROM red_recipients r WHERE r.date_added = o.date_added)
                 FROM objects o
                 JOIN unnest($2::text[], $3::bigint[]) AS k(id, v)
                   ON o.object_id = k.id AND o.version_us = k.v
                 WHERE o.coll = $1",
                &[&coll, &keyed_ids, &keyed_versions],
            )
            .map_err(pg)?
        {
            h.same.insert(
                (r.get(0), r.get(1)),
                SameVersion {
                    body: r.get(2),
                    tlp: r.get(3),
                    contributor: r.get(4),
                    recipients: r.get(5),
                },
            );
        }
        for r in tx
            .query(
                "SELECT object_id, date_added, body FROM objects
                 WHERE coll = $1 AND object_id = ANY($2) AND version IS NULL AND contributor = $3
                 ORDER BY date_added",
                &[&coll, &ids, &batch.contributor],
            )
            .map_err(pg)?
        {
            h.own_copies
                .entry(r.get(0))
                .or_default()
                .push((r.get(1), r.get(2)));
        }
        for r in tx
            .query(
                "SELECT object_id, min(version_us), max(version_us) FROM objects
                 WHERE coll = $1 AND object_id = ANY($2) GROUP BY object_id",
                &[&coll, &ids],
            )
            .map_err(pg)?
        {
            h.bounds.insert(r.get(0), (r.get(1), r.get(2)));
        }
        Ok(h)
    }
}

/// Rows of one envelope to write, one array per column (inserted with `unnest`).
#[derive(Default)]
struct NewRows {
    date_added: Vec<i64>,
    object_id: Vec<String>,
    object_type: Vec<String>,
    spec_version: Vec<String>,
    version: Vec<Option<String>>,
    version_us: Vec<i64>,
    is_first: Vec<bool>,
    is_last: Vec<bool>,
    tlp: Vec<i64>,
    body: Vec<String>,
    /// Row of each (id, version key) among these, to clear its flags in memory.
    index: HashMap<(String, i64), usize>,
    recipient_added: Vec<i64>,
    recipient: Vec<String>,
    leaf_idx: Vec<i64>,
    leaf: Vec<Vec<u8>>,
    nonce: Vec<Vec<u8>>,
    /// Stored rows that stop being their object's last / first: (id, version key).
    clear_last: (Vec<String>, Vec<i64>),
    clear_first: (Vec<String>, Vec<i64>),
}

impl NewRows {
    /// The version `(id, v)` is no longer its object's last (`last`) or first.
    fn clear(&mut self, id: &str, v: i64, last: bool) {
        match self.index.get(&(id.to_owned(), v)) {
            Some(&row) => {
                let flags = if last {
                    &mut self.is_last
                } else {
                    &mut self.is_first
                };
                if let Some(f) = flags.get_mut(row) {
                    *f = false;
                }
            }
            None => {
                let (ids, vs) = if last {
                    &mut self.clear_last
                } else {
                    &mut self.clear_first
                };
                ids.push(id.to_owned());
                vs.push(v);
            }
        }
    }

    fn write(&self, tx: &mut Transaction<'_>, coll: i64, contributor: MemberId) -> Result<()> {
        for (flag, (ids, vs)) in [
            ("is_last", &self.clear_last),
            ("is_first", &self.clear_first),
        ] {
            if !ids.is_empty() {
                tx.execute(
                    &format!(
                        "UPDATE objects SET {flag} = FALSE WHERE coll = $1 AND (object_id,                          version_us) IN (SELECT * FROM unnest($2::text[], $3::bigint[]))"
                    ),
                    &[&coll, ids, vs],
                )
                .map_err(pg)?;
            }
        }
        if self.date_added.is_empty() {
            return Ok(());
        }
        tx.execute(
            "INSERT INTO objects (date_added, coll, object_id, object_type, spec_version, version,
             version_us, is_first, is_last, tlp, contributor, body)
             SELECT d, $2, i, t, s, v, vu, f, l, tlp, $3, b FROM unnest($1::bigint[], $4::text[],
               $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bool[], $10::bool[],
               $11::bigint[], $12::text[]) AS n(d, i, t, s, v, vu, f, l, tlp, b)",
            &[
                &self.date_added,
                &coll,
                &contributor,
                &self.object_id,
                &self.object_type,
                &self.spec_version,
                &self.version,
                &self.version_us,
                &self.is_first,
                &self.is_last,
                &self.tlp,
                &self.body,
            ],
        )
        .map_err(pg)?;
        if !self.recipient.is_empty() {
            tx.execute(
                "INSERT INTO red_recipients (date_added, member)
                 SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT DO NOTHING",
                &[&self.recipient_added, &self.recipient],
            )
            .map_err(pg)?;
        }
        tx.execute(
            "INSERT INTO log_leaves (idx, leaf) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
            &[&self.leaf_idx, &self.leaf],
        )
        .map_err(pg)?;
        tx.execute(
            "INSERT INTO log_nonces (date_added, nonce, leaf_idx)
             SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[])",
            &[&self.date_added, &self.nonce, &self.leaf_idx],
        )
        .map_err(pg)?;
        Ok(())
    }
}

/// Stores the batch's objects inside the caller's transaction, which holds `seq`: a fixed
/// number of statements per envelope, whatever its size. `canonical` holds the RFC 8785 forms
/// of the objects' bodies, in order, when the caller computed them (empty: derived).
pub(crate) fn ingest_tx(
    tx: &mut Transaction<'_>,
    seq: &mut Sequence,
    batch: &IngestBatch,
    canonical: &[&[u8]],
) -> Result<Vec<IngestOutcome>> {
    let coll = coll_key(tx, &batch.collection)?;
    let poster = poster(tx, batch.contributor)?;
    let mut h = Holdings::read(tx, coll, batch)?;
    let mut rows = NewRows::default();
    let mut outcomes = Vec::with_capacity(batch.objects.len());
    for (i, o) in batch.objects.iter().enumerate() {
        let mut held = Held::default();
        match o.version_micros {
            Some(v) => {
                held.owner = h.owners.get(&o.id).copied();
                held.same_version = h.same.get(&(o.id.clone(), v)).map(|s| HeldVersion {
                    body: s.body.clone(),
                    // A rank no level has is seen by no one.
                    visible: tlp_from_stored(s.tlp)
                        .is_ok_and(|t| poster.viewer.sees(t, s.contributor, &s.recipients)),
                });
            }
            None => held.own_copies = h.own_copies.get(&o.id).cloned().unwrap_or_default(),
        }
        let outcome = rules::decide(o, &poster, &held);
        if !matches!(outcome, IngestOutcome::Stored { .. }) {
            outcomes.push(outcome);
            continue;
        }
        let date_added = seq.next_date_added();
        // A value-identified object's copy is versioned by its date_added.
        let v = o.version_micros.unwrap_or(date_added);
        let bounds = h.bounds.get(&o.id).copied();
        let (is_first, is_last) = rules::first_last(v, bounds.map(|b| b.0), bounds.map(|b| b.1));
        if let (true, Some((_, max))) = (is_last, bounds) {
            rows.clear(&o.id, max, true);
        }
        if let (true, Some((min, _))) = (is_first, bounds) {
            rows.clear(&o.id, min, false);
        }
        let (min, max) = bounds.unwrap_or((v, v));
        h.bounds.insert(o.id.clone(), (min.min(v), max.max(v)));
        if o.version_micros.is_some() {
            h.owners.entry(o.id.clone()).or_insert(batch.contributor);
            h.same.insert(
                (o.id.clone(), v),
                SameVersion {
                    body: o.body.clone(),
                    tlp: i64::from(o.tlp.rank()),
                    contributor: batch.contributor,
                    recipients: o.recipients.clone(),
                },
            );
        } else {
            h.own_copies
                .entry(o.id.clone())
                .or_default()
                .push((date_added, o.body.clone()));
        }
        let entry = entries::object_entry(
            &batch.collection,
            o,
            &poster.viewer.name,
            canonical.get(i).copied(),
        )?;
        rows.index.insert((o.id.clone(), v), rows.date_added.len());
        rows.date_added.push(date_added);
        rows.object_id.push(o.id.clone());
        rows.object_type.push(o.object_type.clone());
        rows.spec_version.push(o.spec_version.clone());
        rows.version.push(o.version.clone());
        rows.version_us.push(v);
        rows.is_first.push(is_first);
        rows.is_last.push(is_last);
        rows.tlp.push(i64::from(o.tlp.rank()));
        rows.body.push(o.body.clone());
        for r in &o.recipients {
            rows.recipient_added.push(date_added);
            rows.recipient.push(r.clone());
        }
        rows.leaf_idx.push(seq.reserve());
        rows.leaf.push(entry.leaf);
        rows.nonce.push(entry.nonce.to_vec());
        outcomes.push(IngestOutcome::Stored { date_added });
    }
    rows.write(tx, coll, batch.contributor)?;
    Ok(outcomes)
}

/// The columns of a tombstone `o` joined with its leaf `l`, as [`to_tombstone`] reads them.
pub(crate) const TOMBSTONE: &str =
    "o.leaf_idx, l.leaf, o.nonce, o.version, o.member, o.time, o.deleted_idx";

/// A tombstone row selected as [`TOMBSTONE`].
pub(crate) fn to_tombstone(r: &postgres::Row) -> TombstoneLogEntry {
    TombstoneLogEntry {
        index: r.get::<_, i64>(0).unsigned_abs(),
        leaf: r.get(1),
        nonce: r.get(2),
        version: r.get(3),
        member: r.get(4),
        time: r.get(5),
        deleted_index: r.get::<_, i64>(6).unsigned_abs(),
    }
}

/// An object version being deleted, with what its tombstone needs.
pub(crate) struct Deleted {
    pub(crate) date_added: i64,
    pub(crate) version: Option<String>,
    pub(crate) tlp: i64,
    pub(crate) contributor: i64,
    pub(crate) leaf_idx: i64,
}

impl Deleted {
    /// The columns [`Deleted::from_row`] reads from `o` (objects) and `n` (log_nonces), in
    /// order from the `at`th.
    pub(crate) const COLUMNS: &'static str =
        "o.date_added, o.version, o.tlp, o.contributor, n.leaf_idx";

    pub(crate) fn from_row(r: &postgres::Row, at: usize) -> Deleted {
        Deleted {
            date_added: r.get(at),
            version: r.get(at + 1),
            tlp: r.get(at + 2),
            contributor: r.get(at + 3),
            leaf_idx: r.get(at + 4),
        }
    }
}

/// Removes a stored version and logs its tombstone by `member` at the next index of `seq`
/// (its red_recipients rows stay: they decide who may see the tombstone). The caller
/// refreshes the object's first and last flags ([`refresh_bounds`]) and stores `seq`.
pub(crate) fn delete_version(
    tx: &mut Transaction<'_>,
    seq: &mut Sequence,
    collection: &str,
    object_id: &str,
    d: &Deleted,
    member: &str,
    time: &str,
) -> Result<()> {
    tx.execute(
        "DELETE FROM objects WHERE date_added = $1",
        &[&d.date_added],
    )
    .map_err(pg)?;
    let version = d.version.as_deref().unwrap_or("");
    let entry = entries::tombstone_entry(&detente_logentry::Tombstone {
        collection,
        object_id,
        version,
        member,
        time,
        deleted_index: d.leaf_idx.unsigned_abs(),
    })?;
    let idx = seq.append(tx, &entry)?;
    tx.execute(
        "INSERT INTO log_tombstones (leaf_idx, date_added, coll_id, object_id, version, \
         member, time, nonce, deleted_idx, tlp, contributor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &idx,
            &d.date_added,
            &collection,
            &object_id,
            &version,
            &member,
            &time,
            &entry.nonce.as_slice(),
            &d.leaf_idx,
            &d.tlp,
            &d.contributor,
        ],
    )
    .map_err(pg)?;
    Ok(())
}

/// Recomputes the first and last flags of an object's remaining versions after a deletion.
pub(crate) fn refresh_bounds(tx: &mut Transaction<'_>, coll: i64, object_id: &str) -> Result<()> {
    tx.execute(
        "UPDATE objects SET
           is_first = (version_us = (SELECT min(version_us) FROM objects WHERE coll = $1 AND object_id = $2)),
           is_last = (version_us = (SELECT max(version_us) FROM objects WHERE coll = $1 AND object_id = $2))
         WHERE coll = $1 AND object_id = $2",
        &[&coll, &object_id],
    )
    .map_err(pg)?;
    Ok(())
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`, or key=value
    /// form), applying the migrations it lacks.
    pub fn open(url: &str) -> Result<PgStore> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("database URL: {e}")))?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            // A broken connection shows when used (and is then dropped by the pool): checking
            // each one on checkout would cost a round trip per call.
            .test_on_check_out(false)
            .build(manager)
            .map_err(|e| unavailable(format!("connecting to the database: {e}")))?;
        let store = PgStore { pool };
        crate::schema::migrate(&mut *store.conn()?)?;
        Ok(store)
    }

    pub(crate) fn conn(&self) -> Result<Conn> {
        self.pool
            .get()
            .map_err(|e| unavailable(format!("no database connection: {e}")))
    }

    /// Runs `f` in one transaction, committed if it returns `Ok` and rolled back otherwise.
    pub(crate) fn tx<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(pg)?;
        let out = f(&mut tx)?;
        tx.commit().map_err(pg)?;
        Ok(out)
    }

    /// Runs `f` on a pooled connection, outside any explicit transaction.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut postgres::Client) -> Result<T>) -> Result<T> {
        let mut c = self.conn()?;
        f(&mut c)
    }

    /// One statement changing a member (bumping the generation); `NotFound` if none matched.
    fn change_member(
        &self,
        sql: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
        name: &str,
    ) -> Result<()> {
        self.tx(|tx| {
            if tx.execute(sql, args).map_err(pg)? == 0 {
                return Err(StoreError::NotFound(format!("member {name}")));
            }
            bump_generation(tx)
        })
    }

    /// Replaces a stored secret hash only while it is still `old` (`sql` binds new, key,
    /// old); whether it did. Not a membership change, so the generation stays.
    fn swap_hash(&self, sql: &str, key: &str, old: &str, new: &str) -> Result<bool> {
        self.with(|c| {
            c.execute(sql, &[&new, &key, &old])
                .map(|n| n == 1)
                .map_err(pg)
        })
    }
}

impl Store for PgStore {
    fn generation(&self) -> Result<u64> {
        self.with(|c| {
            let g: i64 = c
                .query_one("SELECT value FROM counters WHERE name = 'generation'", &[])
                .map_err(pg)?
                .get(0);
            Ok(g.unsigned_abs())
        })
    }

    fn secret(&self, name: &str, init: &dyn Fn() -> Vec<u8>) -> Result<Vec<u8>> {
        let key = format!("secret:{name}");
        self.with(|c| {
            let get = |c: &mut postgres::Client| -> Result<Option<Vec<u8>>> {
                Ok(
                    c.query_opt("SELECT value FROM meta WHERE key = $1", &[&key])
                        .map_err(pg)?
                        .map(|r| r.get(0)),
                )
            };
            if let Some(v) = get(c)? {
                return Ok(v);
            }
            // Of nodes racing to create it, one insert wins; everyone reads the winner's.
            c.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &init()],
            )
            .map_err(pg)?;
            get(c)?.ok_or_else(|| StoreError::Backend(format!("secret {name} vanished")))
        })
    }

    fn ensure_api_root(&self, root: &ApiRootRecord) -> Result<bool> {
        self.with(|c| {
            let n = c
                .execute(
                    "INSERT INTO api_roots (path, title, description) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&root.path, &root.title, &root.description],
                )
                .map_err(pg)?;
            Ok(n == 1)
        })
    }

    fn api_roots(&self) -> Result<Vec<ApiRootRecord>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT path, title, description FROM api_roots ORDER BY path",
                &[],
            )
            .map_err(pg)?
            .iter()
            .map(|r| ApiRootRecord {
                path: r.get(0),
                title: r.get(1),
                description: r.get(2),
            })
            .collect())
        })
    }

    fn add_member(&self, m: &NewMember) -> Result<Member> {
        self.tx(|tx| {
            let row = tx
                .query_opt(
                    "INSERT INTO members (name, role, clearance, secret_hash) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name) DO NOTHING RETURNING id",
                    &[&m.name, &m.role.as_str(), &m.clearance.as_str(), &m.secret_hash],
                )
                .map_err(pg)?;
            let Some(row) = row else {
                return Err(StoreError::AlreadyExists(format!("member {}", m.name)));
            };
            bump_generation(tx)?;
            Ok(Member {
                id: row.get(0),
                name: m.name.clone(),
                role: m.role,
                clearance: m.clearance,
                disabled: false,
                secret_hash: m.secret_hash.clone(),
            })
        })
    }

    fn member_by_name(&self, name: &str) -> Result<Option<Member>> {
        self.with(|c| {
            c.query_opt(
                "SELECT id, name, role, clearance, disabled, secret_hash FROM members WHERE name = $1",
                &[&name],
            )
            .map_err(pg)?
            .as_ref()
            .map(to_member)
            .transpose()
        })
    }

    fn member_by_id(&self, id: MemberId) -> Result<Option<Member>> {
        self.with(|c| {
            c.query_opt(
                "SELECT id, name, role, clearance, disabled, secret_hash FROM members WHERE id = $1",
                &[&id],
            )
            .map_err(pg)?
            .as_ref()
            .map(to_member)
            .transpose()
        })
    }

    fn members(&self) -> Result<Vec<Member>> {
        self.with(|c| {
            c.query(
                "SELECT id, name, role, clearance, disabled, secret_hash FROM members ORDER BY name",
                &[],
            )
            .map_err(pg)?
            .iter()
            .map(to_member)
            .collect()
        })
    }

    fn set_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        self.change_member(
            "UPDATE members SET disabled = $1 WHERE name = $2",
            &[&disabled, &name],
            name,
        )
    }

    fn set_secret_hash(&self, name: &str, secret_hash: &str) -> Result<()> {
        self.change_member(
            "UPDATE members SET secret_hash = $1 WHERE name = $2",
            &[&secret_hash, &name],
            name,
        )
    }

    fn upgrade_secret_hash(&self, name: &str, old: &str, new: &str) -> Result<bool> {
        self.swap_hash(
            "UPDATE members SET secret_hash = $1 WHERE name = $2 AND secret_hash = $3",
            name,
            old,
            new,
        )
    }

    fn upgrade_token_hash(&self, id: &str, old: &str, new: &str) -> Result<bool> {
        self.swap_hash(
            "UPDATE tokens SET secret_hash = $1 WHERE id = $2 AND secret_hash = $3",
            id,
            old,
            new,
        )
    }

    fn set_clearance(&self, name: &str, clearance: Clearance) -> Result<()> {
        self.change_member(
            "UPDATE members SET clearance = $1 WHERE name = $2",
            &[&clearance.as_str(), &name],
            name,
        )
    }

    fn add_token(&self, t: &TokenRecord) -> Result<()> {
        self.tx(|tx| {
            tx.execute(
                "INSERT INTO tokens (id, member_id, secret_hash, revoked) VALUES ($1, $2, $3, $4)",
                &[&t.id, &t.member, &t.secret_hash, &t.revoked],
            )
            .map_err(taken_or_pg(format!("token {}", t.id)))?;
            bump_generation(tx)
        })
    }

    fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT id, member_id, secret_hash, revoked FROM tokens WHERE id = $1",
                &[&id],
            )
            .map_err(pg)?
            .map(|r| TokenRecord {
                id: r.get(0),
                member: r.get(1),
                secret_hash: r.get(2),
                revoked: r.get(3),
            }))
        })
    }

    fn revoke_token(&self, id: &str) -> Result<()> {
        self.tx(|tx| {
            let n = tx
                .execute("UPDATE tokens SET revoked = TRUE WHERE id = $1", &[&id])
                .map_err(pg)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("token {id}")));
            }
            bump_generation(tx)
        })
    }

    fn add_collection(&self, c: &CollectionRecord) -> Result<()> {
        self.tx(|tx| {
            let root = tx
                .query_opt("SELECT 1 FROM api_roots WHERE path = $1", &[&c.api_root])
                .map_err(pg)?;
            if root.is_none() {
                return Err(StoreError::NotFound(format!("API root {}", c.api_root)));
            }
            // A taken id or alias, even by a concurrent insert, is a unique violation.
            tx.execute(
                "INSERT INTO collections (id, api_root, title, description, alias, require_signatures)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&c.id, &c.api_root, &c.title, &c.description, &c.alias, &c.require_signatures],
            )
            .map_err(taken_or_pg(format!("collection {}", c.id)))?;
            bump_generation(tx)
        })
    }

    fn collection(&self, id: &str) -> Result<Option<CollectionRecord>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT id, api_root, title, description, alias, require_signatures FROM collections WHERE id = $1",
                &[&id],
            )
            .map_err(pg)?
            .as_ref()
            .map(to_collection))
        })
    }

    fn collections(&self) -> Result<Vec<CollectionRecord>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT id, api_root, title, description, alias, require_signatures FROM collections ORDER BY coll",
                &[],
            )
            .map_err(pg)?
            .iter()
            .map(to_collection)
            .collect())
        })
    }

    fn grant(&self, collection: &str, member: &str, access: Access) -> Result<()> {
        self.tx(|tx| {
            let coll = coll_key(tx, collection)?;
            let mid: i64 = tx
                .query_opt("SELECT id FROM members WHERE name = $1", &[&member])
                .map_err(pg)?
                .map(|r| r.get(0))
                .ok_or_else(|| StoreError::NotFound(format!("member {member}")))?;
            tx.execute(
                "INSERT INTO grants (coll, member_id, access) VALUES ($1, $2, $3)
                 ON CONFLICT (coll, member_id) DO UPDATE SET access = excluded.access",
                &[&coll, &mid, &access.as_str()],
            )
            .map_err(pg)?;
            bump_generation(tx)
        })
    }

    fn revoke(&self, collection: &str, member: &str) -> Result<()> {
        self.tx(|tx| {
            let coll = coll_key(tx, collection)?;
            let n = tx
                .execute(
                    "DELETE FROM grants WHERE coll = $1
                     AND member_id = (SELECT id FROM members WHERE name = $2)",
                    &[&coll, &member],
                )
                .map_err(pg)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "a grant of {member} on collection {collection}"
                )));
            }
            bump_generation(tx)
        })
    }

    fn grants_of(&self, member: MemberId) -> Result<Vec<(String, Access)>> {
        self.with(|c| {
            c.query(
                "SELECT c.id, g.access FROM grants g JOIN collections c ON c.coll = g.coll
                 WHERE g.member_id = $1 ORDER BY c.coll",
                &[&member],
            )
            .map_err(pg)?
            .iter()
            .map(|r| Ok((r.get(0), r.get::<_, String>(1).parse()?)))
            .collect()
        })
    }

    fn ingest(&self, batch: IngestBatch) -> Result<IngestReport> {
        self.tx(|tx| {
            let mut seq = Sequence::lock(tx)?;
            let outcomes = ingest_tx(tx, &mut seq, &batch, &[])?;
            seq.store(tx)?;
            let status = rules::status_record(&batch, &outcomes);
            tx.execute(
                "INSERT INTO statuses (id, member_id, collection_id, request_timestamp, successes, failures)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &status.id,
                    &status.member,
                    &status.collection,
                    &status.request_timestamp,
                    &details_to_json(&status.successes),
                    &details_to_json(&status.failures),
                ],
            )
            .map_err(taken_or_pg(format!("status {}", status.id)))?;
            Ok(IngestReport { outcomes, status })
        })
    }

    fn query_objects(&self, q: &ObjectQuery) -> Result<Page> {
        self.with(|c| {
            let coll = coll_key(c, &q.collection)?;
            // By id, only ids with a version the viewer may see go on to the index scan,
            // which visits every version: a hidden id costs what an absent one does.
            let mut ids = Vec::with_capacity(q.ids.len());
            for id in &q.ids {
                if may_see(c, coll, id, &q.viewer)? {
                    ids.push(id.clone());
                }
            }
            if !q.ids.is_empty() && ids.is_empty() {
                return Ok(Page {
                    items: Vec::new(),
                    more: false,
                });
            }
            let mut args = Args::default();
            let mut conds = vec![format!("o.coll = {}", args.push(Arg::Int(coll)))];
            let vis = vis_params(&q.viewer, &mut args);
            conds.push(vis_of("o", &vis));
            let lower = q
                .added_after
                .unwrap_or(i64::MIN)
                .max(q.after.unwrap_or(i64::MIN));
            conds.push(format!("o.date_added > {}", args.push(Arg::Int(lower))));
            if !ids.is_empty() {
                conds.push(in_list("o.object_id", &ids, &mut args));
            }
            if !q.types.is_empty() {
                conds.push(in_list("o.object_type", &q.types, &mut args));
            }
            if q.spec_versions.is_empty() {
                conds.push(LATEST_SPEC_VERSION.to_owned());
            } else {
                conds.push(in_list("o.spec_version", &q.spec_versions, &mut args));
            }
            if let Some(vc) = version_cond(&q.versions, Some(&vis_of("s", &vis)), &mut args) {
                conds.push(vc);
            }
            let limit = to_i64(u64::try_from(q.limit).unwrap_or(u64::MAX))
                .saturating_add(1)
                .min(i64::MAX - 1);
            let limit = args.push(Arg::Int(limit));
            let body = if q.with_body { "o.body" } else { "''" };
            let sql = format!(
                "SELECT o.object_id, o.date_added, o.version, o.spec_version, {body}
                 FROM objects o WHERE {} ORDER BY o.date_added LIMIT {limit}",
                conds.join(" AND "),
            );
            let rows = c.query(sql.as_str(), &args.refs()).map_err(pg)?;
            Page::fill(
                rows.iter().map(|r| {
                    Ok(StoredObject {
                        id: r.get(0),
                        date_added: r.get(1),
                        version: r.get(2),
                        spec_version: r.get(3),
                        body: r.get(4),
                    })
                }),
                q.limit,
                q.max_bytes,
            )
        })
    }

    fn delete_object(
        &self,
        collection: &str,
        object_id: &str,
        versions: &VersionMatch,
        spec_versions: &[String],
        scope: &DeleteScope,
    ) -> Result<Vec<DeletedVersion>> {
        self.tx(|tx| {
            // Tombstones take log indices: allocate under the serialization point.
            let mut seq = Sequence::lock(tx)?;
            let coll = coll_key(tx, collection)?;
            // Nothing a member may not see is its to delete: a hidden id stops here, at the
            // cost of an absent one, before the scan of its versions.
            if let DeleteScope::Own(viewer) = scope
                && !may_see(tx, coll, object_id, viewer)?
            {
                return Ok(Vec::new());
            }
            let mut args = Args::default();
            let mut conds = vec![
                format!("o.coll = {}", args.push(Arg::Int(coll))),
                format!(
                    "o.object_id = {}",
                    args.push(Arg::Text(object_id.to_owned()))
                ),
            ];
            // A member deletes only what it contributed and sees; `last` is its newest.
            let own = match scope {
                DeleteScope::Own(viewer) => {
                    let vis = vis_params(viewer, &mut args);
                    let own = |t: &str| {
                        format!("({} AND {t}.contributor = {})", vis_of(t, &vis), vis.member)
                    };
                    conds.push(own("o"));
                    Some(own("s"))
                }
                DeleteScope::Moderator(_) => None,
            };
            if !spec_versions.is_empty() {
                conds.push(in_list("o.spec_version", spec_versions, &mut args));
            }
            if let Some(vc) = version_cond(versions, own.as_deref(), &mut args) {
                conds.push(vc);
            }
            let sql = format!(
                "SELECT {} FROM objects o JOIN log_nonces n ON n.date_added = o.date_added \
                 WHERE {} ORDER BY o.date_added",
                Deleted::COLUMNS,
                conds.join(" AND ")
            );
            let rows: Vec<Deleted> = tx
                .query(sql.as_str(), &args.refs())
                .map_err(pg)?
                .iter()
                .map(|r| Deleted::from_row(r, 0))
                .collect();
            let time = entries::deletion_time();
            let member = scope.member_name();
            for d in &rows {
                delete_version(tx, &mut seq, collection, object_id, d, member, &time)?;
            }
            if !rows.is_empty() {
                refresh_bounds(tx, coll, object_id)?;
                seq.store(tx)?;
            }
            Ok(rows
                .into_iter()
                .map(|d| DeletedVersion {
                    id: object_id.to_owned(),
                    date_added: d.date_added,
                    version: d.version,
                })
                .collect())
        })
    }

    fn status(&self, id: &str) -> Result<Option<StatusRecord>> {
        self.with(|c| {
            c.query_opt(
                "SELECT id, member_id, collection_id, request_timestamp, successes, failures
                 FROM statuses WHERE id = $1",
                &[&id],
            )
            .map_err(pg)?
            .map(|r| {
                Ok(StatusRecord {
                    id: r.get(0),
                    member: r.get(1),
                    collection: r.get(2),
                    request_timestamp: r.get(3),
                    successes: details_from_json(r.get(4))?,
                    failures: details_from_json(r.get(5))?,
                })
            })
            .transpose()
        })
    }

    fn log_size(&self) -> Result<u64> {
        self.with(|c| {
            let n: i64 = c
                .query_one("SELECT log_size FROM sequence_point", &[])
                .map_err(pg)?
                .get(0);
            Ok(n.unsigned_abs())
        })
    }

    fn log_leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        let (start, end) = (to_i64(start), to_i64(end));
        self.with(|c| {
            Ok(c.query(
                "SELECT leaf FROM log_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                &[&start, &end],
            )
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    fn log_object_entry(&self, date_added: i64) -> Result<Option<ObjectLogEntry>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT n.leaf_idx, l.leaf, n.nonce, coalesce(m.name, o.contributor::text) \
                 FROM log_nonces n JOIN log_leaves l ON l.idx = n.leaf_idx \
                 JOIN objects o ON o.date_added = n.date_added \
                 LEFT JOIN members m ON m.id = o.contributor WHERE n.date_added = $1",
                &[&date_added],
            )
            .map_err(pg)?
            .map(|r| ObjectLogEntry {
                index: r.get::<_, i64>(0).unsigned_abs(),
                leaf: r.get(1),
                nonce: r.get(2),
                contributor: r.get(3),
            }))
        })
    }

    fn log_object_entries(&self, date_added: &[i64]) -> Result<Vec<Option<ObjectLogEntry>>> {
        if date_added.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: std::collections::HashMap<i64, ObjectLogEntry> = self.with(|c| {
            Ok(c.query(
                "SELECT n.date_added, n.leaf_idx, l.leaf, n.nonce, \
                 coalesce(m.name, o.contributor::text) \
                 FROM log_nonces n JOIN log_leaves l ON l.idx = n.leaf_idx \
                 JOIN objects o ON o.date_added = n.date_added \
                 LEFT JOIN members m ON m.id = o.contributor WHERE n.date_added = ANY($1)",
                &[&date_added],
            )
            .map_err(pg)?
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    ObjectLogEntry {
                        index: r.get::<_, i64>(1).unsigned_abs(),
                        leaf: r.get(2),
                        nonce: r.get(3),
                        contributor: r.get(4),
                    },
                )
            })
            .collect())
        })?;
        Ok(date_added.iter().map(|d| found.remove(d)).collect())
    }

    fn log_tombstones(
        &self,
        collection: &str,
        object_id: &str,
        viewer: &Viewer,
    ) -> Result<Vec<TombstoneLogEntry>> {
        let mut args = Args::default();
        let c_ = args.push(Arg::Text(collection.to_owned()));
        let o_ = args.push(Arg::Text(object_id.to_owned()));
        let vis = vis_params(viewer, &mut args);
        let sql = format!(
            "SELECT {TOMBSTONE} FROM log_tombstones o JOIN log_leaves l ON l.idx = o.leaf_idx \
             WHERE o.coll_id = {c_} AND o.object_id = {o_} AND {} ORDER BY o.leaf_idx",
            vis_of("o", &vis)
        );
        self.with(|c| {
            Ok(c.query(sql.as_str(), &args.refs())
                .map_err(pg)?
                .iter()
                .map(to_tombstone)
                .collect())
        })
    }

    fn record_psi_session(&self, r: &PsiSessionRecord) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO psi_sessions (time, role, peer, collection_id, mode, own_items,
                 peer_items, result_items, bytes_in, bytes_out, duration_us, outcome, session)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                &[
                    &r.time,
                    &r.role.as_str(),
                    &r.peer,
                    &r.collection,
                    &r.mode,
                    &r.own_items.map(to_i64),
                    &r.peer_items.map(to_i64),
                    &r.result_items.map(to_i64),
                    &to_i64(r.bytes_in),
                    &to_i64(r.bytes_out),
                    &to_i64(r.duration_micros),
                    &r.outcome,
                    &r.session,
                ],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn psi_sessions(&self, limit: usize) -> Result<Vec<PsiSessionRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let count = |v: Option<i64>| v.map(i64::unsigned_abs);
        self.with(|c| {
            c.query(
                "SELECT id, time, role, peer, collection_id, mode, own_items, peer_items,
                 result_items, bytes_in, bytes_out, duration_us, outcome, session
                 FROM (SELECT * FROM psi_sessions ORDER BY id DESC LIMIT $1) t ORDER BY id",
                &[&limit],
            )
            .map_err(pg)?
            .iter()
            .map(|r| {
                Ok(PsiSessionRecord {
                    id: r.get(0),
                    time: r.get(1),
                    role: r.get::<_, String>(2).parse()?,
                    session: r.get(13),
                    peer: r.get(3),
                    collection: r.get(4),
                    mode: r.get(5),
                    own_items: count(r.get(6)),
                    peer_items: count(r.get(7)),
                    result_items: count(r.get(8)),
                    bytes_in: r.get::<_, i64>(9).unsigned_abs(),
                    bytes_out: r.get::<_, i64>(10).unsigned_abs(),
                    duration_micros: r.get::<_, i64>(11).unsigned_abs(),
                    outcome: r.get(12),
                })
            })
            .collect()
        })
    }

    fn psi_charge(&self, charge: &PsiCharge) -> Result<PsiChargeOutcome> {
        self.tx(|tx| {
            if !charge.dry_run {
                // Held to commit: charges of one peer from every node run one at a time, and
                // each reads the charges the previous one committed.
                tx.execute(
                    "INSERT INTO psi_peers (peer) VALUES ($1)
                     ON CONFLICT (peer) DO UPDATE SET peer = EXCLUDED.peer",
                    &[&charge.peer],
                )
                .map_err(pg)?;
            }
            let replayed = tx
                .query_opt(
                    "SELECT 1 FROM psi_charges WHERE session = $1",
                    &[&charge.session],
                )
                .map_err(pg)?
                .is_some();
            let charges = if replayed || charge.limit.is_none() {
                Vec::new()
            } else {
                tx.query(
                    "SELECT at, cost FROM psi_charges WHERE peer = $1 AND at > $2 ORDER BY at",
                    &[&charge.peer, &charge.window_start()],
                )
                .map_err(pg)?
                .iter()
                .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1).unsigned_abs()))
                .collect()
            };
            let outcome = detente_store::decide_psi_charge(charge, replayed, charges);
            if outcome != PsiChargeOutcome::Charged || charge.dry_run {
                return Ok(outcome);
            }
            // Another peer's session with the same id may commit first: its row wins and
            // this one is a replay (the insert waits for that commit, then does nothing).
            let inserted = tx
                .execute(
                    "INSERT INTO psi_charges (session, peer, at, cost) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (session) DO NOTHING",
                    &[
                        &charge.session,
                        &charge.peer,
                        &charge.at,
                        &to_i64(charge.cost),
                    ],
                )
                .map_err(pg)?;
            Ok(if inserted == 1 {
                PsiChargeOutcome::Charged
            } else {
                PsiChargeOutcome::Replayed
            })
        })
    }

    fn witness_trust(&self, origin: &str, vkey: &str) -> Result<bool> {
        self.with(|c| witness::trust(c, origin, vkey, now_micros()))
    }

    fn witness_trusted(&self, origin: &str) -> Result<Vec<String>> {
        self.with(|c| witness::trusted(c, origin))
    }

    fn witness_trusted_logs(&self) -> Result<Vec<TrustedLog>> {
        self.with(witness::trusted_logs)
    }

    fn witness_state(&self, origin: &str) -> Result<Option<WitnessState>> {
        self.with(|c| witness::state(c, origin))
    }

    fn witness_states(&self) -> Result<Vec<WitnessState>> {
        self.with(witness::states)
    }

    fn witness_advance(&self, expected: Option<(u64, &[u8])>, new: &WitnessState) -> Result<bool> {
        self.with(|c| witness::advance(c, expected, new))
    }

    fn witness_advance_batch(&self, ops: &[WitnessAdvance]) -> Result<Vec<bool>> {
        self.tx(|tx| {
            ops.iter()
                .map(|o| {
                    let expected = o.expected.as_ref().map(|(s, r)| (*s, r.as_slice()));
                    witness::advance(tx, expected, &o.new)
                })
                .collect()
        })
    }

    fn witness_record_evidence(&self, evidence: &WitnessEvidence) -> Result<bool> {
        self.with(|c| witness::record_evidence(c, evidence))
    }

    fn witness_evidence(&self) -> Result<Vec<WitnessEvidence>> {
        self.with(witness::evidence)
    }

    fn log_add_witness(&self, w: &LogWitness) -> Result<()> {
        self.with(|c| witness::add_log_witness(c, w))
    }

    fn log_witnesses(&self) -> Result<Vec<LogWitness>> {
        self.with(witness::log_witnesses)
    }

    fn bind_key(&self, member: &str, vkey: &str) -> Result<KeyBindingRecord> {
        self.tx(|tx| crate::keys::bind(tx, member, vkey))
    }

    fn key_bindings(&self) -> Result<Vec<KeyBindingRecord>> {
        self.with(crate::keys::all)
    }

    fn current_key(&self, member: &str) -> Result<Option<KeyBindingRecord>> {
        self.with(|c| crate::keys::current(c, member))
    }

    fn set_require_signatures(&self, collection: &str, required: bool) -> Result<()> {
        self.tx(|tx| {
            let n = tx
                .execute(
                    "UPDATE collections SET require_signatures = $1 WHERE id = $2",
                    &[&required, &collection],
                )
                .map_err(pg)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("collection {collection}")));
            }
            bump_generation(tx)
        })
    }

    // --- Peers and mirrors (issue 13) ---

    fn peer_add(&self, peer: &NewPeer) -> Result<PeerRecord> {
        self.tx(|tx| crate::peers::add(tx, peer))
    }

    fn peer(&self, name: &str) -> Result<Option<PeerRecord>> {
        self.with(|c| crate::peers::peer(c, name))
    }

    fn peers(&self) -> Result<Vec<PeerRecord>> {
        self.with(crate::peers::peers)
    }

    fn peer_add_mirror(
        &self,
        peer: &str,
        remote_collection: &str,
        local_collection: &str,
    ) -> Result<MirrorRecord> {
        self.with(|c| crate::peers::add_mirror(c, peer, remote_collection, local_collection))
    }

    fn mirrors(&self, peer: Option<&str>) -> Result<Vec<MirrorRecord>> {
        self.with(|c| crate::peers::mirrors(c, peer))
    }

    fn peer_leaves_put(&self, peer: &str, start: u64, leaves: &[Vec<u8>]) -> Result<()> {
        self.tx(|tx| crate::peers::leaves_put(tx, peer, start, leaves))
    }

    fn peer_leaves_at(&self, peer: &str, indices: &[u64]) -> Result<Vec<Option<Vec<u8>>>> {
        self.with(|c| crate::peers::leaves_at(c, peer, indices))
    }

    fn peer_keys_record(
        &self,
        peer: &str,
        bindings: &[detente_store::PeerKeyBinding],
    ) -> Result<Vec<detente_store::PeerKeyBinding>> {
        self.tx(|tx| crate::keys::peer_record(tx, peer, bindings))
    }

    fn peer_keys_publish(&self, peer: &str, partner_members: &[String]) -> Result<u64> {
        self.tx(|tx| crate::keys::peer_publish(tx, peer, partner_members))
    }

    fn peer_keys(&self, peer: &str) -> Result<Vec<detente_store::PeerKeyBinding>> {
        self.with(|c| crate::keys::peer_all(c, peer))
    }

    fn peer_log_accept(&self, peer: &str, expected: Option<u64>, new: &PeerLog) -> Result<bool> {
        self.with(|c| crate::peers::log_accept(c, peer, expected, new))
    }

    fn mirror_apply(&self, page: &MirrorPage) -> Result<MirrorApplied> {
        self.tx(|tx| crate::peers::apply(tx, page))
    }

    fn mirror_provenance(&self, collection: &str, date_added: &[i64]) -> Result<Vec<Provenance>> {
        self.with(|c| crate::peers::provenance(c, collection, date_added))
    }

    fn log_tombstones_after(
        &self,
        collection: &str,
        viewer: &Viewer,
        after: i64,
        limit: usize,
    ) -> Result<Vec<TombstoneFeedEntry>> {
        self.with(|c| crate::peers::tombstones_after(c, collection, viewer, after, limit))
    }

    // --- Protected assets and ingest flags (issues 14, 16) ---

    fn flag_warninglist_put(&self, list: &WarninglistRecord) -> Result<bool> {
        self.tx(|tx| crate::flags::put_warninglist(tx, list, now_micros()))
    }

    fn flag_warninglist_remove(&self, key: &str, collection: Option<&str>) -> Result<()> {
        self.tx(|tx| crate::flags::remove_warninglist(tx, key, collection))
    }

    fn flag_warninglists(&self) -> Result<Vec<WarninglistRecord>> {
        self.with(crate::flags::warninglists)
    }

    fn asset_add(&self, asset: &AssetRecord) -> Result<bool> {
        self.tx(|tx| crate::flags::add_asset(tx, asset, now_micros()))
    }

    fn asset_remove(&self, kind: AssetKind, value: &str, collection: Option<&str>) -> Result<()> {
        self.tx(|tx| crate::flags::remove_asset(tx, kind, value, collection))
    }

    fn assets(&self) -> Result<Vec<AssetRecord>> {
        self.with(crate::flags::assets)
    }

    fn flag_record(&self, flags: &[FlagRecord]) -> Result<()> {
        self.tx(|tx| crate::flags::record(tx, flags))
    }

    fn flags(&self, limit: usize) -> Result<Vec<FlagRecord>> {
        self.with(|c| crate::flags::latest(c, limit))
    }
}
