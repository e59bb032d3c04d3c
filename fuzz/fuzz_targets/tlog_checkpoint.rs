//! Checkpoint parsing: never panics; parsed checkpoints re-serialize identically.
#![no_main]

use detente_tlog::Checkpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse(text) {
            assert_eq!(cp.to_string(), text);
        }
    }
});
