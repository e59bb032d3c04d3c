//! Per kind of observable: equivalent spellings map to one canonical form, and reading the
//! canonical text again (as its kind, and by shape) gives the same value.

use detente_observable::{HashKind, Ip, Kind, Observable};
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The canonical value reads back as itself, as its kind and by shape.
fn assert_stable(o: &Observable) -> Result<(), TestCaseError> {
    let text = o.text();
    prop_assert_eq!(Observable::parse_as(o.kind(), &text), Some(o.clone()));
    prop_assert_eq!(Observable::parse(&text), Some(o.clone()), "{}", text);
    let shown = o.to_string();
    prop_assert_eq!(&shown[..o.prefix().len() + 1], format!("{}:", o.prefix()));
    prop_assert_eq!(&shown[o.prefix().len() + 1..], &*text);
    Ok(())
}

/// Every spelling reads (by shape) as the same value, which is stable.
fn assert_one_form(spellings: &[String]) -> Result<Observable, TestCaseError> {
    let first = Observable::parse(&spellings[0]);
    let Some(first) = first else {
        return Err(TestCaseError::fail(format!(
            "{:?} does not parse",
            spellings[0]
        )));
    };
    for s in spellings {
        prop_assert_eq!(Observable::parse(s), Some(first.clone()), "{:?}", s);
    }
    assert_stable(&first)?;
    Ok(first)
}

/// `s` with the letters at the positions `mask` picks upper-cased (Unicode rules).
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

