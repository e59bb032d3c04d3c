//! The detente node's HTTP service: TAXII 2.1 over a [`detente_store::Store`].
//!
//! [`serve`] runs the TAXII service on a bound listener until a shutdown future resolves;
//! [`serve_metrics`] runs the Prometheus endpoint on another. The server depends on the
//! store trait only; the binary picks the backend.
//!
//! Per-process state: none global; each [`serve`] call keeps its caches (credentials, flag
//! matchers) and witness committer thread in its own state, and runs blocking work on the
//! caller's tokio runtime.

mod access;
mod auth;
pub mod credentials;
mod cursor;
mod error;
pub mod federation;
pub mod flags;
mod handlers;
mod identity;
mod ingest;
mod log;
mod metrics;
mod net;
mod page;
pub mod psi;
mod respond;
pub mod scores;
mod signatures;
mod witness;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use detente_store::{ApiRootRecord, Store};
use tokio::net::TcpListener;

pub use cursor::Cursors;
pub use error::ApiError;
pub use ingest::prepare_parsed as prepare_object;
pub use ingest::read_envelope;
pub use log::LogService;
pub use metrics::Metrics;
pub use net::{Limits, tls_config};
pub use witness::WitnessService;

/// Now in µs since the Unix epoch (the unit of `date_added` and audit times).
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Default `max_content_length`: 64 MiB.
pub const DEFAULT_MAX_CONTENT_LENGTH: usize = 64 * 1024 * 1024;
/// Default largest posted object: 8 MiB.
pub const DEFAULT_MAX_OBJECT_BYTES: usize = 8 * 1024 * 1024;
/// Default byte budget of a page: 16 MiB.
pub const DEFAULT_MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;

/// How the node serves.
#[derive(Clone)]
pub struct Config {
    /// Title of the discovery resource.
    pub title: String,
    /// Largest accepted request body, in bytes (413 beyond).
    pub max_content_length: usize,
    /// Page size when the client gives no `limit`.
    pub default_page_size: usize,
    /// Largest page the server returns, whatever `limit` says.
    pub max_page_size: usize,
    /// A page stops growing past this many bytes of objects and says `more`.
    pub max_page_bytes: usize,
    /// Largest posted object, in bytes of JSON (a failure in the status beyond).
    pub max_object_bytes: usize,
    /// TLS; `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Allow plain HTTP on a non-loopback address.
    pub insecure_http: bool,
    /// The transparency log, served under `/log/`.
    pub log: Option<LogService>,
    /// Cap and per-member budget of PSI sessions (`/psi/v1/...`).
    pub psi: detente_psi_net::server::ServeConfig,
    /// Connection timeouts and the connection cap.
    pub limits: Limits,
    /// The node's witness (`/witness/add-checkpoint`); `None` answers 404 there.
    pub witness: Option<WitnessService>,
    /// How far ahead of the node's clock a posted `modified` (or `created`) may be.
    pub max_future_skew: std::time::Duration,
}

/// Default [`Config::max_future_skew`]: five minutes.
pub const DEFAULT_MAX_FUTURE_SKEW: std::time::Duration = std::time::Duration::from_secs(300);

impl Default for Config {
    fn default() -> Self {
        Config {
            title: "detente".to_owned(),
            max_content_length: DEFAULT_MAX_CONTENT_LENGTH,
            default_page_size: 1000,
            max_page_size: 10_000,
            max_page_bytes: DEFAULT_MAX_PAGE_BYTES,
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            tls: None,
            insecure_http: false,
            log: None,
            psi: detente_psi_net::server::ServeConfig {
                max_items: 1_000_000,
                budget: Some((10_000_000, std::time::Duration::from_secs(3600))),
            },
            limits: Limits::default(),
            witness: None,
            max_future_skew: DEFAULT_MAX_FUTURE_SKEW,
        }
    }
}

