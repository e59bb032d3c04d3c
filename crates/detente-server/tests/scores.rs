//! Corroboration and scores through a real node (`GET …/collections/{id}/scores/`, issue 14):
//! one contributor alone never reaches K = 2, two distinct members do, the same member twice
//! does not; scores decay with the indicator's age as MISP's model says; false-positive
//! sightings posted by members lower the score once per reporting member.

mod common;

use common::{COLL, Node, start};
use detente_indicator::object::parse_timestamp;
use detente_store::{Access, Clearance, Role};
use detente_taxii::time::format_micros;
use serde_json::{Value, json};

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_millis()).unwrap()
}

/// An indicator `n` for `value`, last modified `age_days` ago.
fn indicator(n: u32, value: &str, age_days: i64, extra: Value) -> Value {
    let at = format_micros((now_ms() - age_days * DAY_MS) * 1000);
    let mut o = json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": at, "modified": at, "valid_from": at,
        "pattern": format!("[domain-name:value = '{value}']"), "pattern_type": "stix"
    });
    if let (Value::Object(o), Value::Object(e)) = (&mut o, extra) {
        o.extend(e);
    }
    o
}

/// A false-positive sighting `n` of `of`.
fn report(n: u32, of: &str, extra: Value) -> Value {
    let at = format_micros((now_ms() - 1000) * 1000);
    let mut o = json!({
        "type": "sighting", "spec_version": "2.1",
        "id": format!("sighting--00000000-0000-4000-8000-{n:012}"),
        "created": at, "modified": at, "sighting_of_ref": of,
        "x_detente_false_positive": true
    });
    if let (Value::Object(o), Value::Object(e)) = (&mut o, extra) {
        o.extend(e);
    }
    o
}

fn id(n: u32) -> String {
    format!("indicator--00000000-0000-4000-8000-{n:012}")
}

/// The scores `who` sees, by indicator id: (contributors, false positives, score), and the
/// computation time in Unix seconds.
fn scores(n: &Node, who: &str) -> (std::collections::BTreeMap<String, (u64, u64, f64)>, Value) {
    let (st, body) = n.call(
        "GET",
        &format!("/api/collections/{COLL}/scores/"),
        who,
        None,
    );
    assert_eq!(st, 200, "{who}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let rows = v["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["indicator"].as_str().unwrap().to_owned(),
                (
                    r["contributors"].as_u64().unwrap(),
                    r["false_positives"].as_u64().unwrap(),
                    r["score"].as_f64().unwrap(),
                ),
            )
        })
        .collect();
    (rows, v)
}

fn node() -> Node {
    let spec = |name: &str, role, clearance, grant| (name.to_owned(), role, clearance, grant);
    start(&[
        spec(
            "alice",
            Role::Contributor,
            Clearance::AMBER,
            Some(Access::ReadWrite),
        ),
        spec(
            "bob",
            Role::Contributor,
            Clearance::AMBER,
            Some(Access::ReadWrite),
        ),
        spec(
            "carol",
            Role::Contributor,
            Clearance::GREEN,
            Some(Access::ReadWrite),
        ),
        spec("dave", Role::Reader, Clearance::AMBER, Some(Access::Read)),
    ])
}

#[test]
fn corroboration_counts_distinct_members_not_objects_or_claims() {
    let n = node();
    // alice alone, twice, once claiming to be someone else: one contributor.
    let forged = json!({"created_by_ref": "identity--00000000-0000-4000-8000-0000000000b0"});
    for (k, extra) in [(1, json!({})), (2, forged)] {
        let st = n.post("alice", &[indicator(k, "evil.example", 1, extra)]);
        assert_eq!(st["failure_count"], 0, "{st}");
    }
    let (rows, _) = scores(&n, "dave");
    assert_eq!(rows[&id(1)].0, 1, "{rows:?}");
    assert_eq!(rows[&id(2)].0, 1, "{rows:?}");
    // bob carries the same value, written differently: two contributors, on every row of it.
    let st = n.post("bob", &[indicator(3, "EVIL.example.", 1, json!({}))]);
    assert_eq!(st["failure_count"], 0, "{st}");
    let (rows, _) = scores(&n, "dave");
    for k in 1..=3 {
        assert_eq!(rows[&id(k)].0, 2, "{k}: {rows:?}");
    }
    // A revoked indicator corroborates nothing.
    let mut revoked = indicator(3, "EVIL.example.", 1, json!({"revoked": true}));
    revoked["modified"] = json!(format_micros(now_ms() * 1000));
    let st = n.post("bob", &[revoked]);
    assert_eq!(st["failure_count"], 0, "{st}");
    let (rows, _) = scores(&n, "dave");
    assert_eq!(rows[&id(1)].0, 1, "{rows:?}");
    assert!(!rows.contains_key(&id(3)), "{rows:?}");
}

