//! The helpers every module's transactions share: opening a connection, the backend error,
//! the generation counter, collection keys, the SQL of TLP visibility, and the ingest of an
//! envelope with its log leaves and tombstones (one home for the store's writes and the
//! mirror's, `peers.rs`).

use std::collections::HashSet;
use std::path::Path;

use detente_store::entries::{self, DeletedVersionRow, LogEntry};
use detente_store::rules::{self, Held, HeldVersion, Poster};
use detente_store::{
    IngestOutcome, MemberId, NewObject, Result, StoreError, Tlp, TombstoneLogEntry, Viewer,
};
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};

/// The version key that stores before per-contributor copies gave objects with neither
/// `modified` nor `created` (one copy per id); opening such a file migrates it.
pub(crate) const UNVERSIONED: i64 = i64::MIN;

/// A SQLite error as the store's.
pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Opens a connection to the store's file, configured as every connection is.
pub(crate) fn open_conn(path: &Path, create: bool, cache_kib: u32) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend)?;
    // Plans must not depend on bound values: otherwise each new binding expires the cached
    // statement and SQLite re-parses it on every step (most of a by-id read's cost).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(backend)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -{cache_kib}; PRAGMA mmap_size = 1073741824;"
    ))
    .map_err(backend)?;
    Ok(conn)
}

/// Counts a change the caches keyed on the generation must see.
pub(crate) fn bump_generation(tx: &Transaction<'_>) -> Result<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('generation', 1)
         ON CONFLICT (key) DO UPDATE SET value = value + 1",
        [],
    )
    .map_err(backend)?;
    Ok(())
}

/// The key of the collection `id`.
pub(crate) fn coll_key(conn: &Connection, id: &str) -> Result<i64> {
    conn.query_row("SELECT coll FROM collections WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .optional()
    .map_err(backend)?
    .ok_or_else(|| StoreError::NotFound(format!("collection {id}")))
}

/// Pushes a viewer's parameters; returns their numbers (clearance, member, name).
pub(crate) fn vis_params(viewer: &Viewer, args: &mut Vec<Sql>) -> (usize, usize, usize) {
    args.push(Sql::Integer(i64::from(viewer.clearance.rank())));
    let c = args.len();
    args.push(Sql::Integer(viewer.member));
    let m = args.len();
    args.push(Sql::Text(viewer.name.clone()));
    (c, m, args.len())
}

/// SQL for the visibility of the row `t` to the viewer whose parameters are `(c, m, n)`
/// ([`Viewer::sees`] in SQL).
pub(crate) fn vis_of(t: &str, (c, m, n): (usize, usize, usize)) -> String {
    format!(
        "({t}.tlp <= ?{c} OR ({t}.tlp = 4 AND ({t}.contributor = ?{m} OR EXISTS (SELECT 1 FROM \
         red_recipients r WHERE r.date_added = {t}.date_added AND r.member = ?{n}))))"
    )
}

/// The ids among `ids` with a stored version in the collection (`coll`), or, given the
/// collection's id as `deleted_in`, also a logged deletion there: one statement for a batch.
pub(crate) fn ids_with_history<'a>(
    tx: &Transaction<'_>,
    coll: i64,
    deleted_in: Option<&str>,
    ids: impl Iterator<Item = &'a str>,
) -> Result<HashSet<String>> {
    let ids: Vec<&str> = ids.collect();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let wanted = serde_json::to_string(&ids)
        .map_err(|e| StoreError::Backend(format!("object id list: {e}")))?;
    let mut st = tx
        .prepare_cached(
            "SELECT DISTINCT value FROM json_each(?1)
             WHERE EXISTS (SELECT 1 FROM objects INDEXED BY objects_version
                           WHERE coll = ?2 AND object_id = value)
                OR (?3 IS NOT NULL AND EXISTS (
                      SELECT 1 FROM log_tombstones INDEXED BY log_tombstones_object
                      WHERE coll_id = ?3 AND object_id = value))",
        )
        .map_err(backend)?;
    st.query_map(params![wanted, coll, deleted_in], |r| r.get(0))
        .map_err(backend)?
        .collect::<rusqlite::Result<HashSet<String>>>()
        .map_err(backend)
}

