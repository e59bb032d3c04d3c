//! The scanner and PSI agree on every observable: for each generated value, however its
//! indicator and the log write it, the scanner's lookup key is PSI's canonical form (without
//! the kind prefix), the STIX pattern reading types it the same way, and the scanner's index
//! finds the indicator from the log's spelling and from PSI's canonical text.

use detente_indicator::stix_pattern::{Usable, classify};
use detente_scan::index::{Index, Indicator, Provenance, Value};
use detente_scan::norm::{HashKind, Ip, cidr_text};
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One observable: how an indicator writes it, its STIX object path, how a log writes it.
#[derive(Debug, Clone)]
struct Case {
    indicator: String,
    path: &'static str,
    log: String,
}

/// The scanner's key text for a value and the PSI prefix its kind has.
fn key(v: &Value) -> (String, &'static str) {
    match v {
        Value::Net(ip, len) => (cidr_text(*ip, *len), "ip"),
        Value::Domain(d, _) => (d.clone(), "domain"),
        Value::Url(u) => (u.clone(), "url"),
        Value::Email(e) => (e.clone(), "email"),
        Value::Hash(h) => (
            h.clone(),
            HashKind::from_hex_len(h.len()).map_or("?", HashKind::name),
        ),
        Value::Pattern => (String::new(), "pattern"),
    }
}

