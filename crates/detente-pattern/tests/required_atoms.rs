//! The required-atoms analysis against the evaluator as oracle: for generated patterns and
//! observations, under strict STIX and under the scanner's match options, every observation
//! of a match holds one of the pattern's required `=` tests (`observable::required`) on its
//! own — what a scanner relies on when it evaluates a pattern only on the records those tests
//! select. And the compiled matcher gives the evaluator's outcome under the same options.

use detente_pattern::{
    MatchOptions, Matcher, ObservationSet, StixVersion, evaluate_with, observable, parse,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Values observed objects hold: case variants, a subdomain, a look-alike, URLs with and
/// without scheme and default port, addresses in and out of 10.0.0.0/8, digests in either case.
const DOMAINS: [&str; 5] = [
    "evil.example",
    "Evil.EXAMPLE",
    "www.evil.example",
    "notevil.example",
    "good.example",
];
const IPS: [&str; 4] = ["10.1.2.3", "10.0.0.1", "192.0.2.1", "::ffff:10.0.0.1"];
const URLS: [&str; 4] = [
    "http://evil.example/a",
    "HTTPS://EVIL.example:443/a",
    "evil.example/a",
    "http://evil.example/A",
];
const MD5: [&str; 2] = [
    "d41d8cd98f00b204e9800998ecf8427e",
    "D41D8CD98F00B204E9800998ECF8427E",
];

/// One property test: `=` tests that may be required atoms, and tests that never are.
fn test() -> impl Strategy<Value = String> {
    let d = 0usize..DOMAINS.len();
    prop_oneof![
        d.clone()
            .prop_map(|i| format!("domain-name:value = '{}'", DOMAINS[i])),
        (0usize..3).prop_map(|i| format!(
            "ipv4-addr:value = '{}'",
            ["10.0.0.0/8", "10.0.0.1", "192.0.2.0/24"][i]
        )),
        (0usize..URLS.len()).prop_map(|i| format!("url:value = '{}'", URLS[i])),
        (0usize..2).prop_map(|i| format!("file:hashes.MD5 = '{}'", MD5[i])),
        Just("ipv6-addr:value = '::ffff:10.0.0.1'".to_string()),
        // Never atoms: not `=`, negated, a literal of no observable kind, a path not indexed.
        d.clone()
            .prop_map(|i| format!("domain-name:value != '{}'", DOMAINS[i])),
        d.clone()
            .prop_map(|i| format!("domain-name:value NOT = '{}'", DOMAINS[i])),
        Just("domain-name:value LIKE '%evil%'".to_string()),
        Just("domain-name:value = 'localhost'".to_string()),
        Just("ipv4-addr:value ISSUBSET '10.0.0.0/8'".to_string()),
        (0u64..3000).prop_map(|n| format!("file:size > {n}")),
        d.prop_map(|i| format!("domain-name:value IN ('{}', 'x.example')", DOMAINS[i])),
    ]
}

fn comparison() -> impl Strategy<Value = String> {
    test().prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} AND {b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a} OR {b})")),
        ]
    })
}

fn pattern() -> impl Strategy<Value = String> {
    comparison()
        .prop_map(|c| format!("[{c}]"))
        .prop_recursive(2, 6, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} AND {b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} OR {b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} FOLLOWEDBY {b})")),
                (inner.clone(), 1u64..900).prop_map(|(a, n)| format!("({a} WITHIN {n} SECONDS)")),
                (inner, 1u64..3).prop_map(|(a, n)| format!("({a} REPEATS {n} TIMES)")),
            ]
        })
}

/// Observations as 2.1 bundles, one observed-data each, with SCOs drawn from the pools.
fn observations() -> impl Strategy<Value = Vec<Value>> {
    let sco = (0usize..4, 0usize..5, 0u64..3000);
    let od = (prop::collection::vec(sco, 1..4), 0i64..3600, 1u64..3);
    prop::collection::vec(od, 1..6).prop_map(|ods| {
        ods.into_iter()
            .enumerate()
            .map(|(i, (scos, start, n))| {
                let ts = format!(
                    "2024-06-01T{:02}:{:02}:{:02}Z",
                    start / 3600,
                    (start / 60) % 60,
                    start % 60
                );
                let mut objects = Vec::new();
                let mut refs = Vec::new();
                for (j, (t, v, size)) in scos.into_iter().enumerate() {
                    let (kind, body) = match t {
                        0 => ("domain-name", json!({"value": DOMAINS[v % DOMAINS.len()]})),
                        1 => {
                            let ip = IPS[v % IPS.len()];
                            let kind = if ip.contains(':') {
                                "ipv6-addr"
                            } else {
                                "ipv4-addr"
                            };
                            (kind, json!({"value": ip}))
                        }
                        2 => ("url", json!({"value": URLS[v % URLS.len()]})),
                        _ => (
                            "file",
                            json!({"hashes": {"MD5": MD5[v % MD5.len()]}, "size": size}),
                        ),
                    };
                    let id = format!("{kind}--{i}-{j}");
                    let mut o = json!({"type": kind, "id": id});
                    if let (Some(o), Value::Object(b)) = (o.as_object_mut(), body) {
                        o.extend(b);
                    }
                    refs.push(id);
                    objects.push(o);
                }
                objects.insert(
                    0,
                    json!({"type": "observed-data", "id": format!("observed-data--{i}"),
                           "first_observed": ts, "last_observed": ts,
                           "number_observed": n, "object_refs": refs}),
                );
                json!({"type": "bundle", "id": format!("bundle--{i}"), "objects": objects})
            })
            .collect()
    })
}

