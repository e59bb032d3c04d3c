//! Ingest on PostgreSQL: the sequence point, and an envelope's reads, decisions and writes.
//!
//! An envelope takes the `sequence_point` row lock for as little as possible: its facts
//! (collection, poster, the holdings of its ids) are read and its objects decided and hashed
//! into log leaves *before* the lock ([`prepare`]), together with the allocation state the
//! reads saw. Then one statement calls `ingest_write` (`migrations/0010_ingest_gate.sql`,
//! through [`write_in`]), which takes the lock and writes every row (the id gate's too: the
//! node says which ids had no stored version, whose gate rows are plain inserts), the new
//! state and the status record. If other writers allocated since the reads (objects, tombstones and log
//! leaves change only under the lock, and every such transaction moves the state), the
//! function checks under the lock that none of them stored or deleted one of the envelope's
//! ids and moves the rows' `date_added` values and log indices past the state it found; only
//! if one did (or the rows cannot move) is the envelope decided again, under the lock.
//! Each statement is sent with its parameter types (`query_typed`): one round trip.
//!
//! Envelopes of one node are written in groups (`src/group.rs`): one transaction, in queue
//! order, the first write taking the lock and the transaction holding it to its one commit;
//! each later write, in its own savepoint, finds the state its predecessors moved and shifts
//! its rows past it the same way (or is decided again under the lock). So no id is stored
//! twice by racing writers, allocation order is visibility order, and log indices stay
//! contiguous, per group as per envelope; a conflict fails the group's transaction or one
//! envelope's savepoint, and the caller retries it (`detente_store::retry_conflicts`).

use std::collections::{HashMap, HashSet};

use detente_store::entries::{self, LogEntry, details_to_json};
use detente_store::rules::{self, Held, HeldVersion, Poster};
use detente_store::{
    IngestBatch, IngestOutcome, IngestReport, MemberId, Result, StatusRecord, StoreError,
    tlp_from_stored,
};
use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient, Row, Transaction};

use crate::error::{pg, taken_or_pg};

/// Parameters of a statement sent with their types.
type Typed<'a> = [(&'a (dyn ToSql + Sync), Type)];

/// A statement sent with its parameter types, in one round trip: on a connection outside
/// any transaction (the statement is its own) or inside one.
trait TypedQuery {
    fn typed(
        &mut self,
        sql: &str,
        params: &Typed<'_>,
    ) -> std::result::Result<Vec<Row>, postgres::Error>;
}

impl TypedQuery for Client {
    fn typed(
        &mut self,
        sql: &str,
        params: &Typed<'_>,
    ) -> std::result::Result<Vec<Row>, postgres::Error> {
        self.query_typed(sql, params)
    }
}

impl TypedQuery for Transaction<'_> {
    fn typed(
        &mut self,
        sql: &str,
        params: &Typed<'_>,
    ) -> std::result::Result<Vec<Row>, postgres::Error> {
        self.query_typed(sql, params)
    }
}

/// The internal key of collection `id`.
pub(crate) fn coll_key(c: &mut impl GenericClient, id: &str) -> Result<i64> {
    c.query_opt("SELECT coll FROM collections WHERE id = $1", &[&id])
        .map_err(pg)?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::NotFound(format!("collection {id}")))
}

/// The allocation state, locked for the rest of the transaction: the one serialization point
/// of `date_added` and log indices across every node (see the crate doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sequence {
    last_date_added: i64,
    log_size: i64,
}

