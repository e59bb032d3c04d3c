//! E-mail addresses: `local@domain`, lower case, the domain canonical as a domain name.

use crate::domain::{MAX_DOMAIN, normalize_domain};
use crate::url::MAX_URL;

/// Longest canonical e-mail address we accept.
pub const MAX_EMAIL: usize = MAX_URL;

/// Canonicalises an e-mail address into `buf` when `s` has the shape `local@domain` (one
/// `@`, an ASCII local part without spaces or `<>()[],;:"\`, a domain as
/// [`normalize_domain`] accepts it), optionally after `mailto:`. The local part is lower-cased
/// (mail systems treat it without regard to case in practice), the domain canonicalised (an
/// internationalised one as A-labels, no trailing dot).
pub fn normalize_email<'b>(s: &[u8], buf: &'b mut [u8; MAX_EMAIL]) -> Option<&'b [u8]> {
    let s = match s.get(..7) {
        Some(p) if p.eq_ignore_ascii_case(b"mailto:") => &s[7..],
        _ => s,
    };
    let at = memchr::memchr(b'@', s)?;
    if at == 0 || s.len() > MAX_EMAIL || memchr::memchr(b'@', &s[at + 1..]).is_some() {
        return None;
    }
    let (local, domain) = (&s[..at], &s[at + 1..]);
    let mut dom = [0u8; MAX_DOMAIN];
    let dom = normalize_domain(domain, &mut dom)?;
    let ok = local
        .iter()
        .all(|c| c.is_ascii_graphic() && !b"<>()[],;:\"\\".contains(c));
    if !ok || local.len() + 1 + dom.len() > MAX_EMAIL {
        return None;
    }
    for (o, c) in buf.iter_mut().zip(local) {
        *o = c.to_ascii_lowercase();
    }
    buf[at] = b'@';
    buf[at + 1..at + 1 + dom.len()].copy_from_slice(dom);
    Some(&buf[..at + 1 + dom.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> Option<String> {
        let mut b = [0u8; MAX_EMAIL];
        normalize_email(s.as_bytes(), &mut b).map(|x| String::from_utf8_lossy(x).into_owned())
    }

    #[test]
    fn addresses() {
        assert_eq!(e("Bob@Evil.com").as_deref(), Some("bob@evil.com"));
        assert_eq!(e("MAILTO:Bob@Evil.com.").as_deref(), Some("bob@evil.com"));
        assert_eq!(
            e("bob@bücher.example").as_deref(),
            Some("bob@xn--bcher-kva.example")
        );
        for bad in [
            "@evil.com",
            "bob@",
            "bob@evil",
            "a@b@c.com",
            "b ob@evil.com",
            "bö@evil.com",
        ] {
            assert_eq!(e(bad), None, "{bad}");
        }
    }
}
