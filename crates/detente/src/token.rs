//! `detente token`: issue and revoke bearer tokens.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use detente_server::credentials;
use detente_store::TokenRecord;

use crate::data::{DataArgs, open_store};
use crate::output::print_value;

/// Manage bearer tokens (`Authorization: Bearer TOKEN`).
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Issue a token for a member and print it.
    Issue {
        /// Member name.
        member: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Revoke a token (give the token or its id).
    Revoke {
        /// The token, or its id (the 16 hex digits after `dtk_`).
        token: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Runs `detente token`.
pub fn run(command: Cmd) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::Issue { member, data } => {
            let store = open_store(&data)?;
            let m = store
                .member_by_name(&member)?
                .with_context(|| format!("no member {member}"))?;
            let (id, secret, token) = credentials::new_token()?;
            store.add_token(&TokenRecord {
                id: id.clone(),
                member: m.id,
                secret_hash: credentials::Hasher::of(&*store)?.hash(&secret),
                revoked: false,
            })?;
            eprintln!("issued token {id} for {member}:");
            print_value(&token)?;
        }
        Cmd::Revoke { token, data } => {
            let id = credentials::split_token(&token).map_or(token.as_str(), |(id, _)| id);
            open_store(&data)?
                .revoke_token(id)
                .with_context(|| format!("couldn't revoke token {id}"))?;
            eprintln!("revoked token {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
