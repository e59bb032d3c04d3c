//! Sequencing (hash entries, append, cut tiles) and proof generation from tiles.
#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use std::collections::HashMap;
use std::convert::Infallible;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use detente_tlog::hash::leaf_hash;
use detente_tlog::proof::{prove_consistency, prove_inclusion, tree_root, verify_inclusion};
use detente_tlog::tile::{TileHashReader, TileSource};
use detente_tlog::{TileId, TreeBuilder};

/// Tiles held in memory; each read copies the tile, as a store read would.
struct MemTiles<'a>(&'a HashMap<TileId, Vec<u8>>);

impl TileSource for MemTiles<'_> {
    type Error = Infallible;
    fn read_tile(&mut self, tile: TileId) -> Result<Vec<u8>, Infallible> {
        Ok(self.0.get(&tile).cloned().unwrap_or_default())
    }
}

fn entries(n: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("detente bench entry {i:012} with some padding bytes").into_bytes())
        .collect()
}

fn sequencing(c: &mut Criterion) {
    let n = 100_000u64;
    let data = entries(n);
    let mut g = c.benchmark_group("sequence");
    g.throughput(Throughput::Elements(n));
    g.sample_size(20);
    g.bench_function("hash+append+tiles 100k entries", |b| {
        b.iter(|| {
            let mut t = TreeBuilder::new();
            let mut bytes = 0usize;
            for e in &data {
                t.append(leaf_hash(e));
                for full in t.take_full_tiles() {
                    bytes += full.body.len();
                }
            }
            black_box((t.root(), t.partial_tiles(), bytes))
        })
    });
    g.finish();
}

fn proofs(c: &mut Criterion) {
    let n = 1_000_000u64;
    let mut t = TreeBuilder::new();
    let mut tiles = HashMap::new();
    for i in 0..n {
        t.append(leaf_hash(&i.to_be_bytes()));
        for full in t.take_full_tiles() {
            tiles.insert(full.id, full.body);
        }
    }
    for p in t.partial_tiles() {
        tiles.insert(p.id, p.body);
    }
    let root = t.root();
    let mut g = c.benchmark_group("proofs in a 1M-entry tree");
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function("inclusion, fresh reader", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            let mut r = TileHashReader::new(MemTiles(&tiles), n);
            black_box(prove_inclusion(&mut r, i, n).map_err(|_| ()))
        })
    });
    g.bench_function("consistency, fresh reader", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            let mut r = TileHashReader::new(MemTiles(&tiles), n);
            black_box(prove_consistency(&mut r, i + 1, n).map_err(|_| ()))
        })
    });
    let mut warm = TileHashReader::new(MemTiles(&tiles), n).with_cache_limit(1 << 20);
    g.bench_function("inclusion, long-lived reader", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            black_box(prove_inclusion(&mut warm, i, n).map_err(|_| ()))
        })
    });
    g.bench_function("consistency, long-lived reader", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            black_box(prove_consistency(&mut warm, i + 1, n).map_err(|_| ()))
        })
    });
    let mut r = TileHashReader::new(MemTiles(&tiles), n);
    let proof = prove_inclusion(&mut r, 123_456, n)
        .map_err(|_| ())
        .unwrap_or_default();
    assert_eq!(tree_root(&mut r, n).ok(), Some(root));
    let leaf = leaf_hash(&123_456u64.to_be_bytes());
    g.bench_function("verify inclusion", |b| {
        b.iter_batched(
            || proof.clone(),
            |p| black_box(verify_inclusion(123_456, n, &leaf, &p, &root).is_ok()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, sequencing, proofs);

criterion_main!(benches);
