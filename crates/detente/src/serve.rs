//! `detente serve`: run the node. Also the data-directory helpers the other commands share.
//!
//! Data directory layout: `detente.sqlite` (the store), `node.ed25519` (the node's Ed25519
//! identity: the 32-byte private seed in hex, mode 0600; the transparency log signs with
//! it), `admin.credentials` (`admin:SECRET`, mode 0600, written on first start),
//! `log.origin` (the transparency log's origin line, fixed when the directory is created) and
//! `log/` (the published tlog-tiles tree: `checkpoint`, `tile/...`).

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use detente_server::{Config, Metrics, credentials};
use detente_store::{ApiRootRecord, Clearance, NewMember, Role, Store};
use detente_store_sqlite::SqliteStore;

/// The data directory option every data-touching command takes.
#[derive(ClapArgs, Debug, Clone)]
pub struct DataArgs {
    /// The node's data directory.
    #[arg(long = "data", env = "DETENTE_DATA", default_value = "./detente-data")]
    pub dir: PathBuf,
}

/// The path of the API root created on first start.
pub const API_ROOT: &str = "/api/";
const DB_FILE: &str = "detente.sqlite";
const IDENTITY_FILE: &str = "node.ed25519";
const ADMIN_CREDENTIALS: &str = "admin.credentials";
const ORIGIN_FILE: &str = "log.origin";
const LOG_DIR: &str = "log";

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
    /// How far ahead of this node's clock a posted `modified` may be, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = detente_server::DEFAULT_MAX_FUTURE_SKEW.as_secs())]
    max_future_skew: u64,
}

/// Reads the node's Ed25519 seed from the data directory.
pub fn node_seed(dir: &Path) -> anyhow::Result<[u8; 32]> {
    let path = dir.join(IDENTITY_FILE);
    let text =
        fs::read_to_string(&path).with_context(|| format!("couldn't read {}", path.display()))?;
    let text = text.trim();
    let mut seed = [0u8; 32];
    if text.len() != 64 || !text.is_ascii() {
        bail!("{} does not hold 64 hex digits", path.display());
    }
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
            .with_context(|| format!("{} does not hold 64 hex digits", path.display()))?;
    }
    Ok(seed)
}

/// Reads the log origin fixed in the data directory.
pub fn log_origin(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join(ORIGIN_FILE);
    let text =
        fs::read_to_string(&path).with_context(|| format!("couldn't read {}", path.display()))?;
    Ok(text.trim_end_matches('\n').to_owned())
}

/// Fixes the log origin on first start; refuses a different `--origin` later.
fn ensure_origin(dir: &Path, wanted: Option<&str>) -> anyhow::Result<String> {
    let path = dir.join(ORIGIN_FILE);
    if path.exists() {
        let have = log_origin(dir)?;
        if let Some(w) = wanted
            && w != have
        {
            bail!("this data directory's log origin is {have:?}; it cannot change to {w:?}");
        }
        return Ok(have);
    }
    let origin = match wanted {
        Some(o) => o.to_owned(),
        None => {
            let host = fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".to_owned());
            format!("{host}/detente")
        }
    };
    if !detente_tlog::note::is_valid_name(&origin) {
        bail!("log origin {origin:?} is not a valid note name (no spaces or '+')");
    }
    write_private(&path, format!("{origin}\n").as_bytes())?;
    Ok(origin)
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("couldn't create {}", path.display()))?;
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("couldn't write {}", path.display()))
}

/// Opens the store of an existing data directory.
pub fn open_store(data: &DataArgs) -> anyhow::Result<SqliteStore> {
    let db = data.dir.join(DB_FILE);
    if !db.exists() {
        bail!(
            "{} is not a detente data directory (no {DB_FILE}); run `detente serve --data {}` once first",
            data.dir.display(),
            data.dir.display()
        );
    }
    SqliteStore::open(&db).with_context(|| format!("couldn't open {}", db.display()))
}

