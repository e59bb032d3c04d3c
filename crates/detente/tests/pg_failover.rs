//! One log, many nodes: three `detente serve` processes on one PostgreSQL (a throwaway
//! cluster, or the server `DETENTE_TEST_PG_URL` names) publish one transparency log, one
//! sequencer at a time. With ingest running, the node holding the sequencer lease is killed
//! with SIGKILL again and again: another node must publish the next checkpoint within 5 s,
//! and `detente verify --state`, through a round-robin load balancer over the nodes and
//! against each node, must never see a rollback or a fork. At the end all three nodes serve
//! the same checkpoint within 2 s of quiescence.
//!
//! `DETENTE_FAILOVER_KILLS` sets the number of kills (default 10; `bench/failover.sh` runs
//! 100).

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use detente_testpg::TestPg;
use support::{Node, TAXII, agent, basic, detente, last_line, run_ok};

/// How long the next checkpoint may take after the lease holder dies.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(5);
/// How long the nodes may disagree on the checkpoint once ingest stopped.
const QUIESCENCE_LIMIT: Duration = Duration::from_secs(2);

/// A round-robin TCP load balancer over the addresses in `backends` (a dead one is skipped),
/// as a verifier behind one URL would meet the nodes. Returns its address.
fn load_balancer(backends: Arc<Mutex<Vec<String>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut next = 0usize;
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let list = backends.lock().unwrap().clone();
            let upstream = (0..list.len()).find_map(|i| {
                let a = &list[(next + i) % list.len()];
                TcpStream::connect(a).ok()
            });
            next = next.wrapping_add(1);
            let Some(upstream) = upstream else { continue };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                (upstream, client),
            ] {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(Shutdown::Write);
                });
            }
        }
    });
    addr
}

fn indicator(n: u64) -> String {
    format!(
        r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-{n:012}","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[domain-name:value = 'evil{n}.example']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}}"#
    )
}

/// The lease holder's process id and the published checkpoint's size, from the database.
fn lease_and_size(db: &mut postgres::Client) -> (Option<u32>, u64) {
    let holder: String = db
        .query_one("SELECT holder FROM sequencer_lease", &[])
        .unwrap()
        .get(0);
    let size = db
        .query_opt("SELECT size FROM log_checkpoint", &[])
        .unwrap()
        .map_or(0, |r| r.get::<_, i64>(0).unsigned_abs());
    // host/pid/nonce
    (holder.split('/').nth(1).and_then(|p| p.parse().ok()), size)
}

/// The checkpoint note a node (or the balancer) serves.
fn checkpoint(base: &str) -> Option<String> {
    let mut r = agent().get(format!("{base}/log/checkpoint")).call().ok()?;
    (r.status().as_u16() == 200).then(|| r.body_mut().read_to_string().unwrap())
}

