//! Whole logs: the Tessera test log, Sunlight's mirror tiles, and the generated 70,000-entry log,
//! which must be reproduced byte for byte (tiles, bundles, checkpoints, proofs).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use detente_tlog::hash::leaf_hash;
use detente_tlog::proof::{
    MemoryTree, prove_consistency, prove_inclusion, tree_root, verify_consistency, verify_inclusion,
};
use detente_tlog::tile::{
    TileHashReader, TileSource, decode_bundle_for, encode_entry_bundle, tiles_for_size,
};
use detente_tlog::witness::{AddCheckpoint, Cosigned, Refusal, add_checkpoint_body, decide};
use detente_tlog::{
    Checkpoint, Cosigner, Hash, Note, NoteSigner, TileId, TreeBuilder, VerifierKey, Verifiers,
};
use serde_json::Value;

/// Reads tiles from a directory in the C2SP layout.
struct DirTiles(PathBuf);

impl TileSource for DirTiles {
    type Error = std::io::Error;
    fn read_tile(&mut self, tile: TileId) -> Result<Vec<u8>, std::io::Error> {
        std::fs::read(self.0.join(tile.path()))
    }
}

fn files_under(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, base, out);
        } else {
            out.insert(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

#[test]
fn tessera_log() {
    let dir = "tessera-testdata/testdata/log";
    let keys = common::read_str("tessera-testdata/KEYS.txt");
    let field = |k: &str| {
        keys.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap()
            .trim()
            .to_owned()
    };
    let signer = NoteSigner::parse(&field("LOG_PRIVATE_KEY=")).unwrap();
    let vkey = VerifierKey::parse(&field("LOG_PUBLIC_KEY=")).unwrap();
    assert_eq!(signer.verifier(), vkey);
    let verifiers = Verifiers::new(vec![vkey]);
    let words =
        "one two three four five six seven eit nain ten ileven twelf threeten fourten fivten";
    let entries: Vec<&[u8]> = words.split(' ').map(str::as_bytes).collect();
    let mut b = TreeBuilder::new();
    for n in 0..=15usize {
        if n > 0 {
            b.append(leaf_hash(entries[n - 1]));
        }
        let bytes = common::read(&format!("{dir}/checkpoint.{n}"));
        let note = Note::parse(&bytes).unwrap();
        note.verify(&verifiers).unwrap();
        let cp = Checkpoint::parse(note.text()).unwrap();
        assert_eq!((cp.size, cp.root), (n as u64, b.root()), "checkpoint.{n}");
        // Re-signing the same body reproduces Tessera's bytes (Ed25519 is deterministic).
        let mut ours = Note::new(cp.to_string()).unwrap();
        ours.add_signature(signer.sign(ours.text())).unwrap();
        assert_eq!(ours.to_bytes(), bytes, "checkpoint.{n} bytes");
        if n == 0 {
            continue;
        }
        let partial = b.partial_tiles();
        assert_eq!(partial.len(), 1);
        assert_eq!(partial[0].id.path(), format!("tile/0/000.p/{n}"));
        assert_eq!(
            partial[0].body,
            common::read(&format!("{dir}/{}", partial[0].id.path()))
        );
        let bundle = common::read(&format!("{dir}/{}", partial[0].id.entries_path()));
        assert_eq!(
            encode_entry_bundle(entries[..n].iter().copied()).unwrap(),
            bundle
        );
        assert_eq!(
            decode_bundle_for(partial[0].id, &bundle).unwrap(),
            entries[..n]
        );
        let mut reader = TileHashReader::new(DirTiles(common::vectors().join(dir)), n as u64);
        assert_eq!(tree_root(&mut reader, n as u64).unwrap(), cp.root);
    }
    assert_eq!(
        common::read(&format!("{dir}/checkpoint")),
        common::read(&format!("{dir}/checkpoint.15"))
    );
}

#[test]
fn sunlight_mirror_tiles() {
    let dir = "sunlight-skylight/cmd/skylight/testdata/witness/mirror/\
               000de184301123b9278c086a7d9f68c9577e83872224c197058fd90784ea9706";
    let note = Note::parse(&common::read(&format!("{dir}/checkpoint"))).unwrap();
    let cp = Checkpoint::parse(note.text()).unwrap();
    assert_eq!(cp.size, 300);
    let mut b = TreeBuilder::new();
    for i in 0..300 {
        b.append(leaf_hash(format!("record {i}").as_bytes()));
    }
    assert_eq!(b.root(), cp.root);
    let mut ours = b.take_full_tiles();
    ours.extend(b.partial_tiles());
    let paths: Vec<String> = ours.iter().map(|t| t.id.path()).collect();
    assert_eq!(paths, ["tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1"]);
    for t in &ours {
        assert_eq!(
            t.body,
            common::read(&format!("{dir}/{}", t.id.path())),
            "{}",
            t.id
        );
    }
    let mut reader = TileHashReader::new(DirTiles(common::vectors().join(dir)), 300);
    assert_eq!(tree_root(&mut reader, 300).unwrap(), cp.root);
}

fn seed(hex: &str) -> [u8; 32] {
    common::hex(hex).try_into().unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn generated_log_byte_for_byte() {
    let v: Value = serde_json::from_slice(&common::read("detente-generated/vectors.json")).unwrap();
    let log_dir = common::vectors().join("detente-generated/log");
    let origin = v["origin"].as_str().unwrap();

    let signer =
        NoteSigner::from_seed(origin, &seed(v["log_ed25519_seed_hex"].as_str().unwrap())).unwrap();
    assert_eq!(
        signer.verifier().to_string(),
        v["log_vkey"].as_str().unwrap()
    );
    assert_eq!(signer.to_skey(), v["log_skey"].as_str().unwrap());
    let witness = Cosigner::from_seed(
        v["witness_name"].as_str().unwrap(),
        &seed(v["witness_ed25519_seed_hex"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(
        witness.verifier().to_string(),
        v["witness_vkey_type04"].as_str().unwrap()
    );
    let ts = v["witness_timestamp"].as_u64().unwrap();
    let verifiers = Verifiers::new(vec![
        VerifierKey::parse(v["log_vkey"].as_str().unwrap()).unwrap(),
        VerifierKey::parse(v["witness_vkey_type04"].as_str().unwrap()).unwrap(),
    ]);

    let sign = |cp: &Checkpoint, cosign: bool| {
        let mut note = Note::new(cp.to_string()).unwrap();
        note.add_signature(signer.sign(note.text())).unwrap();
        if cosign {
            note.add_signature(witness.cosign(note.text(), ts).unwrap())
                .unwrap();
        }
        note.to_bytes()
    };

    let final_size = 70_000u64;
    let entries: Vec<Vec<u8>> = (0..final_size)
        .map(|i| format!("detente test entry {i}").into_bytes())
        .collect();
    let checkpoints = v["checkpoints"].as_object().unwrap();
    let mut want_sizes: Vec<u64> = checkpoints.keys().map(|k| k.parse().unwrap()).collect();
    want_sizes.sort();

    let mut b = TreeBuilder::new();
    let mut memory = MemoryTree::default();
    let mut tiles = Vec::new();
    let mut reproduced = 0;
    for n in 0..=final_size {
        if n > 0 {
            let h = leaf_hash(&entries[n as usize - 1]);
            b.append(h);
            memory.push(h);
            tiles.extend(b.take_full_tiles());
        }
        if let Some(want) = checkpoints.get(&n.to_string()) {
            let cp = Checkpoint::new(origin, n, b.root()).unwrap();
            assert_eq!(
                cp.root.to_base64(),
                v["roots_by_size"][n.to_string()].as_str().unwrap()
            );
            let bytes = sign(&cp, true);
            assert_eq!(
                String::from_utf8(bytes.clone()).unwrap(),
                want.as_str().unwrap()
            );
            Note::parse(&bytes).unwrap().verify(&verifiers).unwrap();
            reproduced += 1;
        }
    }
    assert_eq!(reproduced, want_sizes.len());
    assert_eq!(reproduced, 13);
    let final_cp = Checkpoint::new(origin, final_size, b.root()).unwrap();
    assert_eq!(
        sign(&final_cp, true),
        std::fs::read(log_dir.join("checkpoint")).unwrap()
    );

    // Every tile and bundle, and nothing else.
    tiles.extend(b.partial_tiles());
    let ids: Vec<TileId> = tiles.iter().map(|t| t.id).collect();
    let mut want_ids: Vec<TileId> = tiles_for_size(final_size).collect();
    want_ids.sort();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, want_ids);
    let mut expected_files = BTreeSet::from(["checkpoint".to_owned()]);
    for t in &tiles {
        let path = t.id.path();
        assert_eq!(
            t.body,
            std::fs::read(log_dir.join(&path)).unwrap(),
            "{path}"
        );
        expected_files.insert(path);
        if t.id.level == 0 {
            let start = (t.id.index * 256) as usize;
            let slice = &entries[start..start + usize::from(t.id.width)];
            let bundle = encode_entry_bundle(slice.iter().map(Vec::as_slice)).unwrap();
            let path = t.id.entries_path();
            assert_eq!(
                bundle,
                std::fs::read(log_dir.join(&path)).unwrap(),
                "{path}"
            );
            expected_files.insert(path);
        }
    }
    let listed: BTreeSet<String> = v["tile_paths_at_final_size"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    let mut on_disk = BTreeSet::new();
    files_under(&log_dir, &log_dir, &mut on_disk);
    assert_eq!(on_disk, expected_files);
    expected_files.remove("checkpoint");
    assert_eq!(listed, expected_files);
    assert_eq!(listed.len(), 551);

    // Proofs, computed from the published tiles and from memory, byte for byte.
    let mut reader = TileHashReader::new(DirTiles(log_dir.clone()), final_size);
    let mut mem = &memory;
    let incl = v["inclusion_proofs"].as_array().unwrap();
    assert_eq!(incl.len(), 42);
    for p in incl {
        let (i, n) = (
            p["index"].as_u64().unwrap(),
            p["tree_size"].as_u64().unwrap(),
        );
        let want = hashes(&p["proof"]);
        let entry = common::b64(p["entry_b64"].as_str().unwrap());
        assert_eq!(entry, entries[i as usize]);
        let leaf = leaf_hash(&entry);
        assert_eq!(leaf.to_base64(), p["leaf_hash"].as_str().unwrap());
        let root = Hash::from_base64(p["root"].as_str().unwrap()).unwrap();
        assert_eq!(
            prove_inclusion(&mut reader, i, n).unwrap(),
            want,
            "inclusion {i} in {n}"
        );
        assert_eq!(
            prove_inclusion(&mut mem, i, n).unwrap(),
            want,
            "inclusion {i} in {n}"
        );
        verify_inclusion(i, n, &leaf, &want, &root).unwrap();
        assert_eq!(tree_root(&mut reader, n).unwrap(), root);
    }
    let cons = v["consistency_proofs"].as_array().unwrap();
    assert_eq!(cons.len(), 66);
    for p in cons {
        let (m, n) = (
            p["old_size"].as_u64().unwrap(),
            p["new_size"].as_u64().unwrap(),
        );
        let want = hashes(&p["proof"]);
        let r1 = Hash::from_base64(p["old_root"].as_str().unwrap()).unwrap();
        let r2 = Hash::from_base64(p["new_root"].as_str().unwrap()).unwrap();
        assert_eq!(
            prove_consistency(&mut reader, m, n).unwrap(),
            want,
            "consistency {m}->{n}"
        );
        assert_eq!(
            prove_consistency(&mut mem, m, n).unwrap(),
            want,
            "consistency {m}->{n}"
        );
        verify_consistency(m, n, &r1, &r2, &want).unwrap();
    }

    // The witness add-checkpoint request.
    let proof = prove_consistency(&mut reader, 65_537, final_size).unwrap();
    let body = add_checkpoint_body(65_537, &proof, &sign(&final_cp, false));
    assert_eq!(
        String::from_utf8(body).unwrap(),
        v["add_checkpoint_request_example"].as_str().unwrap()
    );
    // A witness that cosigned size 65,537 of this log accepts the generated request; one that
    // cosigned another root for that size refuses it as a conflict.
    let example = v["add_checkpoint_request_example"].as_str().unwrap();
    let req = AddCheckpoint::parse(example.as_bytes()).unwrap();
    assert_eq!(
        (req.old, req.proof.len(), req.checkpoint.size),
        (65_537, 15, 70_000)
    );
    let log_key = [VerifierKey::parse(v["log_vkey"].as_str().unwrap()).unwrap()];
    let at = |root| Cosigned { size: 65_537, root };
    let root_65537 = tree_root(&mut reader, 65_537).unwrap();
    assert_eq!(decide(&req, &log_key, Some(&at(root_65537))), Ok(()));
    assert!(matches!(
        decide(&req, &log_key, Some(&at(leaf_hash(b"other")))),
        Err(Refusal::Inconsistent { conflict: true, .. })
    ));
}