impl Sequence {
    pub(crate) fn lock(tx: &mut Transaction<'_>) -> Result<Sequence> {
        let r = tx
            .query_typed_one(
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

/// What an envelope's decisions rest on besides its ids' holdings, read in one statement:
/// the collection's key, the poster, and the allocation state as of that statement.
struct Header {
    coll: i64,
    poster: Poster,
    seen: Sequence,
}

impl Header {
    fn read(c: &mut impl TypedQuery, batch: &IngestBatch) -> Result<Header> {
        let r = c
            .typed(
                "SELECT (SELECT coll FROM collections WHERE id = $1), s.last_date_added,
                   s.log_size, m.name, m.role, m.clearance
                 FROM sequence_point s LEFT JOIN members m ON m.id = $2",
                &[
                    (&batch.collection, Type::TEXT),
                    (&batch.contributor, Type::INT8),
                ],
            )
            .map_err(pg)?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Backend("sequence_point has no row".into()))?;
        let coll = r
            .get::<_, Option<i64>>(0)
            .ok_or_else(|| StoreError::NotFound(format!("collection {}", batch.collection)))?;
        let member = match (r.get(3), r.get(4), r.get(5)) {
            (Some(name), Some(role), Some(clearance)) => Some((name, role, clearance)),
            _ => None,
        };
        Ok(Header {
            coll,
            poster: Poster::from_row(batch.contributor, member)?,
            seen: Sequence {
                last_date_added: r.get(1),
                log_size: r.get(2),
            },
        })
    }
}

/// A stored version with the same id and version key as a posted one, as the rules need it.
#[derive(Clone)]
struct SameVersion {
    body: String,
    tlp: i64,
    contributor: MemberId,
    recipients: Vec<String>,
}

/// What the store holds for the ids of one envelope, read with one statement and then kept
/// up to date in memory as the envelope's own objects are decided (a later object of the
/// envelope sees the earlier ones, as if each were written before the next was decided).
#[derive(Default, Clone)]
struct Holdings {
    owners: HashMap<String, MemberId>,
    same: HashMap<(String, i64), SameVersion>,
    own_copies: HashMap<String, Vec<(i64, String)>>,
    bounds: HashMap<String, (i64, i64)>,
}

impl Holdings {
    /// First the ids the collection knows (one statement: those with an `id_gate` row, a
    /// stored version, or a tombstone, each found by one index probe of each); a new id
    /// needs nothing more. Then, for the known ids only, one statement, so one snapshot: a
    /// row per fact, its kind in the first column (0 the owner, the contributor of the first
    /// version ever stored, deleted ones included; 1 a stored version with a posted version
    /// key; 2 one of the poster's own copies of a value-identified object; 3 the smallest
    /// and largest version keys). The two statements may see different states: whatever
    /// another writer changed in between moved the allocation state past what the header
    /// saw, and the write checks under the lock that no writer touched the envelope's ids
    /// since (see the module doc); under the lock nothing changes in between.
    ///
    /// Each id is looked up on its own (`LATERAL`, which the planner cannot flatten into a
    /// join), so every lookup is an index probe whatever the statistics say: written as
    /// `object_id = ANY($2)`, a table whose statistics predate its rows (a new database,
    /// before autovacuum's first analyze) was read through `objects_all`, every version of
    /// the collection filtered against the ids, ~200 ms an envelope of 500; the known ids
    /// written as `EXISTS (…) OR EXISTS (…)` hashed all of `id_gate` (0.5 s on 200,000
    /// rows). For 500 new ids on a 200,000-row table the first statement takes 0.3–0.4 ms
    /// to plan and 1.1–1.2 ms to run, where the second alone took 1.4–2.4 ms to plan and
    /// 4.2–8.4 ms to run (five probes of `objects_version` per id).
    fn read(c: &mut impl TypedQuery, coll: i64, batch: &IngestBatch) -> Result<Holdings> {
        let mut ids: Vec<&str> = batch.objects.iter().map(|o| o.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let known: Vec<String> = c
            .typed(
                "SELECT k.id FROM unnest($2::text[]) AS k(id), LATERAL (
                   (SELECT 1 FROM id_gate WHERE coll = $1 AND object_id = k.id)
                   UNION ALL
                   (SELECT 1 FROM log_tombstones WHERE coll_id = $3 AND object_id = k.id
                    LIMIT 1)
                   LIMIT 1) e",
                &[
                    (&coll, Type::INT8),
                    (&ids, Type::TEXT_ARRAY),
                    (&batch.collection, Type::TEXT),
                ],
            )
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if known.is_empty() {
            return Ok(Holdings::default());
        }
        let known_set: HashSet<&str> = known.iter().map(String::as_str).collect();
        let (keyed_ids, keyed_versions): (Vec<&str>, Vec<i64>) = batch
            .objects
            .iter()
            .filter(|o| known_set.contains(o.id.as_str()))
            .filter_map(|o| Some((o.id.as_str(), o.version_micros?)))
            .unzip();
        let rows = c
            .typed(
                "SELECT h.* FROM unnest($2::text[]) AS k(id), LATERAL (
                   (SELECT 0, k.id, w.contributor, NULL::bigint, NULL::text, NULL::bigint,
                      NULL::bigint, NULL::text[]
                    FROM (SELECT date_added, contributor FROM objects
                            WHERE coll = $1 AND object_id = k.id AND version IS NOT NULL
                          UNION ALL
                          SELECT date_added, contributor FROM log_tombstones
                            WHERE coll_id = $3 AND object_id = k.id AND version <> '') w
                    ORDER BY w.date_added LIMIT 1)
                   UNION ALL
                   SELECT 2, k.id, date_added, NULL, body, NULL, NULL, NULL FROM objects
                   WHERE coll = $1 AND object_id = k.id AND version IS NULL
                     AND contributor = $6
                   UNION ALL
                   SELECT 3, k.id, min(version_us), max(version_us), NULL, NULL, NULL, NULL
                   FROM objects WHERE coll = $1 AND object_id = k.id HAVING count(*) > 0) h
                 UNION ALL
                 SELECT 1, o.object_id, o.version_us, NULL, o.body, o.tlp, o.contributor,
                   ARRAY(SELECT member FROM red_recipients r WHERE r.date_added = o.date_added)
                 FROM unnest($4::text[], $5::bigint[]) AS k(id, v), LATERAL (
                   SELECT * FROM objects
                   WHERE coll = $1 AND object_id = k.id AND version_us = k.v OFFSET 0) o",
                &[
                    (&coll, Type::INT8),
                    (&known, Type::TEXT_ARRAY),
                    (&batch.collection, Type::TEXT),
                    (&keyed_ids, Type::TEXT_ARRAY),
                    (&keyed_versions, Type::INT8_ARRAY),
                    (&batch.contributor, Type::INT8),
                ],
            )
            .map_err(pg)?;
        let mut h = Holdings::default();
        for r in rows {
            let id: String = r.get(1);
            let a: i64 = r.get(2);
            match r.get::<_, i32>(0) {
                0 => {
                    h.owners.insert(id, a);
                }
                1 => {
                    h.same.insert(
                        (id, a),
                        SameVersion {
                            body: r.get(4),
                            tlp: r.get(5),
                            contributor: r.get(6),
                            recipients: r.get(7),
                        },
                    );
                }
                2 => h.own_copies.entry(id).or_default().push((a, r.get(4))),
                _ => {
                    h.bounds.insert(id, (a, r.get(3)));
                }
            }
        }
        // The rules look for the poster's copies in the order they were stored.
        for copies in h.own_copies.values_mut() {
            copies.sort_unstable_by_key(|c| c.0);
        }
        Ok(h)
    }
}

/// The log entries of an envelope's objects, each built (JSON parse, RFC 8785 form, leaf
/// hash) once, when a decision first stores the object, and kept if it is decided again.
struct Entries<'a> {
    batch: &'a IngestBatch,
    member: String,
    /// The RFC 8785 forms of the objects' bodies, in order, when the caller computed them.
    canonical: &'a [&'a [u8]],
    built: Vec<Option<LogEntry>>,
}

