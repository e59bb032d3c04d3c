//! The admin commands against a running `detente serve`: `object delete` moderates any
//! version whatever its marking, `collection revoke` and `member set-tlp` apply from the
//! next request.

mod support;

use serde_json::{Value, json};
use support::{Node, TAXII, agent, basic, detente, last_line, run_ok};

const GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
const RED: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";

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
    let alice = last_line(&run_ok(&[
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
    let bob = last_line(&run_ok(&[
        "member", "add", "bob", "--role", "reader", "--data", d,
    ]));
    run_ok(&[
        "collection",
        "grant",
        &coll,
        "alice",
        "read-write",
        "--data",
        d,
    ]);
    run_ok(&["collection", "grant", &coll, "bob", "read", "--data", d]);
    let objects = format!("{}/api/collections/{coll}/objects/", node.url);
    let r = agent()
        .post(&objects)
        .header("Accept", TAXII)
        .header("Content-Type", TAXII)
        .header("Authorization", basic(&format!("alice:{alice}")))
        .send(json!({"objects": [indicator(1, &[RED]), indicator(2, &[GREEN])]}).to_string())
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let get = |user: &str, secret: &str, id: u32| -> u16 {
        agent()
            .get(format!(
                "{objects}indicator--00000000-0000-4000-8000-{id:012}/"
            ))
            .header("Accept", TAXII)
            .header("Authorization", basic(&format!("{user}:{secret}")))
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(get("alice", &alice, 1), 200);
    assert_eq!(get("bob", &bob, 2), 200);
    // The admin deletes alice's RED object, which no one but alice can read.
    run_ok(&[
        "object",
        "delete",
        &coll,
        "indicator--00000000-0000-4000-8000-000000000001",
        "--data",
        d,
    ]);
    assert_eq!(get("alice", &alice, 1), 404);
    let again = detente(
        &[
            "object",
            "delete",
            &coll,
            "indicator--00000000-0000-4000-8000-000000000001",
            "--data",
            d,
        ],
        &[],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no version of"));
    let bad = detente(
        &[
            "object",
            "delete",
            &coll,
            "indicator--00000000-0000-4000-8000-000000000002",
            "--version",
            "yesterday",
            "--data",
            d,
        ],
        &[],
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a STIX timestamp"));
    // A lower clearance hides the GREEN object; a revoked grant hides the collection.
    run_ok(&["member", "set-tlp", "bob", "clear", "--data", d]);
    assert_eq!(get("bob", &bob, 2), 404);
    run_ok(&["member", "set-tlp", "bob", "green", "--data", d]);
    assert_eq!(get("bob", &bob, 2), 200);
    run_ok(&["collection", "revoke", &coll, "bob", "--data", d]);
    assert_eq!(get("bob", &bob, 2), 404);
    let out = detente(&["collection", "revoke", &coll, "bob", "--data", d], &[]);
    assert!(!out.status.success());
    let bad = detente(&["member", "set-tlp", "bob", "purple", "--data", d], &[]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown clearance"));
}
