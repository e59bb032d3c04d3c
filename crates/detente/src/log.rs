//! `detente log`: the node's own transparency log and the witnesses that cosign it.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use detente_store::{LogWitness, StoreError};
use detente_tlog::VerifierKey;
use detente_tlog::note::KeyType;

use crate::data::{DataArgs, open_store};

/// The node's transparency log.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Register a witness: the running node submits each new checkpoint to it and serves the
    /// cosignatures it returns on /log/checkpoint.
    AddWitness {
        /// The witness node's base URL (its endpoint is URL/witness/add-checkpoint).
        url: String,
        /// The witness's verifier key (name+hex+base64, from `detente witness key`).
        vkey: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Runs `detente log`.
pub fn run(command: Cmd) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::AddWitness { url, vkey, data } => {
            let key = VerifierKey::parse(&vkey)
                .with_context(|| format!("{vkey:?} is not a verifier key (name+hex+base64)"))?;
            if key.key_type() != KeyType::CosignatureV1 {
                bail!("{vkey} is not a witness key (cosignature/v1, type 0x04)");
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("witness URL {url:?} must start with http:// or https://");
            }
            let url = url.trim_end_matches('/').to_owned();
            let store = open_store(&data)?;
            match store.log_add_witness(&LogWitness {
                url: url.clone(),
                vkey: key.to_string(),
                added: detente_server::now_micros(),
            }) {
                Ok(()) => eprintln!("added witness {key} at {url}"),
                Err(StoreError::AlreadyExists(_)) => {
                    bail!("witness {key} is already registered")
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
