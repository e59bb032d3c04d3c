//! Recursive-descent parser for the OASIS STIX Patterning grammar (2.0 and 2.1).

use crate::ast::*;
use crate::lexer::{Tok, Token, tokenize};
use crate::{ParseError, StixVersion};

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 1 << 20;
/// Deepest nesting of parentheses and brackets accepted.
pub const MAX_DEPTH: usize = 64;
/// Most binary operators (AND, OR, FOLLOWEDBY) and qualifiers in one pattern; this bounds
/// the depth of the tree that operator chains build.
pub const MAX_OPERATORS: usize = 4096;

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    ops: usize,
    version: StixVersion,
    strict: bool,
}

/// Parses `src` as a STIX pattern of the given version, as `stix2-matcher` does.
pub fn parse(src: &str, version: StixVersion) -> Result<Pattern, ParseError> {
    parse_with(src, version, false)
}

/// Parses `src`; `strict` adds the validator's rule that a qualifier type appears at most
/// once in a chain applied directly to a bracketed expression (STIX 2.1).
pub fn parse_with(src: &str, version: StixVersion, strict: bool) -> Result<Pattern, ParseError> {
    if src.len() > MAX_PATTERN_LEN {
        return Err(ParseError::new(
            src,
            0,
            format!(
                "pattern is {} bytes long; the limit is {MAX_PATTERN_LEN}",
                src.len()
            ),
        ));
    }
    let mut p = Parser {
        src,
        toks: tokenize(src, version),
        pos: 0,
        depth: 0,
        ops: 0,
        version,
        strict,
    };
    let expr = p.obs_followed_by()?;
    if p.peek() != Tok::Eof {
        return Err(p.unexpected("<EOF>"));
    }
    Ok(Pattern { expr })
}

