//! The helpers every module's transactions share besides ingest (`ingest.rs`): the generation
//! counter and the deletion of versions with their tombstones (one home for the store's
//! writes and the mirror's, `peers.rs`).

use detente_store::entries::DeletedVersionRow;
use detente_store::{Result, TombstoneLogEntry};
use postgres::{GenericClient, Transaction};

use crate::error::pg;
use crate::ingest::Sequence;

/// Counts a change the caches keyed on the generation must see.
pub(crate) fn bump_generation(c: &mut impl GenericClient) -> Result<()> {
    c.execute(
        "UPDATE counters SET value = value + 1 WHERE name = 'generation'",
        &[],
    )
    .map_err(pg)?;
    Ok(())
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
