//! `detente`: one binary for the node and its client tools.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Cooperative cyber defence between parties that do not trust each other.
#[derive(Parser)]
#[command(name = "detente", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {}
}