/// `detente verify` of the log at `url` with the state in `state`; must pass.
fn verify(url: &str, state: &Path, key: &str, extra: &[&str]) {
    let mut args = vec![
        "verify",
        "--url",
        url,
        "--state",
        state.to_str().unwrap(),
        "--key",
        key,
    ];
    args.extend_from_slice(extra);
    let out = detente(&args, &[]);
    assert!(
        out.status.success(),
        "verify {url}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_lease_holder_dies_and_the_log_goes_on_without_rollback_or_fork() {
    let kills: usize = std::env::var("DETENTE_FAILOVER_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(10);
    let pg = TestPg::start().unwrap();
    let url = pg.fresh_database().unwrap();
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let dir = support::tempdir();
    let data: Vec<_> = (0..3).map(|i| dir.path().join(format!("n{i}"))).collect();
    let db_flags = ["--database-url", url.as_str()];
    let mut nodes = vec![Node::start(&data[0], &[], &db_flags)];
    let d0 = data[0].to_str().unwrap();
    let coll = last_line(&run_ok(&[
        "collection",
        "add",
        "--title",
        "shared",
        "--data",
        d0,
        "--database-url",
        &url,
    ]));
    let key = last_line(&run_ok(&["log-key", "--data", d0, "--database-url", &url]));
    for d in &data[1..] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::copy(
            data[0].join("admin.credentials"),
            d.join("admin.credentials"),
        )
        .unwrap();
        nodes.push(Node::start(d, &[], &db_flags));
    }
    // Every node signs the one log: the same key from every data directory.
    for d in &data[1..] {
        let k = last_line(&run_ok(&[
            "log-key",
            "--data",
            d.to_str().unwrap(),
            "--database-url",
            &url,
        ]));
        assert_eq!(k, key);
    }
    let secret = nodes[0].admin_secret.clone();
    let backends = Arc::new(Mutex::new(
        nodes.iter().map(|n| n.addr.clone()).collect::<Vec<_>>(),
    ));
    let lb = format!("http://{}", load_balancer(backends.clone()));
    let state = dir.path().join("verify-state");
    // Before any ingest, every node serves the one log's first checkpoint.
    let first = checkpoint(&lb);
    assert!(first.is_some());
    assert_eq!(first, checkpoint(&nodes[2].url));

    // Ingest: small envelopes round-robin over the live nodes, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let ingest = {
        let (stop, acked, backends, coll, secret) = (
            stop.clone(),
            acked.clone(),
            backends.clone(),
            coll.clone(),
            secret.clone(),
        );
        std::thread::spawn(move || {
            let a = agent();
            let mut n = 0u64;
            let mut turn = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let list = backends.lock().unwrap().clone();
                let addr = &list[turn % list.len()];
                turn += 1;
                let objects: Vec<String> = (n..n + 5).map(indicator).collect();
                let body = format!(
                    r#"{{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[{}]}}"#,
                    objects.join(",")
                );
                let r = a
                    .post(format!("http://{addr}/api/collections/{coll}/objects/"))
                    .header("Content-Type", TAXII)
                    .header("Accept", TAXII)
                    .header("Authorization", basic(&format!("admin:{secret}")))
                    .send(body.as_bytes());
                if r.is_ok_and(|r| r.status().as_u16() == 202) {
                    n += 5;
                    acked.store(n, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(40));
            }
        })
    };

    let mut takeovers = Vec::new();
    for round in 0..kills {
        // The holder is one of the live nodes, and the log is growing.
        let deadline = Instant::now() + Duration::from_secs(20);
        let victim = loop {
            let (pid, _) = lease_and_size(&mut db);
            if let Some(i) = nodes.iter().position(|n| Some(n.pid()) == pid) {
                break i;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: no live node holds the lease"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let killed_at = Instant::now();
        nodes[victim].process.child.kill().unwrap();
        nodes[victim].process.child.wait().unwrap();
        // What the dead holder published last; the next checkpoint must come from another.
        let before = lease_and_size(&mut db).1;
        let dead = nodes[victim].addr.clone();
        backends.lock().unwrap().retain(|a| *a != dead);
        // Another node publishes a larger checkpoint, and serves it.
        let took = loop {
            let (pid, size) = lease_and_size(&mut db);
            let other = nodes
                .iter()
                .enumerate()
                .any(|(i, n)| i != victim && Some(n.pid()) == pid);
            if other && size > before {
                break killed_at.elapsed();
            }
            assert!(
                killed_at.elapsed() < TAKEOVER_LIMIT,
                "round {round}: no new checkpoint {:?} after the kill (size {before})",
                killed_at.elapsed()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        takeovers.push(took);
        // A verifier behind the balancer, and one per live node, never sees a rollback or a
        // fork: each run checks consistency with what it saw before.
        verify(&lb, &state, &key, &["--skip-entries"]);
        for (i, n) in nodes.iter().enumerate() {
            if i != victim {
                verify(&n.url, &state, &key, &["--skip-entries"]);
            }
        }
        // The dead node comes back as a follower.
        nodes[victim] = Node::start(&data[victim], &[], &db_flags);
        backends.lock().unwrap().push(nodes[victim].addr.clone());
    }
    stop.store(true, Ordering::SeqCst);
    ingest.join().unwrap();
    // Quiescence: every acknowledged object is in the store's log, and within 2 s all three
    // nodes serve one checkpoint covering all of it.
    let quiet = Instant::now();
    let total: i64 = db
        .query_one("SELECT count(*) FROM log_leaves", &[])
        .unwrap()
        .get(0);
    assert!(total.unsigned_abs() >= acked.load(Ordering::SeqCst));
    let same = loop {
        let notes: Vec<Option<String>> = nodes.iter().map(|n| checkpoint(&n.url)).collect();
        let size = notes[0]
            .as_deref()
            .and_then(|n| n.lines().nth(1))
            .and_then(|s| s.parse::<i64>().ok());
        if size == Some(total) && notes.iter().all(|n| *n == notes[0]) {
            break quiet.elapsed();
        }
        assert!(
            quiet.elapsed() < QUIESCENCE_LIMIT,
            "the nodes serve different checkpoints 2 s after ingest stopped: {notes:?} (leaves {total})"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // And the whole log, entries included, and every object of the collection against its
    // receipt, checked through the balancer.
    let creds = dir.path().join("admin.credentials");
    std::fs::copy(data[0].join("admin.credentials"), &creds).unwrap();
    verify(
        &lb,
        &state,
        &key,
        &[
            "--collection",
            &coll,
            "--credentials",
            creds.to_str().unwrap(),
        ],
    );
    takeovers.sort();
    // Nearest-rank percentile of the sorted takeover times.
    let pct = |p: usize| takeovers.get((takeovers.len() * p).div_ceil(100).saturating_sub(1));
    eprintln!(
        "{kills} kills of the lease holder: next checkpoint after {:?} (median), {:?} (p95), \
         {:?} (max); {} objects acknowledged; nodes agreed {same:?} after quiescence",
        pct(50),
        pct(95),
        takeovers.last(),
        acked.load(Ordering::SeqCst)
    );
}
