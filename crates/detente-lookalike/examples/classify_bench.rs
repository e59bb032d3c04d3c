//! Names classified per second on one core: `classify_bench PROTECTED NAMES [ROUNDS]` indexes
//! the protected domains (one per line) and classifies every name (one per line) ROUNDS times
//! on this thread, then prints the rate by the wall clock and by this thread's CPU time (on a
//! shared machine the second is the per-core figure), and the findings per round.

use std::time::Instant;

use detente_lookalike::{Index, Scratch};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: classify_bench PROTECTED NAMES [ROUNDS]".into());
    }
    let protected = std::fs::read_to_string(&args[1])?;
    let names = std::fs::read_to_string(&args[2])?;
    let rounds: usize = args.get(3).map_or(Ok(5), |r| r.parse())?;
    let t = Instant::now();
    let ix = Index::new(
        protected
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty()),
    )?;
    let built = t.elapsed();
    let names: Vec<&str> = names
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut s = Scratch::default();
    // One warm-up pass fills the tables and the caches.
    let mut found = names
        .iter()
        .map(|n| ix.classify(n, &mut s).len())
        .sum::<usize>();
    let t = Instant::now();
    let cpu0 = thread_cpu_secs();
    for _ in 0..rounds {
        found = names
            .iter()
            .map(|n| ix.classify(n, &mut s).len())
            .sum::<usize>();
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu = thread_cpu_secs().zip(cpu0).map(|(b, a)| b - a);
    let total = (names.len() * rounds) as f64;
    println!(
        "{} protected domains indexed in {:.1} ms; {} names x {rounds} rounds in {secs:.3} s: {:.0} names/s on one core ({:.0} ns/name); {found} findings per round",
        ix.len(),
        built.as_secs_f64() * 1e3,
        names.len(),
        total / secs,
        secs * 1e9 / total
    );
    if let Some(cpu) = cpu.filter(|c| *c > 0.0) {
        println!(
            "by this thread's CPU time ({cpu:.2} s): {:.0} names/s per core ({:.0} ns/name)",
            total / cpu,
            cpu * 1e9 / total
        );
    }
    Ok(())
}

/// This thread's user and system time from `/proc/thread-self/stat` (Linux; 100 ticks a second).
fn thread_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
