//! Load generator for `POST /witness/add-checkpoint` (bench/witness.sh): N simulated logs, each
//! on its own keep-alive connection, submit growing checkpoints with consistency proofs, one
//! request at a time per log (as the protocol requires). Requests are built before the clock
//! starts; every answer must be 200.
//!
//! `witness_load keys N FIRST` prints the verifier keys of logs FIRST..FIRST+N (deterministic
//! seeds) to trust; `witness_load run N FIRST URL SECONDS MAX_PER_LOG [RATE]` runs and prints req/s, p50, p99. Without
//! RATE each log sends its next request as soon as the last is answered (peak throughput; the
//! latency is then mostly queueing behind the other 49 logs); with RATE (requests/s over all
//! logs) each log sends on a fixed schedule and latency counts from the scheduled time, so a
//! late answer also delays (and is charged to) the requests queued behind it.

use std::time::{Duration, Instant};

use detente_tlog::hash::leaf_hash;
use detente_tlog::proof::{MemoryTree, prove_consistency};
use detente_tlog::witness::add_checkpoint_body;
use detente_tlog::{Checkpoint, Note, NoteSigner};

fn log(i: usize) -> NoteSigner {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
    NoteSigner::from_seed(&format!("bench.test/log{i}"), &seed).expect("valid name")
}

/// The request bodies of one log: sizes 1, 2, 3, … each from the previous.
fn bodies(i: usize, count: u64) -> Vec<Vec<u8>> {
    let signer = log(i);
    let mut tree = MemoryTree::default();
    let mut out = Vec::new();
    for size in 1..=count {
        tree.push(leaf_hash(&[i as u8, size as u8, (size >> 8) as u8]));
        let root = tree.root(size).expect("in tree");
        let cp = Checkpoint::new(signer.name(), size, root).expect("valid origin");
        let mut note = Note::new(cp.to_string()).expect("valid text");
        note.add_signature(signer.sign(note.text()))
            .expect("one signature");
        let old = size - 1;
        let proof = if old == 0 {
            Vec::new()
        } else {
            prove_consistency(&mut &tree, old, size).expect("in tree")
        };
        out.push(add_checkpoint_body(old, &proof, &note.to_bytes()));
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50);
    let first: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(0);
    match args.get(1).map(String::as_str) {
        Some("keys") => {
            for i in first..first + n {
                println!("{}", log(i).verifier());
            }
        }
        Some("run") => {
            let Some(base) = args.get(4) else {
                eprintln!("run needs a URL");
                std::process::exit(2);
            };
            let url = format!("{base}/witness/add-checkpoint");
            let secs: u64 = args.get(5).and_then(|a| a.parse().ok()).unwrap_or(10);
            let per_log: u64 = args.get(6).and_then(|a| a.parse().ok()).unwrap_or(2000);
            let interval = args
                .get(7)
                .and_then(|a| a.parse::<f64>().ok())
                .filter(|r| *r > 0.0)
                .map(|rate| Duration::from_secs_f64(n as f64 / rate));
            let prepared: Vec<Vec<Vec<u8>>> =
                (first..first + n).map(|i| bodies(i, per_log)).collect();
            let deadline = Instant::now() + Duration::from_secs(secs);
            let start = Instant::now();
            let threads: Vec<_> = prepared
                .into_iter()
                .enumerate()
                .map(|(i, reqs)| {
                    let url = url.clone();
                    // Spread the logs' schedules over one interval.
                    let mut due = interval.map(|d| start + d.mul_f64(i as f64 / n as f64));
                    std::thread::spawn(move || {
                        let agent: ureq::Agent = ureq::Agent::config_builder()
                            .http_status_as_error(false)
                            .build()
                            .into();
                        let mut lat = Vec::new();
                        let mut bad = 0u64;
                        for body in reqs {
                            if Instant::now() >= deadline {
                                break;
                            }
                            let t = match due.as_mut() {
                                Some(due_at) => {
                                    let at = *due_at;
                                    if let Some(wait) = at.checked_duration_since(Instant::now()) {
                                        std::thread::sleep(wait);
                                    }
                                    *due_at = at + interval.unwrap_or_default();
                                    at
                                }
                                None => Instant::now(),
                            };
                            match agent.post(&url).send(&body[..]) {
                                Ok(mut r) => {
                                    let ok = r.status().as_u16() == 200;
                                    let _ = r.body_mut().read_to_vec();
                                    if !ok {
                                        bad += 1;
                                        break;
                                    }
                                }
                                Err(_) => {
                                    bad += 1;
                                    break;
                                }
                            }
                            lat.push(t.elapsed());
                        }
                        (lat, bad)
                    })
                })
                .collect();
            let mut all = Vec::new();
            let mut bad = 0;
            for t in threads {
                let (lat, b) = t.join().expect("load thread");
                all.extend(lat);
                bad += b;
            }
            let elapsed = start.elapsed().as_secs_f64();
            all.sort_unstable();
            let q = |p: f64| {
                all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
                    .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
            };
            println!(
                "{} logs: {} cosigned in {elapsed:.2} s = {:.0} req/s; p50 {:.2} ms, p99 {:.2} ms; {bad} failed",
                n,
                all.len(),
                all.len() as f64 / elapsed,
                q(0.50),
                q(0.99)
            );
            if bad > 0 {
                std::process::exit(1);
            }
        }
        _ => {
            eprintln!(
                "usage: witness_load keys N FIRST | witness_load run N FIRST URL SECONDS MAX_PER_LOG [RATE]"
            );
            std::process::exit(2);
        }
    }
}
