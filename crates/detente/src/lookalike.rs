//! `detente lookalike`: host names in logs or in a list that imitate protected domains (NDJSON
//! findings), and `detente lookalike generate`: a domain's permutations.

use std::io::{self, BufRead, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use detente_lookalike::{Index, Scratch};
use detente_scan::engine::{expand_paths, open_log};
use detente_scan::index::host_name;
use detente_scan::{Events, Hit, ScanOptions, Scanner};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Arguments of `detente lookalike`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    /// Protected domains, one per line (`#` comments); their subdomains are protected too.
    #[arg(long, value_name = "FILE")]
    pub protected: Option<PathBuf>,
    /// A plain list of host names, one per line (a certificate-transparency or newly
    /// registered domains feed), instead of logs.
    #[arg(long, value_name = "FILE", conflicts_with = "logs")]
    pub names: Option<PathBuf>,
    /// Write NDJSON findings here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: detente_scan::formats::Format,
    /// Log files or folders (plain or .gz); `-` is standard input.
    #[arg(value_name = "LOG")]
    pub logs: Vec<PathBuf>,
}

/// `detente lookalike` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Print a domain's permutations, one per line (A-labels, as `dnstwist --format list`).
    Generate {
        /// The domain to permute.
        domain: String,
        /// Print names in Unicode rather than as A-labels.
        #[arg(long)]
        unicode: bool,
        /// Prefix each name with its technique and a tab.
        #[arg(long)]
        techniques: bool,
    },
}

/// One NDJSON finding; field order is part of the output contract.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    observed: &'a str,
    protected: &'a str,
    technique: &'a str,
    score: f32,
}

