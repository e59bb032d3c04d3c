//! IPv4 and IPv6 addresses and CIDR blocks: allocation-free parsers, masks, canonical text.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An IP address as a big-endian integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ip {
    /// IPv4.
    V4(u32),
    /// IPv6 (never an IPv4-mapped address when built by this crate's parsers).
    V6(u128),
}

/// `::ffff:0:0/96`, the IPv4-mapped IPv6 prefix.
const MAPPED: u128 = 0xffff_0000_0000;

impl Ip {
    /// An IPv6 address, or the IPv4 address it maps (`::ffff:a.b.c.d` is that IPv4 host).
    pub fn from_v6(v: u128) -> Ip {
        if v >> 32 == MAPPED >> 32 {
            Ip::V4(v as u32)
        } else {
            Ip::V6(v)
        }
    }

    /// The prefix length of a single address: 32 or 128.
    pub fn width(self) -> u8 {
        match self {
            Ip::V4(_) => 32,
            Ip::V6(_) => 128,
        }
    }
}

/// RFC 5952 text for IPv6, dotted quad for IPv4.
impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ip::V4(a) => Ipv4Addr::from(*a).fmt(f),
            Ip::V6(a) => Ipv6Addr::from(*a).fmt(f),
        }
    }
}

/// Parses a dotted-quad IPv4 address occupying all of `s`.
#[inline]
pub fn parse_ipv4(s: &[u8]) -> Option<u32> {
    let (v, n) = parse_ipv4_prefix(s)?;
    (n == s.len()).then_some(v)
}

/// Parses a dotted-quad IPv4 address at the start of `s`; returns it and the bytes consumed.
// Always inlined: called, its result went back through memory (the scanner parses every
// address of its logs here).
#[inline(always)]
pub fn parse_ipv4_prefix(s: &[u8]) -> Option<(u32, usize)> {
    // An address is at most 15 bytes and the two after it decide where it ends: a zero-padded
    // copy of 17 bytes lets every read go without an `Option` (0 is neither a digit nor a dot,
    // as no byte at all is neither), about half the instructions of reading `s` itself.
    let mut b = [0u8; 17];
    let n = s.len();
    match s.first_chunk::<17>() {
        Some(head) => b = *head,
        // Two overlapping fixed-size copies instead of a `memcpy` call of variable length
        // (about a tenth of the parser's instructions).
        None if n >= 8 => {
            b[..8].copy_from_slice(&s[..8]);
            b[n - 8..n].copy_from_slice(&s[n - 8..]);
        }
        None if n >= 4 => {
            b[..4].copy_from_slice(&s[..4]);
            b[n - 4..n].copy_from_slice(&s[n - 4..]);
        }
        None => b[..n].copy_from_slice(s),
    }
    // Digit value of the byte at `i`, or a value above 9.
    let digit = |i: usize| b[i].wrapping_sub(b'0');
    let mut out: u32 = 0;
    let mut i = 0;
    for part in 0..4 {
        if part > 0 {
            if b[i] != b'.' {
                return None;
            }
            i += 1;
        }
        // One to three digits; no leading zeros ("01") so that octal-looking forms are not
        // silently read as decimal.
        let (d0, d1, d2) = (digit(i), digit(i + 1), digit(i + 2));
        let v = if d0 > 9 {
            return None;
        } else if d1 > 9 {
            i += 1;
            u32::from(d0)
        } else if d0 == 0 {
            return None;
        } else if d2 > 9 {
            i += 2;
            u32::from(d0) * 10 + u32::from(d1)
        } else {
            i += 3;
            u32::from(d0) * 100 + u32::from(d1) * 10 + u32::from(d2)
        };
        if v > 255 {
            return None;
        }
        out = (out << 8) | v;
    }
    // "1.2.3.4.5" or "1.2.3.45x" are not addresses.
    let c = b[i];
    if c.is_ascii_alphanumeric() || (c == b'.' && b[i + 1].is_ascii_digit()) {
        return None;
    }
    Some((out, i))
}

