//! `detente flags`: the indicators the node flagged at ingest (warninglist matches, protected
//! assets touched), for the node's admins (`docs/assets.md`).

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::data::{DataArgs, open_store};

/// Flags written by the node at ingest.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Print the latest flags, oldest first, one JSON object a line.
    List {
        /// How many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Flag the stored indicators not flagged yet against the lists and assets configured now
    /// (for configuration added after they were shared); prints the new flags as `list` does.
    Rescan {
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Runs `detente flags`.
pub fn run(command: Cmd) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::List { limit, data } => {
            let store = open_store(&data)?;
            let mut out = std::io::stdout().lock();
            let mut error = None;
            for f in store.flags(limit)? {
                let line = detente_server::flags::flag_json(&f);
                crate::output::write_ndjson(&mut out, &line, &mut error);
            }
            if let Some(e) = error {
                return Err(anyhow::Error::new(e).context("couldn't write to standard output"));
            }
        }
        Cmd::Rescan { data } => {
            let store = open_store(&data)?;
            let written = detente_server::flags::rescan(&*store)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("couldn't flag the stored indicators")?;
            let mut out = std::io::stdout().lock();
            let mut error = None;
            for f in &written {
                crate::output::write_ndjson(
                    &mut out,
                    &detente_server::flags::flag_json(f),
                    &mut error,
                );
            }
            if let Some(e) = error {
                return Err(anyhow::Error::new(e).context("couldn't write to standard output"));
            }
            eprintln!("{} indicators flagged", written.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
