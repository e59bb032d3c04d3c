//! Federation (issue 13), as in the SQLite backend: partner nodes, their accepted checkpoints
//! and fetched log entries, mirrors of partner collections and the provenance of mirrored
//! versions. Compare-and-sets are single `UPDATE … WHERE <expected>` statements: at READ
//! COMMITTED a concurrent one waits for the row and re-checks the condition on the committed
//! row, so of two racing nodes exactly one moves it.

use std::collections::{HashMap, HashSet};

use detente_store::entries::{DeletedVersionRow, stored_u64};
use detente_store::{
    IngestOutcome, MirrorApplied, MirrorPage, MirrorRecord, NewPeer, PeerLog, PeerRecord,
    Provenance, Result, StoreError, TombstoneFeedEntry, Viewer,
};
use postgres::{GenericClient, Transaction};

use crate::error::{pg, taken_or_pg};
use crate::ingest::{Sequence, coll_key, ingest_tx};
use crate::query::{Arg, Args, vis_of, vis_params};
use crate::tx::{
    DELETED_COLUMNS, TOMBSTONE, bump_generation, delete_version, deleted_from_row, refresh_bounds,
    to_tombstone,
};

const PEER_COLUMNS: &str = "name, url, log_key, witnesses, quorum, auth_header, ca_cert, \
     member_id, log_size, log_root, log_note, log_frontier";

fn to_peer(r: &postgres::Row) -> Result<PeerRecord> {
    let name: String = r.get(0);
    let witnesses = serde_json::from_str(r.get(3))
        .map_err(|e| StoreError::Backend(format!("peer {name} witnesses: {e}")))?;
    let quorum = u32::try_from(r.get::<_, i64>(4))
        .map_err(|e| StoreError::Backend(format!("peer {name} quorum: {e}")))?;
    let log = r.get::<_, Option<i64>>(8).map(|size| PeerLog {
        size: size.unsigned_abs(),
        root: r.get::<_, Option<Vec<u8>>>(9).unwrap_or_default(),
        note: r.get::<_, Option<Vec<u8>>>(10).unwrap_or_default(),
        frontier: r.get::<_, Option<Vec<u8>>>(11).unwrap_or_default(),
    });
    Ok(PeerRecord {
        name,
        url: r.get(1),
        log_key: r.get(2),
        witnesses,
        quorum,
        authorization: r.get(5),
        ca_cert: r.get(6),
        member: r.get(7),
        log,
    })
}

/// Adds a peer and its disabled identity member inside the caller's transaction.
pub(crate) fn add(tx: &mut Transaction<'_>, p: &NewPeer) -> Result<PeerRecord> {
    let taken: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM peers WHERE name = $1)
                 OR EXISTS (SELECT 1 FROM members WHERE name = $2)",
            &[&p.name, &p.identity.name],
        )
        .map_err(pg)?
        .get(0);
    if taken {
        return Err(StoreError::AlreadyExists(format!("peer {}", p.name)));
    }
    // A concurrent add of the same names fails on the unique keys instead.
    let member: i64 = tx
        .query_one(
            "INSERT INTO members (name, role, clearance, secret_hash, disabled)
             VALUES ($1, $2, $3, $4, TRUE) RETURNING id",
            &[
                &p.identity.name,
                &p.identity.role.as_str(),
                &p.identity.clearance.as_str(),
                &p.identity.secret_hash,
            ],
        )
        .map_err(taken_or_pg(format!("peer {}", p.name)))?
        .get(0);
    let witnesses = serde_json::to_string(&p.witnesses)
        .map_err(|e| StoreError::Backend(format!("witnesses: {e}")))?;
    tx.execute(
        "INSERT INTO peers (name, url, log_key, witnesses, quorum, auth_header, ca_cert, member_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &p.name,
            &p.url,
            &p.log_key,
            &witnesses,
            &i64::from(p.quorum),
            &p.authorization,
            &p.ca_cert,
            &member,
        ],
    )
    .map_err(taken_or_pg(format!("peer {}", p.name)))?;
    bump_generation(tx)?;
    Ok(p.stored(member))
}