/// Stores `objects`, posted by the member `by` into `collection`, inside the caller's
/// transaction. `canonical` holds the RFC 8785 forms of the objects' bodies, in
/// order, when the caller computed them (empty: derived).
pub(crate) fn ingest_tx(
    tx: &Transaction<'_>,
    w_last: &mut i64,
    (collection, by): (&str, MemberId),
    objects: &[&NewObject],
    canonical: &[&[u8]],
) -> Result<Vec<IngestOutcome>> {
    let coll = coll_key(tx, collection)?;
    // Ids with no history in the collection (most of a large backlog) need none of the
    // per-object lookups below: nothing owns them and no version or copy of them is held.
    let mut known = ids_with_history(
        tx,
        coll,
        Some(collection),
        objects.iter().map(|o| o.id.as_str()),
    )?;
    // The log grows only under this transaction: its next index is read once, not per leaf.
    let mut leaf_idx = next_leaf_index(tx)?;
    let mut bounds = tx
        .prepare_cached(
            "SELECT min(version_us), max(version_us) FROM objects WHERE coll = ?1 AND object_id = ?2",
        )
        .map_err(backend)?;
    // The owner is the contributor of the first version ever stored, deleted ones included.
    let mut owner = tx
        .prepare_cached(
            "SELECT contributor FROM (
               SELECT date_added, contributor FROM objects INDEXED BY objects_version
                 WHERE coll = ?1 AND object_id = ?2 AND version IS NOT NULL
               UNION ALL
               SELECT date_added, contributor FROM log_tombstones INDEXED BY log_tombstones_object
                 WHERE coll_id = ?3 AND object_id = ?2 AND version != '')
             ORDER BY date_added LIMIT 1",
        )
        .map_err(backend)?;
    let mut same_version = tx
        .prepare_cached(
            "SELECT date_added, body, tlp, contributor FROM objects
             WHERE coll = ?1 AND object_id = ?2 AND version_us = ?3",
        )
        .map_err(backend)?;
    let mut own_copies = tx
        .prepare_cached(
            "SELECT date_added, body FROM objects INDEXED BY objects_version
             WHERE coll = ?1 AND object_id = ?2 AND version IS NULL AND contributor = ?3",
        )
        .map_err(backend)?;
    let mut recipients_of = tx
        .prepare_cached("SELECT member FROM red_recipients WHERE date_added = ?1")
        .map_err(backend)?;
    let mut clear_last = tx
        .prepare_cached(
            "UPDATE objects SET is_last = 0 WHERE coll = ?1 AND object_id = ?2 AND version_us = ?3",
        )
        .map_err(backend)?;
    let mut clear_first = tx
        .prepare_cached(
            "UPDATE objects SET is_first = 0 WHERE coll = ?1 AND object_id = ?2 AND version_us = ?3",
        )
        .map_err(backend)?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO objects (date_added, coll, object_id, object_type, spec_version, version,
             version_us, is_first, is_last, tlp, contributor, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .map_err(backend)?;
    let mut recipient = tx
        .prepare_cached("INSERT OR IGNORE INTO red_recipients (date_added, member) VALUES (?1, ?2)")
        .map_err(backend)?;
    let poster = poster(tx, by)?;
    let contributor = poster.viewer.name.clone();
    let mut outcomes = Vec::with_capacity(objects.len());
    for (i, &o) in objects.iter().enumerate() {
        let mut held = Held::default();
        let fresh = !known.contains(&o.id);
        match o.version_micros {
            _ if fresh => {}
            Some(v) => {
                held.owner = owner
                    .query_row(params![coll, o.id, collection], |r| r.get(0))
                    .optional()
                    .map_err(backend)?;
                let row: Option<(i64, String, u8, i64)> = same_version
                    .query_row(params![coll, o.id, v], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()
                    .map_err(backend)?;
                if let Some((date_added, body, tlp, by)) = row {
                    let recipients = recipients_of
                        .query_map([date_added], |r| r.get(0))
                        .map_err(backend)?
                        .collect::<rusqlite::Result<Vec<String>>>()
                        .map_err(backend)?;
                    // A rank no level has is seen by no one.
                    let visible =
                        Tlp::from_rank(tlp).is_some_and(|t| poster.viewer.sees(t, by, &recipients));
                    held.same_version = Some(HeldVersion { body, visible });
                }
            }
            None => {
                held.own_copies = own_copies
                    .query_map(params![coll, o.id, by], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(backend)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(backend)?;
            }
        }
        let outcome = rules::decide(o, &poster, &held);
        if !matches!(outcome, IngestOutcome::Stored { .. }) {
            outcomes.push(outcome);
            continue;
        }
        let date_added = entries::next_date_added(*w_last);
        *w_last = date_added;
        // A value-identified object's copy is versioned by its date_added.
        let v = o.version_micros.unwrap_or(date_added);
        let (min, max): (Option<i64>, Option<i64>) = if fresh {
            (None, None)
        } else {
            bounds
                .query_row(params![coll, o.id], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(backend)?
        };
        let (is_first, is_last) = rules::first_last(v, min, max);
        if let (true, Some(m)) = (is_last, max) {
            clear_last
                .execute(params![coll, o.id, m])
                .map_err(backend)?;
        }
        if let (true, Some(m)) = (is_first, min) {
            clear_first
                .execute(params![coll, o.id, m])
                .map_err(backend)?;
        }
        insert
            .execute(params![
                date_added,
                coll,
                o.id,
                o.object_type,
                o.spec_version,
                o.version,
                v,
                is_first,
                is_last,
                o.tlp.rank(),
                by,
                o.body
            ])
            .map_err(backend)?;
        for r in &o.recipients {
            recipient.execute(params![date_added, r]).map_err(backend)?;
        }
        let canonical = canonical.get(i).copied();
        log_object(
            tx,
            collection,
            o,
            &contributor,
            (date_added, leaf_idx),
            canonical,
        )?;
        leaf_idx += 1;
        if fresh {
            known.insert(o.id.clone());
        }
        outcomes.push(IngestOutcome::Stored { date_added });
    }
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('last_date_added', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .map_err(backend)?
    .execute([*w_last])
    .map_err(backend)?;
    Ok(outcomes)
}

/// The poster of an envelope ([`Poster::from_row`] of its member row).
fn poster(tx: &Transaction<'_>, id: MemberId) -> Result<Poster> {
    let row: Option<(String, String, String)> = tx
        .prepare_cached("SELECT name, role, clearance FROM members WHERE id = ?1")
        .map_err(backend)?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .map_err(backend)?;
    Poster::from_row(id, row)
}

/// The log's next index, inside the caller's (write) transaction.
fn next_leaf_index(tx: &Transaction<'_>) -> Result<i64> {
    tx.prepare_cached("SELECT coalesce(max(idx) + 1, 0) FROM log_leaves")
        .and_then(|mut st| st.query_row([], |r| r.get(0)))
        .map_err(backend)
}

/// Writes a leaf at log index `idx`, inside the caller's transaction.
fn insert_leaf(tx: &Transaction<'_>, idx: i64, entry: &LogEntry) -> Result<()> {
    tx.prepare_cached("INSERT INTO log_leaves (idx, leaf) VALUES (?1, ?2)")
        .map_err(backend)?
        .execute(params![idx, entry.leaf])
        .map_err(backend)?;
    Ok(())
}

/// Appends a leaf at the next log index, inside the caller's transaction.
pub(crate) fn append_leaf(tx: &Transaction<'_>, entry: &LogEntry) -> Result<i64> {
    let idx = next_leaf_index(tx)?;
    insert_leaf(tx, idx, entry)?;
    Ok(idx)
}

/// Logs the deletion of one object version, inside the caller's transaction.
pub(crate) fn log_tombstone(
    tx: &Transaction<'_>,
    collection: &str,
    object_id: &str,
    d: &DeletedVersionRow,
    member: &str,
    time: &str,
) -> Result<()> {
    let version = d.version_text();
    let entry = d.tombstone(collection, object_id, member, time)?;
    let idx = append_leaf(tx, &entry)?;
    tx.prepare_cached(
        "INSERT INTO log_tombstones (leaf_idx, date_added, coll_id, object_id, version, member, \
         time, nonce, deleted_idx, tlp, contributor) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .map_err(backend)?
    .execute(params![
        idx,
        d.date_added,
        collection,
        object_id,
        version,
        member,
        time,
        entry.nonce.as_slice(),
        d.leaf_idx,
        d.tlp,
        d.contributor
    ])
    .map_err(backend)?;
    Ok(())
}

/// A tombstone from a row whose first columns are `leaf_idx, leaf, nonce, version, member,
/// time, deleted_idx`.
pub(crate) fn row_tombstone(r: &rusqlite::Row<'_>) -> rusqlite::Result<TombstoneLogEntry> {
    Ok(TombstoneLogEntry {
        index: r.get::<_, i64>(0)?.unsigned_abs(),
        leaf: r.get(1)?,
        nonce: r.get(2)?,
        version: r.get(3)?,
        member: r.get(4)?,
        time: r.get(5)?,
        deleted_index: r.get::<_, i64>(6)?.unsigned_abs(),
    })
}

/// Recomputes the first and last flags of an object's remaining versions after a deletion.
pub(crate) fn refresh_bounds(tx: &Transaction<'_>, coll: i64, object_id: &str) -> Result<()> {
    tx.execute(
        "UPDATE objects SET
           is_first = (version_us = (SELECT min(version_us) FROM objects WHERE coll = ?1 AND object_id = ?2)),
           is_last = (version_us = (SELECT max(version_us) FROM objects WHERE coll = ?1 AND object_id = ?2))
         WHERE coll = ?1 AND object_id = ?2",
        params![coll, object_id],
    )
    .map_err(backend)?;
    Ok(())
}

/// The last `date_added` handed out by any process on the file: read inside a write
/// transaction, so the stored value is the one serialization point.
pub(crate) fn last_date_added(tx: &Transaction<'_>, ours: i64) -> Result<i64> {
    let stored: Option<i64> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'last_date_added'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    Ok(ours.max(stored.unwrap_or(0)))
}

/// Logs a newly stored object version, added at `date_added`, at log index `idx` (the next
/// one) with a fresh random nonce.
fn log_object(
    tx: &Transaction<'_>,
    collection: &str,
    o: &NewObject,
    member: &str,
    (date_added, idx): (i64, i64),
    canonical: Option<&[u8]>,
) -> Result<()> {
    let entry = entries::object_entry(collection, o, member, canonical)?;
    insert_leaf(tx, idx, &entry)?;
    tx.prepare_cached("INSERT INTO log_nonces (date_added, nonce, leaf_idx) VALUES (?1, ?2, ?3)")
        .map_err(backend)?
        .execute(params![date_added, entry.nonce.as_slice(), idx])
        .map_err(backend)?;
    Ok(())
}
