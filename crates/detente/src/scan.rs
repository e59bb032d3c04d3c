//! `detente scan`: match shared indicators against local logs; NDJSON hits, STIX sightings.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use detente_lookalike::{P61, addmod61, mulmod61};
use detente_scan::engine::{expand_paths, open_log};
use detente_scan::index::Value;
use detente_scan::norm::Ip;
use detente_scan::sighting::{self, Sightings, rfc3339_millis, uuid_like};
use detente_scan::sources::{self, LoadOptions, Loaded};
use detente_scan::{
    Action, Allowlist, DecayModel, Events, Finding, Format, Hit, HostCheck, Index, Log, MatchKind,
    ScanOptions, Scanner, Scoring, Windows,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::output::{print_warning, write_ndjson};

mod taxii;

/// Arguments of `detente scan`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Indicator source: STIX 2.1 bundle, Zeek intel file, MISP warninglist (list.json or
    /// folder), JAR-16-20296 CSV, a plain list, or taxii:API-ROOT-URL#COLLECTION. Repeatable.
    #[arg(long = "indicators", value_name = "SRC", required = true)]
    pub indicators: Vec<String>,
    /// Allowlist source: MISP warninglists (a list.json or a folder of them; all five list
    /// types apply with MISP's rules) or any indicator source; hits on allowlisted values are
    /// reported as `inform`. Repeatable.
    #[arg(long = "allowlist", value_name = "SRC")]
    pub allowlist: Vec<String>,
    /// Action for hits on one allowlist, by its folder name (e.g. `google-gmail-sending-ips`),
    /// its `name`, or the source as given: `inform` (default) or `suppress`. Repeatable.
    #[arg(long = "allowlist-action", value_name = "LIST=ACTION")]
    pub allowlist_action: Vec<String>,
    /// Alert only on indicator values shared by at least K distinct contributors (STIX
    /// `created_by_ref`; unattributed indicators count as their source; a `taxii:` source on a
    /// detente node counts its members, from `…/scores/`); below K: `inform`.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub min_corroboration: u32,
    /// Let indicator scores decay with age (MISP's polynomial model, from `modified`).
    #[arg(long)]
    pub decay: bool,
    /// Decay model lifetime τ in days (score 0 after it).
    #[arg(long, value_name = "DAYS", default_value_t = DecayModel::NIDS_SIMPLE.lifetime_days)]
    pub decay_lifetime: f64,
    /// Decay model speed δ.
    #[arg(long, value_name = "DELTA", default_value_t = DecayModel::NIDS_SIMPLE.decay_speed)]
    pub decay_speed: f64,
    /// Hits on indicators scoring below this are `inform`.
    #[arg(long, value_name = "SCORE", default_value_t = DecayModel::NIDS_SIMPLE.threshold)]
    pub score_threshold: f64,
    /// Base score of indicators without a STIX `confidence`.
    #[arg(long, value_name = "SCORE", default_value_t = DecayModel::NIDS_SIMPLE.default_base_score)]
    pub default_base_score: f64,
    /// Log format.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: Format,
    /// Write NDJSON hits here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write a STIX 2.1 bundle of `sighting` objects (one per alerting indicator) here.
    #[arg(long, value_name = "FILE")]
    pub sightings: Option<PathBuf>,
    /// Push the sightings to this TAXII 2.1 API root (or the server URL to discover it), as
    /// the member the login options name.
    #[arg(long, value_name = "URL", requires = "collection")]
    pub push: Option<String>,
    /// Collection id for `--push`.
    #[arg(long, value_name = "ID", requires = "push")]
    pub collection: Option<String>,
    /// The scanning party's STIX identity (an `identity--` id or a name); default: with
    /// `--push`, the member's identity on that node (`/whoami`), else a generated identity
    /// remembered in the state directory.
    #[arg(long, value_name = "IDENTITY")]
    pub identity: Option<String>,
    /// Report this indicator (its STIX id) as a false positive: with `--sightings`/`--push`, a
    /// `sighting` marked `x_detente_false_positive` is written/pushed instead of any sighting
    /// of it, and lowers its score for every party that reads the report. Repeatable.
    #[arg(long = "false-positive", value_name = "INDICATOR-ID")]
    pub false_positive: Vec<String>,
    /// Also report as false positives the indicators whose hits in this scan were all on
    /// allowlisted values (`inform` with `allowlist`; hits of `suppress` lists are not seen).
    #[arg(long)]
    pub report_allowlisted: bool,
    /// Drop allowlisted hits instead of reporting them as `inform` (every list `suppress`).
    #[arg(long)]
    pub drop_allowlisted: bool,
    /// Match domain indicators exactly (no subdomains).
    #[arg(long)]
    pub exact_domains: bool,
    /// The year of RFC 3164 syslog times (`Oct 11 22:14:15` names none); default: the year that
    /// puts each at most a day after its log's last write (a log written in January that begins
    /// in December places those records in the year before).
    #[arg(long, value_name = "YEAR")]
    pub syslog_year: Option<i32>,
    /// Keep reading the (single) log as it grows.
    #[arg(long)]
    pub follow: bool,
    /// Protected domains, one per line (`#` comments), as for `detente lookalike`: host names
    /// in the logs that imitate them are reported beside the indicator hits (`kind`
    /// `lookalike`), and sighted with `--sightings`/`--push`.
    #[arg(long, value_name = "FILE")]
    pub protected: Option<PathBuf>,
    /// Log files or folders (plain or .gz); `-` is standard input.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// How `taxii:` sources and `--push` log in (docs/client.md); anonymous when none given.
    #[command(flatten)]
    pub login: crate::remote::Login,
}

