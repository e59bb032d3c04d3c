//! Observable values as indicators name them and logs show them: IP addresses and CIDR blocks,
//! domain names, URLs, e-mail addresses and file digests. One parser and one canonical form per
//! kind, shared by the scanner's index (`detente-scan`), PSI's item normalisation
//! (`detente-psi`) and the node. Pure: no I/O, no state kept between calls.
//!
//! Two layers:
//!
//! * allocation-free byte parsers for the scanner's hot path ([`parse_ip`], [`parse_cidr`],
//!   [`normalize_domain`], [`normalize_url`], [`normalize_email`], [`normalize_hash`]), each
//!   writing the canonical form into a caller's fixed buffer;
//! * [`Observable`], the owned canonical value, read by shape ([`Observable::parse`]) or as a
//!   declared kind ([`Observable::parse_as`], e.g. from a STIX object path, [`Kind::of_stix_path`]),
//!   and printed with its kind as prefix (`domain:evil.com`, `ip:10.0.0.0/8`).
//!
//! The canonical forms are documented in `docs/observables.md`.
//!
//! Per-process state: none (constant tables only).

#![forbid(unsafe_code)]

pub mod domain;
pub mod email;
pub mod hash;
pub mod ip;
pub mod url;

use std::borrow::Cow;
use std::fmt;

pub use domain::{MAX_DOMAIN, canonical_domain, normalize_domain};
pub use email::{MAX_EMAIL, normalize_email};
pub use hash::{HashKind, MAX_HASH, normalize_hash};
pub use ip::{
    Ip, cidr_text, mask4, mask6, overlap, parse_cidr, parse_ip, parse_ipv4, parse_ipv4_prefix,
    parse_ipv6,
};
pub use url::{MAX_URL, UrlParts, has_scheme, normalize_url, plain_host, plain_url};

/// A kind of observable, as a source declares it (a STIX object path, a Zeek intel type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An IPv4 address or block, written dotted.
    Ipv4,
    /// An IPv6 address or block (an IPv4-mapped one is the IPv4 address it maps).
    Ipv6,
    /// A domain name.
    Domain,
    /// A URL.
    Url,
    /// An e-mail address.
    Email,
    /// A digest of the given algorithm.
    Hash(HashKind),
}

impl Kind {
    /// The kind a STIX 2.1 object path holds (`ipv4-addr:value`, `ipv6-addr:value`,
    /// `domain-name:value`, `url:value`, `email-addr:value`, `file:hashes.ALGO` with ALGO one of
    /// [`HashKind`]'s names); `None` for any other path.
    pub fn of_stix_path(object_type: &str, keys: &[&str]) -> Option<Kind> {
        Some(match (object_type, keys) {
            ("ipv4-addr", ["value"]) => Kind::Ipv4,
            ("ipv6-addr", ["value"]) => Kind::Ipv6,
            ("domain-name", ["value"]) => Kind::Domain,
            ("url", ["value"]) => Kind::Url,
            ("email-addr", ["value"]) => Kind::Email,
            ("file", ["hashes", algo]) => Kind::Hash(HashKind::from_name(algo)?),
            _ => return None,
        })
    }
}

/// An observable value in canonical form.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Observable {
    /// An address (prefix length = the address's width) or a CIDR block, masked to its prefix.
    Net(Ip, u8),
    /// A domain name: lower-case A-labels, no trailing dot.
    Domain(String),
    /// A URL in [`normalize_url`] form.
    Url(String),
    /// An e-mail address in [`normalize_email`] form.
    Email(String),
    /// A digest as lower-case hex.
    Hash(HashKind, String),
}

impl Observable {
    /// Reads a value by its shape, after trimming ASCII white space, in this order: an address or
    /// CIDR block (a bare IPv6 address may be in brackets), a digest (32, 40, 64 or 128 hex
    /// digits, optionally after `md5:`, `sha1:`, `sha256:` or `sha512:` matching its length), a
    /// domain name, an e-mail address (a value with `@` and no `scheme://`), a URL (with a
    /// scheme, or without one when what precedes the path is an address or a domain name,
    /// optionally with a port). `None` for anything else.
    pub fn parse(s: &str) -> Option<Observable> {
        let b = s.trim_ascii().as_bytes();
        if let Some((ip, len)) = parse_cidr(b) {
            return Some(Observable::Net(ip, len));
        }
        if let Some(inner) = b.strip_prefix(b"[").and_then(|i| i.strip_suffix(b"]"))
            && inner.contains(&b':')
        {
            return parse_ip(inner).map(|ip| Observable::Net(ip, ip.width()));
        }
        if let Some(h) = hash_with_prefix(b) {
            return Some(h);
        }
        let mut d = [0u8; MAX_DOMAIN];
        if let Some(x) = normalize_domain(b, &mut d) {
            return Some(Observable::Domain(text(x)));
        }
        let mut u = [0u8; MAX_URL];
        let scheme = has_scheme(b);
        if let Some(at) = memchr::memchr(b'@', b)
            && !scheme
            && memchr::memchr(b'/', &b[..at]).is_none()
        {
            return normalize_email(b, &mut u).map(|x| Observable::Email(text(x)));
        }
        if !scheme && !starts_with_host(b) {
            return None;
        }
        normalize_url(b, &mut u).map(|p| Observable::Url(text(p.normalized)))
    }

