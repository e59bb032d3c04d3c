//! Evaluation must never panic: the first line is the pattern, the rest the observations
//! (a JSON list of STIX 2.1 bundles, or of 2.0 observed-data when it starts with `0`).
#![no_main]

use detente_pattern::{Matcher, ObservationSet, StixVersion, evaluate, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, rest) = text.split_once('\n').unwrap_or((text, "[]"));
    let (version, json) = match rest.strip_prefix('0') {
        Some(r) => (StixVersion::V20, r),
        None => (StixVersion::V21, rest),
    };
    let Ok(observed) = serde_json::from_str::<serde_json::Value>(json) else {
        return;
    };
    let Ok(set) = ObservationSet::from_json(&observed, version) else {
        return;
    };
    if let Ok(p) = parse(pattern, version) {
        let _ = evaluate(&p, &set);
    }
    let _ = Matcher::compile(&[pattern], version).evaluate(&set);
});
