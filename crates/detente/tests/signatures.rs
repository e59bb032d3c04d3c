//! Contributor signatures end to end against a real `detente serve` (issue 13, item 1):
//! `keygen`, `member set-key` while the node runs, `push --sign`, the node's checks at ingest
//! (bad signature, signer other than the poster, unsigned in a collection that requires
//! signatures), `pull --verify-signatures` proving the key bindings in the node's log, an
//! operator's edit of a stored object caught by the reader, and a key swap that is a public
//! log entry.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Node, detente, last_line, run_ok, tempdir};

const EXT: &str = "extension-definition--91b32a10-6cd0-4f08-b2bc-f92c7cde316c";

fn indicator(n: u32, value: &str) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
        "pattern": format!("[domain-name:value = '{value}']"), "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z"
    })
}

fn write_bundle(path: &Path, objects: &[Value]) {
    let bundle = json!({
        "type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": objects
    });
    std::fs::write(path, bundle.to_string()).unwrap();
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The test's node with alice (contributor), bob (reader) and two collections, one of which
/// requires signatures.
struct World {
    _dir: tempfile::TempDir,
    dir: std::path::PathBuf,
    data: String,
    node: Node,
    coll: String,
    strict: String,
    alice: String,
    bob: String,
    mallory: String,
}

impl World {
    fn new() -> World {
        let dir = tempdir();
        let root = dir.path().to_path_buf();
        let data_dir = root.join("data");
        let node = Node::start(&data_dir, &[], &[]);
        let data = data_dir.to_str().unwrap().to_owned();
        let d = data.as_str();
        let add = |name: &str, role: &str| {
            last_line(&run_ok(&[
                "member", "add", name, "--role", role, "--data", d,
            ]))
        };
        let (alice, bob, mallory) = (
            add("alice", "contributor"),
            add("bob", "reader"),
            add("mallory", "contributor"),
        );
        let coll = last_line(&run_ok(&[
            "collection",
            "add",
            "--title",
            "intel",
            "--data",
            d,
        ]));
        let strict = last_line(&run_ok(&[
            "collection",
            "add",
            "--title",
            "signed only",
            "--require-signatures",
            "--data",
            d,
        ]));
        for (c, m, a) in [
            (&coll, "alice", "read-write"),
            (&coll, "bob", "read"),
            (&coll, "mallory", "read-write"),
            (&strict, "alice", "read-write"),
            (&strict, "mallory", "read-write"),
        ] {
            run_ok(&["collection", "grant", c, m, a, "--data", d]);
        }
        World {
            _dir: dir,
            dir: root,
            data,
            node,
            coll,
            strict,
            alice,
            bob,
            mallory,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    fn secret(&self, user: &str) -> &str {
        match user {
            "alice" => &self.alice,
            "bob" => &self.bob,
            "mallory" => &self.mallory,
            "admin" => &self.node.admin_secret,
            other => panic!("no member {other}"),
        }
    }

    /// `detente push` of `objects` to `coll` as `user`, with `extra` flags.
    fn push(&self, user: &str, coll: &str, objects: &[Value], extra: &[&str]) -> Output {
        let file = self.path(&format!("push-{}.json", rand_suffix()));
        write_bundle(Path::new(&file), objects);
        let api = format!("{}/api/", self.node.url);
        let mut args = vec![
            "push",
            &file,
            "--url",
            &api,
            "--collection",
            coll,
            "--user",
            user,
        ];
        args.extend_from_slice(extra);
        detente(&args, &[("DETENTE_SECRET", self.secret(user))])
    }

    /// `detente pull --verify-signatures` of the main collection as bob.
    fn pull_verify(&self, extra: &[&str]) -> (Output, Vec<Value>) {
        let out_file = self.path(&format!("pull-{}.json", rand_suffix()));
        let state = self.path("verify-state");
        let api = format!("{}/api/", self.node.url);
        let mut args = vec![
            "pull",
            "--url",
            &api,
            "--collection",
            &self.coll,
            "--user",
            "bob",
            "--out",
            &out_file,
            "--verify-signatures",
        ];
        if !extra.contains(&"--state") {
            args.extend_from_slice(&["--state", &state]);
        }
        args.extend_from_slice(extra);
        let out = detente(&args, &[("DETENTE_SECRET", &self.bob)]);
        let objects = std::fs::read_to_string(&out_file)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|b| b["objects"].as_array().cloned())
            .unwrap_or_default();
        (out, objects)
    }

    fn log_key(&self) -> String {
        last_line(&run_ok(&["log-key", "--data", &self.data]))
    }

    fn keygen(&self, file: &str) -> String {
        last_line(&run_ok(&["keygen", "--out", &self.path(file)]))
    }

    /// `GET /log/keys` as bob, retried while the newest binding is not yet sequenced.
    fn keys(&self) -> Vec<Value> {
        for _ in 0..40 {
            let (st, body) = self
                .node
                .get(
                    "/log/keys",
                    Some(&format!("bob:{}", self.bob)),
                    Duration::from_secs(10),
                )
                .unwrap();
            if st == 200 {
                return serde_json::from_str::<Value>(&body)
                    .unwrap()
                    .as_array()
                    .cloned()
                    .unwrap();
            }
            assert_eq!(st, 503, "{body}");
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("/log/keys stayed unavailable");
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

#[test]
fn signed_objects_are_checked_by_the_node_and_by_readers() {
    let w = World::new();
    let d = w.data.as_str();

    // keygen: a 0600 key file, the verifier key on the last line, never overwritten.
    let vkey = w.keygen("alice.key");
    assert!(vkey.starts_with("detente-contributor+"), "{vkey}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(w.path("alice.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = detente(&["keygen", "--out", &w.path("alice.key")], &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("refusing to overwrite"));

    // A signed object from a member with no key is refused with the reason.
    let out = w.push(
        "alice",
        &w.coll,
        &[indicator(1, "a.example")],
        &["--sign", &w.path("alice.key")],
    );
    assert!(
        stderr(&out).contains(
            "has no contributor key bound on this node (an admin binds one with `detente member set-key`)"
        ),
        "{}",
        stderr(&out)
    );

    // set-key beside the running node; a malformed key is refused before anything is stored.
    let bad = detente(
        &["member", "set-key", "alice", "not-a-key", "--data", d],
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("invalid verifier key"),
        "{}",
        stderr(&bad)
    );
    let set = detente(&["member", "set-key", "alice", &vkey, "--data", d], &[]);
    assert!(set.status.success(), "{}", stderr(&set));
    let keys = w.keys();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["member"], "alice");
    assert_eq!(keys[0]["vkey"], vkey.as_str());
    assert_eq!(keys[0]["superseded_by"], Value::Null);

    // alice signs and pushes; the node keeps the objects byte for byte with the extension.
    let signed = [indicator(1, "a.example"), indicator(2, "b.example")];
    let out = w.push("alice", &w.coll, &signed, &["--sign", &w.path("alice.key")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2 accepted, 0 refused"),
        "{}",
        stderr(&out)
    );

    // bob pulls and verifies against the bindings proven in the node's log.
    let log_key = w.log_key();
    let (out, objects) = w.pull_verify(&["--log-key", &log_key]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("1 key bindings proven"), "{err}");
    assert!(
        err.contains("2 verified (0 by a superseded key), 0 unsigned, 0 failed"),
        "{err}"
    );
    assert_eq!(objects.len(), 2);
    let entry = &objects[0]["extensions"][EXT];
    assert_eq!(entry["signer"], "alice");
    assert_eq!(entry["extension_type"], "property-extension");

    // An object altered after signing is refused by the node, naming the reason; the valid
    // object beside it is stored.
    let mut tampered = objects[0].clone();
    tampered["id"] = json!("indicator--00000000-0000-4000-8000-000000000003");
    let out = w.push(
        "alice",
        &w.coll,
        &[tampered, indicator(4, "d.example")],
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refused indicator--00000000-0000-4000-8000-000000000003")
            && err.contains("does not verify: the object was altered"),
        "{err}"
    );
    assert!(err.contains("1 accepted, 1 refused"), "{err}");

    // Nobody posts in alice's name: mallory and the admin re-posting an object alice signed
    // (a new id signed by alice's key) are refused.
    let mut forged = indicator(5, "e.example");
    {
        let key = detente_tlog::NoteSigner::parse(
            std::fs::read_to_string(w.path("alice.key")).unwrap().trim(),
        )
        .unwrap();
        detente_sign_object(&mut forged, &key);
    }
    for poster in ["mallory", "admin"] {
        let out = w.push(
            poster,
            &w.coll,
            &[forged.clone(), indicator(6, "f.example")],
            &[],
        );
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "signed as \"alice\" but posted by \"{poster}\": a member posts only objects signed with its own key"
            )),
            "{poster}: {err}"
        );
    }

    // Nor by spelling the extension's id with JSON escapes (the node reads the parsed object,
    // as readers do): mallory replays alice's signed object, verbatim otherwise, into a
    // collection where alice never posted it.
    let replay = serde_json::to_string(&objects[0])
        .unwrap()
        .replace(EXT, &EXT.replace("316c", "316\\u0063"));
    assert!(
        replay.contains("\\u0063") && !replay.contains(EXT),
        "{replay}"
    );
    let r = support::agent()
        .post(format!(
            "{}/api/collections/{}/objects/",
            w.node.url, w.strict
        ))
        .header("Accept", support::TAXII)
        .header("Content-Type", support::TAXII)
        .header(
            "Authorization",
            support::basic(&format!("mallory:{}", w.mallory)),
        )
        .send(format!(r#"{{"objects":[{replay}]}}"#))
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(
        r.contains(r#"signed as \"alice\" but posted by \"mallory\""#),
        "{r}"
    );

    // A collection that requires signatures refuses unsigned objects, until it no longer does.
    let out = w.push("alice", &w.strict, &[indicator(7, "g.example")], &[]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("requires signed objects"), "{err}");
    let out = w.push(
        "alice",
        &w.strict,
        &[indicator(7, "g.example")],
        &["--sign", &w.path("alice.key")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = run_ok(&["collection", "list", "--data", d]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&w.strict) && l.ends_with("signatures required")),
        "{listed}"
    );
    run_ok(&[
        "collection",
        "require-signatures",
        &w.strict,
        "--off",
        "--data",
        d,
    ]);
    let out = w.push("alice", &w.strict, &[indicator(8, "h.example")], &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The reader reports unsigned objects (mallory's, and alice's unsigned one) without
    // failing, and with only a wrong key given it fails every signed object.
    let out = w.push("mallory", &w.coll, &[indicator(9, "i.example")], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (out, _) = w.pull_verify(&[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("unsigned: indicator--00000000-0000-4000-8000-000000000009"),
        "{err}"
    );
    assert!(
        err.contains("2 verified (0 by a superseded key), 3 unsigned, 0 failed"),
        "{err}"
    );
    let other = w.keygen("other.key");
    let (out, _) = w.pull_verify(&[
        "--state",
        &w.path("fresh-state"),
        "--signer-key",
        &format!("alice={other}"),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("0 verified (0 by a superseded key), 3 unsigned, 2 failed"),
        "{err}"
    );
}

/// Signs like `detente push --sign` (the same library call the client makes).
fn detente_sign_object(o: &mut Value, key: &detente_tlog::NoteSigner) {
    let signer = "alice";
    detente_sign::sign(o, signer, key).unwrap();
}

#[test]
fn an_operator_edit_is_caught_and_a_key_swap_is_public() {
    let w = World::new();
    let d = w.data.as_str();
    let vkey = w.keygen("alice.key");
    run_ok(&["member", "set-key", "alice", &vkey, "--data", d]);
    let out = w.push(
        "alice",
        &w.coll,
        &[indicator(1, "a.example"), indicator(2, "b.example")],
        &["--sign", &w.path("alice.key")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let log_key = w.log_key();
    let (out, _) = w.pull_verify(&["--log-key", &log_key]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The operator rewrites a stored object in the node's database: the reader's check names
    // it and exits 1.
    {
        let db = rusqlite::Connection::open(w.dir.join("data/detente.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        let n = db
            .execute(
                "UPDATE objects SET body = replace(body, 'b.example', 'evil.example') \
                 WHERE object_id = 'indicator--00000000-0000-4000-8000-000000000002'",
                [],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let (out, _) = w.pull_verify(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("signature FAILED: indicator--00000000-0000-4000-8000-000000000002")
            && err.contains("does not verify"),
        "{err}"
    );
    assert!(
        err.contains("1 verified (0 by a superseded key), 0 unsigned, 1 failed"),
        "{err}"
    );

    // The admin swaps alice's key: a new log entry, the old one superseded, both public to
    // members; alice's old key no longer signs for her, her old objects are reported as by a
    // superseded key, and her new key works.
    let before = w.keys();
    let swapped = w.keygen("swapped.key");
    let set = detente(&["member", "set-key", "alice", &swapped, "--data", d], &[]);
    assert!(set.status.success(), "{}", stderr(&set));
    let after = w.keys();
    assert_eq!(after.len(), before.len() + 1);
    let new_index = after[1]["log_index"].as_u64().unwrap();
    assert!(new_index > before[0]["log_index"].as_u64().unwrap());
    assert_eq!(after[0]["superseded_by"], json!(new_index));
    assert_eq!(after[1]["vkey"], swapped.as_str());
    let listed = run_ok(&["member", "keys", "--data", d]);
    assert!(
        listed.contains(&format!("superseded at {new_index}")) && listed.contains("current"),
        "{listed}"
    );
    let same = detente(&["member", "set-key", "alice", &swapped, "--data", d], &[]);
    assert_eq!(
        same.status.code(),
        Some(2),
        "re-binding the current key logs nothing"
    );

    let out = w.push(
        "alice",
        &w.coll,
        &[indicator(3, "c.example")],
        &["--sign", &w.path("alice.key")],
    );
    let err = stderr(&out);
    assert!(err.contains("but the key bound to alice has id"), "{err}");
    let out = w.push(
        "alice",
        &w.coll,
        &[indicator(3, "c.example")],
        &["--sign", &w.path("swapped.key")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (out, _) = w.pull_verify(&[]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "signed by a superseded key: indicator--00000000-0000-4000-8000-000000000001 \
             2024-01-01T00:00:00.000Z (the key was replaced at log index {new_index})"
        )),
        "{err}"
    );
    assert!(
        err.contains("2 verified (1 by a superseded key), 0 unsigned, 1 failed"),
        "{err}"
    );
}
