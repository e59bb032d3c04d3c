//! What `=` means on observable paths: strict STIX (the literal and the value are equal
//! strings), or the looser equality a log scanner needs, where two spellings of one observable
//! (`Evil.COM.` and `evil.com`, `HTTPS://evil.com:443/a` and `http://evil.com/a`) are one value,
//! a domain may cover the names below it and an address block the addresses inside it. The
//! canonical forms are `detente-observable`'s (`docs/observables.md`); the options are
//! documented in `docs/detection.md` ("What a match means").

use detente_observable::{Ip, Kind, Observable, mask4, mask6};

use crate::ast::ObjectPath;
use crate::observable::literal;

/// How `=`, `!=` and `IN` compare string literals on the observable paths
/// (`ipv4-addr:value`, `ipv6-addr:value`, `domain-name:value`, `url:value`,
/// `email-addr:value`, `file:hashes.MD5/SHA-1/SHA-256/SHA-512`). The default is strict STIX.
/// A literal that is no value of its path's kind (`'localhost'`) compares exactly whatever
/// the options; other operators (`LIKE`, `MATCHES`, `<`, `ISSUBSET`, …) are never changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MatchOptions {
    /// Domain names, e-mail addresses and digests compare in canonical form: case-insensitive,
    /// internationalised names as A-labels, a trailing dot dropped.
    pub fold_case: bool,
    /// A domain literal also matches the names below it on a label boundary
    /// (`www.evil.com` = `evil.com`, `notevil.com` ≠); canonical forms, as `fold_case`.
    pub subdomains: bool,
    /// URLs compare in canonical form: scheme, user info, fragment and default port dropped,
    /// host as a domain or address.
    pub url_normalise: bool,
    /// Addresses compare as addresses (any spelling; an IPv4-mapped IPv6 address, literal or
    /// observed, is the IPv4 address and tests `ipv4-addr` objects), and a block literal
    /// (`10.0.0.0/8`) matches every address and block inside it.
    pub cidr: bool,
}

impl MatchOptions {
    /// Strict STIX Patterning: the reference's string equality.
    pub const STRICT: MatchOptions = MatchOptions {
        fold_case: false,
        subdomains: false,
        url_normalise: false,
        cidr: false,
    };

    /// What a match means for a log record in `detente scan`: every canonical comparison on,
    /// subdomains as the scan's `--exact-domains` says.
    pub const fn scanner(subdomains: bool) -> MatchOptions {
        MatchOptions {
            fold_case: true,
            subdomains,
            url_normalise: true,
            cidr: true,
        }
    }

    /// `path = 'v'` as a canonical test under these options; `None` when it stays a string
    /// comparison (the options do not touch the path, or `v` is no value of its kind).
    pub(crate) fn canonical(&self, path: &ObjectPath, v: &str) -> Option<Canonical> {
        // Strict STIX reads no literal: compiling and evaluating cost what they did before.
        if *self == MatchOptions::STRICT {
            return None;
        }
        let value = literal(path, v).ok()?;
        // The value's kind, not the path's: a mapped IPv6 literal is an IPv4 address, which
        // logs and SCOs hold as `ipv4-addr`.
        let kind = value.kind();
        let on = match kind {
            Kind::Ipv4 | Kind::Ipv6 => self.cidr,
            Kind::Domain => self.fold_case || self.subdomains,
            Kind::Email | Kind::Hash(_) => self.fold_case,
            Kind::Url => self.url_normalise,
        };
        let object_type = match kind {
            Kind::Ipv4 => "ipv4-addr",
            _ => path.object_type.as_str(),
        };
        on.then(|| Canonical {
            object_type: object_type.to_string(),
            kind,
            subdomains: self.subdomains && kind == Kind::Domain,
            value,
        })
    }
}

/// An equality test in canonical form: which objects it looks at, and the value it wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Canonical {
    /// The object type tested (the path's, or `ipv4-addr` for a mapped IPv6 literal).
    pub object_type: String,
    /// The kind observed values are read as.
    pub kind: Kind,
    /// Whether names below a domain literal match too.
    pub subdomains: bool,
    /// The literal's canonical value.
    pub value: Observable,
}

