//! The transparency log's HTTP API on a real (in-process) node: receipts recompute from what
//! TAXII serves and prove inclusion; consistency proofs verify; tombstones are receipted; and
//! a member who may not read an object learns nothing about it from `/log/`.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{COLL, TAXII, basic};
use detente_logentry::receipt::{Entry, Receipt};
use detente_sequencer::Sequencer;
use detente_server::Config;
use detente_store::{Access, Clearance, Role, Store};
use detente_store_sqlite::SqliteStore;
use detente_tlog::proof::verify_consistency;
use detente_tlog::{Checkpoint, Note, Verifiers};
use serde_json::{Value, json};

const OTHER: &str = "7c6b5a49-3827-4165-8e4f-3a2b1c0d9e8f";
const AMBER: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
const ORIGIN: &str = "log.test/node";

struct Node {
    addr: SocketAddr,
    store: Arc<SqliteStore>,
    sequencer: Sequencer,
    log_dir: PathBuf,
    agent: ureq::Agent,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

fn start() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(dir.path(), &[COLL, OTHER]);
    common::member(&store, "admin", Role::Admin, Clearance::AMBER_STRICT, "pw");
    common::member(&store, "alice", Role::Contributor, Clearance::AMBER, "pw");
    common::member(&store, "bob", Role::Reader, Clearance::GREEN, "pw");
    common::member(&store, "carol", Role::Reader, Clearance::AMBER_STRICT, "pw");
    store.grant(COLL, "alice", Access::ReadWrite).unwrap();
    store.grant(COLL, "bob", Access::Read).unwrap();
    store.grant(OTHER, "carol", Access::Read).unwrap();
    let (sequencer, log) = common::log(dir.path(), ORIGIN, 3);
    let log_dir = dir.path().join("log");
    let store = Arc::new(store);
    let config = Config {
        log: Some(log),
        ..Config::default()
    };
    let (addr, stop) = common::spawn(config, store.clone());
    Node {
        addr,
        store,
        sequencer,
        log_dir,
        agent: common::agent(),
        _stop: stop,
        _dir: dir,
    }
}

impl Node {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET as `user` (None: no credentials): (status, body).
    fn get(&self, path: &str, user: Option<&str>) -> (u16, String) {
        let mut req = self.agent.get(self.url(path)).header("Accept", TAXII);
        if let Some(u) = user {
            req = req.header("Authorization", basic(u));
        }
        let mut r = req.call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }

    fn post(&self, coll: &str, user: &str, objects: &[Value]) -> Value {
        let mut r = self
            .agent
            .post(self.url(&format!("/api/collections/{coll}/objects/")))
            .header("Accept", TAXII)
            .header("Content-Type", TAXII)
            .header("Authorization", basic(user))
            .send(json!({ "objects": objects }).to_string())
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    }

    fn sequence(&mut self) {
        while self.sequencer.step(&*self.store).unwrap().is_some() {}
    }

    fn receipt(&self, path: &str, user: &str) -> Receipt {
        let (status, body) = self.get(path, Some(user));
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn object(&self, id: &str, user: &str) -> Value {
        let (status, body) = self.get(
            &format!("/api/collections/{COLL}/objects/{id}/"),
            Some(user),
        );
        assert_eq!(status, 200, "{body}");
        let env: Value = serde_json::from_str(&body).unwrap();
        env["objects"][0].clone()
    }
}

fn indicator(n: u32, markings: &[&str]) -> Value {
    let mut o = json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "pattern": format!("[domain-name:value = 'secret-{n}.example']"),
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z"
    });
    if !markings.is_empty() {
        o["object_marking_refs"] = json!(markings);
    }
    o
}

