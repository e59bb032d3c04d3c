//! Schema migrations, the same idea in every backend: a backend's migrations are numbered SQL
//! files (`migrations/0001_….sql`, …) applied in order, each once, and the database records
//! the number of the last one applied in a `schema_version` row. A backend applies
//! [`pending`] migrations under its database-wide lock, so nodes starting together apply
//! each exactly once.

use crate::{Result, StoreError};

/// One numbered migration of a backend.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number: 1, 2, … without gaps.
    pub version: i64,
    /// The SQL that takes the schema from `version - 1` to `version`.
    pub sql: &'static str,
}

/// The migrations of `all` still to apply to a database at `current` (0: empty database).
/// Refuses a database newer than every migration known here (a node older than the schema
/// would misread it) and a list numbered other than 1, 2, ….
pub fn pending(all: &[Migration], current: i64) -> Result<&[Migration]> {
    if let Some((i, m)) = all
        .iter()
        .enumerate()
        .find(|(i, m)| i64::try_from(*i + 1).ok() != Some(m.version))
    {
        return Err(StoreError::Backend(format!(
            "migration at position {} is numbered {}",
            i + 1,
            m.version
        )));
    }
    let latest = i64::try_from(all.len()).unwrap_or(i64::MAX);
    if current > latest || current < 0 {
        return Err(StoreError::Invalid(format!(
            "the database schema is at version {current}, but this build knows versions up to \
             {latest}: run a newer detente"
        )));
    }
    Ok(all
        .get(usize::try_from(current).unwrap_or(usize::MAX)..)
        .unwrap_or(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Migration] = &[
        Migration {
            version: 1,
            sql: "a",
        },
        Migration {
            version: 2,
            sql: "b",
        },
    ];

    #[test]
    fn pending_is_what_follows_the_current_version() {
        assert_eq!(pending(ALL, 0).unwrap().len(), 2);
        assert_eq!(pending(ALL, 1).unwrap()[0].sql, "b");
        assert!(pending(ALL, 2).unwrap().is_empty());
        let e = pending(ALL, 3).unwrap_err().to_string();
        assert!(e.contains("version 3"), "{e}");
        let gap = [Migration {
            version: 2,
            sql: "b",
        }];
        assert!(pending(&gap, 0).is_err());
    }
}
