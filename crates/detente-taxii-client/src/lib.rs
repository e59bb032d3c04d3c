//! The TAXII 2.1 client of the `detente` command (`push`, `pull`, `verify`, `scan`'s `taxii:`
//! sources and `--push`, and the federation's partner connections).
//!
//! One home for what talking to a node takes: the HTTP client ([`Tls::agent`]: `--ca-cert`
//! certificates on top of the system's roots), the credentials ([`Credentials`]: HTTP Basic
//! or a bearer token), API root discovery and collection addressing, TAXII 2.1 content
//! negotiation, paging (`next`/`more`, else `added_after` from `X-TAXII-Date-Added-Last`),
//! POSTs of envelopes with status polling, and typed [`Error`]s that name the request, the
//! HTTP status and the node's own error message. Requests and answers use `detente-taxii`'s
//! wire types ([`Filter`], [`Envelope`], [`Manifest`], [`Status`]).
//!
//! State per process: none. Each [`Client`] holds its connection pool and counts its requests.

mod client;
mod credentials;
mod tls;

pub use client::{Client, origin};
pub use credentials::Credentials;
pub use detente_taxii::filter::escape;
pub use detente_taxii::{
    Discovery, Envelope, ErrorMessage, Filter, Manifest, ManifestRecord, Status, StatusDetails,
    VersionSelector,
};
pub use tls::Tls;

use std::path::PathBuf;
use std::time::Duration;

/// Why a request to a node failed (or could not be made).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not an http(s) URL.
    #[error("{0:?} is not an http(s) URL")]
    NotHttp(String),
    /// A file that should hold PEM certificates holds none.
    #[error("{0} holds no PEM certificate")]
    Certificate(String),
    /// A file could not be read.
    #[error("couldn't read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Credentials that cannot be used (a malformed credentials file).
    #[error("{0}")]
    Credentials(String),
    /// The node could not be reached, or its answer not read (TLS failures included).
    #[error("couldn't reach {url}: {message}")]
    Transport {
        /// The URL requested.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The node answered with an error status.
    #[error("{request} failed with HTTP {status}: {message}")]
    Http {
        /// The method and URL (`GET https://…`).
        request: String,
        /// The HTTP status.
        status: u16,
        /// The node's own explanation: its TAXII error's `description` (else `title`), else
        /// the start of the body.
        message: String,
        /// The TAXII error resource, when the body was one (boxed: errors stay small).
        error: Option<Box<ErrorMessage>>,
    },
    /// The node answered something the endpoint does not serve.
    #[error("{url} did not answer {expected}: {message}")]
    Unexpected {
        /// The URL requested.
        url: String,
        /// What was expected.
        expected: &'static str,
        /// What was wrong with the answer.
        message: String,
    },
    /// A POST's status was still pending when the client stopped waiting.
    #[error("status {id} at {url} is still pending after {waited:?}")]
    Pending {
        /// The status id.
        id: String,
        /// The status resource's URL.
        url: String,
        /// How long the client polled.
        waited: Duration,
    },
}

impl Error {
    /// The HTTP status of an [`Error::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}
