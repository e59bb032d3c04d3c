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
use detente_server::psi::AuditRow;
use detente_store::{PsiRole, PsiSessionRecord, Tlp, Viewer};
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
    /// own lines) or its size; with --collection, against a collection of a detente node.
    Query(Box<QueryArgs>),
    /// Print the PSI audit table of a node's data directory (sessions answered and queried).
    Audit(AuditArgs),
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
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "from_collection",
        conflicts_with = "from_collection"
    )]
    items: Option<PathBuf>,
    /// Base URL of the serving peer: https://..., or http:// to a loopback address.
    #[arg(long, value_name = "URL")]
    peer: String,
    /// Query this collection of the detente node at --peer (needs the `psi` grant there).
    #[arg(long, value_name = "ID")]
    collection: Option<String>,
    /// Take this side's items from the indicators of this collection of the local node
    /// (--data), instead of --items.
    #[arg(long, value_name = "ID", requires = "collection")]
    from_collection: Option<String>,
    /// The local node's data directory: source of --from-collection, and where the session
    /// is audited (default with --from-collection or --database-url: ./detente-data).
    #[arg(long = "data", value_name = "DIR", env = "DETENTE_DATA")]
    data: Option<PathBuf>,
    /// The local node's PostgreSQL store (`postgres://USER@HOST:PORT/DB`) instead of the
    /// data directory's SQLite file: source of --from-collection and of the audit.
    #[arg(
        long = "database-url",
        env = "DETENTE_DATABASE_URL",
        value_name = "URL"
    )]
    database_url: Option<String>,
    /// How to log in to the node and which certificates to trust, as for every command that
    /// talks to a node (`docs/client.md`).
    #[command(flatten)]
    login: crate::remote::Login,
    /// Learn only the size of the intersection.
    #[arg(long)]
    count_only: bool,
    /// Write the result here instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(clap::Args)]
struct AuditArgs {
    #[command(flatten)]
    data: crate::data::DataArgs,
    /// Print the rows as a JSON array instead of a table.
    #[arg(long)]
    json: bool,
    /// Print at most the latest N sessions.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    limit: usize,
}

/// Runs `detente psi`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        PsiCommand::Serve(a) => serve(a),
        PsiCommand::Query(a) => query(*a),
        PsiCommand::Audit(a) => audit(a),
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

/// This side's items: normalised values, and the line printed for each input line.
struct QueryItems {
    set: ItemSet,
    lines: Vec<String>,
}

/// The local node's store: `--data` and `--database-url`, with the default directory when
/// `--from-collection` or `--database-url` needs one; none for a query from a file alone.
fn local_data(args: &QueryArgs) -> Option<crate::data::DataArgs> {
    let dir = args.data.clone().or_else(|| {
        (args.from_collection.is_some() || args.database_url.is_some())
            .then(|| PathBuf::from("./detente-data"))
    })?;
    Some(crate::data::DataArgs {
        dir,
        database_url: args.database_url.clone(),
    })
}

fn query_items(args: &QueryArgs) -> anyhow::Result<QueryItems> {
    let lines = match (&args.items, &args.from_collection, local_data(args)) {
        (Some(path), _, _) => read_lines(path)?,
        (None, Some(collection), Some(data)) => {
            let store = crate::data::open_store(&data)?;
            // The local operator holds the whole data directory: every TLP level counts.
            let viewer = Viewer {
                member: 0,
                name: String::new(),
                clearance: Tlp::Red,
            };
            detente_server::psi::collection_values(&*store, collection, &viewer)
                .with_context(|| format!("reading the indicators of collection {collection}"))?
        }
        _ => bail!("give --items FILE or --from-collection ID"),
    };
    let set = ItemSet::from_lines(lines.iter().map(String::as_str));
    Ok(QueryItems { set, lines })
}