/// Every group of an IPv6 address, in full, upper case.
fn ipv6_long(v: u128) -> String {
    Ipv6Addr::from(v)
        .segments()
        .iter()
        .map(|g| format!("{g:04X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9-]{0,8}[a-z0-9]|[a-z]"
}

fn ascii_domain() -> impl Strategy<Value = String> {
    (prop::collection::vec(label(), 1..4), "[a-z]{2,6}")
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
}

/// Names with non-ASCII labels that IDNA maps (Latin with diacritics, Cyrillic, Greek).
fn idn_domain() -> impl Strategy<Value = String> {
    // No ß or ς: their upper case folds back to other letters (ss, σ), a different name.
    let unicode_label = "[a-zäöüéçñ]{0,4}[äöüéçñ][a-z]{0,4}|[а-яё]{1,8}|[α-ρσ-ω]{1,8}";
    (
        prop::collection::vec(prop_oneof![label(), unicode_label], 1..3),
        prop_oneof![
            Just("com".to_string()),
            Just("рф".to_string()),
            Just("de".to_string())
        ],
    )
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
}

proptest! {
    #[test]
    fn ipv4_spellings(v: u32, port in 1u16..) {
        let dotted = Ipv4Addr::from(v).to_string();
        let mapped = format!("::ffff:{dotted}");
        let o = assert_one_form(&[
            dotted.clone(),
            format!("{dotted}/32"),
            format!("  {dotted}\t"),
            mapped.clone(),
            format!("[{mapped}]"),
            format!("::FFFF:{:x}:{:x}", v >> 16, v & 0xffff),
            format!("{mapped}/128"),
        ])?;
        prop_assert_eq!(&o, &Observable::Net(Ip::V4(v), 32));
        prop_assert_eq!(o.to_string(), format!("ip:{dotted}"));
        // The address inside a URL is written the same way, whatever the spelling.
        let url = Observable::parse(&format!("http://[{mapped}]:{port}/x")).map(|u| u.to_string());
        let want = if port == 80 { format!("url:{dotted}/x") } else { format!("url:{dotted}:{port}/x") };
        prop_assert_eq!(url, Some(want));
    }

    #[test]
    fn ipv6_spellings(v in any::<u128>().prop_filter("not IPv4-mapped", |v| v >> 32 != 0xffff)) {
        let short = Ipv6Addr::from(v).to_string();
        let o = assert_one_form(&[
            short.clone(),
            ipv6_long(v),
            format!("[{}]", ipv6_long(v)),
            format!("{short}/128"),
            short.to_uppercase(),
        ])?;
        prop_assert_eq!(&o, &Observable::Net(Ip::V6(v), 128));
        prop_assert_eq!(o.to_string(), format!("ip:{short}"));
        prop_assert_eq!(
            Observable::parse(&format!("https://[{}]:443", ipv6_long(v))).map(|u| u.to_string()),
            Some(format!("url:[{short}]/"))
        );
    }

    #[test]
    fn cidr_spellings(v: u32, len in 0u8..=32, w: u128, len6 in 0u8..96) {
        let masked = detente_observable::mask4(v, len);
        let o = assert_one_form(&[
            format!("{}/{len}", Ipv4Addr::from(v)),
            format!("{}/{len}", Ipv4Addr::from(masked)),
            format!("::ffff:{}/{}", Ipv4Addr::from(v), u32::from(len) + 96),
        ])?;
        prop_assert_eq!(o, Observable::Net(Ip::V4(masked), len));
        let w = w | 1 << 127; // not IPv4-mapped
        let masked6 = detente_observable::mask6(w, len6);
        let o = assert_one_form(&[
            format!("{}/{len6}", Ipv6Addr::from(w)),
            format!("{}/{len6}", ipv6_long(masked6)),
        ])?;
        prop_assert_eq!(o, Observable::Net(Ip::V6(masked6), len6));
    }

    #[test]
    fn domain_spellings(d in ascii_domain(), mask: u64) {
        let o = assert_one_form(&[
            d.clone(),
            mixed_case(&d, mask),
            format!("{}.", mixed_case(&d, mask.rotate_left(7))),
            format!(" {d} "),
        ])?;
        prop_assert_eq!(o.to_string(), format!("domain:{d}"));
    }

    #[test]
    fn internationalised_domain_spellings(d in idn_domain(), mask: u64) {
        // The oracle: IDNA's own A-labels for the name (UTS 46, as browsers resolve it).
        let Ok(a_label) = idna::domain_to_ascii(&d) else { return Ok(()) };
        let o = assert_one_form(&[
            d.clone(),
            mixed_case(&d, mask),
            format!("{d}."),
            a_label.clone(),
            a_label.to_uppercase(),
        ])?;
        prop_assert_eq!(&o, &Observable::Domain(a_label.clone()));
        // In URLs and e-mail addresses the host is the same A-labels.
        prop_assert_eq!(
            Observable::parse(&format!("https://{}/x", mixed_case(&d, mask))),
            Some(Observable::Url(format!("{a_label}/x")))
        );
        prop_assert_eq!(
            Observable::parse(&format!("Bob@{d}")),
            Some(Observable::Email(format!("bob@{a_label}")))
        );
    }

    #[test]
    fn url_spellings(
        host in ascii_domain(),
        path in "(/[a-zA-Z][a-zA-Z0-9._~%-]{0,10}){0,3}",
        query in "(\\?[a-z0-9=&]{0,10})?",
        fragment in "(#[a-z0-9]{0,6})?",
        scheme_i in 0usize..6,
        mask: u64,
        port in prop_oneof![Just(None), (1u16..).prop_map(Some)],
    ) {
        let (scheme, default) = [("http", 80), ("HTTP", 80), ("https", 443), ("wss", 443), ("ws", 80), ("Ftp", 21)][scheme_i];
        let port_txt = |p: Option<u16>| p.map(|p| format!(":{p}")).unwrap_or_default();
        let canonical_port = port.filter(|p| *p != default && *p != 80);
        let want = format!(
            "{host}{}{}{query}",
            port_txt(canonical_port),
            if path.is_empty() { "/" } else { path.as_str() }
        );
        let mut spellings = vec![
            format!("{scheme}://{host}{}{path}{query}{fragment}", port_txt(port)),
            format!("{scheme}://{}{}{path}{query}", mixed_case(&host, mask), port_txt(canonical_port)),
            format!(
                "{scheme}://user:pw@{host}.{}{path}{query}#top",
                port_txt(Some(canonical_port.unwrap_or(default)))
            ),
        ];
        if default == 80 && !(path.is_empty() && query.is_empty() && port.is_none()) {
            // A URL without scheme is an http one (a bare host is a domain name).
            spellings.push(format!("{host}{}{path}{query}", port_txt(port)));
        }
        let o = assert_one_form(&spellings)?;
        prop_assert_eq!(o, Observable::Url(want));
    }

    #[test]
    fn email_spellings(local in "[a-z0-9][a-z0-9._+-]{0,10}", d in ascii_domain(), mask: u64) {
        let o = assert_one_form(&[
            format!("{local}@{d}"),
            mixed_case(&format!("{local}@{d}"), mask),
            format!("mailto:{local}@{d}."),
            format!("MAILTO:{}@{d}", local.to_uppercase()),
        ])?;
        prop_assert_eq!(o.to_string(), format!("email:{local}@{d}"));
    }

    #[test]
    fn hash_spellings(bytes in prop::collection::vec(any::<u8>(), 64), which in 0usize..4) {
        let kind = HashKind::ALL[which];
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()[..kind.hex_len()].to_string();
        let o = assert_one_form(&[
            hex.clone(),
            hex.to_uppercase(),
            format!("{}:{hex}", kind.name()),
            format!("{}:{}", kind.stix_name(), hex.to_uppercase()),
        ])?;
        prop_assert_eq!(&o, &Observable::Hash(kind, hex.clone()));
        prop_assert_eq!(o.to_string(), format!("{}:{hex}", kind.name()));
        // A declared algorithm that does not fit the length is no digest.
        let other = HashKind::ALL[(which + 1) % 4];
        prop_assert_eq!(Observable::parse(&format!("{}:{hex}", other.name())), None);
        prop_assert_eq!(Observable::parse_as(Kind::Hash(other), &hex), None);
    }

    #[test]
    fn parsers_never_panic(s: String, b: Vec<u8>) {
        if let Some(o) = Observable::parse(&s) {
            prop_assert_eq!(Observable::parse_as(o.kind(), &o.text()), Some(o.clone()));
        }
        let mut d = [0u8; detente_observable::MAX_DOMAIN];
        let mut u = [0u8; detente_observable::MAX_URL];
        let mut h = [0u8; detente_observable::MAX_HASH];
        for input in [s.as_bytes(), &b[..]] {
            let _ = detente_observable::normalize_domain(input, &mut d);
            let _ = detente_observable::normalize_url(input, &mut u);
            let _ = detente_observable::normalize_email(input, &mut u);
            let _ = detente_observable::normalize_hash(input, &mut h);
            let _ = detente_observable::parse_cidr(input);
            let _ = detente_observable::parse_ipv4_prefix(input);
        }
    }
}

#[test]
fn kinds_of_stix_paths() {
    assert_eq!(
        Kind::of_stix_path("ipv4-addr", &["value"]),
        Some(Kind::Ipv4)
    );
    assert_eq!(
        Kind::of_stix_path("file", &["hashes", "SHA-512"]),
        Some(Kind::Hash(HashKind::Sha512))
    );
    assert_eq!(Kind::of_stix_path("file", &["hashes", "SSDEEP"]), None);
    assert_eq!(Kind::of_stix_path("file", &["name"]), None);
    assert_eq!(Kind::of_stix_path("domain-name", &["value", "x"]), None);
    // A kind's value must be of that kind.
    assert_eq!(Observable::parse_as(Kind::Ipv6, "10.0.0.1"), None);
    assert_eq!(Observable::parse_as(Kind::Ipv4, "::ffff:10.0.0.1"), None);
    assert_eq!(
        Observable::parse_as(Kind::Ipv6, "::ffff:10.0.0.1"),
        Some(Observable::Net(Ip::V4(0x0a000001), 32))
    );
}

#[test]
fn what_is_not_an_observable() {
    for s in [
        "",
        "some thing",
        "foo",
        "Mozilla/5.0",
        "/index.php",
        "x.123",
        "user@host",
        "[evil.com]",
    ] {
        assert_eq!(Observable::parse(s), None, "{s}");
    }
}
