//! CPU cost of contributor signatures per object, for `bench/signatures.sh` readers: run under
//! `time` (user seconds do not depend on the machine's load as wall time does).
//! Usage: cost MODE N, MODE one of `build` (only make N indicators), `sign`, `verify` (sign,
//! then verify each).

use detente_tlog::NoteSigner;
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("verify", String::as_str);
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let key = NoteSigner::from_seed("bench", &[3; 32]).expect("a valid key name");
    let mut objects: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--00000000-0000-4000-8000-{i:012}"),
                "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
                "name": format!("bench {i}"),
                "pattern": format!("[domain-name:value = 'd{i}.bench.example']"),
                "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"
            })
        })
        .collect();
    if mode == "build" {
        println!("built {}", objects.len());
        return;
    }
    for o in &mut objects {
        detente_sign::sign(o, "alice", &key).expect("signable");
    }
    if mode == "verify" {
        let vkey = key.verifier();
        let ok = objects
            .iter()
            .filter(|o| detente_sign::verify(o, "alice", &vkey).is_ok())
            .count();
        println!("verified {ok} of {n}");
    } else {
        println!("signed {n}");
    }
}