impl<'a> Entries<'a> {
    fn new(batch: &'a IngestBatch, member: &str, canonical: &'a [&'a [u8]]) -> Entries<'a> {
        Entries {
            batch,
            member: member.to_owned(),
            canonical,
            built: vec![None; batch.objects.len()],
        }
    }

    /// The entry of the batch's `i`th object.
    fn get(&mut self, i: usize) -> Result<&LogEntry> {
        let o = self
            .batch
            .objects
            .get(i)
            .ok_or_else(|| StoreError::Backend(format!("no object {i} in the envelope")))?;
        let slot = self
            .built
            .get_mut(i)
            .ok_or_else(|| StoreError::Backend(format!("no entry {i} for the envelope")))?;
        if slot.is_none() {
            *slot = Some(entries::object_entry(
                &self.batch.collection,
                o,
                &self.member,
                self.canonical.get(i).copied(),
            )?);
        }
        slot.as_ref()
            .ok_or_else(|| StoreError::Backend(format!("entry {i} not built")))
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
    /// Whether the row's id had a stored version when the envelope was decided (its id gate
    /// row is then updated, else inserted).
    known: Vec<bool>,
    /// Ids with no stored version before the envelope, stored by it.
    fresh: HashSet<String>,
    /// Row of each (id, version key) among these, to clear its flags in memory.
    index: HashMap<(String, i64), usize>,
    recipient_added: Vec<i64>,
    recipient: Vec<String>,
    leaf_idx: Vec<i64>,
    leaf: Vec<Vec<u8>>,
    nonce: Vec<Vec<u8>>,
    /// Stored rows that stop being their object's (last, first): by (id, version key).
    cleared: HashMap<(String, i64), (bool, bool)>,
}

impl NewRows {
    /// The version `(id, v)` is no longer its object's last (`last`) or first.
    fn clear(&mut self, id: &str, v: i64, last: bool) {
        let key = (id.to_owned(), v);
        match self.index.get(&key) {
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
                let c = self.cleared.entry(key).or_default();
                if last {
                    c.0 = true;
                } else {
                    c.1 = true;
                }
            }
        }
    }

    /// Writes the rows and the status record (when there is one) with one statement, its
    /// own transaction or part of the caller's: the function `ingest_write`
    /// (`migrations/0010_ingest_gate.sql`), which takes the sequence lock and keeps the id
    /// gate. `lock` says what the rows were allocated from; the `date_added` shift the
    /// function applied, or `None` if it wrote nothing (the state moved and the rows could
    /// not move past it).
    fn write(
        &self,
        c: &mut impl TypedQuery,
        coll: i64,
        batch: &IngestBatch,
        lock: Lock,
        status: Option<&StatusRecord>,
    ) -> Result<Option<i64>> {
        let details = status.map(|s| (details_to_json(&s.successes), details_to_json(&s.failures)));
        let status_id = status.map(|s| s.id.clone());
        let (seen, seq, shiftable) = match lock {
            Lock::None => {
                // Nothing allocated: the status record alone, without the lock.
                if let (Some(s), Some((successes, failures))) = (status, &details) {
                    c.typed(
                        "INSERT INTO statuses (id, member_id, collection_id, request_timestamp,
                           successes, failures) VALUES ($1, $2, $3, $4, $5, $6)",
                        &[
                            (&s.id, Type::TEXT),
                            (&s.member, Type::INT8),
                            (&s.collection, Type::TEXT),
                            (&s.request_timestamp, Type::INT8),
                            (successes, Type::TEXT),
                            (failures, Type::TEXT),
                        ],
                    )
                    .map_err(|e| status_error(e, &s.id))?;
                }
                return Ok(Some(0));
            }
            // No seen state: the caller holds the lock and allocated from what it holds.
            Lock::Held(seq) => (None, seq, false),
            Lock::From {
                seen,
                seq,
                shiftable,
            } => (Some(seen), seq, shiftable),
        };
        let (seen_date_added, seen_log_size) =
            seen.map(|s| (s.last_date_added, s.log_size)).unzip();
        let mut clear_ids = Vec::with_capacity(self.cleared.len());
        let mut clear_vs = Vec::with_capacity(self.cleared.len());
        let mut clear_last = Vec::with_capacity(self.cleared.len());
        let mut clear_first = Vec::with_capacity(self.cleared.len());
        for ((id, v), (last, first)) in &self.cleared {
            clear_ids.push(id.as_str());
            clear_vs.push(*v);
            clear_last.push(*last);
            clear_first.push(*first);
        }
        let ids: Vec<&str> = batch.objects.iter().map(|o| o.id.as_str()).collect();
        let (successes, failures) = details.unzip();
        let params: [(&(dyn ToSql + Sync), Type); 35] = [
            (&seen_date_added, Type::INT8),
            (&seen_log_size, Type::INT8),
            (&shiftable, Type::BOOL),
            (&coll, Type::INT8),
            (&batch.collection, Type::TEXT),
            (&batch.contributor, Type::INT8),
            (&ids, Type::TEXT_ARRAY),
            (&clear_ids, Type::TEXT_ARRAY),
            (&clear_vs, Type::INT8_ARRAY),
            (&clear_last, Type::BOOL_ARRAY),
            (&clear_first, Type::BOOL_ARRAY),
            (&self.date_added, Type::INT8_ARRAY),
            (&self.object_id, Type::TEXT_ARRAY),
            (&self.object_type, Type::TEXT_ARRAY),
            (&self.spec_version, Type::TEXT_ARRAY),
            (&self.version, Type::TEXT_ARRAY),
            (&self.version_us, Type::INT8_ARRAY),
            (&self.is_first, Type::BOOL_ARRAY),
            (&self.is_last, Type::BOOL_ARRAY),
            (&self.tlp, Type::INT8_ARRAY),
            (&self.body, Type::TEXT_ARRAY),
            (&self.known, Type::BOOL_ARRAY),
            (&self.recipient_added, Type::INT8_ARRAY),
            (&self.recipient, Type::TEXT_ARRAY),
            (&self.leaf_idx, Type::INT8_ARRAY),
            (&self.leaf, Type::BYTEA_ARRAY),
            (&self.nonce, Type::BYTEA_ARRAY),
            (&seq.last_date_added, Type::INT8),
            (&seq.log_size, Type::INT8),
            (&status_id, Type::TEXT),
            (&status.map(|s| s.member), Type::INT8),
            (&status.map(|s| s.collection.as_str()), Type::TEXT),
            (&status.map(|s| s.request_timestamp), Type::INT8),
            (&successes, Type::TEXT),
            (&failures, Type::TEXT),
        ];
        let rows = c
            .typed(
                "SELECT ingest_write($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                   $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29,
                   $30, $31, $32, $33, $34, $35)",
                &params,
            )
            .map_err(|e| status_error(e, status_id.as_deref().unwrap_or_default()))?;
        Ok(rows.first().and_then(|r| r.get(0)))
    }
}

