//! The tlog-witness status-code table against the real `POST /witness/add-checkpoint` of an
//! in-process node: every refusal the spec orders, the cosignature on success, the evidence of
//! a conflict, and two requests racing from the same old size (exactly one is cosigned).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use detente_server::{Config, WitnessService};
use detente_store::Store;
use detente_store_sqlite::SqliteStore;
use detente_tlog::hash::{empty_root, leaf_hash};
use detente_tlog::proof::{MemoryTree, prove_consistency};
use detente_tlog::witness::add_checkpoint_body;
use detente_tlog::{Checkpoint, Cosigner, Hash, Note, NoteSigner, Verifiers};

const A: &str = "log.example/a";
const B: &str = "log.example/b";

struct Node {
    addr: SocketAddr,
    store: Arc<SqliteStore>,
    agent: ureq::Agent,
    witness: Cosigner,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

fn start(trusted: &[(&str, &NoteSigner)]) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("db.sqlite")).unwrap());
    for (origin, log) in trusted {
        store
            .witness_trust(origin, &log.verifier().to_string())
            .unwrap();
    }
    let witness = Cosigner::from_seed("witness.test/w", &[5; 32]).unwrap();
    let config = Config {
        witness: Some(WitnessService {
            cosigner: witness.clone(),
        }),
        ..Config::default()
    };
    let (addr, stop) = common::spawn(config, store.clone());
    Node {
        addr,
        store,
        agent: common::agent(),
        witness,
        _stop: stop,
        _dir: dir,
    }
}

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Node {
    fn post(&self, body: &[u8]) -> Reply {
        let mut r = self
            .agent
            .post(&format!("http://{}/witness/add-checkpoint", self.addr))
            .send(body)
            .unwrap();
        Reply {
            status: r.status().as_u16(),
            content_type: r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            body: r.body_mut().read_to_string().unwrap(),
        }
    }
}

fn signed(log: &NoteSigner, origin: &str, size: u64, root: Hash) -> Vec<u8> {
    let cp = Checkpoint::new(origin, size, root).unwrap();
    let mut n = Note::new(cp.to_string()).unwrap();
    n.add_signature(log.sign(n.text())).unwrap();
    n.to_bytes()
}

fn tree(n: u64, tag: u8) -> MemoryTree {
    MemoryTree::new((0..n).map(|i| leaf_hash(&[tag, i as u8])).collect())
}

