//! Tokenizer following the OASIS ANTLR grammar: longest match wins, ties go to the rule
//! declared first (literals, then keywords, then identifiers, then punctuation).

use crate::{Span, StixVersion};

/// Kinds of tokens, named after the grammar's lexer rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    /// `-12`
    IntNeg,
    /// `12`, `+12`
    IntPos,
    /// `-1.5`
    FloatNeg,
    /// `1.5`, `+.5`
    FloatPos,
    /// `h'0a'`
    Hex,
    /// `b'AQ=='`
    Binary,
    /// `'text'`
    Str,
    /// `true` / `false`
    Bool,
    /// `t'2016-01-01T00:00:00Z'`
    Timestamp,
    /// `AND`
    And,
    /// `OR`
    Or,
    /// `NOT`
    Not,
    /// `FOLLOWEDBY`
    FollowedBy,
    /// `LIKE`
    Like,
    /// `MATCHES`
    Matches,
    /// `ISSUPERSET`
    IsSuperset,
    /// `ISSUBSET`
    IsSubset,
    /// `EXISTS` (2.1 only)
    Exists,
    /// `LAST` (reserved)
    Last,
    /// `IN`
    In,
    /// `START`
    Start,
    /// `STOP`
    Stop,
    /// `SECONDS`
    Seconds,
    /// `WITHIN`
    Within,
    /// `REPEATS`
    Repeats,
    /// `TIMES`
    Times,
    /// identifier without `-`
    Ident,
    /// identifier containing `-` (object types only)
    IdentHyphen,
    /// `=` or `==`
    Eq,
    /// `!=` or `<>`
    Neq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// lone `'`
    Quote,
    /// `:`
    Colon,
    /// `.`
    Dot,
    /// `,`
    Comma,
    /// `)`
    RParen,
    /// `(`
    LParen,
    /// `]`
    RBrack,
    /// `[`
    LBrack,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `^`
    Power,
    /// `/`
    Divide,
    /// `*`
    Asterisk,
    /// any other character
    Invalid,
    /// end of input
    Eof,
}

/// One token: its kind and where it is in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Token kind.
    pub kind: Tok,
    /// Byte range in the pattern text.
    pub span: Span,
}

fn is_ws(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t'
            | '\r'
            | '\n'
            | '\u{000B}'
            | '\u{000C}'
            | '\u{0085}'
            | '\u{00a0}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

fn digits(b: &[u8], i: usize) -> usize {
    b[i..].iter().take_while(|c| c.is_ascii_digit()).count()
}

/// Length of an integer body `0 | [1-9][0-9]*` at `i`.
fn int_body(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'0') => 1,
        Some(c) if c.is_ascii_digit() => digits(b, i),
        _ => 0,
    }
}

/// Length of a float body `[0-9]* '.' [0-9]+` at `i`.
fn float_body(b: &[u8], i: usize) -> usize {
    let d = digits(b, i);
    if b.get(i + d) == Some(&b'.') {
        let f = digits(b, i + d + 1);
        if f > 0 {
            return d + 1 + f;
        }
    }
    0
}

/// Length of a string literal (`'` … `'` with `\'` and `\\` escapes) at `i`.
fn string_lit(s: &str, i: usize) -> usize {
    let b = s.as_bytes();
    if b.get(i) != Some(&b'\'') {
        return 0;
    }
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\'' => return j + 1 - i,
            b'\\' => match b.get(j + 1) {
                Some(b'\'') | Some(b'\\') => j += 2,
                _ => return 0,
            },
            _ => j += 1,
        }
    }
    0
}

fn hex_lit(b: &[u8], i: usize) -> usize {
    if b.get(i) != Some(&b'h') || b.get(i + 1) != Some(&b'\'') {
        return 0;
    }
    let n = b[i + 2..]
        .iter()
        .take_while(|c| c.is_ascii_hexdigit())
        .count();
    if n % 2 == 0 && b.get(i + 2 + n) == Some(&b'\'') {
        n + 3
    } else {
        0
    }
}

fn b64_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'/'
}

