//! Value conversions with the reference's (Python) semantics: timestamps, base64/hex,
//! IPv4/CIDR, LIKE and Python-`re` regular expressions.

use detente_stix::timestamp::{days_from_civil, days_in_month};
use std::sync::OnceLock;

/// Decodes standard base64 with padding; `None` when malformed.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut chars = 0usize;
    let mut pad = 0usize;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                pad += 1;
                continue;
            }
            _ => continue, // Python's non-validating decoder skips other characters.
        };
        if pad > 0 {
            return None;
        }
        chars += 1;
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    if chars % 4 == 1 || (!chars.is_multiple_of(4) && chars % 4 + pad < 4) {
        return None;
    }
    Some(out)
}

/// Decodes an even-length hex string; `None` when malformed.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|p| {
            let h = (p[0] as char).to_digit(16)?;
            let l = (p[1] as char).to_digit(16)?;
            Some((h * 16 + l) as u8)
        })
        .collect()
}

fn ts_regex() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // The groups Python's strptime builds for %Y-%m-%dT%H:%M:%S(.%f)Z.
        regex::Regex::new(
            r"^(\d\d\d\d)-(1[0-2]|0[1-9]|[1-9])-(3[01]|[12]\d|0[1-9]|[1-9]| [1-9])T(2[0-3]|[0-1]\d|\d):([0-5]\d|\d):(6[0-1]|[0-5]\d|\d)(?:\.([0-9]{1,6}))?Z$",
        )
        .unwrap_or_else(|_| unreachable!("constant regex"))
    })
}

/// Parses a STIX timestamp to microseconds since the Unix epoch, as the reference's
/// `_str_to_datetime` does (upper case only, fractions truncated to microseconds).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    if s.chars().any(char::is_lowercase) {
        return None;
    }
    let truncated;
    let mut text = s;
    if let Some((head, frac)) = s.split_once('.')
        && frac.chars().count() > 7
        && frac.ends_with('Z')
    {
        let keep: String = frac.chars().take(6).collect();
        truncated = format!("{head}.{keep}Z");
        text = &truncated;
    }
    let c = ts_regex().captures(text)?;
    let num = |i: usize| -> i64 {
        c.get(i)
            .map_or(0, |m| m.as_str().trim().parse().unwrap_or(0))
    };
    let (y, mo, d, h, mi, sec) = (num(1), num(2), num(3), num(4), num(5), num(6));
    // The regex admits only months 1-12 and days 1-31.
    let (month, day) = (u32::try_from(mo).ok()?, u32::try_from(d).ok()?);
    if y < 1 || d > i64::from(days_in_month(y, month)) || sec > 59 {
        return None;
    }
    let micros = match c.get(7) {
        Some(f) => {
            let mut digits = f.as_str().to_string();
            while digits.len() < 6 {
                digits.push('0');
            }
            digits.parse::<i64>().ok()?
        }
        None => 0,
    };
    let days = days_from_civil(y, month, day);
    Some(((days * 24 + h) * 60 + mi) * 60_000_000 + sec * 1_000_000 + micros)
}

/// `inet_aton` as glibc implements it (1–4 parts, decimal/octal/hex); `None` when invalid.
pub fn inet_aton(s: &str) -> Option<u32> {
    let s = s
        .split(|c: char| c.is_ascii_whitespace())
        .next()
        .unwrap_or("");
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut vals = Vec::with_capacity(4);
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X"))
        {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if digits.is_empty() && radix != 16 {
            return None;
        }
        let v = if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        if v > u64::from(u32::MAX) {
            return None;
        }
        vals.push(v as u32);
    }
    let n = vals.len();
    let (last, head) = vals.split_last()?;
    if head.iter().any(|v| *v > 255) {
        return None;
    }
    let max_last: u64 = 1u64 << (8 * (5 - n) as u64);
    if u64::from(*last) >= max_last.min(1 << 32) {
        return None;
    }
    let mut out = 0u32;
    for (i, v) in head.iter().enumerate() {
        out |= v << (24 - 8 * i);
    }
    Some(out | last)
}

/// A parsed CIDR `(address, prefix)`; `None` when invalid (prefix must be 1–32).
pub fn parse_cidr(s: &str) -> Option<(u32, u32)> {
    let (ip, prefix) = s.split_once('/')?;
    let ip = inet_aton(ip)?;
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let p: u32 = prefix.parse().ok()?;
    if !(1..=32).contains(&p) {
        return None;
    }
    Some((ip, p))
}

