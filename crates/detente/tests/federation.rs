//! Federation between two real nodes (`detente serve` processes on loopback): B mirrors a
//! collection of A (`detente peer`, `detente sync`) and checks everything against A's log.
//! Byte-identical objects with provenance, local TLP, a no-op round of at most 3 requests,
//! deletions as tombstones on both logs, an operator's edit of A's database refused by id,
//! a wrong pinned key, a rollback and a fork of A's log refused; contributor signatures
//! checked by B against A's logged key bindings (a swap reported, a forged signature and a
//! back-dated key refused) and verified by B's readers; and a sync killed with SIGKILL
//! halfway through 50,000 objects resumes with every object stored exactly once.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Node, Process, agent, basic, copy_dir, detente, last_line, ok};

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

fn indicator(i: usize, tag: &str, marking: &str) -> String {
    format!(
        r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-{i:012}","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","name":"{tag}","pattern":"[ipv4-addr:value = '10.0.{}.{}']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"{marking}}}"#,
        i / 256,
        i % 256
    )
}

fn id(i: usize) -> String {
    format!("indicator--00000000-0000-4000-8000-{i:012}")
}

const AMBER: &str =
    r#","object_marking_refs":["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"]"#;
const RED: &str = r#","object_marking_refs":["marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"],"x_detente_recipients":["alice"]"#;