fn binary_lit(b: &[u8], i: usize) -> usize {
    if b.get(i) != Some(&b'b') || b.get(i + 1) != Some(&b'\'') {
        return 0;
    }
    let n = b[i + 2..].iter().take_while(|c| b64_char(**c)).count();
    let mut pad = 0;
    while b.get(i + 2 + n + pad) == Some(&b'=') && pad < 2 {
        pad += 1;
    }
    // Grammar: full quads, then a final quad, or 3 chars + '=', or 2 chars + '=='.
    let ok = match pad {
        0 => n >= 4 && n % 4 == 0,
        1 => n % 4 == 3,
        _ => n % 4 == 2,
    };
    if ok && b.get(i + 2 + n + pad) == Some(&b'\'') {
        n + pad + 3
    } else {
        0
    }
}

fn timestamp_lit(b: &[u8], i: usize) -> usize {
    if b.get(i) != Some(&b't') || b.get(i + 1) != Some(&b'\'') {
        return 0;
    }
    let s = &b[i + 2..];
    let d = |k: usize| s.get(k).is_some_and(|c| c.is_ascii_digit());
    let at = |k: usize, c: u8| s.get(k) == Some(&c);
    let rng = |k: usize, lo: u8, hi: u8| s.get(k).is_some_and(|c| (lo..=hi).contains(c));
    if !(d(0) && d(1) && d(2) && d(3) && at(4, b'-')) {
        return 0;
    }
    let month = (at(5, b'0') && rng(6, b'1', b'9')) || (at(5, b'1') && rng(6, b'0', b'2'));
    let day = (at(8, b'0') && rng(9, b'1', b'9'))
        || (rng(8, b'1', b'2') && d(9))
        || (at(8, b'3') && rng(9, b'0', b'1'));
    let hour = (rng(11, b'0', b'1') && d(12)) || (at(11, b'2') && rng(12, b'0', b'3'));
    let sec = (rng(17, b'0', b'5') && d(18)) || (at(17, b'6') && at(18, b'0'));
    if !(month
        && at(7, b'-')
        && day
        && at(10, b'T')
        && hour
        && at(13, b':')
        && rng(14, b'0', b'5')
        && d(15)
        && at(16, b':')
        && sec)
    {
        return 0;
    }
    let mut k = 19;
    if at(k, b'.') {
        let f = s[k + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if f == 0 {
            return 0;
        }
        k += 1 + f;
    }
    if at(k, b'Z') && at(k + 1, b'\'') {
        k + 4
    } else {
        0
    }
}

fn ident_len(b: &[u8], i: usize, hyphen: bool) -> usize {
    match b.get(i) {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
            1 + b[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || (hyphen && **c == b'-'))
                .count()
        }
        _ => 0,
    }
}

fn keyword(word: &str, version: StixVersion) -> Option<Tok> {
    Some(match word {
        "AND" => Tok::And,
        "OR" => Tok::Or,
        "NOT" => Tok::Not,
        "FOLLOWEDBY" => Tok::FollowedBy,
        "LIKE" => Tok::Like,
        "MATCHES" => Tok::Matches,
        "ISSUPERSET" => Tok::IsSuperset,
        "ISSUBSET" => Tok::IsSubset,
        "EXISTS" if version == StixVersion::V21 => Tok::Exists,
        "LAST" => Tok::Last,
        "IN" => Tok::In,
        "START" => Tok::Start,
        "STOP" => Tok::Stop,
        "SECONDS" => Tok::Seconds,
        "WITHIN" => Tok::Within,
        "REPEATS" => Tok::Repeats,
        "TIMES" => Tok::Times,
        "true" | "false" => Tok::Bool,
        _ => return None,
    })
}

