//! The five MISP warninglist types against vectors derived from MISP's matching rules
//! (`app/Model/Warninglist.php`: `string` exact, `hostname` label-boundary suffixes of the
//! value's host, `cidr` containment of an address, `substring` case-sensitive containment,
//! `regex` PCRE match), plus the deviations `docs/detection.md` documents.

use std::path::Path;

use detente_warninglist::{Action, Matcher, Warninglist};

/// The test list of one type and the path it is read from.
fn read(kind: &str) -> (String, Warninglist) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/warninglists")
        .join(kind)
        .join("list.json");
    let wl = Warninglist::parse(&std::fs::read(&path).unwrap()).unwrap();
    (path.display().to_string(), wl)
}

/// The test list of one type, loaded as `scan --allowlist` and the node load it; with the notes
/// it gave.
fn list(kind: &str) -> (Matcher, Vec<String>) {
    let (path, wl) = read(kind);
    let mut allow = Matcher::new();
    let notes = allow.add(&path, &wl);
    allow.finish();
    (allow, notes)
}

/// Which of `values` the list holds, and which entry each met.
fn check(allow: &Matcher, yes: &[(&str, &str)], no: &[&str]) {
    for (v, entry) in yes {
        let got = allow
            .check(v.as_bytes())
            .map(|x| allow.entry(x.entry).written);
        assert_eq!(got, Some(*entry), "{v}");
    }
    for v in no {
        assert_eq!(allow.check(v.as_bytes()), None, "{v}");
    }
}

#[test]
fn string_lists_are_exact() {
    let (allow, notes) = list("string");
    assert!(notes.is_empty(), "{notes:?}");
    check(
        &allow,
        &[
            ("8.8.8.8", "8.8.8.8"),
            ("not a typed value", "not a typed value"),
            // Typed values compare in canonical form: host names and digests ignore case, a
            // port after an address is not part of it.
            ("example.com", "Example.COM"),
            ("8.8.8.8:53", "8.8.8.8"),
            (
                "D41D8CD98F00B204E9800998ECF8427E",
                "d41d8cd98f00b204e9800998ecf8427e",
            ),
        ],
        &[
            "8.8.8.9",
            "a.example.com",
            "http://example.com/x",
            "not a typed",
            "",
        ],
    );
    assert_eq!(allow.len(), 4, "the empty entry is skipped, as MISP does");
    assert_eq!(allow.lists()[0].key, "string");
    assert_eq!(allow.lists()[0].name, "Test string list");
}

#[test]
fn hostname_lists_cover_names_below() {
    let (allow, notes) = list("hostname");
    assert!(notes.is_empty(), "{notes:?}");
    check(
        &allow,
        &[
            ("example.org", ".Example.org"),
            ("a.b.example.org", ".Example.org"),
            ("EXAMPLE.ORG.", ".Example.org"),
            ("http://mail.gmail.com/inbox", "gmail.com"),
            ("gmail.com/path", "gmail.com"),
            ("mail.gmail.com:443", "gmail.com"),
            ("10.0.0.1", "10.0.0.1"),
        ],
        &[
            "notexample.org",
            "example.org.evil.net",
            "bob@gmail.com",
            "10.0.0.2",
            "org",
        ],
    );
}

#[test]
fn cidr_lists_hold_addresses() {
    let (allow, notes) = list("cidr");
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("not-a-cidr"), "{notes:?}");
    check(
        &allow,
        &[
            ("10.1.2.3", "10.0.0.0/8"),
            ("10.1.2.3:80", "10.0.0.0/8"),
            ("192.0.2.1", "192.0.2.1"),
            ("2001:db8::1", "2001:db8::/32"),
            ("[2001:db8::1]:443", "2001:db8::/32"),
        ],
        &[
            "11.0.0.1",
            "192.0.2.2",
            "http://10.1.2.3/",
            "evil.com",
            "2001:db9::1",
        ],
    );
}

#[test]
fn substring_lists_match_inside_values() {
    let (allow, notes) = list("substring");
    assert!(notes.is_empty(), "{notes:?}");
    check(
        &allow,
        &[
            ("cdn.jsdelivr.net", "jsdelivr"),
            ("http://a.cdn.b/x", ".cdn."),
            ("xTrackery", "Tracker"),
        ],
        &["tracker.example", "example.com", "cdn.example"],
    );
}

#[test]
fn regex_lists_use_pcre_delimiters_and_report_what_they_cannot_use() {
    let (allow, notes) = list("regex");
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("a(?=b)")), "{notes:?}");
    assert!(
        notes.iter().any(|n| n.contains("no-delimiters")),
        "{notes:?}"
    );
    check(
        &allow,
        &[
            (
                "ABUSE@example.com",
                "/^(security|noc|soc|abuse)\\@.*\\..*$/i",
            ),
            ("http://x.org/wp-admin/a", "#^https?://[^/]+/wp-admin#"),
            ("tel:2125550142", "/[0-9]{3}55501[0-9]{2}/g"),
        ],
        &[
            "abuse@localhost",
            "ftp://x.org/wp-admin",
            "2125550299",
            "ab",
        ],
    );
}

#[test]
fn suppress_wins_over_inform() {
    let mut allow = Matcher::new();
    for kind in ["substring", "hostname"] {
        let (path, wl) = read(kind);
        allow.add(&path, &wl);
    }
    allow.finish();
    let v = b"cdn.jsdelivr.gmail.com";
    let inform = allow.check(v).unwrap();
    assert!(!inform.suppress);
    assert!(allow.set_action("hostname", Action::Suppress));
    assert!(!allow.set_action("no-such-list", Action::Suppress));
    let suppressed = allow.check(v).unwrap();
    assert!(suppressed.suppress);
    assert_eq!(allow.entry(suppressed.entry).written, "gmail.com");
    // A value only the inform list holds stays inform.
    assert!(!allow.check(b"cdn.jsdelivr.net").unwrap().suppress);
}

#[test]
fn foreign_lists_share_the_numbering_and_the_actions() {
    let (path, wl) = read("cidr");
    let mut m = Matcher::new();
    m.add(&path, &wl);
    let ids = m.add_foreign("mine.txt", "indicators", ["10.1.2.3"]);
    m.finish();
    assert_eq!(m.entry(ids[0]).written, "10.1.2.3");
    assert_eq!(m.entry(ids[0]).list.kind, "indicators");
    // The matcher itself does not match a foreign list's entries.
    let mut found = m.check(b"10.1.2.3");
    assert_eq!(m.entry(found.unwrap().entry).written, "10.0.0.0/8");
    // An inform entry found later does not displace the first; a suppressing one does.
    assert!(!m.consider(&mut found, ids[0]));
    assert_eq!(m.entry(found.unwrap().entry).written, "10.0.0.0/8");
    assert!(m.set_action("mine.txt", Action::Suppress));
    assert!(m.consider(&mut found, ids[0]));
    assert_eq!(found.map(|v| (v.entry, v.suppress)), Some((ids[0], true)));
    assert!(m.nets().any(|(_, len, w)| len == 8 && w == "10.0.0.0/8"));
    assert!(!m.nets().any(|(_, _, w)| w == "10.1.2.3"));
}
