//! Shared helpers for the vector tests: paths into the repository's `testdata/tlog-vectors`.
#![allow(dead_code)]

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The vectors directory, `testdata/tlog-vectors` at the repository root.
pub fn vectors() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/tlog-vectors"
    ))
}

/// Reads a file under the vectors directory.
pub fn read(rel: &str) -> Vec<u8> {
    let p = vectors().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// Reads a UTF-8 file under the vectors directory.
pub fn read_str(rel: &str) -> String {
    String::from_utf8(read(rel)).unwrap()
}

/// Decodes standard base64.
pub fn b64(s: &str) -> Vec<u8> {
    STANDARD.decode(s).unwrap()
}

/// Decodes hex.
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
