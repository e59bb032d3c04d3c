//! Federation tables (issue 13): partner nodes, their accepted checkpoints and mirrored log
//! entries, mirrors of partner collections and the provenance of mirrored versions.

use detente_store::entries::{DeletedVersionRow, stored_u64};
use detente_store::{
    IngestOutcome, MirrorApplied, MirrorPage, MirrorRecord, NewObject, NewPeer, PeerLog,
    PeerRecord, Provenance, Result, StoreError, TombstoneFeedEntry, Viewer,
};
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

use crate::tx::{
    backend, bump_generation, coll_key, ids_with_history, ingest_tx, log_tombstone, refresh_bounds,
    row_tombstone, vis_of, vis_params,
};

const PEER_COLUMNS: &str = "name, url, log_key, witnesses, quorum, authorization, ca_cert, \
     member_id, log_size, log_root, log_note, log_frontier";

fn row_peer(r: &rusqlite::Row<'_>) -> rusqlite::Result<(PeerRecord, String)> {
    let size: Option<i64> = r.get(8)?;
    let log = match size {
        Some(size) => Some(PeerLog {
            size: size.unsigned_abs(),
            root: r.get(9)?,
            note: r.get(10)?,
            frontier: r.get(11)?,
        }),
        None => None,
    };
    Ok((
        PeerRecord {
            name: r.get(0)?,
            url: r.get(1)?,
            log_key: r.get(2)?,
            witnesses: Vec::new(),
            quorum: r.get(4)?,
            authorization: r.get(5)?,
            ca_cert: r.get(6)?,
            member: r.get(7)?,
            log,
        },
        r.get(3)?,
    ))
}

fn to_peer((mut p, witnesses): (PeerRecord, String)) -> Result<PeerRecord> {
    p.witnesses = serde_json::from_str(&witnesses)
        .map_err(|e| StoreError::Backend(format!("peer {} witnesses: {e}", p.name)))?;
    Ok(p)
}

/// Adds a peer and its identity member.
pub(crate) fn add(tx: &Transaction<'_>, p: &NewPeer) -> Result<PeerRecord> {
    let taken: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM peers WHERE name = ?1)
                 OR EXISTS (SELECT 1 FROM members WHERE name = ?2)",
            params![p.name, p.identity.name],
            |r| r.get(0),
        )
        .map_err(backend)?;
    if taken {
        return Err(StoreError::AlreadyExists(format!("peer {}", p.name)));
    }
    tx.execute(
        "INSERT INTO members (name, role, clearance, secret_hash, disabled)
         VALUES (?1, ?2, ?3, ?4, 1)",
        params![
            p.identity.name,
            p.identity.role.as_str(),
            p.identity.clearance.as_str(),
            p.identity.secret_hash
        ],
    )
    .map_err(backend)?;
    let member = tx.last_insert_rowid();
    let witnesses = serde_json::to_string(&p.witnesses)
        .map_err(|e| StoreError::Backend(format!("witnesses: {e}")))?;
    tx.execute(
        "INSERT INTO peers (name, url, log_key, witnesses, quorum, authorization, ca_cert, member_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            p.name,
            p.url,
            p.log_key,
            witnesses,
            p.quorum,
            p.authorization,
            p.ca_cert,
            member
        ],
    )
    .map_err(backend)?;
    bump_generation(tx)?;
    Ok(p.stored(member))
}

/// One peer.
pub(crate) fn peer(conn: &Connection, name: &str) -> Result<Option<PeerRecord>> {
    conn.prepare_cached(&format!("SELECT {PEER_COLUMNS} FROM peers WHERE name = ?1"))
        .and_then(|mut st| st.query_row([name], row_peer).optional())
        .map_err(backend)?
        .map(to_peer)
        .transpose()
}

/// Every peer.
pub(crate) fn peers(conn: &Connection) -> Result<Vec<PeerRecord>> {
    let mut st = conn
        .prepare_cached(&format!("SELECT {PEER_COLUMNS} FROM peers ORDER BY name"))
        .map_err(backend)?;
    let rows = st
        .query_map([], row_peer)
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)?;
    rows.into_iter().map(to_peer).collect()
}