/// A failed write's error: a status id already taken is the one key a caller chooses;
/// anything else taken is a bug or a race the sequence lock rules out, reported as it is.
fn status_error(e: postgres::Error, status_id: &str) -> StoreError {
    match e.as_db_error().and_then(|d| d.constraint()) {
        Some("statuses_pkey") => taken_or_pg(format!("status {status_id}"))(e),
        _ => pg(e),
    }
}

/// What an envelope's rows were allocated from, as its write stands to the sequence lock.
#[derive(Clone, Copy)]
enum Lock {
    /// Nothing: the write allocates nothing and takes no lock.
    None,
    /// The caller's transaction holds the lock and allocated the rows from the state it
    /// holds: they move it to this one.
    Held(Sequence),
    /// The state `seen` before the lock; the rows move it to `seq`. The write takes the
    /// lock; if the state moved meanwhile it writes only if `shiftable` (no status or
    /// version depends on the rows' `date_added`) and none of the envelope's ids was
    /// touched since, moving the rows past the state it found.
    From {
        seen: Sequence,
        seq: Sequence,
        shiftable: bool,
    },
}

/// An envelope decided: each object's outcome, the rows storing the new versions, and the
/// allocation state after them.
struct Plan {
    outcomes: Vec<IngestOutcome>,
    rows: NewRows,
    seq: Sequence,
}

