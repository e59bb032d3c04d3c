//! Extraction of plain comparisons from STIX patterns: `[type:prop = 'v']`, optionally joined by
//! `OR` inside or between brackets. Anything else is reported as not a simple pattern.

use crate::index::Value;
use crate::norm::{self, MAX_DOMAIN, MAX_URL};

/// Why a pattern is not a disjunction of simple equality comparisons we can index.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotSimple(pub String);

/// One comparison: the value as written in the pattern and its typed form.
pub type Comparison = (String, Value);

/// Returns the comparisons of a pattern made only of `=` tests ORed together.
pub fn comparisons(pattern: &str, subdomains: bool) -> Result<Vec<Comparison>, NotSimple> {
    let mut p = Parser {
        s: pattern.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        p.ws();
        p.expect(b'[')?;
        loop {
            p.ws();
            let path = p.path()?;
            p.ws();
            p.expect(b'=')?;
            p.ws();
            let value = p.string()?;
            out.push((value.clone(), typed(&path, &value, subdomains)?));
            p.ws();
            if p.keyword("OR") {
                continue;
            }
            p.expect(b']')?;
            break;
        }
        p.ws();
        if p.i == p.s.len() {
            return Ok(out);
        }
        if !p.keyword("OR") {
            return Err(NotSimple(format!("unsupported syntax at byte {}", p.i)));
        }
    }
}

fn typed(path: &str, v: &str, subdomains: bool) -> Result<Value, NotSimple> {
    let bad = || NotSimple(format!("value {v:?} is not a valid {path}"));
    let b = v.as_bytes();
    match path {
        "ipv4-addr:value" | "ipv6-addr:value" => {
            let (ip, len) = norm::parse_cidr(b).ok_or_else(bad)?;
            let v4 = matches!(ip, norm::Ip::V4(_));
            if v4 != (path == "ipv4-addr:value") {
                return Err(bad());
            }
            Ok(Value::Net(ip, len))
        }
        "domain-name:value" => {
            let mut d = [0u8; MAX_DOMAIN];
            let d = norm::normalize_domain(b, &mut d).ok_or_else(bad)?;
            Ok(Value::Domain(
                String::from_utf8_lossy(d).into_owned(),
                subdomains,
            ))
        }
        "url:value" => {
            let mut u = [0u8; MAX_URL];
            let u = norm::normalize_url(b, &mut u).ok_or_else(bad)?;
            Ok(Value::Url(
                String::from_utf8_lossy(u.normalized).into_owned(),
            ))
        }
        "email-addr:value" => {
            let mut e = [0u8; MAX_URL];
            let e = norm::normalize_email(b, &mut e).ok_or_else(bad)?;
            Ok(Value::Email(String::from_utf8_lossy(e).into_owned()))
        }
        _ => {
            let algo = path
                .strip_prefix("file:hashes.")
                .ok_or_else(|| NotSimple(format!("unsupported object path {path}")))?;
            let want = match algo
                .trim_matches('\'')
                .to_ascii_uppercase()
                .replace('-', "")
                .as_str()
            {
                "MD5" => 32,
                "SHA1" => 40,
                "SHA256" => 64,
                other => return Err(NotSimple(format!("unsupported hash {other}"))),
            };
            let mut h = [0u8; 64];
            match norm::normalize_hash(b, &mut h) {
                Some(h) if h.len() == want => {
                    Ok(Value::Hash(String::from_utf8_lossy(h).into_owned()))
                }
                _ => Err(bad()),
            }
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), NotSimple> {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(NotSimple(format!(
                "expected '{}' at byte {}",
                c as char, self.i
            )))
        }
    }

    fn keyword(&mut self, k: &str) -> bool {
        let end = self.i + k.len();
        let boundary = self.s.get(end).is_none_or(|c| !c.is_ascii_alphanumeric());
        if self.s.get(self.i..end) == Some(k.as_bytes()) && boundary {
            self.i = end;
            true
        } else {
            false
        }
    }

    /// `type:prop` where a property step may be a quoted name (`hashes.'SHA-256'`).
    fn path(&mut self) -> Result<String, NotSimple> {
        let start = self.i;
        while let Some(&c) = self.s.get(self.i) {
            if c == b'\'' {
                let close = memchr::memchr(b'\'', &self.s[self.i + 1..])
                    .ok_or_else(|| NotSimple("unterminated quoted property".into()))?;
                self.i += close + 2;
            } else if c.is_ascii_alphanumeric() || b"-_:.".contains(&c) {
                self.i += 1;
            } else {
                break;
            }
        }
        let path = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        if !path.contains(':') {
            return Err(NotSimple(format!(
                "expected an object path at byte {start}"
            )));
        }
        Ok(path)
    }

    fn string(&mut self) -> Result<String, NotSimple> {
        self.expect(b'\'')?;
        let mut out = Vec::new();
        loop {
            match self.s.get(self.i) {
                None => return Err(NotSimple("unterminated string".into())),
                Some(b'\\') => {
                    match self.s.get(self.i + 1) {
                        Some(c @ (b'\\' | b'\'')) => out.push(*c),
                        _ => return Err(NotSimple("invalid escape in string".into())),
                    }
                    self.i += 2;
                }
                Some(b'\'') => {
                    self.i += 1;
                    return String::from_utf8(out)
                        .map_err(|_| NotSimple("string is not UTF-8".into()));
                }
                Some(c) => {
                    out.push(*c);
                    self.i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_forms() {
        let c = comparisons("[ipv4-addr:value = '10.0.0.0/8']", true).unwrap();
        assert_eq!(c[0].0, "10.0.0.0/8");
        let sha = "a".repeat(64);
        let c = comparisons(&format!("[domain-name:value = 'A.com' OR url:value = 'http://x.com/a\\'b'] OR [file:hashes.'SHA-256' = '{sha}']"), true).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].1, Value::Domain("a.com".into(), true));
        assert_eq!(c[1].0, "http://x.com/a'b");
    }

    #[test]
    fn rejects_the_rest() {
        for p in [
            "[ipv4-addr:value != '1.2.3.4']",
            "[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'a.com']",
            "[file:name = 'x.exe']",
            "[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS",
            "[ipv4-addr:value = 'not-an-ip']",
            "[file:hashes.MD5 = 'abcd']",
        ] {
            assert!(comparisons(p, true).is_err(), "{p}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s: String) {
            let _ = comparisons(&s, true);
        }
    }
}
