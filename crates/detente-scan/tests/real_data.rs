//! Real third-party data from the repository's testdata/real: Zeek TSV vs JSON, Zeek intel feeds,
//! GRIZZLY STEPPE against the MISP vpn-ipv4 warninglist.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use detente_scan::engine::open_log;
use detente_scan::index::Value;
use detente_scan::sources::{self, LoadOptions};
use detente_scan::{Allowlist, Events, Hit, Index, ScanOptions, Scanner};

const REAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/real");
const OPTS: LoadOptions = LoadOptions {
    now: 1_800_000_000,
    subdomains: true,
};

fn real(p: &str) -> PathBuf {
    Path::new(REAL).join(p)
}

#[derive(Default)]
struct Collect {
    hits: Vec<(u64, String, String, String, bool)>,
    warnings: Vec<String>,
}

impl Events for Collect {
    fn hit(&mut self, h: &Hit<'_>) {
        self.hits.push((
            h.line,
            h.field.to_string(),
            h.observed.to_string(),
            h.indicator.written.clone(),
            h.inform,
        ));
    }
    fn warning(&mut self, m: &str) {
        self.warnings.push(m.to_string());
    }
}

fn scan(index: &Index, allow: Option<&Allowlist>, path: &Path) -> Collect {
    let scanner = Scanner {
        pool: &rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap(),
        index,
        allow,
        opts: ScanOptions::default(),
    };
    let mut c = Collect::default();
    scanner
        .scan(&path.display().to_string(), open_log(path).unwrap(), &mut c)
        .unwrap();
    c
}

fn index_of(lines: &str) -> Index {
    let mut ix = Index::new(false);
    for i in sources::load_bytes("test", lines.as_bytes(), OPTS)
        .unwrap()
        .indicators
    {
        ix.insert(i);
    }
    ix
}

#[test]
fn zeek_tsv_and_json_give_identical_hits() {
    // Indicators that occur in the WRCCDC logs: parents of queried names, answer addresses,
    // internal ranges, a certificate-ish name and an address outside everything.
    let ix = index_of(
        "wrccdc.org\ncpp.edu\ngoogle.com\nmicrosoft.com\n134.71.3.16\n10.47.0.0/16\n172.31.0.0/16\n10.0.0.100\n192.0.2.1\n",
    );
    let mut compared = 0;
    let mut total_hits = 0;
    let dir = real("zeek-logs-wrccdc2018-brimdata/zeek-default");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        let json = real("zeek-logs-wrccdc2018-brimdata/zeek-json")
            .join(name.replace(".log.gz", ".json.gz"));
        let tsv = scan(&ix, None, &dir.join(&name));
        let js = scan(&ix, None, &json);
        assert!(tsv.warnings.is_empty(), "{name}: {:?}", tsv.warnings);
        assert!(js.warnings.is_empty(), "{name}: {:?}", js.warnings);
        // TSV records follow 8 header lines; JSON has one record per line.
        let a: Vec<_> = tsv
            .hits
            .iter()
            .map(|h| (h.0 - 8, h.1.clone(), h.2.clone(), h.3.clone()))
            .collect();
        let b: Vec<_> = js
            .hits
            .iter()
            .map(|h| (h.0, h.1.clone(), h.2.clone(), h.3.clone()))
            .collect();
        assert_eq!(a.len(), b.len(), "{name}: hit counts differ");
        assert!(
            a == b,
            "{name}: first difference {:?}",
            a.iter().zip(&b).find(|(x, y)| x != y)
        );
        total_hits += a.len();
        compared += 1;
    }
    assert_eq!(compared, 32);
    assert!(total_hits > 50_000, "only {total_hits} hits");
}

