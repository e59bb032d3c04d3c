//! `detente`: one binary for the node and its client tools.
//!
//! Each subcommand lives in its own module with an `Args` type and a
//! `run(args) -> anyhow::Result<ExitCode>`; errors reaching `main` exit with status 2.
//!
//! Per-process state: what the running subcommand sets up, once: a tokio runtime where it
//! speaks HTTP, the store and its background threads under `serve`, and one rayon pool of scan
//! workers under `scan` and `lookalike` (`pool.rs`), handed to the scanner.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod asset;
mod collection;
mod data;
mod flags;
mod log;
mod logkey;
mod lookalike;
mod member;
mod object;
mod output;
mod pattern;
mod peer;
mod pool;
mod psi;
mod pull;
mod push;
mod remote;
mod scan;
mod serve;
mod signatures;
mod sync;
mod token;
mod verify;
mod warninglist;
mod witness;

/// Cooperative cyber defence between parties that do not trust each other.
#[derive(Parser)]
#[command(name = "detente", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node (TAXII 2.1 server).
    Serve(serve::Args),
    /// Manage members.
    #[command(subcommand)]
    Member(member::Cmd),
    /// Manage collections and grants.
    #[command(subcommand)]
    Collection(collection::Cmd),
    /// Issue and revoke bearer tokens.
    #[command(subcommand)]
    Token(token::Cmd),
    /// Moderate stored objects (admin deletion).
    #[command(subcommand)]
    Object(object::Cmd),
    /// Push a STIX bundle to a collection.
    Push(push::Args),
    /// Make a contributor signing key (for `push --sign`); prints its verifier key.
    Keygen(signatures::KeygenArgs),
    /// Pull a collection's objects as a STIX bundle.
    Pull(pull::Args),
    /// Verify a node's transparency log: signature, consistency, tiles and entries.
    Verify(verify::Args),
    /// STIX patterns: validate, match, batch protocol, bulk matching.
    Pattern(pattern::Args),
    /// Match shared indicators against local logs.
    Scan(scan::Args),
    /// Private set intersection with a peer (standalone two-process mode).
    Psi(psi::Args),
    /// Print the node's transparency-log verifier key.
    LogKey(logkey::Args),
    /// The node's transparency log: register the witnesses that cosign it.
    #[command(subcommand)]
    Log(log::Cmd),
    /// Witness partners' logs: key, trusted logs, evidence of equivocation.
    #[command(subcommand)]
    Witness(witness::Cmd),
    /// Partner nodes and mirrors of their collections.
    #[command(subcommand)]
    Peer(peer::Cmd),
    /// Mirror partners' collections: one verified round.
    Sync(sync::Args),
    /// Look-alikes of protected domains in logs or name lists; permutations of a domain.
    Lookalike(lookalike::Args),
    /// Protected assets: domains, ranges and organisations flagged at ingest; export as STIX.
    #[command(subcommand)]
    Asset(asset::Cmd),
    /// MISP warninglists that shared indicators are flagged against at ingest.
    #[command(subcommand)]
    Warninglist(warninglist::Cmd),
    /// Indicators the node flagged at ingest (warninglists, protected assets).
    #[command(subcommand)]
    Flags(flags::Cmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Member(args) => member::run(args),
        Command::Collection(args) => collection::run(args),
        Command::Token(args) => token::run(args),
        Command::Object(args) => object::run(args),
        Command::Push(args) => push::run(args),
        Command::Keygen(args) => signatures::keygen(args),
        Command::Pull(args) => pull::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Pattern(args) => pattern::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Psi(args) => psi::run(args),
        Command::LogKey(args) => logkey::run(args),
        Command::Log(args) => log::run(args),
        Command::Witness(args) => witness::run(args),
        Command::Lookalike(args) => lookalike::run(args),
        Command::Peer(args) => peer::run(args),
        Command::Sync(args) => sync::run(args),
        Command::Asset(args) => asset::run(args),
        Command::Warninglist(args) => warninglist::run(args),
        Command::Flags(args) => flags::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
