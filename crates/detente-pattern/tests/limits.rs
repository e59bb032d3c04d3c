//! Pathological inputs end with an error in bounded time instead of running for hours.

use detente_pattern::{Error, StixVersion, match_json};
use serde_json::json;

#[test]
fn huge_number_observed_with_impossible_followedby_is_bounded() {
    let data = json!([
        {"type": "observed-data", "number_observed": 1_000_000_000u64,
         "first_observed": "2020-01-02T00:00:00Z", "last_observed": "2020-01-02T00:00:00Z",
         "objects": {"0": {"type": "file", "name": "late"}}},
        {"type": "observed-data", "number_observed": 1_000_000_000u64,
         "first_observed": "2020-01-01T00:00:00Z", "last_observed": "2020-01-01T00:00:00Z",
         "objects": {"0": {"type": "file", "name": "early"}}}
    ]);
    let started = std::time::Instant::now();
    let r = match_json(
        "[file:name = 'late'] FOLLOWEDBY [file:name = 'early']",
        &data,
        StixVersion::V20,
    );
    assert!(matches!(r, Err(Error::Match(_))), "{r:?}");
    assert!(started.elapsed().as_secs() < 60);
    // The same data still matches quickly when a binding exists.
    let ok = match_json(
        "[file:name = 'early'] FOLLOWEDBY [file:name = 'late']",
        &data,
        StixVersion::V20,
    )
    .unwrap();
    assert_eq!(ok.observations, vec![0, 1]);
}

#[test]
fn huge_repeat_count_is_bounded_in_time_and_memory() {
    let data = json!([{"type": "observed-data", "number_observed": 4_000_000_000u64,
        "first_observed": "2020-01-01T00:00:00Z", "last_observed": "2020-01-01T00:00:00Z",
        "objects": {"0": {"type": "file", "name": "x"}}}]);
    let started = std::time::Instant::now();
    let r = match_json(
        "[file:name = 'x'] REPEATS 9000000000 TIMES",
        &data,
        StixVersion::V20,
    );
    assert!(matches!(r, Err(Error::Match(_))), "{r:?}");
    assert!(started.elapsed().as_secs() < 60);
}
