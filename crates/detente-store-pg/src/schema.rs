//! The numbered migrations of the PostgreSQL schema and their application.

use detente_store::Result;
use detente_store::migrations::{self, Migration};

use crate::error::pg;

/// Every migration, in order (files `migrations/NNNN_*.sql`).
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../migrations/0001_base.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../migrations/0002_contributor_keys.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("../migrations/0003_peers.sql"),
    },
    Migration {
        version: 4,
        sql: include_str!("../migrations/0004_flags.sql"),
    },
    Migration {
        version: 5,
        sql: include_str!("../migrations/0005_peer_keys.sql"),
    },
    Migration {
        version: 6,
        sql: include_str!("../migrations/0006_psi_charges.sql"),
    },
    Migration {
        version: 7,
        sql: include_str!("../migrations/0007_published_log.sql"),
    },
    Migration {
        version: 8,
        sql: include_str!("../migrations/0008_id_gate.sql"),
    },
    Migration {
        version: 9,
        sql: include_str!("../migrations/0009_ingest_write.sql"),
    },
    Migration {
        version: 10,
        sql: include_str!("../migrations/0010_ingest_gate.sql"),
    },
];

/// Key of the transaction-level advisory lock that serializes migrations across nodes
/// ("detente" in ASCII).
const MIGRATION_LOCK: i64 = 0x0064_6574_656e_7465;

/// Applies the migrations the database lacks, each in the one transaction that records it.
pub(crate) fn migrate(c: &mut postgres::Client) -> Result<()> {
    let mut tx = c.transaction().map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(pg)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .map_err(pg)?;
    let current: Option<i64> = tx
        .query_opt("SELECT version FROM schema_version", &[])
        .map_err(pg)?
        .map(|r| r.get(0));
    for m in migrations::pending(MIGRATIONS, current.unwrap_or(0))? {
        tx.batch_execute(m.sql).map_err(pg)?;
    }
    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    match current {
        None => tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&latest],
        ),
        Some(_) => tx.execute("UPDATE schema_version SET version = $1", &[&latest]),
    }
    .map_err(pg)?;
    tx.commit().map_err(pg)
}
