//! `detente warninglist`: the MISP warninglists a node flags shared indicators against at
//! ingest, per node or per collection (`docs/assets.md`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use detente_store::{FlagAction, WarninglistRecord};
use detente_warninglist::{Matcher, Warninglist};

use crate::data::{DataArgs, open_store};

/// Warninglists checked at ingest (changes apply to a running node from its next POST).
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Add (or replace) a MISP warninglist: a list.json, or a folder holding list.json files.
    Add {
        /// A list.json, or a folder searched for list.json files (a misp-warninglists checkout).
        path: PathBuf,
        /// Apply it to this collection only [default: every collection].
        #[arg(long)]
        collection: Option<String>,
        /// What a match means to readers: inform, or suppress alerts.
        #[arg(long, default_value = "inform")]
        action: String,
        /// The name to select it by [default: the list.json's folder name].
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the warninglists: key, scope, action, type, entries, name (tab-separated).
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Remove a warninglist.
    Remove {
        /// Its key.
        key: String,
        /// The collection it was added to [default: node-wide].
        #[arg(long)]
        collection: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// The list.json files a path names.
fn list_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let files: Vec<PathBuf> = detente_scan::engine::expand_paths(&[path.to_path_buf()])
        .with_context(|| format!("listing {}", path.display()))?
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "list.json"))
        .collect();
    if files.is_empty() {
        bail!("{}: no list.json below this folder", path.display());
    }
    Ok(files)
}

/// A list's key: its folder's name (as in a MISP checkout), else its file stem.
fn key_of(file: &Path) -> String {
    let named = if file.file_name().is_some_and(|n| n == "list.json") {
        file.parent().and_then(Path::file_name)
    } else {
        file.file_stem()
    };
    named.map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Checks that `body` is a MISP warninglist, reporting entries that cannot be applied when
/// `report`; returns (type, usable entries, name).
fn check(
    file: &Path,
    key: &str,
    body: &str,
    report: bool,
) -> anyhow::Result<(String, usize, String)> {
    let wl = Warninglist::parse(body.as_bytes())
        .with_context(|| format!("{}: not a MISP warninglist", file.display()))?;
    let mut lists = Matcher::new();
    for why in lists.add(key, &wl).into_iter().filter(|_| report) {
        eprintln!("note: {} ({}): {why}", file.display(), wl.name);
    }
    Ok((wl.kind, lists.len(), wl.name))
}

/// Runs `detente warninglist`.
pub fn run(command: Cmd) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::Add {
            path,
            collection,
            action,
            key,
            data,
        } => {
            let action: FlagAction = action.parse()?;
            let files = list_files(&path)?;
            if key.is_some() && files.len() > 1 {
                bail!(
                    "--key names one list; {} holds {}",
                    path.display(),
                    files.len()
                );
            }
            let store = open_store(&data)?;
            for f in &files {
                let body = std::fs::read_to_string(f)
                    .with_context(|| format!("reading {}", f.display()))?;
                let key = key.clone().unwrap_or_else(|| key_of(f));
                let (kind, entries, name) = check(f, &key, &body, true)?;
                let new = store
                    .flag_warninglist_put(&WarninglistRecord {
                        key: key.clone(),
                        collection: collection.clone(),
                        action,
                        body,
                        added: 0,
                    })
                    .with_context(|| format!("couldn't add warninglist {key}"))?;
                eprintln!(
                    "{} warninglist {key} ({name}: {kind}, {entries} entries, {action}) for {}",
                    if new { "added" } else { "replaced" },
                    collection.as_deref().unwrap_or("every collection")
                );
            }
        }
        Cmd::List { data } => {
            let store = open_store(&data)?;
            let mut out = std::io::stdout().lock();
            for l in store.flag_warninglists()? {
                let (kind, entries, name) = check(Path::new(&l.key), &l.key, &l.body, false)?;
                writeln!(
                    out,
                    "{}\t{}\t{}\t{kind}\t{entries}\t{name}",
                    l.key,
                    l.collection.as_deref().unwrap_or("node"),
                    l.action
                )?;
            }
        }
        Cmd::Remove {
            key,
            collection,
            data,
        } => {
            open_store(&data)?
                .flag_warninglist_remove(&key, collection.as_deref())
                .with_context(|| format!("couldn't remove warninglist {key}"))?;
            eprintln!("removed warninglist {key}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