/// Decides every object of `batch` on what `h` holds, allocating from `seq` for those stored.
fn plan(
    batch: &IngestBatch,
    poster: &Poster,
    mut h: Holdings,
    mut seq: Sequence,
    entries: &mut Entries<'_>,
) -> Result<Plan> {
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
        let outcome = rules::decide(o, poster, &held);
        if !matches!(outcome, IngestOutcome::Stored { .. }) {
            outcomes.push(outcome);
            continue;
        }
        let date_added = seq.next_date_added();
        // A value-identified object's copy is versioned by its date_added.
        let v = o.version_micros.unwrap_or(date_added);
        let bounds = h.bounds.get(&o.id).copied();
        let known = bounds.is_some() && !rows.fresh.contains(&o.id);
        if bounds.is_none() {
            rows.fresh.insert(o.id.clone());
        }
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
        let entry = entries.get(i)?;
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
        rows.known.push(known);
        for r in &o.recipients {
            rows.recipient_added.push(date_added);
            rows.recipient.push(r.clone());
        }
        rows.leaf_idx.push(seq.reserve());
        rows.leaf.push(entry.leaf.clone());
        rows.nonce.push(entry.nonce.to_vec());
        outcomes.push(IngestOutcome::Stored { date_added });
    }
    Ok(Plan {
        outcomes,
        rows,
        seq,
    })
}

