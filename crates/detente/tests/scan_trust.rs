//! `detente scan` trust rules (issue 14): corroboration by distinct contributors, MISP's
//! polynomial decay, STIX `confidence`, false-positive sightings and `valid_until`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use detente_scan::sighting::rfc3339_millis;

const BIN: &str = env!("CARGO_BIN_EXE_detente");
const DAY_MS: i64 = 86_400_000;

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("scan")
        .args(args)
        .current_dir(dir)
        .env("DETENTE_STATE_DIR", dir.join("state"))
        .output()
        .unwrap()
}

fn hits(o: &Output) -> Vec<serde_json::Value> {
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A domain-name indicator; `extra` adds properties.
fn indicator(n: u32, domain: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z",
        "pattern": format!("[domain-name:value = '{domain}']"), "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
    });
    if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

fn bundle(dir: &Path, name: &str, objects: Vec<serde_json::Value>) {
    let b = serde_json::json!({"type": "bundle", "id": "bundle--1", "objects": objects});
    std::fs::write(dir.join(name), b.to_string()).unwrap();
}

/// The hit on `domain`, which must be the only one.
fn on<'a>(h: &'a [serde_json::Value], domain: &str) -> &'a serde_json::Value {
    let mut it = h.iter().filter(|x| x["observed"] == domain);
    let x = it
        .next()
        .unwrap_or_else(|| panic!("no hit on {domain}: {h:?}"));
    assert!(it.next().is_none(), "{h:?}");
    x
}

