//! PSI between real nodes: `detente psi query --collection` against a running `detente serve`,
//! with the psi grant, TLP on the answering side, cap, budget, replay and both audit tables.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use detente_psi::{Mode, Request, RequestHeader, SessionId};
use serde_json::Value;

use support::{Node, agent, basic, certificates, detente, last_line, ok};

const AMBER: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
const GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
const RED: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";
const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn add_collection(data: &str) -> String {
    last_line(&ok(detente(
        &["collection", "add", "--title", "intel", "--data", data],
        &[],
    )))
}

fn add_member(data: &str, name: &str, tlp: &str, grant: Option<(&str, &str)>) -> String {
    let secret = last_line(&ok(detente(
        &[
            "member", "add", name, "--role", "reader", "--tlp", tlp, "--data", data,
        ],
        &[],
    )));
    if let Some((collection, access)) = grant {
        ok(detente(
            &[
                "collection",
                "grant",
                collection,
                name,
                access,
                "--data",
                data,
            ],
            &[],
        ));
    }
    secret
}

fn indicator(i: usize, version: u8, pattern: &str, extra: &str) -> String {
    format!(
        r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-{i:012}","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-0{version}T00:00:00.000Z","pattern":{},"pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"{extra}}}"#,
        serde_json::to_string(pattern).unwrap()
    )
}

fn push(node: &Node, dir: &Path, collection: &str, objects: &[String]) {
    push_with(node, dir, collection, objects, &[]);
}

fn push_with(node: &Node, dir: &Path, collection: &str, objects: &[String], extra: &[&str]) {
    node.push(
        &dir.join(format!("bundle-{collection}.json")),
        collection,
        objects,
        extra,
    );
}

fn marked(marking: &str) -> String {
    format!(r#","object_marking_refs":["{marking}"]"#)
}

/// The answering node's collection: what a green-clearance member may and may not see.
fn answerer_objects() -> Vec<String> {
    vec![
        indicator(1, 1, "[domain-name:value = 'evil.com']", ""),
        indicator(2, 1, "[ipv4-addr:value = '198.51.100.7']", &marked(GREEN)),
        indicator(
            3,
            1,
            "[domain-name:value = 'amber-only.example']",
            &marked(AMBER),
        ),
        indicator(
            4,
            1,
            "[domain-name:value = 'red.example']",
            &format!(r#"{},"x_detente_recipients":["someone-else"]"#, marked(RED)),
        ),
        indicator(
            5,
            1,
            "[domain-name:value = 'revoked.example']",
            r#","revoked":true"#,
        ),
        indicator(6, 1, "[url:value = 'http://phish.example/login']", ""),
        indicator(7, 1, &format!("[file:hashes.'SHA-256' = '{SHA}']"), ""),
        // Only the latest version of an indicator counts.
        indicator(8, 1, "[domain-name:value = 'old.example']", ""),
        indicator(8, 2, "[domain-name:value = 'new.example']", ""),
        indicator(9, 1, "[ipv4-addr:value = '10.0.0.0/8']", ""),
        indicator(
            10,
            1,
            "[domain-name:value = 'a.example' AND url:value = 'http://b/']",
            "",
        ),
    ]
}

/// The querier's own collection, the same values written differently, plus its own.
fn querier_values() -> Vec<&'static str> {
    vec![
        "EVIL.com",
        "198.51.100.7",
        "amber-only.example",
        "red.example",
        "revoked.example",
        "http://phish.example/login",
        "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
        "old.example",
        "only-b.example",
    ]
}

fn querier_objects() -> Vec<String> {
    querier_values()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let pattern = if v.len() == 64 {
                format!("[file:hashes.'SHA-256' = '{v}']")
            } else if v.starts_with("http") {
                format!("[url:value = '{v}']")
            } else if v.starts_with("198.") {
                format!("[ipv4-addr:value = '{v}']")
            } else {
                format!("[domain-name:value = '{v}']")
            };
            indicator(100 + i, 1, &pattern, "")
        })
        .collect()
}

