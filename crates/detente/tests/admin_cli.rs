//! The admin commands against a running `detente serve`: `object delete` moderates any
//! version whatever its marking, `collection revoke` and `member set-tlp` apply from the
//! next request.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use base64::Engine;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_detente");
const TAXII: &str = "application/taxii+json;version=2.1";
const GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
const RED: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";

/// A node process, killed when the test ends however it ends.
struct Node {
    child: Child,
    url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(data: &Path) -> Node {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("node exited before listening").unwrap();
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let node = Node {
        child,
        url: format!("http://{addr}"),
    };
    for _ in 0..200 {
        if agent()
            .get(format!("{}/healthz", node.url))
            .call()
            .is_ok_and(|r| r.status().as_u16() == 200)
        {
            return node;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("node never became ready");
}

fn detente(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DETENTE_DATA")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = detente(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn last_line(s: &str) -> String {
    s.lines().last().unwrap().to_string()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn basic(user: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
    )
}

fn indicator(n: u32, markings: &[&str]) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
        "pattern": "[domain-name:value = 'evil.example']", "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z", "object_marking_refs": markings
    })
}

#[test]
fn admin_commands_moderate_revoke_and_reclear() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = start_node(&data);
    let d = data.to_str().unwrap();
    let coll = last_line(&ok(&["collection", "add", "--title", "intel", "--data", d]));
    let alice = last_line(&ok(&[
        "member",
        "add",
        "alice",
        "--role",
        "contributor",
        "--tlp",
        "amber",
        "--data",
        d,
    ]));
    let bob = last_line(&ok(&[
        "member", "add", "bob", "--role", "reader", "--data", d,
    ]));
    ok(&[
        "collection",
        "grant",
        &coll,
        "alice",
        "read-write",
        "--data",
        d,
    ]);
    ok(&["collection", "grant", &coll, "bob", "read", "--data", d]);
    let objects = format!("{}/api/collections/{coll}/objects/", node.url);
    let r = agent()
        .post(&objects)
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .header("Authorization", basic("alice", &alice))
        .send(json!({"objects": [indicator(1, &[RED]), indicator(2, &[GREEN])]}).to_string())
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let get = |user: &str, secret: &str, id: u32| -> u16 {
        agent()
            .get(format!(
                "{objects}indicator--00000000-0000-4000-8000-{id:012}/"
            ))
            .header("Accept", TAXII)
            .header("Authorization", basic(user, secret))
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(get("alice", &alice, 1), 200);
    assert_eq!(get("bob", &bob, 2), 200);
    // The admin deletes alice's RED object, which no one but alice can read.
    ok(&[
        "object",
        "delete",
        &coll,
        "indicator--00000000-0000-4000-8000-000000000001",
        "--data",
        d,
    ]);
    assert_eq!(get("alice", &alice, 1), 404);
    let again = detente(&[
        "object",
        "delete",
        &coll,
        "indicator--00000000-0000-4000-8000-000000000001",
        "--data",
        d,
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no version of"));
    let bad = detente(&[
        "object",
        "delete",
        &coll,
        "indicator--00000000-0000-4000-8000-000000000002",
        "--version",
        "yesterday",
        "--data",
        d,
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a STIX timestamp"));
    // A lower clearance hides the GREEN object; a revoked grant hides the collection.
    ok(&["member", "set-tlp", "bob", "clear", "--data", d]);
    assert_eq!(get("bob", &bob, 2), 404);
    ok(&["member", "set-tlp", "bob", "green", "--data", d]);
    assert_eq!(get("bob", &bob, 2), 200);
    ok(&["collection", "revoke", &coll, "bob", "--data", d]);
    assert_eq!(get("bob", &bob, 2), 404);
    let out = detente(&["collection", "revoke", &coll, "bob", "--data", d]);
    assert!(!out.status.success());
    let bad = detente(&["member", "set-tlp", "bob", "purple", "--data", d]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown clearance"));
}