/// One NDJSON hit line; field order is part of the output contract.
#[derive(Serialize)]
struct HitLine<'a> {
    file: &'a str,
    line: u64,
    field: &'a str,
    observed: &'a str,
    indicator: &'a str,
    indicator_id: &'a str,
    kind: &'a str,
    action: &'a str,
    score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    contributors: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowlist: Option<AllowlistRef<'a>>,
    /// A pattern across records: every record that took part, by time.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    records: Vec<RecordRef<'a>>,
}

/// One record of a cross-record hit.
#[derive(Serialize)]
struct RecordRef<'a> {
    file: &'a str,
    line: u64,
    field: &'a str,
    observed: &'a str,
}

/// One NDJSON look-alike line; field order is part of the output contract.
#[derive(Serialize)]
struct LookalikeLine<'a> {
    file: &'a str,
    line: u64,
    field: &'a str,
    observed: &'a str,
    protected: &'a str,
    technique: &'a str,
    indicator_id: &'a str,
    kind: &'static str,
    action: &'a str,
    score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowlist: Option<AllowlistRef<'a>>,
}

/// The allowlist entry a hit's observed value meets.
#[derive(Serialize)]
struct AllowlistRef<'a> {
    list: &'a str,
    entry: &'a str,
}

struct Out<'a> {
    hits: Box<dyn Write>,
    /// The protected domains, with `--protected`.
    protected: Option<&'a Protected>,
    allow: Option<&'a Allowlist>,
    /// (protected domain, technique) of every alerting look-alike, for its indicator.
    lookalikes_sighted: BTreeSet<(u32, &'static str)>,
    bar: Option<ProgressBar>,
    sightings: Sightings,
    /// Ids of indicators with hits on allowlisted values (`inform`), for `--report-allowlisted`.
    allowlisted: BTreeSet<String>,
    alerts: u64,
    informs: u64,
    warnings: u64,
    write_error: Option<io::Error>,
    follow: bool,
}

impl Events for Out<'_> {
    fn finding(&mut self, f: &Finding<'_>) {
        let Some(p) = self.protected else {
            return;
        };
        let verdict = self.allow.and_then(|a| a.check(f.observed.as_bytes()));
        if verdict.is_some_and(|v| v.suppress) {
            return;
        }
        let protected = p.index.protected(f.key);
        let indicator = lookalike_indicator_id(protected, f.label);
        if verdict.is_some() {
            self.informs += 1;
        } else {
            self.alerts += 1;
            self.sightings
                .add(&indicator, f.time_ms.unwrap_or_else(now_millis));
            self.lookalikes_sighted.insert((f.key, f.label));
        }
        let line = LookalikeLine {
            file: f.file,
            line: f.line,
            field: f.field,
            observed: f.observed,
            protected,
            technique: f.label,
            indicator_id: &indicator,
            kind: "lookalike",
            action: if verdict.is_some() { "inform" } else { "alert" },
            score: (f64::from(f.score) * 1000.0).round() / 10.0,
            allowlist: verdict
                .and_then(|v| self.allow.map(|a| a.entry(v.entry)))
                .map(|e| AllowlistRef {
                    list: &e.list.key,
                    entry: e.written,
                }),
        };
        write_ndjson(&mut self.hits, &line, &mut self.write_error);
    }

    fn hit(&mut self, h: &Hit<'_>) {
        let action = if h.inform { "inform" } else { "alert" };
        if h.allowlisted.is_some() && !self.allowlisted.contains(&h.indicator.id) {
            self.allowlisted.insert(h.indicator.id.clone());
        }
        if h.inform {
            self.informs += 1;
        } else {
            self.alerts += 1;
            self.sightings
                .add(&h.indicator.id, h.time_ms.unwrap_or_else(now_millis));
        }
        let line = HitLine {
            file: h.file,
            line: h.line,
            field: h.field,
            observed: h.observed,
            indicator: &h.indicator.written,
            indicator_id: &h.indicator.id,
            kind: h.kind.as_str(),
            action,
            score: detente_indicator::score::rounded(h.score),
            contributors: h.contributors,
            allowlist: h.allowlisted.map(|e| AllowlistRef {
                list: &e.list.key,
                entry: e.written,
            }),
            records: h
                .records
                .iter()
                .map(|r| RecordRef {
                    file: &r.file,
                    line: r.line,
                    field: &r.field,
                    observed: &r.observed,
                })
                .collect(),
        };
        write_ndjson(&mut self.hits, &line, &mut self.write_error);
    }

    fn warning(&mut self, message: &str) {
        self.warnings += 1;
        print_warning(self.bar.as_ref(), message);
    }

    fn progress(&mut self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.set_position(bytes);
            b.set_message(format!("{} hits", self.alerts + self.informs));
        }
        if self.follow {
            let _ = self.hits.flush();
        }
    }
}

