//! Multi-chunk behaviour: line numbers across chunks and Zeek header blocks that change the
//! schema mid-file (concatenated logs), with several rayon threads.

use detente_scan::sources::{self, LoadOptions};
use detente_scan::{Events, Format, Hit, Index, ScanOptions, Scanner};

#[derive(Default)]
struct Collect(Vec<(u64, String, String)>, Vec<String>);

impl Events for Collect {
    fn hit(&mut self, h: &Hit<'_>) {
        self.0
            .push((h.line, h.field.to_string(), h.indicator.written.clone()));
    }
    fn warning(&mut self, m: &str) {
        self.1.push(m.to_string());
    }
}

fn header(fields: &str, types: &str) -> String {
    format!("#separator \\x09\n#set_separator\t,\n#fields\t{fields}\n#types\t{types}\n")
}

#[test]
fn schema_switch_and_line_numbers_across_chunks() {
    let mut ix = Index::new(false);
    let opts = LoadOptions {
        now: 0,
        subdomains: true,
    };
    for i in sources::load_bytes("t", b"evil.com\n1.2.3.4\n", opts)
        .unwrap()
        .indicators
    {
        ix.insert(i);
    }
    let mut log = header("ts\tsrc\tquery", "time\taddr\tstring");
    let mut line = 4u64;
    let mut expected = Vec::new();
    // ~6 MB: several chunks before the second header block.
    for i in 0..150_000u64 {
        line += 1;
        if i % 10_007 == 0 {
            log.push_str(&format!("{i}.5\t1.2.3.4\tx{i}.evil.com\n"));
            expected.push((line, "src".to_string(), "1.2.3.4".to_string()));
            expected.push((line, "query".to_string(), "evil.com".to_string()));
        } else {
            log.push_str(&format!("{i}.5\t10.0.0.{}\thost{i}.example.net\n", i % 250));
        }
    }
    log.push_str(&header("ts\tanswer\tnote", "time\tstring\tcount"));
    line += 4;
    for i in 0..50_000u64 {
        line += 1;
        // `note` is a count column now: values in it are not matched.
        if i % 9_973 == 0 {
            log.push_str(&format!("{i}.5\tevil.com\t1.2.3.4\n"));
            expected.push((line, "answer".to_string(), "evil.com".to_string()));
        } else {
            log.push_str(&format!("{i}.5\tok{i}.example.org\t5\n"));
        }
    }
    assert!(log.len() > 6 << 20);
    let scanner = Scanner {
        pool: &rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap(),
        index: &ix,
        allow: None,
        opts: ScanOptions::default(),
    };
    let mut c = Collect::default();
    let stats = scanner.scan("big.log", log.as_bytes(), &mut c).unwrap();
    assert!(c.1.is_empty(), "{:?}", c.1);
    assert_eq!(stats.lines, line);
    let mut got = c.0;
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn long_lines_below_the_limit_are_read_and_longer_ones_skipped() {
    let mut ix = Index::new(false);
    let opts = LoadOptions {
        now: 0,
        subdomains: true,
    };
    for i in sources::load_bytes("t", b"evil.com\n", opts)
        .unwrap()
        .indicators
    {
        ix.insert(i);
    }
    // Lines longer than a read chunk but within MAX_LINE are matched; a longer one is
    // skipped with a warning; line numbers stay right around both.
    let long = format!("{} evil.com\n", "a ".repeat(400_000));
    let too_long = format!(
        "{} evil.com\n",
        "b".repeat(detente_scan::engine::MAX_LINE + 10)
    );
    let log = format!("x evil.com\n{long}{too_long}y evil.com\n");
    let scanner = Scanner {
        pool: &rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap(),
        index: &ix,
        allow: None,
        opts: ScanOptions {
            format: Format::Text,
            ..ScanOptions::default()
        },
    };
    let mut c = Collect::default();
    let stats = scanner.scan("long.log", log.as_bytes(), &mut c).unwrap();
    assert_eq!(stats.lines, 4);
    let lines: Vec<u64> = c.0.iter().map(|h| h.0).collect();
    assert_eq!(lines, [1, 2, 4]);
    assert_eq!(c.1.len(), 1, "{:?}", c.1);
    assert!(c.1[0].starts_with("long.log:3: line of"), "{:?}", c.1);
}

/// A scan started on the only thread of a rayon pool (as the `scan_logs` fuzz target runs
/// it) matches its pieces on that thread rather than waiting for itself, and finds what a
/// scan on a two-thread pool finds, in the same order, over more pieces than it keeps in
/// flight.
#[test]
fn a_scan_on_a_one_thread_pool_matches_its_pieces_there() {
    let mut ix = Index::new(false);
    let opts = LoadOptions {
        now: 0,
        subdomains: true,
    };
    for i in sources::load_bytes("t", b"evil.com\n1.2.3.4\n", opts)
        .unwrap()
        .indicators
    {
        ix.insert(i);
    }
    let mut log = String::new();
    for i in 0..300_000u64 {
        if i % 9_001 == 0 {
            log.push_str(&format!("{i} 1.2.3.4 went to x{i}.evil.com\n"));
        } else {
            log.push_str(&format!(
                "{i} 10.0.0.{} went to host{i}.example.net\n",
                i % 250
            ));
        }
    }
    // More 1 MiB pieces than the 6 a one-thread pool keeps in flight.
    assert!(log.len() > 10 << 20);
    let ix = std::sync::Arc::new(ix);
    let log = std::sync::Arc::new(log);
    let scan = {
        let (ix, log) = (ix.clone(), log.clone());
        move |pool: &rayon::ThreadPool| {
            let scanner = Scanner {
                pool,
                index: &ix,
                allow: None,
                opts: ScanOptions::default(),
            };
            let mut c = Collect::default();
            let stats = scanner.scan("big.log", log.as_bytes(), &mut c).unwrap();
            (stats.lines, c.0, c.1)
        }
    };
    let on_global = scan(
        &rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap(),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let scan_in_pool = scan.clone();
    std::thread::spawn(move || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let _ = tx.send(pool.install(|| scan_in_pool(&pool)));
    });
    let in_pool = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the scan on a one-thread pool finishes");
    assert_eq!(in_pool, on_global);
    assert_eq!(on_global.0, 300_000);
    assert_eq!(on_global.1.len(), 2 * 34);
}
