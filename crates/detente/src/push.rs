//! `detente push`: send a STIX bundle to a TAXII 2.1 collection, in envelopes, with a
//! progress bar (through `detente-taxii-client`, as every command that talks to a node).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use detente_taxii_client::Client;
use serde_json::Value;

use crate::output::progress;
use crate::remote::Login;

/// How long a push waits for the node to finish processing one envelope.
const PATIENCE: Duration = Duration::from_secs(300);

/// Where and how to reach a collection.
#[derive(ClapArgs, Debug, Clone)]
pub struct Remote {
    /// The API root URL (e.g. https://node:8484/api/), or the server URL to discover it.
    #[arg(long)]
    pub url: String,
    /// Collection id.
    #[arg(long)]
    pub collection: String,
    /// How to authenticate.
    #[command(flatten)]
    pub login: Login,
}

impl Remote {
    /// A logged-in client of the node's API root.
    pub fn connect(&self) -> anyhow::Result<Client> {
        self.login.connect(&self.url)
    }
}

/// Push a STIX bundle (or TAXII envelope) file to a collection.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// A STIX 2.1 bundle, a TAXII envelope, or a JSON list of objects.
    file: PathBuf,
    #[command(flatten)]
    remote: Remote,
    /// Objects per envelope.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Sign each object with this key (from `detente keygen`) as the authenticated member
    /// before sending it (docs/signatures.md).
    #[arg(long, value_name = "KEYFILE")]
    sign: Option<PathBuf>,
}

/// Runs `detente push`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("couldn't read {}", args.file.display()))?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.file.display()))?;
    let mut objects = match value {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("objects") {
            Some(Value::Array(a)) => a,
            _ => bail!("{} has no `objects` list", args.file.display()),
        },
        _ => bail!(
            "{} is neither a bundle, an envelope nor a list",
            args.file.display()
        ),
    };
    let client = args.remote.connect()?;
    let collection = &args.remote.collection;
    if let Some(path) = &args.sign {
        let key = crate::signatures::load_signer(path)?;
        let member = crate::signatures::whoami(&client)?;
        crate::signatures::sign_all(&mut objects, &member, &key)?;
        eprintln!(
            "signed {} objects as {member} with key {}",
            objects.len(),
            key.verifier()
        );
    }
    let bar = progress(Some(objects.len() as u64), "objects");
    let (mut ok, mut failed) = (0u64, 0u64);
    for chunk in objects.chunks(args.batch) {
        let status = client.add_objects(collection, chunk, PATIENCE)?;
        ok += status.success_count;
        failed += status.failure_count;
        for f in &status.failures {
            bar.suspend(|| {
                eprintln!("refused {}: {}", f.id, f.message.as_deref().unwrap_or(""));
            });
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    eprintln!(
        "pushed {} objects: {ok} accepted, {failed} refused",
        objects.len()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