fn query_options(args: &QueryArgs) -> anyhow::Result<QueryOptions> {
    Ok(QueryOptions {
        authorization: args.login.credentials()?.authorization(),
        tls: Some(args.login.tls()?.tls_config()),
        mode: if args.count_only {
            Mode::CountOnly
        } else {
            Mode::Intersection
        },
        max_peer_items: DEFAULT_MAX_PEER_ITEMS,
    })
}

fn query(args: QueryArgs) -> anyhow::Result<ExitCode> {
    match &args.collection {
        Some(c) => client::node_session_url(&args.peer, c).map(drop)?,
        None => client::session_url(&args.peer).map(drop)?,
    }
    let QueryItems { set, lines } = query_items(&args)?;
    let options = query_options(&args)?;
    let started = std::time::Instant::now();
    let result = match &args.collection {
        Some(c) => client::query_node(&args.peer, c, set.values(), &options, &Bars::new()),
        None => client::query(&args.peer, set.values(), &options, &Bars::new()),
    };
    let audit_dir = local_data(&args);
    let record = |outcome: String,
                  session: Option<detente_psi::SessionId>,
                  report: Option<&client::QueryReport>,
                  found: Option<usize>| {
        PsiSessionRecord {
            id: 0,
            time: detente_server::now_micros(),
            role: PsiRole::Querier,
            session: session.map(|s| s.to_string()).unwrap_or_default(),
            peer: args.peer.clone(),
            collection: args.collection.clone().unwrap_or_default(),
            mode: detente_server::psi::mode_name(options.mode).to_string(),
            own_items: Some(set.values().len() as u64),
            peer_items: report.map(|r| r.peer_items as u64),
            result_items: found.map(|n| n as u64),
            bytes_in: report.map_or(0, |r| r.bytes_received as u64),
            bytes_out: report.map_or(0, |r| r.bytes_sent as u64),
            duration_micros: u64::try_from(
                report.map_or(started.elapsed(), |r| r.duration).as_micros(),
            )
            .unwrap_or(u64::MAX),
            outcome,
        }
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(dir) = &audit_dir {
                let (kind, session) = match e {
                    client::QueryError::Refused { session, .. } => ("refused", Some(session)),
                    _ => ("failed", None),
                };
                write_audit(dir, &record(format!("{kind}: {e}"), session, None, None))?;
            }
            return Err(anyhow::Error::new(e).context(format!("PSI session with {}", args.peer)));
        }
    };
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
    if let Some(dir) = &audit_dir {
        write_audit(
            dir,
            &record(
                "ok".into(),
                Some(report.session),
                Some(&report),
                Some(found),
            ),
        )?;
    }
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

fn write_audit(data: &crate::data::DataArgs, record: &PsiSessionRecord) -> anyhow::Result<()> {
    crate::data::open_store(data)?
        .record_psi_session(record)
        .with_context(|| match data.database_url {
            Some(_) => "writing the PSI audit row to the --database-url store".to_owned(),
            None => format!("writing the PSI audit row to {}", data.dir.display()),
        })
}

fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let rows = crate::data::open_store(&args.data)?
        .psi_sessions(args.limit)
        .context("reading the PSI audit table")?;
    let rows: Vec<AuditRow> = rows.iter().map(AuditRow).collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &rows).context("writing JSON")?;
        writeln!(out)?;
    } else {
        let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |n| n.to_string());
        writeln!(
            out,
            "id\ttime\trole\tsession\tpeer\tcollection\tmode\town\tpeer_items\tresult\tbytes_in\t\
             bytes_out\tms\toutcome"
        )?;
        for row in &rows {
            let r = row.0;
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.1}\t{}",
                r.id,
                row.time(),
                r.role.as_str(),
                if r.session.is_empty() {
                    "-"
                } else {
                    &r.session
                },
                r.peer,
                if r.collection.is_empty() {
                    "-"
                } else {
                    &r.collection
                },
                r.mode,
                opt(r.own_items),
                opt(r.peer_items),
                opt(r.result_items),
                r.bytes_in,
                r.bytes_out,
                row.duration_ms(),
                r.outcome
            )?;
        }
    }
    out.flush().context("writing to standard output")?;
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
