//! `detente flags`: the indicators the node flagged at ingest (warninglist matches, protected
//! assets touched), for the node's admins (`docs/assets.md`).

use std::process::ExitCode;

use clap::{Args as ClapArgs, Subcommand};
use detente_store::{Store, TlpRank};
use serde_json::json;

use crate::serve::{DataArgs, open_store};

/// Flags written by the node at ingest.
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print the latest flags, oldest first, one JSON object a line.
    List {
        /// How many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// The name of a TLP level.
fn tlp_name(t: TlpRank) -> &'static str {
    ["clear", "green", "amber", "amber+strict", "red"]
        .get(usize::from(t.0))
        .copied()
        .unwrap_or("red")
}

/// Runs `detente flags`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Cmd::List { limit, data } => {
            let store = open_store(&data)?;
            let mut out = std::io::stdout().lock();
            let mut error = None;
            for f in store.flags(limit)? {
                let matches: serde_json::Value =
                    serde_json::from_str(&f.matches).unwrap_or(serde_json::Value::Null);
                let line = json!({
                    "created": detente_taxii::time::format_micros(f.created),
                    "collection": f.collection,
                    "indicator": f.indicator_id,
                    "indicator_version": f.indicator_version,
                    "contributor": f.contributor,
                    "tlp": tlp_name(f.tlp),
                    "note": f.note_id,
                    "matches": matches,
                });
                crate::scan::write_ndjson(&mut out, &line, &mut error);
            }
            if let Some(e) = error {
                return Err(anyhow::Error::new(e).context("couldn't write to standard output"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