/// Creates whatever of the data directory is missing; returns the admin secret if the
/// admin member was created now.
fn initialise(dir: &Path) -> anyhow::Result<(SqliteStore, Option<String>)> {
    fs::create_dir_all(dir).with_context(|| format!("couldn't create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("couldn't restrict {}", dir.display()))?;
    }
    let identity = dir.join(IDENTITY_FILE);
    if !identity.exists() {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).context("couldn't get randomness for the node key")?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let hex: String = key.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        write_private(&identity, format!("{hex}\n").as_bytes())?;
        tracing::info!(path = %identity.display(), "created the node identity key");
    }
    let db = dir.join(DB_FILE);
    let store =
        SqliteStore::open(&db).with_context(|| format!("couldn't open {}", db.display()))?;
    store.ensure_api_root(&ApiRootRecord {
        path: API_ROOT.to_owned(),
        title: "detente".to_owned(),
        description: Some("The node's TAXII 2.1 API root".to_owned()),
    })?;
    let mut admin_secret = None;
    if store.member_by_name("admin")?.is_none() {
        let secret = credentials::new_secret()?;
        store.add_member(&NewMember {
            name: "admin".to_owned(),
            role: Role::Admin,
            clearance: Clearance::AmberStrict,
            secret_hash: credentials::hash_secret(&secret)?,
        })?;
        write_private(
            &dir.join(ADMIN_CREDENTIALS),
            format!("admin:{secret}\n").as_bytes(),
        )?;
        admin_secret = Some(secret);
    }
    Ok((store, admin_secret))
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

/// Runs `detente serve`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => {
            let cert = fs::read(c).with_context(|| format!("couldn't read {}", c.display()))?;
            let key = fs::read(k).with_context(|| format!("couldn't read {}", k.display()))?;
            Some(detente_server::tls_config(&cert, &key).map_err(anyhow::Error::msg)?)
        }
        _ => None,
    };
    if tls.is_none() && !args.insecure_http && !args.listen.ip().is_loopback() {
        bail!(
            "refusing plain HTTP on {}: give --tls-cert and --tls-key, or --insecure-http",
            args.listen
        );
    }
    let (store, admin_secret) = initialise(&args.data.dir)?;
    let origin = ensure_origin(&args.data.dir, args.origin.as_deref())?;
    let log_dir = args.data.dir.join(LOG_DIR);
    let mut sequencer =
        detente_sequencer::Sequencer::open(&log_dir, &origin, &node_seed(&args.data.dir)?)
            .with_context(|| {
                format!(
                    "couldn't open the transparency log in {} (the store holds every leaf: \
                     move that directory away and restart to republish it)",
                    log_dir.display()
                )
            })?;
    // Catch up with every leaf before serving, so a republished log never shows a checkpoint
    // smaller than one it published before.
    while sequencer
        .step(&store)
        .context("couldn't publish the transparency log")?
        .is_some()
    {}
    if let Some(secret) = admin_secret {
        eprintln!(
            "created member `admin`; its secret is printed below once and saved in {}",
            args.data.dir.join(ADMIN_CREDENTIALS).display()
        );
        let mut out = std::io::stdout().lock();
        writeln!(out, "{secret}")
            .and_then(|()| out.flush())
            .context("couldn't print the admin secret")?;
    }
    let store = Arc::new(store);
    let log = detente_server::LogService {
        prover: Arc::new(detente_sequencer::Prover::new(
            &log_dir,
            sequencer.published(),
        )),
        verifier_key: sequencer.verifier_key(),
        dir: log_dir,
    };
    {
        // Publish new leaves at least every second: poll twice a second, and keep stepping
        // without a pause while a backlog remains; a failed step is retried next tick.
        let store = store.clone();
        std::thread::spawn(move || {
            loop {
                match sequencer.step(&*store) {
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "transparency log step failed"),
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        });
    }
    let config = Config {
        log: Some(log),
        tls,
        insecure_http: args.insecure_http,
        max_content_length: args.max_content_length,
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
        ..Config::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("couldn't start the async runtime")?;
    runtime.block_on(async move {
        let metrics = Arc::new(Metrics::default());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let metrics_task = match args.metrics_listen {
            Some(addr) => {
                let l = tokio::net::TcpListener::bind(addr)
                    .await
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
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("couldn't listen on {}", args.listen))?;
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
