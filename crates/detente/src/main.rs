//! `detente`: one binary for the node and its client tools.
//!
//! Each subcommand lives in its own module with an `Args` type and a
//! `run(args) -> anyhow::Result<ExitCode>`; errors reaching `main` exit with status 2.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod pattern;
mod psi;
mod scan;
mod verify;

/// Cooperative cyber defence between parties that do not trust each other.
#[derive(Parser)]
#[command(name = "detente", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify a node's transparency log: signature, consistency, tiles and entries.
    Verify(verify::Args),
    /// Match shared indicators against local logs.
    Scan(scan::Args),
    /// STIX patterns: validate, match, batch protocol, bulk matching.
    Pattern(pattern::Args),
    /// Private set intersection with a peer (standalone two-process mode).
    Psi(psi::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Verify(args) => verify::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Pattern(args) => pattern::run(args),
        Command::Psi(args) => psi::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
