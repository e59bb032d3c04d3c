//! `detente serve`: run the node. Also the data-directory helpers the other commands share.
//!
//! Data directory layout: `detente.sqlite` (the store), `node.ed25519` (the node's Ed25519
//! identity: the 32-byte private seed in hex, mode 0600; the transparency log signs with
//! it), `admin.credentials` (`admin:SECRET`, mode 0600, written on first start),
//! `log.origin` (the transparency log's origin line, fixed when the directory is created),
//! `witness.ed25519` (the witness's cosigning seed, in hex, mode 0600; separate from the log
//! key so a witness key never signs a checkpoint) and `log/` (the published tlog-tiles tree:
//! `checkpoint`, `tile/...`).
//!
//! With `--database-url postgres://…` (or `DETENTE_DATABASE_URL`) the store is that
//! PostgreSQL database instead of `detente.sqlite`, and so is the published log (tiles,
//! checkpoint, sequencer lease) with its origin, signing key and witness key, shared by every
//! node on the database (`docs/node.md`, "One log, many nodes"); the data directory keeps the
//! admin credentials file.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use detente_sequencer::FsLogStorage;
use detente_server::{Config, Metrics, credentials};
use detente_store::published::LogStorage;
use detente_store::{ApiRootRecord, Clearance, NewMember, Role, Store};
use detente_store_pg::PgStore;
use detente_store_sqlite::SqliteStore;

/// The data directory and store options every data-touching command takes.
#[derive(ClapArgs, Debug, Clone)]
pub struct DataArgs {
    /// The node's data directory.
    #[arg(long = "data", env = "DETENTE_DATA", default_value = "./detente-data")]
    pub dir: PathBuf,
    /// A PostgreSQL database to keep the store in (`postgres://USER@HOST:PORT/DB`) instead of
    /// `detente.sqlite` in the data directory; several nodes may share it.
    #[arg(
        long = "database-url",
        env = "DETENTE_DATABASE_URL",
        value_name = "URL"
    )]
    pub database_url: Option<String>,
}

/// The path of the API root created on first start.
pub const API_ROOT: &str = "/api/";
const DB_FILE: &str = "detente.sqlite";
const IDENTITY_FILE: &str = "node.ed25519";
const ADMIN_CREDENTIALS: &str = "admin.credentials";
const ORIGIN_FILE: &str = "log.origin";
const LOG_DIR: &str = "log";
const WITNESS_KEY_FILE: &str = "witness.ed25519";

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
    /// How far ahead of this node's clock a posted `modified` may be, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = detente_server::DEFAULT_MAX_FUTURE_SKEW.as_secs())]
    max_future_skew: u64,
    /// Run a `detente sync` round of every partner every SECS seconds (`docs/federation.md`).
    #[arg(long, value_name = "SECS")]
    sync_interval: Option<u64>,
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

/// Reads the node's Ed25519 seed from the data directory.
fn node_seed(dir: &Path) -> anyhow::Result<[u8; 32]> {
    read_seed(&dir.join(IDENTITY_FILE))
}

/// Reads a 32-byte seed written as 64 hex digits.
fn read_seed(path: &Path) -> anyhow::Result<[u8; 32]> {
    let text =
        fs::read_to_string(path).with_context(|| format!("couldn't read {}", path.display()))?;
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

/// Writes a fresh random seed as 64 hex digits, readable by the owner only, if `path` is absent.
fn ensure_seed(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).context("couldn't get randomness for a key")?;
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    write_private(path, format!("{hex}\n").as_bytes())?;
    tracing::info!(path = %path.display(), "created a key");
    Ok(())
}

/// What signs for the node: the transparency log's origin and key, and the witness's key.
pub struct LogIdentity {
    /// The log's origin line.
    pub origin: String,
    /// The log's Ed25519 signing seed.
    pub seed: [u8; 32],
    /// The witness's cosigning seed (separate from the log key).
    pub witness_seed: [u8; 32],
}

impl LogIdentity {
    /// The node's witness cosigner, named `<log origin>/witness`.
    pub fn cosigner(&self) -> anyhow::Result<detente_tlog::Cosigner> {
        detente_tlog::Cosigner::from_seed(&format!("{}/witness", self.origin), &self.witness_seed)
            .map_err(|e| anyhow::anyhow!("couldn't derive the witness key: {e}"))
    }

    /// The log's verifier key line.
    pub fn log_vkey(&self) -> anyhow::Result<String> {
        let signer = detente_tlog::NoteSigner::from_seed(&self.origin, &self.seed)
            .map_err(|e| anyhow::anyhow!("couldn't derive the log key: {e}"))?;
        Ok(signer.verifier().to_string())
    }
}

