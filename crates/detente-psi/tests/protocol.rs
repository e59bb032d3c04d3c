//! End-to-end runs of the two state machines in one process: correctness on generated and
//! real sets, abuse cases, and what each side's transcript contains.

use std::collections::HashSet;

use detente_psi::codec::{REQUEST_HEADER_LEN, RESPONSE_HEADER_LEN};
use detente_psi::protocol::hash_to_group;
use detente_psi::{
    AnswererPolicy, DecodeError, ItemSet, Mode, Outcome, ProtocolError, Querier, Request,
    RequestHeader, Response, accept, normalize,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const POLICY: AnswererPolicy = AnswererPolicy {
    max_request_items: 1_000_000,
};

/// Runs a whole session through the wire encoding; returns the outcome and both messages.
fn run(x: &[String], y: &[String], mode: Mode, seed: u64) -> (Outcome, Vec<u8>, Vec<u8>) {
    let mut qrng = ChaCha20Rng::seed_from_u64(seed);
    let mut arng = ChaCha20Rng::seed_from_u64(seed ^ 0xa5a5);
    let (querier, request) = Querier::start(x, mode, &mut qrng, &()).unwrap();
    let request_bytes = request.encode();

    let header = RequestHeader::parse(&request_bytes).unwrap();
    let session = accept(&header, &POLICY, &mut HashSet::new()).unwrap();
    let request = Request::decode(&request_bytes, POLICY.max_request_items).unwrap();
    let response = session.respond(&request, y, &mut arng, &()).unwrap();
    let response_bytes = response.encode();

    let response = Response::decode(&response_bytes, x.len() as u32, u32::MAX).unwrap();
    let outcome = querier.finish(&response, &()).unwrap();
    (outcome, request_bytes, response_bytes)
}

/// Querier/answerer sets of `n` domains with `common` shared ones, the querier's shuffled.
fn generated(n: usize, common: usize) -> (Vec<String>, Vec<String>, HashSet<String>) {
    let y: Vec<String> = (0..n)
        .map(|i| normalize(&format!("srv{i:06}.bad-actor.example")).unwrap())
        .collect();
    let mut x: Vec<String> = y[..common].to_vec();
    x.extend((common..n).map(|i| normalize(&format!("cli{i:06}.phish.example")).unwrap()));
    // Deterministic shuffle so the common items are not simply first.
    x.sort_by_key(|s| {
        s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        })
    });
    let expected = y[..common].iter().cloned().collect();
    (x, y, expected)
}

fn expect_intersection(x: &[String], y: &[String], expected: &HashSet<String>, seed: u64) {
    let (outcome, ..) = run(x, y, Mode::Intersection, seed);
    let Outcome::Intersection(indices) = outcome else {
        panic!("wrong outcome kind")
    };
    let got: HashSet<String> = indices.iter().map(|&i| x[i].clone()).collect();
    assert_eq!(&got, expected);
    assert_eq!(got.len(), indices.len(), "no index reported twice");
    assert!(indices.windows(2).all(|w| w[0] < w[1]), "querier order");
    let (outcome, ..) = run(x, y, Mode::CountOnly, seed + 1);
    assert_eq!(outcome, Outcome::Count(expected.len()));
}

#[test]
fn overlap_0_10_100_percent() {
    for (common, seed) in [(0, 1), (100, 2), (1000, 3)] {
        let (x, y, expected) = generated(1000, common);
        expect_intersection(&x, &y, &expected, seed);
    }
}

#[test]
fn unequal_sizes_and_empty_sets() {
    let (x, y, _) = generated(300, 30);
    let small: Vec<String> = x[..5].to_vec();
    let expected: HashSet<String> = small.iter().filter(|v| y.contains(v)).cloned().collect();
    expect_intersection(&small, &y, &expected, 10);
    expect_intersection(&y, &small, &expected, 11);
    expect_intersection(&[], &y, &HashSet::new(), 12);
    expect_intersection(&x, &[], &HashSet::new(), 13);
    expect_intersection(&[], &[], &HashSet::new(), 14);
}

#[test]
fn duplicates_and_letter_case_fold_into_one_item() {
    let q = ItemSet::from_lines([
        "Evil.Example.COM",
        "evil.example.com.",
        "192.0.2.7",
        "benign.example.org",
        "EVIL.example.com",
        "AB54A98CEB1F0AD2C5E2B1E0E4A1D0F1",
    ]);
    let a = ItemSet::from_lines([
        "evil.EXAMPLE.com",
        "evil.example.com",
        "ab54a98ceb1f0ad2c5e2b1e0e4a1d0f1",
        "198.51.100.1",
    ]);
    let (outcome, ..) = run(q.values(), a.values(), Mode::Intersection, 20);
    let Outcome::Intersection(indices) = outcome else {
        panic!("wrong outcome kind")
    };
    assert_eq!(q.lines_of(&indices), [0, 1, 4, 5]);
    let (outcome, ..) = run(q.values(), a.values(), Mode::CountOnly, 21);
    assert_eq!(outcome, Outcome::Count(2));
}

