//! The pattern AST and its canonical printer.
//!
//! Parentheses are not kept: the printer adds exactly those the precedence rules need
//! (`FOLLOWEDBY` < `OR` < `AND` < qualifiers), so printing and re-parsing gives the same tree.

use std::fmt::{self, Write};

/// A byte range in the pattern text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// Span from byte offsets (saturating at `u32::MAX`; patterns are length-bounded).
    pub fn new(start: usize, end: usize) -> Self {
        let c = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Span {
            start: c(start),
            end: c(end),
        }
    }
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// The top observation expression.
    pub expr: ObsExpr,
}

/// Observation expressions (outside square brackets).
#[derive(Debug, Clone, PartialEq)]
pub enum ObsExpr {
    /// `[ comparison ]`
    Simple {
        /// The bracketed comparison expression.
        comp: CompExpr,
        /// Source of `[` … `]`.
        span: Span,
    },
    /// `a AND b`
    And(Box<ObsExpr>, Box<ObsExpr>),
    /// `a OR b`
    Or(Box<ObsExpr>, Box<ObsExpr>),
    /// `a FOLLOWEDBY b`
    FollowedBy(Box<ObsExpr>, Box<ObsExpr>),
    /// `a WITHIN n SECONDS`
    Within {
        /// Qualified expression.
        expr: Box<ObsExpr>,
        /// Window length.
        seconds: Number,
        /// Source of the qualifier.
        span: Span,
    },
    /// `a START t'…' STOP t'…'`
    StartStop {
        /// Qualified expression.
        expr: Box<ObsExpr>,
        /// Start (a timestamp literal; STIX 2.0 also allows a plain string).
        start: Literal,
        /// Stop (exclusive).
        stop: Literal,
        /// Source of the qualifier.
        span: Span,
    },
    /// `a REPEATS n TIMES`
    Repeats {
        /// Qualified expression.
        expr: Box<ObsExpr>,
        /// Repeat count.
        times: u64,
        /// Source of the qualifier.
        span: Span,
    },
}

/// A positive number in a `WITHIN` qualifier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// Integer seconds.
    Int(u64),
    /// Fractional seconds.
    Float(f64),
}

impl Number {
    /// The value as f64.
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// Comparison expressions (inside square brackets).
#[derive(Debug, Clone, PartialEq)]
pub enum CompExpr {
    /// `a AND b`: both on the same root object.
    And(Box<CompExpr>, Box<CompExpr>),
    /// `a OR b`
    Or(Box<CompExpr>, Box<CompExpr>),
    /// One property test.
    Test(PropTest),
}

/// `object-type:path [NOT] op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct PropTest {
    /// Path selecting values.
    pub path: ObjectPath,
    /// `NOT` before the operator.
    pub negated: bool,
    /// Operator and operand.
    pub op: Op,
    /// Source of the whole test.
    pub span: Span,
}

/// Comparison operators with their operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `=`
    Eq(Literal),
    /// `!=`
    Ne(Literal),
    /// `<`
    Lt(Literal),
    /// `<=`
    Le(Literal),
    /// `>`
    Gt(Literal),
    /// `>=`
    Ge(Literal),
    /// `IN (…)`
    In(Vec<Literal>),
    /// `LIKE '…'`
    Like(String),
    /// `MATCHES '…'`
    Matches(String),
    /// `ISSUBSET '…'`
    IsSubset(String),
    /// `ISSUPERSET '…'`
    IsSuperset(String),
    /// `EXISTS` (written before the path; STIX 2.1)
    Exists,
}

/// `type:first.step[0]…`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectPath {
    /// The object type (`ipv4-addr`).
    pub object_type: String,
    /// Steps; the first is always a key.
    pub steps: Vec<PathStep>,
}

/// One step of an object path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    /// `.key` or `.'quoted key'`
    Key(String),
    /// `[n]`
    Index(i64),
    /// `[*]`
    Star,
}

/// Literal operands.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// String (unescaped).
    Str(String),
    /// `true` / `false`
    Bool(bool),
    /// `b'…'` decoded.
    Binary(Vec<u8>),
    /// `h'…'` decoded.
    Hex(Vec<u8>),
    /// `t'…'` text between the quotes.
    Timestamp(String),
}

impl Pattern {
    /// A copy with every span zeroed, for comparing trees regardless of source positions.
    pub fn without_spans(&self) -> Pattern {
        Pattern {
            expr: self.expr.without_spans(),
        }
    }

    /// Iterates over all property tests, left to right.
    pub fn tests(&self) -> Vec<&PropTest> {
        let mut out = Vec::new();
        self.expr.collect_tests(&mut out);
        out
    }
}

