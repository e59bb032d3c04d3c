//! URLs, canonical without scheme, user info, default port and fragment.

use crate::domain::{HOST_BYTE, MAX_DOMAIN, normalize_domain};
use crate::ip::{Ip, parse_ipv6};

/// Longest canonical URL we accept; longer observed URLs cannot equal an indicator we hold.
pub const MAX_URL: usize = 4096;

/// A URL split into the parts the matcher uses.
#[derive(Debug, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// The host as written (no user info, no port, no brackets).
    pub host: &'a [u8],
    /// Canonical form: host, non-default port, path (at least `/`) and query; see
    /// [`normalize_url`].
    pub normalized: &'a [u8],
}

/// How the host of a URL is written in its canonical form.
enum Host<'a> {
    /// An ASCII name or IPv4 address: lower-cased, one trailing dot dropped.
    Ascii(&'a [u8]),
    /// An IPv6 address (RFC 5952, in brackets) or the IPv4 address it maps.
    Ip(Ip),
    /// An internationalised name: its A-labels, this long, in the caller's buffer.
    Idn(usize),
}

/// Canonicalises a URL with or without scheme into `buf` (see [`UrlParts::normalized`]).
///
/// The canonical form drops the scheme (Zeek's Intel framework keys URLs without it, feeds keep
/// it: dropping it makes both meet), the user info, the port when it is the scheme's default
/// (`https`, `wss`: 443; `ftp`: 21) or 80 (the default of `http`, `ws` and of a URL without
/// scheme, which the canonical form itself is) and the fragment (a client never sends it). It lower-cases the host (IPv6 in
/// RFC 5952 form, IPv4-mapped IPv6 as IPv4, internationalised names as A-labels) and keeps the
/// path and query byte for byte, `/` when empty.
pub fn normalize_url<'a>(s: &'a [u8], buf: &'a mut [u8; MAX_URL]) -> Option<UrlParts<'a>> {
    let (scheme, rest) = match find_scheme_sep(s) {
        Some(0) => return None,
        Some(p) => (Some(&s[..p]), &s[p + 3..]),
        None => (None, s),
    };
    // Byte loops rather than `memchr` on the authority: it is a few bytes long, where a call's
    // setup costs more than the search.
    let auth_end = rest
        .iter()
        .position(|c| matches!(c, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let (authority, path) = rest.split_at(auth_end);
    let path = match memchr::memchr(b'#', path) {
        Some(p) => &path[..p],
        None => path,
    };
    // RFC 3986 has no white space or control characters in a URL: such a value is text. A fold,
    // not `any`: without the early exit it vectorises, and paths are short and clean.
    if path
        .iter()
        .fold(false, |bad, c| bad | (*c <= b' ') | (*c == 0x7f))
    {
        return None;
    }
    let hostport = match authority.iter().rposition(|c| *c == b'@') {
        Some(p) => &authority[p + 1..],
        None => authority,
    };
    let (host, port, bracketed) = if let Some(inner) = hostport.strip_prefix(b"[") {
        let close = memchr::memchr(b']', inner)?;
        let after = &inner[close + 1..];
        let port = match after.strip_prefix(b":") {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return None,
        };
        (&inner[..close], port, true)
    } else {
        match hostport.iter().rposition(|c| *c == b':') {
            // Two colons or more: an IPv6 address written without brackets, and no port.
            Some(p) if memchr::memchr(b':', &hostport[..p]).is_some() => (hostport, None, false),
            Some(p) => (&hostport[..p], Some(&hostport[p + 1..]), false),
            None => (hostport, None, false),
        }
    };
    if host.is_empty() {
        return None;
    }
    let mut idn = [0u8; MAX_DOMAIN];
    let host_form = if !bracketed
        && host
            .iter()
            .fold(true, |ok, c| ok & HOST_BYTE[usize::from(*c)])
    {
        let h = host.strip_suffix(b".").unwrap_or(host);
        // `.` or `a..` as a host would leave no host, or one that reads differently again.
        if h.is_empty() || h.ends_with(b".") {
            return None;
        }
        Host::Ascii(h)
    } else if host.contains(&b':') {
        Host::Ip(Ip::from_v6(parse_ipv6(host)?))
    } else if bracketed || host.is_ascii() {
        return None;
    } else {
        Host::Idn(normalize_domain(host, &mut idn)?.len())
    };
    let port = match port {
        Some(p) if p.is_empty() || p.len() > 5 || !p.iter().all(u8::is_ascii_digit) => {
            return None;
        }
        Some(p) => Some(p.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))),
        None => None,
    };
    if port.is_some_and(|p| p > 65535) {
        return None;
    }
    // The canonical form has no scheme, so it reads as `http`: `:80` is dropped whatever the
    // scheme was (scheme-insensitive), or the form would read back as another URL.
    let port = port.filter(|p| *p != 80 && Some(*p) != default_port(scheme));
    let ip_text = match host_form {
        Host::Ip(ip) => ip.to_string(),
        _ => String::new(),
    };
    let host_out: &[u8] = match &host_form {
        Host::Ascii(h) => h,
        Host::Ip(_) => ip_text.as_bytes(),
        Host::Idn(n) => &idn[..*n],
    };
    let brackets = matches!(host_form, Host::Ip(Ip::V6(_)));
    let mut port_txt = [0u8; 6];
    let port_txt: &[u8] = match port {
        Some(p) => {
            let digits = p.to_string();
            port_txt[0] = b':';
            port_txt[1..=digits.len()].copy_from_slice(digits.as_bytes());
            &port_txt[..=digits.len()]
        }
        None => b"",
    };
    // A path not starting with `/` (empty, or `?query`) gets one.
    let slash = path.first() != Some(&b'/');
    let need = host_out.len()
        + 2 * usize::from(brackets)
        + port_txt.len()
        + usize::from(slash)
        + path.len();
    if need > MAX_URL {
        return None;
    }
    let mut n = 0;
    let mut put = |bytes: &[u8], buf: &mut [u8; MAX_URL]| {
        buf[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
        n - bytes.len()..n
    };
    if brackets {
        put(b"[", buf);
    }
    let h = put(host_out, buf);
    buf[h].make_ascii_lowercase();
    if brackets {
        put(b"]", buf);
    }
    put(port_txt, buf);
    if slash {
        put(b"/", buf);
    }
    put(path, buf);
    Some(UrlParts {
        host,
        normalized: &buf[..n],
    })
}

/// [`normalize_url`] without writing anything, for a URL whose canonical form is part of it
/// already: after the scheme (if any), a host of lower-case letters, digits, `-`, `_` and `.`
/// (not ending in `.`), then a path starting with `/` that needs no checks beyond the
/// canonicalisation's own (no white space or control byte before a fragment). Most URLs in
/// logs are so written; they skip the copy into a 4 KiB buffer. `None` for any other value,
/// which [`normalize_url`] reads (or refuses) as before.
#[inline]
pub fn plain_url(s: &[u8]) -> Option<UrlParts<'_>> {
    let rest = match find_scheme_sep(s) {
        Some(0) => return None,
        Some(p) => &s[p + 3..],
        None => s,
    };
    let host = plain_host(rest)?;
    let path = &rest[host.len()..];
    // One fold, not `any` and a `memchr` call (whose setup costs more than a short path), finds
    // both a `#` (rare: the path then ends there and is looked at again) and the bytes no URL
    // holds.
    let seen = path.iter().fold(0u8, |f, c| f | URL_CLASS[usize::from(*c)]);
    let (path, bad) = if seen & FRAGMENT == 0 {
        (path, seen & NO_URL != 0)
    } else {
        let path = &path[..path.iter().position(|c| *c == b'#').unwrap_or(path.len())];
        let seen = path.iter().fold(0u8, |f, c| f | URL_CLASS[usize::from(*c)]);
        (path, seen & NO_URL != 0)
    };
    if bad || path.first() != Some(&b'/') || host.len() + path.len() > MAX_URL {
        return None;
    }
    Some(UrlParts {
        host,
        normalized: &rest[..host.len() + path.len()],
    })
}

