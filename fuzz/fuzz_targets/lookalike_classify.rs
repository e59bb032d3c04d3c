//! Host names from scanned logs against protected domains: classifying never panics, finds
//! nothing for a protected domain itself, and each finding names a protected domain; the
//! generator (operator input) never panics on short names either.
#![no_main]

use detente_lookalike::{Index, Scratch, generate, to_ascii};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        Index::new([
            "paypal.com",
            "example.co.uk",
            "bücher.de",
            "xn--80ak6aa92e.com",
            "a.io",
        ])
        .expect("the fixed protected domains are valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(host) = std::str::from_utf8(data) else {
        return;
    };
    let ix = index();
    let mut scratch = Scratch::default();
    let protected: Vec<String> = (0..ix.len() as u32)
        .map(|n| ix.protected(n).to_owned())
        .collect();
    let findings = ix.classify(host, &mut scratch).to_vec();
    if protected.iter().any(|p| p == host) {
        assert!(findings.is_empty(), "{host} is protected: {findings:?}");
    }
    assert!(
        findings
            .iter()
            .all(|f| (f.protected as usize) < protected.len())
    );
    let _ = to_ascii(host);
    // Generating every permutation of a name is thousands of strings: short names only, so
    // classifying (the input from logs) keeps most of the executions.
    if host.len() <= 12 {
        let _ = generate(host);
    }
});