fn mixed_case(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_uppercase().collect::<String>()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn ipv6_long(v: u128) -> String {
    Ipv6Addr::from(v)
        .segments()
        .iter()
        .map(|g| format!("{g:04X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn domain() -> impl Strategy<Value = String> {
    let label = "[a-z0-9][a-z0-9-]{0,6}[a-z0-9]|[a-z]|[a-zäöüéñ]{0,3}[äöüéñ][a-z]{0,3}|[а-я]{1,6}";
    (
        prop::collection::vec(label, 1..4),
        prop_oneof![Just("com"), Just("org"), Just("рф"), Just("io")],
    )
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
}

fn case() -> impl Strategy<Value = Case> {
    let ipv4 = (any::<u32>(), any::<bool>(), 1u16..).prop_map(|(v, mapped, port)| {
        let dotted = Ipv4Addr::from(v).to_string();
        Case {
            indicator: if mapped {
                format!("::ffff:{dotted}")
            } else {
                dotted.clone()
            },
            path: if mapped {
                "ipv6-addr:value"
            } else {
                "ipv4-addr:value"
            },
            log: if mapped {
                dotted
            } else {
                format!("{dotted}:{port}")
            },
        }
    });
    let ipv6 = (any::<u128>(), any::<bool>())
        .prop_filter("not IPv4-mapped", |(v, _)| v >> 32 != 0xffff)
        .prop_map(|(v, long_in_log)| {
            let (a, b) = (Ipv6Addr::from(v).to_string(), ipv6_long(v));
            let (indicator, log) = if long_in_log { (a, b) } else { (b, a) };
            Case {
                indicator,
                path: "ipv6-addr:value",
                log,
            }
        });
    let dom = (domain(), any::<u64>(), any::<bool>()).prop_filter_map(
        "IDNA refuses the name",
        |(d, mask, a_label_in_log)| {
            let a_label = idna::domain_to_ascii(&d).ok()?;
            let written = mixed_case(&d, mask);
            let (indicator, log) = if a_label_in_log {
                (written, a_label.to_uppercase())
            } else {
                (a_label, format!("{written}."))
            };
            Some(Case {
                indicator,
                path: "domain-name:value",
                log,
            })
        },
    );
    let url = (
        domain(),
        "(/[a-zA-Z][a-zA-Z0-9._~%-]{0,8}){0,3}",
        "(\\?[a-z0-9=&]{0,8})?",
        prop_oneof![
            Just(("http", 80)),
            Just(("https", 443)),
            Just(("HTTPS", 443)),
            Just(("ftp", 21))
        ],
        any::<u64>(),
    )
        .prop_map(|(host, path, query, (scheme, port), mask)| Case {
            indicator: format!("{scheme}://{}{path}{query}#frag", mixed_case(&host, mask)),
            path: "url:value",
            log: format!(
                "{}://user@{host}.:{port}{path}{query}",
                scheme.to_lowercase()
            ),
        });
    let email =
        ("[a-z0-9][a-z0-9._+-]{0,8}", domain(), any::<u64>()).prop_map(|(local, d, mask)| Case {
            indicator: mixed_case(&format!("{local}@{d}"), mask),
            path: "email-addr:value",
            log: format!("{}@{d}.", local.to_uppercase()),
        });
    let hash = (prop::collection::vec(any::<u8>(), 64), 0usize..4).prop_map(|(bytes, which)| {
        let kind = HashKind::ALL[which];
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let hex = &hex[..kind.hex_len()];
        let path = match kind {
            HashKind::Md5 => "file:hashes.MD5",
            HashKind::Sha1 => "file:hashes.'SHA-1'",
            HashKind::Sha256 => "file:hashes.'SHA-256'",
            HashKind::Sha512 => "file:hashes.'SHA-512'",
        };
        Case {
            indicator: hex.to_uppercase(),
            path,
            log: hex.to_string(),
        }
    });
    prop_oneof![ipv4, ipv6, dom, url, email, hash]
}

/// Whether the index holding only `value` finds it in `observed`.
fn finds(value: &Value, observed: &str) -> bool {
    let mut ix = Index::new(false);
    ix.insert(Indicator {
        id: "indicator--1".into(),
        written: String::new(),
        value: value.clone(),
        provenance: Provenance::default(),
    });
    ix.contains_value(observed.as_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn scanner_key_is_psi_canonical_form(c in case()) {
        let psi = detente_psi::normalize(&c.indicator).expect("not empty");
        let guessed = Value::guess(&c.indicator, false);
        prop_assert!(guessed.is_some(), "the scanner does not read {:?} (PSI: {})", c.indicator, psi);
        let guessed = guessed.unwrap_or(Value::Pattern);
        let (text, prefix) = key(&guessed);
        prop_assert_eq!(&psi, &format!("{prefix}:{text}"));
        // The log's spelling is the same value for PSI too (an address with a port is a URL).
        if c.path != "ipv4-addr:value" {
            prop_assert_eq!(detente_psi::normalize(&c.log).ok(), Some(psi.clone()), "{}", c.log);
        }
        // A STIX indicator with this value is read as the same value.
        let pattern = format!("[{} = '{}']", c.path, c.indicator);
        match classify(&pattern, false) {
            Ok(Usable::Simple(v)) => prop_assert_eq!(&v[0].1, &guessed, "{}", pattern),
            other => prop_assert!(false, "{pattern}: {other:?}"),
        }
        // The scanner finds it from the log's spelling and from PSI's canonical text.
        prop_assert!(finds(&guessed, &c.log), "{:?} not found in {:?}", guessed, c.log);
        prop_assert!(finds(&guessed, &text), "{:?} not found in {:?}", guessed, text);
    }
}

#[test]
fn the_disagreements_of_the_two_old_normalisers_are_resolved() {
    let sha512 = "AB".repeat(64);
    for (indicator, psi) in [
        (sha512.as_str(), format!("sha512:{}", sha512.to_lowercase())),
        ("Bücher.example", "domain:xn--bcher-kva.example".into()),
        ("http://evil.com/a#frag", "url:evil.com/a".into()),
        ("wss://evil.com:443/", "url:evil.com/".into()),
        ("tcp://evil.com:443/", "url:evil.com:443/".into()),
        ("https://evil.com:80/", "url:evil.com/".into()),
        ("::ffff:192.0.2.1", "ip:192.0.2.1".into()),
        ("10.0.0.0/8", "ip:10.0.0.0/8".into()),
        ("Bob@Evil.com.", "email:bob@evil.com".into()),
        ("mailto:Bob@Evil.com", "email:bob@evil.com".into()),
    ] {
        assert_eq!(detente_psi::normalize(indicator).as_ref(), Ok(&psi));
        let v = Value::guess(indicator, false).unwrap_or(Value::Pattern);
        let (text, prefix) = key(&v);
        assert_eq!(format!("{prefix}:{text}"), psi, "{indicator}");
    }
    // A mapped address in a log meets the IPv4 indicator.
    let v4 = Value::Net(Ip::V4(0xc0000201), 32);
    assert!(finds(&v4, "::ffff:192.0.2.1"));
}