/// The identity of an existing node (`detente log-key`, `detente witness key`): its data
/// directory's files, or with `--database-url` the ones the database holds for every node.
pub fn node_identity(data: &DataArgs) -> anyhow::Result<LogIdentity> {
    match &data.database_url {
        Some(url) => shared_identity(&open_pg(url)?, &data.dir, None),
        None => {
            let path = data.dir.join(WITNESS_KEY_FILE);
            ensure_seed(&path)?;
            Ok(LogIdentity {
                origin: log_origin(&data.dir)?,
                seed: node_seed(&data.dir)?,
                witness_seed: read_seed(&path)?,
            })
        }
    }
}

/// The identity every node on one database shares, fixed in the database by the first node
/// (or admin command) to ask, from its data directory's files where it has them, so an
/// existing node's log keeps its key. A `wanted` origin must be the fixed one.
fn shared_identity(
    store: &dyn Store,
    dir: &Path,
    wanted: Option<&str>,
) -> anyhow::Result<LogIdentity> {
    let local_seed = |file: &str| -> anyhow::Result<[u8; 32]> {
        let path = dir.join(file);
        if path.exists() {
            return read_seed(&path);
        }
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).context("couldn't get randomness for a key")?;
        Ok(seed)
    };
    let shared_seed = |name: &str, init: [u8; 32]| -> anyhow::Result<[u8; 32]> {
        let v = store
            .secret(name, &|| init.to_vec())
            .with_context(|| format!("couldn't read the shared {name}"))?;
        v.try_into()
            .map_err(|_| anyhow::anyhow!("the database's {name} is not 32 bytes"))
    };
    let local_origin = match wanted {
        Some(w) => w.to_owned(),
        None if dir.join(ORIGIN_FILE).exists() => log_origin(dir)?,
        None => default_origin(),
    };
    if !detente_tlog::note::is_valid_name(&local_origin) {
        bail!("log origin {local_origin:?} is not a valid note name (no spaces or '+')");
    }
    let origin = store
        .secret("log-origin", &|| local_origin.clone().into_bytes())
        .context("couldn't read the shared log origin")?;
    let origin = String::from_utf8(origin).context("the database's log origin is not UTF-8")?;
    if let Some(w) = wanted
        && w != origin
    {
        bail!("this database's log origin is {origin:?}; it cannot change to {w:?}");
    }
    Ok(LogIdentity {
        origin,
        seed: shared_seed("log-seed", local_seed(IDENTITY_FILE)?)?,
        witness_seed: shared_seed("witness-seed", local_seed(WITNESS_KEY_FILE)?)?,
    })
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
    let origin = wanted.map_or_else(default_origin, str::to_owned);
    if !detente_tlog::note::is_valid_name(&origin) {
        bail!("log origin {origin:?} is not a valid note name (no spaces or '+')");
    }
    write_private(&path, format!("{origin}\n").as_bytes())?;
    Ok(origin)
}

/// The machine's host name (`localhost` if unknown).
fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// `<host name>/detente`, the origin of a log created without `--origin`.
fn default_origin() -> String {
    format!("{}/detente", host_name())
}

/// Writes a file only its owner can read.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
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

/// Opens the PostgreSQL store at `url` (the URL may hold a password: it is never printed).
fn open_pg(url: &str) -> anyhow::Result<PgStore> {
    PgStore::open(url).context("couldn't open the PostgreSQL store given by --database-url")
}

/// Opens the store of an existing node: its PostgreSQL database, or its data directory's
/// SQLite file.
pub fn open_store(data: &DataArgs) -> anyhow::Result<Box<dyn Store>> {
    if let Some(url) = &data.database_url {
        return Ok(Box::new(open_pg(url)?));
    }
    let db = data.dir.join(DB_FILE);
    if !db.exists() {
        bail!(
            "{} is not a detente data directory (no {DB_FILE}); run `detente serve --data {}` once first",
            data.dir.display(),
            data.dir.display()
        );
    }
    Ok(Box::new(SqliteStore::open(&db).with_context(|| {
        format!("couldn't open {}", db.display())
    })?))
}

/// Creates whatever of the data directory is missing.
fn initialise_dir(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("couldn't create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("couldn't restrict {}", dir.display()))?;
    }
    ensure_seed(&dir.join(IDENTITY_FILE))
}

/// Creates whatever of the store is missing (the API root, the admin member); returns the
/// admin secret if the admin member was created now.
fn initialise_store<S: Store>(store: &S, dir: &Path) -> anyhow::Result<Option<String>> {
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
            clearance: Clearance::AMBER_STRICT,
            secret_hash: credentials::Hasher::of(store)?.hash(&secret),
        })?;
        write_private(
            &dir.join(ADMIN_CREDENTIALS),
            format!("admin:{secret}\n").as_bytes(),
        )?;
        admin_secret = Some(secret);
    }
    Ok(admin_secret)
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
        let mut out = std::io::stdout().lock();
        writeln!(out, "{secret}")
            .and_then(|()| out.flush())
            .context("couldn't print the admin secret")?;
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
        .build()
        .context("couldn't start the async runtime")?;
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