impl ObsExpr {
    /// Its brackets' comparison expressions, left to right.
    pub(crate) fn brackets<'a>(&'a self, out: &mut Vec<&'a CompExpr>) {
        match self {
            ObsExpr::Simple { comp, .. } => out.push(comp),
            ObsExpr::And(l, r) | ObsExpr::Or(l, r) | ObsExpr::FollowedBy(l, r) => {
                l.brackets(out);
                r.brackets(out);
            }
            ObsExpr::Within { expr, .. }
            | ObsExpr::StartStop { expr, .. }
            | ObsExpr::Repeats { expr, .. } => expr.brackets(out),
        }
    }

    fn without_spans(&self) -> ObsExpr {
        let b = |e: &ObsExpr| Box::new(e.without_spans());
        match self {
            ObsExpr::Simple { comp, .. } => ObsExpr::Simple {
                comp: comp.without_spans(),
                span: Span::default(),
            },
            ObsExpr::And(l, r) => ObsExpr::And(b(l), b(r)),
            ObsExpr::Or(l, r) => ObsExpr::Or(b(l), b(r)),
            ObsExpr::FollowedBy(l, r) => ObsExpr::FollowedBy(b(l), b(r)),
            ObsExpr::Within { expr, seconds, .. } => ObsExpr::Within {
                expr: b(expr),
                seconds: *seconds,
                span: Span::default(),
            },
            ObsExpr::StartStop {
                expr, start, stop, ..
            } => ObsExpr::StartStop {
                expr: b(expr),
                start: start.clone(),
                stop: stop.clone(),
                span: Span::default(),
            },
            ObsExpr::Repeats { expr, times, .. } => ObsExpr::Repeats {
                expr: b(expr),
                times: *times,
                span: Span::default(),
            },
        }
    }

    fn collect_tests<'a>(&'a self, out: &mut Vec<&'a PropTest>) {
        match self {
            ObsExpr::Simple { comp, .. } => comp.collect_tests(out),
            ObsExpr::And(l, r) | ObsExpr::Or(l, r) | ObsExpr::FollowedBy(l, r) => {
                l.collect_tests(out);
                r.collect_tests(out);
            }
            ObsExpr::Within { expr, .. }
            | ObsExpr::StartStop { expr, .. }
            | ObsExpr::Repeats { expr, .. } => expr.collect_tests(out),
        }
    }

    /// Binding precedence: 0 FOLLOWEDBY, 1 OR, 2 AND, 3 qualified/simple.
    fn prec(&self) -> u8 {
        match self {
            ObsExpr::FollowedBy(..) => 0,
            ObsExpr::Or(..) => 1,
            ObsExpr::And(..) => 2,
            _ => 3,
        }
    }
}

impl CompExpr {
    fn without_spans(&self) -> CompExpr {
        match self {
            CompExpr::And(l, r) => {
                CompExpr::And(Box::new(l.without_spans()), Box::new(r.without_spans()))
            }
            CompExpr::Or(l, r) => {
                CompExpr::Or(Box::new(l.without_spans()), Box::new(r.without_spans()))
            }
            CompExpr::Test(t) => CompExpr::Test(PropTest {
                span: Span::default(),
                ..t.clone()
            }),
        }
    }

    fn collect_tests<'a>(&'a self, out: &mut Vec<&'a PropTest>) {
        match self {
            CompExpr::And(l, r) | CompExpr::Or(l, r) => {
                l.collect_tests(out);
                r.collect_tests(out);
            }
            CompExpr::Test(t) => out.push(t),
        }
    }

    fn prec(&self) -> u8 {
        match self {
            CompExpr::Or(..) => 0,
            CompExpr::And(..) => 1,
            CompExpr::Test(_) => 2,
        }
    }
}