/// Splits `src` into tokens (comments and whitespace skipped), ending with [`Tok::Eof`].
pub fn tokenize(src: &str, version: StixVersion) -> Vec<Token> {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(src.len() / 4 + 2);
    let mut i = 0;
    while i < b.len() {
        let c = src[i..].chars().next().unwrap_or('\0');
        if is_ws(c) {
            i += c.len_utf8();
            continue;
        }
        if src[i..].starts_with("/*") {
            match src[i + 2..].find("*/") {
                Some(e) => {
                    i += e + 4;
                    continue;
                }
                None => {
                    out.push(tok(Tok::Divide, i, i + 1));
                    i += 1;
                    continue;
                }
            }
        }
        if src[i..].starts_with("//") {
            i += src[i..].find(['\r', '\n']).unwrap_or(b.len() - i);
            continue;
        }
        // Candidates in grammar order; the longest wins, the first on a tie.
        let mut best = (0usize, Tok::Invalid);
        let mut consider = |len: usize, kind: Tok| {
            if len > best.0 {
                best = (len, kind);
            }
        };
        if b[i] == b'-' {
            let n = int_body(b, i + 1);
            if n > 0 {
                consider(n + 1, Tok::IntNeg);
            }
        }
        let plus = usize::from(b[i] == b'+');
        let n = int_body(b, i + plus);
        if n > 0 {
            consider(n + plus, Tok::IntPos);
        }
        if b[i] == b'-' {
            let n = float_body(b, i + 1);
            if n > 0 {
                consider(n + 1, Tok::FloatNeg);
            }
        }
        let n = float_body(b, i + plus);
        if n > 0 {
            consider(n + plus, Tok::FloatPos);
        }
        consider(hex_lit(b, i), Tok::Hex);
        consider(binary_lit(b, i), Tok::Binary);
        consider(string_lit(src, i), Tok::Str);
        consider(timestamp_lit(b, i), Tok::Timestamp);
        let id_plain = ident_len(b, i, false);
        if id_plain > 0 {
            match keyword(&src[i..i + id_plain], version) {
                Some(k) => consider(id_plain, k),
                None => consider(id_plain, Tok::Ident),
            }
        }
        consider(ident_len(b, i, true), Tok::IdentHyphen);
        let two = b.get(i..i + 2);
        match two {
            Some(b"==") => consider(2, Tok::Eq),
            Some(b"!=") | Some(b"<>") => consider(2, Tok::Neq),
            Some(b"<=") => consider(2, Tok::Le),
            Some(b">=") => consider(2, Tok::Ge),
            _ => {}
        }
        let single = match b[i] {
            b'=' => Tok::Eq,
            b'<' => Tok::Lt,
            b'>' => Tok::Gt,
            b'\'' => Tok::Quote,
            b':' => Tok::Colon,
            b'.' => Tok::Dot,
            b',' => Tok::Comma,
            b')' => Tok::RParen,
            b'(' => Tok::LParen,
            b']' => Tok::RBrack,
            b'[' => Tok::LBrack,
            b'+' => Tok::Plus,
            b'-' => Tok::Minus,
            b'^' => Tok::Power,
            b'/' => Tok::Divide,
            b'*' => Tok::Asterisk,
            _ => Tok::Invalid,
        };
        consider(1, single);
        let len = if best.1 == Tok::Invalid {
            c.len_utf8()
        } else {
            best.0
        };
        out.push(tok(best.1, i, i + len));
        i += len;
    }
    out.push(tok(Tok::Eof, b.len(), b.len()));
    out
}

fn tok(kind: Tok, start: usize, end: usize) -> Token {
    Token {
        kind,
        span: Span::new(start, end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        tokenize(s, StixVersion::V21)
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn longest_match_and_ties() {
        assert_eq!(kinds("-5"), vec![Tok::IntNeg, Tok::Eof]);
        assert_eq!(
            kinds("1.5 01"),
            vec![Tok::FloatPos, Tok::IntPos, Tok::IntPos, Tok::Eof]
        );
        assert_eq!(kinds("true trueish"), vec![Tok::Bool, Tok::Ident, Tok::Eof]);
        assert_eq!(
            kinds("file ipv4-addr"),
            vec![Tok::Ident, Tok::IdentHyphen, Tok::Eof]
        );
        assert_eq!(kinds("h'abc'"), vec![Tok::Ident, Tok::Str, Tok::Eof]);
        assert_eq!(kinds("b'YQ=='"), vec![Tok::Binary, Tok::Eof]);
        assert_eq!(kinds("b'YQ='"), vec![Tok::Ident, Tok::Str, Tok::Eof]);
        assert_eq!(
            kinds("t'2016-01-01T00:00:00.5Z'"),
            vec![Tok::Timestamp, Tok::Eof]
        );
        assert_eq!(
            kinds("<> <= /* x */ // y"),
            vec![Tok::Neq, Tok::Le, Tok::Eof]
        );
        assert_eq!(kinds("'a\\'b'"), vec![Tok::Str, Tok::Eof]);
        assert_eq!(kinds("@"), vec![Tok::Invalid, Tok::Eof]);
    }
}
