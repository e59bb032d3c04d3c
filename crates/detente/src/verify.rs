//! `detente verify`: check a node's transparency log from the outside, with no help from it.
//!
//! Fetches `URL/log/checkpoint`, checks its signature against the node's key (given with `--key`
//! and pinned in the state directory on first use), checks it is consistent with the last
//! checkpoint verified from that node, re-derives every tile level and the entry hashes, and
//! recomputes the root. With `--collection`, also checks every readable object of that
//! collection against its receipt (see [`collection`]). Any failure is printed precisely and
//! exits with status 1.

pub(crate) mod collection;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use detente_tlog::{VerifierKey, Verifiers};
use detente_tlog_client::{Fetcher as _, HttpFetcher, Options, State, verify_log};

use crate::remote::Login;

/// Arguments of `detente verify`.
#[derive(clap::Args)]
pub struct Args {
    /// The node's base URL; its log is served under URL/log/.
    #[arg(long)]
    url: String,
    /// Directory remembering each node's pinned key and last verified checkpoint
    /// [default: $XDG_STATE_HOME/detente or ~/.local/state/detente].
    #[arg(long, env = "DETENTE_STATE")]
    state: Option<PathBuf>,
    /// The node's log verifier key (name+hex+base64, from `detente log-key`); required on first
    /// use, then pinned.
    #[arg(long)]
    key: Option<String>,
    /// A witness's verifier key (name+hex+base64, from `detente witness key` on its node);
    /// repeat for each. Its valid cosignatures on the checkpoint count towards --quorum.
    #[arg(long = "witness", value_name = "VKEY")]
    witnesses: Vec<String>,
    /// Accept the checkpoint only with valid cosignatures from at least this many of the
    /// --witness keys [default: all of them].
    #[arg(long, value_name = "K", requires = "witnesses")]
    quorum: Option<usize>,
    /// Check only the hash tiles, not the entry bundles.
    #[arg(long)]
    skip_entries: bool,
    /// Also check every object of this collection the member can read against its receipt,
    /// and that every object remembered from earlier runs is still served or tombstoned.
    #[arg(long, value_name = "ID")]
    collection: Option<String>,
    /// Credentials for --collection; --ca-cert/--insecure apply to every request.
    #[command(flatten)]
    login: Login,
}

/// Where `detente verify` keeps its state when no `--state` is given.
pub(crate) fn default_state_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("detente"));
    }
    let home = std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .context("no --state given and neither XDG_STATE_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".local/state/detente"))
}

/// Runs `detente verify`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = args
        .key
        .as_deref()
        .map(VerifierKey::parse)
        .transpose()
        .context("parsing --key (expected name+hex+base64)")?;
    let state_root = match args.state {
        Some(dir) => dir,
        None => default_state_dir()?,
    };
    let fetcher = HttpFetcher::with_agent(&args.url, args.login.tls()?.agent());
    let state = State::new(&state_root, fetcher.location());
    let witnesses = args
        .witnesses
        .iter()
        .map(|w| VerifierKey::parse(w).with_context(|| format!("parsing --witness {w}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let quorum = args.quorum.unwrap_or(witnesses.len());
    if quorum > witnesses.len() {
        anyhow::bail!(
            "--quorum {quorum} is more than the {} --witness keys given",
            witnesses.len()
        );
    }
    let options = Options {
        key,
        skip_entries: args.skip_entries,
        witnesses,
        quorum,
    };
    let r = match verify_log(&fetcher, Some(&state), &options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("verify: FAILED: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    println!("log: {}", r.origin);
    let pinned = if r.pinned_key { "pinned now" } else { "pinned" };
    println!("key: {} ({pinned})", r.key);
    println!("checkpoint: size {}, root {}", r.size, r.root);
    match r.previous_size {
        Some(m) => println!("consistency: extends the remembered checkpoint of size {m}"),
        None => println!("consistency: first checkpoint remembered from this log"),
    }
    println!(
        "tiles: {} hash tiles and {} entry bundles checked",
        r.tiles, r.bundles
    );
    if !r.cosigned_by.is_empty() {
        println!(
            "witnesses: cosigned by {} of the required {quorum}: {}",
            r.cosigned_by.len(),
            r.cosigned_by.join(", ")
        );
    }
    if let Some(coll) = &args.collection {
        let key = VerifierKey::parse(&r.key).context("the pinned key is malformed")?;
        let out = collection::check(
            &args.url,
            coll,
            &args.login,
            &state,
            &r,
            Verifiers::new(vec![key]),
        )
        .with_context(|| format!("checking collection {coll}"))?;
        println!(
            "collection {coll}: {} object versions match their log entries; {} remembered versions deleted with a tombstone",
            out.checked, out.tombstoned
        );
        if !out.failures.is_empty() {
            for f in &out.failures {
                eprintln!("verify: FAILED: {f}");
            }
            eprintln!(
                "verify: FAILED: {} problems in collection {coll}",
                out.failures.len()
            );
            return Ok(ExitCode::from(1));
        }
    }
    println!("OK");
    Ok(ExitCode::SUCCESS)
}
