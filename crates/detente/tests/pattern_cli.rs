//! `detente pattern`: the JSON-lines protocol (answers streamed line by line, ids echoed,
//! typed errors) and `match-all` output.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use serde_json::{Value, json};
use support::{Process, command};

#[test]
fn match_batch_answers_each_line_before_the_next_arrives() {
    let mut cmd = command();
    cmd.args(["pattern", "match-batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = Process::spawn(&mut cmd);
    let mut stdin = child.child.stdin.take().unwrap();
    let mut out = BufReader::new(child.child.stdout.take().unwrap());
    let observed = json!([{"type": "observed-data", "number_observed": 1,
        "first_observed": "2020-01-01T00:00:00Z", "last_observed": "2020-01-01T00:00:00Z",
        "objects": {"0": {"type": "ipv4-addr", "value": "10.0.0.1"}}}]);
    let cases = [
        (
            json!({"id": 7, "pattern": "[ipv4-addr:value = '10.0.0.1']", "observed": observed}),
            json!({"id": 7, "matched": true, "observations": [0]}),
        ),
        (
            json!({"id": 8, "pattern": "[ipv4-addr:value = '10.0.0.2']", "observed": observed}),
            json!({"id": 8, "matched": false}),
        ),
        (
            json!({"id": 9, "pattern": "[ipv4-addr:value = ]", "observed": observed}),
            json!({"id": 9, "kind": "parse"}),
        ),
        (
            json!({"id": 10, "pattern": "[ipv4-addr:value = 'x'] WITHIN 0 SECONDS", "observed": observed}),
            json!({"id": 10, "kind": "match"}),
        ),
    ];
    for (req, want) in cases {
        // One request at a time: a reply must come without closing stdin (flush per line).
        writeln!(stdin, "{req}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let got: Value = serde_json::from_str(&line).unwrap();
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&got[k], v, "{req} -> {got}");
        }
        if want.get("kind").is_some() {
            assert!(got["error"].is_string(), "{got}");
        }
    }
    drop(stdin);
    assert!(child.child.wait().unwrap().success());
}

#[test]
fn validate_batch_defaults_to_2_1() {
    let out = command()
        .args(["pattern", "validate-batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            let mut i = c.stdin.take().unwrap();
            writeln!(i, "{}", json!({"id": 1, "pattern": "[a:b = 1] WITHIN 5 SECONDS WITHIN 6 SECONDS"}))?;
            writeln!(i, "{}", json!({"id": 2, "pattern": "[a:b = 1] WITHIN 5 SECONDS WITHIN 6 SECONDS", "stix_version": "2.0"}))?;
            writeln!(i, "{}", json!({"id": 3, "pattern": "[file:hashes.MD5 = 'f00']"}))?;
            drop(i);
            c.wait_with_output()
        })
        .unwrap();
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let valid: Vec<(i64, bool)> = lines
        .iter()
        .map(|l| (l["id"].as_i64().unwrap(), l["valid"].as_bool().unwrap()))
        .collect();
    assert_eq!(valid, vec![(1, false), (2, true), (3, false)]);
}

#[test]
fn match_all_writes_one_line_per_indicator_in_order() {
    let dir = std::env::temp_dir().join(format!("detente-pattern-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let inds = dir.join("indicators.jsonl");
    let obs = dir.join("observations.jsonl");
    let outp = dir.join("out.jsonl");
    let indicators = [
        ("indicator--1", "[domain-name:value = 'evil.example']"),
        ("indicator--2", "[ipv4-addr:value = '203.0.113.9']"),
        (
            "indicator--3",
            "[domain-name:value = 'evil.example'] FOLLOWEDBY [ipv4-addr:value ISSUBSET '10.0.0.0/8']",
        ),
        ("indicator--4", "[broken"),
    ];
    let text: String = indicators
        .iter()
        .map(|(id, p)| format!("{}\n", json!({"id": id, "pattern": p})))
        .collect();
    std::fs::write(&inds, text).unwrap();
    let bundle = |i: u32, t: &str, sco: Value| {
        json!({"type": "bundle", "id": format!("bundle--{i}"), "objects": [
            {"type": "observed-data", "id": format!("observed-data--{i}"), "number_observed": 1,
             "first_observed": t, "last_observed": t, "object_refs": [sco["id"].clone()]},
            sco]})
    };
    let lines = [
        bundle(
            1,
            "2024-06-01T00:00:00Z",
            json!({"type": "domain-name", "id": "domain-name--1", "value": "evil.example"}),
        ),
        bundle(
            2,
            "2024-06-01T00:10:00Z",
            json!({"type": "ipv4-addr", "id": "ipv4-addr--2", "value": "10.1.1.1"}),
        ),
    ];
    std::fs::write(
        &obs,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let status = command()
        .args(["pattern", "match-all", "--indicators"])
        .arg(&inds)
        .arg("--observations")
        .arg(&obs)
        .arg("--output")
        .arg(&outp)
        .status()
        .unwrap();
    assert!(status.success());
    let got: Vec<(String, bool)> = std::fs::read_to_string(&outp)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["matched"].as_bool().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, bool)> = [true, false, true, false]
        .iter()
        .zip(indicators)
        .map(|(m, (id, _))| (id.to_string(), *m))
        .collect();
    assert_eq!(got, want);
    std::fs::remove_dir_all(&dir).unwrap();
}
