//! `detente collection`: add collections, grant and revoke access, list them.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use detente_store::{Access, CollectionRecord};

use crate::data::{API_ROOT, DataArgs, open_store};
use crate::output::print_value;

/// Manage collections and grants (changes apply to a running node from its next request).
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Add a collection and print its id.
    Add {
        /// Title.
        #[arg(long)]
        title: String,
        /// Collection id (a UUID); random when absent.
        #[arg(long)]
        id: Option<String>,
        /// Description.
        #[arg(long)]
        description: Option<String>,
        /// Alias, unique in the API root.
        #[arg(long)]
        alias: Option<String>,
        /// Refuse objects without a valid contributor signature (docs/signatures.md).
        #[arg(long)]
        require_signatures: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Require contributor signatures on an existing collection, or with --off stop requiring
    /// them (objects already stored are not re-checked).
    RequireSignatures {
        /// Collection id.
        collection: String,
        /// Stop requiring signatures.
        #[arg(long)]
        off: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Grant a member read, write, read-write or psi access to a collection (replacing its
    /// grant there); `psi` allows private set intersection sessions without object reads.
    Grant {
        /// Collection id.
        collection: String,
        /// Member name.
        member: String,
        /// read, write, read-write or psi, or a `+` combination such as read+psi.
        access: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Remove a member's grant on a collection.
    Revoke {
        /// Collection id.
        collection: String,
        /// Member name.
        member: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List collections.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Runs `detente collection`.
pub fn run(command: Cmd) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::Add {
            title,
            id,
            description,
            alias,
            require_signatures,
            data,
        } => {
            let id = match id {
                Some(id) if uuid::Uuid::try_parse(&id).is_ok() && id.len() == 36 => {
                    id.to_ascii_lowercase()
                }
                Some(id) => anyhow::bail!("invalid collection id {id:?}: expected a UUID"),
                None => uuid::Uuid::new_v4().to_string(),
            };
            let store = open_store(&data)?;
            store
                .add_collection(&CollectionRecord {
                    id: id.clone(),
                    api_root: API_ROOT.to_owned(),
                    title: title.clone(),
                    description,
                    alias,
                    require_signatures,
                })
                .with_context(|| format!("couldn't add collection {title:?}"))?;
            eprintln!("added collection {title:?}; its id:");
            print_value(&id)?;
        }
        Cmd::Grant {
            collection,
            member,
            access,
            data,
        } => {
            let access: Access = access.parse()?;
            open_store(&data)?
                .grant(&collection, &member, access)
                .with_context(|| format!("couldn't grant {member} access to {collection}"))?;
            eprintln!("granted {member} {} on {collection}", access.as_str());
        }
        Cmd::Revoke {
            collection,
            member,
            data,
        } => {
            open_store(&data)?
                .revoke(&collection, &member)
                .with_context(|| format!("couldn't revoke {member}'s access to {collection}"))?;
            eprintln!("revoked {member}'s access to {collection}");
        }
        Cmd::RequireSignatures {
            collection,
            off,
            data,
        } => {
            open_store(&data)?
                .set_require_signatures(&collection, !off)
                .with_context(|| format!("couldn't change collection {collection}"))?;
            eprintln!(
                "collection {collection} {} contributor signatures",
                if off {
                    "no longer requires"
                } else {
                    "now requires"
                }
            );
        }
        Cmd::List { data } => {
            let store = open_store(&data)?;
            let mut out = std::io::stdout().lock();
            for c in store.collections()? {
                let signed = if c.require_signatures {
                    "\tsignatures required"
                } else {
                    ""
                };
                writeln!(out, "{}\t{}\t{}{signed}", c.id, c.api_root, c.title)
                    .context("couldn't write to standard output")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
