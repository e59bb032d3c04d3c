//! A witness killed with SIGKILL while it cosigns a stream of checkpoints, then restarted on
//! the same data directory, never cosigns anything inconsistent with a cosignature it had
//! already returned: its state is durable before each answer.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use detente_tlog::hash::leaf_hash;
use detente_tlog::proof::{MemoryTree, prove_consistency};
use detente_tlog::witness::add_checkpoint_body;
use detente_tlog::{Checkpoint, Note, NoteSigner, VerifierKey, Verifiers};
use support::{Node, agent, command};

const ORIGIN: &str = "crash.test/log";

fn cp(log: &NoteSigner, t: &MemoryTree, size: u64) -> Vec<u8> {
    let c = Checkpoint::new(ORIGIN, size, t.root(size).unwrap()).unwrap();
    let mut n = Note::new(c.to_string()).unwrap();
    n.add_signature(log.sign(n.text())).unwrap();
    n.to_bytes()
}

fn post(url: &str, body: &[u8]) -> Result<(u16, String), ureq::Error> {
    let mut r = agent().post(url).send(body)?;
    Ok((r.status().as_u16(), r.body_mut().read_to_string()?))
}

#[test]
fn killed_witness_keeps_every_cosignature_it_returned() {
    let tmp = support::tempdir();
    let data = tmp.path().join("w");
    let log = NoteSigner::from_seed(ORIGIN, &[8; 32]).unwrap();
    let tree = Arc::new(MemoryTree::new(
        (0..5000u32).map(|i| leaf_hash(&i.to_be_bytes())).collect(),
    ));
    let fork = MemoryTree::new((0..5000u32).map(|i| leaf_hash(&[9, i as u8])).collect());
    let node = Node::start(&data, &[], &["--origin", "w.test/log"]);
    let url = format!("{}/witness/add-checkpoint", node.url);
    let out = command()
        .args(["witness", "trust", &log.verifier().to_string(), "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let wkey = {
        let out = command()
            .args(["witness", "key", "--data"])
            .arg(&data)
            .output()
            .unwrap();
        VerifierKey::parse(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .last()
                .unwrap(),
        )
        .unwrap()
    };

    // One log submitting checkpoints of growing size; every 200 is checked and remembered.
    let returned = Arc::new(AtomicU64::new(0));
    let max_cosigned = Arc::new(Mutex::new(0u64));
    let submitter = {
        let (returned, max_cosigned, url, log, tree, wkey) = (
            returned.clone(),
            max_cosigned.clone(),
            url.clone(),
            log.clone(),
            tree.clone(),
            wkey.clone(),
        );
        std::thread::spawn(move || {
            let mut old = 0;
            for size in 1..5000 {
                let proof = if old == 0 {
                    Vec::new()
                } else {
                    prove_consistency(&mut &*tree, old, size).unwrap()
                };
                let note = cp(&log, &tree, size);
                let Ok((status, body)) = post(&url, &add_checkpoint_body(old, &proof, &note))
                else {
                    return;
                };
                assert_eq!(status, 200, "{body}");
                let with = format!("{}\n{}", String::from_utf8_lossy(&note).trim_end(), body);
                Note::parse(with.as_bytes())
                    .unwrap()
                    .verify(&Verifiers::new(vec![wkey.clone()]))
                    .unwrap();
                *max_cosigned.lock().unwrap() = size;
                returned.fetch_add(1, Ordering::SeqCst);
                old = size;
            }
        })
    };
    while returned.load(Ordering::SeqCst) < 40 {
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(node); // SIGKILL, mid-stream
    submitter.join().unwrap();
    let m = *max_cosigned.lock().unwrap();
    assert!(m >= 40);

    let node = Node::start(&data, &[], &["--origin", "w.test/log"]);
    let url = format!("{}/witness/add-checkpoint", node.url);
    {
        // The restarted witness remembers at least the last size it returned a cosignature for
        // (one more if it was killed after committing but before answering).
        let (status, body) = post(&url, &add_checkpoint_body(0, &[], &cp(&log, &tree, 1))).unwrap();
        assert_eq!(status, 409);
        let latest: u64 = body.trim().parse().unwrap();
        assert!(
            latest == m || latest == m + 1,
            "returned {m}, remembers {latest}"
        );
        // Nothing inconsistent with what it returned: not the same size with another root, not a
        // fork that outgrows it, not a rollback.
        let fork_note = |size| {
            let c = Checkpoint::new(ORIGIN, size, fork.root(size).unwrap()).unwrap();
            let mut n = Note::new(c.to_string()).unwrap();
            n.add_signature(log.sign(n.text())).unwrap();
            n.to_bytes()
        };
        let same = post(&url, &add_checkpoint_body(latest, &[], &fork_note(latest))).unwrap();
        assert_eq!(same.0, 422, "{}", same.1);
        let p = prove_consistency(&mut &fork, latest, latest + 10).unwrap();
        let grown = post(
            &url,
            &add_checkpoint_body(latest, &p, &fork_note(latest + 10)),
        )
        .unwrap();
        assert_eq!(grown.0, 422, "{}", grown.1);
        let back = post(
            &url,
            &add_checkpoint_body(m - 1, &[], &cp(&log, &tree, m - 1)),
        )
        .unwrap();
        assert_eq!(back.0, 409);
        // The true history goes on being cosigned.
        let p = prove_consistency(&mut &*tree, latest, latest + 1).unwrap();
        let next = post(
            &url,
            &add_checkpoint_body(latest, &p, &cp(&log, &tree, latest + 1)),
        )
        .unwrap();
        assert_eq!(next.0, 200, "{}", next.1);
    }
}
