//! `tlog-witness` request bodies.

use crate::hash::Hash;

/// The body of `POST <submission prefix>/add-checkpoint`: `old <size>`, the consistency proof
/// (one base64 hash a line), a blank line, then the signed checkpoint note.
pub fn add_checkpoint_body(old_size: u64, proof: &[Hash], checkpoint_note: &[u8]) -> Vec<u8> {
    let mut out = format!("old {old_size}\n").into_bytes();
    for h in proof {
        out.extend_from_slice(h.to_base64().as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(checkpoint_note);
    out
}
