//! The querying side: runs the querier state machine against a peer over HTTP(S).

use std::time::{Duration, Instant};

use detente_psi::{DecodeError, Mode, Outcome, ProtocolError, Querier, Response, SessionId};
use rand_core::OsRng;
use thiserror::Error;

use crate::{ProgressFactory, SESSION_PATH, collection_session_path, is_loopback_host};

/// Largest answerer set the querier accepts in a response, bounding its memory.
pub const DEFAULT_MAX_PEER_ITEMS: u32 = 100_000_000;

/// Why a query failed.
#[derive(Debug, Error)]
pub enum QueryError {
    /// The peer URL cannot be used.
    #[error("invalid peer URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The peer refused the session.
    #[error("peer refused the session: HTTP {status}: {message}{}", retry_after.map(|s| format!(" (retry after {s} s)")).unwrap_or_default())]
    Refused {
        /// The refused session's id.
        session: SessionId,
        /// HTTP status code.
        status: u16,
        /// The peer's explanation.
        message: String,
        /// Seconds from `Retry-After`, if any.
        retry_after: Option<u64>,
    },
    /// The connection failed.
    #[error("HTTP transport error talking to {url}: {source}")]
    Transport {
        /// Endpoint.
        url: String,
        /// Underlying error.
        source: Box<ureq::Error>,
    },
    /// The response is malformed.
    #[error("malformed response from peer: {0}")]
    Malformed(#[from] DecodeError),
    /// The response does not fit the request.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
}

/// Options of a query.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// The `Authorization` header value for the peer (the binary's one credential convention,
    /// `detente_taxii_client::Credentials::authorization`), if any.
    pub authorization: Option<String>,
    /// The certificates to trust (the binary passes the TAXII client's: the system's roots
    /// plus `--ca-cert`); `None` trusts the roots built into the HTTP client.
    pub tls: Option<ureq::tls::TlsConfig>,
    /// Intersection or count only.
    pub mode: Mode,
    /// Largest answerer set accepted.
    pub max_peer_items: u32,
}

/// What the querier learned, with the session's costs.
#[derive(Debug, Clone)]
pub struct QueryReport {
    /// The session id.
    pub session: SessionId,
    /// The result.
    pub outcome: Outcome,
    /// Size of the answerer's set.
    pub peer_items: usize,
    /// Bytes of the request body.
    pub bytes_sent: usize,
    /// Bytes of the response body.
    pub bytes_received: usize,
    /// Wall time of the whole session.
    pub duration: Duration,
}

/// Checks a peer base URL: `https://` anywhere, `http://` only to a loopback host.
pub fn session_url(peer: &str) -> Result<String, QueryError> {
    endpoint(peer, SESSION_PATH)
}

/// The session URL of `collection` on the node at `peer` (same URL rules as
/// [`session_url`]).
pub fn node_session_url(peer: &str, collection: &str) -> Result<String, QueryError> {
    let path = collection_session_path(collection).ok_or_else(|| QueryError::BadUrl {
        url: collection.to_string(),
        reason: "a collection id has only letters, digits and '-'",
    })?;
    endpoint(peer, &path)
}

fn endpoint(peer: &str, path: &str) -> Result<String, QueryError> {
    let bad = |reason| QueryError::BadUrl {
        url: peer.to_string(),
        reason,
    };
    let uri: ureq::http::Uri = peer.parse().map_err(|_| bad("not a URL"))?;
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if is_loopback_host(host) => {}
        Some("http") => {
            return Err(bad(
                "plain http is only allowed to a loopback address; use https",
            ));
        }
        _ => return Err(bad("scheme must be https (or http to loopback)")),
    }
    Ok(format!("{}{path}", peer.trim_end_matches('/')))
}

/// Runs one session over `items` (distinct, normalised values) against `peer`.
pub fn query(
    peer: &str,
    items: &[String],
    options: &QueryOptions,
    progress: &dyn ProgressFactory,
) -> Result<QueryReport, QueryError> {
    run(session_url(peer)?, items, options, progress)
}

/// Runs one session over `items` against `collection` on the detente node at `peer`.
pub fn query_node(
    peer: &str,
    collection: &str,
    items: &[String],
    options: &QueryOptions,
    progress: &dyn ProgressFactory,
) -> Result<QueryReport, QueryError> {
    run(
        node_session_url(peer, collection)?,
        items,
        options,
        progress,
    )
}

fn run(
    url: String,
    items: &[String],
    options: &QueryOptions,
    progress: &dyn ProgressFactory,
) -> Result<QueryReport, QueryError> {
    let started = Instant::now();
    let (querier, request) = {
        let sink = progress.start("blinding", items.len() as u64);
        Querier::start(items, options.mode, &mut OsRng, &*sink)?
    };
    let body = request.encode();
    drop(request);
    let mut config = ureq::Agent::config_builder().http_status_as_error(false);
    if let Some(tls) = &options.tls {
        config = config.tls_config(tls.clone());
    }
    let agent: ureq::Agent = config.build().into();
    let transport = |source| QueryError::Transport {
        url: url.clone(),
        source: Box::new(source),
    };
    let mut post = agent
        .post(&url)
        .header("content-type", "application/octet-stream");
    if let Some(authorization) = &options.authorization {
        post = post.header("authorization", authorization);
    }
    let mut response = post.send(&body[..]).map_err(transport)?;
    let status = response.status().as_u16();
    if status != 200 {
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let message = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .unwrap_or_default()
            .trim()
            .to_string();
        return Err(QueryError::Refused {
            session: querier.session(),
            status,
            message,
            retry_after,
        });
    }
    let limit = detente_psi::codec::RESPONSE_HEADER_LEN as u64
        + 32 * items.len() as u64
        + u64::from(detente_psi::codec::MAX_TAG_LEN) * u64::from(options.max_peer_items);
    let bytes = response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(transport)?;
    let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
    let parsed = Response::decode(&bytes, count, options.max_peer_items)?;
    let outcome = {
        let sink = progress.start("unblinding", items.len() as u64);
        querier.finish(&parsed, &*sink)?
    };
    Ok(QueryReport {
        session: parsed.session,
        outcome,
        peer_items: parsed.tags.len(),
        bytes_sent: body.len(),
        bytes_received: bytes.len(),
        duration: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        assert_eq!(
            session_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080/psi/v1/session"
        );
        assert!(session_url("http://[::1]:9/").is_ok());
        assert!(session_url("https://peer.example/").is_ok());
        assert!(matches!(
            session_url("http://peer.example/"),
            Err(QueryError::BadUrl { .. })
        ));
        assert!(session_url("ftp://127.0.0.1/").is_err());
        assert!(session_url("not a url").is_err());
        assert_eq!(
            node_session_url("https://node.example:8484/", "c-1").unwrap(),
            "https://node.example:8484/psi/v1/collections/c-1/session"
        );
        assert!(node_session_url("https://node.example/", "../x").is_err());
    }
}
