//! HTTP transport for detente PSI sessions.
//!
//! One round trip: the querier POSTs its encoded [`detente_psi::Request`] to
//! [`SESSION_PATH`] (`application/octet-stream`, optional `Authorization: Bearer`), the
//! answerer replies with the encoded [`detente_psi::Response`]. The answerer reads the 28-byte
//! header first and refuses an oversized request (413), a replayed session (409) or an
//! exhausted budget (429 with `Retry-After`) before reading the points or doing any group
//! operation.
//!
//! [`server::PsiService`] is transport-agnostic enough for the node to mount it behind its
//! own authentication; [`server::router`] is the standalone router with a bearer-token check.
//! [`client::query`] runs the querier side over HTTPS (plain HTTP only to loopback).
//!
//! A detente node mounts the same service per collection at
//! [`collection_session_path`] (`/psi/v1/collections/{id}/session`), behind its member
//! authentication; [`client::query_node`] runs a session against it.
//!
//! Per-process state: none; the answerer's replay set and budgets are in the `Admission` its
//! caller passes (memory or the store).

pub mod client;
pub mod server;

/// Path of the session endpoint.
pub const SESSION_PATH: &str = "/psi/v1/session";

/// Path of a node's session endpoint over one collection, or `None` if `collection` is not
/// a plain id (letters, digits and `-`).
pub fn collection_session_path(collection: &str) -> Option<String> {
    let plain = !collection.is_empty()
        && collection
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    plain.then(|| format!("/psi/v1/collections/{collection}/session"))
}

/// Opens a progress display for a phase of `total` items.
pub trait ProgressFactory: Send + Sync {
    /// Starts reporting one phase; dropping the returned sink ends it.
    fn start(&self, phase: &'static str, total: u64) -> Box<dyn detente_psi::Progress + Send>;
}

/// Reports nothing.
pub struct NoProgress;

impl ProgressFactory for NoProgress {
    fn start(&self, _phase: &'static str, _total: u64) -> Box<dyn detente_psi::Progress + Send> {
        Box::new(())
    }
}

/// Whether `host` (a URL host or a bind address host) is a loopback address or `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_paths_take_plain_ids_only() {
        assert_eq!(
            collection_session_path("a1-b2").as_deref(),
            Some("/psi/v1/collections/a1-b2/session")
        );
        for bad in ["", "a/b", "..", "a?b", "a b"] {
            assert_eq!(collection_session_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1",
            "127.9.9.9",
            "[::1]",
            "::1",
            "localhost",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "10.0.0.1",
            "example.com",
            "0.0.0.0",
            "[::]",
            "localhost.example",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
