//! `detente serve`: run the node over its data directory (`crate::data`).

use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use detente_sequencer::FsLogStorage;
use detente_server::{Config, Metrics};
use detente_store::Store;
use detente_store::published::LogStorage;
use detente_store_sqlite::SqliteStore;

use crate::data::{
    ADMIN_CREDENTIALS, DB_FILE, DataArgs, LOG_DIR, LogIdentity, ensure_origin, host_name,
    initialise_dir, initialise_store, node_identity, open_pg, shared_identity,
};
use crate::output::print_value;

/// Run the node: a TAXII 2.1 server over the data directory.
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8484")]
    listen: SocketAddr,
    /// PEM certificate chain for HTTPS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address.
    #[arg(long)]
    insecure_http: bool,
    /// Serve Prometheus metrics at /metrics on this address.
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = detente_server::DEFAULT_MAX_CONTENT_LENGTH)]
    max_content_length: usize,
    /// Largest posted object, in bytes of JSON; larger ones are failures in the status.
    #[arg(long, value_name = "BYTES", default_value_t = detente_server::DEFAULT_MAX_OBJECT_BYTES)]
    max_object_bytes: usize,
    /// Byte budget of a page (objects, manifest, versions): past it the page ends with `more`.
    #[arg(long, value_name = "BYTES", default_value_t = detente_server::DEFAULT_MAX_PAGE_BYTES)]
    max_page_bytes: usize,
    /// Origin of the transparency log; fixed when the data directory is created
    /// (default: `<host name>/detente`).
    #[arg(long)]
    origin: Option<String>,
    /// Largest querier set accepted in one PSI session (refused with 413 before any work).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    psi_max_items: u32,
    /// Items each member may spend on PSI sessions per window, charging the querier's set
    /// plus the collection's set per session; 0 turns the budget off.
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    psi_budget_items: u64,
    /// Length of the PSI budget's sliding window, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    psi_budget_window: u64,
    /// Seconds a client has to send a request's headers (and its first byte; also how long
    /// an idle HTTP/1.1 keep-alive connection is kept).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    header_read_timeout: u64,
    /// Seconds a connection may move no bytes either way before it is closed.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    idle_timeout: u64,
    /// Seconds a client has to send a request's whole body (408 after).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    body_timeout: u64,
    /// Seconds a client has to complete the TLS handshake.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    tls_handshake_timeout: u64,
    /// Connections served at once (default, and at most: the open-file limit less
    /// 256); more wait in the listen backlog.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Threads for store work (requests wait for one when all are busy); default four per
    /// core, at least 8. A fixed, long-lived set keeps the allocator's per-thread arenas few.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    blocking_threads: Option<u16>,
    /// How far ahead of this node's clock a posted `modified` may be, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = detente_server::DEFAULT_MAX_FUTURE_SKEW.as_secs())]
    max_future_skew: u64,
    /// Run a `detente sync` round of every partner every SECS seconds (`docs/federation.md`).
    #[arg(long, value_name = "SECS")]
    sync_interval: Option<u64>,
    /// Give the heap's free pages back to the system every SECS seconds (glibc only; 0: never).
    /// Without it the node's resident memory creeps under steady load (`docs/node.md`).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    heap_trim_interval: u64,
}

/// Connections the kernel queues for a listener while the node is at its connection cap
/// (clamped by `net.core.somaxconn`); queued connections hold no descriptor of the node.
const LISTEN_BACKLOG: u32 = 1024;

/// Binds a listener with [`LISTEN_BACKLOG`] (the standard library's is 128).
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// How long an idle store thread lives. Long: threads that come and go (tokio's default is
/// 10 s) each bring the allocator another arena, and the node's memory crept with them.
const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(3600);

/// The store threads: `wanted`, or four per core and at least 8.
fn blocking_threads(wanted: Option<u16>) -> usize {
    wanted.map(usize::from).unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        (4 * cores).max(8)
    })
}

/// File descriptors kept for the store, the log and the runtime when sizing the connection cap.
const FD_RESERVE: u64 = 256;

