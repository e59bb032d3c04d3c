//! `detente peer`: record partner nodes this node mirrors from, and which of their collections
//! it mirrors into which local ones (`docs/federation.md`). `detente sync` does the mirroring.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use detente_server::credentials;
use detente_store::{Clearance, NewMember, NewPeer, Role};

use crate::data::{DataArgs, open_store};
use crate::member::valid_name;
use crate::remote::Login;

/// Manage partner nodes and mirrors of their collections.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Record a partner node and how this node logs in to it (as a member there).
    Add {
        /// Local name of the partner.
        name: String,
        /// The partner's URL (server URL, or its API root URL).
        #[arg(long)]
        url: String,
        /// The partner's log verifier key (`detente log-key` on the partner), pinned.
        #[arg(long)]
        log_key: String,
        /// A witness of the partner's log whose cosignatures count (repeat).
        #[arg(long = "witness", value_name = "VKEY")]
        witnesses: Vec<String>,
        /// Valid witness cosignatures every partner checkpoint needs.
        #[arg(long, default_value_t = 0)]
        quorum: u32,
        #[command(flatten)]
        login: Login,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List partners, their accepted checkpoints and their mirrors.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Mirror one of a partner's collections into a local collection.
    Mirror {
        /// The partner's local name.
        name: String,
        /// The partner's collection id.
        #[arg(long)]
        remote_collection: String,
        /// The local collection that receives the mirrored objects.
        #[arg(long = "into", value_name = "LOCAL-COLLECTION")]
        into: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// The local member that contributes a partner's mirrored versions. The `:` cannot appear in
/// names `detente member add` accepts, so no member can hold or take it.
pub fn identity_name(peer: &str) -> String {
    format!("peer:{peer}")
}

/// The name whose key binding must verify a signature by `signer` on a version contributed
/// here by `contributor`: the signer itself when a member contributed it (and then they must
/// be the same member: `None` otherwise), `peer:PARTNER/SIGNER` when it was mirrored from a
/// partner (the partner's binding, as the sync recorded it in this node's log).
pub fn signer_binding(contributor: &str, signer: &str) -> Option<String> {
    if contributor.starts_with("peer:") {
        Some(format!("{contributor}/{signer}"))
    } else {
        (contributor == signer).then(|| signer.to_owned())
    }
}

/// Runs `detente peer`.
pub fn run(command: Cmd) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::Add {
            name,
            url,
            log_key,
            witnesses,
            quorum,
            login,
            data,
        } => {
            valid_name(&name)?;
            crate::remote::origin(&url)?;
            detente_tlog::VerifierKey::parse(&log_key)
                .map_err(|e| anyhow::anyhow!("--log-key {log_key:?} is not a verifier key: {e}"))?;
            for w in &witnesses {
                detente_tlog::VerifierKey::parse(w)
                    .map_err(|e| anyhow::anyhow!("--witness {w:?} is not a verifier key: {e}"))?;
            }
            if quorum as usize > witnesses.len() {
                bail!(
                    "--quorum {quorum} needs at least that many --witness keys ({} given)",
                    witnesses.len()
                );
            }
            if login.insecure() {
                bail!(
                    "a partner's certificate is always verified: give --ca-cert instead of --insecure"
                );
            }
            let ca_cert = login
                .ca_cert_pem()?
                .map(|pem| String::from_utf8(pem).context("--ca-cert is not a PEM text file"))
                .transpose()?;
            let authorization = login.authorization()?;
            let store = open_store(&data)?;
            let identity = NewMember {
                name: identity_name(&name),
                role: Role::Contributor,
                clearance: Clearance::AMBER_STRICT,
                // Never revealed, and the member is disabled: nobody logs in as a peer.
                secret_hash: credentials::Hasher::of(&*store)?.hash(&credentials::new_secret()?),
            };
            store
                .peer_add(&NewPeer {
                    name: name.clone(),
                    url,
                    log_key,
                    witnesses,
                    quorum,
                    authorization,
                    ca_cert,
                    identity,
                })
                .with_context(|| format!("couldn't add peer {name}"))?;
            eprintln!(
                "added peer {name}; its mirrored objects are contributed by the local member {}",
                identity_name(&name)
            );
        }
        Cmd::List { data } => {
            let store = open_store(&data)?;
            let mut out = std::io::stdout().lock();
            for p in store.peers()? {
                let log = p.log.as_ref().map_or_else(
                    || "no checkpoint accepted yet".to_owned(),
                    |l| format!("checkpoint size {}", l.size),
                );
                writeln!(out, "{}\t{}\t{}\t{log}", p.name, p.url, p.log_key)?;
                for m in store.mirrors(Some(&p.name))? {
                    writeln!(
                        out,
                        "  mirror {} -> {}\tobjects after {}\ttombstones after {}",
                        m.remote_collection,
                        m.local_collection,
                        m.objects_after,
                        m.tombstones_after
                    )?;
                }
            }
        }
        Cmd::Mirror {
            name,
            remote_collection,
            into,
            data,
        } => {
            let store = open_store(&data)?;
            store
                .peer_add_mirror(&name, &remote_collection, &into)
                .with_context(|| {
                    format!("couldn't mirror {name}'s collection {remote_collection}")
                })?;
            eprintln!("mirroring {name}'s collection {remote_collection} into {into}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