/// Whether any of the batch's ids was stored or deleted in collection `coll` after the
/// allocation state `seen`, read under the lock: every version stored since has a later
/// `date_added` and every deletion since a tombstone leaf at or after `seen.log_size`. Those
/// rows are read by range scans and each tested against the ids with `= ANY`, which
/// PostgreSQL hashes once: written as a join to the ids, stale statistics (a new database)
/// made it a nested loop comparing every recent row with every id, ~90 ms a call under the
/// lock.
fn touched_since(
    tx: &mut Transaction<'_>,
    coll: i64,
    batch: &IngestBatch,
    seen: Sequence,
) -> Result<bool> {
    let ids: Vec<&str> = batch.objects.iter().map(|o| o.id.as_str()).collect();
    let r = tx
        .query_typed_one(
            "SELECT EXISTS (SELECT 1 FROM objects
                 WHERE date_added > $2 AND coll = $3 AND object_id = ANY($1))
               OR EXISTS (SELECT 1 FROM log_tombstones
                 WHERE leaf_idx >= $4 AND coll_id = $5 AND object_id = ANY($1))",
            &[
                (&ids, Type::TEXT_ARRAY),
                (&seen.last_date_added, Type::INT8),
                (&coll, Type::INT8),
                (&seen.log_size, Type::INT8),
                (&batch.collection, Type::TEXT),
            ],
        )
        .map_err(pg)?;
    Ok(r.get(0))
}

/// An envelope read, decided and hashed before the lock, waiting to be written
/// ([`write_in`], or [`write_status`] if it stores nothing).
pub(crate) struct Prepared {
    batch: IngestBatch,
    header: Header,
    /// The holdings the decisions rest on, kept for a decision taken again under the lock.
    holdings: Holdings,
    decided: Plan,
    status: StatusRecord,
    lock: Lock,
    /// The log entries built so far, kept if the envelope is decided again.
    built: Vec<Option<LogEntry>>,
}

impl Prepared {
    /// Whether the write takes the sequence lock (the envelope stores something).
    pub(crate) fn locks(&self) -> bool {
        !matches!(self.lock, Lock::None)
    }

    /// The report of the written envelope, its `date_added` values moved by `shift`.
    fn report(mut self, shift: i64) -> IngestReport {
        // The status names versions by their keys, which the shift leaves alone.
        for o in &mut self.decided.outcomes {
            if let IngestOutcome::Stored { date_added } = o {
                *date_added += shift;
            }
        }
        IngestReport {
            outcomes: self.decided.outcomes,
            status: self.status,
        }
    }

    /// Writes the envelope with the rows allocated before the lock: `Some` its report, or
    /// `None` if the function wrote nothing (see [`Lock::From`]).
    fn write_seen(&mut self, c: &mut impl TypedQuery) -> Result<Option<i64>> {
        self.decided.rows.write(
            c,
            self.header.coll,
            &self.batch,
            self.lock,
            Some(&self.status),
        )
    }