    /// The kind [`Observable::parse_as`] reads this value's [`Observable::text`] as.
    pub fn kind(&self) -> Kind {
        match self {
            Observable::Net(Ip::V4(_), _) => Kind::Ipv4,
            Observable::Net(Ip::V6(_), _) => Kind::Ipv6,
            Observable::Domain(_) => Kind::Domain,
            Observable::Url(_) => Kind::Url,
            Observable::Email(_) => Kind::Email,
            Observable::Hash(k, _) => Kind::Hash(*k),
        }
    }

    /// Reads a value declared to be of `kind` (after trimming ASCII white space); `None` when it is
    /// not one. An IPv4 value must be written dotted; a digest must have its kind's length.
    pub fn parse_as(kind: Kind, s: &str) -> Option<Observable> {
        let b = s.trim_ascii().as_bytes();
        match kind {
            Kind::Ipv4 | Kind::Ipv6 => {
                let (ip, len) = parse_cidr(b)?;
                let dotted = !b.contains(&b':');
                ((kind == Kind::Ipv4) == dotted).then_some(Observable::Net(ip, len))
            }
            Kind::Domain => {
                let mut d = [0u8; MAX_DOMAIN];
                normalize_domain(b, &mut d).map(|x| Observable::Domain(text(x)))
            }
            Kind::Url => {
                // Most indicator URLs are canonical as written: no 4 KiB buffer to zero.
                if let Some(p) = plain_url(b) {
                    return Some(Observable::Url(text(p.normalized)));
                }
                let mut u = [0u8; MAX_URL];
                normalize_url(b, &mut u).map(|p| Observable::Url(text(p.normalized)))
            }
            Kind::Email => {
                let mut e = [0u8; MAX_EMAIL];
                normalize_email(b, &mut e).map(|x| Observable::Email(text(x)))
            }
            Kind::Hash(k) => {
                let mut h = [0u8; MAX_HASH];
                normalize_hash(b, &mut h)
                    .filter(|x| x.len() == k.hex_len())
                    .map(|x| Observable::Hash(k, text(x)))
            }
        }
    }

    /// The kind's name, the prefix of the [`Display`](fmt::Display) form: `ip`, `domain`,
    /// `url`, `email`, or the digest's [`HashKind::name`].
    pub fn prefix(&self) -> &'static str {
        match self {
            Observable::Net(..) => "ip",
            Observable::Domain(_) => "domain",
            Observable::Url(_) => "url",
            Observable::Email(_) => "email",
            Observable::Hash(k, _) => k.name(),
        }
    }

    /// The canonical text without the kind: an address alone or `addr/len` for a block (IPv6
    /// in RFC 5952 form), else the canonical string.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Observable::Net(ip, len) => Cow::Owned(cidr_text(*ip, *len)),
            Observable::Domain(t)
            | Observable::Url(t)
            | Observable::Email(t)
            | Observable::Hash(_, t) => Cow::Borrowed(t),
        }
    }
}

/// `kind:canonical text`, e.g. `domain:xn--bcher-kva.example`, `sha256:…`, `ip:2001:db8::1`.
impl fmt::Display for Observable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.prefix(), self.text())
    }
}

/// Whether a value without scheme starts with a real host (an address, `[IPv6]` or a domain
/// name) before its port, path, query or fragment: only then is it a URL.
fn starts_with_host(b: &[u8]) -> bool {
    if let Some(inner) = b.strip_prefix(b"[") {
        return memchr::memchr(b']', inner).is_some_and(|c| parse_ipv6(&inner[..c]).is_some());
    }
    let end = memchr::memchr3(b'/', b'?', b'#', b).unwrap_or(b.len());
    let host = b[..end].split(|c| *c == b':').next().unwrap_or_default();
    let mut d = [0u8; MAX_DOMAIN];
    parse_ip(host).is_some() || normalize_domain(host, &mut d).is_some()
}

/// A digest, bare or after a `kind:` prefix naming its algorithm.
fn hash_with_prefix(b: &[u8]) -> Option<Observable> {
    let (declared, hex) = match memchr::memchr(b':', b) {
        Some(p) => (
            Some(HashKind::from_name(std::str::from_utf8(&b[..p]).ok()?)?),
            &b[p + 1..],
        ),
        None => (None, b),
    };
    let mut h = [0u8; MAX_HASH];
    let x = normalize_hash(hex, &mut h)?;
    let kind = HashKind::from_hex_len(x.len())?;
    if declared.is_some_and(|d| d != kind) {
        return None;
    }
    Some(Observable::Hash(kind, text(x)))
}

/// The parsers copy their input's bytes or write ASCII: text read from a `&str` stays intact.
/// Checked with `from_utf8` first: its ASCII fast path costs less than the lossy decoder's
/// chunk iterator on the short values the parsers produce (indicator loading calls this once
/// per domain, URL, address or digest).
fn text(b: &[u8]) -> String {
    std::str::from_utf8(b).map_or_else(|_| String::from_utf8_lossy(b).into_owned(), str::to_owned)
}
