//! `detente collection`: add collections, grant access, list them.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use detente_store::{Access, CollectionRecord, Store};

use crate::member::print_value;
use crate::serve::{API_ROOT, DataArgs, open_store};

/// Manage collections and grants (changes apply to a running node from its next request).
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
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
        #[command(flatten)]
        data: DataArgs,
    },
    /// Grant a member read, write or read-write access to a collection.
    Grant {
        /// Collection id.
        collection: String,
        /// Member name.
        member: String,
        /// read, write or read-write.
        access: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List collections.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Whether `s` is a UUID in canonical lower- or upper-case hex form.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn random_uuid() -> anyhow::Result<String> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).context("couldn't get randomness")?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// Runs `detente collection`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Cmd::Add {
            title,
            id,
            description,
            alias,
            data,
        } => {
            let id = match id {
                Some(id) if is_uuid(&id) => id.to_ascii_lowercase(),
                Some(id) => anyhow::bail!("invalid collection id {id:?}: expected a UUID"),
                None => random_uuid()?,
            };
            let store = open_store(&data)?;
            store
                .add_collection(&CollectionRecord {
                    id: id.clone(),
                    api_root: API_ROOT.to_owned(),
                    title: title.clone(),
                    description,
                    alias,
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
        Cmd::List { data } => {
            let store = open_store(&data)?;
            let mut out = std::io::stdout().lock();
            for c in store.collections()? {
                writeln!(out, "{}\t{}\t{}", c.id, c.api_root, c.title)
                    .context("couldn't write to standard output")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        let u = random_uuid().unwrap();
        assert!(is_uuid(&u), "{u}");
        assert!(!is_uuid("not-a-uuid"));
        assert!(!is_uuid("2b8f1d0e-5b8e-4c1e-9a55-0e2f6b7c1a0"));
    }
}