/// Raises the soft open-file limit to the hard one where allowed, and picks the connection
/// cap below it.
fn connection_cap(wanted: Option<usize>) -> anyhow::Result<usize> {
    let files = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .context("couldn't read the open-file limit")?;
    let room = usize::try_from(files.saturating_sub(FD_RESERVE).max(16)).unwrap_or(usize::MAX);
    let cap = wanted.unwrap_or(room);
    if cap > room {
        bail!(
            "--max-connections {cap} does not fit the open-file limit {files} (at most {room}); \
             raise the limit (ulimit -n) or lower the cap"
        );
    }
    tracing::info!(files, max_connections = cap, "connection cap");
    Ok(cap)
}

/// Resolves when the process gets SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// Posts checkpoints to witnesses over HTTP(S).
struct WitnessClient {
    agent: ureq::Agent,
}

impl WitnessClient {
    fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .build()
            .into();
        WitnessClient { agent }
    }
}

impl detente_sequencer::witnessing::Transport for WitnessClient {
    fn add_checkpoint(&self, url: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        let target = format!("{url}/witness/add-checkpoint");
        let mut r = self
            .agent
            .post(&target)
            .send(body)
            .map_err(|e| format!("{target}: {e}"))?;
        let reply = r
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .map_err(|e| format!("{target}: {e}"))?;
        Ok((r.status().as_u16(), reply))
    }
}

/// Runs `detente serve`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.tls_cert.is_none() && !args.insecure_http && !args.listen.ip().is_loopback() {
        bail!(
            "refusing plain HTTP on {}: give --tls-cert and --tls-key, or --insecure-http",
            args.listen
        );
    }
    initialise_dir(&args.data.dir)?;
    match &args.data.database_url {
        Some(url) => {
            let store = Arc::new(open_pg(url)?);
            let identity = shared_identity(&*store, &args.data.dir, args.origin.as_deref())?;
            let storage: Arc<dyn LogStorage> = store.clone();
            serve_store(store, storage, identity, args)
        }
        None => {
            let db = args.data.dir.join(DB_FILE);
            let store = SqliteStore::open(&db)
                .with_context(|| format!("couldn't open {}", db.display()))?;
            ensure_origin(&args.data.dir, args.origin.as_deref())?;
            let identity = node_identity(&args.data)?;
            let log_dir = args.data.dir.join(LOG_DIR);
            let storage = FsLogStorage::open(&log_dir).with_context(|| {
                format!(
                    "couldn't open the transparency log in {}",
                    log_dir.display()
                )
            })?;
            serve_store(Arc::new(store), Arc::new(storage), identity, args)
        }
    }
}

/// How this process is named in the sequencer lease: host, process id and a random part.
fn lease_holder() -> anyhow::Result<String> {
    let mut nonce = [0u8; 8];
    getrandom::getrandom(&mut nonce).context("couldn't get randomness")?;
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{}/{}/{nonce}", host_name(), std::process::id()))
}

