//! `detente`: one binary for the node and its client tools.
//!
//! Each subcommand lives in its own module with an `Args` type and a
//! `run(args) -> anyhow::Result<ExitCode>`; errors reaching `main` exit with status 2.

mod scan;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod pattern;

/// Cooperative cyber defence between parties that do not trust each other.
#[derive(Parser)]
#[command(name = "detente", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Match shared indicators against local logs.
    Scan(scan::Args),
    /// STIX patterns: validate, match, batch protocol, bulk matching.
    Pattern(pattern::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Scan(args) => scan::run(args),
        Command::Pattern(args) => pattern::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