/// One peer.
pub(crate) fn peer(c: &mut impl GenericClient, name: &str) -> Result<Option<PeerRecord>> {
    c.query_opt(
        &format!("SELECT {PEER_COLUMNS} FROM peers WHERE name = $1"),
        &[&name],
    )
    .map_err(pg)?
    .as_ref()
    .map(to_peer)
    .transpose()
}

/// Every peer, by name (byte order, as SQLite sorts).
pub(crate) fn peers(c: &mut impl GenericClient) -> Result<Vec<PeerRecord>> {
    c.query(
        &format!("SELECT {PEER_COLUMNS} FROM peers ORDER BY name COLLATE \"C\""),
        &[],
    )
    .map_err(pg)?
    .iter()
    .map(to_peer)
    .collect()
}

const MIRROR_COLUMNS: &str =
    "id, peer, remote_collection, local_collection, objects_after, tombstones_after";

fn to_mirror(r: &postgres::Row) -> MirrorRecord {
    MirrorRecord {
        id: r.get(0),
        peer: r.get(1),
        remote_collection: r.get(2),
        local_collection: r.get(3),
        objects_after: r.get(4),
        tombstones_after: r.get(5),
    }
}

/// Adds a mirror.
pub(crate) fn add_mirror(
    c: &mut impl GenericClient,
    peer: &str,
    remote: &str,
    local: &str,
) -> Result<MirrorRecord> {
    let r = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM peers WHERE name = $1),
                    EXISTS (SELECT 1 FROM collections WHERE id = $2)",
            &[&peer, &local],
        )
        .map_err(pg)?;
    if !r.get::<_, bool>(0) {
        return Err(StoreError::NotFound(format!("peer {peer}")));
    }
    if !r.get::<_, bool>(1) {
        return Err(StoreError::NotFound(format!("collection {local}")));
    }
    c.query_opt(
        &format!(
            "INSERT INTO mirrors (peer, remote_collection, local_collection) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING RETURNING {MIRROR_COLUMNS}"
        ),
        &[&peer, &remote, &local],
    )
    .map_err(pg)?
    .as_ref()
    .map(to_mirror)
    .ok_or_else(|| {
        StoreError::AlreadyExists(format!(
            "a mirror of {peer}'s collection {remote} into {local}"
        ))
    })
}

/// The mirrors of one peer or all, in the order added.
pub(crate) fn mirrors(c: &mut impl GenericClient, peer: Option<&str>) -> Result<Vec<MirrorRecord>> {
    Ok(c.query(
        &format!(
            "SELECT {MIRROR_COLUMNS} FROM mirrors WHERE $1::TEXT IS NULL OR peer = $1 ORDER BY id"
        ),
        &[&peer],
    )
    .map_err(pg)?
    .iter()
    .map(to_mirror)
    .collect())
}

/// Stores fetched (not yet accepted) partner log entries, replacing any at those indices.
pub(crate) fn leaves_put(
    tx: &mut Transaction<'_>,
    peer: &str,
    start: u64,
    leaves: &[Vec<u8>],
) -> Result<()> {
    let st = tx
        .prepare(
            "INSERT INTO peer_leaves (peer, idx, leaf) VALUES ($1, $2, $3)
             ON CONFLICT (peer, idx) DO UPDATE SET leaf = excluded.leaf",
        )
        .map_err(pg)?;
    for (i, leaf) in (start..).zip(leaves) {
        tx.execute(&st, &[&peer, &stored_u64("log index", i)?, leaf])
            .map_err(pg)?;
    }
    Ok(())
}

