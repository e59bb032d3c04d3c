//! Contributor key bindings (issue 13) and the collections' signature requirement, as in the
//! SQLite backend: the member's binding with the highest log index is its current key.

use detente_store::entries;
use detente_store::{KeyBindingRecord, Result, StoreError};
use postgres::{GenericClient, Transaction};

use crate::error::pg;
use crate::store::Sequence;

/// The columns of a binding row `k` with the leaf and the index of its successor.
const BINDING: &str = "SELECT k.member, k.vkey, k.time, k.nonce, k.leaf_idx, l.leaf,
     (SELECT min(n.leaf_idx) FROM key_bindings n WHERE n.member = k.member AND n.leaf_idx > k.leaf_idx)
     FROM key_bindings k JOIN log_leaves l ON l.idx = k.leaf_idx";

fn to_binding(r: &postgres::Row) -> KeyBindingRecord {
    KeyBindingRecord {
        member: r.get(0),
        vkey: r.get(1),
        time: r.get(2),
        nonce: r.get(3),
        log_index: r.get::<_, i64>(4).unsigned_abs(),
        leaf: r.get(5),
        superseded_by: r.get::<_, Option<i64>>(6).map(i64::unsigned_abs),
    }
}

/// Binds a key inside the caller's transaction, with its log leaf at the next index.
pub(crate) fn bind(tx: &mut Transaction<'_>, member: &str, vkey: &str) -> Result<KeyBindingRecord> {
    let known = tx
        .query_opt("SELECT 1 FROM members WHERE name = $1", &[&member])
        .map_err(pg)?
        .is_some();
    if !known {
        return Err(StoreError::NotFound(format!("member {member}")));
    }
    let mut seq = Sequence::lock(tx)?;
    let current: Option<String> = tx
        .query_opt(
            "SELECT vkey FROM key_bindings WHERE member = $1 ORDER BY leaf_idx DESC LIMIT 1",
            &[&member],
        )
        .map_err(pg)?
        .map(|r| r.get(0));
    if current.as_deref() == Some(vkey) {
        return Err(StoreError::AlreadyExists(format!(
            "key {vkey} as the current key of {member}"
        )));
    }
    let (entry, time) = entries::key_binding_entry(member, vkey)?;
    let idx = seq.append(tx, &entry)?;
    seq.store(tx)?;
    tx.execute(
        "INSERT INTO key_bindings (leaf_idx, member, vkey, time, nonce) VALUES ($1, $2, $3, $4, $5)",
        &[&idx, &member, &vkey, &time, &entry.nonce.as_slice()],
    )
    .map_err(pg)?;
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

/// Every binding, in log order.
pub(crate) fn all(c: &mut impl GenericClient) -> Result<Vec<KeyBindingRecord>> {
    Ok(c.query(&format!("{BINDING} ORDER BY k.leaf_idx"), &[])
        .map_err(pg)?
        .iter()
        .map(to_binding)
        .collect())
}

/// A member's latest binding.
pub(crate) fn current(
    c: &mut impl GenericClient,
    member: &str,
) -> Result<Option<KeyBindingRecord>> {
    Ok(c.query_opt(
        &format!("{BINDING} WHERE k.member = $1 ORDER BY k.leaf_idx DESC LIMIT 1"),
        &[&member],
    )
    .map_err(pg)?
    .as_ref()
    .map(to_binding))
}
