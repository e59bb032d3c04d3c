//! One semantics for one comparison, differentially: for generated indicator values and log
//! values (domains with subdomains and case variants, URLs with and without scheme, default
//! port and fragment, addresses in and out of blocks, digests and e-mail addresses in either
//! case), the same `=` test hits a one-line log
//!
//! * as a simple pattern (`[p = 'v']`: the index, no pattern engine),
//! * inside a complex one (`[p = 'v' AND p != 'x']`: the index selects the record, the pattern
//!   engine's matcher decides on its SCOs with the scanner's match options),
//! * inside a cross-record one (`[p = 'v'] WITHIN 60 SECONDS`: the record's window),
//!
//! all three or none, and exactly when the generator built the log value to match
//! (`docs/detection.md`, "What a match means").

use std::net::{Ipv4Addr, Ipv6Addr};

use detente_scan::sources::{self, LoadOptions};
use detente_scan::{Events, Hit, Index, Log, ScanOptions, Scanner, Windows};
use proptest::prelude::*;
use serde_json::json;

/// One generated comparison: the pattern's path and literal, a log value, and whether the
/// value is the literal's (with or without subdomains).
#[derive(Clone, Debug)]
struct Case {
    path: &'static str,
    literal: String,
    observed: String,
    /// Expected hit when domains cover their subdomains, and when they do not.
    expect: (bool, bool),
}

fn case_of(s: &str, upper: &[bool]) -> String {
    s.chars()
        .zip(upper.iter().cycle())
        .map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c })
        .collect()
}

fn casing() -> impl Strategy<Value = Vec<bool>> {
    prop::collection::vec(any::<bool>(), 1..5)
}

fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,5}"
}

fn domain() -> impl Strategy<Value = String> {
    (
        label(),
        prop::sample::select(vec!["com", "example", "co.uk"]),
    )
        .prop_map(|(l, tld)| format!("{l}.{tld}"))
}

/// How a log shows a host name: bare, with a port, in a URL, as an e-mail domain.
fn host_in_log(host: &str, how: u8) -> (String, bool) {
    match how {
        0 => (host.to_string(), true),
        1 => (format!("{host}:8443"), true),
        2 => (format!("https://{host}/x?y=1"), true),
        3 => (format!("{host}/index.php"), true),
        4 => (format!("{host}."), true),
        // The domain of an e-mail address is not a domain-name value of the record.
        _ => (format!("bob@{host}"), false),
    }
}

fn domain_case() -> impl Strategy<Value = Case> {
    (
        domain(),
        label(),
        0u8..6,
        casing(),
        casing(),
        0u8..5,
        any::<bool>(),
    )
        .prop_map(|(d, extra, how, lc, oc, rel, dot)| {
            // The log's name: the literal's, one below it, a sibling sharing its text,
            // one extending it, or another.
            let (name, same, below) = match rel {
                0 => (d.clone(), true, false),
                1 => (format!("{extra}.{d}"), false, true),
                2 => (format!("{extra}{d}"), false, false),
                3 => (format!("{d}.au"), false, false),
                _ => (format!("{extra}.net"), false, false),
            };
            let (observed, is_domain) = host_in_log(&case_of(&name, &oc), how);
            let lit = case_of(&d, &lc);
            Case {
                path: "domain-name:value",
                literal: if dot { format!("{lit}.") } else { lit },
                observed,
                expect: (is_domain && (same || below), is_domain && same),
            }
        })
}

fn url_case() -> impl Strategy<Value = Case> {
    let scheme = prop::sample::select(vec!["http://", "HTTP://", "https://", "Https://", ""]);
    (
        domain(),
        scheme.clone(),
        scheme,
        0u8..3,
        0u8..4,
        casing(),
        any::<bool>(),
    )
        .prop_map(|(host, s1, s2, port, change, hc, frag)| {
            let default = |s: &str| {
                if s.eq_ignore_ascii_case("https://") {
                    ":443"
                } else {
                    ":80"
                }
            };
            let p1 = if port == 1 { default(s1) } else { "" };
            // The log's port: none, the scheme's default, or another.
            let p2 = match port {
                0 => "",
                1 => default(s2),
                _ => ":8080",
            };
            let path = "/a/B.php?id=7";
            let (path2, host2) = match change {
                0 | 1 => (path.to_string(), case_of(&host, &hc)),
                2 => (path.to_lowercase(), host.clone()),
                _ => (path.to_string(), format!("x{host}")),
            };
            let fragment = if frag { "#top" } else { "" };
            Case {
                path: "url:value",
                literal: format!("{s1}{host}{p1}{path}"),
                observed: format!("{s2}{host2}{p2}{path2}{fragment}"),
                expect: {
                    let same = change < 2 && port < 2;
                    (same, same)
                },
            }
        })
}

