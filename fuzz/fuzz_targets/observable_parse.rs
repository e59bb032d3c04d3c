//! Observable values from indicators, PSI item files and logs (all untrusted): every parser
//! never panics, and every canonical form it writes is a fixed point (parsing it again gives
//! it back), so one value has one form however often it is normalised.
#![no_main]

use detente_observable::{
    MAX_DOMAIN, MAX_HASH, MAX_URL, Observable, normalize_domain, normalize_email, normalize_hash,
    normalize_url, parse_cidr, parse_ipv4_prefix,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (mut a, mut b) = ([0u8; MAX_URL], [0u8; MAX_URL]);
    if let Some(p) = normalize_url(data, &mut a) {
        let once = p.normalized.to_vec();
        let again = normalize_url(&once, &mut b).map(|p| p.normalized.to_vec());
        assert_eq!(again.as_deref(), Some(&once[..]), "url {data:?}");
    }
    if let Some(e) = normalize_email(data, &mut a) {
        let once = e.to_vec();
        assert_eq!(
            normalize_email(&once, &mut b),
            Some(&once[..]),
            "email {data:?}"
        );
    }
    let (mut d, mut d2) = ([0u8; MAX_DOMAIN], [0u8; MAX_DOMAIN]);
    if let Some(x) = normalize_domain(data, &mut d) {
        assert_eq!(normalize_domain(x, &mut d2), Some(x), "domain {data:?}");
    }
    let (mut h, mut h2) = ([0u8; MAX_HASH], [0u8; MAX_HASH]);
    if let Some(x) = normalize_hash(data, &mut h) {
        assert_eq!(normalize_hash(x, &mut h2), Some(x));
    }
    if let Some((ip, len)) = parse_cidr(data) {
        let text = detente_observable::cidr_text(ip, len);
        assert_eq!(parse_cidr(text.as_bytes()), Some((ip, len)));
    }
    if let Some((_, n)) = parse_ipv4_prefix(data) {
        assert!(n <= data.len());
    }
    if let Ok(s) = std::str::from_utf8(data)
        && let Some(o) = Observable::parse(s)
    {
        assert_eq!(
            Observable::parse_as(o.kind(), &o.text()),
            Some(o.clone()),
            "{s:?}"
        );
        let shown = o.to_string();
        assert!(shown.starts_with(o.prefix()) && shown.ends_with(&*o.text()));
    }
});
