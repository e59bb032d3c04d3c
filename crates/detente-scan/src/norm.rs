//! Allocation-free recognisers and normalisers for the value types the matcher knows.

use std::net::Ipv6Addr;

/// Longest domain name we accept (RFC 1035 presentation form without the trailing dot).
pub const MAX_DOMAIN: usize = 253;
/// Longest normalised URL we look up; longer observed URLs cannot equal an indicator we hold.
pub const MAX_URL: usize = 4096;

/// Parses a dotted-quad IPv4 address occupying all of `s`.
pub fn parse_ipv4(s: &[u8]) -> Option<u32> {
    let (v, n) = parse_ipv4_prefix(s)?;
    (n == s.len()).then_some(v)
}

/// Parses a dotted-quad IPv4 address at the start of `s`; returns it and the bytes consumed.
pub fn parse_ipv4_prefix(s: &[u8]) -> Option<(u32, usize)> {
    // Digit value of the byte at `i`, or a value above 9.
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
    if let Some(&c) = s.get(i)
        && (c.is_ascii_alphanumeric()
            || (c == b'.' && s.get(i + 1).is_some_and(u8::is_ascii_digit)))
    {
        return None;
    }
    Some((out, i))
}

/// Parses an IPv6 address occupying all of `s` (brackets and a zone index are not accepted).
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

/// An IP address in the matcher's representation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ip {
    /// IPv4 as a big-endian integer.
    V4(u32),
    /// IPv6 as a big-endian integer.
    V6(u128),
}

/// Parses an IPv4 or IPv6 address occupying all of `s`.
pub fn parse_ip(s: &[u8]) -> Option<Ip> {
    if let Some(v) = parse_ipv4(s) {
        return Some(Ip::V4(v));
    }
    parse_ipv6(s).map(Ip::V6)
}

/// Parses `addr/len` (or a bare address as a host prefix); the address is masked to the prefix.
pub fn parse_cidr(s: &[u8]) -> Option<(Ip, u8)> {
    let Some(slash) = memchr::memchr(b'/', s) else {
        return parse_ip(s).map(|ip| match ip {
            Ip::V4(_) => (ip, 32),
            Ip::V6(_) => (ip, 128),
        });
    };
    let len_txt = &s[slash + 1..];
    if len_txt.is_empty() || len_txt.len() > 3 || !len_txt.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len: u32 = std::str::from_utf8(len_txt).ok()?.parse().ok()?;
    match parse_ip(&s[..slash])? {
        Ip::V4(v) if len <= 32 => Some((Ip::V4(mask4(v, len as u8)), len as u8)),
        Ip::V6(v) if len <= 128 => Some((Ip::V6(mask6(v, len as u8)), len as u8)),
        _ => None,
    }
}

/// Keeps the top `len` bits of an IPv4 address.
pub fn mask4(v: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        v & (u32::MAX << (32 - u32::from(len)))
    }
}

/// Keeps the top `len` bits of an IPv6 address.
pub fn mask6(v: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        v & (u128::MAX << (128 - u32::from(len)))
    }
}

/// Whether `c` may appear in a host name as seen in logs (letters, digits, `-`, `_`, `.`).
const fn host_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.'
}

/// [`host_byte`] as a table.
static HOST_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = host_byte(c as u8);
        c += 1;
    }
    t
};

/// Lower-cases a domain name into `buf`, dropping one trailing dot; `None` unless it looks like a
/// DNS name with at least two labels whose last label is not all digits.
pub fn normalize_domain<'b>(s: &[u8], buf: &'b mut [u8; MAX_DOMAIN]) -> Option<&'b [u8]> {
    let s = s.strip_suffix(b".").unwrap_or(s);
    if s.len() < 3 || s.len() > MAX_DOMAIN || s[0] == b'.' || s[0] == b'-' {
        return None;
    }
    // Most log strings that reach here are not names at all: reject those without a dot cheaply.
    let last_dot = memchr::memrchr(b'.', s)?;
    // Branch-free per byte: mispredicted branches on random letters and digits cost more than
    // looking at every byte.
    let mut ok = true;
    let mut prev_dot = false;
    for (o, &c) in buf.iter_mut().zip(s) {
        let dot = c == b'.';
        ok &= HOST_BYTE[usize::from(c)] & !(dot & prev_dot);
        prev_dot = dot;
        *o = c.to_ascii_lowercase();
    }
    if !ok {
        return None;
    }
    let tld = &s[last_dot + 1..];
    if tld.is_empty() || !tld.iter().any(u8::is_ascii_alphabetic) {
        return None;
    }
    Some(&buf[..s.len()])
}

