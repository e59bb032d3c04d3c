//! TAXII envelopes as POSTed to a collection, read and validated by the function the objects
//! handler calls: never panics, and what it accepts keeps its promises (size limit, lower-case
//! id, version not far in the future, the body as posted and valid JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;

/// 2026-01-01T00:00:00Z in µs, the fuzzed node's clock.
const NOW: i64 = 1_767_225_600_000_000;
/// Five minutes, the default skew.
const SKEW: i64 = 300_000_000;
/// Small enough that the fuzzer reaches it, large enough for the seeds' objects.
const MAX_OBJECT: usize = 2048;

fuzz_target!(|data: &[u8]| {
    let Ok(read) = detente_server::read_envelope(data, NOW, SKEW, MAX_OBJECT) else {
        return;
    };
    for item in read {
        match item {
            Ok(o) => {
                assert!(o.body.len() <= MAX_OBJECT);
                assert!(!o.id.bytes().any(|b| b.is_ascii_uppercase()), "{}", o.id);
                assert!(o.version_micros.is_none_or(|v| v <= NOW + SKEW));
                assert_eq!(o.version.is_some(), o.version_micros.is_some());
                let body: serde_json::Value =
                    serde_json::from_str(&o.body).expect("an accepted body is JSON");
                assert_eq!(body.get("id").and_then(|v| v.as_str()), Some(o.id.as_str()));
            }
            Err(f) => assert!(f.message.is_some_and(|m| !m.is_empty())),
        }
    }
});
