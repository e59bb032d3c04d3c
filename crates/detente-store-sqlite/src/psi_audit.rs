//! The PSI session audit table (`psi_sessions`).

use detente_store::{PsiSessionRecord, Result, StoreError};
use rusqlite::{Connection, params};

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Appends one session row.
pub(crate) fn insert(conn: &Connection, r: &PsiSessionRecord) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO psi_sessions (time, role, peer, collection_id, mode, own_items, peer_items,
         result_items, bytes_in, bytes_out, duration_us, outcome, session)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .and_then(|mut st| {
        st.execute(params![
            r.time,
            r.role.as_str(),
            r.peer,
            r.collection,
            r.mode,
            r.own_items.map(to_sql),
            r.peer_items.map(to_sql),
            r.result_items.map(to_sql),
            to_sql(r.bytes_in),
            to_sql(r.bytes_out),
            to_sql(r.duration_micros),
            r.outcome,
            r.session,
        ])
    })
    .map_err(backend)?;
    Ok(())
}

/// The latest `limit` rows, oldest first.
pub(crate) fn latest(conn: &Connection, limit: usize) -> Result<Vec<PsiSessionRecord>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut st = conn
        .prepare_cached(
            "SELECT id, time, role, peer, collection_id, mode, own_items, peer_items,
             result_items, bytes_in, bytes_out, duration_us, outcome, session
             FROM (SELECT * FROM psi_sessions ORDER BY id DESC LIMIT ?1) ORDER BY id",
        )
        .map_err(backend)?;
    let count = |v: Option<i64>| v.map(i64::unsigned_abs);
    let rows = st
        .query_map([limit], |r| {
            Ok((
                PsiSessionRecord {
                    id: r.get(0)?,
                    time: r.get(1)?,
                    role: detente_store::PsiRole::Querier,
                    session: r.get(13)?,
                    peer: r.get(3)?,
                    collection: r.get(4)?,
                    mode: r.get(5)?,
                    own_items: count(r.get(6)?),
                    peer_items: count(r.get(7)?),
                    result_items: count(r.get(8)?),
                    bytes_in: r.get::<_, i64>(9)?.unsigned_abs(),
                    bytes_out: r.get::<_, i64>(10)?.unsigned_abs(),
                    duration_micros: r.get::<_, i64>(11)?.unsigned_abs(),
                    outcome: r.get(12)?,
                },
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)?;
    rows.into_iter()
        .map(|(record, role)| {
            Ok(PsiSessionRecord {
                role: role.parse()?,
                ..record
            })
        })
        .collect()
}