/// Writes `s` as a pattern string literal body (escaping `'` and `\`).
pub(crate) fn quote(s: &str, out: &mut impl Write) -> fmt::Result {
    out.write_char('\'')?;
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.write_char('\\')?;
        }
        out.write_char(c)?;
    }
    out.write_char('\'')
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut s = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= n {
                s.push(char::from(B64[((v >> (18 - 6 * k)) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn float_text(f: f64) -> String {
    let mut s = format!("{f}");
    if !s.contains('.') {
        s.push_str(".0");
    }
    s
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => f.write_str(&float_text(*x)),
            Literal::Str(s) => quote(s, f),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Binary(b) => write!(f, "b'{}'", base64_encode(b)),
            Literal::Hex(b) => {
                f.write_str("h'")?;
                for x in b {
                    write!(f, "{x:02x}")?;
                }
                f.write_char('\'')
            }
            Literal::Timestamp(t) => write!(f, "t'{t}'"),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => f.write_str(&float_text(*x)),
        }
    }
}

fn is_plain_key(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !matches!(
            k,
            "AND"
                | "OR"
                | "NOT"
                | "FOLLOWEDBY"
                | "LIKE"
                | "MATCHES"
                | "ISSUPERSET"
                | "ISSUBSET"
                | "EXISTS"
                | "LAST"
                | "IN"
                | "START"
                | "STOP"
                | "SECONDS"
                | "WITHIN"
                | "REPEATS"
                | "TIMES"
                | "true"
                | "false"
        )
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.object_type)?;
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Key(k) => {
                    if i > 0 {
                        f.write_char('.')?;
                    }
                    if is_plain_key(k) {
                        f.write_str(k)?;
                    } else {
                        quote(k, f)?;
                    }
                }
                PathStep::Index(n) => write!(f, "[{n}]")?,
                PathStep::Star => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for PropTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Op::Exists = self.op {
            return write!(f, "EXISTS {}", self.path);
        }
        write!(f, "{} ", self.path)?;
        if self.negated {
            f.write_str("NOT ")?;
        }
        match &self.op {
            Op::Eq(l) => write!(f, "= {l}"),
            Op::Ne(l) => write!(f, "!= {l}"),
            Op::Lt(l) => write!(f, "< {l}"),
            Op::Le(l) => write!(f, "<= {l}"),
            Op::Gt(l) => write!(f, "> {l}"),
            Op::Ge(l) => write!(f, ">= {l}"),
            Op::In(items) => {
                f.write_str("IN (")?;
                for (i, l) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{l}")?;
                }
                f.write_char(')')
            }
            Op::Like(s) => {
                f.write_str("LIKE ")?;
                quote(s, f)
            }
            Op::Matches(s) => {
                f.write_str("MATCHES ")?;
                quote(s, f)
            }
            Op::IsSubset(s) => {
                f.write_str("ISSUBSET ")?;
                quote(s, f)
            }
            Op::IsSuperset(s) => {
                f.write_str("ISSUPERSET ")?;
                quote(s, f)
            }
            Op::Exists => Ok(()),
        }
    }
}

fn write_comp(c: &CompExpr, min: u8, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let paren = c.prec() < min;
    if paren {
        f.write_char('(')?;
    }
    match c {
        CompExpr::Or(l, r) => {
            write_comp(l, 0, f)?;
            f.write_str(" OR ")?;
            write_comp(r, 1, f)?;
        }
        CompExpr::And(l, r) => {
            write_comp(l, 1, f)?;
            f.write_str(" AND ")?;
            write_comp(r, 2, f)?;
        }
        CompExpr::Test(t) => write!(f, "{t}")?,
    }
    if paren {
        f.write_char(')')?;
    }
    Ok(())
}

fn write_obs(e: &ObsExpr, min: u8, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let paren = e.prec() < min;
    if paren {
        f.write_char('(')?;
    }
    match e {
        ObsExpr::Simple { comp, .. } => {
            f.write_char('[')?;
            write_comp(comp, 0, f)?;
            f.write_char(']')?;
        }
        ObsExpr::FollowedBy(l, r) => {
            write_obs(l, 0, f)?;
            f.write_str(" FOLLOWEDBY ")?;
            write_obs(r, 1, f)?;
        }
        ObsExpr::Or(l, r) => {
            write_obs(l, 1, f)?;
            f.write_str(" OR ")?;
            write_obs(r, 2, f)?;
        }
        ObsExpr::And(l, r) => {
            write_obs(l, 2, f)?;
            f.write_str(" AND ")?;
            write_obs(r, 3, f)?;
        }
        ObsExpr::Within { expr, seconds, .. } => {
            write_qualified(expr, f)?;
            write!(f, " WITHIN {seconds} SECONDS")?;
        }
        ObsExpr::StartStop {
            expr, start, stop, ..
        } => {
            write_qualified(expr, f)?;
            write!(f, " START {start} STOP {stop}")?;
        }
        ObsExpr::Repeats { expr, times, .. } => {
            write_qualified(expr, f)?;
            write!(f, " REPEATS {times} TIMES")?;
        }
    }
    if paren {
        f.write_char(')')?;
    }
    Ok(())
}

/// The operand of a qualifier: a bracket as is, anything else in parentheses (so chained
/// qualifiers never count as duplicates on one observation expression).
fn write_qualified(e: &ObsExpr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if let ObsExpr::Simple { .. } = e {
        write_obs(e, 3, f)
    } else {
        f.write_char('(')?;
        write_obs(e, 0, f)?;
        f.write_char(')')
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_obs(&self.expr, 0, f)
    }
}

impl fmt::Display for CompExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_comp(self, 0, f)
    }
}
