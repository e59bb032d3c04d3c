//! `detente pattern`: validate and match STIX patterns, the JSON-lines batch protocol of the
//! OASIS peer-suite harness, and bulk matching of many indicators over many observations.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use detente_pattern::{Error, Matcher, ObservationSet, StixVersion};
use serde_json::{Value, json};

/// Arguments of `detente pattern`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check a pattern's syntax; prints the error with a caret (exit 1 when invalid).
    Validate {
        /// The STIX pattern.
        pattern: String,
        /// STIX version: 2.0 or 2.1.
        #[arg(long, default_value = "2.1")]
        stix_version: String,
    },
    /// Match one pattern against a JSON file of observations (exit 1 when no match).
    Match {
        /// The STIX pattern.
        pattern: String,
        /// JSON: observed-data list (2.0) or bundle(s) (2.1).
        file: PathBuf,
        /// STIX version: 2.0 or 2.1.
        #[arg(long, default_value = "2.1")]
        stix_version: String,
    },
    /// JSON-lines protocol: {"id","pattern","observed","stix_version"} per line.
    MatchBatch,
    /// JSON-lines protocol: {"id","pattern","stix_version"} per line.
    ValidateBatch,
    /// Match every indicator against the whole observation set with the compiled matcher.
    MatchAll {
        /// NDJSON indicators with "id" and "pattern".
        #[arg(long)]
        indicators: PathBuf,
        /// NDJSON, one STIX 2.1 bundle per line.
        #[arg(long)]
        observations: PathBuf,
        /// Output file (default: stdout).
        #[arg(long)]
        output: Option<PathBuf>,
        /// STIX version of the patterns and data.
        #[arg(long, default_value = "2.1")]
        stix_version: String,
    },
}

fn version(s: &str) -> anyhow::Result<StixVersion> {
    StixVersion::from_str_opt(s)
        .with_context(|| format!("unknown STIX version {s:?} (use 2.0 or 2.1)"))
}

/// Runs `detente pattern …`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.cmd {
        Cmd::Validate {
            pattern,
            stix_version,
        } => {
            let v = version(&stix_version)?;
            match detente_pattern::validate(&pattern, v) {
                Ok(p) => {
                    println!("valid: {p}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(inv) => {
                    match detente_pattern::parse_with(&pattern, v, true) {
                        Err(e) => {
                            eprintln!("invalid pattern: {}:{}: {}", e.line, e.column, e.message);
                            eprintln!("{}", e.caret());
                        }
                        Ok(_) => {
                            for m in &inv.0 {
                                eprintln!("invalid pattern: {}", m.trim_start_matches("FAIL: "));
                            }
                        }
                    }
                    Ok(ExitCode::from(1))
                }
            }
        }
        Cmd::Match {
            pattern,
            file,
            stix_version,
        } => {
            let v = version(&stix_version)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let data: Value = serde_json::from_str(&text)
                .with_context(|| format!("parsing {} as JSON", file.display()))?;
            match detente_pattern::match_json(&pattern, &data, v) {
                Ok(o) if o.matched() => {
                    println!("MATCH observations {:?}", o.observations);
                    Ok(ExitCode::SUCCESS)
                }
                Ok(_) => {
                    println!("NO MATCH");
                    Ok(ExitCode::from(1))
                }
                Err(Error::Parse(e)) => {
                    eprintln!("invalid pattern: {}:{}: {}", e.line, e.column, e.message);
                    eprintln!("{}", e.caret());
                    Ok(ExitCode::from(2))
                }
                Err(Error::Match(e)) => Err(anyhow::anyhow!("cannot evaluate: {e}")),
            }
        }
        Cmd::MatchBatch => batch(match_line),
        Cmd::ValidateBatch => batch(validate_line),
        Cmd::MatchAll {
            indicators,
            observations,
            output,
            stix_version,
        } => match_all(
            &indicators,
            &observations,
            output.as_deref(),
            version(&stix_version)?,
        ),
    }
}

fn batch(f: fn(&Value) -> Value) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in stdin.lock().lines() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let resp = match serde_json::from_str::<Value>(&line) {
            Ok(req) => {
                let mut r = f(&req);
                if let (Some(id), Some(obj)) = (req.get("id"), r.as_object_mut()) {
                    obj.insert("id".into(), id.clone());
                }
                r
            }
            Err(e) => json!({"error": format!("request is not JSON: {e}"), "kind": "parse"}),
        };
        serde_json::to_writer(&mut out, &resp).context("writing stdout")?;
        out.write_all(b"\n").context("writing stdout")?;
        out.flush().context("flushing stdout")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn req_version(req: &Value, default: StixVersion) -> Result<StixVersion, String> {
    match req.get("stix_version") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(s)) => {
            StixVersion::from_str_opt(s).ok_or_else(|| format!("unknown stix_version {s:?}"))
        }
        Some(other) => Err(format!("bad stix_version {other}")),
    }
}

