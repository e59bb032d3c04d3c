//! TAXII query strings and timestamps from the network: parsing must never panic.
#![no_main]

use detente_taxii::filter::{Endpoint, Filter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        for e in [
            Endpoint::Objects,
            Endpoint::Object,
            Endpoint::Delete,
            Endpoint::Versions,
        ] {
            let _ = Filter::parse(s, e);
        }
        let _ = detente_taxii::time::parse_micros(s);
        let _ = detente_taxii::media::accept_allows_taxii(s);
    }
});
