//! Ingest flagging on a running node: real MISP warninglists (one of each of the five types)
//! and protected assets configured with the CLI while the node runs, indicators posted by a
//! member, and the node's notes read back by readers of different clearances; the stored
//! indicators stay byte-identical, members cannot forge node flags, admins list the flags.

mod support;

use std::path::PathBuf;

use serde_json::{Value, json};
use support::{Node, TAXII, agent, basic, detente, last_line, run_ok};

const GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
const AMBER: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
const RED: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";

fn lists() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/real/misp-warninglists/lists")
}

/// An indicator's JSON text, written exactly as posted (the test compares stored bytes).
fn indicator(n: u32, pattern: &str, marking: &str, extra: &str) -> String {
    format!(
        r#"{{"type": "indicator", "spec_version": "2.1", "id": "indicator--00000000-0000-4000-8000-{n:012}", "created": "2026-01-01T00:00:00.000Z",  "modified": "2026-01-01T00:00:00.000Z", "pattern": {}, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z", "object_marking_refs": ["{marking}"]{extra}}}"#,
        json!(pattern)
    )
}

fn id(n: u32) -> String {
    format!("indicator--00000000-0000-4000-8000-{n:012}")
}

struct Member<'a> {
    node: &'a Node,
    coll: &'a str,
    auth: String,
}

