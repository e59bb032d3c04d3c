//! `detente pull`: fetch a collection's objects as a STIX bundle, page by page.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args as ClapArgs;
use detente_taxii_client::{Filter, VersionSelector};

use crate::output::progress;
use crate::push::Remote;
use crate::signatures::{Bindings, KeySources, Verdict};

/// Pull a collection's objects into a STIX bundle.
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(flatten)]
    remote: Remote,
    /// Write the bundle here instead of standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Only objects added after this TAXII timestamp.
    #[arg(long)]
    added_after: Option<String>,
    /// Every version of each object, not only the latest.
    #[arg(long)]
    all_versions: bool,
    /// Objects per page.
    #[arg(long, default_value_t = 1000)]
    page: u32,
    /// Check every object's contributor signature against the node's key bindings (proven in
    /// its log) or --signer-key; list unsigned and failing objects; exit 1 if any fails.
    #[arg(long)]
    verify_signatures: bool,
    /// The node's log verifier key (`detente log-key`), to prove its key bindings; defaults
    /// to the key `detente verify` pinned for the node.
    #[arg(long, value_name = "VKEY", requires = "verify_signatures")]
    log_key: Option<String>,
    /// A signer's key given directly, `NAME=VKEY` (repeatable); used beside the node's.
    #[arg(long, value_name = "NAME=VKEY", requires = "verify_signatures")]
    signer_key: Vec<String>,
    /// `detente verify`'s state directory [default: $XDG_STATE_HOME/detente or
    /// ~/.local/state/detente].
    #[arg(long, env = "DETENTE_STATE", requires = "verify_signatures")]
    state: Option<PathBuf>,
}

/// Runs `detente pull`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let added_after = args
        .added_after
        .as_deref()
        .map(detente_taxii::time::parse_micros)
        .transpose()
        .context("--added-after")?;
    let client = args.remote.connect()?;
    let collection = &args.remote.collection;
    let bindings = if args.verify_signatures {
        let sources = KeySources {
            log_key: args.log_key.as_deref(),
            state: args.state.clone(),
            signer_keys: &args.signer_key,
        };
        let b = Bindings::fetch(&client, &sources)?;
        eprintln!(
            "signatures: {} key bindings proven in the node's log, {} given",
            b.proven,
            args.signer_key.len()
        );
        Some(b)
    } else {
        None
    };
    let mut tally = Tally::default();
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("couldn't create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let filter = Filter {
        limit: Some(u64::from(args.page.max(1))),
        added_after,
        versions: if args.all_versions {
            VersionSelector::all()
        } else {
            VersionSelector::default()
        },
        ..Filter::default()
    };
    let bar = progress(None, "objects");
    write!(
        out,
        "{{\"type\":\"bundle\",\"id\":\"bundle--{}\",\"objects\":[",
        uuid::Uuid::new_v4()
    )?;
    let mut count = 0u64;
    // Objects whose signer shares a name with a partner member wait here for their
    // provenance, asked for a batch of them at once.
    let mut waiting: Vec<serde_json::Value> = Vec::new();
    let mut provenance_requests = 0u64;
    let mut settle = |waiting: &mut Vec<serde_json::Value>, tally: &mut Tally| {
        let Some(b) = &bindings else {
            return Ok::<_, anyhow::Error>(());
        };
        if waiting.is_empty() {
            return Ok(());
        }
        let before = client.requests();
        let from = crate::signatures::mirrored_from(&client, collection, waiting)?;
        provenance_requests += client.requests() - before;
        for (o, contributors) in waiting.drain(..).zip(from) {
            bar.suspend(|| tally.add(&o, b.check(&o, &contributors)));
        }
        Ok(())
    };
    client.each_object(collection, &filter, |o| -> anyhow::Result<()> {
        if count > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut out, &o)?;
        count += 1;
        bar.set_position(count);
        if let Some(b) = &bindings {
            // Only a signer some partner member shares a name with needs the provenance.
            match detente_sign::signature_of(&o) {
                Ok(Some(sig)) if b.has_partner_signer(&sig.signer) => {
                    waiting.push(o);
                    if waiting.len() >= crate::signatures::PROVENANCE_BATCH {
                        settle(&mut waiting, &mut tally)?;
                    }
                }
                _ => bar.suspend(|| tally.add(&o, b.check(&o, &[]))),
            }
        }
        Ok(())
    })?;
    settle(&mut waiting, &mut tally)?;
    out.write_all(b"]}\n")?;
    out.flush().context("couldn't write the bundle")?;
    bar.finish_and_clear();
    eprintln!("pulled {count} objects");
    if bindings.is_some() {
        eprintln!(
            "signatures: {} verified ({} by a superseded key), {} unsigned, {} failed",
            tally.verified, tally.superseded, tally.unsigned, tally.failed
        );
        if provenance_requests > 0 {
            eprintln!("signatures: the node's provenance asked in {provenance_requests} requests");
        }
        if tally.partner > 0 {
            eprintln!(
                "signatures: {} of the verified by partners' members (their keys as this node \
                 recorded them from the partners' logs)",
                tally.partner
            );
        }
        if tally.failed > 0 {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `--verify-signatures` found.
#[derive(Default)]
struct Tally {
    verified: u64,
    superseded: u64,
    partner: u64,
    unsigned: u64,
    failed: u64,
}

impl Tally {
    /// Counts one object's verdict and reports it unless it verified with a current key.
    fn add(&mut self, o: &serde_json::Value, verdict: Verdict) {
        let id = o
            .get("id")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?");
        let version = ["modified", "created"]
            .iter()
            .find_map(|k| o.get(k).and_then(serde_json::Value::as_str))
            .unwrap_or("");
        if let Verdict::Verified { binding, .. } = &verdict {
            self.verified += 1;
            if binding.starts_with("peer:") {
                self.partner += 1;
            }
        }
        match verdict {
            Verdict::Verified {
                superseded: None, ..
            } => {}
            Verdict::Verified {
                binding,
                superseded: Some(index),
            } => {
                self.superseded += 1;
                eprintln!(
                    "signed by a superseded key: {id} {version} (the key was replaced at log index {index}), key of {binding}"
                );
            }
            Verdict::Unsigned => {
                self.unsigned += 1;
                eprintln!("unsigned: {id} {version}");
            }
            Verdict::Failed(why) => {
                self.failed += 1;
                eprintln!("signature FAILED: {id} {version}: {why}");
            }
        }
    }
}
