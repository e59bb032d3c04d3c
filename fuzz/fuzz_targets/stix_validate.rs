//! Fuzzes the STIX validator and timestamp parser with arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = detente_stix::Timestamp::parse(text);
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Err(e) = detente_stix::validate_object(&value) {
            // Display must not panic either.
            let _ = e.to_string();
        }
        let _ = detente_stix::validate_bundle(&value);
    }
});