#[test]
fn zeek_intel_feeds_load_with_urls_normalised() {
    let dir = real("zeek-intel-feeds-criticalpathsecurity");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "intel"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 14);
    let mut urls = 0;
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let l = sources::load_bytes(&f.display().to_string(), &data, OPTS).unwrap();
        assert_eq!(l.format, "zeek-intel");
        assert!(!l.indicators.is_empty(), "{}", f.display());
        let data_lines = data
            .split(|c| *c == b'\n')
            .filter(|x| !x.is_empty() && x[0] != b'#')
            .count();
        assert_eq!(
            l.indicators.len() + l.skipped_count,
            data_lines,
            "{}: {:?}",
            f.display(),
            l.skipped
        );
        for i in &l.indicators {
            if let Value::Url(u) = &i.value {
                urls += 1;
                assert!(!u.contains("://"), "{u}");
                assert!(i.written.starts_with("http"), "{}", i.written);
            }
        }
    }
    assert!(urls > 100, "{urls}");
    // The scheme-bearing feed matches a scheme-less (Zeek host+uri) observation.
    let data = std::fs::read(dir.join("openphish.intel")).unwrap();
    let l = sources::load_bytes("openphish", &data, OPTS).unwrap();
    let first = l
        .indicators
        .iter()
        .find(|i| matches!(i.value, Value::Url(_)))
        .unwrap()
        .clone();
    let mut ix = Index::new(false);
    ix.insert(first.clone());
    let Value::Url(norm) = &first.value else {
        unreachable!()
    };
    let mut found = false;
    ix.match_value(norm.as_bytes(), &mut |_, _| found = true);
    assert!(found);
}

#[test]
fn grizzly_steppe_ips_in_vpn_warninglist_are_inform() {
    let csv = std::fs::read(real("grizzly-steppe-jar-16-20296/JAR-16-20296A.csv")).unwrap();
    let jar = sources::load_bytes("jar", &csv, OPTS).unwrap();
    assert_eq!(jar.format, "jar-csv");
    let hashes = jar
        .indicators
        .iter()
        .filter(|i| matches!(i.value, Value::Hash(_)))
        .count();
    // 24 MD5 rows (5 with an MD5 value) carry 23 more digests in COMMENT, 19 of them on rows
    // whose value is empty.
    assert_eq!(hashes, 5 + 23);
    let ips: Vec<String> = jar
        .indicators
        .iter()
        .filter(|i| matches!(i.value, Value::Net(..)))
        .map(|i| i.written.clone())
        .collect();
    assert_eq!(ips.len(), 876);
    let wl = std::fs::read(real("misp-warninglists/lists/vpn-ipv4/list.json")).unwrap();
    let allow_loaded = sources::load_bytes("vpn-ipv4", &wl, OPTS).unwrap();
    // Independent containment count, by brute force over the list.
    let nets: Vec<(u32, u32)> = allow_loaded
        .indicators
        .iter()
        .map(|i| match i.value {
            Value::Net(detente_scan::norm::Ip::V4(n), l) => (n, l as u32),
            _ => panic!("non-IPv4 entry"),
        })
        .collect();
    let expected = ips
        .iter()
        .filter(|ip| {
            let v = u32::from(ip.parse::<std::net::Ipv4Addr>().unwrap());
            nets.iter()
                .any(|(n, l)| *l == 0 || v >> (32 - l) == n >> (32 - l))
        })
        .count();
    assert_eq!(expected, 400);
    let mut index = Index::new(false);
    jar.indicators.into_iter().for_each(|i| index.insert(i));
    let mut allow = Allowlist::new();
    assert!(allow.add("vpn-ipv4", allow_loaded).is_empty());
    allow.finish();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fw.log");
    let text: String = ips
        .iter()
        .map(|ip| format!("DENY tcp src={ip} dst=10.0.0.1 port 443\n"))
        .collect();
    std::fs::write(&log, text).unwrap();
    let c = scan(&index, Some(&allow), &log);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.hits.len(), 876);
    assert_eq!(c.hits.iter().filter(|h| h.4).count(), expected);
    let lines: BTreeSet<u64> = c.hits.iter().map(|h| h.0).collect();
    assert_eq!(lines.len(), 876);
}

#[test]
fn oasis_stix_examples_load_and_flag_the_malformed_value() {
    let dir = real("stix21-examples/cti-documentation/examples/example_json");
    let mut loaded = 0;
    let mut complex = 0;
    let mut skipped = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let l = sources::load_bytes("x", &std::fs::read(&f).unwrap(), OPTS).unwrap();
        loaded += l.indicators.len();
        complex += l.patterns.len();
        skipped.extend(l.skipped);
    }
    assert!(loaded > 70, "{loaded}");
    // poisonivy.json's "domain autuo.xicp.net" is not a domain name.
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("\"domain autuo.xicp.net\" is not a valid domain-name:value")),
        "{skipped:?}"
    );
    // Patterns with no indexable equality test (x509 fields, file:name, MATCHES) are reported.
    assert!(
        skipped.iter().any(|s| s.contains("file:name")),
        "{skipped:?}"
    );
    assert_eq!(complex, 0);
}
