//! A log reader on arbitrary bytes, against a small fixed index: the first byte picks the
//! format (Auto, Zeek, JSON lines, Squid, CLF, syslog, text), the rest is the log. The scan
//! runs in a one-thread rayon pool whose thread is the fuzzer's own, where the scanner
//! matches its pieces on the calling thread: an execution is one scan, with no hand-off
//! between threads.
#![no_main]

use detente_scan::{Events, Format, Hit, Index, ScanOptions, Scanner};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const FORMATS: [Format; 7] = [
    Format::Auto,
    Format::Zeek,
    Format::Jsonl,
    Format::Squid,
    Format::Clf,
    Format::Syslog,
    Format::Text,
];

struct Sink;

impl Events for Sink {
    fn hit(&mut self, _: &Hit<'_>) {}
    fn warning(&mut self, _: &str) {}
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut ix = Index::new(false);
        let opts = detente_scan::sources::LoadOptions {
            now: 0,
            subdomains: true,
        };
        let list = b"evil.com\n10.0.0.0/8\nhttp://bad.org/x\nd41d8cd98f00b204e9800998ecf8427e\n";
        let l = detente_scan::sources::load_bytes("fuzz", list, opts)
            .expect("the fixed indicator list loads");
        l.indicators.into_iter().for_each(|i| ix.insert(i));
        ix
    })
}

fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .use_current_thread()
            .build()
            .expect("a one-thread pool")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, log)) = data.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(first) % FORMATS.len()];
    let scanner = Scanner {
        pool: pool(),
        index: index(),
        allow: None,
        opts: ScanOptions {
            format,
            ..ScanOptions::default()
        },
    };
    // A worker panic comes back as an error; the fuzzer must see it as a crash.
    if let Err(e) = pool().install(|| scanner.scan("fuzz", log, &mut Sink)) {
        panic!("{e}");
    }
});