impl Canonical {
    /// Whether the observed string is this value (or, per the options, inside it).
    pub fn matches(&self, observed: &str) -> bool {
        let Some(o) = read(self.kind, observed) else {
            return false;
        };
        match (&self.value, &o) {
            (Observable::Net(net, len), Observable::Net(ip, olen)) => {
                contains(*net, *len, *ip, *olen)
            }
            (Observable::Domain(d), Observable::Domain(od)) => {
                od == d || (self.subdomains && below(od, d))
            }
            _ => o == self.value,
        }
    }
}

/// `observed` read as `kind` (an IPv6 address that maps an IPv4 one reads as that).
pub(crate) fn read(kind: Kind, observed: &str) -> Option<Observable> {
    match kind {
        // Either spelling of an address: the object type already said which family.
        Kind::Ipv4 | Kind::Ipv6 => Observable::parse_as(Kind::Ipv4, observed)
            .or_else(|| Observable::parse_as(Kind::Ipv6, observed)),
        k => Observable::parse_as(k, observed),
    }
}

/// Whether the block `ip/olen` lies inside `net/len`.
pub(crate) fn contains(net: Ip, len: u8, ip: Ip, olen: u8) -> bool {
    olen >= len
        && match (net, ip) {
            (Ip::V4(n), Ip::V4(a)) => mask4(a, len) == n,
            (Ip::V6(n), Ip::V6(a)) => mask6(a, len) == n,
            _ => false,
        }
}

/// Whether the canonical name `name` lies strictly below `domain` on a label boundary.
pub(crate) fn below(name: &str, domain: &str) -> bool {
    name.len() > domain.len()
        && name.ends_with(domain)
        && name.as_bytes()[name.len() - domain.len() - 1] == b'.'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StixVersion, parse};

    fn test(path: &str, lit: &str, opts: MatchOptions) -> Option<Canonical> {
        let p = parse(&format!("[{path} = '{lit}']"), StixVersion::V21).ok()?;
        let t = p.tests()[0].clone();
        opts.canonical(&t.path, lit)
    }

    #[test]
    fn strict_changes_nothing() {
        assert_eq!(
            test("domain-name:value", "evil.com", MatchOptions::STRICT),
            None
        );
        assert_eq!(MatchOptions::default(), MatchOptions::STRICT);
    }

    #[test]
    fn scanner_equality() {
        let o = MatchOptions::scanner(true);
        let cases = [
            ("domain-name:value", "Evil.com", "www.EVIL.com.", true),
            ("domain-name:value", "evil.com", "notevil.com", false),
            ("domain-name:value", "evil.com", "evil.com.au", false),
            (
                "url:value",
                "http://Evil.com/a",
                "HTTPS://evil.com:443/a#x",
                true,
            ),
            ("url:value", "http://evil.com/a", "http://evil.com/A", false),
            ("ipv4-addr:value", "10.0.0.0/8", "10.200.1.1", true),
            ("ipv4-addr:value", "10.0.0.0/8", "11.0.0.1", false),
            ("ipv4-addr:value", "10.0.0.0/8", "10.1.0.0/16", true),
            ("ipv6-addr:value", "2001:db8::/32", "2001:DB8::7", true),
            ("ipv6-addr:value", "::ffff:10.0.0.1", "10.0.0.1", true),
            (
                "file:hashes.MD5",
                "D41D8CD98F00B204E9800998ECF8427E",
                "d41d8cd98f00b204e9800998ecf8427e",
                true,
            ),
            ("email-addr:value", "Bob@Evil.com", "bob@evil.com.", true),
        ];
        for (path, lit, observed, want) in cases {
            let c = test(path, lit, o).unwrap_or_else(|| panic!("{path} {lit}"));
            assert_eq!(c.matches(observed), want, "{path} = '{lit}' on {observed}");
        }
        let exact = test(
            "domain-name:value",
            "evil.com",
            MatchOptions::scanner(false),
        );
        assert!(!exact.is_some_and(|c| c.matches("www.evil.com")));
        // Not a value of the kind: the string comparison stays.
        assert_eq!(test("domain-name:value", "localhost", o), None);
        assert_eq!(test("file:name", "x.exe", o), None);
        let mapped = test("ipv6-addr:value", "::ffff:10.0.0.1", o);
        assert_eq!(mapped.map(|c| c.object_type), Some("ipv4-addr".into()));
    }
}
