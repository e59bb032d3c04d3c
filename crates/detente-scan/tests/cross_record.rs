//! Patterns across records, differentially: for generated record streams and cross-record
//! patterns, the scanner's hits agree with the pattern engine's `match-all` (a compiled
//! `Matcher` over every record as an observation at its time), and every hit names records
//! that match the pattern on their own; with the records as JSON lines, as syslog lines
//! (RFC 3164 times, placed in a year by `--syslog-year` or the log's last write), and split
//! across two logs (one of each), which the scan merges by time: the same hits as one log.

use detente_pattern::{MatchOptions, Matcher, ObservationSet, StixVersion};
use detente_scan::sighting::rfc3339_millis;
use detente_scan::sources::{self, LoadOptions};
use detente_scan::{Events, Hit, Index, Log, ScanOptions, Scanner, Windows};
use serde_json::{Value, json};

const DOMAINS: [&str; 3] = ["a.example", "b.example", "c.example"];
const IPS: [&str; 3] = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
/// 2023-11-14T22:13:20Z, in milliseconds.
const T0: i64 = 1_700_000_000_000;

/// xorshift64*: a fixed, dependency-free stream of choices per seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

#[derive(Clone, Copy)]
struct Record {
    time_ms: i64,
    domain: Option<&'static str>,
    ip: Option<&'static str>,
}

/// Records in time order. `whole`: times in whole seconds (syslog's precision), each at least a
/// second after the one before (no ties, so no order among equal times to agree on).
fn records(rng: &mut Rng, n: usize, whole: bool) -> Vec<Record> {
    let mut t = T0;
    (0..n)
        .map(|_| {
            // Ties, near neighbours and gaps beyond the shorter windows.
            t += [0, 1_000, 20_000, 90_000, 400_000][rng.below(5) as usize];
            if whole {
                t += 1000;
            } else {
                t += rng.below(1000) as i64;
            }
            let (domain, ip) = match rng.below(4) {
                0 => (Some(rng.pick(&DOMAINS)), None),
                1 => (None, Some(rng.pick(&IPS))),
                2 => (Some(rng.pick(&DOMAINS)), Some(rng.pick(&IPS))),
                _ => (Some("quiet.example"), Some("192.0.2.7")),
            };
            Record {
                time_ms: t,
                domain,
                ip,
            }
        })
        .collect()
}

fn bracket(rng: &mut Rng) -> String {
    let dom = |rng: &mut Rng| format!("domain-name:value = '{}'", rng.pick(&DOMAINS));
    let ip = |rng: &mut Rng| format!("ipv4-addr:value = '{}'", rng.pick(&IPS));
    match rng.below(5) {
        0 | 1 => format!("[{}]", dom(rng)),
        2 => format!("[{}]", ip(rng)),
        3 => format!("[{} OR {}]", dom(rng), ip(rng)),
        _ => format!("[{} AND {}]", dom(rng), ip(rng)),
    }
}

/// An observation expression; `depth` bounds nesting.
fn expr(rng: &mut Rng, depth: u32) -> String {
    if depth == 0 {
        return bracket(rng);
    }
    match rng.below(8) {
        0 => bracket(rng),
        1 | 2 => format!(
            "({} FOLLOWEDBY {})",
            expr(rng, depth - 1),
            expr(rng, depth - 1)
        ),
        3 => format!("({} AND {})", expr(rng, depth - 1), expr(rng, depth - 1)),
        4 => format!("({} OR {})", expr(rng, depth - 1), expr(rng, depth - 1)),
        5 => format!(
            "{} WITHIN {} SECONDS",
            expr(rng, depth - 1),
            [1, 30, 60, 300, 600][rng.below(5) as usize]
        ),
        6 => format!("{} REPEATS {} TIMES", bracket(rng), 2 + rng.below(2)),
        _ => {
            let start = T0 + rng.below(3_000_000) as i64;
            let stop = start + 60_000 + rng.below(3_000_000) as i64;
            format!(
                "{} START t'{}' STOP t'{}'",
                bracket(rng),
                rfc3339_millis(start),
                rfc3339_millis(stop)
            )
        }
    }
}

