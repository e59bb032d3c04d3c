//! `detente scan` against a real node: indicators fetched from a collection with a `taxii:`
//! source, sightings pushed back with `--push` (look-alikes of `--protected` domains too, with
//! their generated indicators), and read back through TAXII.

mod support;

use std::path::Path;
use support::{Node, TAXII, basic, command};

const BUNDLE: &str = r#"{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[
 {"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[domain-name:value = 'evil.com']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"},
 {"type":"indicator","spec_version":"2.1","id":"indicator--9e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '10.0.0.0/8']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}
]}"#;

fn detente(args: &[&str], dir: &Path, secret: &str) -> std::process::Output {
    command()
        .args(args)
        .current_dir(dir)
        .env("DETENTE_USER", "admin")
        .env("DETENTE_SECRET", secret)
        .env("DETENTE_STATE_DIR", dir.join("state"))
        .output()
        .unwrap()
}

#[test]
fn indicators_from_a_collection_and_sightings_pushed_back() {
    let dir = support::tempdir();
    let data = dir.path().join("node");
    let node = Node::start(&data, &[], &[]);
    let creds = std::fs::read_to_string(data.join("admin.credentials")).unwrap();
    let secret = creds.trim().strip_prefix("admin:").unwrap().to_string();
    let d = dir.path();
    let data_s = data.to_str().unwrap();

    let out = detente(
        &["collection", "add", "--title", "intel", "--data", data_s],
        d,
        &secret,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let collection = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    let out = detente(
        &[
            "collection",
            "grant",
            &collection,
            "admin",
            "read-write",
            "--data",
            data_s,
        ],
        d,
        &secret,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::write(d.join("bundle.json"), BUNDLE).unwrap();
    let api_root = format!("http://{}/api/", node.addr);
    let out = detente(
        &[
            "push",
            "bundle.json",
            "--url",
            &api_root,
            "--collection",
            &collection,
            "--user",
            "admin",
        ],
        d,
        &secret,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::write(
        d.join("sys.log"),
        "Nov 27 01:00:00 host sshd[1]: connection from 10.1.2.3 to a.evil.com\n\
         Nov 27 01:00:01 host x: notevil.com\n\
         Nov 27 01:00:02 host x: visit sos-ca-gov.com\n",
    )
    .unwrap();
    std::fs::write(d.join("protected.txt"), "sos.ca.gov\n").unwrap();
    let source = format!("taxii:{api_root}#{collection}");
    let scan = || {
        detente(
            &[
                "scan",
                "--indicators",
                &source,
                "--protected",
                "protected.txt",
                "--push",
                &api_root,
                "--collection",
                &collection,
                "sys.log",
            ],
            d,
            &secret,
        )
    };
    let out = scan();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hits: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut got: Vec<(String, String)> = hits
        .iter()
        .map(|h| {
            (
                h["observed"].as_str().unwrap().into(),
                h["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("10.1.2.3".into(), "cidr".into()),
            ("a.evil.com".into(), "subdomain".into()),
            ("sos-ca-gov.com".into(), "lookalike".into())
        ]
    );
    let lookalike = hits.iter().find(|h| h["kind"] == "lookalike").unwrap();
    assert_eq!(lookalike["protected"], "sos.ca.gov");
    assert_eq!(lookalike["technique"], "various");
    let generated = lookalike["indicator_id"].as_str().unwrap();

    // The sightings are now in the collection, one per indicator that fired.
    let envelope = get_json(
        &format!("{api_root}collections/{collection}/objects/?match%5Btype%5D=sighting"),
        &secret,
    );
    let mut sighted: Vec<&str> = envelope["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sighting_of_ref"].as_str().unwrap())
        .collect();
    sighted.sort();
    let mut want = vec![
        "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "indicator--9e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        generated,
    ];
    want.sort();
    assert_eq!(sighted, want);
    // The generated indicator is stored beside them; partners' scanners do not evaluate it.
    let ind = get_json(
        &format!("{api_root}collections/{collection}/objects/{generated}/"),
        &secret,
    );
    assert_eq!(ind["objects"][0]["pattern"], "various:sos.ca.gov");
    assert_eq!(ind["objects"][0]["pattern_type"], "detente-lookalike");
    // Scanning again pushes the same indicator: the node has it already, the push succeeds.
    let again = scan();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // Sighted by the pushing member's identity on this node, which the node now holds too.
    let whoami = get_json(&format!("http://{}/whoami", node.addr), &secret);
    let me = whoami["identity"]["id"].as_str().unwrap();
    for s in envelope["objects"].as_array().unwrap() {
        assert_eq!(s["where_sighted_refs"], serde_json::json!([me]));
    }
    let stored = get_json(
        &format!("{api_root}collections/{collection}/objects/{me}/"),
        &secret,
    );
    assert_eq!(stored["objects"][0], whoami["identity"]);
}

/// GETs `url` as admin (TAXII media type accepted) and parses the JSON answer.
fn get_json(url: &str, secret: &str) -> serde_json::Value {
    let body = ureq::get(url)
        .header("Accept", TAXII)
        .header("Authorization", &basic(&format!("admin:{secret}")))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

/// Runs `detente ARGS` in `dir` as member `user` (secret `secret`).
fn as_member(args: &[&str], dir: &Path, user: &str, secret: &str) -> std::process::Output {
    command()
        .args(args)
        .current_dir(dir)
        .env("DETENTE_USER", user)
        .env("DETENTE_SECRET", secret)
        .env("DETENTE_STATE_DIR", dir.join(format!("state-{user}")))
        .output()
        .unwrap()
}

fn succeeded(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The node's scores as `user` sees them, by indicator id: (false positives, score).
fn node_scores(
    api_root: &str,
    collection: &str,
    credentials: &str,
) -> std::collections::BTreeMap<String, (u64, f64)> {
    let body = ureq::get(&format!("{api_root}collections/{collection}/scores/"))
        .header("Accept", TAXII)
        .header("Authorization", &basic(credentials))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["indicator"].as_str().unwrap().to_owned(),
                (
                    r["false_positives"].as_u64().unwrap(),
                    r["score"].as_f64().unwrap(),
                ),
            )
        })
        .collect()
}

/// False positives reach the node two ways and lower the score every reader sees: a member
/// posts a `sighting` marked `x_detente_false_positive` through TAXII, and `detente scan
/// --push` reports them (`--false-positive ID`, `--report-allowlisted`), instead of sighting
/// those indicators. A scan of the collection then reads the reports too.
#[test]
fn false_positive_reports_from_members_and_scan_push_lower_the_score() {
    let dir = support::tempdir();
    let d = dir.path();
    let data = d.join("node");
    let node = Node::start(&data, &[], &[]);
    let data_s = data.to_str().unwrap();
    let admin = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--data", data_s]);
        succeeded(as_member(&a, d, "admin", &node.admin_secret))
    };
    let collection = support::last_line(&admin(&["collection", "add", "--title", "intel"]));
    let mut secrets = std::collections::BTreeMap::new();
    for (name, role) in [
        ("alice", "contributor"),
        ("bob", "contributor"),
        ("carol", "reader"),
    ] {
        let out = admin(&["member", "add", name, "--role", role, "--tlp", "amber"]);
        secrets.insert(name, support::last_line(&out));
        let access = if role == "reader" {
            "read"
        } else {
            "read-write"
        };
        admin(&["collection", "grant", &collection, name, access]);
    }
    let api_root = format!("{}/api/", node.url);
    // alice shares three indicators, modified now (the node's scores decay from then).
    let now = detente_scan::sighting::rfc3339_millis(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap(),
    );
    let ind = |n: u32, value: &str| {
        serde_json::json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
            "created": now, "modified": now, "valid_from": now,
            "pattern": format!("[domain-name:value = '{value}']"), "pattern_type": "stix"
        })
    };
    let id = |n: u32| format!("indicator--00000000-0000-4000-8000-{n:012}");
    let bundle = serde_json::json!({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": [ind(1, "one.example"), ind(2, "two.example"), ind(3, "three.example")]});
    std::fs::write(d.join("alice.json"), bundle.to_string()).unwrap();
    succeeded(as_member(
        &[
            "push",
            "alice.json",
            "--url",
            &api_root,
            "--collection",
            &collection,
            "--user",
            "alice",
        ],
        d,
        "alice",
        &secrets["alice"],
    ));
    let carol = format!("carol:{}", secrets["carol"]);
    let fresh = node_scores(&api_root, &collection, &carol);
    for n in 1..=3 {
        assert_eq!(fresh[&id(n)], (0, 80.0), "{fresh:?}");
    }

    // bob posts a false-positive sighting of indicator 1 through TAXII.
    let report = serde_json::json!({"objects": [{
        "type": "sighting", "spec_version": "2.1",
        "id": "sighting--00000000-0000-4000-8000-000000000001",
        "created": now, "modified": now, "sighting_of_ref": id(1),
        "x_detente_false_positive": true
    }]});
    let r = ureq::post(&format!("{api_root}collections/{collection}/objects/"))
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .header("Authorization", &basic(&format!("bob:{}", secrets["bob"])))
        .send(report.to_string())
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let status: serde_json::Value = serde_json::from_str(&r).unwrap();
    assert_eq!(status["success_count"], 1, "{status}");
    let after_post = node_scores(&api_root, &collection, &carol);
    assert_eq!(after_post[&id(1)], (1, 40.0), "{after_post:?}");
    assert_eq!(after_post[&id(2)], (0, 80.0), "{after_post:?}");

    // bob scans a log where all three indicators hit: indicator 2 he reports by id, indicator
    // 3 only hits an allowlisted value; indicator 1 is sighted as usual.
    std::fs::write(
        d.join("dns.log"),
        "query one.example\nquery two.example\nquery three.example\n",
    )
    .unwrap();
    std::fs::write(d.join("allow.txt"), "three.example\n").unwrap();
    let source = format!("taxii:{api_root}#{collection}");
    let out = as_member(
        &[
            "scan",
            "--indicators",
            &source,
            "--allowlist",
            "allow.txt",
            "--false-positive",
            &id(2),
            "--report-allowlisted",
            "--push",
            &api_root,
            "--collection",
            &collection,
            "--format",
            "text",
            "dns.log",
        ],
        d,
        "bob",
        &secrets["bob"],
    );
    let hits = succeeded(out);
    // The scan read bob's own TAXII report: indicator 1 scores 40 in its hits.
    let one: serde_json::Value = hits
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|h| h["indicator_id"] == id(1).as_str())
        .unwrap();
    assert_eq!(one["score"], 40.0, "{hits}");
    let after_scan = node_scores(&api_root, &collection, &carol);
    assert_eq!(after_scan[&id(1)], (1, 40.0), "{after_scan:?}");
    assert_eq!(after_scan[&id(2)], (1, 40.0), "{after_scan:?}");
    assert_eq!(after_scan[&id(3)], (1, 40.0), "{after_scan:?}");
    // What bob pushed: a sighting of indicator 1 only, and two reports by his identity.
    let body = ureq::get(&format!(
        "{api_root}collections/{collection}/objects/?match%5Btype%5D=sighting"
    ))
    .header("Accept", TAXII)
    .header("Authorization", &basic(&carol))
    .call()
    .unwrap()
    .body_mut()
    .read_to_string()
    .unwrap();
    let envelope: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut pushed: Vec<(String, bool)> = envelope["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["id"] != "sighting--00000000-0000-4000-8000-000000000001")
        .map(|s| {
            (
                s["sighting_of_ref"].as_str().unwrap().to_owned(),
                s["x_detente_false_positive"] == true,
            )
        })
        .collect();
    pushed.sort();
    assert_eq!(pushed, [(id(1), false), (id(2), true), (id(3), true)]);
    // Reporting again is a new version of the same report: still one party.
    succeeded(as_member(
        &[
            "scan",
            "--indicators",
            &source,
            "--false-positive",
            &id(2),
            "--push",
            &api_root,
            "--collection",
            &collection,
            "--format",
            "text",
            "dns.log",
        ],
        d,
        "bob",
        &secrets["bob"],
    ));
    assert_eq!(
        node_scores(&api_root, &collection, &carol)[&id(2)],
        (1, 40.0)
    );
    // Without somewhere to send them, reports are refused.
    let out = as_member(
        &[
            "scan",
            "--indicators",
            &source,
            "--false-positive",
            &id(2),
            "dns.log",
        ],
        d,
        "bob",
        &secrets["bob"],
    );
    assert_eq!(out.status.code(), Some(2));
}

/// Corroboration on a `taxii:` source counts distinct members as the node knows them
/// (`…/scores/`), not `created_by_ref`: one member posting a value twice under two claimed
/// identities is one contributor (`inform` at `--min-corroboration 2`); a second member
/// posting it makes two (`alert`).
#[test]
fn taxii_corroboration_counts_members_as_the_node_does() {
    let dir = support::tempdir();
    let d = dir.path();
    let data = d.join("node");
    let node = Node::start(&data, &[], &[]);
    let data_s = data.to_str().unwrap();
    let admin = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--data", data_s]);
        succeeded(as_member(&a, d, "admin", &node.admin_secret))
    };
    let collection = support::last_line(&admin(&["collection", "add", "--title", "intel"]));
    let mut secrets = std::collections::BTreeMap::new();
    for (name, role, access) in [
        ("alice", "contributor", "read-write"),
        ("bob", "contributor", "read-write"),
        ("carol", "reader", "read"),
    ] {
        let out = admin(&["member", "add", name, "--role", role, "--tlp", "amber"]);
        secrets.insert(name, support::last_line(&out));
        admin(&["collection", "grant", &collection, name, access]);
    }
    let api_root = format!("{}/api/", node.url);
    let ind = |n: u32, by: &str| {
        serde_json::json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "valid_from": "2026-01-01T00:00:00Z", "created_by_ref": by,
            "pattern": "[domain-name:value = 'evil.example']", "pattern_type": "stix"
        })
    };
    let push = |who: &str, objects: Vec<serde_json::Value>| {
        let file = format!("{who}.json");
        let bundle = serde_json::json!({"type": "bundle",
            "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": objects});
        std::fs::write(d.join(&file), bundle.to_string()).unwrap();
        let args = [
            "push",
            &file,
            "--url",
            &api_root,
            "--collection",
            &collection,
            "--user",
            who,
        ];
        succeeded(as_member(&args, d, who, &secrets[who]));
    };
    // alice, under two identities she claims.
    push(
        "alice",
        vec![
            ind(1, "identity--00000000-0000-4000-8000-0000000000a1"),
            ind(2, "identity--00000000-0000-4000-8000-0000000000a2"),
        ],
    );
    std::fs::write(d.join("dns.log"), "query evil.example\n").unwrap();
    let source = format!("taxii:{api_root}#{collection}");
    let scan = || {
        let args = [
            "scan",
            "--indicators",
            &source,
            "--min-corroboration",
            "2",
            "--format",
            "text",
            "dns.log",
        ];
        let hits = succeeded(as_member(&args, d, "carol", &secrets["carol"]));
        let mut got: Vec<(String, u64)> = hits
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|h| {
                (
                    h["action"].as_str().unwrap().to_owned(),
                    h["contributors"].as_u64().unwrap(),
                )
            })
            .collect();
        got.sort();
        got
    };
    let one = ("inform".to_string(), 1);
    assert_eq!(scan(), [one.clone(), one]);
    push(
        "bob",
        vec![ind(3, "identity--00000000-0000-4000-8000-0000000000b1")],
    );
    let two = ("alert".to_string(), 2);
    assert_eq!(scan(), [two.clone(), two.clone(), two]);
}