fn row_mirror(r: &rusqlite::Row<'_>) -> rusqlite::Result<MirrorRecord> {
    Ok(MirrorRecord {
        id: r.get(0)?,
        peer: r.get(1)?,
        remote_collection: r.get(2)?,
        local_collection: r.get(3)?,
        objects_after: r.get(4)?,
        tombstones_after: r.get(5)?,
    })
}

const MIRROR_COLUMNS: &str =
    "id, peer, remote_collection, local_collection, objects_after, tombstones_after";

/// Adds a mirror.
pub(crate) fn add_mirror(
    tx: &Transaction<'_>,
    peer: &str,
    remote: &str,
    local: &str,
) -> Result<MirrorRecord> {
    let known: (bool, bool) = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM peers WHERE name = ?1),
                    EXISTS (SELECT 1 FROM collections WHERE id = ?2)",
            params![peer, local],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(backend)?;
    if !known.0 {
        return Err(StoreError::NotFound(format!("peer {peer}")));
    }
    if !known.1 {
        return Err(StoreError::NotFound(format!("collection {local}")));
    }
    let n = tx
        .execute(
            "INSERT OR IGNORE INTO mirrors (peer, remote_collection, local_collection)
             VALUES (?1, ?2, ?3)",
            params![peer, remote, local],
        )
        .map_err(backend)?;
    if n == 0 {
        return Err(StoreError::AlreadyExists(format!(
            "a mirror of {peer}'s collection {remote} into {local}"
        )));
    }
    tx.query_row(
        &format!("SELECT {MIRROR_COLUMNS} FROM mirrors WHERE id = ?1"),
        [tx.last_insert_rowid()],
        row_mirror,
    )
    .map_err(backend)
}

/// The mirrors of one peer or all.
pub(crate) fn mirrors(conn: &Connection, peer: Option<&str>) -> Result<Vec<MirrorRecord>> {
    let mut st = conn
        .prepare_cached(&format!(
            "SELECT {MIRROR_COLUMNS} FROM mirrors WHERE ?1 IS NULL OR peer = ?1 ORDER BY id"
        ))
        .map_err(backend)?;
    st.query_map([peer], row_mirror)
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)
}

/// Stores fetched (not yet accepted) partner log entries.
pub(crate) fn leaves_put(
    tx: &Transaction<'_>,
    peer: &str,
    start: u64,
    leaves: &[Vec<u8>],
) -> Result<()> {
    let mut st = tx
        .prepare_cached("INSERT OR REPLACE INTO peer_leaves (peer, idx, leaf) VALUES (?1, ?2, ?3)")
        .map_err(backend)?;
    for (i, leaf) in leaves.iter().enumerate() {
        st.execute(params![
            peer,
            stored_u64("log index", start + i as u64)?,
            leaf
        ])
        .map_err(backend)?;
    }
    Ok(())
}

