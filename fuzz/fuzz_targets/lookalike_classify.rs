//! Host names from scanned logs against protected domains: classifying never panics, finds
//! nothing for a protected domain itself, and each finding names a protected domain.
//! (Generating permutations, operator input and far slower, is `lookalike_generate`.)
#![no_main]

use detente_lookalike::{Index, Scratch, to_ascii};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The protected domains, as given.
const PROTECTED: [&str; 5] = [
    "paypal.com",
    "example.co.uk",
    "bücher.de",
    "xn--80ak6aa92e.com",
    "a.io",
];

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| Index::new(PROTECTED).expect("the fixed protected domains are valid"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(host) = std::str::from_utf8(data) else {
        return;
    };
    let ix = index();
    let mut scratch = Scratch::default();
    let findings = ix.classify(host, &mut scratch);
    if (0..ix.len() as u32).any(|n| ix.protected(n) == host) {
        assert!(findings.is_empty(), "{host} is protected: {findings:?}");
    }
    assert!(findings.iter().all(|f| (f.protected as usize) < ix.len()));
    let _ = to_ascii(host);
});
