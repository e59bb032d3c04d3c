//! Patterns across records, differentially: for generated record streams and cross-record
//! patterns, the scanner's hits agree with the pattern engine's `match-all` (a compiled
//! `Matcher` over every record as an observation at its time), and every hit names records
//! that match the pattern on their own.

use detente_pattern::{Matcher, ObservationSet, StixVersion};
use detente_scan::sighting::rfc3339_millis;
use detente_scan::sources::{self, LoadOptions};
use detente_scan::{Events, Hit, Index, ScanOptions, Scanner, Windows};
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

struct Record {
    time_ms: i64,
    domain: Option<&'static str>,
    ip: Option<&'static str>,
}

fn records(rng: &mut Rng, n: usize) -> Vec<Record> {
    let mut t = T0;
    (0..n)
        .map(|_| {
            // Ties, near neighbours and gaps beyond the shorter windows.
            t +=
                [0, 1_000, 20_000, 90_000, 400_000][rng.below(5) as usize] + rng.below(1000) as i64;
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

/// The pattern engine's verdict, as `detente pattern match-all` computes it.
fn match_all(patterns: &[String], recs: &[(usize, &Record)]) -> Vec<bool> {
    let docs = Value::Array(recs.iter().map(|(i, r)| bundle(*i, r)).collect());
    let set = ObservationSet::from_json(&docs, StixVersion::V21).unwrap();
    Matcher::compile(patterns, StixVersion::V21)
        .evaluate(&set)
        .into_iter()
        .map(|r| r.unwrap().matched())
        .collect()
}

#[derive(Default)]
struct Collect {
    /// (indicator id, lines of the records that took part).
    hits: Vec<(String, Vec<u64>)>,
    warnings: Vec<String>,
}

impl Events for Collect {
    fn hit(&mut self, h: &Hit<'_>) {
        assert_eq!(h.kind.as_str(), "pattern");
        assert!(
            h.records.iter().any(|r| r.line == h.line),
            "the hit's own record takes part"
        );
        self.hits.push((
            h.indicator.id.clone(),
            h.records.iter().map(|r| r.line).collect(),
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

#[test]
fn scanner_hits_agree_with_match_all() {
    let (mut matched, mut hits) = (0, 0);
    for seed in 1..=150u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let n = 10 + rng.below(40) as usize;
        let recs = records(&mut rng, n);
        let patterns: Vec<String> = (0..8).map(|_| pattern(&mut rng)).collect();
        let index = index_of(&patterns);
        let scanner = Scanner {
            pool: &rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap(),
            index: &index,
            allow: None,
            opts: ScanOptions::default(),
        };
        let mut got = Collect::default();
        let log = log_of(&recs);
        let mut windows = Windows::new(&index);
        scanner
            .scan_with("t.jsonl", log.as_bytes(), &mut got, &mut windows, None)
            .unwrap();
        assert_eq!(got.warnings, Vec::<String>::new(), "seed {seed}");
        let all: Vec<(usize, &Record)> = recs.iter().enumerate().collect();
        let want = match_all(&patterns, &all);
        for (i, p) in patterns.iter().enumerate() {
            let id = format!("indicator--00000000-0000-4000-8000-{i:012}");
            let mine: Vec<&Vec<u64>> = got
                .hits
                .iter()
                .filter(|h| h.0 == id)
                .map(|h| &h.1)
                .collect();
            assert_eq!(
                !mine.is_empty(),
                want[i],
                "seed {seed}: {p}\nlog:\n{log}hits: {mine:?}"
            );
            matched += usize::from(want[i]);
            hits += mine.len();
            let mut used = std::collections::BTreeSet::new();
            for lines in mine {
                // The records named are a binding on their own, and no record serves twice.
                let named: Vec<(usize, &Record)> = lines
                    .iter()
                    .map(|l| (*l as usize - 1, &recs[*l as usize - 1]))
                    .collect();
                assert!(
                    match_all(std::slice::from_ref(p), &named)[0],
                    "seed {seed}: {p}: {lines:?}"
                );
                for l in lines {
                    assert!(used.insert(*l), "seed {seed}: {p}: line {l} twice");
                }
            }
        }
    }
    eprintln!("{matched} of {} patterns matched, {hits} hits", 150 * 8);
    // The generator must exercise both outcomes.
    assert!(
        matched > 200 && hits > matched,
        "{matched} matched, {hits} hits"
    );
    assert!(matched < 150 * 8 - 200, "{matched} matched");
}
