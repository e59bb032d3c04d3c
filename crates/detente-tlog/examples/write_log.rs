//! Writes a complete C2SP tlog-tiles log to a directory, for cross-checks with other
//! implementations: `write_log DIR N` writes N entries `detente cross-check entry <i>`, all tiles
//! and entry bundles, and a checkpoint signed by a test key (seed SHA-256("detente cross-check
//! key")) and cosigned by a test witness. Prints the log's verifier key on the last line.

use std::path::Path;

use detente_tlog::hash::leaf_hash;
use detente_tlog::tile::encode_entry_bundle;
use detente_tlog::{Checkpoint, Cosigner, Note, NoteSigner, TreeBuilder};
use sha2::{Digest, Sha256};

fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, data)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, n] = args.as_slice() else {
        return Err("usage: write_log DIR N".into());
    };
    let dir = Path::new(dir);
    let n: u64 = n.parse()?;
    let signer = NoteSigner::from_seed(
        "example.com/detente/cross-check",
        &Sha256::digest("detente cross-check key").into(),
    )?;
    let witness = Cosigner::from_seed(
        "witness.example.com/cross-check",
        &Sha256::digest("detente cross-check witness").into(),
    )?;
    let entries: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("detente cross-check entry {i}").into_bytes())
        .collect();
    let mut tree = TreeBuilder::new();
    let mut tiles = Vec::new();
    for e in &entries {
        tree.append(leaf_hash(e));
        tiles.extend(tree.take_full_tiles());
    }
    tiles.extend(tree.partial_tiles());
    for t in &tiles {
        write(&dir.join(t.id.path()), &t.body)?;
        if t.id.level == 0 {
            let start = usize::try_from(t.id.index * 256)?;
            let slice = &entries[start..start + usize::from(t.id.width)];
            write(
                &dir.join(t.id.entries_path()),
                &encode_entry_bundle(slice.iter().map(Vec::as_slice))?,
            )?;
        }
    }
    let checkpoint = Checkpoint::new(signer.name(), n, tree.root())?;
    let mut note = Note::new(checkpoint.to_string())?;
    note.add_signature(signer.sign(note.text()))?;
    note.add_signature(witness.cosign(note.text(), 1_767_139_200)?)?;
    write(&dir.join("checkpoint"), &note.to_bytes())?;
    println!("{}", signer.verifier());
    Ok(())
}