/// Parses an IPv6 address occupying all of `s` (brackets and a zone index are not accepted).
/// The raw value: an IPv4-mapped address is not folded here (see [`Ip::from_v6`]).
pub fn parse_ipv6(s: &[u8]) -> Option<u128> {
    if s.len() < 2 || s.len() > 45 || !s.contains(&b':') {
        return None;
    }
    if !s
        .iter()
        .all(|c| c.is_ascii_hexdigit() || *c == b':' || *c == b'.')
    {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    text.parse::<Ipv6Addr>().ok().map(u128::from)
}

/// Parses an IPv4 or IPv6 address occupying all of `s`; IPv4-mapped IPv6 becomes IPv4.
#[inline]
pub fn parse_ip(s: &[u8]) -> Option<Ip> {
    if let Some(v) = parse_ipv4(s) {
        return Some(Ip::V4(v));
    }
    parse_ipv6(s).map(Ip::from_v6)
}

/// Parses `addr/len` (or a bare address as a host prefix); the address is masked to the prefix.
/// An IPv4-mapped IPv6 block of at least 96 bits is the IPv4 block it maps.
pub fn parse_cidr(s: &[u8]) -> Option<(Ip, u8)> {
    let Some(slash) = memchr::memchr(b'/', s) else {
        return parse_ip(s).map(|ip| (ip, ip.width()));
    };
    let len_txt = &s[slash + 1..];
    if len_txt.is_empty() || len_txt.len() > 3 || !len_txt.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len: u32 = std::str::from_utf8(len_txt).ok()?.parse().ok()?;
    let addr = &s[..slash];
    if let Some(v) = parse_ipv4(addr) {
        return (len <= 32).then(|| (Ip::V4(mask4(v, len as u8)), len as u8));
    }
    let v = parse_ipv6(addr)?;
    if len > 128 {
        return None;
    }
    let len = len as u8;
    Some(match Ip::from_v6(v) {
        Ip::V4(a) if len >= 96 => (Ip::V4(mask4(a, len - 96)), len - 96),
        _ => (Ip::V6(mask6(v, len)), len),
    })
}

/// Keeps the top `len` bits of an IPv4 address.
#[inline]
pub fn mask4(v: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        v & (u32::MAX << (32 - u32::from(len.min(32))))
    }
}

/// Keeps the top `len` bits of an IPv6 address.
pub fn mask6(v: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        v & (u128::MAX << (128 - u32::from(len.min(128))))
    }
}

/// Whether two blocks share an address: the shorter one contains the other's network.
pub fn overlap(a: Ip, alen: u8, b: Ip, blen: u8) -> bool {
    let len = alen.min(blen);
    match (a, b) {
        (Ip::V4(x), Ip::V4(y)) => mask4(x, len) == mask4(y, len),
        (Ip::V6(x), Ip::V6(y)) => mask6(x, len) == mask6(y, len),
        _ => false,
    }
}