#[test]
fn status_code_table() {
    let log = NoteSigner::from_seed(A, &[1; 32]).unwrap();
    let log_b = NoteSigner::from_seed(B, &[2; 32]).unwrap();
    let node = start(&[(A, &log), (B, &log_b)]);
    let t = tree(40, 0);
    let cp = |size: u64| signed(&log, A, size, t.root(size).unwrap());
    let proof = |a: u64, b: u64| prove_consistency(&mut &t, a, b).unwrap();
    let post = |old: u64, p: &[Hash], note: &[u8]| node.post(&add_checkpoint_body(old, p, note));

    // Unknown origin: 404.
    let stranger = NoteSigner::from_seed("log.example/x", &[3; 32]).unwrap();
    let r = post(
        0,
        &[],
        &signed(&stranger, "log.example/x", 1, t.root(1).unwrap()),
    );
    assert_eq!(r.status, 404, "{}", r.body);
    // Right name, wrong key id (another key called A): 403.
    let impostor = NoteSigner::from_seed(A, &[4; 32]).unwrap();
    let r = post(0, &[], &signed(&impostor, A, 5, t.root(5).unwrap()));
    assert_eq!(r.status, 403, "{}", r.body);
    // A forged signature under the trusted key's name and id: 403.
    let mut forged = Note::parse(&signed(&impostor, A, 5, t.root(5).unwrap())).unwrap();
    let mut sig = forged.signatures()[0].clone();
    sig.key_id = log.verifier().key_id();
    forged = Note::new(forged.text()).unwrap();
    forged.add_signature(sig).unwrap();
    assert_eq!(post(0, &[], &forged.to_bytes()).status, 403);
    // Malformed bodies and `old` above the size: 400.
    assert_eq!(node.post(b"old x\n\n").status, 400);
    assert_eq!(node.post(b"").status, 400);
    assert_eq!(post(6, &[], &cp(5)).status, 400);

    // The first checkpoint, from old 0: cosigned, and the line verifies.
    let r = post(0, &[], &cp(5));
    assert_eq!(r.status, 200, "{}", r.body);
    let mut note = Note::parse(&cp(5)).unwrap();
    for line in r.body.lines() {
        let with = format!("{}\n{line}\n", String::from_utf8(cp(5)).unwrap().trim_end());
        note = Note::parse(with.as_bytes()).unwrap();
    }
    let v = note
        .verify(&Verifiers::new(vec![node.witness.verifier()]))
        .unwrap();
    assert!(v[0].timestamp.unwrap() > 1_700_000_000);
    // A stale old: 409 with the latest size as text/x.tlog.size.
    let r = post(0, &[], &cp(8));
    assert_eq!(
        (r.status, r.content_type.as_str(), r.body.as_str()),
        (409, "text/x.tlog.size", "5\n")
    );
    let r = post(3, &proof(3, 8), &cp(8));
    assert_eq!((r.status, r.body.as_str()), (409, "5\n"));
    // Extending with a good proof: 200. The same checkpoint again (old == size): 200.
    assert_eq!(post(5, &proof(5, 8), &cp(8)).status, 200);
    assert_eq!(post(8, &[], &cp(8)).status, 200);
    // Rollback to an older size: 400 with old 8, 409 (latest 8) with the old it had.
    assert_eq!(post(8, &[], &cp(5)).status, 400);
    let r = post(5, &[], &cp(5));
    assert_eq!((r.status, r.body.as_str()), (409, "8\n"));
    // A proof for the wrong old: 422, kept as evidence with the checkpoint cosigned.
    let r = post(8, &proof(5, 12), &cp(12));
    assert_eq!(r.status, 422, "{}", r.body);
    // Same size, different root: 422, and the conflict is kept as evidence (once).
    let fork = signed(&log, A, 8, tree(8, 9).root(8).unwrap());
    assert_eq!(post(8, &[], &fork).status, 422);
    assert_eq!(post(8, &[], &fork).status, 422);
    let ev = node.store.witness_evidence().unwrap();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(
        (ev[0].cosigned.clone(), ev[0].conflicting.clone()),
        (cp(8), cp(12))
    );
    assert_eq!(ev[1].origin, A);
    assert_eq!(ev[1].cosigned, cp(8));
    assert_eq!(ev[1].conflicting, fork);
    // The state did not move.
    assert_eq!(node.store.witness_state(A).unwrap().unwrap().size, 8);

    // A fresh origin: a non-empty proof with old 0 and a bad empty-tree root are 422.
    let tb = tree(4, 7);
    let b_cp = |size: u64, root: Hash| signed(&log_b, B, size, root);
    let p = prove_consistency(&mut &tb, 2, 4).unwrap();
    assert_eq!(post(0, &p, &b_cp(4, tb.root(4).unwrap())).status, 422);
    assert_eq!(post(0, &[], &b_cp(0, leaf_hash(b"not empty"))).status, 422);
    assert_eq!(post(0, &[], &b_cp(0, empty_root())).status, 200);
    assert_eq!(node.store.witness_evidence().unwrap().len(), 2);

    // Two requests racing from the same old size: exactly one is cosigned, in every round.
    let node = Arc::new(node);
    let mut size = 8;
    for round in 0..10u64 {
        let next = [size + 1 + round % 3, size + 2 + round % 3];
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let replies: Vec<u16> = next
            .iter()
            .map(|&n| {
                let body = add_checkpoint_body(size, &proof(size, n), &cp(n));
                let (node, barrier) = (node.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    node.post(&body).status
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let mut sorted = replies.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![200, 409], "round {round}: {replies:?}");
        size = node.store.witness_state(A).unwrap().unwrap().size;
        assert!(next.contains(&size));
    }
}