/// Lower-cases an ASCII hex digest into `buf` when `s` is 32, 40 or 64 hex digits.
pub fn normalize_hash<'b>(s: &[u8], buf: &'b mut [u8; 64]) -> Option<&'b [u8]> {
    if !matches!(s.len(), 32 | 40 | 64) {
        return None;
    }
    // Branch-free: digests mix digits and letters at random, so a per-byte branch mispredicts.
    let mut ok = true;
    for (o, &c) in buf.iter_mut().zip(s) {
        let lower = c | 0x20;
        ok &= (c.wrapping_sub(b'0') < 10) | (lower.wrapping_sub(b'a') < 6);
        *o = lower;
    }
    ok.then_some(&buf[..s.len()])
}

/// Splits an e-mail address and lower-cases it into `buf` when `s` has the shape local@domain.
pub fn normalize_email<'b>(s: &[u8], buf: &'b mut [u8; MAX_URL]) -> Option<&'b [u8]> {
    let s = s.strip_prefix(b"mailto:").unwrap_or(s);
    let at = memchr::memchr(b'@', s)?;
    if at == 0 || s.len() > MAX_URL || memchr::memchr(b'@', &s[at + 1..]).is_some() {
        return None;
    }
    let mut dom = [0u8; MAX_DOMAIN];
    normalize_domain(&s[at + 1..], &mut dom)?;
    let ok = s[..at]
        .iter()
        .all(|c| c.is_ascii_graphic() && !b"<>()[],;:\"\\".contains(c));
    if !ok {
        return None;
    }
    for (i, &c) in s.iter().enumerate() {
        buf[i] = c.to_ascii_lowercase();
    }
    Some(&buf[..s.len()])
}

/// A URL split into the parts the matcher uses.
#[derive(Debug, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// The host as written (no userinfo, no port, no brackets).
    pub host: &'a [u8],
    /// Normalised form: lower-case host, non-default port kept, path (at least `/`), no scheme.
    pub normalized: &'a [u8],
}

/// Normalises a URL with or without scheme into `buf` (see [`UrlParts::normalized`]).
///
/// Zeek's Intel framework keys URLs without their scheme, real feeds keep it; dropping the scheme
/// and the default port makes both forms meet.
pub fn normalize_url<'a>(s: &'a [u8], buf: &'a mut [u8; MAX_URL]) -> Option<UrlParts<'a>> {
    let (scheme, rest) = match find_scheme_sep(s) {
        Some(p)
            if p > 0
                && s[..p]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(c)) =>
        {
            (Some(&s[..p]), &s[p + 3..])
        }
        Some(_) => return None,
        None => (None, s),
    };
    let auth_end = memchr::memchr3(b'/', b'?', b'#', rest).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(auth_end);
    let hostport = match memchr::memrchr(b'@', authority) {
        Some(p) => &authority[p + 1..],
        None => authority,
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix(b"[") {
        let close = memchr::memchr(b']', inner)?;
        let after = &inner[close + 1..];
        let port = match after.strip_prefix(b":") {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return None,
        };
        (&inner[..close], port)
    } else {
        match memchr::memrchr(b':', hostport) {
            Some(p) => (&hostport[..p], Some(&hostport[p + 1..])),
            None => (hostport, None),
        }
    };
    if host.is_empty()
        || !host
            .iter()
            .all(|c| HOST_BYTE[usize::from(*c)] || *c == b':')
    {
        return None;
    }
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.iter().all(u8::is_ascii_digit))
    {
        return None;
    }
    let is = |name: &[u8]| scheme.is_some_and(|s| s.eq_ignore_ascii_case(name));
    let default_port: &[u8] = if is(b"https") || is(b"wss") {
        b"443"
    } else if is(b"ftp") {
        b"21"
    } else {
        b"80"
    };
    let bracket = host.contains(&b':');
    // A path not starting with `/` (empty, or `?query`) gets one.
    let path_len = path.len() + usize::from(path.first() != Some(&b'/'));
    let need = host.len() + 2 * usize::from(bracket) + port.map_or(0, |p| p.len() + 1) + path_len;
    if need > MAX_URL {
        return None;
    }
    let mut n = 0;
    let mut put = |bytes: &[u8], buf: &mut [u8; MAX_URL]| {
        buf[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
        n - bytes.len()..n
    };
    if bracket {
        put(b"[", buf);
    }
    let h = put(host.strip_suffix(b".").unwrap_or(host), buf);
    buf[h].make_ascii_lowercase();
    if bracket {
        put(b"]", buf);
    }
    if let Some(p) = port
        && p != default_port
    {
        put(b":", buf);
        put(p, buf);
    }
    if path.first() != Some(&b'/') {
        put(b"/", buf);
    }
    put(path, buf);
    Some(UrlParts {
        host,
        normalized: &buf[..n],
    })
}