fn lines(s: &str) -> BTreeSet<String> {
    s.lines().map(str::to_string).collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn audit(data: &str) -> Vec<Value> {
    let out = ok(detente(&["psi", "audit", "--json", "--data", data], &[]));
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn node_to_node_psi_sessions() {
    let dir = support::tempdir();
    let d = dir.path();
    let a_data = d.join("a");
    let b_data = d.join("b");
    let a = Node::start(
        &a_data,
        &[],
        &[
            "--psi-max-items",
            "100",
            "--psi-budget-items",
            "150",
            "--psi-budget-window",
            "3600",
        ],
    );
    let b = Node::start(&b_data, &[], &[]);
    let (a_s, b_s) = (a_data.to_str().unwrap(), b_data.to_str().unwrap());

    let ca = add_collection(a_s);
    // The RED object's recipient must be a member (it has no grant here).
    add_member(a_s, "someone-else", "green", None);
    push(&a, d, &ca, &answerer_objects());
    let peer = add_member(a_s, "peer", "green", Some((&ca, "psi")));
    let greedy = add_member(a_s, "greedy", "green", Some((&ca, "read+psi")));
    let reader = add_member(a_s, "reader", "amber", Some((&ca, "read")));
    let stranger = add_member(a_s, "stranger", "amber", None);

    let cb = add_collection(b_s);
    push(&b, d, &cb, &querier_objects());

    let query = |user: &str, secret: &str, extra: &[&str]| {
        let mut args = vec![
            "psi",
            "query",
            "--peer",
            &a.url,
            "--collection",
            &ca,
            "--user",
            user,
        ];
        args.extend_from_slice(extra);
        detente(&args, &[("DETENTE_SECRET", secret)])
    };
    let from_b = ["--from-collection", &cb, "--data", b_s];

    // The psi grant is required: read access alone is 403, no grant at all is 404.
    let out = query("reader", &reader, &from_b);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("HTTP 403"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = query("stranger", &stranger, &from_b);
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 404"));
    let out = query("peer", "wrong", &from_b);
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401"));

    // A psi grant gives no read access to the objects.
    let objects = agent()
        .get(&format!("{}/api/collections/{ca}/objects/", a.url))
        .header("Accept", "application/taxii+json;version=2.1")
        .header("Authorization", &basic(&format!("peer:{peer}")))
        .call()
        .unwrap();
    assert_eq!(objects.status().as_u16(), 404);

    // Intersection against the collection: the green member's view of it, with the querier's
    // own lines (as written in its collection) printed.
    let shared = [
        "EVIL.com",
        "198.51.100.7",
        "http://phish.example/login",
        "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
    ];
    let out = ok(query("peer", &peer, &from_b));
    assert_eq!(lines(&out), set(&shared));
    // The amber, red, revoked and superseded values are not in it although the querier holds
    // them; an amber-cleared admin does see the amber one (and the red one it contributed).
    let out = ok(query("admin", &a.admin_secret, &from_b));
    let mut admin_view = set(&shared);
    admin_view.extend(set(&["amber-only.example", "red.example"]));
    assert_eq!(lines(&out), admin_view);

    // Count only, from an item file, without auditing on this side (no --data).
    let items = d.join("items.txt");
    std::fs::write(&items, querier_values().join("\n")).unwrap();
    let out = ok(query(
        "peer",
        &peer,
        &["--items", items.to_str().unwrap(), "--count-only"],
    ));
    assert_eq!(out.trim(), "4");

    // Over the cap: 413, refused before the collection is even read.
    let big = d.join("big.txt");
    let many: Vec<String> = (0..101).map(|i| format!("h{i}.example")).collect();
    std::fs::write(&big, many.join("\n")).unwrap();
    let out = query(
        "peer",
        &peer,
        &["--items", big.to_str().unwrap(), "--data", b_s],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 413"));

    // Budget 150 per member: 90 + 5 fits once, not twice; 429 with a retry time.
    let ninety = d.join("ninety.txt");
    std::fs::write(&ninety, many[..90].join("\n")).unwrap();
    let ninety = ["--items", ninety.to_str().unwrap()];
    ok(query("greedy", &greedy, &ninety));
    let out = query("greedy", &greedy, &ninety);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HTTP 429") && err.contains("retry after"),
        "{err}"
    );

    // Replay: the same session id twice is refused the second time.
    let request = Request {
        header: RequestHeader {
            session: SessionId([7; 16]),
            mode: Mode::Intersection,
            count: 0,
        },
        points: Vec::new(),
    }
    .encode();
    let url = format!("{}/psi/v1/collections/{ca}/session", a.url);
    let send = || {
        agent()
            .post(&url)
            .header("Authorization", &basic(&format!("peer:{peer}")))
            .header("Content-Type", "application/octet-stream")
            .send(&request[..])
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(send(), 200);
    assert_eq!(send(), 409);

    // The answerer's audit: every session with both sizes, never a result.
    let rows = audit(a_s);
    let answered: Vec<&Value> = rows
        .iter()
        .filter(|r| r["role"] == "answerer" && r["peer"] == "peer")
        .collect();
    assert_eq!(answered.len(), 5, "{rows:#?}");
    for r in &rows {
        assert_eq!(r["role"], "answerer");
        assert!(r["result_items"].is_null(), "{r}");
        assert_eq!(r["collection"], ca.as_str());
    }
    let first = answered[0];
    assert_eq!(first["mode"], "intersection");
    assert_eq!(first["outcome"], "ok");
    assert_eq!(first["peer_items"], 9);
    assert_eq!(first["own_items"], 5);
    assert!(first["bytes_in"].as_u64().unwrap() >= 9 * 32);
    assert!(first["bytes_out"].as_u64().unwrap() > 9 * 32);
    assert_eq!(answered[1]["mode"], "count-only");
    assert_eq!(answered[1]["own_items"], 5);
    let over = answered[2];
    assert!(over["outcome"].as_str().unwrap().starts_with("refused"));
    assert_eq!(over["peer_items"], 101);
    assert!(
        over["own_items"].is_null(),
        "cap checked before the set was built"
    );
    assert!(answered[4]["outcome"].as_str().unwrap().contains("replay"));
    let admin_row = rows.iter().find(|r| r["peer"] == "admin").unwrap();
    assert_eq!(admin_row["own_items"], 7);
    let greedy_rows: Vec<&Value> = rows.iter().filter(|r| r["peer"] == "greedy").collect();
    assert_eq!(greedy_rows.len(), 2);
    assert!(
        greedy_rows[1]["outcome"]
            .as_str()
            .unwrap()
            .contains("budget")
    );

    // The querier's audit (written to its data dir while its node runs): its set, the peer's
    // set and the result size.
    let rows = audit(b_s);
    assert_eq!(rows.len(), 6, "{rows:#?}");
    for (r, status) in rows.iter().zip(["403", "404", "401"]) {
        let outcome = r["outcome"].as_str().unwrap();
        assert!(
            outcome.starts_with("refused") && outcome.contains(status),
            "{r}"
        );
        assert!(r["result_items"].is_null());
    }
    let rows = &rows[3..];
    let r = &rows[0];
    assert_eq!(r["role"], "querier");
    assert_eq!(r["peer"], a.url.as_str());
    assert_eq!(r["collection"], ca.as_str());
    assert_eq!(r["own_items"], 9);
    assert_eq!(r["peer_items"], 5);
    assert_eq!(r["result_items"], 4);
    // Both sides log the same session id, so their rows can be matched.
    assert_eq!(r["session"].as_str().unwrap().len(), 32);
    assert_eq!(r["session"], first["session"]);
    assert_eq!(rows[1]["result_items"], 6);
    assert!(rows[2]["outcome"].as_str().unwrap().contains("413"));
    let table = ok(detente(&["psi", "audit", "--data", b_s], &[]));
    assert!(table.starts_with("id\ttime\trole"), "{table}");
    assert_eq!(table.lines().count(), 7);

    // The audit endpoint is for admins only.
    let get = |user: &str, secret: &str| {
        agent()
            .get(&format!("{}/psi/v1/audit", a.url))
            .header("Authorization", &basic(&format!("{user}:{secret}")))
            .call()
            .unwrap()
    };
    assert_eq!(get("peer", &peer).status().as_u16(), 403);
    let mut resp = get("admin", &a.admin_secret);
    assert_eq!(resp.status().as_u16(), 200);
    let rows: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert!(rows.as_array().unwrap().len() >= 8);

    // A member's bearer token works as well as its secret.
    let token = last_line(&ok(detente(
        &["token", "issue", "peer", "--data", a_s],
        &[],
    )));
    let out = ok(detente(
        &[
            "psi",
            "query",
            "--peer",
            &a.url,
            "--collection",
            &ca,
            "--items",
            items.to_str().unwrap(),
            "--count-only",
            "--token",
            &token,
        ],
        &[],
    ));
    assert_eq!(out.trim(), "4");
}

#[test]
fn psi_over_https_trusting_the_nodes_ca() {
    let dir = support::tempdir();
    let d = dir.path();
    let (ca, cert, key) = certificates(d);
    let data = d.join("a");
    let data_s = data.to_str().unwrap();
    let node = Node::start_tls(
        &data,
        &["--tls-cert", &cert, "--tls-key", &key],
        Path::new(&ca),
    );
    let collection = add_collection(data_s);
    push_with(
        &node,
        d,
        &collection,
        &[indicator(1, 1, "[domain-name:value = 'tls.example']", "")],
        &["--ca-cert", &ca],
    );
    let peer = add_member(data_s, "peer", "green", Some((&collection, "psi")));
    let items = d.join("items.txt");
    std::fs::write(&items, "TLS.example\nother.example\n").unwrap();
    let query_with = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "psi",
            "query",
            "--peer",
            &node.url,
            "--collection",
            &collection,
            "--items",
            items.to_str().unwrap(),
            "--user",
            "peer",
        ];
        args.extend_from_slice(extra);
        let mut env = env.to_vec();
        env.push(("DETENTE_SECRET", &peer));
        detente(&args, &env)
    };
    let query = |extra: &[&str]| query_with(extra, &[]);
    assert_eq!(ok(query(&["--ca-cert", &ca])), "TLS.example\n");
    // Without trusting the node's CA the connection is refused.
    let refused = |out: std::process::Output| {
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("transport error"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    refused(query(&[]));
    // --ca-cert adds to the system's roots (here SSL_CERT_FILE) instead of replacing them:
    // the node's CA known only to the "system" still reaches it while --ca-cert names another.
    let other = d.join("other-ca");
    std::fs::create_dir_all(&other).unwrap();
    let (other_ca, _, _) = certificates(&other);
    assert_eq!(
        ok(query_with(
            &["--ca-cert", &other_ca],
            &[("SSL_CERT_FILE", &ca)]
        )),
        "TLS.example\n"
    );
    refused(query_with(
        &["--ca-cert", &other_ca],
        &[("SSL_CERT_FILE", &other_ca)],
    ));
}

#[test]
fn replay_refused_after_a_restart() {
    let dir = support::tempdir();
    let data = dir.path().join("a");
    let data_s = data.to_str().unwrap();
    let node = Node::start(&data, &[], &[]);
    let collection = add_collection(data_s);
    let peer = add_member(data_s, "peer", "green", Some((&collection, "psi")));
    let request = |id: u8| {
        Request {
            header: RequestHeader {
                session: SessionId([id; 16]),
                mode: Mode::CountOnly,
                count: 0,
            },
            points: Vec::new(),
        }
        .encode()
    };
    let send = |node: &Node, body: &[u8]| {
        agent()
            .post(&format!(
                "{}/psi/v1/collections/{collection}/session",
                node.url
            ))
            .header("Authorization", &basic(&format!("peer:{peer}")))
            .send(body)
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(send(&node, &request(1)), 200);
    drop(node);
    let node = Node::start(&data, &[], &[]);
    assert_eq!(send(&node, &request(1)), 409);
    assert_eq!(send(&node, &request(2)), 200);
}
