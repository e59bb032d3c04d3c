//! The numbered migrations of the SQLite schema and their application (the idea both backends
//! share: `detente_store::migrations`).

use detente_store::Result;
use detente_store::migrations::{self, Migration};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::tx::{UNVERSIONED, backend};

/// Every migration, in order (files `migrations/NNNN_*.sql`).
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../migrations/0001_base.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../migrations/0002_id_gate.sql"),
    },
];

/// Applies the migrations the file lacks and records the last one in `schema_version`, all in
/// one immediate transaction: it holds the file's write lock, so handles opening the file at
/// once apply each migration once.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let versioned: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' \
             AND name = 'schema_version')",
            [],
            |r| r.get(0),
        )
        .map_err(backend)?;
    let current = if versioned {
        tx.query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .optional()
            .map_err(backend)?
            .unwrap_or(0)
    } else {
        tx.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            .map_err(backend)?;
        let existing: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' \
                 AND name = 'meta')",
                [],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if existing {
            adopt(&tx)?;
            1
        } else {
            0
        }
    };
    for m in migrations::pending(MIGRATIONS, current)? {
        tx.execute_batch(m.sql).map_err(backend)?;
    }
    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    tx.execute("DELETE FROM schema_version", [])
        .map_err(backend)?;
    tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [latest])
        .map_err(backend)?;
    tx.commit().map_err(backend)
}

/// Brings a file written before numbered migrations (whichever release made it) to version 1:
/// migration 1 over what it has (it only creates what is missing), then what `IF NOT EXISTS`
/// cannot do, each step skipped where the file shows it done.
fn adopt(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    tx.execute_batch(MIGRATIONS[0].sql).map_err(backend)?;
    let has_column: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('collections')
             WHERE name = 'require_signatures')",
            [],
            |r| r.get(0),
        )
        .map_err(backend)?;
    if !has_column {
        tx.execute_batch(
            "ALTER TABLE collections ADD COLUMN require_signatures INTEGER NOT NULL DEFAULT 0",
        )
        .map_err(backend)?;
    }
    let done = |key: &str| -> Result<bool> {
        tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM meta WHERE key = ?1)",
            [key],
            |r| r.get(0),
        )
        .map_err(backend)
    };
    // Session ids answered before `psi_charges` existed (kept only in the audit table) become
    // replays, at no cost: the budgets were then in memory.
    if !done("psi_charges_migrated")? {
        tx.execute_batch(
            "INSERT OR IGNORE INTO psi_charges (session, peer, at, cost)
               SELECT session, '', min(time), 0 FROM psi_sessions
               WHERE role = 'answerer' AND session <> '' GROUP BY session",
        )
        .map_err(backend)?;
    }
    // Before per-contributor copies, a value-identified id held one copy under a fixed
    // version key: it becomes its contributor's copy, versioned by its date_added.
    if !done("unversioned_migrated")? {
        tx.execute(
            "UPDATE objects SET version_us = date_added WHERE version IS NULL AND version_us = ?1",
            [UNVERSIONED],
        )
        .map_err(backend)?;
    }
    Ok(())
}