/// Stored partner log entries at some indices, in the same order.
pub(crate) fn leaves_at(
    c: &mut impl GenericClient,
    peer: &str,
    indices: &[u64],
) -> Result<Vec<Option<Vec<u8>>>> {
    let wanted = indices
        .iter()
        .map(|&i| stored_u64("log index", i))
        .collect::<Result<Vec<i64>>>()?;
    let found: HashMap<i64, Vec<u8>> = c
        .query(
            "SELECT idx, leaf FROM peer_leaves WHERE peer = $1 AND idx = ANY($2)",
            &[&peer, &wanted],
        )
        .map_err(pg)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(wanted.iter().map(|i| found.get(i).cloned()).collect())
}

/// Compare-and-set of a peer's accepted checkpoint.
pub(crate) fn log_accept(
    c: &mut impl GenericClient,
    peer: &str,
    expected: Option<u64>,
    new: &PeerLog,
) -> Result<bool> {
    let expected = expected.map(|i| stored_u64("log index", i)).transpose()?;
    let n = c
        .execute(
            "UPDATE peers SET log_size = $2, log_root = $3, log_note = $4, log_frontier = $5
             WHERE name = $1 AND log_size IS NOT DISTINCT FROM $6",
            &[
                &peer,
                &stored_u64("log index", new.size)?,
                &new.root,
                &new.note,
                &new.frontier,
                &expected,
            ],
        )
        .map_err(pg)?;
    Ok(n == 1)
}

/// Applies one mirror page in the caller's transaction: moves the mirror's positions by
/// compare-and-set, then applies the partner's tombstones and stores the objects through the
/// ingest path under the serialization point, recording their provenance.
pub(crate) fn apply(tx: &mut Transaction<'_>, page: &MirrorPage) -> Result<MirrorApplied> {
    // First, so a stale page fails before waiting for the serialization point; the row stays
    // locked to commit, so a concurrent sync of the same mirror fails its own move.
    let (peer, local): (String, String) = tx
        .query_opt(
            "UPDATE mirrors SET objects_after = $4, tombstones_after = $5
             WHERE id = $1 AND objects_after = $2 AND tombstones_after = $3
             RETURNING peer, local_collection",
            &[
                &page.mirror,
                &page.expected.0,
                &page.expected.1,
                &page.next.0,
                &page.next.1,
            ],
        )
        .map_err(pg)?
        .map(|r| (r.get(0), r.get(1)))
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "mirror {} moved since this page was fetched (another sync ran)",
                page.mirror
            ))
        })?;
    let mut seq = Sequence::lock(tx)?;
    let r = tx
        .query_one(
            "SELECT p.member_id, m.name FROM peers p JOIN members m ON m.id = p.member_id
             WHERE p.name = $1",
            &[&peer],
        )
        .map_err(pg)?;
    let (member, member_name): (i64, String) = (r.get(0), r.get(1));
    let coll = coll_key(tx, &local)?;
    let mut out = MirrorApplied::default();
    // Tombstones first: a version deleted and then posted again arrives as a tombstone and a
    // new row, and must end up stored.
    let time = detente_store::entries::deletion_time();
    for &idx in &page.deleted {
        let rows: Vec<(String, DeletedVersionRow)> = tx
            .query(
                &format!(
                    "SELECT o.object_id, {} FROM mirror_provenance p
                     JOIN objects o ON o.date_added = p.date_added
                     JOIN log_nonces n ON n.date_added = o.date_added
                     WHERE p.peer = $1 AND p.partner_index = $2 AND o.coll = $3
                     ORDER BY o.date_added",
                    DELETED_COLUMNS
                ),
                &[&peer, &stored_u64("log index", idx)?, &coll],
            )
            .map_err(pg)?
            .iter()
            .map(|r| (r.get(0), deleted_from_row(r, 1)))
            .collect();
        for (object_id, d) in rows {
            delete_version(tx, &mut seq, &local, &object_id, &d, &member_name, &time)?;
            tx.execute(
                "DELETE FROM mirror_provenance WHERE date_added = $1",
                &[&d.date_added],
            )
            .map_err(pg)?;
            refresh_bounds(tx, coll, &object_id)?;
            out.deleted.push(object_id);
        }
    }
    let ids: Vec<&str> = page.objects.iter().map(|m| m.object.id.as_str()).collect();
    // One probe of `objects_version` per id (`LATERAL` with `LIMIT`, which the planner
    // cannot flatten): as `object_id = ANY($2)`, a table without statistics yet was read
    // through `objects_all`, every version of the collection, under the sequence lock.
    let held_before: HashSet<String> = tx
        .query(
            "SELECT k.id FROM unnest($2::text[]) AS k(id), LATERAL (SELECT 1 FROM objects
               WHERE coll = $1 AND object_id = k.id LIMIT 1) o",
            &[&coll, &ids],
        )
        .map_err(pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (batch, canonical) = page.batch(&local, member);
    let outcomes = ingest_tx(tx, &mut seq, &batch, &canonical)?;
    let provenance = tx
        .prepare(
            "INSERT INTO mirror_provenance (date_added, peer, partner_index, partner_contributor,
             partner_date_added) VALUES ($1, $2, $3, $4, $5)",
        )
        .map_err(pg)?;
    let mut seen = HashSet::new();
    for (m, outcome) in page.objects.iter().zip(&outcomes) {
        if let IngestOutcome::Stored { date_added } = outcome {
            tx.execute(
                &provenance,
                &[
                    date_added,
                    &peer,
                    &stored_u64("log index", m.partner_index)?,
                    &m.partner_contributor,
                    &m.partner_date_added,
                ],
            )
            .map_err(pg)?;
        }
        out.record(m, outcome, held_before.contains(&m.object.id), &mut seen);
    }
    Ok(out)
}