/// Runs `detente lookalike`.
pub fn run(args: Args) -> Result<ExitCode> {
    if let Some(Action::Generate {
        domain,
        unicode,
        techniques,
    }) = &args.action
    {
        return generate(domain, *unicode, *techniques);
    }
    let Some(protected) = &args.protected else {
        bail!("--protected FILE is required (or use `detente lookalike generate DOMAIN`)");
    };
    if args.names.is_none() && args.logs.is_empty() {
        bail!("give logs to read, or --names FILE");
    }
    let started = Instant::now();
    let index = load_protected(protected)?;
    let out: Box<dyn Write> = match &args.output {
        Some(p) => {
            Box::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => Box::new(io::stdout()),
    };
    let mut f = Finder {
        index: &index,
        scratch: Scratch::default(),
        out: BufWriter::with_capacity(1 << 16, out),
        findings: 0,
        names: 0,
        warnings: 0,
        bar: None,
        error: None,
        last: (u64::MAX, String::new()),
    };
    if let Some(list) = &args.names {
        read_names(list, &mut f)?;
    } else {
        read_logs(&args, &mut f)?;
    }
    f.out.flush().context("writing findings")?;
    if let Some(e) = f.error.take() {
        return Err(e).context("writing findings");
    }
    if let Some(b) = &f.bar {
        b.finish_and_clear();
    }
    eprintln!(
        "detente lookalike: {} protected domains, {} names checked, {} findings, {} warnings, {:.2} s",
        index.len(),
        f.names,
        f.findings,
        f.warnings,
        started.elapsed().as_secs_f64()
    );
    Ok(if f.findings > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn generate(domain: &str, unicode: bool, techniques: bool) -> Result<ExitCode> {
    let list = detente_lookalike::generate(domain)?;
    let mut out = BufWriter::new(io::stdout().lock());
    for (t, name) in list {
        let name = if unicode {
            name
        } else {
            detente_lookalike::to_ascii(&name).unwrap_or(name)
        };
        if techniques {
            writeln!(out, "{t}\t{name}")?;
        } else {
            writeln!(out, "{name}")?;
        }
    }
    out.flush().context("writing permutations")?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the protected domains: one per line, blank lines and `#` comments skipped.
pub(crate) fn load_protected(path: &Path) -> Result<Index> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading protected domains {}", path.display()))?;
    let mut index = Index::default();
    for (i, line) in text.lines().enumerate() {
        let d = line.split('#').next().unwrap_or_default().trim();
        if d.is_empty() {
            continue;
        }
        index
            .insert(d)
            .with_context(|| format!("{}:{}", path.display(), i + 1))?;
    }
    if index.is_empty() {
        bail!("{}: no protected domains", path.display());
    }
    Ok(index)
}

fn read_names(path: &Path, f: &mut Finder<'_>) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut r = io::BufReader::with_capacity(1 << 20, file);
    let mut line = String::new();
    let mut n = 0u64;
    loop {
        line.clear();
        let k = r
            .read_line(&mut line)
            .with_context(|| format!("reading {} after line {n}", path.display()))?;
        if k == 0 {
            break;
        }
        n += 1;
        let name = line.trim();
        if !name.is_empty() && !name.starts_with('#') {
            f.check(None, n, None, name);
        }
    }
    Ok(())
}

fn read_logs(args: &Args, f: &mut Finder<'_>) -> Result<()> {
    let logs = expand_paths(&args.logs).context("listing log folders")?;
    let total: u64 = logs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    f.bar = io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let empty = detente_scan::Index::new(false);
    let pool = crate::pool::scan_pool()?;
    let scanner = Scanner {
        pool: &pool,
        index: &empty,
        allow: None,
        opts: ScanOptions {
            format: args.format,
            ..ScanOptions::default()
        },
    };
    let mut bytes_before = 0;
    for path in &logs {
        let name = path.display().to_string();
        let reader = open_log(path).with_context(|| format!("opening {name}"))?;
        let mut ev = Warn {
            warnings: 0,
            bar: f.bar.clone(),
            bytes_before,
        };
        let finder = &mut *f;
        let st = scanner.each_value(&name, reader, &mut ev, &mut |line, field, v| {
            // A host name is ASCII, or a Unicode name the scanner found valid UTF-8.
            host_name(v, |host| {
                if let Ok(host) = std::str::from_utf8(host) {
                    finder.check(Some(&name), line, Some(field), host);
                }
            });
        });
        f.warnings += ev.warnings;
        bytes_before += std::fs::metadata(path).map_or(st.bytes, |m| m.len());
    }
    Ok(())
}

struct Finder<'a> {
    index: &'a Index,
    scratch: Scratch,
    out: BufWriter<Box<dyn Write>>,
    findings: u64,
    names: u64,
    warnings: u64,
    bar: Option<ProgressBar>,
    error: Option<io::Error>,
    /// The line and name last reported, so a name repeated in one record is reported once.
    last: (u64, String),
}

impl Finder<'_> {
    fn check(&mut self, file: Option<&str>, line: u64, field: Option<&str>, observed: &str) {
        self.names += 1;
        let found = self.index.classify(observed, &mut self.scratch);
        if found.is_empty() || (self.last.0 == line && self.last.1 == observed) {
            return;
        }
        self.last = (line, observed.to_string());
        for x in found {
            self.findings += 1;
            let l = Line {
                file,
                line,
                field,
                observed,
                protected: self.index.protected(x.protected),
                technique: x.technique.as_str(),
                score: x.score,
            };
            crate::output::write_ndjson(&mut self.out, &l, &mut self.error);
        }
        if let Some(b) = &self.bar {
            b.set_message(format!("{} findings", self.findings));
        }
    }
}

/// Log problems, printed as they come; the run goes on.
struct Warn {
    warnings: u64,
    bar: Option<ProgressBar>,
    /// Bytes of the logs read before this one, for the progress bar.
    bytes_before: u64,
}

impl Events for Warn {
    fn hit(&mut self, _: &Hit<'_>) {}

    fn warning(&mut self, message: &str) {
        self.warnings += 1;
        crate::output::print_warning(self.bar.as_ref(), message);
    }

    fn progress(&mut self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.set_position(self.bytes_before + bytes);
        }
    }
}
