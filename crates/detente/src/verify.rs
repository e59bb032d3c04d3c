//! `detente verify`: check a node's transparency log from the outside, with no help from it.
//!
//! Fetches `URL/log/checkpoint`, checks its signature against the node's key (given with `--key`
//! and pinned in the state directory on first use), checks it is consistent with the last
//! checkpoint verified from that node, re-derives every tile level and the entry hashes, and
//! recomputes the root. Any failure is printed precisely and exits with status 1.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use detente_tlog::VerifierKey;
use detente_tlog_client::{Fetcher as _, HttpFetcher, Options, State, verify_log};

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
    /// Check only the hash tiles, not the entry bundles.
    #[arg(long)]
    skip_entries: bool,
}

fn default_state_dir() -> anyhow::Result<PathBuf> {
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
    let fetcher = HttpFetcher::new(&args.url);
    let state = State::new(&state_root, fetcher.location());
    let options = Options {
        key,
        skip_entries: args.skip_entries,
    };
    match verify_log(&fetcher, Some(&state), &options) {
        Ok(r) => {
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
            println!("OK");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("verify: FAILED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