/// A pattern that spans records (what the scanner's windows evaluate).
fn pattern(rng: &mut Rng) -> String {
    let e = expr(rng, 2);
    match rng.below(4) {
        0 => format!("{e} FOLLOWEDBY {}", bracket(rng)),
        1 => format!("{e} AND {}", bracket(rng)),
        2 => format!("({e} FOLLOWEDBY {}) WITHIN 300 SECONDS", bracket(rng)),
        _ => format!("{e} WITHIN {} SECONDS", [1, 60, 300][rng.below(3) as usize]),
    }
}

fn log_of(recs: &[Record]) -> String {
    let mut out = String::new();
    for r in recs {
        let mut o = serde_json::Map::new();
        o.insert("ts".into(), json!(r.time_ms as f64 / 1000.0));
        if let Some(d) = r.domain {
            o.insert("query".into(), json!(d));
        }
        if let Some(i) = r.ip {
            o.insert("dst".into(), json!(i));
        }
        out.push_str(&Value::Object(o).to_string());
        out.push('\n');
    }
    out
}

/// `t` (Unix ms) as an RFC 3164 timestamp (`Nov 14 22:13:20`, day space-padded).
fn bsd(t: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_, m, d) = detente_stix::timestamp::civil_from_days(t.div_euclid(86_400_000));
    let s = t.div_euclid(1000).rem_euclid(86_400);
    let mon = MONTHS[m as usize - 1];
    format!(
        "{mon} {d:>2} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The records as RFC 3164 syslog lines (whole seconds).
fn syslog_of(recs: &[Record]) -> String {
    let mut out = String::new();
    for r in recs {
        out.push_str(&format!("<13>{} gw dnsmasq[42]:", bsd(r.time_ms)));
        if let Some(d) = r.domain {
            out.push_str(&format!(" query[A] {d}"));
        }
        if let Some(i) = r.ip {
            out.push_str(&format!(" reply {i}"));
        }
        out.push('\n');
    }
    out
}

/// A record as `match-all` takes observations: a bundle with one observed-data at its time.
fn bundle(i: usize, r: &Record) -> Value {
    let t = rfc3339_millis(r.time_ms);
    let mut objects = vec![];
    let mut refs = vec![];
    if let Some(d) = r.domain {
        let id = format!("domain-name--00000000-0000-4000-8000-{:012}", 2 * i);
        objects.push(json!({"type": "domain-name", "id": id, "value": d}));
        refs.push(id);
    }
    if let Some(a) = r.ip {
        let id = format!("ipv4-addr--00000000-0000-4000-8000-{:012}", 2 * i + 1);
        objects.push(json!({"type": "ipv4-addr", "id": id, "value": a}));
        refs.push(id);
    }
    objects.insert(
        0,
        json!({"type": "observed-data", "id": format!("observed-data--00000000-0000-4000-8000-{i:012}"),
               "first_observed": t, "last_observed": t, "number_observed": 1, "object_refs": refs}),
    );
    json!({"type": "bundle", "id": format!("bundle--00000000-0000-4000-8000-{i:012}"), "objects": objects})
}

/// The pattern engine's verdict on each pattern, as `detente pattern match-all` computes it
/// with the scanner's match options (exact domains, as [`index_of`]'s index), or its error
/// (e.g. more binding work than its evaluation budget allows).
fn evaluate(patterns: &[String], recs: &[(usize, &Record)]) -> Vec<Result<bool, String>> {
    let docs = Value::Array(recs.iter().map(|(i, r)| bundle(*i, r)).collect());
    let set = ObservationSet::from_json(&docs, StixVersion::V21).unwrap();
    Matcher::compile_with(patterns, StixVersion::V21, MatchOptions::scanner(false))
        .evaluate(&set)
        .into_iter()
        .map(|r| r.map(|o| o.matched()).map_err(|e| e.to_string()))
        .collect()
}

/// Whether the pattern engine decides every pattern on `recs` within its evaluation budget
/// (a generated case can ask for more binding work than it allows; then it is no oracle).
fn match_all_decides(patterns: &[String], recs: &[Record]) -> bool {
    let all: Vec<(usize, &Record)> = recs.iter().enumerate().collect();
    evaluate(patterns, &all).iter().all(Result::is_ok)
}

/// The pattern engine's verdict, as `detente pattern match-all` computes it.
fn match_all(patterns: &[String], recs: &[(usize, &Record)]) -> Vec<bool> {
    evaluate(patterns, recs)
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

#[derive(Default)]
struct Collect {
    /// (indicator id, (log, line) of the records that took part).
    hits: Vec<(String, Vec<(String, u64)>)>,
    warnings: Vec<String>,
}

impl Events for Collect {
    fn hit(&mut self, h: &Hit<'_>) {
        assert_eq!(h.kind.as_str(), "pattern");
        assert!(
            h.records
                .iter()
                .any(|r| r.line == h.line && *r.file == *h.file),
            "the hit's own record takes part"
        );
        self.hits.push((
            h.indicator.id.clone(),
            h.records
                .iter()
                .map(|r| (r.file.to_string(), r.line))
                .collect(),
        ));
    }
    fn warning(&mut self, m: &str) {
        self.warnings.push(m.to_string());
    }
}

fn index_of(patterns: &[String]) -> Index {
    let objects: Vec<Value> = patterns
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({"type": "indicator", "spec_version": "2.1",
                   "id": format!("indicator--00000000-0000-4000-8000-{i:012}"),
                   "created": "2023-01-01T00:00:00Z", "modified": "2023-01-01T00:00:00Z",
                   "valid_from": "2023-01-01T00:00:00Z", "pattern_type": "stix", "pattern": p})
        })
        .collect();
    let stix = json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": objects});
    let opts = LoadOptions {
        now: 1_750_000_000,
        subdomains: false,
    };
    let loaded = sources::load_bytes("patterns.json", stix.to_string().as_bytes(), opts).unwrap();
    assert_eq!(loaded.skipped, Vec::<String>::new());
    assert_eq!(loaded.patterns.len(), patterns.len());
    let mut ix = Index::new(true);
    for p in loaded.patterns {
        ix.insert_pattern(p);
    }
    ix.compile_patterns();
    assert_eq!(ix.cross_patterns().len(), patterns.len());
    ix
}

