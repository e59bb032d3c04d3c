//! Ingest flagging tables (issues 14, 16): the warninglists and protected assets configured
//! per node or per collection, and the flags the node wrote. `''` in `coll_id` means every
//! collection of the node.

use detente_store::{
    AssetKind, AssetRecord, FlagRecord, Result, StoreError, Tlp, WarninglistRecord,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::tx::backend;

/// Runs `f` in an immediate transaction that also increments the generation when `f` says
/// it changed something, so a running node rebuilds its matchers.
fn changing<T>(
    conn: &mut Connection,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(T, bool)>,
) -> Result<T> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let (out, changed) = f(&tx)?;
    if changed {
        crate::tx::bump_generation(&tx)?;
    }
    tx.commit().map_err(backend)?;
    Ok(out)
}

fn known_collection(conn: &Connection, collection: Option<&str>) -> Result<()> {
    let Some(c) = collection else { return Ok(()) };
    conn.query_row("SELECT 1 FROM collections WHERE id = ?1", [c], |_| Ok(()))
        .optional()
        .map_err(backend)?
        .ok_or_else(|| StoreError::NotFound(format!("collection {c}")))
}

/// Adds or replaces a warninglist; whether it is new.
pub(crate) fn put_warninglist(
    conn: &mut Connection,
    l: &WarninglistRecord,
    now: i64,
) -> Result<bool> {
    changing(conn, |tx| {
        known_collection(tx, l.collection.as_deref())?;
        let coll = l.collection.as_deref().unwrap_or("");
        let existed = tx
            .query_row(
                "SELECT 1 FROM flag_warninglists WHERE key = ?1 AND coll_id = ?2",
                params![l.key, coll],
                |_| Ok(()),
            )
            .optional()
            .map_err(backend)?
            .is_some();
        tx.execute(
            "INSERT INTO flag_warninglists (key, coll_id, action, body, added)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key, coll_id) DO UPDATE SET action = excluded.action,
               body = excluded.body, added = excluded.added",
            params![l.key, coll, l.action.as_str(), l.body, now],
        )
        .map_err(backend)?;
        Ok((!existed, true))
    })
}

/// Removes a warninglist.
pub(crate) fn remove_warninglist(
    conn: &mut Connection,
    key: &str,
    collection: Option<&str>,
) -> Result<()> {
    changing(conn, |tx| {
        let n = tx
            .execute(
                "DELETE FROM flag_warninglists WHERE key = ?1 AND coll_id = ?2",
                params![key, collection.unwrap_or("")],
            )
            .map_err(backend)?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("warninglist {key}")));
        }
        Ok(((), true))
    })
}

fn collection_of(c: String) -> Option<String> {
    (!c.is_empty()).then_some(c)
}

/// Every warninglist.
pub(crate) fn warninglists(conn: &Connection) -> Result<Vec<WarninglistRecord>> {
    let mut st = conn
        .prepare_cached(
            "SELECT key, coll_id, action, body, added FROM flag_warninglists ORDER BY added, key",
        )
        .map_err(backend)?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)?;
    rows.into_iter()
        .map(|(key, coll, action, body, added)| {
            Ok(WarninglistRecord {
                key,
                collection: collection_of(coll),
                action: action.parse()?,
                body,
                added,
            })
        })
        .collect()
}

/// Adds an asset; false if it was there.
pub(crate) fn add_asset(conn: &mut Connection, a: &AssetRecord, now: i64) -> Result<bool> {
    changing(conn, |tx| {
        known_collection(tx, a.collection.as_deref())?;
        let n = tx
            .execute(
                "INSERT OR IGNORE INTO flag_assets (kind, value, coll_id, subdomains, added)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    a.kind.as_str(),
                    a.value,
                    a.collection.as_deref().unwrap_or(""),
                    a.subdomains,
                    now
                ],
            )
            .map_err(backend)?;
        Ok((n == 1, n == 1))
    })
}

/// Removes an asset.
pub(crate) fn remove_asset(
    conn: &mut Connection,
    kind: AssetKind,
    value: &str,
    collection: Option<&str>,
) -> Result<()> {
    changing(conn, |tx| {
        let n = tx
            .execute(
                "DELETE FROM flag_assets WHERE kind = ?1 AND value = ?2 AND coll_id = ?3",
                params![kind.as_str(), value, collection.unwrap_or("")],
            )
            .map_err(backend)?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("{kind} asset {value}")));
        }
        Ok(((), true))
    })
}

/// Every asset.
pub(crate) fn assets(conn: &Connection) -> Result<Vec<AssetRecord>> {
    let mut st = conn
        .prepare_cached(
            "SELECT kind, value, coll_id, subdomains, added FROM flag_assets
             ORDER BY kind, value, coll_id",
        )
        .map_err(backend)?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)?;
    rows.into_iter()
        .map(|(kind, value, coll, subdomains, added)| {
            Ok(AssetRecord {
                kind: kind.parse()?,
                value,
                subdomains,
                collection: collection_of(coll),
                added,
            })
        })
        .collect()
}

/// Records flags in one transaction.
pub(crate) fn record(conn: &mut Connection, flags: &[FlagRecord]) -> Result<()> {
    let tx = conn.transaction().map_err(backend)?;
    {
        let mut st = tx
            .prepare_cached(
                "INSERT INTO flags (coll_id, note_id, indicator_id, indicator_version,
                 contributor, tlp, matches, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(backend)?;
        for f in flags {
            st.execute(params![
                f.collection,
                f.note_id,
                f.indicator_id,
                f.indicator_version,
                f.contributor,
                f.tlp.rank(),
                f.matches,
                f.created
            ])
            .map_err(backend)?;
        }
    }
    tx.commit().map_err(backend)
}

/// The latest `limit` flags, oldest first.
pub(crate) fn latest(conn: &Connection, limit: usize) -> Result<Vec<FlagRecord>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut st = conn
        .prepare_cached(
            "SELECT id, coll_id, note_id, indicator_id, indicator_version, contributor, tlp,
             matches, created FROM (SELECT * FROM flags ORDER BY id DESC LIMIT ?1) ORDER BY id",
        )
        .map_err(backend)?;
    st.query_map([limit], |r| {
        let rank: u8 = r.get(6)?;
        let tlp =
            Tlp::from_rank(rank).ok_or(rusqlite::Error::IntegralValueOutOfRange(6, rank.into()))?;
        Ok(FlagRecord {
            id: r.get(0)?,
            collection: r.get(1)?,
            note_id: r.get(2)?,
            indicator_id: r.get(3)?,
            indicator_version: r.get(4)?,
            contributor: r.get(5)?,
            tlp,
            matches: r.get(7)?,
            created: r.get(8)?,
        })
    })
    .map_err(backend)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .map_err(backend)
}
