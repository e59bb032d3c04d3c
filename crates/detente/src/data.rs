//! The data directory and the store every data-touching command opens (`--data`,
//! `--database-url`), and the node's identity kept there.
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
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use detente_server::credentials;
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
pub(crate) const DB_FILE: &str = "detente.sqlite";
const IDENTITY_FILE: &str = "node.ed25519";
pub(crate) const ADMIN_CREDENTIALS: &str = "admin.credentials";
const ORIGIN_FILE: &str = "log.origin";
pub(crate) const LOG_DIR: &str = "log";
const WITNESS_KEY_FILE: &str = "witness.ed25519";

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
pub(crate) fn shared_identity(
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
pub(crate) fn ensure_origin(dir: &Path, wanted: Option<&str>) -> anyhow::Result<String> {
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
pub(crate) fn host_name() -> String {
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
pub(crate) fn open_pg(url: &str) -> anyhow::Result<PgStore> {
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
pub(crate) fn initialise_dir(dir: &Path) -> anyhow::Result<()> {
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
pub(crate) fn initialise_store<S: Store>(store: &S, dir: &Path) -> anyhow::Result<Option<String>> {
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