/// Stored partner log entries at some indices, in the order asked: one statement for a page.
pub(crate) fn leaves_at(
    conn: &Connection,
    peer: &str,
    indices: &[u64],
) -> Result<Vec<Option<Vec<u8>>>> {
    if indices.is_empty() {
        return Ok(Vec::new());
    }
    let wanted = serde_json::to_string(
        &indices
            .iter()
            .map(|&i| stored_u64("log index", i))
            .collect::<Result<Vec<i64>>>()?,
    )
    .map_err(|e| StoreError::Backend(format!("log index list: {e}")))?;
    // `IN (SELECT … json_each)`, not a join: SQLite would scan all the peer's leaves for each.
    let mut st = conn
        .prepare_cached(
            "SELECT idx, leaf FROM peer_leaves
             WHERE peer = ?1 AND idx IN (SELECT value FROM json_each(?2))",
        )
        .map_err(backend)?;
    let found = st
        .query_map(params![peer, wanted], |r| {
            Ok((r.get::<_, i64>(0)?.unsigned_abs(), r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(backend)?
        .collect::<rusqlite::Result<std::collections::HashMap<u64, Vec<u8>>>>()
        .map_err(backend)?;
    Ok(indices.iter().map(|i| found.get(i).cloned()).collect())
}

/// Compare-and-set of a peer's accepted checkpoint.
pub(crate) fn log_accept(
    conn: &Connection,
    peer: &str,
    expected: Option<u64>,
    new: &PeerLog,
) -> Result<bool> {
    let expected = expected.map(|i| stored_u64("log index", i)).transpose()?;
    let size = stored_u64("log index", new.size)?;
    let n = conn
        .prepare_cached(
            "UPDATE peers SET log_size = ?2, log_root = ?3, log_note = ?4, log_frontier = ?5
             WHERE name = ?1 AND log_size IS ?6",
        )
        .and_then(|mut st| {
            st.execute(params![
                peer,
                size,
                new.root,
                new.note,
                new.frontier,
                expected
            ])
        })
        .map_err(backend)?;
    Ok(n == 1)
}

/// Applies one mirror page inside the caller's transaction; `last` is the store's last
/// `date_added`, advanced by what is stored.
pub(crate) fn apply(
    tx: &Transaction<'_>,
    last: &mut i64,
    page: &MirrorPage,
) -> Result<MirrorApplied> {
    let (peer, local): (String, String) = tx
        .query_row(
            "SELECT peer, local_collection FROM mirrors
             WHERE id = ?1 AND objects_after = ?2 AND tombstones_after = ?3",
            params![page.mirror, page.expected.0, page.expected.1],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(backend)?
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "mirror {} moved since this page was fetched (another sync ran)",
                page.mirror
            ))
        })?;
    let (member, member_name): (i64, String) = tx
        .query_row(
            "SELECT p.member_id, m.name FROM peers p JOIN members m ON m.id = p.member_id
             WHERE p.name = ?1",
            [&peer],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(backend)?;
    let coll = coll_key(tx, &local)?;
    let mut out = MirrorApplied::default();
    // Tombstones first: a version deleted and then posted again arrives as a tombstone and a
    // new row, and must end up stored.
    for &idx in &page.deleted {
        out.deleted
            .extend(delete_mirrored(tx, coll, &local, &peer, idx, &member_name)?);
    }
    let held_before = ids_with_history(
        tx,
        coll,
        None,
        page.objects.iter().map(|m| m.object.id.as_str()),
    )?;
    let objects: Vec<&NewObject> = page.objects.iter().map(|m| &m.object).collect();
    let canonical: Vec<&[u8]> = page
        .objects
        .iter()
        .map(|m| m.canonical.as_slice())
        .collect();
    let outcomes = ingest_tx(tx, last, (&local, member), &objects, &canonical)?;
    let mut provenance = tx
        .prepare_cached(
            "INSERT INTO mirror_provenance (date_added, peer, partner_index, partner_contributor,
             partner_date_added) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(backend)?;
    let mut seen = std::collections::HashSet::new();
    for (m, outcome) in page.objects.iter().zip(&outcomes) {
        if let IngestOutcome::Stored { date_added } = outcome {
            provenance
                .execute(params![
                    date_added,
                    peer,
                    stored_u64("log index", m.partner_index)?,
                    m.partner_contributor,
                    m.partner_date_added
                ])
                .map_err(backend)?;
        }
        out.record(m, outcome, held_before.contains(&m.object.id), &mut seen);
    }
    tx.execute(
        "UPDATE mirrors SET objects_after = ?2, tombstones_after = ?3 WHERE id = ?1",
        params![page.mirror, page.next.0, page.next.1],
    )
    .map_err(backend)?;
    Ok(out)
}

/// Deletes the local versions mirrored from the partner entry `idx` into the collection,
/// each with a local tombstone by the peer's identity; returns their object ids.
fn delete_mirrored(
    tx: &Transaction<'_>,
    coll: i64,
    collection: &str,
    peer: &str,
    idx: u64,
    member: &str,
) -> Result<Vec<String>> {
    let rows: Vec<(String, DeletedVersionRow)> = {
        let mut st = tx
            .prepare_cached(
                "SELECT o.object_id, o.date_added, o.version, o.tlp, o.contributor, n.leaf_idx
                 FROM mirror_provenance p JOIN objects o ON o.date_added = p.date_added
                 JOIN log_nonces n ON n.date_added = o.date_added
                 WHERE p.peer = ?1 AND p.partner_index = ?2 AND o.coll = ?3",
            )
            .map_err(backend)?;
        st.query_map(params![peer, stored_u64("log index", idx)?, coll], |r| {
            Ok((
                r.get(0)?,
                DeletedVersionRow {
                    date_added: r.get(1)?,
                    version: r.get(2)?,
                    tlp: r.get(3)?,
                    contributor: r.get(4)?,
                    leaf_idx: r.get(5)?,
                },
            ))
        })
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)?
    };
    let time = detente_store::entries::deletion_time();
    let mut gone = Vec::with_capacity(rows.len());
    for (object_id, d) in rows {
        tx.execute("DELETE FROM objects WHERE date_added = ?1", [d.date_added])
            .map_err(backend)?;
        tx.execute(
            "DELETE FROM mirror_provenance WHERE date_added = ?1",
            [d.date_added],
        )
        .map_err(backend)?;
        log_tombstone(tx, collection, &object_id, &d, member, &time)?;
        refresh_bounds(tx, coll, &object_id)?;
        gone.push(object_id);
    }
    Ok(gone)
}

/// Provenance of some versions of a collection.
pub(crate) fn provenance(
    conn: &Connection,
    collection: &str,
    date_added: &[i64],
) -> Result<Vec<Provenance>> {
    let coll = coll_key(conn, collection)?;
    let mut st = conn
        .prepare_cached(
            "SELECT p.date_added, p.peer, p.partner_index, p.partner_contributor,
                    p.partner_date_added
             FROM mirror_provenance p JOIN objects o ON o.date_added = p.date_added
             WHERE p.date_added = ?1 AND o.coll = ?2",
        )
        .map_err(backend)?;
    let mut out = Vec::new();
    for &d in date_added {
        if let Some(p) = st
            .query_row(params![d, coll], |r| {
                Ok(Provenance {
                    date_added: r.get(0)?,
                    peer: r.get(1)?,
                    partner_index: r.get::<_, i64>(2)?.unsigned_abs(),
                    partner_contributor: r.get(3)?,
                    partner_date_added: r.get(4)?,
                })
            })
            .optional()
            .map_err(backend)?
        {
            out.push(p);
        }
    }
    Ok(out)
}

/// The tombstone feed of a collection for a viewer.
pub(crate) fn tombstones_after(
    conn: &Connection,
    collection: &str,
    viewer: &Viewer,
    after: i64,
    limit: usize,
) -> Result<Vec<TombstoneFeedEntry>> {
    let mut args = vec![Sql::Text(collection.to_owned()), Sql::Integer(after)];
    let vis = vis_of("o", vis_params(viewer, &mut args));
    args.push(Sql::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT o.leaf_idx, l.leaf, o.nonce, o.version, o.member, o.time, o.deleted_idx, \
         o.object_id FROM log_tombstones o JOIN log_leaves l ON l.idx = o.leaf_idx \
         WHERE o.coll_id = ?1 AND o.leaf_idx > ?2 AND {vis} ORDER BY o.leaf_idx LIMIT ?{}",
        args.len()
    );
    let mut st = conn.prepare_cached(&sql).map_err(backend)?;
    st.query_map(params_from_iter(args), |r| {
        Ok(TombstoneFeedEntry {
            object_id: r.get(7)?,
            entry: row_tombstone(r)?,
        })
    })
    .map_err(backend)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .map_err(backend)
}