fn real(path: &str) -> String {
    let full = format!("{}/../../testdata/real/{path}", env!("CARGO_MANIFEST_DIR"));
    String::from_utf8_lossy(&std::fs::read(&full).unwrap()).into_owned()
}

/// Splits CSV text into records (quoted fields may span lines and contain doubled quotes).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// GRIZZLY STEPPE indicator values (the hash rows with an empty value carry it in COMMENT).
fn grizzly_values() -> Vec<String> {
    let records = csv_records(&real("grizzly-steppe-jar-16-20296/JAR-16-20296A.csv"));
    assert_eq!(records.len(), 912, "911 records plus the header");
    records[1..]
        .iter()
        .map(|r| match r[0].trim() {
            "" => r[2].trim().to_string(),
            v => v.to_string(),
        })
        .collect()
}

/// Indicator column of every Zeek intel feed.
fn zeek_values() -> Vec<String> {
    let dir = format!(
        "{}/../../testdata/real/zeek-intel-feeds-criticalpathsecurity",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "intel"))
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    let mut out = Vec::new();
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if let Some(v) = line.split('\t').next().filter(|v| !v.trim().is_empty()) {
                out.push(v.to_string());
            }
        }
    }
    out
}

#[test]
fn grizzly_steppe_against_zeek_intel_feeds() {
    let grizzly = grizzly_values();
    let zeek = zeek_values();
    // Independent expectation: a plain set intersection over the normalised values.
    let g_norm: HashSet<String> = grizzly.iter().filter_map(|v| normalize(v).ok()).collect();
    let z_norm: HashSet<String> = zeek.iter().filter_map(|v| normalize(v).ok()).collect();
    let expected: HashSet<String> = g_norm.intersection(&z_norm).cloned().collect();
    assert!(
        !expected.is_empty(),
        "the real sets share indicators (Tor exit nodes)"
    );

    let q = ItemSet::from_lines(grizzly.iter().map(String::as_str));
    let a = ItemSet::from_lines(zeek.iter().map(String::as_str));
    let (outcome, ..) = run(q.values(), a.values(), Mode::Intersection, 30);
    let Outcome::Intersection(indices) = outcome else {
        panic!("wrong outcome kind")
    };
    let got: HashSet<String> = indices.iter().map(|&i| q.values()[i].clone()).collect();
    assert_eq!(got, expected);
    // Each matched line really is one of the querier's own original lines.
    for line in q.lines_of(&indices) {
        assert!(z_norm.contains(&normalize(&grizzly[line]).unwrap()));
    }
    let (outcome, ..) = run(q.values(), a.values(), Mode::CountOnly, 31);
    assert_eq!(outcome, Outcome::Count(expected.len()));
}

#[test]
fn over_cap_request_is_refused_from_the_header_alone() {
    let (x, _, _) = generated(50, 0);
    let (_, request) = Querier::start(
        &x,
        Mode::Intersection,
        &mut ChaCha20Rng::seed_from_u64(40),
        &(),
    )
    .unwrap();
    let bytes = request.encode();
    let header = RequestHeader::parse(&bytes[..REQUEST_HEADER_LEN]).unwrap();
    let mut seen = HashSet::new();
    let policy = AnswererPolicy {
        max_request_items: 49,
    };
    assert_eq!(
        accept(&header, &policy, &mut seen).unwrap_err(),
        ProtocolError::TooManyItems { count: 50, max: 49 }
    );
    // A refused request does not burn its session id.
    assert!(seen.is_empty());
}

#[test]
fn replayed_session_is_refused() {
    let (x, y, _) = generated(20, 5);
    let (_, request) = Querier::start(
        &x,
        Mode::Intersection,
        &mut ChaCha20Rng::seed_from_u64(50),
        &(),
    )
    .unwrap();
    let mut seen = HashSet::new();
    let first = accept(&request.header, &POLICY, &mut seen).unwrap();
    first
        .respond(&request, &y, &mut ChaCha20Rng::seed_from_u64(51), &())
        .unwrap();
    assert_eq!(
        accept(&request.header, &POLICY, &mut seen).unwrap_err(),
        ProtocolError::Replayed(request.header.session)
    );
}