/// The size of the checkpoint a node serves.
fn checkpoint_size(node: &Node) -> u64 {
    let body = agent()
        .get(&format!("{}/log/checkpoint", node.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    body.lines().nth(1).unwrap().parse().unwrap()
}

fn wait_checkpoint(node: &Node, size: u64) {
    let start = Instant::now();
    while checkpoint_size(node) < size {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no checkpoint of size {size}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET path` with Basic credentials: (status, body).
fn get(node: &Node, path: &str, credentials: &str) -> (u16, String) {
    let mut r = agent()
        .get(&format!("{}{path}", node.url))
        .header("Accept", support::TAXII)
        .header("Authorization", &basic(credentials))
        .call()
        .unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

fn delete(node: &Node, path: &str, credentials: &str) -> u16 {
    agent()
        .delete(&format!("{}{path}", node.url))
        .header("Accept", support::TAXII)
        .header("Authorization", &basic(credentials))
        .call()
        .unwrap()
        .status()
        .as_u16()
}

/// Adds a member and returns `name:secret`.
fn member(data: &Path, name: &str, role: &str, tlp: &str) -> String {
    let secret = last_line(&ok(detente(
        &[
            "member",
            "add",
            name,
            "--role",
            role,
            "--tlp",
            tlp,
            "--data",
            &s(data),
        ],
        &[],
    )));
    format!("{name}:{secret}")
}

fn collection(data: &Path) -> String {
    last_line(&ok(detente(
        &["collection", "add", "--title", "intel", "--data", &s(data)],
        &[],
    )))
}

fn grant(data: &Path, coll: &str, name: &str, access: &str) {
    ok(detente(
        &[
            "collection",
            "grant",
            coll,
            name,
            access,
            "--data",
            &s(data),
        ],
        &[],
    ));
}

/// Pushes objects to a collection as `credentials` (`name:secret`).
fn push(node: &Node, file: &Path, coll: &str, credentials: &str, objects: &[String]) {
    std::fs::write(file, format!("[{}]", objects.join(","))).unwrap();
    let (user, secret) = credentials.split_once(':').unwrap();
    ok(detente(
        &[
            "push",
            &s(file),
            "--url",
            &format!("{}/api/", node.url),
            "--collection",
            coll,
            "--user",
            user,
        ],
        &[("DETENTE_SECRET", secret)],
    ));
}

/// Runs `detente sync --data DIR [ARGS]`: (exit code, stdout).
fn sync(data: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["sync", "--data"];
    let d = s(data);
    args.push(&d);
    args.extend_from_slice(extra);
    let out = detente(&args, &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap_or(-1), stdout)
}

/// A partner node A with alice (contributor) and `nodeb` (reader, amber) on collection `ca`,
/// and a node B with collection `cb` mirroring `ca` as peer `a`.
struct Pair {
    a: Node,
    b: Node,
    a_dir: std::path::PathBuf,
    b_dir: std::path::PathBuf,
    ca: String,
    cb: String,
    alice: String,
    a_key: String,
    nodeb_file: std::path::PathBuf,
}

fn pair(tmp: &Path) -> Pair {
    pair_with(tmp, &[])
}

/// [`pair`], with `b_flags` given to B's `detente serve`.
fn pair_with(tmp: &Path, b_flags: &[&str]) -> Pair {
    let (a_dir, b_dir) = (tmp.join("a"), tmp.join("b"));
    let a = Node::start(&a_dir, &[], &["--origin", "a.test/log"]);
    let mut b_args = vec!["--origin", "b.test/log"];
    b_args.extend_from_slice(b_flags);
    let b = Node::start(&b_dir, &[], &b_args);
    let a_key = last_line(&ok(detente(&["log-key", "--data", &s(&a_dir)], &[])));
    let ca = collection(&a_dir);
    let alice = member(&a_dir, "alice", "contributor", "amber");
    grant(&a_dir, &ca, "alice", "read-write");
    let nodeb = member(&a_dir, "nodeb", "reader", "amber");
    grant(&a_dir, &ca, "nodeb", "read");
    let nodeb_file = tmp.join("nodeb.credentials");
    std::fs::write(&nodeb_file, &nodeb).unwrap();
    let cb = collection(&b_dir);
    ok(detente(
        &[
            "peer",
            "add",
            "a",
            "--url",
            &a.url,
            "--log-key",
            &a_key,
            "--credentials",
            &s(&nodeb_file),
            "--data",
            &s(&b_dir),
        ],
        &[],
    ));
    ok(detente(
        &[
            "peer",
            "mirror",
            "a",
            "--remote-collection",
            &ca,
            "--into",
            &cb,
            "--data",
            &s(&b_dir),
        ],
        &[],
    ));
    Pair {
        a,
        b,
        a_dir,
        b_dir,
        ca,
        cb,
        alice,
        a_key,
        nodeb_file,
    }
}

fn requests(stdout: &str) -> u64 {
    let line = stdout.lines().find(|l| l.starts_with("peer a:")).unwrap();
    line.rsplit(", ")
        .next()
        .unwrap()
        .trim_end_matches(" requests")
        .parse()
        .unwrap()
}

#[test]
fn b_mirrors_a_verified_with_provenance_deletions_and_refusals() {
    let tmp = support::tempdir();
    let p = pair(tmp.path());
    let (a, b) = (&p.a, &p.b);
    let b_admin = format!("admin:{}", b.admin_secret);
    let objects = vec![
        indicator(1, "one", ""),
        indicator(2, "two", ""),
        indicator(3, "amber", AMBER),
        indicator(4, "red", RED),
    ];
    push(a, &tmp.path().join("1.json"), &p.ca, &p.alice, &objects);
    wait_checkpoint(a, 4);

    let (code, out) = sync(&p.b_dir, &[]);
    assert_eq!(code, 0, "{out}");
    // The RED object names alice only: nodeb (B's login on A) never sees it.
    assert!(out.contains("new 3, updated 0, deleted 0"), "{out}");

    // Byte-identical: B serves exactly what A's readers get.
    for i in [1, 2, 3] {
        let a_view = get(
            a,
            &format!("/api/collections/{}/objects/{}/", p.ca, id(i)),
            &p.alice,
        );
        let b_view = get(
            b,
            &format!("/api/collections/{}/objects/{}/", p.cb, id(i)),
            &b_admin,
        );
        assert_eq!(a_view.0, 200);
        assert_eq!(a_view, b_view);
    }
    let (status, prov) = get(
        b,
        &format!("/api/collections/{}/objects/{}/provenance/", p.cb, id(1)),
        &b_admin,
    );
    assert_eq!(status, 200, "{prov}");
    let prov: serde_json::Value = serde_json::from_str(&prov).unwrap();
    let entry = &prov["provenance"][0];
    assert_eq!(entry["peer"], "a");
    assert_eq!(entry["partner_contributor"], "alice");
    assert_eq!(entry["version"], "2026-01-01T00:00:00.000Z");
    assert!(entry["partner_log_index"].as_u64().unwrap() < 4);

    // Local TLP: a green reader of B sees the unmarked objects, not the amber one.
    let carol = member(&p.b_dir, "carol", "reader", "green");
    grant(&p.b_dir, &p.cb, "carol", "read");
    let base = format!("/api/collections/{}/objects/", p.cb);
    assert_eq!(get(b, &format!("{base}{}/", id(1)), &carol).0, 200);
    assert_eq!(get(b, &format!("{base}{}/", id(3)), &carol).0, 404);
    assert_eq!(
        get(b, &format!("{base}{}/provenance/", id(3)), &carol).0,
        404
    );
    // Several objects' provenance at once: only the versions the caller may read, an object
    // above the caller's view left out exactly like an absent one.
    let many = |who: &str| {
        let (status, body) = get(
            b,
            &format!(
                "/api/collections/{}/provenance/?match[id]={},{},{},{}",
                p.cb,
                id(1),
                id(3),
                id(4),
                id(99)
            ),
            who,
        );
        assert_eq!(status, 200, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        body["provenance"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e["peer"], "a");
                assert_eq!(e["partner_contributor"], "alice");
                e["id"].as_str().unwrap().to_owned()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(many(&b_admin), vec![id(1), id(3)]);
    assert_eq!(many(&carol), vec![id(1)]);
    // Mirrored versions are the peer's: a local contributor cannot version or delete them.
    let dave = member(&p.b_dir, "dave", "contributor", "amber");
    grant(&p.b_dir, &p.cb, "dave", "read-write");
    assert_eq!(delete(b, &format!("{base}{}/", id(1)), &dave), 404);

    // A round with nothing new: at most 3 requests, well under a second.
    let start = Instant::now();
    let (code, out) = sync(&p.b_dir, &[]);
    let took = start.elapsed();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("new 0, updated 0, deleted 0, unchanged 0, refused 0"),
        "{out}"
    );
    assert!(requests(&out) <= 3, "{out}");
    assert!(took < Duration::from_secs(1), "no-op sync took {took:?}");

    // A deletion on A removes the object on B, with a tombstone in both logs.
    assert_eq!(
        delete(
            a,
            &format!("/api/collections/{}/objects/{}/", p.ca, id(2)),
            &p.alice
        ),
        200
    );
    wait_checkpoint(a, 5);
    let (code, out) = sync(&p.b_dir, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("deleted 1"), "{out}");
    assert_eq!(get(b, &format!("{base}{}/", id(2)), &b_admin).0, 404);
    // B's log: three mirrored versions, then the tombstone.
    wait_checkpoint(b, 4);
    for (node, coll, who) in [(a, &p.ca, &p.alice), (b, &p.cb, &b_admin)] {
        let (status, receipt) = get(node, &format!("/log/receipt/{coll}/{}", id(2)), who);
        assert_eq!(status, 200, "{receipt}");
        assert!(receipt.contains(r#""kind":"tombstone""#), "{receipt}");
    }

    // A's operator rewrites object 1 in A's database and re-dates it so it is served again:
    // B refuses it by id, exits non-zero, and keeps the untouched version.
    let before = get(b, &format!("{base}{}/", id(1)), &b_admin);
    {
        let db = rusqlite::Connection::open(p.a_dir.join("detente.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        let new_date: i64 = db
            .query_row("SELECT max(date_added) + 1 FROM objects", [], |r| r.get(0))
            .unwrap();
        let old_date: i64 = db
            .query_row(
                "SELECT date_added FROM objects WHERE object_id = ?1",
                [id(1)],
                |r| r.get(0),
            )
            .unwrap();
        db.execute(
            "UPDATE objects SET body = replace(body, '\"one\"', '\"forged\"'), date_added = ?1 \
             WHERE date_added = ?2",
            [new_date, old_date],
        )
        .unwrap();
        db.execute(
            "UPDATE log_nonces SET date_added = ?1 WHERE date_added = ?2",
            [new_date, old_date],
        )
        .unwrap();
    }
    let (code, out) = sync(&p.b_dir, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("refused {}: its bytes do not match entry", id(1))),
        "{out}"
    );
    assert_eq!(get(b, &format!("{base}{}/", id(1)), &b_admin), before);

    // A peer pinned to the wrong log key is refused before anything is fetched.
    let b_key = last_line(&ok(detente(&["log-key", "--data", &s(&p.b_dir)], &[])));
    ok(detente(
        &[
            "peer",
            "add",
            "wrongkey",
            "--url",
            &a.url,
            "--log-key",
            &b_key,
            "--credentials",
            &s(&p.nodeb_file),
            "--data",
            &s(&p.b_dir),
        ],
        &[],
    ));
    let (code, out) = sync(&p.b_dir, &["--peer", "wrongkey"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not signed by the pinned log key"), "{out}");

    // A peer whose checkpoints need a witness's cosignature A does not have is refused too.
    let b_witness = last_line(&ok(detente(
        &["witness", "key", "--data", &s(&p.b_dir)],
        &[],
    )));
    ok(detente(
        &[
            "peer",
            "add",
            "quorum",
            "--url",
            &a.url,
            "--log-key",
            &p.a_key,
            "--witness",
            &b_witness,
            "--quorum",
            "1",
            "--credentials",
            &s(&p.nodeb_file),
            "--data",
            &s(&p.b_dir),
        ],
        &[],
    ));
    let (code, out) = sync(&p.b_dir, &["--peer", "quorum"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not cosigned by enough witnesses"), "{out}");
    assert!(!p.a_key.is_empty());
}

/// `detente pull --verify-signatures` of B's collection as B's admin, proving B's bindings
/// with B's log key: (exit code, stderr).
fn pull_verify(p: &Pair, tmp: &Path) -> (i32, String) {
    let b_key = last_line(&ok(detente(&["log-key", "--data", &s(&p.b_dir)], &[])));
    let out = detente(
        &[
            "pull",
            "--url",
            &format!("{}/api/", p.b.url),
            "--collection",
            &p.cb,
            "--credentials",
            &s(&p.b_dir.join("admin.credentials")),
            "--out",
            &s(&tmp.join("pulled.json")),
            "--verify-signatures",
            "--log-key",
            &b_key,
            "--state",
            &s(&tmp.join("verify-state")),
        ],
        &[],
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Writes `object` (a JSON text) into A's store as alice's, as A's operator could: through the
/// store itself, so it gets a proper log entry, but past the node's signature check.
fn operator_writes(a_dir: &Path, collection: &str, object: &str) {
    use detente_store::Store as _;
    let store = detente_store_sqlite::SqliteStore::open(&a_dir.join("detente.sqlite")).unwrap();
    let alice = store.member_by_name("alice").unwrap().unwrap();
    let value: serde_json::Value = serde_json::from_str(object).unwrap();
    let now = detente_server::now_micros();
    let new = detente_server::prepare_object(object, &value, now, 0).unwrap();
    let report = store
        .ingest(detente_store::IngestBatch {
            collection: collection.to_owned(),
            contributor: alice.id,
            status_id: format!("forged-{now}"),
            request_timestamp: now,
            objects: vec![new],
            failures: Vec::new(),
        })
        .unwrap();
    assert!(
        matches!(
            report.outcomes[..],
            [detente_store::IngestOutcome::Stored { .. }]
        ),
        "{report:?}"
    );
}

/// The same public key under another name (and so another key id).
fn renamed(vkey: &str, name: &str) -> String {
    use base64::Engine as _;
    let material = vkey.splitn(3, '+').nth(2).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(material)
        .unwrap();
    let id = detente_tlog::note::key_id(name, bytes[0], &bytes[1..]);
    format!("{name}+{id:08x}+{material}")
}

#[test]
fn contributor_signatures_are_checked_by_b_and_a_key_swap_is_reported() {
    let tmp = support::tempdir();
    let p = pair(tmp.path());
    let (a_dir, b_dir) = (s(&p.a_dir), s(&p.b_dir));
    let key1 = tmp.path().join("alice1.key");
    let vkey1 = last_line(&ok(detente(&["keygen", "--out", &s(&key1)], &[])));
    ok(detente(
        &["member", "set-key", "alice", &vkey1, "--data", &a_dir],
        &[],
    ));
    let push_signed = |file: &str, key: &Path, objects: &[String]| {
        let f = tmp.path().join(file);
        std::fs::write(&f, format!("[{}]", objects.join(","))).unwrap();
        let (user, secret) = p.alice.split_once(':').unwrap();
        ok(detente(
            &[
                "push",
                &s(&f),
                "--sign",
                &s(key),
                "--url",
                &format!("{}/api/", p.a.url),
                "--collection",
                &p.ca,
                "--user",
                user,
            ],
            &[("DETENTE_SECRET", secret)],
        ));
    };
    push_signed(
        "1.json",
        &key1,
        &[indicator(1, "one", ""), indicator(2, "two", "")],
    );
    // A's log: the binding (0), then the two objects.
    wait_checkpoint(&p.a, 3);

    // B mirrors them, checking each signature with the key A's log binds to alice, and
    // reports the binding it saw.
    let (code, out) = sync(&p.b_dir, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("new 2, updated 0, deleted 0"), "{out}");
    assert!(out.contains("1 key changes"), "{out}");
    assert!(
        out.contains(&format!(
            "key a: alice: none -> {vkey1} (entry 0 of the partner's log)"
        )),
        "{out}"
    );
    // B's log records the binding as peer:a/alice; B's readers verify the mirrored objects
    // against it.
    wait_checkpoint(&p.b, 3);
    let (code, err) = pull_verify(&p, tmp.path());
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1 key bindings proven in the node's log"),
        "{err}"
    );
    assert!(
        err.contains("2 verified (0 by a superseded key), 0 unsigned, 0 failed"),
        "{err}"
    );
    // Both mirrored versions' provenance in one request, not one per object.
    assert!(err.contains("provenance asked in 1 requests"), "{err}");
    assert!(
        err.contains("signatures: 2 of the verified by partners' members"),
        "{err}"
    );
    let b_admin = format!("admin:{}", p.b.admin_secret);
    let (status, keys) = get(&p.b, "/log/keys", &b_admin);
    assert_eq!(status, 200, "{keys}");
    let keys: serde_json::Value = serde_json::from_str(&keys).unwrap();
    assert_eq!(keys[0]["member"], "peer:a/alice");
    assert_eq!(keys[0]["vkey"], vkey1.as_str());

    // A local member of B named like A's alice cannot take her key, renamed or not.
    member(&p.b_dir, "alice", "contributor", "amber");
    for stolen in [vkey1.clone(), renamed(&vkey1, "mine")] {
        let taken = detente(
            &["member", "set-key", "alice", &stolen, "--data", &b_dir],
            &[],
        );
        assert!(!taken.status.success());
        let err = String::from_utf8_lossy(&taken.stderr);
        assert!(
            err.contains("this public key is bound to peer:a/alice"),
            "{err}"
        );
    }

    // A's admin swaps alice's key: a log entry on A, and B's next round reports the swap.
    let key2 = tmp.path().join("alice2.key");
    let vkey2 = last_line(&ok(detente(&["keygen", "--out", &s(&key2)], &[])));
    ok(detente(
        &["member", "set-key", "alice", &vkey2, "--data", &a_dir],
        &[],
    ));
    let listed = ok(detente(&["member", "keys", "--data", &a_dir], &[]));
    assert!(
        listed.contains(&format!("3\talice\t{vkey2}\tcurrent")),
        "{listed}"
    );
    push_signed("2.json", &key2, &[indicator(3, "three", "")]);
    wait_checkpoint(&p.a, 5);
    let (code, out) = sync(&p.b_dir, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("new 1, updated 0"), "{out}");
    assert!(
        out.contains(&format!(
            "key a: alice: {vkey1} -> {vkey2} (entry 3 of the partner's log)"
        )),
        "{out}"
    );
    // Objects signed before the swap still verify (with the superseded key), on B too.
    wait_checkpoint(&p.b, 5);
    let (code, err) = pull_verify(&p, tmp.path());
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("3 verified (2 by a superseded key), 0 unsigned, 0 failed"),
        "{err}"
    );
    assert!(err.contains("provenance asked in 1 requests"), "{err}");

    // A's operator writes an object in alice's name straight into A's store (a proper log
    // entry, past A's check) with a signature that does not verify: alice's signature of
    // object 3 (with her current key), on other content.
    let signed: serde_json::Value = serde_json::from_str(
        &get(
            &p.a,
            &format!("/api/collections/{}/objects/{}/", p.ca, id(3)),
            &p.alice,
        )
        .1,
    )
    .unwrap();
    let mut forged = signed["objects"][0].clone();
    forged["id"] = id(8).into();
    forged["name"] = "forged".into();
    operator_writes(&p.a_dir, &p.ca, &forged.to_string());
    // And one signed with a key A's log binds to alice only afterwards (back-dated).
    let key3 = tmp.path().join("alice3.key");
    let vkey3 = last_line(&ok(detente(&["keygen", "--out", &s(&key3)], &[])));
    let signer3 =
        detente_tlog::NoteSigner::parse(std::fs::read_to_string(&key3).unwrap().trim()).unwrap();
    let mut early: serde_json::Value = serde_json::from_str(&indicator(9, "early", "")).unwrap();
    detente_sign::sign(&mut early, "alice", &signer3).unwrap();
    operator_writes(&p.a_dir, &p.ca, &early.to_string());
    ok(detente(
        &["member", "set-key", "alice", &vkey3, "--data", &a_dir],
        &[],
    ));
    wait_checkpoint(&p.a, 8);

    let (code, out) = sync(&p.b_dir, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "refused {}: contributor signature: the signature by alice",
            id(8)
        )) && out.contains("does not verify"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "refused {}: contributor signature: signed with key",
            id(9)
        )) && out.contains("binds only at entry 7, after the object's entry 6"),
        "{out}"
    );
    assert!(
        out.contains("new 0, updated 0, deleted 0, unchanged 0, refused 2"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "key a: alice: {vkey2} -> {vkey3} (entry 7 of the partner's log)"
        )),
        "{out}"
    );
    // Nothing of either is stored on B.
    for i in [8, 9] {
        let path = format!("/api/collections/{}/objects/{}/", p.cb, id(i));
        assert_eq!(get(&p.b, &path, &b_admin).0, 404);
    }
    let db = rusqlite::Connection::open(p.b_dir.join("detente.sqlite")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM objects WHERE body LIKE '%forged%' OR body LIKE '%early%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
}

/// Corroboration across nodes (`…/scores/`): on B, a mirrored indicator counts as partner A
/// and A's contributing member, so A's two members and B's local one are three contributors
/// of one value; on A, the same two objects are two.
#[test]
fn mirrored_indicators_corroborate_as_partner_and_member() {
    let tmp = support::tempdir();
    let p = pair(tmp.path());
    let (a, b) = (&p.a, &p.b);
    let same = |n: usize| {
        format!(
            r#"{{"type":"indicator","spec_version":"2.1","id":"{}","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '10.0.0.1']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}}"#,
            id(n)
        )
    };
    push(a, &tmp.path().join("1.json"), &p.ca, &p.alice, &[same(1)]);
    let erin = member(&p.a_dir, "erin", "contributor", "amber");
    grant(&p.a_dir, &p.ca, "erin", "read-write");
    push(a, &tmp.path().join("2.json"), &p.ca, &erin, &[same(2)]);
    wait_checkpoint(a, 2);
    let (code, out) = sync(&p.b_dir, &[]);
    assert_eq!(code, 0, "{out}");
    let dave = member(&p.b_dir, "dave", "contributor", "amber");
    grant(&p.b_dir, &p.cb, "dave", "read-write");
    push(b, &tmp.path().join("3.json"), &p.cb, &dave, &[same(3)]);
    let contributors = |node: &Node, coll: &str, who: &str| -> Vec<(String, u64)> {
        let (status, body) = get(node, &format!("/api/collections/{coll}/scores/"), who);
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["indicator"].as_str().unwrap().to_owned(),
                    r["contributors"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        contributors(b, &p.cb, &dave),
        [(id(1), 3), (id(2), 3), (id(3), 3)]
    );
    assert_eq!(contributors(a, &p.ca, &p.alice), [(id(1), 2), (id(2), 2)]);
}

/// Points B's peer `a` at another address (A restarted elsewhere), as an operator would.
fn repoint(b_dir: &Path, url: &str) {
    let db = rusqlite::Connection::open(b_dir.join("detente.sqlite")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db.execute("UPDATE peers SET url = ?1 WHERE name = 'a'", [url])
        .unwrap();
}

fn stop(node: &mut Node) {
    let _ = node.process.child.kill();
    let _ = node.process.child.wait();
}

/// Starts A again on its data directory and points B at it.
fn restart(p: &mut Pair) {
    p.a = Node::start(&p.a_dir, &[], &[]);
    repoint(&p.b_dir, &p.a.url);
}

#[test]
fn a_rolled_back_or_forked_partner_log_is_refused() {
    let tmp = support::tempdir();
    let mut p = pair(tmp.path());
    let first: Vec<String> = (1..=3).map(|i| indicator(i, "first", "")).collect();
    push(&p.a, &tmp.path().join("1.json"), &p.ca, &p.alice, &first);
    wait_checkpoint(&p.a, 3);
    // Keep a copy of A at size 3 (stopped, so the copy is consistent), then grow A to 6.
    let old = tmp.path().join("a-at-3");
    stop(&mut p.a);
    copy_dir(&p.a_dir, &old);
    restart(&mut p);
    let second: Vec<String> = (4..=6).map(|i| indicator(i, "second", "")).collect();
    push(&p.a, &tmp.path().join("2.json"), &p.ca, &p.alice, &second);
    wait_checkpoint(&p.a, 6);
    let (code, out) = sync(&p.b_dir, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("new 6"), "{out}");

    // A restored from the copy: its log is back at 3.
    stop(&mut p.a);
    std::fs::remove_dir_all(&p.a_dir).unwrap();
    copy_dir(&old, &p.a_dir);
    restart(&mut p);
    let (code, out) = sync(&p.b_dir, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rollback"), "{out}");

    // It grows past 6 with other objects: a fork of the history B accepted.
    let other: Vec<String> = (10..=14).map(|i| indicator(i, "other", "")).collect();
    push(&p.a, &tmp.path().join("3.json"), &p.ca, &p.alice, &other);
    wait_checkpoint(&p.a, 8);
    let (code, out) = sync(&p.b_dir, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("do not hash to its signed root"), "{out}");
    // Nothing of the forked history was stored.
    let db = rusqlite::Connection::open(p.b_dir.join("detente.sqlite")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM objects WHERE body LIKE '%other%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn a_sync_killed_halfway_resumes_with_every_object_once() {
    const N: usize = 50_000;
    let tmp = support::tempdir();
    let p = pair(tmp.path());
    let objects: Vec<String> = (0..N).map(|i| indicator(i, "bulk", "")).collect();
    push(
        &p.a,
        &tmp.path().join("bulk.json"),
        &p.ca,
        &p.alice,
        &objects,
    );
    wait_checkpoint(&p.a, N as u64);

    let mut cmd = support::command();
    cmd.args(["sync", "--page", "500", "--data", &s(&p.b_dir)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = Process::spawn(&mut cmd);
    let db = rusqlite::Connection::open(p.b_dir.join("detente.sqlite")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let count = |db: &rusqlite::Connection| -> i64 {
        db.query_row("SELECT count(*) FROM objects", [], |r| r.get(0))
            .unwrap()
    };
    let start = Instant::now();
    while count(&db) < 5_000 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "sync made no progress"
        );
        assert!(
            child.child.try_wait().unwrap().is_none(),
            "sync ended too early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL, not a polite stop.
    Command::new("kill")
        .args(["-9", &child.child.id().to_string()])
        .status()
        .unwrap();
    child.child.wait().unwrap();
    let partial = count(&db);
    assert!(
        partial < N as i64,
        "killed too late to test anything ({partial})"
    );

    let (code, out) = sync(&p.b_dir, &[]);
    assert_eq!(code, 0, "{out}");
    let stats: (i64, i64, i64, i64) = db
        .query_row(
            "SELECT count(*), count(DISTINCT object_id), \
             (SELECT count(*) FROM mirror_provenance), (SELECT count(*) FROM log_leaves) \
             FROM objects",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(stats, (N as i64, N as i64, N as i64, N as i64), "{out}");
    let (code, out) = sync(&p.b_dir, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(requests(&out) <= 3, "{out}");
    let _ = &p.cb;
}

#[test]
fn serve_with_a_sync_interval_mirrors_continuously() {
    let tmp = support::tempdir();
    let p = pair_with(tmp.path(), &["--sync-interval", "1"]);
    let b_admin = format!("admin:{}", p.b.admin_secret);
    push(
        &p.a,
        &tmp.path().join("1.json"),
        &p.ca,
        &p.alice,
        &[indicator(7, "seven", "")],
    );
    let path = format!("/api/collections/{}/objects/{}/", p.cb, id(7));
    let start = Instant::now();
    while get(&p.b, &path, &b_admin).0 != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "B's node never mirrored the object"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        get(&p.b, &path, &b_admin),
        get(
            &p.a,
            &format!("/api/collections/{}/objects/{}/", p.ca, id(7)),
            &p.alice
        )
    );
}
