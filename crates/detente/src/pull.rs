//! `detente pull`: fetch a collection's objects as a STIX bundle, page by page.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args as ClapArgs;

use crate::push::{Client, Remote, progress, query_escape};

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
}

/// Runs `detente pull`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = Client::connect(&args.remote)?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("couldn't create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut query = format!("limit={}", args.page.max(1));
    if let Some(a) = &args.added_after {
        query.push_str(&format!("&added_after={}", query_escape(a)));
    }
    if args.all_versions {
        query.push_str("&match%5Bversion%5D=all");
    }
    let bar = progress(None, "objects");
    write!(
        out,
        "{{\"type\":\"bundle\",\"id\":\"bundle--{}\",\"objects\":[",
        uuid::Uuid::new_v4()
    )?;
    let mut count = 0u64;
    client.each_object(&query, |o| {
        if count > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut out, o)?;
        count += 1;
        bar.set_position(count);
        Ok(())
    })?;
    out.write_all(b"]}\n")?;
    out.flush().context("couldn't write the bundle")?;
    bar.finish_and_clear();
    eprintln!("pulled {count} objects");
    Ok(ExitCode::SUCCESS)
}
