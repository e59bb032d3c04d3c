//! Contributor key bindings (issue 13) and the collections' signature requirement, as in the
//! SQLite backend: the member's binding with the highest log index is its current key.

use detente_store::entries;
use detente_store::entries::stored_u64;
use detente_store::{KeyBindingRecord, PeerKeyBinding, Result, StoreError};
use postgres::{GenericClient, Transaction};

use crate::error::pg;
use crate::ingest::Sequence;

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

/// Publishes one recorded partner binding: its own leaf and `key_bindings` row.
fn publish_one(
    tx: &mut Transaction<'_>,
    seq: &mut Sequence,
    peer: &str,
    partner_index: i64,
) -> Result<()> {
    let row = tx
        .query_one(
            "SELECT member, vkey FROM peer_key_bindings WHERE peer = $1 AND partner_index = $2",
            &[&peer, &partner_index],
        )
        .map_err(pg)?;
    let (member, vkey): (String, String) = (row.get(0), row.get(1));
    let (entry, time) = entries::key_binding_entry(&member, &vkey)?;
    let idx = seq.append(tx, &entry)?;
    tx.execute(
        "INSERT INTO key_bindings (leaf_idx, member, vkey, time, nonce) VALUES ($1, $2, $3, $4, $5)",
        &[&idx, &member, &vkey, &time, &entry.nonce.as_slice()],
    )
    .map_err(pg)?;
    tx.execute(
        "UPDATE peer_key_bindings SET leaf_idx = $3 WHERE peer = $1 AND partner_index = $2",
        &[&peer, &partner_index, &idx],
    )
    .map_err(pg)?;
    Ok(())
}

/// Records a partner's bindings not recorded yet (publishing those of published members),
/// inside the caller's transaction; returns those it recorded.
pub(crate) fn peer_record(
    tx: &mut Transaction<'_>,
    peer: &str,
    bindings: &[PeerKeyBinding],
) -> Result<Vec<PeerKeyBinding>> {
    // The sequence lock first: it serializes recorders and publishers.
    let mut seq = Sequence::lock(tx)?;
    let mut recorded = Vec::new();
    for b in bindings {
        let partner_index = stored_u64("log index", b.partner_index)?;
        let n = tx
            .execute(
                "INSERT INTO peer_key_bindings (peer, partner_index, partner_member, vkey, member)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&peer, &partner_index, &b.partner_member, &b.vkey, &b.member],
            )
            .map_err(pg)?;
        if n == 0 {
            continue;
        }
        let published = tx
            .query_opt(
                "SELECT 1 FROM peer_key_bindings
                 WHERE peer = $1 AND partner_member = $2 AND leaf_idx IS NOT NULL LIMIT 1",
                &[&peer, &b.partner_member],
            )
            .map_err(pg)?
            .is_some();
        if published {
            publish_one(tx, &mut seq, peer, partner_index)?;
        }
        recorded.push(b.clone());
    }
    seq.store(tx)?;
    Ok(recorded)
}

/// Publishes the unpublished bindings of some partner members, inside the caller's
/// transaction; how many.
pub(crate) fn peer_publish(
    tx: &mut Transaction<'_>,
    peer: &str,
    members: &[String],
) -> Result<u64> {
    let mut seq = Sequence::lock(tx)?;
    let mut n = 0;
    for m in members {
        let pending: Vec<i64> = tx
            .query(
                "SELECT partner_index FROM peer_key_bindings
                 WHERE peer = $1 AND partner_member = $2 AND leaf_idx IS NULL
                 ORDER BY partner_index",
                &[&peer, m],
            )
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for i in pending {
            publish_one(tx, &mut seq, peer, i)?;
            n += 1;
        }
    }
    seq.store(tx)?;
    Ok(n)
}

/// A partner's recorded bindings, in its log order.
pub(crate) fn peer_all(c: &mut impl GenericClient, peer: &str) -> Result<Vec<PeerKeyBinding>> {
    Ok(c.query(
        "SELECT member, partner_member, vkey, partner_index, leaf_idx
         FROM peer_key_bindings WHERE peer = $1 ORDER BY partner_index",
        &[&peer],
    )
    .map_err(pg)?
    .iter()
    .map(|r| PeerKeyBinding {
        member: r.get(0),
        partner_member: r.get(1),
        vkey: r.get(2),
        partner_index: r.get::<_, i64>(3).unsigned_abs(),
        log_index: r.get::<_, Option<i64>>(4).map(i64::unsigned_abs),
    })
    .collect())
}
