//! Replays the 1,011 recorded calls of the OASIS peer suites (golden corpus recorded from the
//! reference implementations) through the library and compares every answer.

use detente_pattern::{Error, Matcher, ObservationSet, StixVersion, match_json, validate};
use serde_json::Value;

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/stix-patterning/golden-ref.jsonl"
);

/// The compiled multi-pattern matcher on a one-pattern set.
fn compiled(
    pattern: &str,
    observed: &Value,
    v: StixVersion,
) -> Result<detente_pattern::MatchOutcome, Error> {
    let m = Matcher::compile(&[pattern], v);
    if let Some(e) = m.compile_error(0) {
        return Err(e.clone());
    }
    let set = ObservationSet::from_json(observed, v)?;
    m.evaluate(&set).remove(0)
}

#[test]
fn golden_corpus() {
    replay(false);
}

#[test]
fn golden_corpus_compiled_matcher() {
    replay(true);
}

fn replay(use_matcher: bool) {
    let text = std::fs::read_to_string(GOLDEN).expect("golden corpus present in testdata/");
    let mut failures = Vec::new();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let rec: Value = serde_json::from_str(line).unwrap();
        let req = &rec["request"];
        let want = &rec["response"];
        let pattern = req["pattern"].as_str().unwrap();
        let version =
            |d: &str| StixVersion::from_str_opt(req["stix_version"].as_str().unwrap_or(d)).unwrap();
        n += 1;
        let got = match rec["cmd"].as_str().unwrap() {
            "match-batch" => match if use_matcher {
                compiled(pattern, &req["observed"], version("2.0"))
            } else {
                match_json(pattern, &req["observed"], version("2.0"))
            } {
                Ok(o) if o.matched() => {
                    serde_json::json!({"matched": true, "observations": o.observations})
                }
                Ok(_) => serde_json::json!({"matched": false}),
                Err(Error::Parse(_)) => serde_json::json!({"error": "parse", "kind": "parse"}),
                Err(Error::Match(_)) => serde_json::json!({"error": "match", "kind": "match"}),
            },
            _ => serde_json::json!({"valid": validate(pattern, version("2.1")).is_ok()}),
        };
        let same = if want.get("error").is_some() {
            got.get("kind") == want.get("kind")
        } else if want.get("valid").is_some() {
            got["valid"] == want["valid"]
        } else {
            got["matched"] == want["matched"]
                && (want["matched"] != true || got["observations"] == want["observations"])
        };
        if !same {
            failures.push(format!("{}: want {want} got {got}", rec["nodeid"]));
        }
    }
    assert_eq!(n, 1011, "golden corpus size");
    assert!(
        failures.is_empty(),
        "{} of {n} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn binding_span_bounds_what_a_stream_window_must_hold() {
    use detente_pattern::{StixVersion, binding_span, parse};
    let span = |p: &str| binding_span(&parse(p, StixVersion::V21).unwrap().expr);
    assert_eq!(span("[a:b = 1]"), Some(0));
    assert_eq!(span("[a:b = 1] OR [a:b = 2]"), Some(0));
    assert_eq!(span("[a:b = 1] FOLLOWEDBY [a:b = 2]"), None);
    assert_eq!(span("[a:b = 1] AND [a:b = 2]"), None);
    assert_eq!(span("[a:b = 1] REPEATS 2 TIMES"), None);
    assert_eq!(span("[a:b = 1] REPEATS 1 TIMES"), Some(0));
    assert_eq!(
        span("([a:b = 1] FOLLOWEDBY [a:b = 2]) WITHIN 300 SECONDS"),
        Some(300_000_000)
    );
    assert_eq!(
        span("(([a:b = 1] AND [a:b = 2]) WITHIN 5 SECONDS) WITHIN 60 SECONDS"),
        Some(5_000_000)
    );
    assert_eq!(
        span("[a:b = 1] FOLLOWEDBY [a:b = 2] WITHIN 5 SECONDS"),
        None,
        "WITHIN binds tighter than FOLLOWEDBY"
    );
    assert_eq!(
        span(
            "([a:b = 1] FOLLOWEDBY [a:b = 2]) START t'2020-01-01T00:00:00Z' STOP t'2020-01-01T00:01:00Z'"
        ),
        Some(60_000_000)
    );
    assert_eq!(
        span("[a:b = 1] START t'2020-01-01T00:00:00Z' STOP t'2020-01-01T00:01:00Z'"),
        Some(0),
        "one observation spans nothing"
    );
}
