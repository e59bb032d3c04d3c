//! Ingest flagging (issues 14, 16), as in the SQLite backend: the warninglists and protected
//! assets configured per node or per collection (`''` in `coll_id`: every collection), and
//! the flags the node wrote. Every configuration change increments the generation in its
//! own transaction, so running nodes rebuild their matchers.

use detente_store::{
    AssetKind, AssetRecord, FlagRecord, Result, StoreError, WarninglistRecord, tlp_from_stored,
};
use postgres::{GenericClient, Transaction};

use crate::error::pg;
use crate::tx::bump_generation;

fn known_collection(tx: &mut Transaction<'_>, collection: Option<&str>) -> Result<()> {
    let Some(c) = collection else { return Ok(()) };
    tx.query_opt("SELECT 1 FROM collections WHERE id = $1", &[&c])
        .map_err(pg)?
        .map(|_| ())
        .ok_or_else(|| StoreError::NotFound(format!("collection {c}")))
}

fn collection_of(c: String) -> Option<String> {
    (!c.is_empty()).then_some(c)
}

/// Adds or replaces a warninglist; whether it is new.
pub(crate) fn put_warninglist(
    tx: &mut Transaction<'_>,
    l: &WarninglistRecord,
    now: i64,
) -> Result<bool> {
    known_collection(tx, l.collection.as_deref())?;
    // `xmax = 0` only on a freshly inserted row: one statement tells new from replaced, even
    // when two nodes put the same list at once.
    let new: bool = tx
        .query_one(
            "INSERT INTO flag_warninglists (key, coll_id, action, body, added)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (key, coll_id) DO UPDATE SET action = excluded.action,
               body = excluded.body, added = excluded.added
             RETURNING (xmax = 0)",
            &[
                &l.key,
                &l.collection.as_deref().unwrap_or(""),
                &l.action.as_str(),
                &l.body,
                &now,
            ],
        )
        .map_err(pg)?
        .get(0);
    bump_generation(tx)?;
    Ok(new)
}

/// Removes a warninglist.
pub(crate) fn remove_warninglist(
    tx: &mut Transaction<'_>,
    key: &str,
    collection: Option<&str>,
) -> Result<()> {
    let n = tx
        .execute(
            "DELETE FROM flag_warninglists WHERE key = $1 AND coll_id = $2",
            &[&key, &collection.unwrap_or("")],
        )
        .map_err(pg)?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("warninglist {key}")));
    }
    bump_generation(tx)
}

/// Every warninglist, in the order added.
pub(crate) fn warninglists(c: &mut impl GenericClient) -> Result<Vec<WarninglistRecord>> {
    c.query(
        "SELECT key, coll_id, action, body, added FROM flag_warninglists
         ORDER BY added, key COLLATE \"C\"",
        &[],
    )
    .map_err(pg)?
    .iter()
    .map(|r| {
        Ok(WarninglistRecord {
            key: r.get(0),
            collection: collection_of(r.get(1)),
            action: r.get::<_, &str>(2).parse()?,
            body: r.get(3),
            added: r.get(4),
        })
    })
    .collect()
}

/// Adds an asset; false if it was there.
pub(crate) fn add_asset(tx: &mut Transaction<'_>, a: &AssetRecord, now: i64) -> Result<bool> {
    known_collection(tx, a.collection.as_deref())?;
    let n = tx
        .execute(
            "INSERT INTO flag_assets (kind, value, coll_id, subdomains, added)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[
                &a.kind.as_str(),
                &a.value,
                &a.collection.as_deref().unwrap_or(""),
                &a.subdomains,
                &now,
            ],
        )
        .map_err(pg)?;
    if n == 1 {
        bump_generation(tx)?;
    }
    Ok(n == 1)
}

/// Removes an asset.
pub(crate) fn remove_asset(
    tx: &mut Transaction<'_>,
    kind: AssetKind,
    value: &str,
    collection: Option<&str>,
) -> Result<()> {
    let n = tx
        .execute(
            "DELETE FROM flag_assets WHERE kind = $1 AND value = $2 AND coll_id = $3",
            &[&kind.as_str(), &value, &collection.unwrap_or("")],
        )
        .map_err(pg)?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("{kind} asset {value}")));
    }
    bump_generation(tx)
}

/// Every asset, by kind, value and collection (byte order, as SQLite sorts).
pub(crate) fn assets(c: &mut impl GenericClient) -> Result<Vec<AssetRecord>> {
    c.query(
        "SELECT kind, value, coll_id, subdomains, added FROM flag_assets
         ORDER BY kind COLLATE \"C\", value COLLATE \"C\", coll_id COLLATE \"C\"",
        &[],
    )
    .map_err(pg)?
    .iter()
    .map(|r| {
        Ok(AssetRecord {
            kind: r.get::<_, &str>(0).parse()?,
            value: r.get(1),
            collection: collection_of(r.get(2)),
            subdomains: r.get(3),
            added: r.get(4),
        })
    })
    .collect()
}

/// Records flags inside the caller's transaction.
pub(crate) fn record(tx: &mut Transaction<'_>, flags: &[FlagRecord]) -> Result<()> {
    let st = tx
        .prepare(
            "INSERT INTO flags (coll_id, note_id, indicator_id, indicator_version, contributor,
             tlp, matches, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .map_err(pg)?;
    for f in flags {
        tx.execute(
            &st,
            &[
                &f.collection,
                &f.note_id,
                &f.indicator_id,
                &f.indicator_version,
                &f.contributor,
                &i64::from(f.tlp.rank()),
                &f.matches,
                &f.created,
            ],
        )
        .map_err(pg)?;
    }
    Ok(())
}

/// The latest `limit` flags, oldest first.
pub(crate) fn latest(c: &mut impl GenericClient, limit: usize) -> Result<Vec<FlagRecord>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    c.query(
        "SELECT id, coll_id, note_id, indicator_id, indicator_version, contributor, tlp,
         matches, created FROM (SELECT * FROM flags ORDER BY id DESC LIMIT $1) t ORDER BY id",
        &[&limit],
    )
    .map_err(pg)?
    .iter()
    .map(|r| {
        let tlp = r.get::<_, i64>(6);
        Ok(FlagRecord {
            id: r.get(0),
            collection: r.get(1),
            note_id: r.get(2),
            indicator_id: r.get(3),
            indicator_version: r.get(4),
            contributor: r.get(5),
            tlp: tlp_from_stored(tlp)?,
            matches: r.get(7),
            created: r.get(8),
        })
    })
    .collect()
}
