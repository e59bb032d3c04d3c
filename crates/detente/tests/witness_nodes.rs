//! Witnessing between three real nodes (`detente serve` processes on loopback): B and C
//! witness A's log, `verify --quorum 2` accepts A's cosigned checkpoint; then A is forked by
//! restoring an earlier copy of its data directory and pushing other objects: B and C refuse
//! and keep the evidence, and `verify --quorum 2` fails on the forked history.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{Node, agent, copy_dir, detente, last_line, ok};

fn push(node: &Node, data: &Path, collection: &str, ids: std::ops::Range<usize>, tag: &str) {
    let objects: Vec<String> = ids
        .map(|i| {
            format!(
                r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-{i:012}","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","name":"{tag}","pattern":"[ipv4-addr:value = '10.0.0.{i}']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}}"#
            )
        })
        .collect();
    node.push(
        &data.parent().unwrap().join(format!("bundle-{tag}.json")),
        collection,
        &objects,
        &[],
    );
}

/// The checkpoint A serves: its size and how many signature lines it carries.
fn checkpoint(node: &Node) -> (u64, usize) {
    let body = agent()
        .get(&format!("{}/log/checkpoint", node.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let size = body.lines().nth(1).unwrap().parse().unwrap();
    let sigs = body.lines().filter(|l| l.starts_with('\u{2014}')).count();
    (size, sigs)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn partners_witness_a_log_and_catch_its_fork() {
    let tmp = support::tempdir();
    let (a_dir, b_dir, c_dir) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let mut a = Node::start(&a_dir, &[], &["--origin", "a.test/log"]);
    let b = Node::start(&b_dir, &[], &["--origin", "b.test/log"]);
    let c = Node::start(&c_dir, &[], &["--origin", "c.test/log"]);

    let a_key = last_line(&ok(detente(&["log-key", "--data", &s(&a_dir)], &[])));
    let b_wkey = last_line(&ok(detente(&["witness", "key", "--data", &s(&b_dir)], &[])));
    let c_wkey = last_line(&ok(detente(&["witness", "key", "--data", &s(&c_dir)], &[])));
    assert!(b_wkey.starts_with("b.test/log/witness+"), "{b_wkey}");
    for d in [&b_dir, &c_dir] {
        ok(detente(&["witness", "trust", &a_key, "--data", &s(d)], &[]));
    }
    for (w, key) in [(&b, &b_wkey), (&c, &c_wkey)] {
        ok(detente(
            &["log", "add-witness", &w.url, key, "--data", &s(&a_dir)],
            &[],
        ));
    }
    // A witness that is down never holds the log up (A's own witness key, at a dead port).
    let a_wkey = last_line(&ok(detente(&["witness", "key", "--data", &s(&a_dir)], &[])));
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    ok(detente(
        &[
            "log",
            "add-witness",
            &dead_url,
            &a_wkey,
            "--data",
            &s(&a_dir),
        ],
        &[],
    ));
    // A witness key is not a log key, and the other way round.
    assert!(
        !detente(&["witness", "trust", &b_wkey, "--data", &s(&c_dir)], &[])
            .status
            .success()
    );
    assert!(
        !detente(
            &["log", "add-witness", &b.url, &a_key, "--data", &s(&a_dir)],
            &[]
        )
        .status
        .success()
    );

    let coll = last_line(&ok(detente(
        &[
            "collection",
            "add",
            "--title",
            "intel",
            "--data",
            &s(&a_dir),
        ],
        &[],
    )));
    push(&a, &a_dir, &coll, 1..4, "first");
    wait_for("both cosignatures on size 3", || checkpoint(&a) == (3, 3));
    let state = tmp.path().join("verify-state");
    let verify = |node: &Node, state: &Path| {
        detente(
            &[
                "verify",
                "--url",
                &node.url,
                "--key",
                &a_key,
                "--witness",
                &b_wkey,
                "--witness",
                &c_wkey,
                "--quorum",
                "2",
                "--state",
                &s(state),
            ],
            &[],
        )
    };
    let out = ok(verify(&a, &state));
    assert!(out.contains("cosigned by 2 of the required 2"), "{out}");
    // The status page shows each witness's cosigned size, and the dead one's failure.
    let page = agent()
        .get(&format!("{}/", a.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    for key in [&b_wkey, &c_wkey, &a_wkey] {
        assert!(page.contains(key.as_str()), "{page}");
    }
    assert_eq!(page.matches("cosigned size 3 · ").count(), 2, "{page}");
    assert!(page.contains("last failure"), "{page}");

    // Take a backup of A's data directory (stopped, so the copy is whole), then carry on.
    drop(a);
    copy_dir(&a_dir, &tmp.path().join("a-backup"));
    a = Node::start(&a_dir, &[], &["--origin", "a.test/log"]);
    push(&a, &a_dir, &coll, 4..7, "second");
    wait_for("both cosignatures on size 6", || checkpoint(&a) == (6, 3));
    ok(verify(&a, &state));

    // Fork: restore the backup and push other objects; the new tree outgrows the cosigned one.
    drop(a);
    std::fs::remove_dir_all(&a_dir).unwrap();
    copy_dir(&tmp.path().join("a-backup"), &a_dir);
    let a = Node::start(&a_dir, &[], &["--origin", "a.test/log"]);
    assert_eq!(checkpoint(&a).0, 3);
    push(&a, &a_dir, &coll, 10..14, "forked");
    wait_for("the forked checkpoint", || checkpoint(&a).0 == 7);
    for (name, d) in [("B", &b_dir), ("C", &c_dir)] {
        wait_for(&format!("evidence on {name}"), || {
            !ok(detente(&["witness", "evidence", "--data", &s(d)], &[])).is_empty()
        });
        let ev = ok(detente(&["witness", "evidence", "--data", &s(d)], &[]));
        let first: serde_json::Value = serde_json::from_str(ev.lines().next().unwrap()).unwrap();
        assert_eq!(first["origin"], "a.test/log");
        assert!(
            first["cosigned"]
                .as_str()
                .unwrap()
                .starts_with("a.test/log\n6\n"),
            "{first}"
        );
        assert!(
            first["conflicting"]
                .as_str()
                .unwrap()
                .starts_with("a.test/log\n7\n"),
            "{first}"
        );
        assert!(
            first["reason"]
                .as_str()
                .unwrap()
                .contains("consistency proof"),
            "{first}"
        );
    }
    // Nobody cosigned the fork; a verifier asking for the quorum refuses it, with or without
    // a memory of the real history.
    assert_eq!(checkpoint(&a), (7, 1));
    for st in [tmp.path().join("fresh-state"), state] {
        let out = verify(&a, &st);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("0 of the required 2"), "{err}");
        assert!(err.contains(&b_wkey) && err.contains(&c_wkey), "{err}");
    }
    drop((b, c));
}