/// The canonical text of a block: the address alone for a single address, else `addr/len`.
pub fn cidr_text(ip: Ip, len: u8) -> String {
    if len == ip.width() {
        ip.to_string()
    } else {
        format!("{ip}/{len}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_strict() {
        assert_eq!(parse_ipv4(b"1.2.3.4"), Some(0x01020304));
        assert_eq!(parse_ipv4(b"255.255.255.255"), Some(u32::MAX));
        for bad in [
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3.4a",
            "",
            "1..2.3",
        ] {
            assert_eq!(parse_ipv4(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(parse_ipv4_prefix(b"1.2.3.4:80"), Some((0x01020304, 7)));
    }

    #[test]
    fn cidr_masks() {
        assert_eq!(parse_cidr(b"10.1.2.3/8"), Some((Ip::V4(0x0a000000), 8)));
        assert_eq!(parse_cidr(b"10.1.2.3/33"), None);
        assert_eq!(parse_cidr(b"2001:db8::1/32").map(|c| c.1), Some(32));
        assert_eq!(parse_cidr(b"2001:db8::1/129"), None);
        assert_eq!(parse_cidr(b"1.2.3.4"), Some((Ip::V4(0x01020304), 32)));
        assert_eq!(cidr_text(Ip::V4(0x0a000000), 8), "10.0.0.0/8");
        assert_eq!(cidr_text(Ip::V4(0x01020304), 32), "1.2.3.4");
    }

    #[test]
    fn mapped_ipv6_is_the_ipv4_host() {
        let v4 = Some(Ip::V4(0xc0000201));
        assert_eq!(parse_ip(b"::ffff:192.0.2.1"), v4);
        assert_eq!(parse_ip(b"::FFFF:c000:201"), v4);
        assert_eq!(
            parse_cidr(b"::ffff:192.0.2.1/128"),
            Some((Ip::V4(0xc0000201), 32))
        );
        assert_eq!(
            parse_cidr(b"::ffff:192.0.2.0/120"),
            Some((Ip::V4(0xc0000200), 24))
        );
        // A block wider than the mapped range stays IPv6.
        assert!(matches!(
            parse_cidr(b"::ffff:0:0/80"),
            Some((Ip::V6(_), 80))
        ));
        // IPv4-compatible (deprecated) and NAT64 addresses are other hosts.
        assert!(matches!(parse_ip(b"::192.0.2.1"), Some(Ip::V6(_))));
        assert!(matches!(parse_ip(b"64:ff9b::192.0.2.1"), Some(Ip::V6(_))));
        assert_eq!(Ip::from_v6(1).to_string(), "::1");
    }

    #[test]
    fn overlaps() {
        let net = |s: &str| parse_cidr(s.as_bytes()).unwrap();
        let (a, al) = net("10.0.0.0/8");
        let (b, bl) = net("10.1.2.3");
        assert!(overlap(a, al, b, bl) && overlap(b, bl, a, al));
        let (c, cl) = net("11.0.0.0/8");
        assert!(!overlap(a, al, c, cl));
        let (d, dl) = net("::a00:0/104");
        assert!(!overlap(a, al, d, dl));
    }

    /// The parser before the zero-padded copy, reading `s` through `get`: the reference the
    /// fast one must agree with on every input.
    fn parse_ipv4_prefix_reference(s: &[u8]) -> Option<(u32, usize)> {
        let digit = |i: usize| s.get(i).map_or(u8::MAX, |c| c.wrapping_sub(b'0'));
        let mut out: u32 = 0;
        let mut i = 0;
        for part in 0..4 {
            if part > 0 {
                if s.get(i) != Some(&b'.') {
                    return None;
                }
                i += 1;
            }
            let (d0, d1, d2) = (digit(i), digit(i + 1), digit(i + 2));
            let v = if d0 > 9 {
                return None;
            } else if d1 > 9 {
                i += 1;
                u32::from(d0)
            } else if d0 == 0 {
                return None;
            } else if d2 > 9 {
                i += 2;
                u32::from(d0) * 10 + u32::from(d1)
            } else {
                i += 3;
                u32::from(d0) * 100 + u32::from(d1) * 10 + u32::from(d2)
            };
            if v > 255 {
                return None;
            }
            out = (out << 8) | v;
        }
        if let Some(&c) = s.get(i)
            && (c.is_ascii_alphanumeric()
                || (c == b'.' && s.get(i + 1).is_some_and(u8::is_ascii_digit)))
        {
            return None;
        }
        Some((out, i))
    }

    proptest::proptest! {
        #[test]
        fn ipv4_prefix_agrees_with_reference(
            s in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => proptest::sample::select(b"0123456789.".to_vec()),
                    1 => proptest::sample::select(b"\0:/ax\xff".to_vec()),
                ],
                0..24,
            )
        ) {
            proptest::prop_assert_eq!(parse_ipv4_prefix(&s), parse_ipv4_prefix_reference(&s));
        }

        #[test]
        fn ipv4_prefix_agrees_with_std(s in "[0-9.]{1,18}[:a.x]?[0-9]{0,2}") {
            // The reference: four dot-separated decimal octets without leading zeros, not
            // followed by an alphanumeric or by `.digit`.
            let want = (1..=s.len()).rev().find_map(|n| {
                let head = &s[..n];
                let ok = head.split('.').count() == 4
                    && head.split('.').all(|p| !p.is_empty() && p.len() <= 3 && (p == "0" || !p.starts_with('0')));
                let ip: Ipv4Addr = head.parse().ok().filter(|_| ok)?;
                let rest = &s.as_bytes()[n..];
                let bad = rest.first().is_some_and(|c| c.is_ascii_alphanumeric())
                    || (rest.first() == Some(&b'.') && rest.get(1).is_some_and(u8::is_ascii_digit));
                (!bad).then_some((u32::from(ip), n))
            });
            proptest::prop_assert_eq!(parse_ipv4_prefix(s.as_bytes()), want);
        }

        #[test]
        fn ipv4_roundtrip(v: u32) {
            let s = Ipv4Addr::from(v).to_string();
            proptest::prop_assert_eq!(parse_ipv4(s.as_bytes()), Some(v));
        }
    }
}