fn ipv4_case() -> impl Strategy<Value = Case> {
    (any::<u32>(), 8u8..=32, any::<u32>(), 0u8..3, 0u8..4).prop_map(
        |(net, len, low, inside, how)| {
            let mask = if len == 32 {
                u32::MAX
            } else {
                !(u32::MAX >> len)
            };
            let net = net & mask;
            // Inside the block, or the same network with its first bit outside flipped.
            let addr = match inside {
                0 | 1 => net | (low & !mask),
                _ => (net ^ (1 << (32 - u32::from(len)))) | (low & !mask),
            };
            let a = Ipv4Addr::from(addr).to_string();
            let observed = match how {
                0 => a,
                1 => format!("{a}:443"),
                2 => format!("http://{a}/x"),
                _ => format!("::ffff:{a}"),
            };
            let literal = if len == 32 {
                Ipv4Addr::from(net).to_string()
            } else {
                format!("{}/{len}", Ipv4Addr::from(net))
            };
            let inside = (addr & mask) == net;
            Case {
                path: "ipv4-addr:value",
                literal,
                observed,
                expect: (inside, inside),
            }
        },
    )
}

fn ipv6_case() -> impl Strategy<Value = Case> {
    (
        any::<u128>(),
        prop::sample::select(vec![32u8, 48, 64, 128]),
        any::<u128>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(net, len, low, inside, upper)| {
            // Global unicast, so no IPv4-mapped address comes out.
            let net = (net & !(0xe000u128 << 112)) | (0x2000u128 << 112);
            let mask = if len == 128 {
                u128::MAX
            } else {
                !(u128::MAX >> len)
            };
            let net = net & mask;
            let addr = if inside {
                net | (low & !mask)
            } else {
                (net ^ (1 << (128 - u32::from(len)))) | (low & !mask)
            };
            let a = Ipv6Addr::from(addr).to_string();
            let literal = if len == 128 {
                Ipv6Addr::from(net).to_string()
            } else {
                format!("{}/{len}", Ipv6Addr::from(net))
            };
            let hit = (addr & mask) == net;
            Case {
                path: "ipv6-addr:value",
                literal,
                observed: if upper { a.to_uppercase() } else { a },
                expect: (hit, hit),
            }
        })
}

fn hash_case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec![
            ("file:hashes.MD5", 32),
            ("file:hashes.'SHA-1'", 40),
            ("file:hashes.'SHA-256'", 64),
            ("file:hashes.'SHA-512'", 128),
        ]),
        prop::collection::vec(0u8..16, 128),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|((path, n), digits, lu, ou, same)| {
            let hex: String = digits[..n]
                .iter()
                .map(|d| char::from_digit(u32::from(*d), 16).unwrap_or('0'))
                .collect();
            // Another digest of the same length: the first digit changed.
            let first = if hex.starts_with('0') { "1" } else { "0" };
            let other = format!("{first}{}", &hex[1..]);
            let observed = if same { &hex } else { &other };
            let hit = same;
            let up = |s: &str, u: bool| if u { s.to_uppercase() } else { s.to_string() };
            Case {
                path,
                literal: up(&hex, lu),
                observed: up(observed, ou),
                expect: (hit, hit),
            }
        })
}

fn email_case() -> impl Strategy<Value = Case> {
    (
        label(),
        domain(),
        casing(),
        casing(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(local, d, lc, oc, mailto, same)| {
            let lit = format!("{local}@{d}");
            let seen = if same {
                lit.clone()
            } else {
                format!("{local}x@{d}")
            };
            let seen = case_of(&seen, &oc);
            Case {
                path: "email-addr:value",
                literal: case_of(&lit, &lc),
                observed: if mailto {
                    format!("mailto:{seen}")
                } else {
                    seen
                },
                expect: (same, same),
            }
        })
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        3 => domain_case(),
        2 => url_case(),
        2 => ipv4_case(),
        1 => ipv6_case(),
        1 => hash_case(),
        1 => email_case(),
    ]
}

