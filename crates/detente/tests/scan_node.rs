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