/// The host at the start of `s` (a URL without its scheme), when it is written as
/// [`normalize_url`] would write it: the bytes before the first `/`, `?` or `#`, all lower-case
/// letters, digits, `-`, `_` or `.`, not empty and not ending in `.` (so no user info, port or
/// brackets). `None` otherwise.
#[inline]
pub fn plain_host(s: &[u8]) -> Option<&[u8]> {
    // One pass and one table load per byte finds the host's end and checks its bytes.
    let mut end = s.len();
    let mut seen = 0;
    for (i, c) in s.iter().enumerate() {
        let class = URL_CLASS[usize::from(*c)];
        if class & HOST_END != 0 {
            end = i;
            break;
        }
        seen |= class;
    }
    let host = &s[..end];
    (seen & NOT_PLAIN == 0 && !host.is_empty() && host.last() != Some(&b'.')).then_some(host)
}

/// [`URL_CLASS`]: not a byte of a plain host (a lower-case letter, a digit, `-`, `_` or `.`).
const NOT_PLAIN: u8 = 1;
/// [`URL_CLASS`]: `/`, `?` or `#`, which end a host.
const HOST_END: u8 = 2;
/// [`URL_CLASS`]: `#`.
const FRAGMENT: u8 = 4;
/// [`URL_CLASS`]: white space, a control byte or DEL, which no URL holds.
const NO_URL: u8 = 8;

