//! Signed-note and verifier-key parsing: never panics; parsed notes re-serialize identically.
#![no_main]

use detente_tlog::{Note, VerifierKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(note) = Note::parse(data) {
        assert_eq!(note.to_bytes(), data);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = VerifierKey::parse(s);
        let _ = detente_tlog::NoteSigner::parse(s);
    }
});
