//! Indicator sources (STIX bundles, Zeek intel, MISP warninglists, JAR CSV, plain lists) on
//! arbitrary bytes: errors are fine, panics are not.
#![no_main]

use detente_scan::sources::{LoadOptions, load_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = LoadOptions {
        now: 1_800_000_000,
        subdomains: true,
    };
    if let Ok(loaded) = load_bytes("fuzz", data, opts) {
        let mut ix = detente_scan::Index::new(false);
        loaded.indicators.into_iter().for_each(|i| ix.insert(i));
        loaded
            .patterns
            .into_iter()
            .for_each(|p| ix.insert_pattern(p));
        ix.compile_patterns();
    }
});