/// What [`plain_host`] and [`plain_url`] ask of a byte, as a table.
static URL_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let plain =
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.';
        t[c] = if plain { 0 } else { NOT_PLAIN };
        if b == b'/' || b == b'?' || b == b'#' {
            t[c] |= HOST_END;
        }
        if b == b'#' {
            t[c] |= FRAGMENT;
        }
        if b <= b' ' || b == 0x7f {
            t[c] |= NO_URL;
        }
        c += 1;
    }
    t
};

/// The default port of a scheme (compared without regard to case), as in the WHATWG URL
/// standard's special schemes; a URL without scheme is taken as `http`.
fn default_port(scheme: Option<&[u8]>) -> Option<u32> {
    let Some(s) = scheme else { return Some(80) };
    let is = |name: &[u8]| s.eq_ignore_ascii_case(name);
    if is(b"http") || is(b"ws") {
        Some(80)
    } else if is(b"https") || is(b"wss") {
        Some(443)
    } else if is(b"ftp") {
        Some(21)
    } else {
        None
    }
}

/// Whether a byte may be part of a scheme (letters, digits, `+-.`), as a table: one load per
/// byte where the tests took about ten instructions.
static SCHEME_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.';
        c += 1;
    }
    t
};

/// Position of the `://` after the leading run of scheme bytes (letters, digits, `+-.`), if
/// one follows it: a `://` later on (`?u=http://…` in a query) does not make a scheme.
#[inline]
fn find_scheme_sep(s: &[u8]) -> Option<usize> {
    let p = s.iter().position(|c| !SCHEME_BYTE[usize::from(*c)])?;
    s[p..].starts_with(b"://").then_some(p)
}

