//! `detente psi serve` / `detente psi query`: private set intersection between two processes
//! over item files (one indicator per line).

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use detente_psi::{ItemSet, Mode, Outcome, Progress};
use detente_psi_net::client::{self, DEFAULT_MAX_PEER_ITEMS, QueryOptions};
use detente_psi_net::server::{PsiService, ServeConfig, SessionRecord, Standalone, router};
use detente_psi_net::{ProgressFactory, is_loopback_host};
use indicatif::{ProgressBar, ProgressStyle};

/// Sets larger than this get progress bars (when stderr is a terminal).
const PROGRESS_THRESHOLD: u64 = 100_000;

/// Private set intersection: learn which indicators a peer also holds, revealing nothing else.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: PsiCommand,
}

#[derive(Subcommand)]
enum PsiCommand {
    /// Answer PSI sessions over the items of a file (the querier learns the intersection or
    /// its size; this side learns only the querier's set size).
    Serve(ServeArgs),
    /// Run one PSI session against a serving peer and print the intersection (as this file's
    /// own lines) or its size.
    Query(QueryArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Item file, one indicator per line (empty lines and `#` comments skipped).
    #[arg(long, value_name = "FILE")]
    items: PathBuf,
    /// Address to listen on; plain HTTP, so loopback only (terminate TLS in front of it).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7807")]
    listen: SocketAddr,
    /// Largest querier set accepted in one session, refused before any group operation.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    max_items: u32,
    /// Bearer token querier must present.
    #[arg(
        long,
        value_name = "T",
        env = "DETENTE_PSI_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Items (querier's plus ours, per session) each peer address may spend per window.
    #[arg(long, value_name = "N")]
    budget_items: Option<u64>,
    /// Length of the budget's sliding window in seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 3600,
        requires = "budget_items"
    )]
    budget_window: u64,
}

#[derive(clap::Args)]
struct QueryArgs {
    /// Item file, one indicator per line (empty lines and `#` comments skipped).
    #[arg(long, value_name = "FILE")]
    items: PathBuf,
    /// Base URL of the serving peer: https://..., or http:// to a loopback address.
    #[arg(long, value_name = "URL")]
    peer: String,
    /// Bearer token for the peer.
    #[arg(
        long,
        value_name = "T",
        env = "DETENTE_PSI_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Learn only the size of the intersection.
    #[arg(long)]
    count_only: bool,
    /// Write the result here instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Runs `detente psi`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        PsiCommand::Serve(a) => serve(a),
        PsiCommand::Query(a) => query(a),
    }
}

fn read_lines(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading item file {}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect())
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if !is_loopback_host(&args.listen.ip().to_string()) {
        bail!(
            "refusing to serve plain HTTP on non-loopback address {}: listen on 127.0.0.1 or ::1 \
             and put a TLS terminator in front",
            args.listen
        );
    }
    let lines = read_lines(&args.items)?;
    let set = ItemSet::from_lines(lines.iter().map(String::as_str));
    eprintln!(
        "psi serve: {} items ({} distinct) from {}",
        set.line_count() - set.skipped_lines(),
        set.values().len(),
        args.items.display()
    );
    let items = Arc::new(set.values().to_vec());
    drop((set, lines));
    let config = ServeConfig {
        max_items: args.max_items,
        budget: args
            .budget_items
            .map(|n| (n, Duration::from_secs(args.budget_window))),
    };
    let service = Arc::new(PsiService::new(items, config, Arc::new(Bars::new())));
    let state = Standalone {
        service,
        token: args.token,
        on_session: Arc::new(|r: &SessionRecord| {
            eprintln!(
                "psi session {} from {}: mode {:?}, {} querier items, {} own items, {} bytes in, \
                 {} bytes out, {:.2} s",
                r.session,
                r.peer,
                r.mode,
                r.request_items,
                r.own_items,
                r.bytes_in,
                r.bytes_out,
                r.duration.as_secs_f64()
            );
        }),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let local = listener.local_addr().context("reading the bound address")?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on http://{local}")?;
        stdout.flush()?;
        axum::serve(
            listener,
            router(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            // If the signal handler cannot be installed, serve until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await
        .context("serving PSI sessions")
    })?;
    Ok(ExitCode::SUCCESS)
}

fn query(args: QueryArgs) -> anyhow::Result<ExitCode> {
    client::session_url(&args.peer)?;
    let lines = read_lines(&args.items)?;
    let set = ItemSet::from_lines(lines.iter().map(String::as_str));
    let options = QueryOptions {
        token: args.token,
        basic: None,
        mode: if args.count_only {
            Mode::CountOnly
        } else {
            Mode::Intersection
        },
        max_peer_items: DEFAULT_MAX_PEER_ITEMS,
    };
    let report = client::query(&args.peer, set.values(), &options, &Bars::new())
        .with_context(|| format!("PSI session with {}", args.peer))?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("creating output file {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let found = match &report.outcome {
        Outcome::Intersection(indices) => {
            for line in set.lines_of(indices) {
                writeln!(out, "{}", lines[line])?;
            }
            indices.len()
        }
        Outcome::Count(n) => {
            writeln!(out, "{n}")?;
            *n
        }
    };
    out.flush().context("writing the result")?;
    eprintln!(
        "psi query: {} distinct items, peer has {}; intersection {}; sent {} bytes, received {} \
         bytes ({:.1} B per item pair); {:.2} s",
        set.values().len(),
        report.peer_items,
        found,
        report.bytes_sent,
        report.bytes_received,
        (report.bytes_sent + report.bytes_received) as f64
            / set.values().len().max(report.peer_items).max(1) as f64,
        report.duration.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Progress bars on stderr for phases over [`PROGRESS_THRESHOLD`] items, if it is a terminal.
struct Bars {
    enabled: bool,
}

impl Bars {
    fn new() -> Self {
        Bars {
            enabled: std::io::stderr().is_terminal(),
        }
    }
}

impl ProgressFactory for Bars {
    fn start(&self, phase: &'static str, total: u64) -> Box<dyn Progress + Send> {
        if !self.enabled || total <= PROGRESS_THRESHOLD {
            return Box::new(());
        }
        let style = ProgressStyle::with_template(
            "{msg:>11} [{bar:40}] {human_pos}/{human_len} items ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = ProgressBar::new(total)
            .with_style(style)
            .with_message(phase);
        Box::new(Bar(bar))
    }
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