#[test]
fn scores_decay_with_age_as_misps_polynomial_says() {
    let n = node();
    // Base 80 (no confidence) fresh; 80 × (1 − √(30/120)) = 40 at 30 days; confidence 60
    // scores 30.50 at 29 days and 29.50 at 31, either side of the threshold (30) by a margin
    // that seconds of ageing cannot cross (exactly 30 flaked); past the 120-day lifetime: 0.
    let st = n.post(
        "alice",
        &[
            indicator(1, "a.example", 0, json!({})),
            indicator(2, "b.example", 30, json!({})),
            indicator(3, "c.example", 29, json!({"confidence": 60})),
            indicator(4, "d.example", 200, json!({})),
            indicator(5, "e.example", 31, json!({"confidence": 60})),
        ],
    );
    assert_eq!(st["failure_count"], 0, "{st}");
    let (rows, v) = scores(&n, "dave");
    assert_eq!(v["model"]["lifetime_days"], 120.0);
    assert!(parse_timestamp(v["time"].as_str().unwrap()).is_some());
    let score = |k| rows[&id(k)].2;
    assert!((score(1) - 80.0).abs() <= 0.2, "{rows:?}");
    assert!((score(2) - 40.0).abs() <= 0.2, "{rows:?}");
    assert!((score(3) - 30.50).abs() <= 0.05, "{rows:?}");
    assert_eq!(score(4), 0.0, "{rows:?}");
    assert!((score(5) - 29.50).abs() <= 0.05, "{rows:?}");
    let below: Vec<bool> = v["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["below_threshold"].as_bool().unwrap())
        .collect();
    assert_eq!(below, [false, false, false, true, true]);
}

#[test]
fn false_positive_sightings_lower_the_score_once_per_member_who_may_see_them() {
    let n = node();
    let st = n.post("alice", &[indicator(1, "cdn.example", 0, json!({}))]);
    assert_eq!(st["failure_count"], 0, "{st}");
    let fresh = scores(&n, "dave").0[&id(1)];
    assert_eq!((fresh.1, fresh.2), (0, 80.0));
    // bob reports it twice (once posing as someone else): one party, half the score.
    let forged = json!({"created_by_ref": "identity--00000000-0000-4000-8000-0000000000b0"});
    let st = n.post(
        "bob",
        &[report(1, &id(1), json!({})), report(2, &id(1), forged)],
    );
    assert_eq!(st["failure_count"], 0, "{st}");
    let once = scores(&n, "dave").0[&id(1)];
    assert_eq!(once.1, 1);
    assert!((once.2 - 40.0).abs() <= 0.2, "{once:?}");
    // carol's report is AMBER (carol may post it, not read it back): the AMBER readers see two
    // parties, carol (GREEN) sees only bob's.
    let amber = json!({"object_marking_refs": ["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"]});
    let st = n.post("carol", &[report(3, &id(1), amber)]);
    assert_eq!(st["failure_count"], 0, "{st}");
    let twice = scores(&n, "dave").0[&id(1)];
    assert_eq!(twice.1, 2, "{twice:?}");
    assert!((twice.2 - 20.0).abs() <= 0.2, "{twice:?}");
    let green = scores(&n, "carol").0[&id(1)];
    assert_eq!(green.1, 1, "{green:?}");
    assert!((green.2 - 40.0).abs() <= 0.2, "{green:?}");
    // A report that is not one, and a report of another indicator, change nothing.
    let st = n.post(
        "alice",
        &[
            report(4, &id(1), json!({"x_detente_false_positive": false})),
            report(5, &id(9), json!({})),
        ],
    );
    assert_eq!(st["failure_count"], 0, "{st}");
    assert_eq!(scores(&n, "dave").0[&id(1)], twice);
}