/// Whether `s` starts like a URL with a scheme (`x://`).
#[inline]
pub fn has_scheme(s: &[u8]) -> bool {
    find_scheme_sep(s).is_some_and(|p| p > 0 && s[..p].iter().all(u8::is_ascii_alphabetic))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn plain_url_agrees_with_normalize_url(
            s in "([a-zA-Z0-9+.-]{0,6}://)?[a-zA-Z0-9._@:\\[\\]-]{0,12}([/?#][ -~\t\x7f]{0,16})?"
        ) {
            let mut buf = [0u8; MAX_URL];
            let full = normalize_url(s.as_bytes(), &mut buf);
            if let Some(p) = plain_url(s.as_bytes()) {
                proptest::prop_assert_eq!(Some(p), full);
            }
        }

        #[test]
        fn plain_url_takes_plain_urls(
            scheme in "(https?://)?",
            host in "[a-z0-9_-]{1,8}(\\.[a-z0-9_-]{1,8}){0,3}",
            path in "/[!-~]{0,16}",
        ) {
            let s = format!("{scheme}{host}{path}");
            let mut buf = [0u8; MAX_URL];
            let full = normalize_url(s.as_bytes(), &mut buf);
            proptest::prop_assert_eq!(plain_url(s.as_bytes()), full);
        }
    }

    #[test]
    fn scheme_bytes() {
        for c in 0..=255u8 {
            let want = c.is_ascii_alphanumeric() || b"+-.".contains(&c);
            assert_eq!(SCHEME_BYTE[usize::from(c)], want, "{c}");
        }
    }

    fn url(s: &str) -> Option<String> {
        let mut buf = [0u8; MAX_URL];
        normalize_url(s.as_bytes(), &mut buf)
            .map(|p| String::from_utf8_lossy(p.normalized).into_owned())
    }

    #[test]
    fn urls() {
        assert_eq!(
            url("HTTP://Evil.COM:80/a?b").as_deref(),
            Some("evil.com/a?b")
        );
        assert_eq!(url("https://evil.com:443").as_deref(), Some("evil.com/"));
        assert_eq!(
            url("https://evil.com:8443/x").as_deref(),
            Some("evil.com:8443/x")
        );
        assert_eq!(url("evil.com/x").as_deref(), Some("evil.com/x"));
        assert_eq!(url("evil.com.:8080").as_deref(), Some("evil.com:8080/"));
        assert_eq!(
            url("http://user:pw@evil.com/x").as_deref(),
            Some("evil.com/x")
        );
        assert_eq!(url("http://ev il.com/"), None);
        assert_eq!(url("http://evil.com:/"), None);
        assert_eq!(url("http://evil.com:65536/"), None);
        assert_eq!(url("http://evil.com:0080/").as_deref(), Some("evil.com/"));
        assert_eq!(url("://evil.com/"), None);
        assert_eq!(url("http://evil.com/a b"), None);
        assert_eq!(url("http://./"), None);
        assert_eq!(url("http://a../"), None);
        // Only a scheme at the start counts: `://` in a query is data.
        assert_eq!(
            url("evil.com/r?u=http://x.example/").as_deref(),
            Some("evil.com/r?u=http://x.example/")
        );
        assert_eq!(url("a b://evil.com/"), None);
        // Exactly at the limit once the `/` before a query is counted: rejected, no panic.
        let long = format!("a.com?{}", "q".repeat(MAX_URL - 6));
        assert_eq!(url(&long), None);
        let fits = format!("a.com?{}", "q".repeat(MAX_URL - 7));
        assert_eq!(url(&fits).map(|u| u.len()), Some(MAX_URL));
    }

    #[test]
    fn fragments_are_dropped() {
        assert_eq!(url("http://evil.com/a#x").as_deref(), Some("evil.com/a"));
        assert_eq!(url("http://evil.com#x").as_deref(), Some("evil.com/"));
        assert_eq!(
            url("http://evil.com/?q=1#x#y").as_deref(),
            Some("evil.com/?q=1")
        );
    }

    #[test]
    fn default_ports_and_80_are_dropped() {
        for (u, want) in [
            ("wss://evil.com:443/", "evil.com/"),
            ("ws://evil.com:80/", "evil.com/"),
            ("FTP://evil.com:21/", "evil.com/"),
            ("evil.com:80/", "evil.com/"),
            ("https://evil.com:80/", "evil.com/"),
            ("tcp://evil.com:80/", "evil.com/"),
            ("tcp://evil.com:443/", "evil.com:443/"),
            ("http://evil.com:443/", "evil.com:443/"),
            ("gopher://evil.com:70/", "evil.com:70/"),
        ] {
            assert_eq!(url(u).as_deref(), Some(want), "{u}");
        }
    }

    #[test]
    fn ip_and_internationalised_hosts() {
        assert_eq!(
            url("http://[2001:DB8:0:0::1]:8080/").as_deref(),
            Some("[2001:db8::1]:8080/")
        );
        assert_eq!(
            url("http://2001:db8::1/x").as_deref(),
            Some("[2001:db8::1]/x")
        );
        assert_eq!(
            url("http://[::ffff:192.0.2.1]/x").as_deref(),
            Some("192.0.2.1/x")
        );
        assert_eq!(url("http://[evil.com]/"), None);
        assert_eq!(url("http://a:b:80/"), None);
        assert_eq!(
            url("https://Bücher.example/Straße").as_deref(),
            Some("xn--bcher-kva.example/Straße")
        );
        let mut buf = [0u8; MAX_URL];
        let parts = normalize_url("https://Bücher.example/".as_bytes(), &mut buf).unwrap();
        assert_eq!(parts.host, "Bücher.example".as_bytes());
    }
}
