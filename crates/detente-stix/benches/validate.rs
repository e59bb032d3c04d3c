//! Validation throughput on real objects (MITRE ATT&CK ICS + Mobile, 3,974 objects).

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use serde_json::Value;

fn objects() -> Vec<Value> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/real/mitre-attack-stix21"
    );
    let mut out = Vec::new();
    for name in ["ics-attack-18.1.json", "mobile-attack-17.1.json"] {
        let bytes = std::fs::read(format!("{dir}/{name}")).expect("MITRE bundle in testdata/real");
        let bundle: Value = serde_json::from_slice(&bytes).expect("bundle is JSON");
        if let Value::Array(items) = &bundle["objects"] {
            out.extend(items.iter().cloned());
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let objs = objects();
    let texts: Vec<String> = objs.iter().map(Value::to_string).collect();
    let mut g = c.benchmark_group("mitre-attack");
    g.throughput(Throughput::Elements(objs.len() as u64));
    g.bench_function("validate_object", |b| {
        b.iter(|| {
            for o in &objs {
                let _ = black_box(detente_stix::validate_object(black_box(o)));
            }
        })
    });
    // What ingest pays per object: parse the posted JSON, then validate.
    g.bench_function("parse+validate", |b| {
        b.iter(|| {
            for t in &texts {
                if let Ok(v) = serde_json::from_str::<Value>(black_box(t)) {
                    let _ = black_box(detente_stix::validate_object(&v));
                }
            }
        })
    });
    g.finish();
}

/// Runs the benchmarks with criterion's command-line options.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
