//! The PSI session audit table (`psi_sessions`) and the PSI budgets and answered session
//! ids (`psi_charges`).

use detente_store::{PsiCharge, PsiChargeOutcome, PsiSessionRecord, Result, decide_psi_charge};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::tx::backend;

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

/// [`detente_store::Store::psi_charge`]: `BEGIN IMMEDIATE` takes the file's write lock, which
/// every handle on the file needs to charge.
pub(crate) fn charge(conn: &mut Connection, c: &PsiCharge) -> Result<PsiChargeOutcome> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let replayed = tx
        .prepare_cached("SELECT 1 FROM psi_charges WHERE session = ?1")
        .and_then(|mut st| st.query_row([&c.session], |_| Ok(())).optional())
        .map_err(backend)?
        .is_some();
    let charges = if replayed || c.limit.is_none() {
        Vec::new()
    } else {
        tx.prepare_cached(
            "SELECT at, cost FROM psi_charges WHERE peer = ?1 AND at > ?2 ORDER BY at",
        )
        .and_then(|mut st| {
            st.query_map(params![c.peer, c.window_start()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?.unsigned_abs()))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(backend)?
    };
    let outcome = decide_psi_charge(c, replayed, charges);
    if outcome == PsiChargeOutcome::Charged && !c.dry_run {
        tx.prepare_cached(
            "INSERT INTO psi_charges (session, peer, at, cost) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut st| st.execute(params![c.session, c.peer, c.at, to_sql(c.cost)]))
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(outcome)
}