/// Shared state of the service.
pub(crate) struct App<S> {
    pub(crate) store: Arc<S>,
    pub(crate) config: Config,
    pub(crate) auth: auth::Authenticator,
    pub(crate) cursors: cursor::Cursors,
    pub(crate) api_roots: Vec<ApiRootRecord>,
    pub(crate) metrics: Arc<Metrics>,
    /// The `identity` node secret behind `/whoami`.
    pub(crate) identity_secret: Vec<u8>,
    /// The witness's compare-and-set committer, when the node is a witness.
    pub(crate) witness_commits: Option<Arc<witness::Committer>>,
    /// Ingest flagging: the node's member and identity, and the matchers.
    pub(crate) flagger: flags::Flagger,
}

/// Why the service could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Plain HTTP was asked for on a non-loopback address without `insecure_http`.
    #[error(
        "refusing plain HTTP on non-loopback address {0}: give a TLS certificate and key, or allow it explicitly"
    )]
    PlainHttpNotLoopback(SocketAddr),
    /// The store failed at startup.
    #[error(transparent)]
    Store(#[from] detente_store::StoreError),
    /// Randomness failed.
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialError),
    /// The listener failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Runs the TAXII service on `listener` until `shutdown` resolves, then drains.
pub async fn serve<S: Store>(
    config: Config,
    store: Arc<S>,
    metrics: Arc<Metrics>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let addr = listener.local_addr()?;
    if config.tls.is_none() && !config.insecure_http && !addr.ip().is_loopback() {
        return Err(ServeError::PlainHttpNotLoopback(addr));
    }
    // The node's named secrets, read (or made) once: the hot paths never take the store's
    // write lock for them.
    let (cursor_key, hasher, identity_secret, flagger) = {
        let s = store.clone();
        tokio::task::spawn_blocking(move || {
            let init = || credentials::random_key().unwrap_or_default();
            let cursor = s.secret("cursor", &init)?;
            let hasher = credentials::Hasher::of(&*s)?;
            let identity = s.secret("identity", &identity::init)?;
            let flagger = flags::Flagger::start(&*s, &identity)
                .map_err(|e| io::Error::other(e.to_string()))?;
            Ok::<_, ServeError>((cursor, hasher, identity, flagger))
        })
        .await
        .map_err(io::Error::other)??
    };
    if cursor_key.len() < 32 {
        return Err(ServeError::Store(detente_store::StoreError::Invalid(
            "the cursor key is too short".into(),
        )));
    }
    let api_roots = {
        let s = store.clone();
        tokio::task::spawn_blocking(move || s.api_roots())
            .await
            .map_err(io::Error::other)??
    };
    let tls = config.tls.clone();
    let limits = config.limits;
    let witness_commits = config
        .witness
        .as_ref()
        .map(|_| Arc::new(witness::Committer::start(store.clone())));
    let app = Arc::new(App {
        witness_commits,
        flagger,
        store,
        auth: auth::Authenticator::new(credentials::random_key()?, hasher),
        identity_secret,
        cursors: cursor::Cursors::new(cursor_key),
        api_roots,
        metrics,
        config,
    });
    let router = Router::new()
        .route("/", axum::routing::get(page::index::<S>))
        .route("/log/{*path}", axum::routing::get(log::get::<S>))
        .route("/whoami", axum::routing::get(identity::whoami::<S>))
        .route("/flags", axum::routing::get(flags::list::<S>))
        .route(
            "/signatures/extension-definition",
            axum::routing::get(signatures::extension_definition),
        )
        .route(
            "/witness/add-checkpoint",
            axum::routing::post(witness::add_checkpoint::<S>),
        );
    let router = psi::routes(router, &app);
    let router = router.fallback(handlers::handle::<S>).with_state(app);
    tracing::info!(%addr, tls = tls.is_some(), "serving TAXII 2.1");
    net::run(router, listener, tls, limits, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Serves `GET /metrics` (Prometheus text format) on `listener` until `shutdown` resolves.
pub async fn serve_metrics(
    metrics: Arc<Metrics>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let router = Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let m = metrics.clone();
            async move {
                let mut r = m.render().into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                r
            }
        }),
    );
    net::run(router, listener, None, Limits::default(), shutdown).await?;
    Ok(())
}
