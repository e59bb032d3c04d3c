//! Permutations of a protected domain (operator input to `detente lookalike generate DOMAIN`):
//! generating never panics, and the list is sorted by technique then name with no name
//! twice. Inputs are bounded (a name's permutations number thousands, so longer names
//! would spend the run in allocation, not in new code).
#![no_main]

use detente_lookalike::generate;
use libfuzzer_sys::fuzz_target;

/// Longest input tried, in bytes.
const MAX_BYTES: usize = 24;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_BYTES {
        return;
    }
    let Ok(domain) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(out) = generate(domain) {
        assert!(
            out.windows(2)
                .all(|w| (w[0].0, &w[0].1) < (w[1].0, &w[1].1)),
            "{domain}: not sorted by technique then name, or a name twice"
        );
    }
});