fn match_line(req: &Value) -> Value {
    let v = match req_version(req, StixVersion::V20) {
        Ok(v) => v,
        Err(e) => return json!({"error": e, "kind": "match"}),
    };
    let Some(pattern) = req.get("pattern").and_then(Value::as_str) else {
        return json!({"error": "request lacks a string \"pattern\"", "kind": "parse"});
    };
    let observed = req.get("observed").unwrap_or(&Value::Null);
    match detente_pattern::match_json(pattern, observed, v) {
        Ok(o) if o.matched() => json!({"matched": true, "observations": o.observations}),
        Ok(_) => json!({"matched": false}),
        Err(Error::Parse(e)) => json!({"error": e.to_string(), "kind": "parse"}),
        Err(Error::Match(e)) => json!({"error": e.to_string(), "kind": "match"}),
    }
}

fn validate_line(req: &Value) -> Value {
    let v = match req_version(req, StixVersion::V21) {
        Ok(v) => v,
        Err(e) => return json!({"valid": false, "errors": [e]}),
    };
    let Some(pattern) = req.get("pattern").and_then(Value::as_str) else {
        return json!({"valid": false, "errors": ["request lacks a string \"pattern\""]});
    };
    match detente_pattern::validate(pattern, v) {
        Ok(_) => json!({"valid": true}),
        Err(inv) => json!({"valid": false, "errors": inv.0}),
    }
}

fn match_all(
    indicators: &std::path::Path,
    observations: &std::path::Path,
    output: Option<&std::path::Path>,
    v: StixVersion,
) -> anyhow::Result<ExitCode> {
    let t0 = Instant::now();
    let mut ids = Vec::new();
    let mut patterns = Vec::new();
    let f = File::open(indicators).with_context(|| format!("opening {}", indicators.display()))?;
    for (n, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", indicators.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let ind: Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not JSON", indicators.display(), n + 1))?;
        ids.push(ind.get("id").cloned().unwrap_or(Value::Null));
        patterns.push(
            ind.get("pattern")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        );
    }
    let t_read = t0.elapsed();
    let t1 = Instant::now();
    let matcher = Matcher::compile(&patterns, v);
    let t_compile = t1.elapsed();

    let t2 = Instant::now();
    let f =
        File::open(observations).with_context(|| format!("opening {}", observations.display()))?;
    let mut docs = Vec::new();
    for (n, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", observations.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let doc: Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not JSON", observations.display(), n + 1))?;
        docs.push(doc);
    }
    let all = Value::Array(docs);
    let set =
        ObservationSet::from_json(&all, v).map_err(|e| anyhow::anyhow!("observations: {e}"))?;
    let t_load = t2.elapsed();

    let t3 = Instant::now();
    let results = matcher.evaluate(&set);
    let t_eval = t3.elapsed();

    let mut out: Box<dyn Write> = match output {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut matched = 0usize;
    let mut errors = 0usize;
    for (id, r) in ids.iter().zip(&results) {
        let line = match r {
            Ok(o) => {
                matched += usize::from(o.matched());
                json!({"id": id, "matched": o.matched()})
            }
            Err(e) => {
                errors += 1;
                json!({"id": id, "matched": false, "error": e.to_string()})
            }
        };
        serde_json::to_writer(&mut out, &line).context("writing results")?;
        out.write_all(b"\n").context("writing results")?;
    }
    out.flush().context("writing results")?;
    let n_obs = set.observations.len();
    let total = t_compile + t_eval;
    let secs = total.as_secs_f64().max(1e-9);
    eprintln!(
        "match-all: {} patterns, {} observations, {} matched, {} errors",
        patterns.len(),
        n_obs,
        matched,
        errors
    );
    eprintln!(
        "timing: read {:.3}s, compile {:.3}s, load observations {:.3}s, evaluate {:.3}s",
        t_read.as_secs_f64(),
        t_compile.as_secs_f64(),
        t_load.as_secs_f64(),
        t_eval.as_secs_f64()
    );
    eprintln!(
        "throughput: {:.0} patterns/s, {:.0} observations/s (compile + evaluate {:.3}s)",
        patterns.len() as f64 / secs,
        n_obs as f64 / secs,
        secs
    );
    Ok(ExitCode::SUCCESS)
}