    /// Decides the envelope again inside `tx`, which takes (or already holds) the lock, and
    /// writes it there: the holdings are read again only if another writer stored or
    /// deleted one of its ids since the reads.
    fn write_locked(self, tx: &mut Transaction<'_>) -> Result<IngestReport> {
        let Prepared {
            batch,
            header,
            holdings,
            built,
            ..
        } = self;
        let locked = Sequence::lock(tx)?;
        let holdings = if touched_since(tx, header.coll, &batch, header.seen)? {
            // Another writer stored or deleted some of these ids: decide on what it left.
            Holdings::read(tx, header.coll, &batch)?
        } else {
            // Other writers stored or deleted none of these ids: the holdings stand, and only
            // the allocations move, so the full read stays out of the lock.
            holdings
        };
        let mut entries = Entries {
            batch: &batch,
            member: header.poster.viewer.name.clone(),
            canonical: &[],
            built,
        };
        let decided = plan(&batch, &header.poster, holdings, locked, &mut entries)?;
        let status = rules::status_record(&batch, &decided.outcomes);
        let lock = Lock::Held(decided.seq);
        written(
            decided
                .rows
                .write(tx, header.coll, &batch, lock, Some(&status))?,
        )?;
        Ok(IngestReport {
            outcomes: decided.outcomes,
            status,
        })
    }
}

/// Reads and decides an envelope on connection `c` (outside any transaction), before the
/// lock (see the module doc), and builds the log leaves of what it stores.
pub(crate) fn prepare(c: &mut Client, batch: IngestBatch) -> Result<Prepared> {
    let header = Header::read(c, &batch)?;
    let holdings = Holdings::read(c, header.coll, &batch)?;
    let mut entries = Entries::new(&batch, &header.poster.viewer.name, &[]);
    let decided = plan(
        &batch,
        &header.poster,
        holdings.clone(),
        header.seen,
        &mut entries,
    )?;
    let built = entries.built;
    let status = rules::status_record(&batch, &decided.outcomes);
    // An envelope that stores nothing allocates nothing: its decisions stand as of the
    // reads, and it needs no lock.
    let lock = if decided.rows.date_added.is_empty() {
        Lock::None
    } else {
        Lock::From {
            seen: header.seen,
            seq: decided.seq,
            shiftable: decided.rows.version.iter().all(Option::is_some),
        }
    };
    Ok(Prepared {
        batch,
        header,
        holdings,
        decided,
        status,
        lock,
        built,
    })
}

/// Stores the status record of a prepared envelope that stores nothing (see
/// [`Prepared::locks`]) on connection `c`, outside any transaction: one statement, no lock.
pub(crate) fn write_status(c: &mut Client, mut p: Prepared) -> Result<IngestReport> {
    written(p.write_seen(c)?)?;
    Ok(p.report(0))
}

/// Stores a prepared envelope and its status record inside `tx` (a group's transaction):
/// one statement takes the lock (or finds it held by `tx`) and writes everything, moving the
/// rows past what other writers allocated since the reads unless they touched the
/// envelope's ids (or the rows cannot move: a value-identified object's version is its
/// `date_added`); only then is the envelope decided again, under the lock. The lock stays
/// held to `tx`'s end.
pub(crate) fn write_in(mut p: Prepared, tx: &mut Transaction<'_>) -> Result<IngestReport> {
    match p.write_seen(tx)? {
        Some(shift) => Ok(p.report(shift)),
        None => p.write_locked(tx),
    }
}

/// A write under a lock the caller holds always happens, unmoved; anything else is a bug.
fn written(shift: Option<i64>) -> Result<()> {
    match shift {
        Some(0) => Ok(()),
        _ => Err(StoreError::Backend(
            "a write under the held sequence lock was moved or refused".into(),
        )),
    }
}

/// Stores the batch's objects inside the caller's transaction, which holds `seq` (a mirror
/// page): its holdings read under the lock, its rows and `seq` written by one statement.
/// `canonical` holds the RFC 8785 forms of the objects' bodies, in order, when the caller
/// computed them (empty: derived).
pub(crate) fn ingest_tx(
    tx: &mut Transaction<'_>,
    seq: &mut Sequence,
    batch: &IngestBatch,
    canonical: &[&[u8]],
) -> Result<Vec<IngestOutcome>> {
    let header = Header::read(tx, batch)?;
    let mut entries = Entries::new(batch, &header.poster.viewer.name, canonical);
    let holdings = Holdings::read(tx, header.coll, batch)?;
    let decided = plan(batch, &header.poster, holdings, *seq, &mut entries)?;
    let lock = Lock::Held(decided.seq);
    written(decided.rows.write(tx, header.coll, batch, lock, None)?)?;
    *seq = decided.seq;
    Ok(decided.outcomes)
}
