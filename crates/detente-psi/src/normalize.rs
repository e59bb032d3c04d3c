//! Canonical form of indicator values, so that both parties hash the same bytes for the same
//! indicator however it was written.
//!
//! A value is read by its shape with [`Observable::parse`] (`detente-observable`, the one home
//! of these rules, shared with the scanner and the node; `docs/observables.md`) and written as
//! its kind, `:` and its canonical text, so values of different kinds never collide:
//!
//! | input | canonical form |
//! |---|---|
//! | IPv4, IPv6 (`2001:DB8::1`, `[::1]`), a CIDR block | `ip:` + dotted quad or RFC 5952 text (`/len` for a block, masked); IPv4-mapped IPv6 is the IPv4 address |
//! | 32 / 40 / 64 / 128 hex digits, optionally after `md5:` `sha1:` `sha256:` `sha512:` (any case) | `md5:` / `sha1:` / `sha256:` / `sha512:` + lower-case hex |
//! | a domain name, ASCII or internationalised | `domain:` + lower-case A-labels, no trailing dot |
//! | `local@domain`, optionally after `mailto:` | `email:` + local part lower-cased, `@`, the domain as above |
//! | `scheme://host[:port]/path?query#frag`, or a scheme-less `host[:port]/path` | `url:` + host as above, the port unless it is 80 or the scheme's default, path (`/` if empty) and query verbatim; scheme, user info and fragment dropped |
//! | anything else | `other:` + the trimmed text verbatim |
//!
//! Dropping the URL scheme is deliberate: threat feeds (Zeek intel among them) store URLs
//! without it, and `http://` versus `https://` does not change what the indicator means.

use detente_observable::Observable;
use thiserror::Error;

/// Why a line could not be turned into an item.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NormalizeError {
    /// The value is empty after trimming whitespace.
    #[error("empty value")]
    Empty,
}

/// Returns the canonical, type-prefixed form of one indicator value.
pub fn normalize(raw: &str) -> Result<String, NormalizeError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(NormalizeError::Empty);
    }
    Ok(match Observable::parse(value) {
        Some(o) => o.to_string(),
        None => format!("other:{value}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s).unwrap()
    }

    #[test]
    fn domains_ignore_case_and_trailing_dot() {
        assert_eq!(n("Evil.Example.COM."), "domain:evil.example.com");
        assert_eq!(n("  evil.example.com\t"), "domain:evil.example.com");
        // One label is no domain name (the scanner could never match it either).
        assert_eq!(n("localhost"), "other:localhost");
    }

    #[test]
    fn internationalised_domains_are_a_labels() {
        assert_eq!(n("Bücher.example"), "domain:xn--bcher-kva.example");
        assert_eq!(n("xn--bcher-kva.EXAMPLE"), "domain:xn--bcher-kva.example");
        assert_eq!(n("http://bücher.example/x"), "url:xn--bcher-kva.example/x");
    }

    #[test]
    fn ips_are_canonical() {
        assert_eq!(n("192.0.2.1"), "ip:192.0.2.1");
        assert_eq!(n("2001:DB8:0:0:0:0:0:1"), "ip:2001:db8::1");
        assert_eq!(n("[::1]"), "ip:::1");
        assert_eq!(n("::ffff:192.0.2.1"), "ip:192.0.2.1");
        assert_eq!(n("10.1.2.3/8"), "ip:10.0.0.0/8");
        assert_eq!(n("192.0.2.1/32"), "ip:192.0.2.1");
    }

    #[test]
    fn hashes_are_lower_case_and_typed() {
        let md5 = "8F154D23AC2071D7F179959AABA37AD5";
        assert_eq!(n(md5), format!("md5:{}", md5.to_ascii_lowercase()));
        let sha1 = "A".repeat(40);
        assert_eq!(
            n(&format!("SHA1:{sha1}")),
            format!("sha1:{}", "a".repeat(40))
        );
        assert_eq!(n(&"b".repeat(64)), format!("sha256:{}", "b".repeat(64)));
        assert_eq!(n(&"C".repeat(128)), format!("sha512:{}", "c".repeat(128)));
        // A declared type that does not fit the length is not a hash.
        assert!(n(&format!("md5:{}", "c".repeat(64))).starts_with("other:"));
    }

    #[test]
    fn urls_drop_scheme_default_port_and_fragment() {
        assert_eq!(
            n("HTTP://Evil.Example.com:80/a/B?x=1#frag"),
            "url:evil.example.com/a/B?x=1"
        );
        assert_eq!(n("https://evil.example.com"), "url:evil.example.com/");
        assert_eq!(
            n("https://evil.example.com:8443/x"),
            "url:evil.example.com:8443/x"
        );
        assert_eq!(
            n("efax.pfdregistry.net/eFax/37486.ZIP"),
            "url:efax.pfdregistry.net/eFax/37486.ZIP"
        );
        assert_eq!(
            n("http://user@[2001:db8::1]:8080/"),
            "url:[2001:db8::1]:8080/"
        );
        assert_eq!(
            n("tcp://evil.example.com:443/"),
            "url:evil.example.com:443/"
        );
    }

    #[test]
    fn emails_are_lower_case() {
        assert_eq!(n("Phisher@Evil.Example."), "email:phisher@evil.example");
        assert_eq!(
            n("mailto:Phisher@Evil.Example"),
            "email:phisher@evil.example"
        );
    }

    #[test]
    fn other_values_are_kept_verbatim() {
        assert_eq!(n("some thing"), "other:some thing");
        assert_eq!(normalize("   "), Err(NormalizeError::Empty));
    }
}