impl Parser<'_> {
    fn peek(&self) -> Tok {
        self.toks[self.pos.min(self.toks.len() - 1)].kind
    }

    fn cur(&self) -> Token {
        self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.cur();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn text(&self, t: Token) -> &str {
        &self.src[t.span.start as usize..t.span.end as usize]
    }

    fn unexpected(&self, expecting: &str) -> ParseError {
        let t = self.cur();
        let found = if t.kind == Tok::Eof {
            "<EOF>".to_string()
        } else {
            format!("'{}'", self.text(t))
        };
        ParseError::new(
            self.src,
            t.span.start as usize,
            format!("mismatched input {found} expecting {expecting}"),
        )
    }

    fn expect(&mut self, kind: Tok, what: &str) -> Result<Token, ParseError> {
        if self.peek() == kind {
            Ok(self.bump())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let t = self.cur();
            return Err(ParseError::new(
                self.src,
                t.span.start as usize,
                format!("pattern nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn count_op(&mut self) -> Result<(), ParseError> {
        self.ops += 1;
        if self.ops > MAX_OPERATORS {
            let t = self.cur();
            return Err(ParseError::new(
                self.src,
                t.span.start as usize,
                format!("pattern has more than {MAX_OPERATORS} operators"),
            ));
        }
        Ok(())
    }

    fn obs_followed_by(&mut self) -> Result<ObsExpr, ParseError> {
        self.enter()?;
        let mut l = self.obs_or()?;
        while self.peek() == Tok::FollowedBy {
            self.count_op()?;
            self.bump();
            let r = self.obs_or()?;
            l = ObsExpr::FollowedBy(Box::new(l), Box::new(r));
        }
        self.depth -= 1;
        Ok(l)
    }

    fn obs_or(&mut self) -> Result<ObsExpr, ParseError> {
        let mut l = self.obs_and()?;
        while self.peek() == Tok::Or {
            self.count_op()?;
            self.bump();
            let r = self.obs_and()?;
            l = ObsExpr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn obs_and(&mut self) -> Result<ObsExpr, ParseError> {
        let mut l = self.obs_qualified()?;
        while self.peek() == Tok::And {
            self.count_op()?;
            self.bump();
            let r = self.obs_qualified()?;
            l = ObsExpr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    /// A primary followed by qualifiers; in 2.1 a qualifier type may appear only once in a
    /// chain applied directly to a bracketed expression.
    fn obs_qualified(&mut self) -> Result<ObsExpr, ParseError> {
        let (mut e, simple) = match self.peek() {
            Tok::LBrack => {
                let open = self.bump();
                self.enter()?;
                let comp = self.comp_or()?;
                self.depth -= 1;
                let close = self.expect(Tok::RBrack, "']'")?;
                (
                    ObsExpr::Simple {
                        comp,
                        span: Span::new(open.span.start as usize, close.span.end as usize),
                    },
                    true,
                )
            }
            Tok::LParen => {
                self.bump();
                let e = self.obs_followed_by()?;
                self.expect(Tok::RParen, "')'")?;
                (e, false)
            }
            _ => return Err(self.unexpected("{'[', '('}")),
        };
        let mut seen = [false; 3];
        loop {
            let start = self.cur().span.start as usize;
            if matches!(self.peek(), Tok::Within | Tok::Repeats | Tok::Start) {
                self.count_op()?;
            }
            let (slot, name) = match self.peek() {
                Tok::Within => {
                    self.bump();
                    let save = self.pos;
                    let t = self.bump();
                    let seconds = match t.kind {
                        Tok::IntPos => Number::Int(self.int_text(t)?.unsigned_abs()),
                        Tok::FloatPos => Number::Float(self.float_text(t)?),
                        _ => {
                            self.pos = save;
                            return Err(self.unexpected("{IntPosLiteral, FloatPosLiteral}"));
                        }
                    };
                    let end = self.expect(Tok::Seconds, "'SECONDS'")?.span.end as usize;
                    e = ObsExpr::Within {
                        expr: Box::new(e),
                        seconds,
                        span: Span::new(start, end),
                    };
                    (0, "WITHIN")
                }
                Tok::Repeats => {
                    self.bump();
                    let t = self.expect(Tok::IntPos, "IntPosLiteral")?;
                    let times = self.int_text(t)?.unsigned_abs();
                    let end = self.expect(Tok::Times, "'TIMES'")?.span.end as usize;
                    e = ObsExpr::Repeats {
                        expr: Box::new(e),
                        times,
                        span: Span::new(start, end),
                    };
                    (1, "REPEATS")
                }
                Tok::Start => {
                    self.bump();
                    let a = self.qual_timestamp()?;
                    self.expect(Tok::Stop, "'STOP'")?;
                    let b = self.qual_timestamp()?;
                    let end = self.toks[self.pos - 1].span.end as usize;
                    e = ObsExpr::StartStop {
                        expr: Box::new(e),
                        start: a,
                        stop: b,
                        span: Span::new(start, end),
                    };
                    (2, "STARTSTOP")
                }
                _ => break,
            };
            if simple && self.strict && self.version == StixVersion::V21 {
                if seen[slot] {
                    return Err(ParseError::new(
                        self.src,
                        start,
                        format!("Duplicate qualifier type encountered: {name}"),
                    ));
                }
                seen[slot] = true;
            }
        }
        Ok(e)
    }

    fn qual_timestamp(&mut self) -> Result<Literal, ParseError> {
        let t = self.cur();
        match t.kind {
            Tok::Timestamp => {
                self.bump();
                let s = self.text(t);
                Ok(Literal::Timestamp(s[2..s.len() - 1].to_string()))
            }
            // STIX 2.0 as the stix2-matcher suites write it: a plain string.
            Tok::Str if self.version == StixVersion::V20 => {
                self.bump();
                Ok(Literal::Str(unescape(self.text(t))))
            }
            _ => Err(self.unexpected("TimestampLiteral")),
        }
    }

    fn comp_or(&mut self) -> Result<CompExpr, ParseError> {
        let mut l = self.comp_and()?;
        while self.peek() == Tok::Or {
            self.count_op()?;
            self.bump();
            let r = self.comp_and()?;
            l = CompExpr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn comp_and(&mut self) -> Result<CompExpr, ParseError> {
        let mut l = self.prop_test()?;
        while self.peek() == Tok::And {
            self.count_op()?;
            self.bump();
            let r = self.prop_test()?;
            l = CompExpr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn prop_test(&mut self) -> Result<CompExpr, ParseError> {
        let start = self.cur().span.start as usize;
        match self.peek() {
            Tok::LParen => {
                self.bump();
                self.enter()?;
                let c = self.comp_or()?;
                self.depth -= 1;
                self.expect(Tok::RParen, "')'")?;
                return Ok(c);
            }
            Tok::Exists => {
                self.bump();
                let path = self.object_path()?;
                let end = self.toks[self.pos - 1].span.end as usize;
                return Ok(CompExpr::Test(PropTest {
                    path,
                    negated: false,
                    op: Op::Exists,
                    span: Span::new(start, end),
                }));
            }
            _ => {}
        }
        let path = self.object_path()?;
        let negated = if self.peek() == Tok::Not {
            self.bump();
            true
        } else {
            false
        };
        let save = self.pos;
        let op_tok = self.bump();
        let op = match op_tok.kind {
            Tok::Eq => Op::Eq(self.literal(true)?),
            Tok::Neq => Op::Ne(self.literal(true)?),
            Tok::Lt => Op::Lt(self.literal(false)?),
            Tok::Le => Op::Le(self.literal(false)?),
            Tok::Gt => Op::Gt(self.literal(false)?),
            Tok::Ge => Op::Ge(self.literal(false)?),
            Tok::In => Op::In(self.set_literal()?),
            Tok::Like => Op::Like(self.string()?),
            Tok::Matches => Op::Matches(self.string()?),
            Tok::IsSubset => Op::IsSubset(self.string()?),
            Tok::IsSuperset => Op::IsSuperset(self.string()?),
            _ => {
                self.pos = save;
                return Err(self.unexpected(
                    "{'NOT', '=', '!=', '<', '<=', '>', '>=', 'IN', 'LIKE', 'MATCHES', 'ISSUBSET', 'ISSUPERSET'}",
                ));
            }
        };
        let end = self.toks[self.pos - 1].span.end as usize;
        Ok(CompExpr::Test(PropTest {
            path,
            negated,
            op,
            span: Span::new(start, end),
        }))
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let t = self.expect(Tok::Str, "StringLiteral")?;
        Ok(unescape(self.text(t)))
    }

    fn object_path(&mut self) -> Result<ObjectPath, ParseError> {
        let t = self.cur();
        let object_type = match t.kind {
            Tok::Ident | Tok::IdentHyphen => {
                self.bump();
                self.text(t).to_string()
            }
            _ => return Err(self.unexpected("{IdentifierWithoutHyphen, IdentifierWithHyphen}")),
        };
        self.expect(Tok::Colon, "':'")?;
        let mut steps = vec![PathStep::Key(self.key()?)];
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.bump();
                    steps.push(PathStep::Key(self.key()?));
                }
                Tok::LBrack => {
                    self.bump();
                    let save = self.pos;
                    let t = self.bump();
                    match t.kind {
                        Tok::Asterisk => steps.push(PathStep::Star),
                        Tok::IntPos | Tok::IntNeg => steps.push(PathStep::Index(self.int_text(t)?)),
                        _ => {
                            self.pos = save;
                            return Err(self.unexpected("{IntPosLiteral, IntNegLiteral, '*'}"));
                        }
                    }
                    self.expect(Tok::RBrack, "']'")?;
                }
                _ => break,
            }
        }
        Ok(ObjectPath { object_type, steps })
    }

    fn key(&mut self) -> Result<String, ParseError> {
        let t = self.cur();
        match t.kind {
            Tok::Ident => {
                self.bump();
                Ok(self.text(t).to_string())
            }
            Tok::Str => {
                self.bump();
                Ok(unescape(self.text(t)))
            }
            _ => Err(self.unexpected("{IdentifierWithoutHyphen, StringLiteral}")),
        }
    }

    fn set_literal(&mut self) -> Result<Vec<Literal>, ParseError> {
        self.expect(Tok::LParen, "'('")?;
        let mut items = Vec::new();
        if self.peek() == Tok::RParen {
            self.bump();
            return Ok(items);
        }
        loop {
            items.push(self.literal(true)?);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => {
                    self.bump();
                    return Ok(items);
                }
                _ => return Err(self.unexpected("{',', ')'}")),
            }
        }
    }

    fn int_text(&self, t: Token) -> Result<i64, ParseError> {
        let s = self.text(t);
        s.trim_start_matches('+').parse::<i64>().map_err(|_| {
            ParseError::new(
                self.src,
                t.span.start as usize,
                format!("integer out of range: {s}"),
            )
        })
    }

    fn float_text(&self, t: Token) -> Result<f64, ParseError> {
        let s = self.text(t);
        let body = s.trim_start_matches('+');
        let norm = if body.starts_with('.') || body.starts_with("-.") {
            body.replacen('.', "0.", 1)
        } else {
            body.to_string()
        };
        norm.parse::<f64>().map_err(|_| {
            ParseError::new(
                self.src,
                t.span.start as usize,
                format!("invalid float: {s}"),
            )
        })
    }

    fn literal(&mut self, allow_bool: bool) -> Result<Literal, ParseError> {
        let t = self.cur();
        let text = self.text(t);
        let lit = match t.kind {
            Tok::IntPos | Tok::IntNeg => Literal::Int(self.int_text(t)?),
            Tok::FloatPos | Tok::FloatNeg => Literal::Float(self.float_text(t)?),
            Tok::Str => Literal::Str(unescape(text)),
            Tok::Bool if allow_bool => Literal::Bool(text == "true"),
            Tok::Binary => {
                let body = &text[2..text.len() - 1];
                Literal::Binary(crate::value::base64_decode(body).ok_or_else(|| {
                    ParseError::new(self.src, t.span.start as usize, "invalid base64".into())
                })?)
            }
            Tok::Hex => {
                let body = &text[2..text.len() - 1];
                Literal::Hex(crate::value::hex_decode(body).ok_or_else(|| {
                    ParseError::new(self.src, t.span.start as usize, "invalid hex".into())
                })?)
            }
            Tok::Timestamp => Literal::Timestamp(text[2..text.len() - 1].to_string()),
            _ => {
                return Err(self.unexpected(if allow_bool {
                    "{IntNegLiteral, IntPosLiteral, FloatNegLiteral, FloatPosLiteral, HexLiteral, BinaryLiteral, StringLiteral, BoolLiteral, TimestampLiteral}"
                } else {
                    "{IntNegLiteral, IntPosLiteral, FloatNegLiteral, FloatPosLiteral, HexLiteral, BinaryLiteral, StringLiteral, TimestampLiteral}"
                }));
            }
        };
        self.bump();
        Ok(lit)
    }
}

/// Strips the quotes of a string literal and resolves `\'` and `\\`.
fn unescape(lit: &str) -> String {
    let body = &lit[1..lit.len() - 1];
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Pattern, ParseError> {
        parse(s, StixVersion::V21)
    }

    #[test]
    fn parses_and_prints() {
        let cases = [
            "[ipv4-addr:value = '1.2.3.4']",
            "[file:hashes.'SHA-256' = 'ab' AND file:size > 5] FOLLOWEDBY [a:b[*].c_refs[0] LIKE 'x%']",
            "([a:b = 1] OR [a:b = 2]) AND [a:c NOT IN (1, 2.5, 'x')] WITHIN 5 SECONDS",
            "[a:b = 1] REPEATS 2 TIMES",
            "[EXISTS a:b]",
            "[a:b = t'2016-01-01T00:00:00Z'] START t'2016-01-01T00:00:00Z' STOP t'2017-01-01T00:00:00Z'",
        ];
        for c in cases {
            let a = p(c).unwrap();
            let printed = a.to_string();
            let b = p(&printed).unwrap();
            assert_eq!(a.without_spans(), b.without_spans(), "{c} -> {printed}");
        }
    }

    #[test]
    fn rejects_with_position() {
        let e = p("[file:size = ]").unwrap_err();
        assert_eq!((e.line, e.column), (1, 13));
        assert!(
            parse_with(
                "[a:b = 1] WITHIN 5 SECONDS WITHIN 6 SECONDS",
                StixVersion::V21,
                true
            )
            .is_err()
        );
        assert!(p("[a:b = 1] WITHIN 5 SECONDS WITHIN 6 SECONDS").is_ok());
        assert!(
            parse(
                "[a:b = 1] WITHIN 5 SECONDS WITHIN 6 SECONDS",
                StixVersion::V20
            )
            .is_ok()
        );
        assert!(p("([a:b = 1] WITHIN 5 SECONDS) WITHIN 6 SECONDS").is_ok());
        assert!(p("[x:a-b = 1]").is_err());
        assert!(p("[a:b = null]").is_err());
        assert!(p("[a:b = 1] and [a:b = 2]").is_err());
        let deep = format!("{}[a:b = 1]{}", "(".repeat(500), ")".repeat(500));
        assert!(p(&deep).is_err());
        let long = vec!["[a:b = 1]"; MAX_OPERATORS + 2].join(" AND ");
        assert!(p(&long).is_err());
        let ok = vec!["[a:b = 1]"; 1000].join(" AND ");
        let parsed = p(&ok).unwrap();
        assert_eq!(
            p(&parsed.to_string()).unwrap().without_spans(),
            parsed.without_spans()
        );
    }
}
