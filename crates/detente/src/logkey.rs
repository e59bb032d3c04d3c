//! `detente log-key`: print the verifier key (`vkey`) of the node's transparency log.

use std::process::ExitCode;

use clap::Args as ClapArgs;

use crate::data::{DataArgs, node_identity};

/// Print the transparency log's verifier key, alone on the last line.
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `detente log-key`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    println!("{}", node_identity(&args.data)?.log_vkey()?);
    Ok(ExitCode::SUCCESS)
}