fn all_published(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn verifiers() -> Verifiers {
    let signer = detente_tlog::NoteSigner::from_seed(ORIGIN, &[3u8; 32]).unwrap();
    Verifiers::new(vec![signer.verifier()])
}

#[test]
fn receipts_prove_what_taxii_serves() {
    let mut n = start();
    let plain = indicator(1, &[]);
    let status = n.post(COLL, "alice", &[plain.clone(), indicator(2, &[AMBER])]);
    // Not sequenced yet: come back shortly.
    let id1 = plain["id"].as_str().unwrap();
    let early = n
        .agent
        .get(n.url(&format!("/log/receipt/{COLL}/{id1}")))
        .header("Authorization", basic("bob"))
        .call()
        .unwrap();
    assert_eq!(early.status().as_u16(), 503);
    assert_eq!(early.headers().get("retry-after").unwrap(), "1");
    n.sequence();
    let first = n.get("/log/checkpoint", None).1;
    // The status resource says where each receipt is.
    let at = status["successes"][0]["message"]
        .as_str()
        .unwrap()
        .strip_prefix("receipt: ")
        .unwrap()
        .to_owned();
    assert!(
        at.starts_with(&format!("/log/receipt/{COLL}/{id1}?version=")),
        "{at}"
    );
    let r = n.receipt(&at, "bob");
    assert_eq!(
        r.entry,
        Entry::Object {
            contributor: "alice".into()
        }
    );
    r.check_entry(Some(&n.object(id1, "bob"))).unwrap();
    let cp = r.check_inclusion().unwrap();
    let (note, _) = r.checkpoint().unwrap();
    note.verify(&verifiers()).unwrap();
    assert_eq!(cp.size, 2);
    // Without ?version the latest version is receipted.
    assert_eq!(
        n.receipt(&format!("/log/receipt/{COLL}/{id1}"), "alice")
            .log_index,
        r.log_index
    );
    // A receipt does not vouch for an altered object.
    let mut altered = n.object(id1, "bob");
    altered["pattern"] = json!("[domain-name:value = 'other.example']");
    assert!(r.check_entry(Some(&altered)).is_err());

    // More entries, then a consistency proof between the two checkpoints.
    n.post(COLL, "alice", &[indicator(3, &[]), indicator(4, &[])]);
    n.sequence();
    let second = n.get("/log/checkpoint", None).1;
    let parse = |t: &str| Checkpoint::parse(Note::parse(t.as_bytes()).unwrap().text()).unwrap();
    let (a, b) = (parse(&first), parse(&second));
    let (status, body) = n.get(
        &format!("/log/consistency?from={}&to={}", a.size, b.size),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let proof: Value = serde_json::from_str(&body).unwrap();
    let hashes: Vec<detente_tlog::Hash> = proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| detente_tlog::Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect();
    verify_consistency(a.size, b.size, &a.root, &b.root, &hashes).unwrap();
    assert!(verify_consistency(a.size, b.size, &b.root, &b.root, &hashes).is_err());
    for bad in ["from=3&to=2", "from=1&to=999", "from=x", ""] {
        assert_eq!(
            n.get(&format!("/log/consistency?{bad}"), None).0,
            400,
            "{bad}"
        );
    }

    // Deleting logs a tombstone that the same readers get a receipt for.
    let mut del = n
        .agent
        .delete(n.url(&format!("/api/collections/{COLL}/objects/{id1}/")))
        .header("Accept", TAXII)
        .header("Authorization", basic("alice"))
        .call()
        .unwrap();
    assert_eq!(
        del.status().as_u16(),
        200,
        "{}",
        del.body_mut().read_to_string().unwrap()
    );
    n.sequence();
    let t = n.receipt(&format!("/log/receipt/{COLL}/{id1}"), "bob");
    match &t.entry {
        Entry::Tombstone {
            deleted_by,
            deleted_index,
            ..
        } => {
            assert_eq!(deleted_by, "alice");
            assert_eq!(*deleted_index, r.log_index);
        }
        other => panic!("expected a tombstone, got {other:?}"),
    }
    t.check_entry(None).unwrap();
    assert_eq!(t.check_inclusion().unwrap().size, 5);

    // The public status page shows the log's state, and nothing about objects.
    let mut page = n.agent.get(n.url("/")).call().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.body_mut().read_to_string().unwrap();
    let signer = detente_tlog::NoteSigner::from_seed(ORIGIN, &[3u8; 32]).unwrap();
    assert!(html.contains(&signer.verifier().to_string()), "{html}");
    assert!(html.contains("<td>entries</td><td>5</td>"), "{html}");
    assert!(
        html.contains("<td>object versions stored</td><td>4</td>"),
        "{html}"
    );
    assert!(!html.contains(id1) && !html.contains("secret-"), "{html}");
}

#[test]
fn a_non_reader_learns_nothing_from_the_log() {
    let mut n = start();
    let amber = indicator(7, &[AMBER]);
    let id = amber["id"].as_str().unwrap().to_owned();
    n.post(COLL, "alice", &[amber]);
    n.sequence();
    let missing = "indicator--00000000-0000-4000-8000-999999999999";
    // bob reads the collection but is cleared only to GREEN; carol cannot read it at all.
    let bob_denied = n.get(&format!("/log/receipt/{COLL}/{id}"), Some("bob"));
    let bob_missing = n.get(&format!("/log/receipt/{COLL}/{missing}"), Some("bob"));
    let carol_denied = n.get(&format!("/log/receipt/{COLL}/{id}"), Some("carol"));
    let carol_missing = n.get(&format!("/log/receipt/{COLL}/{missing}"), Some("carol"));
    let nobody = n.get(&format!("/log/receipt/{COLL}/{id}"), None);
    assert_eq!(nobody.0, 401);
    for (status, _) in [&bob_denied, &bob_missing, &carol_denied, &carol_missing] {
        assert_eq!(*status, 404);
    }
    // Refusals differ only by the id that was asked for.
    assert_eq!(
        bob_denied.1.replace(&id, "X"),
        bob_missing.1.replace(missing, "X")
    );
    assert_eq!(
        carol_denied.1.replace(&id, "X"),
        carol_missing.1.replace(missing, "X")
    );
    assert_eq!(bob_denied.1, carol_denied.1);
    // Even an admin asking in a collection that does not exist gets the same answer.
    let unknown = "99999999-9999-4999-8999-999999999999";
    let admin_unknown = n.get(&format!("/log/receipt/{unknown}/{id}"), Some("admin"));
    assert_eq!(admin_unknown.0, 404);
    assert_eq!(admin_unknown.1.replace(unknown, COLL), bob_denied.1);
    // alice, who contributed it, gets it.
    n.receipt(&format!("/log/receipt/{COLL}/{id}"), "alice");
    // Nothing published names the object, its content, the collection or the contributor:
    // every entry is a kind byte and a salted hash.
    let published = all_published(&n.log_dir);
    assert!(published.len() >= 3);
    for needle in [id.as_str(), "secret-7.example", COLL, "alice", "indicator"] {
        for (path, bytes) in &published {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{path} contains {needle}"
            );
        }
    }
    let (status, bundle) = {
        let mut r = n
            .agent
            .get(n.url("/log/tile/entries/000.p/1"))
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_vec().unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(bundle.len(), 2 + 33);
}