/// Provenance of the mirrored versions among some `date_added` values of a collection, in
/// the order asked.
pub(crate) fn provenance(
    c: &mut impl GenericClient,
    collection: &str,
    date_added: &[i64],
) -> Result<Vec<Provenance>> {
    let coll = coll_key(c, collection)?;
    let mut found: HashMap<i64, Provenance> = c
        .query(
            "SELECT p.date_added, p.peer, p.partner_index, p.partner_contributor,
                    p.partner_date_added
             FROM mirror_provenance p JOIN objects o ON o.date_added = p.date_added
             WHERE p.date_added = ANY($1) AND o.coll = $2",
            &[&date_added, &coll],
        )
        .map_err(pg)?
        .iter()
        .map(|r| {
            let p = Provenance {
                date_added: r.get(0),
                peer: r.get(1),
                partner_index: r.get::<_, i64>(2).unsigned_abs(),
                partner_contributor: r.get(3),
                partner_date_added: r.get(4),
            };
            (p.date_added, p)
        })
        .collect();
    Ok(date_added.iter().filter_map(|d| found.remove(d)).collect())
}

/// The tombstone feed of a collection for a viewer.
pub(crate) fn tombstones_after(
    c: &mut impl GenericClient,
    collection: &str,
    viewer: &Viewer,
    after: i64,
    limit: usize,
) -> Result<Vec<TombstoneFeedEntry>> {
    let mut args = Args::default();
    let c_ = args.push(Arg::Text(collection.to_owned()));
    let a_ = args.push(Arg::Int(after));
    let vis = vis_params(viewer, &mut args);
    let l_ = args.push(Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT {TOMBSTONE}, o.object_id \
         FROM log_tombstones o JOIN log_leaves l ON l.idx = o.leaf_idx \
         WHERE o.coll_id = {c_} AND o.leaf_idx > {a_} AND {} ORDER BY o.leaf_idx LIMIT {l_}",
        vis_of("o", &vis)
    );
    Ok(c.query(sql.as_str(), &args.refs())
        .map_err(pg)?
        .iter()
        .map(|r| TombstoneFeedEntry {
            object_id: r.get(7),
            entry: to_tombstone(r),
        })
        .collect())
}
