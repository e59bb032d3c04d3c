//! `detente object`: moderation of stored objects on the data directory.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use detente_store::{DeleteScope, VersionMatch};

use crate::data::{DataArgs, open_store};

/// Moderate stored objects (works whether or not the node runs).
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Delete an object's versions from a collection, whoever contributed them and whatever
    /// their marking; each deletion is a tombstone in the transparency log, by `admin`.
    Delete {
        /// Collection id.
        collection: String,
        /// STIX id of the object.
        object_id: String,
        /// Only this version (`modified`, or `date_added` for value-identified copies);
        /// every version when absent.
        #[arg(long)]
        version: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Runs `detente object`.
pub fn run(command: Cmd) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::Delete {
            collection,
            object_id,
            version,
            data,
        } => {
            let versions = match &version {
                Some(v) => VersionMatch {
                    all: false,
                    first: false,
                    last: false,
                    exact: vec![
                        detente_taxii::time::parse_micros(v)
                            .with_context(|| format!("--version {v:?} is not a STIX timestamp"))?,
                    ],
                },
                None => VersionMatch {
                    all: true,
                    first: false,
                    last: false,
                    exact: vec![],
                },
            };
            let gone = open_store(&data)?
                .delete_object(
                    &collection,
                    &object_id,
                    &versions,
                    &[],
                    &DeleteScope::Moderator("admin".to_owned()),
                )
                .with_context(|| format!("couldn't delete {object_id} from {collection}"))?;
            if gone.is_empty() {
                anyhow::bail!(
                    "no {}version of {object_id} in collection {collection}",
                    if version.is_some() { "such " } else { "" }
                );
            }
            eprintln!(
                "deleted {} version(s) of {object_id} from {collection}",
                gone.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