#[test]
fn one_contributor_alone_never_alerts_at_k2() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let a = serde_json::json!({"created_by_ref": "identity--00000000-0000-4000-8000-00000000000a"});
    let b = serde_json::json!({"created_by_ref": "identity--00000000-0000-4000-8000-00000000000b"});
    // Partner A says evil.example twice (two indicators, two files); A and B both say
    // shared.example; B's other file says nothing about who wrote it.
    bundle(
        p,
        "a1.json",
        vec![
            indicator(1, "evil.example", a.clone()),
            indicator(2, "shared.example", a.clone()),
        ],
    );
    bundle(p, "a2.json", vec![indicator(3, "evil.example", a.clone())]);
    bundle(p, "b.json", vec![indicator(4, "shared.example", b)]);
    bundle(
        p,
        "anon.json",
        vec![
            indicator(5, "anon.example", serde_json::json!({})),
            indicator(6, "anon.example", serde_json::json!({})),
        ],
    );
    std::fs::write(
        p.join("a.log"),
        "evil.example\nshared.example\nanon.example\n",
    )
    .unwrap();
    let srcs = [
        "--indicators",
        "a1.json",
        "--indicators",
        "a2.json",
        "--indicators",
        "b.json",
        "--indicators",
        "anon.json",
    ];
    let k2 = hits(&run(
        p,
        &[&srcs[..], &["--min-corroboration", "2", "a.log"]].concat(),
    ));
    let evil: Vec<_> = k2
        .iter()
        .filter(|x| x["observed"] == "evil.example")
        .collect();
    assert_eq!(evil.len(), 2, "{k2:?}");
    assert!(
        evil.iter()
            .all(|x| x["action"] == "inform" && x["contributors"] == 1),
        "{evil:?}"
    );
    let shared: Vec<_> = k2
        .iter()
        .filter(|x| x["observed"] == "shared.example")
        .collect();
    assert_eq!(shared.len(), 2);
    assert!(
        shared
            .iter()
            .all(|x| x["action"] == "alert" && x["contributors"] == 2)
    );
    // Unattributed indicators of one file are one contributor.
    assert!(
        k2.iter()
            .filter(|x| x["observed"] == "anon.example")
            .all(|x| x["action"] == "inform" && x["contributors"] == 1)
    );
    // K = 1 (the default) alerts on all and counts nothing.
    let k1 = hits(&run(p, &[&srcs[..], &["a.log"]].concat()));
    assert_eq!(k1.len(), 6);
    assert!(
        k1.iter()
            .all(|x| x["action"] == "alert" && x.get("contributors").is_none())
    );
    let o = run(
        p,
        &[&srcs[..], &["--min-corroboration", "0", "a.log"]].concat(),
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn scores_decay_drop_with_false_positives_and_expire() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let ago = |days: i64| serde_json::Value::String(rfc3339_millis(now - days * DAY_MS));
    let fp = |n: u32, by: &str| {
        serde_json::json!({
            "type": "sighting", "spec_version": "2.1",
            "id": format!("sighting--00000000-0000-4000-8000-{n:012}"),
            "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z",
            "sighting_of_ref": "indicator--00000000-0000-4000-8000-000000000004",
            "created_by_ref": by, "x_detente_false_positive": true,
        })
    };
    bundle(
        p,
        "ind.json",
        vec![
            indicator(1, "fresh.example", serde_json::json!({"modified": ago(1)})),
            indicator(2, "old.example", serde_json::json!({"modified": ago(60)})),
            indicator(3, "doubted.example", serde_json::json!({"confidence": 20})),
            indicator(
                4,
                "reported.example",
                serde_json::json!({"modified": ago(1)}),
            ),
            indicator(
                5,
                "expired.example",
                serde_json::json!({"valid_until": ago(1)}),
            ),
        ],
    );
    // Two parties report indicator 4 as a false positive, one of them twice: a score of
    // 80 / 2 / 2 = 20 (the sightings come in a separate file).
    bundle(
        p,
        "fp.json",
        vec![
            fp(1, "identity--00000000-0000-4000-8000-00000000000b"),
            fp(2, "identity--00000000-0000-4000-8000-00000000000c"),
            fp(3, "identity--00000000-0000-4000-8000-00000000000c"),
        ],
    );
    std::fs::write(
        p.join("a.log"),
        "fresh.example\nold.example\ndoubted.example\nreported.example\nexpired.example\n",
    )
    .unwrap();
    let srcs = ["--indicators", "ind.json", "--indicators", "fp.json"];
    let score = |x: &serde_json::Value| x["score"].as_f64().unwrap();

    let flat = hits(&run(p, &[&srcs[..], &["a.log"]].concat()));
    assert_eq!(flat.len(), 4, "{flat:?}");
    assert!(flat.iter().all(|x| x["observed"] != "expired.example"));
    assert_eq!(score(on(&flat, "old.example")), 80.0);
    assert_eq!(on(&flat, "old.example")["action"], "alert");
    assert_eq!(score(on(&flat, "doubted.example")), 20.0);
    assert_eq!(on(&flat, "doubted.example")["action"], "inform");
    assert_eq!(score(on(&flat, "reported.example")), 20.0);
    assert_eq!(on(&flat, "reported.example")["action"], "inform");

    // MISP's NIDS model (τ = 120 days, δ = 2): after 60 days 80 × (1 − √½) ≈ 23.4 < 30;
    // after 1 day 80 × (1 − √(1/120)) ≈ 72.7.
    let aged = hits(&run(p, &[&srcs[..], &["--decay", "a.log"]].concat()));
    let old = on(&aged, "old.example");
    assert!((score(old) - 23.4).abs() < 0.11, "{old}");
    assert_eq!(old["action"], "inform");
    let fresh = on(&aged, "fresh.example");
    assert!((score(fresh) - 72.7).abs() < 0.11, "{fresh}");
    assert_eq!(fresh["action"], "alert");
    // A longer lifetime and a lower threshold bring the old one back.
    let lenient = hits(&run(
        p,
        &[
            &srcs[..],
            &[
                "--decay",
                "--decay-lifetime",
                "365",
                "--score-threshold",
                "20",
                "a.log",
            ],
        ]
        .concat(),
    ));
    assert_eq!(on(&lenient, "old.example")["action"], "alert");
}