/// How the generated records are written.
#[derive(Clone, Copy, Debug)]
enum Flavor {
    Json,
    /// RFC 3164 lines, the year named (`--syslog-year`).
    SyslogYear,
    /// RFC 3164 lines, the year from the log's last write (a day after the first record).
    SyslogModified,
}

/// One pool for every scan of this test binary (scanners borrow their caller's pool).
fn pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a thread pool")
    })
}

fn scanner(index: &Index) -> Scanner<'_> {
    Scanner {
        pool: pool(),
        index,
        allow: None,
        opts: ScanOptions {
            syslog_year: Some(2023),
            ..ScanOptions::default()
        },
    }
}

/// Scans `logs` (name, text, last write) in one scan, merged by time when several.
fn scan(index: &Index, year: bool, logs: &[(&str, &str, Option<i64>)]) -> Collect {
    let mut s = scanner(index);
    if !year {
        s.opts.syslog_year = None;
    }
    let mut got = Collect::default();
    let logs = logs
        .iter()
        .map(|(name, text, modified)| Log {
            modified_ms: *modified,
            ..Log::from_reader(name, text.as_bytes())
        })
        .collect();
    let mut windows = Windows::new(index);
    s.scan_logs(logs, &mut got, &mut windows, None).unwrap();
    got
}

/// Every pattern's hits agree with `match-all` on `recs`, each hit names a binding, no record
/// serves twice; `record` maps a hit's (file, line) to its record. Returns (matched, hits).
fn check_against_match_all(
    what: &str,
    patterns: &[String],
    recs: &[Record],
    got: &Collect,
    record: impl Fn(&str, u64) -> usize,
) -> (usize, usize) {
    assert_eq!(got.warnings, Vec::<String>::new(), "{what}");
    let all: Vec<(usize, &Record)> = recs.iter().enumerate().collect();
    let want = match_all(patterns, &all);
    let (mut matched, mut hits) = (0, 0);
    for (i, p) in patterns.iter().enumerate() {
        let id = format!("indicator--00000000-0000-4000-8000-{i:012}");
        let mine: Vec<Vec<usize>> = got
            .hits
            .iter()
            .filter(|h| h.0 == id)
            .map(|h| h.1.iter().map(|(f, l)| record(f, *l)).collect())
            .collect();
        assert_eq!(!mine.is_empty(), want[i], "{what}: {p}\nhits: {mine:?}");
        matched += usize::from(want[i]);
        hits += mine.len();
        let mut used = std::collections::BTreeSet::new();
        for named in mine {
            // The records named are a binding on their own, and no record serves twice.
            let bound: Vec<(usize, &Record)> = named.iter().map(|r| (*r, &recs[*r])).collect();
            assert!(
                match_all(std::slice::from_ref(p), &bound)[0],
                "{what}: {p}: {named:?}"
            );
            for r in named {
                assert!(used.insert(r), "{what}: {p}: record {r} twice");
            }
        }
    }
    (matched, hits)
}