const OPTIONS: [MatchOptions; 3] = [
    MatchOptions::STRICT,
    MatchOptions::scanner(true),
    MatchOptions::scanner(false),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn every_match_holds_a_required_atom(p in pattern(), bundles in observations()) {
        let parsed = parse(&p, StixVersion::V21).unwrap();
        let Ok(atoms) = observable::required(&parsed.expr) else {
            return Ok(());
        };
        prop_assert!(!atoms.is_empty());
        let all = Value::Array(bundles.clone());
        let set = ObservationSet::from_json(&all, StixVersion::V21).unwrap();
        for opts in OPTIONS {
            let Ok(outcome) = evaluate_with(&parsed, &set, &opts) else {
                continue;
            };
            for &o in &outcome.observations {
                let one = Value::Array(vec![bundles[o].clone()]);
                let alone = ObservationSet::from_json(&one, StixVersion::V21).unwrap();
                let held = atoms.iter().any(|(t, _)| {
                    let atom = parse(&format!("[{t}]"), StixVersion::V21).unwrap();
                    evaluate_with(&atom, &alone, &opts).is_ok_and(|r| r.matched())
                });
                prop_assert!(held, "{:?}: observation {} of a match of {} holds none of {:?}",
                    opts, o, p, atoms.iter().map(|(t, _)| t.to_string()).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn compiled_matcher_agrees_with_evaluator_under_options(
        patterns in prop::collection::vec(pattern(), 1..8),
        bundles in observations(),
    ) {
        let all = Value::Array(bundles);
        let set = ObservationSet::from_json(&all, StixVersion::V21).unwrap();
        for opts in OPTIONS {
            let m = Matcher::compile_with(&patterns, StixVersion::V21, opts);
            for (p, got) in patterns.iter().zip(m.evaluate(&set)) {
                let parsed = parse(p, StixVersion::V21).unwrap();
                let want = evaluate_with(&parsed, &set, &opts);
                prop_assert_eq!(
                    got.map(|o| o.observations).map_err(|e| e.to_string()),
                    want.map(|o| o.observations).map_err(|e| e.to_string()),
                    "{:?} {}", opts, p
                );
            }
        }
    }
}

#[test]
fn options_change_what_equality_means() {
    let data = json!([{"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "observed-data", "id": "observed-data--1", "first_observed": "2024-06-01T00:00:00Z",
         "last_observed": "2024-06-01T00:00:00Z", "number_observed": 1,
         "object_refs": ["domain-name--1", "url--1", "ipv4-addr--1", "file--1"]},
        {"type": "domain-name", "id": "domain-name--1", "value": "www.evil.example"},
        {"type": "url", "id": "url--1", "value": "HTTPS://EVIL.example:443/a"},
        {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "10.1.2.3"},
        {"type": "file", "id": "file--1", "hashes": {"MD5": MD5[1]}}]}]);
    let set = ObservationSet::from_json(&data, StixVersion::V21).unwrap();
    for (p, strict, scanner, exact) in [
        ("[domain-name:value = 'Evil.example']", false, true, false),
        ("[domain-name:value = 'www.evil.example']", true, true, true),
        ("[domain-name:value != 'evil.example']", true, false, true),
        ("[url:value = 'http://evil.example/a']", false, true, true),
        ("[ipv4-addr:value = '10.0.0.0/8']", false, true, true),
        (
            "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
            false,
            true,
            true,
        ),
        (
            "[domain-name:value IN ('evil.example', 'x.example')]",
            false,
            true,
            false,
        ),
        ("[domain-name:value LIKE 'Evil%']", false, false, false),
    ] {
        let parsed = parse(p, StixVersion::V21).unwrap();
        for (opts, want) in [
            (MatchOptions::STRICT, strict),
            (MatchOptions::scanner(true), scanner),
            (MatchOptions::scanner(false), exact),
        ] {
            let got = evaluate_with(&parsed, &set, &opts).unwrap().matched();
            assert_eq!(got, want, "{p} {opts:?}");
            let m = Matcher::compile_with(&[p], StixVersion::V21, opts);
            assert_eq!(
                m.matches(&set).len(),
                usize::from(want),
                "{p} {opts:?} compiled"
            );
        }
    }
}
