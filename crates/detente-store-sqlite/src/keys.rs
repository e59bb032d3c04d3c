//! Contributor key bindings (issue 13) and the collections' signature requirement.
//!
//! `key_bindings` keeps every binding with its log entry's nonce; the leaf itself is in
//! `log_leaves` at `leaf_idx`, appended in the same transaction. Rows are never removed: the
//! member's binding with the highest index is its current key.

use detente_store::entries::stored_u64;
use detente_store::{KeyBindingRecord, PeerKeyBinding, Result, StoreError};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::tx::{append_leaf, backend};
use detente_store::entries;

/// The columns of a binding row `k` with the leaf and the index of its successor.
const BINDING: &str = "SELECT k.member, k.vkey, k.time, k.nonce, k.leaf_idx, l.leaf,
     (SELECT min(n.leaf_idx) FROM key_bindings n WHERE n.member = k.member AND n.leaf_idx > k.leaf_idx)
     FROM key_bindings k JOIN log_leaves l ON l.idx = k.leaf_idx";

fn row_binding(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyBindingRecord> {
    Ok(KeyBindingRecord {
        member: r.get(0)?,
        vkey: r.get(1)?,
        time: r.get(2)?,
        nonce: r.get(3)?,
        log_index: r.get::<_, i64>(4)?.unsigned_abs(),
        leaf: r.get(5)?,
        superseded_by: r.get::<_, Option<i64>>(6)?.map(i64::unsigned_abs),
    })
}

/// Binds a key in one transaction with its log leaf.
pub(crate) fn bind(conn: &mut Connection, member: &str, vkey: &str) -> Result<KeyBindingRecord> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let known: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM members WHERE name = ?1)",
            [member],
            |r| r.get(0),
        )
        .map_err(backend)?;
    if !known {
        return Err(StoreError::NotFound(format!("member {member}")));
    }
    let current: Option<String> = tx
        .query_row(
            "SELECT vkey FROM key_bindings WHERE member = ?1 ORDER BY leaf_idx DESC LIMIT 1",
            [member],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    if current.as_deref() == Some(vkey) {
        return Err(StoreError::AlreadyExists(format!(
            "key {vkey} as the current key of {member}"
        )));
    }
    let (entry, time) = entries::key_binding_entry(member, vkey)?;
    let idx = append_leaf(&tx, &entry)?;
    tx.execute(
        "INSERT INTO key_bindings (leaf_idx, member, vkey, time, nonce) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![idx, member, vkey, time, entry.nonce.as_slice()],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(KeyBindingRecord {
        member: member.to_owned(),
        vkey: vkey.to_owned(),
        time,
        nonce: entry.nonce.to_vec(),
        log_index: idx.unsigned_abs(),
        leaf: entry.leaf,
        superseded_by: None,
    })
}

/// Every binding in log order.
pub(crate) fn all(conn: &Connection) -> Result<Vec<KeyBindingRecord>> {
    let mut st = conn
        .prepare_cached(&format!("{BINDING} ORDER BY k.leaf_idx"))
        .map_err(backend)?;
    st.query_map([], row_binding)
        .map_err(backend)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(backend)
}

/// A member's latest binding.
pub(crate) fn current(conn: &Connection, member: &str) -> Result<Option<KeyBindingRecord>> {
    conn.prepare_cached(&format!(
        "{BINDING} WHERE k.member = ?1 ORDER BY k.leaf_idx DESC LIMIT 1"
    ))
    .and_then(|mut st| st.query_row([member], row_binding).optional())
    .map_err(backend)
}

/// Publishes one recorded partner binding: its own leaf and `key_bindings` row.
fn publish_one(tx: &Transaction<'_>, peer: &str, partner_index: i64) -> Result<()> {
    let (member, vkey): (String, String) = tx
        .query_row(
            "SELECT member, vkey FROM peer_key_bindings WHERE peer = ?1 AND partner_index = ?2",
            params![peer, partner_index],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(backend)?;
    let (entry, time) = entries::key_binding_entry(&member, &vkey)?;
    let idx = append_leaf(tx, &entry)?;
    tx.execute(
        "INSERT INTO key_bindings (leaf_idx, member, vkey, time, nonce) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![idx, member, vkey, time, entry.nonce.as_slice()],
    )
    .map_err(backend)?;
    tx.execute(
        "UPDATE peer_key_bindings SET leaf_idx = ?3 WHERE peer = ?1 AND partner_index = ?2",
        params![peer, partner_index, idx],
    )
    .map_err(backend)?;
    Ok(())
}

/// Records a partner's bindings not recorded yet (publishing those of published members);
/// returns those it recorded.
pub(crate) fn peer_record(
    conn: &mut Connection,
    peer: &str,
    bindings: &[PeerKeyBinding],
) -> Result<Vec<PeerKeyBinding>> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let mut recorded = Vec::new();
    for b in bindings {
        let partner_index = stored_u64("log index", b.partner_index)?;
        let n = tx
            .execute(
                "INSERT OR IGNORE INTO peer_key_bindings
                 (peer, partner_index, partner_member, vkey, member) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![peer, partner_index, b.partner_member, b.vkey, b.member],
            )
            .map_err(backend)?;
        if n == 0 {
            continue;
        }
        let published: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM peer_key_bindings
                 WHERE peer = ?1 AND partner_member = ?2 AND leaf_idx IS NOT NULL)",
                params![peer, b.partner_member],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if published {
            publish_one(&tx, peer, partner_index)?;
        }
        recorded.push(b.clone());
    }
    tx.commit().map_err(backend)?;
    Ok(recorded)
}

/// Publishes the unpublished bindings of some partner members; how many.
pub(crate) fn peer_publish(conn: &mut Connection, peer: &str, members: &[String]) -> Result<u64> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let mut n = 0;
    for m in members {
        let pending: Vec<i64> = tx
            .prepare_cached(
                "SELECT partner_index FROM peer_key_bindings
                 WHERE peer = ?1 AND partner_member = ?2 AND leaf_idx IS NULL
                 ORDER BY partner_index",
            )
            .and_then(|mut st| {
                st.query_map(params![peer, m], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(backend)?;
        for i in pending {
            publish_one(&tx, peer, i)?;
            n += 1;
        }
    }
    tx.commit().map_err(backend)?;
    Ok(n)
}

/// A partner's recorded bindings, in its log order.
pub(crate) fn peer_all(conn: &Connection, peer: &str) -> Result<Vec<PeerKeyBinding>> {
    let mut st = conn
        .prepare_cached(
            "SELECT member, partner_member, vkey, partner_index, leaf_idx
             FROM peer_key_bindings WHERE peer = ?1 ORDER BY partner_index",
        )
        .map_err(backend)?;
    st.query_map([peer], |r| {
        Ok(PeerKeyBinding {
            member: r.get(0)?,
            partner_member: r.get(1)?,
            vkey: r.get(2)?,
            partner_index: r.get::<_, i64>(3)?.unsigned_abs(),
            log_index: r.get::<_, Option<i64>>(4)?.map(i64::unsigned_abs),
        })
    })
    .map_err(backend)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .map_err(backend)
}

/// Sets a collection's signature requirement.
pub(crate) fn require_signatures(
    conn: &mut Connection,
    collection: &str,
    required: bool,
) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let n = tx
        .execute(
            "UPDATE collections SET require_signatures = ?1 WHERE id = ?2",
            params![required, collection],
        )
        .map_err(backend)?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("collection {collection}")));
    }
    crate::tx::bump_generation(&tx)?;
    tx.commit().map_err(backend)
}