/// Is the IP or CIDR `inner` contained in CIDR `outer`? `None` when either is invalid.
pub fn ip_in_subnet(inner: &str, outer: &str) -> Option<bool> {
    let (ip, inner_prefix) = if inner.contains('/') {
        parse_cidr(inner)?
    } else {
        (inet_aton(inner)?, 32)
    };
    let (net, prefix) = parse_cidr(outer)?;
    if prefix > inner_prefix {
        return Some(false);
    }
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    Some(ip & mask == net & mask)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LikeTok {
    Any,
    One,
    Char(char),
}

/// A LIKE pattern: `%` any run, `_` one character, matched against the whole string with
/// the reference's regex semantics (wildcards never match a newline; one trailing newline
/// in the value is ignored, as Python's `$` allows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikePattern(Vec<LikeTok>);

impl LikePattern {
    /// Compiles a LIKE operand.
    pub fn new(like: &str) -> LikePattern {
        LikePattern(
            like.chars()
                .map(|c| match c {
                    '%' => LikeTok::Any,
                    '_' => LikeTok::One,
                    c => LikeTok::Char(c),
                })
                .collect(),
        )
    }

    fn full(&self, text: &[char]) -> bool {
        let p = &self.0;
        // row[j]: the first j pattern tokens match the text consumed so far.
        let mut row = vec![false; p.len() + 1];
        row[0] = true;
        for j in 0..p.len() {
            row[j + 1] = row[j] && p[j] == LikeTok::Any;
        }
        for &c in text {
            let mut next = vec![false; p.len() + 1];
            for j in 0..p.len() {
                next[j + 1] = match p[j] {
                    LikeTok::Any => c != '\n' && (row[j + 1] || row[j]) || next[j],
                    LikeTok::One => row[j] && c != '\n',
                    LikeTok::Char(x) => row[j] && x == c,
                };
                if p[j] == LikeTok::Any && next[j] {
                    next[j + 1] = true;
                }
            }
            if !next.iter().any(|b| *b) {
                return false;
            }
            row = next;
        }
        row[p.len()]
    }

    /// Does the whole of `s` match?
    pub fn is_match(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        self.full(&chars) || (chars.last() == Some(&'\n') && self.full(&chars[..chars.len() - 1]))
    }
}

/// Translates a Python `re` pattern to the syntax of the `regex`/`fancy-regex` crates.
pub fn translate_python_regex(src: &str) -> String {
    let multiline = src.contains("(?m")
        || (src.starts_with("(?") && src[2..].split(')').next().is_some_and(|f| f.contains('m')));
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let n = chars.get(i + 1).copied();
            match n {
                Some('Z') if !in_class => out.push_str(r"\z"),
                Some('u') => {
                    let h: String = chars.iter().skip(i + 2).take(4).collect();
                    out.push_str(&format!("\\x{{{h}}}"));
                    i += 6;
                    continue;
                }
                Some('U') => {
                    let h: String = chars.iter().skip(i + 2).take(8).collect();
                    out.push_str(&format!("\\x{{{h}}}"));
                    i += 10;
                    continue;
                }
                Some('0') => out.push_str(r"\x00"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push_str(r"\\"),
            }
            i += 2;
            continue;
        }
        if in_class {
            match c {
                ']' if i > class_start => {
                    in_class = false;
                    out.push(']');
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                _ => out.push(c),
            }
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` right after the opening is literal in Python.
                if chars.get(i) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
                class_start = i;
                continue;
            }
            '$' if !multiline => out.push_str(r"(?:\n?\z)"),
            '{' => {
                let rest: String = chars[i + 1..].iter().collect();
                let close = rest.find('}');
                let body = close.map(|e| &rest[..e]);
                let valid = body.is_some_and(|b| {
                    let (a, z) = b.split_once(',').unwrap_or((b, ""));
                    !b.is_empty()
                        && a.chars().all(|c| c.is_ascii_digit())
                        && z.chars().all(|c| c.is_ascii_digit())
                        && !(a.is_empty() && z.is_empty() && b.contains(','))
                });
                match (valid, body) {
                    (true, Some(b)) => {
                        let adv = b.chars().count() + 2;
                        let norm = if b.starts_with(',') {
                            format!("0{b}")
                        } else {
                            b.to_string()
                        };
                        out.push('{');
                        out.push_str(&norm);
                        out.push('}');
                        i += adv;
                        continue;
                    }
                    _ => out.push_str(r"\{"),
                }
            }
            '}' => out.push_str(r"\}"),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// A Python-`re`-compatible regex on text.
pub fn compile_text_regex(src: &str) -> Option<fancy_regex::Regex> {
    fancy_regex::Regex::new(&translate_python_regex(src)).ok()
}

/// The same pattern for bytes (every pattern char below U+0100 taken as one byte).
pub fn compile_bytes_regex(src: &str) -> Option<regex::bytes::Regex> {
    let t = translate_python_regex(src);
    let mut s = String::from("(?-u)");
    for c in t.chars() {
        if c.is_ascii() {
            s.push(c);
        } else {
            s.push_str(&format!("\\x{:02x}", c as u32));
        }
    }
    regex::bytes::Regex::new(&s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:00.123456789Z"),
            Some(123_456)
        );
        assert_eq!(parse_timestamp("2016-02-30T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2016-02-01t00:00:00Z"), None);
        assert_eq!(parse_timestamp("2016-02-01T00:00:60Z"), None);
        assert!(parse_timestamp("2016-2-1T0:0:0Z").is_some());
    }

    #[test]
    fn ipv4() {
        assert_eq!(inet_aton("1.2.3.4"), Some(0x01020304));
        assert_eq!(inet_aton("1.2"), Some(0x01000002));
        assert_eq!(inet_aton("hello"), None);
        assert_eq!(ip_in_subnet("11.22.33.44", "11.22.0.0/16"), Some(true));
        assert_eq!(ip_in_subnet("11.22.33.44/8", "11.22.0.0/16"), Some(false));
        assert_eq!(ip_in_subnet("1.2.3.4", "1.2.3.4/0"), None);
    }

    #[test]
    fn regexes() {
        let r = compile_text_regex("^a{,2}b$").unwrap();
        assert!(r.is_match("aab\n").unwrap());
        let l = LikePattern::new("a%c_");
        assert!(l.is_match("abbcd"));
        assert!(l.is_match("acd\n"));
        assert!(!l.is_match("abbc"));
        assert!(!l.is_match("a\ncd"));
        assert!(LikePattern::new("%").is_match(""));
        assert!(LikePattern::new("%.evil.com").is_match("x.evil.com"));
        assert!(!LikePattern::new("%.evil.com").is_match("x.evil.co"));
        assert_eq!(base64_decode("YQ=="), Some(b"a".to_vec()));
        assert_eq!(base64_decode("YQ"), None);
    }
}