/// Serves `store` (a fresh one gets its API root and admin member first), publishing its
/// log to `storage` whenever this node holds the sequencer lease.
fn serve_store<S: Store>(
    store: Arc<S>,
    storage: Arc<dyn LogStorage>,
    identity: LogIdentity,
    args: Args,
) -> anyhow::Result<ExitCode> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => {
            let cert = fs::read(c).with_context(|| format!("couldn't read {}", c.display()))?;
            let key = fs::read(k).with_context(|| format!("couldn't read {}", k.display()))?;
            Some(detente_server::tls_config(&cert, &key).map_err(anyhow::Error::msg)?)
        }
        _ => None,
    };
    let admin_secret = initialise_store(&*store, &args.data.dir)?;
    let mut sequencer = detente_sequencer::Sequencer::with_storage(
        storage.clone(),
        &identity.origin,
        &identity.seed,
        &lease_holder()?,
    )
    .context(
        "couldn't open the transparency log (the store holds every leaf: with a data \
         directory, move its log/ away and restart to republish it)",
    )?;
    // Catch up with every leaf before serving, so a republished log never shows a checkpoint
    // smaller than one it published before (with a shared database, unless another node
    // holds the lease and publishes).
    while sequencer
        .step(&*store)
        .context("couldn't publish the transparency log")?
        .is_some()
    {}
    if let Some(secret) = admin_secret {
        eprintln!(
            "created member `admin`; its secret is printed below once and saved in {}",
            args.data.dir.join(ADMIN_CREDENTIALS).display()
        );
        print_value(&secret).context("couldn't print the admin secret")?;
    }
    let prover = Arc::new(detente_sequencer::Prover::new(
        storage.clone(),
        sequencer.published(),
    ));
    let witnesses = Arc::new(detente_sequencer::witnessing::Witnessing::default());
    detente_sequencer::witnessing::start(
        store.clone(),
        prover.clone(),
        witnesses.clone(),
        Arc::new(WitnessClient::new()),
    );
    let log = detente_server::LogService {
        prover,
        verifier_key: sequencer.verifier_key(),
        storage,
        witnesses,
    };
    {
        // Publish new leaves at least every second: poll twice a second (renewing the lease,
        // or waiting for it), and keep stepping without a pause while a backlog remains; a
        // failed step is retried next tick from what is published.
        let store = store.clone();
        std::thread::spawn(move || {
            let mut epoch = sequencer.epoch();
            loop {
                let step = sequencer.step(&*store);
                if sequencer.epoch() != epoch {
                    epoch = sequencer.epoch();
                    if epoch == 0 {
                        tracing::info!("another node holds the sequencer lease");
                    } else {
                        tracing::info!(epoch, "this node holds the sequencer lease");
                    }
                }
                match step {
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "transparency log step failed"),
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        });
    }
    if let Some(secs) = args.sync_interval {
        let store = store.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(secs.max(1)));
                match crate::sync::sync_all(&*store, None, crate::sync::DEFAULT_PAGE) {
                    Ok(reports) => {
                        for r in reports {
                            for line in r.lines() {
                                if r.bad() {
                                    tracing::warn!("sync: {line}");
                                } else {
                                    tracing::info!("sync: {line}");
                                }
                            }
                        }
                    }
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "sync round failed"),
                }
            }
        });
    }
    let witness = detente_server::WitnessService {
        cosigner: identity.cosigner()?,
    };
    let config = Config {
        log: Some(log),
        witness: Some(witness),
        tls,
        insecure_http: args.insecure_http,
        max_content_length: args.max_content_length,
        max_object_bytes: args.max_object_bytes,
        max_page_bytes: args.max_page_bytes,
        max_future_skew: std::time::Duration::from_secs(args.max_future_skew),
        psi: detente_psi_net::server::ServeConfig {
            max_items: args.psi_max_items,
            budget: (args.psi_budget_items > 0).then(|| {
                (
                    args.psi_budget_items,
                    std::time::Duration::from_secs(args.psi_budget_window.max(1)),
                )
            }),
        },
        limits: detente_server::Limits {
            header_read_timeout: Duration::from_secs(args.header_read_timeout.max(1)),
            idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
            body_timeout: Duration::from_secs(args.body_timeout.max(1)),
            tls_handshake_timeout: Duration::from_secs(args.tls_handshake_timeout.max(1)),
            max_connections: connection_cap(args.max_connections)?,
        },
        ..Config::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(blocking_threads(args.blocking_threads))
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .build()
        .context("couldn't start the async runtime")?;
    if args.heap_trim_interval > 0 {
        let every = Duration::from_secs(args.heap_trim_interval);
        std::thread::Builder::new()
            .name("heap-trim".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    detente_heap::trim();
                }
            })
            .context("couldn't start the heap-trim thread")?;
    }
    runtime.block_on(async move {
        let metrics = Arc::new(Metrics::default());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let metrics_task = match args.metrics_listen {
            Some(addr) => {
                let l = listen(addr)
                    .with_context(|| format!("couldn't listen on {addr} for metrics"))?;
                let mut rx = stop_rx.clone();
                let m = metrics.clone();
                Some(tokio::spawn(async move {
                    detente_server::serve_metrics(m, l, async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await
                }))
            }
            None => None,
        };
        let listener =
            listen(args.listen).with_context(|| format!("couldn't listen on {}", args.listen))?;
        eprintln!("listening on {}", listener.local_addr()?);
        detente_server::serve(config, store, metrics, listener, shutdown_signal())
            .await
            .context("the node failed")?;
        let _ = stop_tx.send(true);
        if let Some(t) = metrics_task {
            t.await
                .context("metrics task failed")?
                .context("metrics listener failed")?;
        }
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}
