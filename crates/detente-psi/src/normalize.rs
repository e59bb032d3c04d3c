//! Canonical form of indicator values, so that both parties hash the same bytes for the same
//! indicator however it was written.
//!
//! Every canonical value carries a type prefix (`ip:`, `domain:`, `md5:`, ...), so values of
//! different types can never collide. The rules, applied to the trimmed input:
//!
//! | input | canonical form |
//! |---|---|
//! | IPv4 (`192.0.2.1`), IPv6 (`2001:DB8::1`, `[::1]`) | `ip:` + RFC 5952 text; IPv4-mapped IPv6 (`::ffff:192.0.2.1`) becomes the IPv4 form |
//! | 32 / 40 / 64 / 128 hex digits, optionally prefixed `md5:` `sha1:` `sha256:` `sha512:` (any case) | `md5:` / `sha1:` / `sha256:` / `sha512:` + lower-case hex |
//! | `scheme://host[:port]/path?query#frag`, or a scheme-less `host/path` | `url:` + lower-cased host without trailing dot, the port unless it is the scheme's default, then the path (`/` if empty) and query verbatim; scheme, user info and fragment dropped |
//! | `local@domain` | `email:` + the whole address lower-cased, trailing dot of the domain removed |
//! | a host name (letters, digits, `-`, `_`, `.`, non-ASCII letters) | `domain:` + lower-cased, one trailing dot removed |
//! | anything else | `other:` + the trimmed text verbatim |
//!
//! Dropping the URL scheme is deliberate: threat feeds (Zeek intel among them) store URLs
//! without it, and `http://` versus `https://` does not change what the indicator means.
//! Internationalised domain names are lower-cased with Unicode rules but not converted to
//! punycode; feed them in one form consistently.

use std::net::{IpAddr, Ipv6Addr};

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
    if let Some(ip) = parse_ip(value) {
        return Ok(format!("ip:{ip}"));
    }
    if let Some(hash) = parse_hash(value) {
        return Ok(hash);
    }
    if let Some(url) = parse_url(value) {
        return Ok(url);
    }
    if let Some((local, domain)) = value.split_once('@')
        && !local.is_empty()
        && is_host(domain)
    {
        return Ok(format!(
            "email:{}@{}",
            local.to_lowercase(),
            canonical_host(domain)
        ));
    }
    if is_host(value) {
        return Ok(format!("domain:{}", canonical_host(value)));
    }
    Ok(format!("other:{value}"))
}

fn parse_ip(value: &str) -> Option<IpAddr> {
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    match inner.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(canonical_v6(v6)),
        v4 => Some(v4),
    }
}

fn canonical_v6(v6: Ipv6Addr) -> IpAddr {
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

fn parse_hash(value: &str) -> Option<String> {
    let (declared, hex) = match value.split_once(':') {
        Some((kind, hex)) => (Some(kind.to_ascii_lowercase()), hex),
        None => (None, value),
    };
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let kind = match hex.len() {
        32 => "md5",
        40 => "sha1",
        64 => "sha256",
        128 => "sha512",
        _ => return None,
    };
    if declared.is_some_and(|d| d != kind) {
        return None;
    }
    Some(format!("{kind}:{}", hex.to_ascii_lowercase()))
}

fn parse_url(value: &str) -> Option<String> {
    let (scheme, rest) = match value.split_once("://") {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
        {
            (Some(scheme.to_ascii_lowercase()), rest)
        }
        Some(_) => return None,
        None => (None, value),
    };
    let rest = rest.split('#').next().unwrap_or(rest);
    let split_at = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_query) = rest.split_at(split_at);
    // A scheme-less value is only a URL if it has a path after a plausible host.
    if scheme.is_none() && (path_query.is_empty() || !authority.contains('.')) {
        return None;
    }
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = split_port(host_port)?;
    let host = if let Some(ip) = parse_ip(host) {
        match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        }
    } else if is_host(host) {
        canonical_host(host)
    } else {
        return None;
    };
    let default_port = match scheme.as_deref() {
        Some("http") | None => Some("80"),
        Some("https") => Some("443"),
        Some("ftp") => Some("21"),
        _ => None,
    };
    let port = match port {
        Some(p) if Some(p) != default_port => format!(":{p}"),
        _ => String::new(),
    };
    let path = if path_query.starts_with('/') {
        path_query.to_string()
    } else {
        format!("/{path_query}")
    };
    Some(format!("url:{host}{port}{path}"))
}

/// Splits `host:port` (or `[v6]:port`); the port must be decimal.
fn split_port(host_port: &str) -> Option<(&str, Option<&str>)> {
    if host_port.starts_with('[') {
        let end = host_port.find(']')?;
        let (host, rest) = host_port.split_at(end + 1);
        return match rest.strip_prefix(':') {
            Some(port) if is_port(port) => Some((host, Some(port))),
            Some(_) => None,
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if is_port(port) => Some((host, Some(port))),
        Some(_) => None,
        None => Some((host_port, None)),
    }
}

fn is_port(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
}

fn is_host(value: &str) -> bool {
    let value = value.strip_suffix('.').unwrap_or(value);
    !value.is_empty()
        && !value.starts_with('.')
        && !value.contains("..")
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn canonical_host(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_lowercase()
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
        assert_eq!(n("localhost"), "domain:localhost");
    }

    #[test]
    fn ips_are_canonical() {
        assert_eq!(n("192.0.2.1"), "ip:192.0.2.1");
        assert_eq!(n("2001:DB8:0:0:0:0:0:1"), "ip:2001:db8::1");
        assert_eq!(n("[::1]"), "ip:::1");
        assert_eq!(n("::ffff:192.0.2.1"), "ip:192.0.2.1");
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
    }

    #[test]
    fn emails_are_lower_case() {
        assert_eq!(n("Phisher@Evil.Example."), "email:phisher@evil.example");
    }

    #[test]
    fn other_values_are_kept_verbatim() {
        assert_eq!(n("some thing"), "other:some thing");
        assert_eq!(normalize("   "), Err(NormalizeError::Empty));
    }
}
