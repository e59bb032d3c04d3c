//! `detente member`: add, list, disable, rotate and re-clear members of the node.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use detente_server::credentials;
use detente_store::{Clearance, NewMember, Role};

use crate::data::{DataArgs, open_store};
use crate::output::print_value;

/// Manage members (changes apply to a running node from its next request).
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Add a member and print its secret.
    Add {
        /// Member name (the Basic-auth user name).
        name: String,
        /// admin, contributor or reader.
        #[arg(long)]
        role: String,
        /// TLP clearance: clear, green, amber or amber+strict.
        #[arg(long, default_value = "green")]
        tlp: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List members.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Disable a member: its secret and tokens stop working.
    Disable {
        /// Member name.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Change a member's TLP clearance.
    SetTlp {
        /// Member name.
        name: String,
        /// clear, green, amber or amber+strict.
        level: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Give a member a new secret and print it.
    Rotate {
        /// Member name.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Bind a member to a contributor verifier key (from `detente keygen`), replacing its
    /// current one; the binding is an entry of the node's transparency log. Safe while the
    /// node runs.
    SetKey {
        /// Member name.
        name: String,
        /// The verifier key (name+hex+base64, Ed25519).
        vkey: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List every key binding ever made, in log order.
    Keys {
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Checks a member (or peer) name: 1-64 of a-z A-Z 0-9 - _ .
pub fn valid_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        anyhow::bail!("invalid member name {name:?}: use 1-64 of a-z A-Z 0-9 - _ .")
    }
}

/// Runs `detente member`.
pub fn run(command: Cmd) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::Add {
            name,
            role,
            tlp,
            data,
        } => {
            valid_name(&name)?;
            let role: Role = role.parse()?;
            let clearance: Clearance = tlp.parse()?;
            let store = open_store(&data)?;
            let secret = credentials::new_secret()?;
            store
                .add_member(&NewMember {
                    name: name.clone(),
                    role,
                    clearance,
                    secret_hash: credentials::Hasher::of(&*store)?.hash(&secret),
                })
                .with_context(|| format!("couldn't add member {name}"))?;
            eprintln!("added member {name} ({role}, clearance {clearance}); its secret:");
            print_value(&secret)?;
        }
        Cmd::List { data } => {
            let store = open_store(&data)?;
            let mut out = std::io::stdout().lock();
            for m in store.members()? {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    m.name,
                    m.role,
                    m.clearance,
                    if m.disabled { "disabled" } else { "active" }
                )
                .context("couldn't write to standard output")?;
            }
        }
        Cmd::Disable { name, data } => {
            open_store(&data)?
                .set_disabled(&name, true)
                .with_context(|| format!("couldn't disable {name}"))?;
            eprintln!("disabled member {name}");
        }
        Cmd::SetTlp { name, level, data } => {
            let clearance: Clearance = level.parse()?;
            open_store(&data)?
                .set_clearance(&name, clearance)
                .with_context(|| format!("couldn't change the clearance of {name}"))?;
            eprintln!("member {name} now has clearance {clearance}");
        }
        Cmd::Rotate { name, data } => {
            let store = open_store(&data)?;
            let secret = credentials::new_secret()?;
            store
                .set_secret_hash(&name, &credentials::Hasher::of(&*store)?.hash(&secret))
                .with_context(|| format!("couldn't rotate the secret of {name}"))?;
            eprintln!("new secret of member {name}:");
            print_value(&secret)?;
        }
        Cmd::SetKey { name, vkey, data } => {
            detente_sign::parse_contributor_key(&vkey)
                .map_err(|e| anyhow::anyhow!("invalid verifier key: {e}"))?;
            let store = open_store(&data)?;
            // One public key signs for one member: bound to another (a local member, or a
            // partner's as the sync recorded it), its signatures could be claimed by this one.
            let material = detente_sign::key_material(&vkey);
            if let Some(other) = store
                .key_bindings()?
                .into_iter()
                .find(|b| b.member != name && detente_sign::key_material(&b.vkey) == material)
            {
                bail!(
                    "this public key is bound to {} (log entry {}); a key signs for one member only",
                    other.member,
                    other.log_index
                );
            }
            let b = store
                .bind_key(&name, &vkey)
                .with_context(|| format!("couldn't bind a key to {name}"))?;
            eprintln!(
                "bound {name} to {vkey}; the binding is log entry {}",
                b.log_index
            );
        }
        Cmd::Keys { data } => {
            let store = open_store(&data)?;
            let mut out = std::io::stdout().lock();
            for b in store.key_bindings()? {
                let state = match b.superseded_by {
                    Some(i) => format!("superseded at {i}"),
                    None => "current".to_owned(),
                };
                writeln!(out, "{}	{}	{}	{state}", b.log_index, b.member, b.vkey)
                    .context("couldn't write to standard output")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