/// When a log file was last written (Unix ms); `None` for standard input or when unknown.
fn modified_ms(path: &Path) -> Option<i64> {
    if path.as_os_str() == "-" {
        return None;
    }
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(d.as_millis()).ok()
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Runs `detente scan`. A panic anywhere in it (a bug; worker panics included, which rayon
/// hands to the thread that waits for them) ends the scan with an error, so the process exits
/// with status 2 and a message instead of 101 or a hang.
pub fn run(args: Args) -> Result<ExitCode> {
    detente_scan::engine::caught(|| scan(args))
        .unwrap_or_else(|m| Err(anyhow!("detente scan stopped by a panic (a bug): {m}")))
}

fn scan(args: Args) -> Result<ExitCode> {
    let started = Instant::now();
    let pool = crate::pool::scan_pool()?;
    let opts = LoadOptions {
        now: now_millis() / 1000,
        subdomains: true,
    };
    if args.follow && (args.logs.len() != 1 || args.logs[0].is_dir()) {
        bail!("--follow takes exactly one log file");
    }
    if args.min_corroboration == 0 {
        bail!("--min-corroboration must be at least 1");
    }
    let reports = !args.false_positive.is_empty() || args.report_allowlisted;
    if reports && args.sightings.is_none() && args.push.is_none() {
        bail!("--false-positive and --report-allowlisted need --sightings or --push");
    }
    if let Some(bad) = args
        .false_positive
        .iter()
        .find(|id| !id.starts_with("indicator--"))
    {
        bail!("--false-positive {bad:?}: expected an indicator id (indicator--…)");
    }
    let actions = parse_actions(&args.allowlist_action)?;
    // Loading splits large bundles and builds the index in parallel: in the scan's pool too.
    let (index, totals) = pool.install(|| -> Result<(Index, LoadTotals)> {
        let mut index = Index::new(args.exact_domains);
        let mut totals = LoadTotals::default();
        let mut all = Vec::new();
        for src in &args.indicators {
            for (name, mut loaded) in load_named(src, &args.login, opts)? {
                totals.add(src, &loaded);
                if args.min_corroboration > 1 {
                    // A detente node says how many of its members carry each value; what the
                    // objects say of themselves (`created_by_ref`) then counts for nothing.
                    if let Some(spec) = src.strip_prefix("taxii:") {
                        taxii::attest(spec, &args.login, &mut loaded)?;
                    }
                    // Without attribution, a source file counts as one contributor.
                    let who = format!("source:{name}");
                    let provenances = loaded.indicators.iter_mut().map(|i| &mut i.provenance);
                    provenances
                        .chain(loaded.patterns.iter_mut().map(|p| &mut p.provenance))
                        .for_each(|p| {
                            p.contributor.get_or_insert_with(|| who.clone());
                        });
                }
                all.push(loaded);
            }
        }
        sources::apply_false_positives(&mut all);
        for loaded in all {
            index.extend(loaded.indicators);
            loaded
                .patterns
                .into_iter()
                .for_each(|p| index.insert_pattern(p));
        }
        index.compile_patterns();
        if args.min_corroboration > 1 {
            index.count_contributors();
        }
        Ok((index, totals))
    })?;
    let allow = pool.install(|| load_allowlist(&args, &actions, opts))?;
    report_cidr_overlaps(&index, &allow);
    eprintln!(
        "detente scan: {} indicators loaded ({} complex patterns; {} revoked, {} expired, {} not yet valid, {} skipped), {} allowlist entries, in {:.2} s",
        index.len(),
        index.pattern_count(),
        totals.revoked,
        totals.expired,
        totals.not_yet_valid,
        totals.skipped,
        allow.len(),
        started.elapsed().as_secs_f64()
    );

    let logs = expand_paths(&args.logs).context("listing log folders")?;
    let disk_total: u64 = logs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let hits: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(BufWriter::with_capacity(
            1 << 16,
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::with_capacity(1 << 16, io::stdout())),
    };
    let bar = io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new(disk_total);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {bytes_per_sec} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let protected = args
        .protected
        .as_deref()
        .map(|p| crate::lookalike::load_protected(p).and_then(Protected::new))
        .transpose()?;
    let mut out = Out {
        hits,
        protected: protected.as_ref(),
        allow: (!allow.is_empty()).then_some(&allow),
        lookalikes_sighted: BTreeSet::new(),
        bar,
        sightings: Sightings::default(),
        allowlisted: BTreeSet::new(),
        alerts: 0,
        informs: 0,
        warnings: 0,
        write_error: None,
        follow: args.follow,
    };
    let scanner = Scanner {
        pool: &pool,
        index: &index,
        allow: (!allow.is_empty()).then_some(&allow),
        opts: ScanOptions {
            format: args.format,
            follow: args.follow,
            min_corroboration: args.min_corroboration,
            scoring: Scoring {
                model: DecayModel {
                    lifetime_days: args.decay_lifetime,
                    decay_speed: args.decay_speed,
                    threshold: args.score_threshold,
                    default_base_score: args.default_base_score,
                },
                decay: args.decay,
                now: opts.now,
            },
            syslog_year: args.syslog_year,
        },
    };
    let scan_start = Instant::now();
    // Patterns across records see the logs as one stream: merged by record time when there
    // are several (docs/detection.md, "Order").
    let mut windows = Windows::new(&index);
    let to_scan: Vec<Log<'_>> = logs
        .iter()
        .map(|path| Log {
            name: path.display().to_string(),
            open: Box::new(move || open_log(path).map(|r| r as Box<dyn io::Read>)),
            modified_ms: modified_ms(path),
        })
        .collect();
    let check = protected.as_ref().map(|p| p as &dyn HostCheck);
    let stats = scanner.scan_logs(to_scan, &mut out, &mut windows, check)?;
    let bytes: u64 = stats.iter().map(|s| s.bytes).sum();
    let lines: u64 = stats.iter().map(|s| s.lines).sum();
    out.hits.flush().context("writing hits")?;
    if let Some(e) = out.write_error.take() {
        return Err(e).context("writing hits");
    }
    if let Some(b) = &out.bar {
        b.finish_and_clear();
    }
    let secs = scan_start.elapsed().as_secs_f64();
    eprintln!(
        "detente scan: {} logs, {} bytes, {} lines in {:.2} s ({:.3} GB/s); {} hits ({} alert, {} inform); {} sightings; {} warnings; total {:.2} s",
        logs.len(),
        bytes,
        lines,
        secs,
        bytes as f64 / secs.max(1e-9) / 1e9,
        out.alerts + out.informs,
        out.alerts,
        out.informs,
        out.sightings.len(),
        out.warnings,
        started.elapsed().as_secs_f64()
    );

    if args.sightings.is_some() || args.push.is_some() {
        let node = args
            .push
            .as_deref()
            .map(|url| args.login.connect_any(url))
            .transpose()?;
        // The node we push to knows who we are; otherwise --identity or a remembered one.
        let from_node = match (&args.identity, &node) {
            (None, Some(client)) => taxii::member_identity(client)?,
            _ => None,
        };
        let identity = match from_node {
            Some(i) => i,
            None => identity_object(args.identity.as_deref())?,
        };
        let identity_id = identity["id"].as_str().unwrap_or_default().to_string();
        let mut objects = vec![identity];
        if let Some(p) = &protected {
            objects.extend(
                out.lookalikes_sighted
                    .iter()
                    .map(|(k, t)| lookalike_indicator(p.index.protected(*k), t)),
            );
        }
        // An indicator is reported false when the user says so, or (asked to) when all its
        // hits were allowlisted; a reported indicator is not also sighted.
        let mut reported: BTreeSet<String> = args.false_positive.iter().cloned().collect();
        if args.report_allowlisted {
            reported.extend(
                out.allowlisted
                    .iter()
                    .filter(|id| !out.sightings.contains(id))
                    .cloned(),
            );
        }
        for id in &reported {
            out.sightings.remove(id);
        }
        let now = now_millis();
        objects.extend(out.sightings.objects(&identity_id, now));
        objects.extend(
            reported
                .iter()
                .map(|id| sighting::false_positive(&identity_id, id, now)),
        );
        if !reported.is_empty() {
            eprintln!("detente scan: {} false-positive reports", reported.len());
        }
        if let Some(p) = &args.sightings {
            let bundle = serde_json::json!({
                "type": "bundle",
                "id": format!("bundle--{}", uuid_like(&format!("{identity_id}|{}", now_millis()), 4)),
                "objects": objects,
            });
            let text = serde_json::to_string_pretty(&bundle)?;
            std::fs::write(p, text + "\n").with_context(|| format!("writing {}", p.display()))?;
        }
        if let (Some(client), Some(url), Some(coll)) = (&node, &args.push, &args.collection) {
            taxii::push(client, coll, &objects)?;
            eprintln!(
                "detente scan: pushed {} objects to {url} collection {coll}",
                objects.len()
            );
        }
    }
    // Freeing the indexes allocation by allocation takes longer than the process exit that
    // returns their memory anyway.
    let warnings = out.warnings;
    drop(out);
    std::mem::forget(index);
    std::mem::forget(allow);
    Ok(if warnings > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--allowlist-action LIST=ACTION` pairs.
fn parse_actions(specs: &[String]) -> Result<Vec<(String, Action)>> {
    specs
        .iter()
        .map(|s| {
            let Some((list, action)) = s.rsplit_once('=') else {
                bail!("--allowlist-action {s:?}: expected LIST=inform or LIST=suppress");
            };
            let action = match action {
                "inform" => Action::Inform,
                "suppress" => Action::Suppress,
                other => {
                    bail!("--allowlist-action {s:?}: unknown action {other:?} (inform or suppress)")
                }
            };
            Ok((list.to_string(), action))
        })
        .collect()
}

/// Loads the `--allowlist` sources and sets each list's action; entries that cannot be
/// applied are reported once, with their list.
fn load_allowlist(
    args: &Args,
    actions: &[(String, Action)],
    opts: LoadOptions,
) -> Result<Allowlist> {
    let mut allow = Allowlist::new();
    for src in &args.allowlist {
        for (name, loaded) in load_named(src, &args.login, opts)? {
            let label = loaded
                .warninglist
                .as_ref()
                .map_or_else(|| name.clone(), |w| format!("{name} ({})", w.name));
            if loaded.warninglist.is_none() {
                report_skips(src, &loaded);
            }
            for why in allow.add(&name, loaded) {
                eprintln!("note: allowlist {label}: {why}");
            }
        }
    }
    allow.finish();
    if args.drop_allowlisted {
        allow.set_all(Action::Suppress);
    }
    for (list, action) in actions {
        if !allow.set_action(list, *action) {
            bail!("--allowlist-action {list}: no allowlist of that name was loaded");
        }
    }
    Ok(allow)
}

#[derive(Default)]
struct LoadTotals {
    revoked: usize,
    expired: usize,
    not_yet_valid: usize,
    skipped: usize,
}

impl LoadTotals {
    fn add(&mut self, src: &str, l: &Loaded) {
        self.revoked += l.revoked;
        self.expired += l.expired;
        self.not_yet_valid += l.not_yet_valid;
        self.skipped += l.skipped_count;
        report_skips(src, l);
    }
}

fn report_skips(src: &str, l: &Loaded) {
    for s in &l.skipped {
        eprintln!("note: {src}: skipped {s}");
    }
    if l.skipped_count > l.skipped.len() {
        eprintln!(
            "note: {src}: {} more entries skipped",
            l.skipped_count - l.skipped.len()
        );
    }
}

/// Loads one `--indicators`/`--allowlist` source: a folder yields one result per file, each
/// with the file (or source) it came from.
fn load_named(
    src: &str,
    login: &crate::remote::Login,
    opts: LoadOptions,
) -> Result<Vec<(String, Loaded)>> {
    if let Some(rest) = src.strip_prefix("taxii:") {
        return Ok(vec![(src.to_string(), taxii::fetch(rest, login, opts)?)]);
    }
    let path = Path::new(src);
    if !path.is_dir() {
        if let Some(loaded) = load_large_stix(path, opts) {
            return Ok(vec![(src.to_string(), loaded)]);
        }
        let data =
            std::fs::read(path).with_context(|| format!("reading indicator source {src}"))?;
        let loaded = sources::load_bytes(src, &data, opts)
            .with_context(|| format!("loading indicator source {src}"))?;
        return Ok(vec![(src.to_string(), loaded)]);
    }
    let all = expand_paths(&[path.to_path_buf()]).with_context(|| format!("listing {src}"))?;
    // A MISP warninglists checkout: only the list.json files are lists.
    let lists: Vec<PathBuf> = all
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "list.json"))
        .cloned()
        .collect();
    let files = if lists.is_empty() { all } else { lists };
    let mut out = Vec::new();
    for f in &files {
        let name = f.display().to_string();
        let data = std::fs::read(f).with_context(|| format!("reading indicator source {name}"))?;
        let plain_ok = f.extension().is_some_and(|e| e == "txt" || e == "list");
        match sources::load_bytes(&name, &data, opts) {
            // In a folder, untyped files (LICENSE, checksums, notes) are not indicator lists.
            Ok(l) if l.format == "plain" && !plain_ok => {
                eprintln!("note: {name}: not an indicator source (no known format); ignored");
            }
            Ok(l) => out.push((name, l)),
            Err(e) => eprintln!("note: {name}: not an indicator source ({e}); ignored"),
        }
    }
    Ok(out)
}

/// A large STIX bundle read as two halves parsed in parallel (see
/// [`sources::load_stix_halves`]); `None` for anything else, which is then loaded whole.
fn load_large_stix(path: &Path, opts: LoadOptions) -> Option<Loaded> {
    use std::io::{Read, Seek, SeekFrom};
    const MARGIN: usize = 1 << 16;
    let mut f = std::fs::File::open(path).ok()?;
    let len = usize::try_from(f.metadata().ok()?.len()).ok()?;
    if len < 8 << 20 {
        return None;
    }
    let mut first = [0u8; 1];
    f.read_exact(&mut first).ok()?;
    if first != *b"{" {
        return None;
    }
    // The halves are read at once: the first up to `mid` and a margin in which to find the cut,
    // the second from `mid` on, behind room for the `{"objects":[` that opens it.
    let mid = len / 2;
    let (a, b) = std::thread::scope(|s| {
        let second = s.spawn(|| -> Option<Vec<u8>> {
            let mut g = std::fs::File::open(path).ok()?;
            g.seek(SeekFrom::Start(mid as u64)).ok()?;
            let mut buf = Vec::with_capacity(len - mid + 16);
            buf.resize(PREFIX.len(), 0);
            g.read_to_end(&mut buf).ok()?;
            Some(buf)
        });
        let mut buf = Vec::with_capacity(mid + MARGIN + 4);
        buf.push(b'{');
        let a = (&mut f)
            .take((mid + MARGIN) as u64)
            .read_to_end(&mut buf)
            .ok()
            .map(|_| buf);
        (a, second.join().ok().flatten())
    });
    let (mut a, mut b) = (a?, b?);
    // Offsets in `b` are file offsets minus `mid`, plus the room in front.
    let cut = sources::stix_split_point(&b[..(PREFIX.len() + MARGIN).min(b.len())], PREFIX.len())?;
    let file_cut = mid + cut - PREFIX.len();
    if file_cut + 1 > a.len() {
        return None;
    }
    a.truncate(file_cut + 1);
    a.extend_from_slice(b"]}");
    // `{"objects":[` goes right before the object after the cut (over bytes `a` holds).
    let start = cut + 2 - PREFIX.len();
    b[start..cut + 2].copy_from_slice(PREFIX);
    sources::load_stix_halves(&a, &b[start..], opts)
}

/// What opens the second half of a split bundle.
const PREFIX: &[u8] = br#"{"objects":["#;

/// Reports allowlist entries that cover all or part of a CIDR indicator.
fn report_cidr_overlaps(index: &Index, allow: &Allowlist) {
    let mut shown = 0;
    let mut total = 0;
    let mut note = |msg: String| {
        total += 1;
        if shown < 20 {
            shown += 1;
            eprintln!("note: {msg}");
        }
    };
    for (net, len, written) in allow.nets() {
        index.lookup_ip(net, &mut |n, kind| {
            let ind = index.indicator(n);
            if let (MatchKind::Cidr, Value::Net(_, ilen)) = (kind, &ind.value)
                && *ilen < len
            {
                note(format!(
                    "allowlist entry {written} covers part of CIDR indicator {} ({})",
                    ind.written, ind.id
                ));
            }
        });
        for n in index.nets_within(net, len) {
            let ind = index.indicator(n);
            if is_cidr(&ind.value) {
                note(format!(
                    "CIDR indicator {} ({}) lies entirely in allowlist entry {written}",
                    ind.written, ind.id
                ));
            }
        }
    }
    if total > shown {
        eprintln!("note: {} more allowlist/CIDR overlaps", total - shown);
    }
}

fn is_cidr(v: &Value) -> bool {
    matches!(v, Value::Net(Ip::V4(_), l) if *l < 32)
        || matches!(v, Value::Net(Ip::V6(_), l) if *l < 128)
}

/// The scanning party's identity object: from `--identity`, else remembered in the state dir.
fn identity_object(given: Option<&str>) -> Result<serde_json::Value> {
    let now = rfc3339_millis(now_millis());
    let make = |id: String, name: &str| {
        serde_json::json!({
            "type": "identity", "spec_version": "2.1", "id": id, "created": now, "modified": now,
            "name": name, "identity_class": "organization",
        })
    };
    if let Some(g) = given {
        return Ok(if g.starts_with("identity--") {
            make(g.to_string(), g)
        } else {
            make(
                format!(
                    "identity--{}",
                    uuid_like(&format!("detente-identity:{g}"), 5)
                ),
                g,
            )
        });
    }
    let dir = state_dir()?;
    let path = dir.join("identity.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        if v.get("id")
            .and_then(|i| i.as_str())
            .is_some_and(|i| i.starts_with("identity--"))
        {
            return Ok(v);
        }
        bail!("{} holds no identity object", path.display());
    }
    let host = std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let seed = format!("{host}|{}|{}", now_millis(), std::process::id());
    let v = make(
        format!("identity--{}", uuid_like(&seed, 4)),
        &format!(
            "detente scanner {}",
            if host.is_empty() { "host" } else { &host }
        ),
    );
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&path, serde_json::to_string_pretty(&v)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(v)
}

fn state_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("DETENTE_STATE_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        return Ok(PathBuf::from(d).join("detente"));
    }
    match std::env::var_os("HOME") {
        Some(h) => Ok(PathBuf::from(h).join(".local/state/detente")),
        None => bail!("no state directory: set DETENTE_STATE_DIR or HOME, or pass --identity"),
    }
}

/// The protected domains of `--protected`, checked on the host name of every value the scan
/// reads.
struct Protected {
    index: detente_lookalike::Index,
    /// Names classified clean, shared by the scan's workers.
    clean: CleanNames,
    /// Tells this index's per-thread state from that of another.
    serial: u64,
}

/// Host names found to imitate nothing, as keyed fingerprints in one table the workers share.
/// Names repeat in logs (the 1 GB benchmark reads 60,000 names 3.4 million times), so a name
/// seen before should cost one hash and one cache line: the table is cache-line buckets of
/// sixteen 32-bit tags (512 KiB, one copy for all workers), a name's bucket and tag both taken
/// from its fingerprint (mixed), and a look-up compares the whole bucket without branching on
/// where the tag sits, so the processor's guess that a name is known runs on past the cache
/// miss. A slot holds 0 or the tag of a clean name, whatever the interleaving of workers, so no
/// lock is needed. Names with findings are few and kept per worker ([`CheckState::found`]).
///
/// The fingerprint is a polynomial hash modulo 2^61 − 1 at a random point chosen per run, and
/// nobody writing the logs can aim at another name's fingerprint without the point. A
/// look-alike is missed only if its bucket holds the same tag for some remembered clean name:
/// 45 bits of the fingerprint must agree, below 2^-28 for each name with the bucket full.
struct CleanNames {
    buckets: Vec<Bucket>,
    /// Names added since the table last started over (an estimate under concurrent inserts).
    names: AtomicUsize,
    /// The point at which fingerprints are evaluated, in `[2, P)`.
    point: u64,
    /// `point²` modulo P.
    point2: u64,
}

/// Tags of one bucket of [`CleanNames`]: one cache line.
#[repr(C, align(64))]
struct Bucket([AtomicU32; BUCKET_TAGS]);

/// Tags in a [`Bucket`].
const BUCKET_TAGS: usize = 16;
/// Buckets of [`CleanNames`] (a power of two): 8,192, 131,072 tags.
const CLEAN_BUCKETS: usize = 1 << 13;
/// Names remembered before [`CleanNames`] starts over: half the tags, so a bucket (about eight
/// names on average then) is seldom full.
const CLEAN_NAMES: usize = CLEAN_BUCKETS * BUCKET_TAGS / 2;
impl CleanNames {
    fn new() -> Result<CleanNames> {
        let mut seed = [0u8; 8];
        getrandom::getrandom(&mut seed).context("couldn't get randomness for fingerprints")?;
        let point = u64::from_le_bytes(seed) % (P61 - 2) + 2;
        Ok(CleanNames {
            buckets: (0..CLEAN_BUCKETS)
                .map(|_| Bucket(std::array::from_fn(|_| AtomicU32::new(0))))
                .collect(),
            names: AtomicUsize::new(0),
            point,
            point2: mulmod61(point, point),
        })
    }

    /// `name`'s fingerprint, never 0: the polynomial whose coefficients are the name's length
    /// and its 7-byte pieces (each below the modulus), at `point`. Two pieces a step
    /// (`h·x² + a·x + b`): the same value with half the multiplications in a chain, since every
    /// value a log names is fingerprinted.
    fn fingerprint(&self, name: &[u8]) -> u64 {
        let piece = |p: &[u8]| {
            let mut w = [0u8; 8];
            w[..p.len()].copy_from_slice(p);
            u64::from_le_bytes(w)
        };
        let mut h = name.len() as u64;
        let mut pairs = name.chunks_exact(14);
        for two in &mut pairs {
            let (a, b) = two.split_at(7);
            h = addmod61(
                addmod61(mulmod61(h, self.point2), mulmod61(piece(a), self.point)),
                piece(b),
            );
        }
        let rest = pairs.remainder();
        let (a, b) = rest.split_at(rest.len().min(7));
        if !a.is_empty() {
            h = addmod61(mulmod61(h, self.point), piece(a));
        }
        if !b.is_empty() {
            h = addmod61(mulmod61(h, self.point), piece(b));
        }
        mulmod61(h, self.point).max(1)
    }

    /// The bucket and the tag (never 0) of a fingerprint: the low 32 bits of the mixed
    /// fingerprint and the 13 above. The hash is linear in a name's pieces, so names that
    /// differ in a few bytes (`host1`, `host2`, ...) have fingerprints on a lattice whose raw
    /// bits can crowd a few buckets (91% of 65,536 such names kept, in one run); SplitMix64's
    /// finalizer, a bijection, spreads them first.
    fn place(&self, fp: u64) -> (&Bucket, u32) {
        let mut m = fp;
        m = (m ^ (m >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        m = (m ^ (m >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        m ^= m >> 31;
        let bucket = (m >> 32) as usize & (self.buckets.len() - 1);
        (&self.buckets[bucket], (m as u32).max(1))
    }

    fn contains(&self, fp: u64) -> bool {
        let (bucket, tag) = self.place(fp);
        // Every tag compared, hits or-ed: one predictable branch on the answer.
        bucket.0.iter().fold(false, |hit, slot| {
            hit | (slot.load(Ordering::Relaxed) == tag)
        })
    }

    fn insert(&self, fp: u64) {
        if self.names.fetch_add(1, Ordering::Relaxed) == CLEAN_NAMES {
            // Full: the one worker that filled it starts it over; names others add meanwhile
            // may stay, which is as right as anything in it.
            for slot in self.buckets.iter().flat_map(|b| &b.0) {
                slot.store(0, Ordering::Relaxed);
            }
            self.names.store(0, Ordering::Relaxed);
        }
        let (bucket, tag) = self.place(fp);
        for slot in &bucket.0 {
            match slot.compare_exchange(0, tag, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(t) if t == tag => return,
                Err(_) => {}
            }
        }
        // A full bucket (rare by chance) forgets one clean name for this one: a slot still
        // holds only clean names' tags.
        bucket.0[(fp >> 45) as usize % BUCKET_TAGS].store(tag, Ordering::Relaxed);
    }
}

/// Per-thread look-alike state: the classifier's buffers and the verdicts on names that
/// imitate something.
#[derive(Default)]
struct CheckState {
    serial: u64,
    scratch: detente_lookalike::Scratch,
    found: rustc_hash::FxHashMap<Box<[u8]>, Box<[Verdict]>>,
}

/// A finding as remembered: (protected domain, technique, score).
type Verdict = (u32, &'static str, f32);

/// Names with findings remembered per thread before the memory starts over.
const FOUND_NAMES: usize = 4096;

impl Protected {
    fn new(index: detente_lookalike::Index) -> Result<Protected> {
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        Ok(Protected {
            index,
            clean: CleanNames::new()?,
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Classifies a name not known clean, with this thread's state.
    fn check_with(
        &self,
        st: &mut CheckState,
        host: &[u8],
        fp: u64,
        found: &mut dyn FnMut(u32, &'static str, f32),
    ) {
        if st.serial != self.serial {
            st.serial = self.serial;
            st.found.clear();
        }
        if let Some(verdicts) = st.found.get(host) {
            for (k, t, s) in verdicts {
                found(*k, t, *s);
            }
            return;
        }
        // Hosts are ASCII or a Unicode name the scanner found valid UTF-8.
        let Ok(name) = std::str::from_utf8(host) else {
            return;
        };
        let verdicts = self.index.classify(name, &mut st.scratch);
        if verdicts.is_empty() {
            self.clean.insert(fp);
            return;
        }
        for f in verdicts {
            found(f.protected, f.technique.as_str(), f.score);
        }
        let verdicts = verdicts
            .iter()
            .map(|f| (f.protected, f.technique.as_str(), f.score))
            .collect();
        if st.found.len() >= FOUND_NAMES {
            st.found.clear();
        }
        st.found.insert(host.into(), verdicts);
    }
}

impl HostCheck for Protected {
    fn check(&self, host: &[u8], found: &mut dyn FnMut(u32, &'static str, f32)) {
        // A single label is never a look-alike (nor is an address: the classifier says so).
        if !host.contains(&b'.') {
            return;
        }
        let fp = self.clean.fingerprint(host);
        if self.clean.contains(fp) {
            return;
        }
        thread_local! {
            static STATE: RefCell<CheckState> = RefCell::new(CheckState::default());
        }
        STATE.with(|state| match state.try_borrow_mut() {
            Ok(mut st) => self.check_with(&mut st, host, fp, found),
            // Not re-entered in practice; fresh state is right anyway.
            Err(_) => self.check_with(&mut CheckState::default(), host, fp, found),
        });
    }
}

/// When every generated look-alike indicator says it was made: fixed, so that each party's
/// copy of one is the same object (a node stores the first and calls the rest "already present").
const LOOKALIKE_EPOCH: &str = "2026-01-01T00:00:00.000Z";

/// The id of the indicator standing for look-alikes of `protected` by `technique`: the same
/// for every party, so their sightings add up on one object.
fn lookalike_indicator_id(protected: &str, technique: &str) -> String {
    format!(
        "indicator--{}",
        uuid_like(&format!("detente-lookalike|{protected}|{technique}"), 5)
    )
}

/// The generated indicator for look-alikes of `protected` by `technique`. Its pattern is in
/// detente's own `detente-lookalike` language (`TECHNIQUE:DOMAIN`): STIX patterning cannot say
/// "imitates", and a `stix` pattern on the domain would make partners alert on the real one.
fn lookalike_indicator(protected: &str, technique: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": lookalike_indicator_id(protected, technique),
        "created": LOOKALIKE_EPOCH,
        "modified": LOOKALIKE_EPOCH,
        "valid_from": LOOKALIKE_EPOCH,
        "name": format!("Look-alike of {protected} ({technique})"),
        "description": format!(
            "Host names that imitate the protected domain {protected} by {technique} \
             (dnstwist's technique names), as `detente scan --protected` finds them; its \
             sightings say who saw them and when."
        ),
        "indicator_types": ["anomalous-activity"],
        "pattern_type": "detente-lookalike",
        "pattern": format!("{technique}:{protected}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_the_polynomial_at_the_point() {
        let clean = CleanNames::new().unwrap();
        // One piece a step, as the doc says the value is.
        let reference = |name: &[u8]| {
            let mut h = name.len() as u64;
            for p in name.chunks(7) {
                let mut w = [0u8; 8];
                w[..p.len()].copy_from_slice(p);
                h = addmod61(mulmod61(h, clean.point), u64::from_le_bytes(w));
            }
            mulmod61(h, clean.point).max(1)
        };
        let name = b"a-rather-long-host-name.with.many.labels.example.co.uk";
        for n in 0..=name.len() {
            assert_eq!(clean.fingerprint(&name[..n]), reference(&name[..n]), "{n}");
        }
    }

    #[test]
    fn clean_names_remember_fingerprints_and_start_over_when_full() {
        let clean = CleanNames::new().unwrap();
        let fp = |n: usize| clean.fingerprint(format!("host{n}.example.org").as_bytes());
        // Length is part of the fingerprint: a name and the same bytes zero-padded differ.
        assert_ne!(clean.fingerprint(b"ab.cd"), clean.fingerprint(b"ab.cd\0"));
        assert_ne!(fp(1), fp(2));
        assert!(!clean.contains(fp(1)));
        clean.insert(fp(1));
        assert!(clean.contains(fp(1)));
        assert!(!clean.contains(fp(2)));
        for n in 2..=CLEAN_NAMES {
            clean.insert(fp(n));
        }
        // Almost all are found (a few may have met a full probe window).
        let known = (1..=CLEAN_NAMES).filter(|n| clean.contains(fp(*n))).count();
        assert!(known > CLEAN_NAMES * 99 / 100, "{known}");
        clean.insert(fp(CLEAN_NAMES + 1));
        // The name past the limit started the table over; it alone is known.
        assert!(!clean.contains(fp(1)));
        assert!(clean.contains(fp(CLEAN_NAMES + 1)));
    }

    #[test]
    fn lookalikes_are_found_again_and_clean_names_stay_clean() {
        let index = detente_lookalike::Index::new(["sos.ca.gov"]).unwrap();
        let p = Protected::new(index).unwrap();
        let check = |host: &str| {
            let mut got = Vec::new();
            p.check(host.as_bytes(), &mut |k, t, _| got.push((k, t)));
            got
        };
        for _ in 0..3 {
            assert_eq!(check("sos-ca-gov.com"), [(0, "various")]);
            assert_eq!(check("s0s.ca.gov"), [(0, "homoglyph")]);
            assert!(check("www.sos.ca.gov").is_empty());
            assert!(check("example.org").is_empty());
        }
        assert!(p.clean.contains(p.clean.fingerprint(b"example.org")));
        assert!(!p.clean.contains(p.clean.fingerprint(b"sos-ca-gov.com")));
    }
}
