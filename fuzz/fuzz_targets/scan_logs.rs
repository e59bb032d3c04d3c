//! Every log reader on arbitrary bytes, against a small fixed index.
#![no_main]

use detente_scan::{Events, Format, Hit, Index, ScanOptions, Scanner};
use libfuzzer_sys::fuzz_target;

struct Sink;

impl Events for Sink {
    fn hit(&mut self, _: &Hit<'_>) {}
    fn warning(&mut self, _: &str) {}
}

fuzz_target!(|data: &[u8]| {
    let mut ix = Index::new(false);
    let opts = detente_scan::sources::LoadOptions { now: 0, subdomains: true };
    let list = b"evil.com\n10.0.0.0/8\nhttp://bad.org/x\nd41d8cd98f00b204e9800998ecf8427e\n";
    if let Ok(l) = detente_scan::sources::load_bytes("fuzz", list, opts) {
        l.indicators.into_iter().for_each(|i| ix.insert(i));
    }
    for format in [Format::Auto, Format::Zeek, Format::Jsonl, Format::Squid, Format::Clf, Format::Syslog, Format::Text] {
        let scanner = Scanner { index: &ix, allow: None, opts: ScanOptions { format, ..ScanOptions::default() } };
        // A worker panic comes back as an error; the fuzzer must see it as a crash.
        if let Err(e) = scanner.scan("fuzz", data, &mut Sink) {
            panic!("{e}");
        }
    }
});
