//! PostgreSQL errors as [`StoreError`]s: which ones a caller may retry.

use std::time::Duration;

use detente_store::StoreError;
use postgres::error::SqlState;

/// How long a caller should wait when the database is unreachable.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A database error as a store error: conflicts and unavailability are told apart from
/// failures, so callers retry only what may succeed when retried.
pub(crate) fn pg(e: postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            return StoreError::Conflict(db.to_string());
        }
        if *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::TOO_MANY_CONNECTIONS
            || *code == SqlState::READ_ONLY_SQL_TRANSACTION
            || code.code().starts_with("08")
        {
            return unavailable(db.to_string());
        }
        return StoreError::Backend(db.to_string());
    }
    if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) {
        return unavailable(e.to_string());
    }
    StoreError::Backend(e.to_string())
}

/// The database cannot be reached now.
pub(crate) fn unavailable(reason: String) -> StoreError {
    StoreError::Unavailable {
        reason,
        retry_after: RETRY_AFTER,
    }
}

/// [`pg`], except that a unique-constraint violation (the key is taken, perhaps by a
/// concurrent insert) is `AlreadyExists(what)`.
pub(crate) fn taken_or_pg(what: String) -> impl FnOnce(postgres::Error) -> StoreError {
    move |e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::AlreadyExists(what)
        } else {
            pg(e)
        }
    }
}
