//! Witnessing rows: trusted log keys, the witness state per origin (moved only by
//! compare-and-set), evidence of conflicts, and the witnesses of this node's own log.

use detente_store::entries::stored_u64;
use detente_store::{LogWitness, Result, StoreError, TrustedLog, WitnessEvidence, WitnessState};
use postgres::GenericClient;

use crate::error::pg;

/// Trusts a key; false if it was trusted already.
pub(crate) fn trust(
    c: &mut impl GenericClient,
    origin: &str,
    vkey: &str,
    now: i64,
) -> Result<bool> {
    let n = c
        .execute(
            "INSERT INTO witness_trusted (origin, vkey, added) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&origin, &vkey, &now],
        )
        .map_err(pg)?;
    Ok(n == 1)
}

/// The keys of one origin.
pub(crate) fn trusted(c: &mut impl GenericClient, origin: &str) -> Result<Vec<String>> {
    Ok(c.query(
        "SELECT vkey FROM witness_trusted WHERE origin = $1 ORDER BY added, vkey",
        &[&origin],
    )
    .map_err(pg)?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// Every trusted key.
pub(crate) fn trusted_logs(c: &mut impl GenericClient) -> Result<Vec<TrustedLog>> {
    Ok(c.query(
        "SELECT origin, vkey, added FROM witness_trusted ORDER BY origin, added, vkey",
        &[],
    )
    .map_err(pg)?
    .iter()
    .map(|r| TrustedLog {
        origin: r.get(0),
        vkey: r.get(1),
        added: r.get(2),
    })
    .collect())
}

fn row_state(r: &postgres::Row) -> WitnessState {
    WitnessState {
        origin: r.get(0),
        size: r.get::<_, i64>(1).unsigned_abs(),
        root: r.get(2),
        note: r.get(3),
        updated: r.get(4),
    }
}

/// One origin's state.
pub(crate) fn state(c: &mut impl GenericClient, origin: &str) -> Result<Option<WitnessState>> {
    Ok(c.query_opt(
        "SELECT origin, size, root, note, updated FROM witness_state WHERE origin = $1",
        &[&origin],
    )
    .map_err(pg)?
    .as_ref()
    .map(row_state))
}

/// Every origin's state.
pub(crate) fn states(c: &mut impl GenericClient) -> Result<Vec<WitnessState>> {
    Ok(c.query(
        "SELECT origin, size, root, note, updated FROM witness_state ORDER BY origin",
        &[],
    )
    .map_err(pg)?
    .iter()
    .map(row_state)
    .collect())
}

/// Compare-and-set of one origin's state, in one statement.
pub(crate) fn advance(
    c: &mut impl GenericClient,
    expected: Option<(u64, &[u8])>,
    new: &WitnessState,
) -> Result<bool> {
    let size = stored_u64("tree size", new.size)?;
    let n = match expected {
        None => c.execute(
            "INSERT INTO witness_state (origin, size, root, note, updated)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&new.origin, &size, &new.root, &new.note, &new.updated],
        ),
        Some((old_size, old_root)) => {
            let old_size = stored_u64("tree size", old_size)?;
            c.execute(
                "UPDATE witness_state SET size = $2, root = $3, note = $4, updated = $5
                 WHERE origin = $1 AND size = $6 AND root = $7",
                &[
                    &new.origin,
                    &size,
                    &new.root,
                    &new.note,
                    &new.updated,
                    &old_size,
                    &old_root,
                ],
            )
        }
    }
    .map_err(pg)?;
    Ok(n == 1)
}

/// Keeps one conflict.
pub(crate) fn record_evidence(c: &mut impl GenericClient, e: &WitnessEvidence) -> Result<bool> {
    let n = c
        .execute(
            "INSERT INTO witness_evidence (origin, cosigned, conflicting, reason, seen)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&e.origin, &e.cosigned, &e.conflicting, &e.reason, &e.seen],
        )
        .map_err(pg)?;
    Ok(n == 1)
}

/// Every conflict, oldest first.
pub(crate) fn evidence(c: &mut impl GenericClient) -> Result<Vec<WitnessEvidence>> {
    Ok(c.query(
        "SELECT origin, cosigned, conflicting, reason, seen FROM witness_evidence ORDER BY id",
        &[],
    )
    .map_err(pg)?
    .iter()
    .map(|r| WitnessEvidence {
        origin: r.get(0),
        cosigned: r.get(1),
        conflicting: r.get(2),
        reason: r.get(3),
        seen: r.get(4),
    })
    .collect())
}

/// Registers a witness of the node's own log.
pub(crate) fn add_log_witness(c: &mut impl GenericClient, w: &LogWitness) -> Result<()> {
    let n = c
        .execute(
            "INSERT INTO log_witnesses (vkey, url, added) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&w.vkey, &w.url, &w.added],
        )
        .map_err(pg)?;
    if n == 0 {
        return Err(StoreError::AlreadyExists(format!("witness {}", w.vkey)));
    }
    Ok(())
}

/// The witnesses of the node's own log.
pub(crate) fn log_witnesses(c: &mut impl GenericClient) -> Result<Vec<LogWitness>> {
    Ok(c.query(
        "SELECT url, vkey, added FROM log_witnesses ORDER BY added, vkey",
        &[],
    )
    .map_err(pg)?
    .iter()
    .map(|r| LogWitness {
        url: r.get(0),
        vkey: r.get(1),
        added: r.get(2),
    })
    .collect())
}
