//! Contributor key bindings (issue 13) and the collections' signature requirement.
//!
//! `key_bindings` keeps every binding with its log entry's nonce; the leaf itself is in
//! `log_leaves` at `leaf_idx`, appended in the same transaction. Rows are never removed: the
//! member's binding with the highest index is its current key.

use detente_store::{KeyBindingRecord, Result, StoreError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::store::{append_leaf, backend};
use detente_store::entries;

/// The key-binding migration step, run after the base schema on every open; idempotent. It
/// adds a table and a column with a default, so older data directories open unchanged.
pub(crate) fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS key_bindings (
             leaf_idx INTEGER PRIMARY KEY, member TEXT NOT NULL, vkey TEXT NOT NULL,
             time TEXT NOT NULL, nonce BLOB NOT NULL);
         CREATE INDEX IF NOT EXISTS key_bindings_member ON key_bindings (member, leaf_idx);",
    )
    .map_err(backend)?;
    let has_column: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('collections')
             WHERE name = 'require_signatures')",
            [],
            |r| r.get(0),
        )
        .map_err(backend)?;
    if !has_column {
        conn.execute_batch(
            "ALTER TABLE collections ADD COLUMN require_signatures INTEGER NOT NULL DEFAULT 0",
        )
        .map_err(backend)?;
    }
    Ok(())
}

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
    crate::store::bump_generation(&tx)?;
    tx.commit().map_err(backend)
}
