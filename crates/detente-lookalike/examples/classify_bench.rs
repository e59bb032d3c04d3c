//! Names classified per second on one core: `classify_bench PROTECTED NAMES [ROUNDS]` indexes
//! the protected domains (one per line) and classifies every name (one per line) ROUNDS times
//! on this thread, then prints the rate and the findings per round.

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
    for _ in 0..rounds {
        found = names
            .iter()
            .map(|n| ix.classify(n, &mut s).len())
            .sum::<usize>();
    }
    let secs = t.elapsed().as_secs_f64();
    let total = (names.len() * rounds) as f64;
    println!(
        "{} protected domains indexed in {:.1} ms; {} names x {rounds} rounds in {secs:.3} s: {:.0} names/s on one core ({:.0} ns/name); {found} findings per round",
        ix.len(),
        built.as_secs_f64() * 1e3,
        names.len(),
        total / secs,
        secs * 1e9 / total
    );
    Ok(())
}
