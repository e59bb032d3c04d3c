//! The STIX pattern parser must never panic, and whatever it accepts must print to a
//! pattern that parses back to the same tree.
#![no_main]

use detente_pattern::{StixVersion, parse, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for v in [StixVersion::V20, StixVersion::V21] {
        let _ = validate(text, v);
        if let Ok(p) = parse(text, v) {
            let printed = p.to_string();
            let back = parse(&printed, v).expect("printed pattern parses");
            assert_eq!(back.without_spans(), p.without_spans());
        }
    }
});
