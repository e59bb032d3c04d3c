//! Domain names: lower-case A-labels, no trailing dot.

/// Longest domain name we accept (RFC 1035 presentation form without the trailing dot).
pub const MAX_DOMAIN: usize = 253;

/// Whether `c` may appear in a host name as seen in logs (letters, digits, `-`, `_`, `.`).
const fn host_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.'
}

/// [`host_byte`] as a table.
pub(crate) static HOST_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = host_byte(c as u8);
        c += 1;
    }
    t
};

/// [`host_byte`] without upper-case letters: the bytes of a name already in canonical form.
static LOWER_HOST_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = host_byte(c as u8) && !(c as u8).is_ascii_uppercase();
        c += 1;
    }
    t
};

/// `s` itself when [`normalize_domain`] would return it unchanged (an ASCII name in lower case,
/// no trailing dot): most names in logs are so written and need no copy into a buffer. `None`
/// says nothing more: `s` may still normalise (upper case, a trailing dot, non-ASCII) or not.
#[inline]
pub fn canonical_domain(s: &[u8]) -> Option<&[u8]> {
    if s.len() < 3 || s.len() > MAX_DOMAIN || s[0] == b'.' || s[0] == b'-' {
        return None;
    }
    let last_dot = s.iter().rposition(|c| *c == b'.')?;
    // As in `normalize_domain`: branch-free per byte.
    let mut ok = true;
    let mut prev_dot = false;
    for &c in s {
        let dot = c == b'.';
        ok &= LOWER_HOST_BYTE[usize::from(c)] & !(dot & prev_dot);
        prev_dot = dot;
    }
    // A trailing dot leaves an empty last label here (`normalize_domain` would drop it).
    let tld = &s[last_dot + 1..];
    (ok && tld.iter().any(u8::is_ascii_alphabetic)).then_some(s)
}

/// Canonicalises a domain name into `buf`: lower case, one trailing dot dropped, and an
/// internationalised name (any non-ASCII byte) converted to A-labels (`bücher.example` →
/// `xn--bcher-kva.example`, UTS 46 as in the WHATWG URL standard). `None` unless it looks
/// like a DNS name with at least two labels whose last label is not all digits.
#[inline]
pub fn normalize_domain<'b>(s: &[u8], buf: &'b mut [u8; MAX_DOMAIN]) -> Option<&'b [u8]> {
    let s = s.strip_suffix(b".").unwrap_or(s);
    if s.len() < 3 || s[0] == b'.' || s[0] == b'-' {
        return None;
    }
    if s.len() > MAX_DOMAIN {
        // Too long in ASCII; an internationalised name may still have short enough A-labels.
        return idna_domain(s, buf);
    }
    // Most log strings that reach here are not names at all: reject those without a dot cheaply
    // (a byte loop from the end: the last label is short, a `memrchr` call costs more).
    let last_dot = s.iter().rposition(|c| *c == b'.')?;
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
        return idna_domain(s, buf);
    }
    let tld = &s[last_dot + 1..];
    if tld.is_empty() || !tld.iter().any(u8::is_ascii_alphabetic) {
        return None;
    }
    Some(&buf[..s.len()])
}

/// The slow path of [`normalize_domain`]: a name with non-ASCII bytes, through IDNA.
fn idna_domain<'b>(s: &[u8], buf: &'b mut [u8; MAX_DOMAIN]) -> Option<&'b [u8]> {
    // Four bytes per character at most: longer input cannot fit in MAX_DOMAIN characters.
    if s.len() > 4 * MAX_DOMAIN || s.is_ascii() {
        return None;
    }
    let ascii = idna::domain_to_ascii_cow(s, idna::AsciiDenyList::URL).ok()?;
    // What IDNA produced must be a name by the ASCII rules too (and is then already lower
    // case, so this cannot recurse further).
    let ascii = ascii.as_bytes();
    if !ascii.is_ascii() || ascii.len() > MAX_DOMAIN {
        return None;
    }
    let mut out = [0u8; MAX_DOMAIN];
    let n = normalize_domain(ascii, &mut out)?.len();
    buf[..n].copy_from_slice(&out[..n]);
    Some(&buf[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<String> {
        let mut b = [0u8; MAX_DOMAIN];
        normalize_domain(s.as_bytes(), &mut b).map(|x| String::from_utf8_lossy(x).into_owned())
    }

    #[test]
    fn ascii_names() {
        assert_eq!(d("WWW.Evil.COM.").as_deref(), Some("www.evil.com"));
        assert_eq!(
            d("_dmarc.example.org").as_deref(),
            Some("_dmarc.example.org")
        );
        for bad in [
            "evil", "1.2.3.4", "a..b.com", ".a.com", "a b.com", "x.123", "", "-a.com",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
        assert_eq!(
            d(&format!("{}.com", "a".repeat(MAX_DOMAIN - 4))).map(|s| s.len()),
            Some(MAX_DOMAIN)
        );
        assert_eq!(d(&format!("{}.com", "a".repeat(MAX_DOMAIN - 3))), None);
    }

    #[test]
    fn canonical_names_are_their_own_form() {
        for s in [
            "www.evil.com",
            "_dmarc.example.org",
            "a-b.x1",
            "xn--bcher-kva.example",
        ] {
            assert_eq!(canonical_domain(s.as_bytes()), Some(s.as_bytes()), "{s}");
        }
        for s in [
            "Evil.com",
            "evil.com.",
            "evil",
            "a..b.com",
            "x.123",
            "bücher.example",
            "a b.com",
        ] {
            assert_eq!(canonical_domain(s.as_bytes()), None, "{s}");
        }
    }

    proptest::proptest! {
        #[test]
        fn canonical_domain_agrees_with_normalize_domain(
            s in proptest::collection::vec(proptest::sample::select(b"aZ0-_. \xc3".to_vec()), 0..12),
        ) {
            // A name is its own canonical form exactly when normalising returns it unchanged.
            let mut b = [0u8; MAX_DOMAIN];
            let want = normalize_domain(&s, &mut b).filter(|d| *d == &s[..]).is_some();
            proptest::prop_assert_eq!(canonical_domain(&s).is_some(), want);
            if let Some(d) = canonical_domain(&s) {
                proptest::prop_assert_eq!(d, &s[..]);
            }
        }
    }

    #[test]
    fn internationalised_names_become_a_labels() {
        assert_eq!(
            d("bücher.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(
            d("BÜCHER.Example.").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(
            d("XN--BCHER-KVA.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(d("пример.рф").as_deref(), Some("xn--e1afmkfd.xn--p1ai"));
        // Not names, whatever IDNA would map them to.
        for bad in [
            "bü cher.example",
            "ü",
            "bücher",
            "a\u{ff0f}b.example",
            "\u{fffd}.com",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
        // Invalid UTF-8 is no name.
        let mut b = [0u8; MAX_DOMAIN];
        assert_eq!(normalize_domain(b"b\xfccher.example", &mut b), None);
    }
}