#[test]
fn malformed_and_mismatched_messages_give_clear_errors() {
    let (x, y, _) = generated(10, 2);
    let mut rng = ChaCha20Rng::seed_from_u64(60);
    let (querier, request) = Querier::start(&x, Mode::Intersection, &mut rng, &()).unwrap();
    let bytes = request.encode();
    assert!(matches!(
        Request::decode(&bytes[..bytes.len() - 7], 100),
        Err(DecodeError::Truncated { .. })
    ));

    // A corrupted point is refused with its index.
    let mut bad = request.clone();
    bad.points[3] = [0xff; 32];
    let session = accept(&bad.header, &POLICY, &mut HashSet::new()).unwrap();
    assert_eq!(
        session.respond(&bad, &y, &mut rng, &()).unwrap_err(),
        ProtocolError::InvalidPoint { index: 3 }
    );

    let session = accept(&request.header, &POLICY, &mut HashSet::new()).unwrap();
    let response = session.respond(&request, &y, &mut rng, &()).unwrap();
    let rbytes = response.encode();
    assert_eq!(
        Response::decode(&rbytes[..RESPONSE_HEADER_LEN - 1], 100, 100).unwrap_err(),
        DecodeError::Truncated {
            needed: RESPONSE_HEADER_LEN,
            got: RESPONSE_HEADER_LEN - 1
        }
    );
    assert!(matches!(
        Response::decode(&rbytes, 100, 5),
        Err(DecodeError::TooManyItems {
            what: "answerer set",
            ..
        })
    ));
    let mut short = response.clone();
    short.points.pop();
    let (other, _) = Querier::start(&x, Mode::Intersection, &mut rng, &()).unwrap();
    assert!(matches!(
        other.finish(&response, &()),
        Err(ProtocolError::SessionMismatch { .. })
    ));
    assert_eq!(
        querier.finish(&short, &()).unwrap_err(),
        ProtocolError::CountMismatch {
            expected: 10,
            found: 9
        }
    );
}

#[test]
fn transcripts_reveal_only_what_each_side_may_learn() {
    let (x, y, expected) = generated(200, 20);
    let (outcome, request, response) = run(&x, &y, Mode::Intersection, 70);

    // The answerer's view: a header (session id, mode, count) and |X| points, nothing else.
    assert_eq!(request.len(), REQUEST_HEADER_LEN + 32 * x.len());
    let header = RequestHeader::parse(&request).unwrap();
    assert_eq!(header.count as usize, x.len());
    for item in &x {
        let raw = item.split_once(':').unwrap().1.as_bytes();
        assert!(
            !request.windows(raw.len()).any(|w| w == raw),
            "plaintext leaked"
        );
        // The points are not the unkeyed hashes either, so the answerer cannot test guesses
        // (even correct guesses of the querier's items) against them.
        let unkeyed = hash_to_group(&header.session, item.as_bytes())
            .compress()
            .to_bytes();
        assert!(!request.windows(32).any(|w| w == unkeyed));
    }

    // The querier's view: |X| points and |Y| short tags, no answerer plaintext, and only the
    // intersection as a result.
    let parsed = Response::decode(&response, x.len() as u32, u32::MAX).unwrap();
    assert_eq!(parsed.tags.len(), y.len());
    assert_eq!(
        response.len(),
        RESPONSE_HEADER_LEN + 32 * x.len() + usize::from(parsed.tag_len) * y.len()
    );
    for item in &y {
        let raw = item.split_once(':').unwrap().1.as_bytes();
        assert!(!response.windows(raw.len()).any(|w| w == raw));
    }
    let Outcome::Intersection(indices) = outcome else {
        panic!("wrong outcome kind")
    };
    assert_eq!(indices.len(), expected.len());

    // Count-only: the returned points are sorted, so their order says nothing about which
    // querier item each one belongs to.
    let (_, _, response) = run(&x, &y, Mode::CountOnly, 71);
    let parsed = Response::decode(&response, x.len() as u32, u32::MAX).unwrap();
    assert!(parsed.points.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn fresh_keys_make_sessions_unlinkable() {
    let (x, y, _) = generated(10, 3);
    let (_, r1, s1) = run(&x, &y, Mode::Intersection, 80);
    let (_, r2, s2) = run(&x, &y, Mode::Intersection, 81);
    let p1: HashSet<&[u8]> = r1[REQUEST_HEADER_LEN..].chunks(32).collect();
    assert!(r2[REQUEST_HEADER_LEN..].chunks(32).all(|p| !p1.contains(p)));
    assert_ne!(s1[RESPONSE_HEADER_LEN..], s2[RESPONSE_HEADER_LEN..]);
}
