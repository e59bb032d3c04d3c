//! `detente log-key`: print the verifier key (`vkey`) of the node's transparency log.

use std::process::ExitCode;

use clap::Args as ClapArgs;

use crate::serve::{DataArgs, log_origin, node_seed};

/// Print the transparency log's verifier key, alone on the last line.
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `detente log-key`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let origin = log_origin(&args.data.dir)?;
    let seed = node_seed(&args.data.dir)?;
    let signer = detente_tlog::NoteSigner::from_seed(&origin, &seed)
        .map_err(|e| anyhow::anyhow!("couldn't derive the log key: {e}"))?;
    println!("{}", signer.verifier());
    Ok(ExitCode::SUCCESS)
}
