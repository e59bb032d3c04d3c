//! The helpers every module's transactions share: the generation counter, collection keys,
//! the allocation of `date_added` and log indices under the row lock of `sequence_point`
//! (`Sequence`), the ingest of an envelope, and the deletion of versions with their
//! tombstones (one home for the store's writes and the mirror's, `peers.rs`).

use std::collections::HashMap;

use detente_store::entries::{self, DeletedVersionRow, LogEntry};
use detente_store::rules::{self, Held, HeldVersion, Poster};
use detente_store::{
    IngestBatch, IngestOutcome, MemberId, Result, StoreError, TombstoneLogEntry, tlp_from_stored,
};
use postgres::{GenericClient, Transaction};

use crate::error::pg;

/// Counts a change the caches keyed on the generation must see.
pub(crate) fn bump_generation(c: &mut impl GenericClient) -> Result<()> {
    c.execute(
        "UPDATE counters SET value = value + 1 WHERE name = 'generation'",
        &[],
    )
    .map_err(pg)?;
    Ok(())
}

/// The key of the collection `id`.
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

/// The columns [`deleted_from_row`] reads from `o` (objects) and `n` (log_nonces), in order.
pub(crate) const DELETED_COLUMNS: &str =
    "o.date_added, o.version, o.tlp, o.contributor, n.leaf_idx";

/// A version being deleted from a row holding [`DELETED_COLUMNS`] from its `at`th column.
pub(crate) fn deleted_from_row(r: &postgres::Row, at: usize) -> DeletedVersionRow {
    DeletedVersionRow {
        date_added: r.get(at),
        version: r.get(at + 1),
        tlp: r.get(at + 2),
        contributor: r.get(at + 3),
        leaf_idx: r.get(at + 4),
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
    d: &DeletedVersionRow,
    member: &str,
    time: &str,
) -> Result<()> {
    tx.execute(
        "DELETE FROM objects WHERE date_added = $1",
        &[&d.date_added],
    )
    .map_err(pg)?;
    let version = d.version_text();
    let entry = d.tombstone(collection, object_id, member, time)?;
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