impl Member<'_> {
    fn post(&self, objects: &[String]) -> Value {
        let r = agent()
            .post(format!(
                "{}/api/collections/{}/objects/",
                self.node.url, self.coll
            ))
            .header("Accept", TAXII)
            .header("Content-Type", TAXII)
            .header("Authorization", &self.auth)
            .send(format!(r#"{{"objects": [{}]}}"#, objects.join(",")))
            .unwrap();
        let status = r.status().as_u16();
        let body = r.into_body().read_to_string().unwrap();
        assert_eq!(status, 202, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    fn get(&self, query: &str) -> String {
        let mut r = agent()
            .get(format!(
                "{}/api/collections/{}/objects/{query}",
                self.node.url, self.coll
            ))
            .header("Accept", TAXII)
            .header("Authorization", &self.auth)
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.body_mut().read_to_string().unwrap()
    }

    /// The node's notes this member sees, by the indicator they flag.
    fn notes(&self) -> std::collections::BTreeMap<String, Value> {
        let page: Value = serde_json::from_str(&self.get("?match[type]=note")).unwrap();
        page["objects"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|n| (n["object_refs"][0].as_str().unwrap().to_owned(), n))
            .collect()
    }
}

#[test]
fn indicators_are_flagged_by_notes_no_more_visible_than_they_are() {
    let dir = support::tempdir();
    let data = dir.path().join("data");
    let node = Node::start(&data, &[], &[]);
    let d = data.to_str().unwrap();
    let coll = last_line(&run_ok(&[
        "collection",
        "add",
        "--title",
        "intel",
        "--data",
        d,
    ]));
    let mut secrets = std::collections::HashMap::new();
    for (name, role, tlp) in [
        ("alice", "contributor", "amber"),
        ("rita", "reader", "amber"),
        ("gus", "reader", "green"),
        ("bob", "reader", "green"),
    ] {
        let s = last_line(&run_ok(&[
            "member", "add", name, "--role", role, "--tlp", tlp, "--data", d,
        ]));
        let access = if role == "contributor" {
            "read-write"
        } else {
            "read"
        };
        run_ok(&["collection", "grant", &coll, name, access, "--data", d]);
        secrets.insert(name, basic(&format!("{name}:{s}")));
    }
    let as_member = |name: &str| Member {
        node: &node,
        coll: &coll,
        auth: secrets[name].clone(),
    };
    let alice = as_member("alice");

    // Before any configuration nothing is flagged.
    alice.post(&[indicator(
        1,
        "[domain-name:value = 'api.ipify.org']",
        GREEN,
        "",
    )]);
    assert!(alice.notes().is_empty());

    // Configured while the node runs: one real list of each MISP type, and assets.
    for (list, action) in [
        ("findip-host", "inform"),                // hostname
        ("cloudflare", "suppress"),               // cidr
        ("automated-malware-analysis", "inform"), // substring
        ("common-contact-emails", "inform"),      // regex
        ("common-ioc-false-positive", "inform"),  // string
    ] {
        let path = lists().join(list).join("list.json");
        run_ok(&[
            "warninglist",
            "add",
            path.to_str().unwrap(),
            "--action",
            action,
            "--data",
            d,
        ]);
    }
    run_ok(&["asset", "add", "domain", "sos.ca.gov", "--data", d]);
    run_ok(&[
        "asset",
        "add",
        "cidr",
        "198.51.100.0/24",
        "--collection",
        &coll,
        "--data",
        d,
    ]);
    let listed = run_ok(&["warninglist", "list", "--data", d]);
    assert_eq!(listed.lines().count(), 5, "{listed}");
    assert!(
        listed.contains("cloudflare\tnode\tsuppress\tcidr\t"),
        "{listed}"
    );
    let assets = run_ok(&["asset", "list", "--data", d]);
    assert_eq!(
        assets,
        format!("cidr\t198.51.100.0/24\t-\t{coll}\ndomain\tsos.ca.gov\tsubdomains\tnode\n")
    );

    let sha = "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b";
    let posted = [
        indicator(2, "[domain-name:value = 'api.ipify.org']", GREEN, ""),
        indicator(3, "[ipv4-addr:value = '103.21.244.10']", AMBER, ""),
        indicator(
            4,
            "[url:value = 'https://analyze.intezer.com/x']",
            GREEN,
            "",
        ),
        indicator(5, "[email-addr:value = 'abuse@evil.example']", GREEN, ""),
        indicator(6, &format!("[file:hashes.'SHA-256' = '{sha}']"), GREEN, ""),
        indicator(7, "[domain-name:value = 'login.sos.ca.gov']", GREEN, ""),
        indicator(8, "[ipv4-addr:value = '198.51.100.0/28']", GREEN, ""),
        indicator(
            9,
            "[domain-name:value = 'sos.ca.gov']",
            RED,
            r#", "x_detente_recipients": ["bob"]"#,
        ),
        indicator(10, "[domain-name:value = 'unrelated.example']", GREEN, ""),
    ];
    let status = alice.post(&posted);
    assert_eq!(status["success_count"], 9, "{status}");

    // The stored indicators are byte for byte what alice posted.
    let page = alice.get("?match[type]=indicator");
    for p in &posted {
        assert!(
            page.contains(p.as_str()),
            "{p} not stored as posted: {page}"
        );
    }

    let rita = as_member("rita").notes();
    let expect = [
        (2, "findip-host", "api.ipify.org", "inform"),
        (3, "cloudflare", "103.21.244.0/22", "suppress"),
        (
            4,
            "automated-malware-analysis",
            "analyze.intezer.com",
            "inform",
        ),
        (
            5,
            "common-contact-emails",
            "/^(security|noc|soc|abuse)\\@.*\\..*$/i",
            "inform",
        ),
        (6, "common-ioc-false-positive", sha, "inform"),
    ];
    for (n, list, entry, action) in expect {
        let note = &rita[&id(n)];
        let f = &note["x_detente_flags"][0];
        assert_eq!(
            (f["source"].as_str(), f["list"].as_str()),
            (Some("warninglist"), Some(list))
        );
        assert_eq!(f["entry"], entry, "{note}");
        assert_eq!(f["action"], action, "{note}");
        assert_eq!(
            note["x_detente_flagged_version"],
            "2026-01-01T00:00:00.000Z"
        );
    }
    let f = &rita[&id(7)]["x_detente_flags"][0];
    assert_eq!(
        (f["asset_type"].as_str(), f["asset"].as_str()),
        (Some("domain"), Some("sos.ca.gov"))
    );
    let f = &rita[&id(8)]["x_detente_flags"][0];
    assert_eq!(f["asset"], "198.51.100.0/24");
    assert_eq!(f["scope"], coll.as_str());
    // Not flagged: the unrelated value, and indicator 1 (stored before the lists).
    assert!(!rita.contains_key(&id(10)) && !rita.contains_key(&id(1)));
    // The RED indicator's note is for its contributor and recipients only.
    assert!(!rita.contains_key(&id(9)));
    assert_eq!(rita.len(), 7);
    let bob = as_member("bob").notes();
    assert_eq!(bob[&id(9)]["x_detente_flags"][0]["asset"], "sos.ca.gov");
    assert_eq!(bob[&id(9)]["object_marking_refs"], json!([RED]));
    assert!(alice.notes().contains_key(&id(9)));
    // A GREEN reader never sees the flag of an AMBER indicator.
    let gus = as_member("gus").notes();
    assert!(!gus.contains_key(&id(3)));
    assert_eq!(gus.len(), 6);
    assert_eq!(rita[&id(3)]["object_marking_refs"], json!([AMBER]));

    // Members cannot write as the node.
    let node_id = rita[&id(2)]["created_by_ref"].as_str().unwrap().to_owned();
    let forged = |n: u32, extra: &str| {
        format!(
            r#"{{"type": "note", "spec_version": "2.1", "id": "note--00000000-0000-4000-8000-{n:012}", "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "content": "benign", "object_refs": ["{}"]{extra}}}"#,
            id(10)
        )
    };
    let status = alice.post(&[
        forged(1, &format!(r#", "created_by_ref": "{node_id}""#)),
        forged(
            2,
            r#", "x_detente_flags": [{"source": "warninglist", "action": "suppress"}]"#,
        ),
        forged(3, ""),
    ]);
    assert_eq!(status["success_count"], 1, "{status}");
    let failures = status["failures"].to_string();
    assert!(
        failures.contains("only the node creates objects"),
        "{failures}"
    );
    assert!(
        failures.contains("only the node writes flags"),
        "{failures}"
    );
    let page: Value = serde_json::from_str(&as_member("rita").get(&format!("{node_id}/"))).unwrap();
    assert_eq!(page["objects"][0]["name"], "detente node");

    // Admins list every flag, RED ones included.
    let flags: Vec<Value> = run_ok(&["flags", "list", "--data", d])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(flags.len(), 8);
    let red = flags.iter().find(|f| f["indicator"] == id(9)).unwrap();
    assert_eq!(
        (red["tlp"].as_str(), red["contributor"].as_str()),
        (Some("red"), Some("alice"))
    );

    // ... and over HTTP: `GET /flags` is the admins' only.
    let over_http = |auth: &str| {
        let mut r = agent()
            .get(format!("{}/flags", node.url))
            .header("Authorization", auth)
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    let (st, body) = over_http(&basic(&format!("admin:{}", node.admin_secret)));
    assert_eq!(st, 200);
    assert_eq!(serde_json::from_str::<Vec<Value>>(&body).unwrap(), flags);
    assert_eq!(over_http(&secrets["alice"]).0, 403);

    // Indicators shared before the configuration are flagged by a rescan, once.
    let rescanned = run_ok(&["flags", "rescan", "--data", d]);
    let rescanned: Vec<Value> = rescanned
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rescanned.len(), 1, "{rescanned:?}");
    assert_eq!(rescanned[0]["indicator"], id(1));
    assert_eq!(rescanned[0]["contributor"], "alice");
    assert_eq!(rescanned[0]["matches"][0]["list"], "findip-host");
    assert!(as_member("rita").notes().contains_key(&id(1)));
    assert_eq!(run_ok(&["flags", "rescan", "--data", d]), "");

    // Removing configuration applies from the next POST too.
    run_ok(&["warninglist", "remove", "findip-host", "--data", d]);
    alice.post(&[indicator(
        11,
        "[domain-name:value = 'api.ipify.org']",
        GREEN,
        "",
    )]);
    assert!(!as_member("rita").notes().contains_key(&id(11)));
    let out = detente(
        &[
            "asset",
            "add",
            "cidr",
            "10.0.0.0/8",
            "--collection",
            "nope",
            "--data",
            d,
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("collection nope not found"));
}

#[test]
fn assets_import_and_export_as_stix() {
    let dir = support::tempdir();
    let data = dir.path().join("data");
    drop(Node::start(&data, &[], &[]));
    let d = data.to_str().unwrap();
    let file = dir.path().join("assets.txt");
    std::fs::write(
        &file,
        "# election office\nsos.ca.gov\ndomain vote.example no-subdomains\n198.51.100.0/24\n\
         cidr 2001:db8::/32\norg Secretary of State\n",
    )
    .unwrap();
    run_ok(&["asset", "import", file.to_str().unwrap(), "--data", d]);
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "good.example\ncidr 300.1.1.1\n").unwrap();
    let out = detente(
        &["asset", "import", bad.to_str().unwrap(), "--data", d],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.txt:2"));
    // Nothing of a refused file is stored.
    assert_eq!(run_ok(&["asset", "list", "--data", d]).lines().count(), 5);
    let bundle: Value = serde_json::from_str(&run_ok(&["asset", "export", "--data", d])).unwrap();
    let types: Vec<&str> = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "identity",
            "infrastructure",
            "ipv4-addr",
            "relationship",
            "ipv6-addr",
            "relationship",
            "domain-name",
            "relationship",
            "domain-name",
            "relationship",
            "identity"
        ]
    );
    run_ok(&["asset", "remove", "domain", "SOS.CA.GOV", "--data", d]);
    assert_eq!(run_ok(&["asset", "list", "--data", d]).lines().count(), 4);
}