/// The three indicators of a case: simple, complex, cross-record.
const IDS: [&str; 3] = [
    "indicator--00000000-0000-4000-8000-000000000001",
    "indicator--00000000-0000-4000-8000-000000000002",
    "indicator--00000000-0000-4000-8000-000000000003",
];

fn patterns(c: &Case) -> [String; 3] {
    let lit = c.literal.replace('\'', "\\'");
    let test = format!("{} = '{lit}'", c.path);
    [
        format!("[{test}]"),
        format!("[{test} AND {} != 'never this'] ", c.path),
        format!("[{test}] WITHIN 60 SECONDS"),
    ]
}

fn index_of(c: &Case, exact_domains: bool) -> Index {
    let objects: Vec<_> = patterns(c)
        .iter()
        .zip(IDS)
        .map(|(p, id)| {
            json!({"type": "indicator", "spec_version": "2.1", "id": id,
                   "created": "2023-01-01T00:00:00Z", "modified": "2023-01-01T00:00:00Z",
                   "valid_from": "2023-01-01T00:00:00Z", "pattern_type": "stix", "pattern": p})
        })
        .collect();
    let stix = json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": objects});
    let opts = LoadOptions {
        now: 1_750_000_000,
        subdomains: true,
    };
    let loaded = sources::load_bytes("p.json", stix.to_string().as_bytes(), opts).unwrap();
    assert_eq!(loaded.skipped, Vec::<String>::new(), "{c:?}");
    assert_eq!(loaded.patterns.len(), 2, "{c:?}");
    let mut ix = Index::new(exact_domains);
    ix.extend(loaded.indicators);
    for p in loaded.patterns {
        ix.insert_pattern(p);
    }
    ix.compile_patterns();
    ix
}

#[derive(Default)]
struct Ids(Vec<String>);

impl Events for Ids {
    fn hit(&mut self, h: &Hit<'_>) {
        self.0.push(h.indicator.id.clone());
    }
    fn warning(&mut self, m: &str) {
        panic!("warning: {m}");
    }
}

fn pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a thread pool")
    })
}

/// Which of the three indicators hit a one-record JSON-lines log holding `observed`.
fn hits(ix: &Index, observed: &str) -> [bool; 3] {
    let line = json!({"ts": 1_700_000_000, "v": observed}).to_string() + "\n";
    let scanner = Scanner {
        pool: pool(),
        index: ix,
        allow: None,
        opts: ScanOptions::default(),
    };
    let mut got = Ids::default();
    let mut windows = Windows::new(ix);
    scanner
        .scan_logs(
            vec![Log::from_reader("log", line.as_bytes())],
            &mut got,
            &mut windows,
            None,
        )
        .unwrap();
    IDS.map(|id| got.0.iter().any(|g| g == id))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn index_and_matcher_agree(c in case()) {
        for exact in [false, true] {
            let ix = index_of(&c, exact);
            let want = if exact { c.expect.1 } else { c.expect.0 };
            let got = hits(&ix, &c.observed);
            prop_assert_eq!(got, [want; 3], "exact domains: {}, {:?}", exact, c);
        }
    }
}

#[test]
fn the_cases_of_issue_11() {
    for (path, literal, observed, want) in [
        ("domain-name:value", "evil.com", "www.evil.com", true),
        ("domain-name:value", "Evil.com", "evil.com", true),
        (
            "url:value",
            "http://evil.com/a",
            "HTTPS://EVIL.com:443/a",
            true,
        ),
        ("ipv4-addr:value", "10.0.0.0/8", "10.9.8.7", true),
        ("ipv4-addr:value", "10.0.0.0/8", "11.9.8.7", false),
        (
            "file:hashes.MD5",
            "D41D8CD98F00B204E9800998ECF8427E",
            "d41d8cd98f00b204e9800998ecf8427e",
            true,
        ),
    ] {
        let c = Case {
            path,
            literal: literal.into(),
            observed: observed.into(),
            expect: (want, want),
        };
        assert_eq!(hits(&index_of(&c, false), observed), [want; 3], "{c:?}");
    }
}
