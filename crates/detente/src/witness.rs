//! `detente witness`: the node as a witness of its partners' logs: its key, the logs it
//! trusts, and the evidence of logs caught showing two histories.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use detente_tlog::VerifierKey;
use detente_tlog::note::KeyType;

use crate::data::{DataArgs, node_identity, open_store};

/// Witness partners' logs: cosign their checkpoints only while they stay consistent.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Print the witness's cosignature verifier key, alone on the last line.
    Key {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Trust a log key: cosign checkpoints of its origin from now on. There is no untrust:
    /// what was cosigned for an origin is kept for good.
    Trust {
        /// The log's verifier key (name+hex+base64, from `detente log-key` on its node).
        vkey: String,
        /// The checkpoint origin the key signs for [default: the key's name].
        #[arg(long)]
        origin: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Print each conflict seen as one JSON object a line: origin, both notes verbatim, why,
    /// and when it was first seen.
    Evidence {
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Runs `detente witness`.
pub fn run(command: Cmd) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::Key { data } => {
            println!("{}", node_identity(&data)?.cosigner()?.verifier());
        }
        Cmd::Trust { vkey, origin, data } => {
            let key = VerifierKey::parse(&vkey)
                .with_context(|| format!("{vkey:?} is not a verifier key (name+hex+base64)"))?;
            if key.key_type() != KeyType::Ed25519 {
                bail!("{vkey} is not a log key (Ed25519, type 0x01)");
            }
            let origin = origin.unwrap_or_else(|| key.name().to_owned());
            if origin.is_empty() || origin.chars().any(|c| c < ' ') {
                bail!("origin {origin:?} cannot be a checkpoint's first line");
            }
            let store = open_store(&data)?;
            if store.witness_trust(&origin, &key.to_string())? {
                eprintln!("trusting {key} for origin {origin}");
            } else {
                eprintln!("{key} was already trusted for origin {origin}");
            }
            if let Some(s) = store.witness_state(&origin)? {
                eprintln!("this witness has cosigned size {} of {origin}", s.size);
            }
        }
        Cmd::Evidence { data } => {
            for e in open_store(&data)?.witness_evidence()? {
                let line = serde_json::json!({
                    "origin": e.origin,
                    "cosigned": String::from_utf8_lossy(&e.cosigned),
                    "conflicting": String::from_utf8_lossy(&e.conflicting),
                    "reason": e.reason,
                    "seen": detente_taxii::time::format_micros(e.seen),
                });
                println!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