/// Position of the first `://` in `s` (a searcher per call costs more than this on short values).
fn find_scheme_sep(s: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b':', s).find(|p| s[p + 1..].starts_with(b"//"))
}

/// Whether `s` starts like a URL with a scheme (`x://`).
pub fn has_scheme(s: &[u8]) -> bool {
    find_scheme_sep(s).is_some_and(|p| p > 0 && s[..p].iter().all(u8::is_ascii_alphabetic))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Option<String> {
        let mut buf = [0u8; MAX_URL];
        normalize_url(s.as_bytes(), &mut buf)
            .map(|p| String::from_utf8(p.normalized.to_vec()).unwrap())
    }

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
        assert_eq!(parse_cidr(b"1.2.3.4"), Some((Ip::V4(0x01020304), 32)));
    }

    #[test]
    fn domains() {
        let mut b = [0u8; MAX_DOMAIN];
        assert_eq!(
            normalize_domain(b"WWW.Evil.COM.", &mut b),
            Some(&b"www.evil.com"[..])
        );
        for bad in [
            "evil", "1.2.3.4", "a..b.com", ".a.com", "a b.com", "x.123", "",
        ] {
            assert_eq!(normalize_domain(bad.as_bytes(), &mut b), None, "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            url("HTTP://Evil.COM:80/a?b").as_deref(),
            Some("evil.com/a?b")
        );
        assert_eq!(url("https://evil.com:443").as_deref(), Some("evil.com/"));
        assert_eq!(
            url("https://evil.com:80/x").as_deref(),
            Some("evil.com:80/x")
        );
        assert_eq!(url("evil.com/x").as_deref(), Some("evil.com/x"));
        assert_eq!(
            url("http://user:pw@evil.com/x").as_deref(),
            Some("evil.com/x")
        );
        assert_eq!(
            url("http://[2001:db8::1]:8080/").as_deref(),
            Some("[2001:db8::1]:8080/")
        );
        assert_eq!(url("http://ev il.com/"), None);
        // Exactly at the limit once the `/` before a query is counted: rejected, no panic.
        let long = format!("a.com?{}", "q".repeat(MAX_URL - 6));
        assert_eq!(url(&long), None);
        let fits = format!("a.com?{}", "q".repeat(MAX_URL - 7));
        assert_eq!(url(&fits).map(|u| u.len()), Some(MAX_URL));
    }

    #[test]
    fn hashes_and_emails() {
        let mut b = [0u8; 64];
        assert_eq!(
            normalize_hash(b"D41D8CD98F00B204E9800998ECF8427E", &mut b).map(<[u8]>::len),
            Some(32)
        );
        assert_eq!(normalize_hash(b"xyz", &mut b), None);
        let mut e = [0u8; MAX_URL];
        assert_eq!(
            normalize_email(b"Bob@Evil.com", &mut e),
            Some(&b"bob@evil.com"[..])
        );
        assert_eq!(normalize_email(b"@evil.com", &mut e), None);
    }

    proptest::proptest! {
        #[test]
        fn ipv4_prefix_agrees_with_std(s in "[0-9.]{1,18}[:a.x]?[0-9]{0,2}") {
            // The reference: four dot-separated decimal octets without leading zeros, not
            // followed by an alphanumeric or by `.digit`.
            let want = (1..=s.len()).rev().find_map(|n| {
                let head = &s[..n];
                let ok = head.split('.').count() == 4
                    && head.split('.').all(|p| !p.is_empty() && p.len() <= 3 && (p == "0" || !p.starts_with('0')));
                let ip: std::net::Ipv4Addr = head.parse().ok().filter(|_| ok)?;
                let rest = &s.as_bytes()[n..];
                let bad = rest.first().is_some_and(|c| c.is_ascii_alphanumeric())
                    || (rest.first() == Some(&b'.') && rest.get(1).is_some_and(u8::is_ascii_digit));
                (!bad).then_some((u32::from(ip), n))
            });
            proptest::prop_assert_eq!(parse_ipv4_prefix(s.as_bytes()), want);
        }

        #[test]
        fn ipv4_roundtrip(v: u32) {
            let s = std::net::Ipv4Addr::from(v).to_string();
            proptest::prop_assert_eq!(parse_ipv4(s.as_bytes()), Some(v));
        }

        #[test]
        fn normalizers_never_panic(s: Vec<u8>) {
            let mut d = [0u8; MAX_DOMAIN];
            let mut u = [0u8; MAX_URL];
            let mut h = [0u8; 64];
            let _ = normalize_domain(&s, &mut d);
            let _ = normalize_url(&s, &mut u);
            let _ = normalize_hash(&s, &mut h);
            let _ = parse_cidr(&s);
            let _ = parse_ipv4_prefix(&s);
        }
    }
}