#[test]
fn scanner_hits_agree_with_match_all() {
    for flavor in [Flavor::Json, Flavor::SyslogYear, Flavor::SyslogModified] {
        let (mut matched, mut hits) = (0, 0);
        for seed in 1..=150u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let n = 10 + rng.below(40) as usize;
            let whole = !matches!(flavor, Flavor::Json);
            let recs = records(&mut rng, n, whole);
            let patterns: Vec<String> = (0..8).map(|_| pattern(&mut rng)).collect();
            let index = index_of(&patterns);
            let (log, year, modified) = match flavor {
                Flavor::Json => (log_of(&recs), true, None),
                Flavor::SyslogYear => (syslog_of(&recs), true, None),
                Flavor::SyslogModified => (syslog_of(&recs), false, Some(T0 + 86_400_000)),
            };
            let got = scan(&index, year, &[("t.log", &log, modified)]);
            let what = format!("{flavor:?} seed {seed}\nlog:\n{log}");
            let (m, h) =
                check_against_match_all(&what, &patterns, &recs, &got, |_, l| l as usize - 1);
            matched += m;
            hits += h;
        }
        eprintln!(
            "{flavor:?}: {matched} of {} patterns matched, {hits} hits",
            150 * 8
        );
        // The generator must exercise both outcomes.
        assert!(
            matched > 200 && hits > matched,
            "{flavor:?}: {matched} matched, {hits} hits"
        );
        assert!(matched < 150 * 8 - 200, "{flavor:?}: {matched} matched");
    }
}

/// The merged scan's hits as (indicator, records by number), sorted.
fn by_record(got: &Collect, record: impl Fn(&str, u64) -> usize) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = got
        .hits
        .iter()
        .map(|(id, took)| {
            (
                id.clone(),
                took.iter().map(|(f, l)| record(f, *l)).collect(),
            )
        })
        .collect();
    out.sort();
    out
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Records split across two logs at random — JSON lines and RFC 3164 syslog, each in time
    /// order — give the hits of the one log that holds them all, and agree with `match-all`.
    #[test]
    fn logs_merged_by_time_hit_as_one_log(seed in 1u64.., split: u64, first_is_syslog: bool) {
        let mut rng = Rng(seed | 1);
        let n = 10 + rng.below(40) as usize;
        let recs = records(&mut rng, n, true);
        let patterns: Vec<String> = (0..8).map(|_| pattern(&mut rng)).collect();
        let index = index_of(&patterns);
        let one = scan(&index, true, &[("all.jsonl", &log_of(&recs), None)]);
        // Record i goes to log (split >> i) & 1, with the lines it gets there.
        let mut parts: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        for i in 0..recs.len() {
            parts[(split >> (i % 64)) as usize & 1].push(i);
        }
        let text = |k: usize, syslog: bool| {
            let rs: Vec<Record> = parts[k].iter().map(|i| recs[*i]).collect();
            if syslog { syslog_of(&rs) } else { log_of(&rs) }
        };
        let (a, b) = (text(0, first_is_syslog), text(1, !first_is_syslog));
        let two = scan(&index, true, &[("a.log", &a, None), ("b.log", &b, None)]);
        let split_record = |f: &str, l: u64| parts[usize::from(f == "b.log")][l as usize - 1];
        proptest::prop_assert_eq!(
            by_record(&two, split_record),
            by_record(&one, |_, l| l as usize - 1),
            "seed {} split {:x}\na:\n{}b:\n{}", seed, split, a, b
        );
        // The merged hits equal the one log's whatever the oracle says; the oracle is asked
        // where it can answer.
        if match_all_decides(&patterns, &recs) {
            check_against_match_all(&format!("seed {seed} split {split:x}\na:\n{a}b:\n{b}"), &patterns, &recs, &two, split_record);
        }
    }
}
