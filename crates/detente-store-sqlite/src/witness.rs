//! Witnessing tables: trusted log keys, the witness state per origin (moved only by
//! compare-and-set), evidence of conflicts, and the witnesses of this node's own log.

use detente_store::entries::stored_u64;
use detente_store::{LogWitness, Result, StoreError, TrustedLog, WitnessEvidence, WitnessState};
use rusqlite::{Connection, OptionalExtension, params};

use crate::tx::backend;

/// Trusts a key; false if it was trusted already.
pub(crate) fn trust(conn: &Connection, origin: &str, vkey: &str, now: i64) -> Result<bool> {
    let n = conn
        .execute(
            "INSERT OR IGNORE INTO witness_trusted (origin, vkey, added) VALUES (?1, ?2, ?3)",
            params![origin, vkey, now],
        )
        .map_err(backend)?;
    Ok(n == 1)
}

/// The keys of one origin.
pub(crate) fn trusted(conn: &Connection, origin: &str) -> Result<Vec<String>> {
    let mut st = conn
        .prepare_cached("SELECT vkey FROM witness_trusted WHERE origin = ?1 ORDER BY added, vkey")
        .map_err(backend)?;
    st.query_map([origin], |r| r.get(0))
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<String>>>()
        .map_err(backend)
}

/// Every trusted key.
pub(crate) fn trusted_logs(conn: &Connection) -> Result<Vec<TrustedLog>> {
    let mut st = conn
        .prepare_cached("SELECT origin, vkey, added FROM witness_trusted ORDER BY origin, added")
        .map_err(backend)?;
    st.query_map([], |r| {
        Ok(TrustedLog {
            origin: r.get(0)?,
            vkey: r.get(1)?,
            added: r.get(2)?,
        })
    })
    .map_err(backend)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .map_err(backend)
}

fn row_state(r: &rusqlite::Row<'_>) -> rusqlite::Result<WitnessState> {
    Ok(WitnessState {
        origin: r.get(0)?,
        size: r.get::<_, i64>(1)?.unsigned_abs(),
        root: r.get(2)?,
        note: r.get(3)?,
        updated: r.get(4)?,
    })
}

/// One origin's state.
pub(crate) fn state(conn: &Connection, origin: &str) -> Result<Option<WitnessState>> {
    conn.prepare_cached(
        "SELECT origin, size, root, note, updated FROM witness_state WHERE origin = ?1",
    )
    .and_then(|mut st| st.query_row([origin], row_state).optional())
    .map_err(backend)
}

/// Every origin's state.
pub(crate) fn states(conn: &Connection) -> Result<Vec<WitnessState>> {
    let mut st = conn
        .prepare_cached(
            "SELECT origin, size, root, note, updated FROM witness_state ORDER BY origin",
        )
        .map_err(backend)?;
    st.query_map([], row_state)
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)
}

/// Compare-and-set of one origin's state, in one statement (so one durable commit).
pub(crate) fn advance(
    conn: &Connection,
    expected: Option<(u64, &[u8])>,
    new: &WitnessState,
) -> Result<bool> {
    let size = stored_u64("tree size", new.size)?;
    let n = match expected {
        None => conn
            .prepare_cached(
                "INSERT OR IGNORE INTO witness_state (origin, size, root, note, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut st| {
                st.execute(params![new.origin, size, new.root, new.note, new.updated])
            }),
        Some((old_size, old_root)) => {
            let old_size = stored_u64("tree size", old_size)?;
            conn.prepare_cached(
                "UPDATE witness_state SET size = ?2, root = ?3, note = ?4, updated = ?5
                 WHERE origin = ?1 AND size = ?6 AND root = ?7",
            )
            .and_then(|mut st| {
                st.execute(params![
                    new.origin,
                    size,
                    new.root,
                    new.note,
                    new.updated,
                    old_size,
                    old_root
                ])
            })
        }
    }
    .map_err(backend)?;
    Ok(n == 1)
}

/// Keeps one conflict.
pub(crate) fn record_evidence(conn: &Connection, e: &WitnessEvidence) -> Result<bool> {
    let n = conn
        .execute(
            "INSERT OR IGNORE INTO witness_evidence (origin, cosigned, conflicting, reason, seen)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![e.origin, e.cosigned, e.conflicting, e.reason, e.seen],
        )
        .map_err(backend)?;
    Ok(n == 1)
}

/// Every conflict, oldest first.
pub(crate) fn evidence(conn: &Connection) -> Result<Vec<WitnessEvidence>> {
    let mut st = conn
        .prepare_cached(
            "SELECT origin, cosigned, conflicting, reason, seen FROM witness_evidence ORDER BY id",
        )
        .map_err(backend)?;
    st.query_map([], |r| {
        Ok(WitnessEvidence {
            origin: r.get(0)?,
            cosigned: r.get(1)?,
            conflicting: r.get(2)?,
            reason: r.get(3)?,
            seen: r.get(4)?,
        })
    })
    .map_err(backend)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .map_err(backend)
}

/// Registers a witness of the node's own log.
pub(crate) fn add_log_witness(conn: &Connection, w: &LogWitness) -> Result<()> {
    let n = conn
        .execute(
            "INSERT OR IGNORE INTO log_witnesses (vkey, url, added) VALUES (?1, ?2, ?3)",
            params![w.vkey, w.url, w.added],
        )
        .map_err(backend)?;
    if n == 0 {
        return Err(StoreError::AlreadyExists(format!("witness {}", w.vkey)));
    }
    Ok(())
}

/// The witnesses of the node's own log.
pub(crate) fn log_witnesses(conn: &Connection) -> Result<Vec<LogWitness>> {
    let mut st = conn
        .prepare_cached("SELECT url, vkey, added FROM log_witnesses ORDER BY added, vkey")
        .map_err(backend)?;
    st.query_map([], |r| {
        Ok(LogWitness {
            url: r.get(0)?,
            vkey: r.get(1)?,
            added: r.get(2)?,
        })
    })
    .map_err(backend)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .map_err(backend)
}
