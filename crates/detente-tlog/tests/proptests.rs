//! Property tests: proofs verify for random sizes and fail when tampered; tile-backed proofs agree
//! with in-memory ones; parsers never panic and round-trip.

use detente_tlog::hash::leaf_hash;
use detente_tlog::note::NoteSignature;
use detente_tlog::proof::{
    MemoryTree, prove_consistency, prove_inclusion, verify_consistency, verify_inclusion,
};
use detente_tlog::tile::{TileHashReader, TilePath, TileSource};
use detente_tlog::{Checkpoint, Hash, Note, TileId, TreeBuilder};
use proptest::prelude::*;

fn tree(n: u64) -> MemoryTree {
    MemoryTree::new((0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect())
}

fn flip(h: &mut Hash, bit: usize) {
    h.0[(bit / 8) % 32] ^= 1 << (bit % 8);
}

/// Tiles held in memory, as a sequencer would have stored them.
struct MemTiles(std::collections::HashMap<TileId, Vec<u8>>);

#[derive(Debug, thiserror::Error)]
#[error("missing tile")]
struct Missing;

impl TileSource for MemTiles {
    type Error = Missing;
    fn read_tile(&mut self, tile: TileId) -> Result<Vec<u8>, Missing> {
        self.0.get(&tile).cloned().ok_or(Missing)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn inclusion_verifies_and_tampering_fails(n in 1u64..1500, i in any::<u64>(), bit in 0usize..256) {
        let i = i % n;
        let t = tree(n);
        let root = t.root(n).unwrap();
        let leaf = t.leaves()[i as usize];
        let mut r = &t;
        let proof = prove_inclusion(&mut r, i, n).unwrap();
        prop_assert!(verify_inclusion(i, n, &leaf, &proof, &root).is_ok());
        let mut bad_leaf = leaf;
        flip(&mut bad_leaf, bit);
        prop_assert!(verify_inclusion(i, n, &bad_leaf, &proof, &root).is_err());
        if !proof.is_empty() {
            let mut p = proof.clone();
            let k = bit % p.len();
            flip(&mut p[k], bit);
            prop_assert!(verify_inclusion(i, n, &leaf, &p, &root).is_err());
            let mut shorter = proof.clone();
            shorter.pop();
            prop_assert!(verify_inclusion(i, n, &leaf, &shorter, &root).is_err());
        }
        let mut longer = proof.clone();
        longer.push(root);
        prop_assert!(verify_inclusion(i, n, &leaf, &longer, &root).is_err());
        if n > 1 {
            let other = (i + 1) % n;
            prop_assert!(verify_inclusion(other, n, &leaf, &proof, &root).is_err());
        }
    }

    #[test]
    fn consistency_verifies_and_tampering_fails(n in 1u64..1500, m in any::<u64>(), bit in 0usize..256) {
        let m = m % n + 1;
        let t = tree(n);
        let (r1, r2) = (t.root(m).unwrap(), t.root(n).unwrap());
        let mut r = &t;
        let proof = prove_consistency(&mut r, m, n).unwrap();
        prop_assert!(verify_consistency(m, n, &r1, &r2, &proof).is_ok());
        let mut bad = r1;
        flip(&mut bad, bit);
        prop_assert!(verify_consistency(m, n, &bad, &r2, &proof).is_err());
        let mut bad = r2;
        flip(&mut bad, bit);
        prop_assert!(verify_consistency(m, n, &r1, &bad, &proof).is_err());
        if !proof.is_empty() {
            let mut p = proof.clone();
            let k = bit % p.len();
            flip(&mut p[k], bit);
            prop_assert!(verify_consistency(m, n, &r1, &r2, &p).is_err());
        }
        if m < n {
            // A different old tree (one more or one fewer leaf) has no valid proof here.
            let m2 = if m + 1 < n { m + 1 } else { m - 1 };
            if m2 > 0 {
                prop_assert!(verify_consistency(m2, n, &t.root(m2).unwrap(), &r2, &proof).is_err());
            }
        }
    }

    #[test]
    fn tile_proofs_match_memory(n in 1u64..3000, a in any::<u64>(), b in any::<u64>()) {
        let t = tree(n);
        let mut builder = TreeBuilder::new();
        let mut tiles = std::collections::HashMap::new();
        for h in t.leaves() {
            builder.append(*h);
            for full in builder.take_full_tiles() {
                tiles.insert(full.id, full.body);
            }
        }
        for p in builder.partial_tiles() {
            tiles.insert(p.id, p.body);
        }
        prop_assert_eq!(builder.root(), t.root(n).unwrap());
        let mut reader = TileHashReader::new(MemTiles(tiles), n);
        let mut mem = &t;
        let (i, m) = (a % n, b % n + 1);
        prop_assert_eq!(
            prove_inclusion(&mut reader, i, n).unwrap(),
            prove_inclusion(&mut mem, i, n).unwrap()
        );
        prop_assert_eq!(
            prove_consistency(&mut reader, m, n).unwrap(),
            prove_consistency(&mut mem, m, n).unwrap()
        );
    }

    #[test]
    fn note_parse_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(note) = Note::parse(&bytes) {
            prop_assert_eq!(note.to_bytes(), bytes);
        }
    }

    #[test]
    fn structured_notes_round_trip(
        text in "([a-z0-9 ./+]{0,20}\n){1,4}",
        sigs in proptest::collection::vec(("[a-z.]{1,12}", any::<u32>(), proptest::collection::vec(any::<u8>(), 1..80)), 1..5),
    ) {
        let mut note = Note::new(text.clone()).unwrap();
        for (name, key_id, signature) in sigs {
            note.add_signature(NoteSignature { name, key_id, signature }).unwrap();
        }
        let parsed = Note::parse(&note.to_bytes()).unwrap();
        prop_assert_eq!(parsed.text(), text.as_str());
        prop_assert_eq!(parsed, note);
    }

    #[test]
    fn checkpoint_parse_never_panics_and_round_trips(text in "\\PC{0,40}(\n\\PC{0,40}){0,5}") {
        if let Ok(cp) = Checkpoint::parse(&text) {
            prop_assert_eq!(cp.to_string(), text);
        }
    }

    #[test]
    fn structured_checkpoints_round_trip(
        origin in "[a-z0-9./-]{1,30}",
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        ext in proptest::collection::vec("[ -~]{1,20}", 0..3),
    ) {
        let mut cp = Checkpoint::new(&origin, size, Hash(root)).unwrap();
        cp.extensions = ext;
        prop_assert_eq!(Checkpoint::parse(&cp.to_string()).unwrap(), cp);
    }

    #[test]
    fn tile_paths_round_trip(level in 0u8..8, index in any::<u64>(), width in 1u16..=256) {
        let t = TileId { level, index, width };
        prop_assert_eq!(TileId::parse_path(&t.path()).unwrap(), TilePath::Hashes(t));
        let e = TileId { level: 0, index, width };
        prop_assert_eq!(TileId::parse_path(&e.entries_path()).unwrap(), TilePath::Entries(e));
    }

    #[test]
    fn tile_path_parse_never_panics(s in "tile/[0-9a-z./x]{0,30}") {
        if let Ok(TilePath::Hashes(t) | TilePath::Entries(t)) = TileId::parse_path(&s) {
            prop_assert!(t.width >= 1 && t.width <= 256);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// A sequencer that crashes and resumes from its stored partial tiles produces exactly the
    /// tiles and roots of one that never stopped, across level-1 and level-2 tile boundaries.
    #[test]
    fn resumed_builder_matches_uninterrupted(cut in 0u64..70_000, extra in 1u64..1_000) {
        let leaves: Vec<Hash> = (0..cut + extra).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut whole = TreeBuilder::new();
        let mut first = TreeBuilder::new();
        for h in &leaves[..cut as usize] {
            whole.append(*h);
            first.append(*h);
        }
        whole.take_full_tiles();
        let mut resumed = TreeBuilder::resume(cut, first.partial_hashes().to_vec()).unwrap();
        prop_assert_eq!(resumed.root(), first.root());
        for h in &leaves[cut as usize..] {
            whole.append(*h);
            resumed.append(*h);
        }
        prop_assert_eq!(resumed.root(), whole.root());
        prop_assert_eq!(resumed.take_full_tiles(), whole.take_full_tiles());
        prop_assert_eq!(resumed.partial_tiles(), whole.partial_tiles());
    }
}
