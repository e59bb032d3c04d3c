//! STIX Patterning 2.0 and 2.1: parser, canonical printer, evaluator with the semantics of
//! the OASIS reference (`stix2-matcher` 3.0.0), and a compiled multi-pattern matcher.
//!
//! ```
//! use detente_pattern::{parse, ObservationSet, StixVersion, evaluate};
//! let p = parse("[ipv4-addr:value = '198.51.100.1']", StixVersion::V21).unwrap();
//! let data: serde_json::Value = serde_json::json!([{"type": "bundle", "objects": [
//!     {"type": "observed-data", "id": "observed-data--1", "number_observed": 1,
//!      "first_observed": "2020-01-01T00:00:00Z", "last_observed": "2020-01-01T00:00:00Z",
//!      "object_refs": ["ipv4-addr--1"]},
//!     {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "198.51.100.1"}]}]);
//! let set = ObservationSet::from_json(&data, StixVersion::V21).unwrap();
//! assert_eq!(evaluate(&p, &set).unwrap().observations, vec![0]);
//! ```
//!
//! # API
//!
//! * Text to tree: [`parse`] (as `stix2-matcher` parses) or [`validate`] (as the
//!   `stix2-patterns` validator judges); [`Pattern`] prints back canonically with `Display`.
//!   Errors carry line:column and [`ParseError::caret`].
//! * One pattern: [`evaluate`] a [`Pattern`] over an [`ObservationSet`] (built from the JSON
//!   the reference takes with [`ObservationSet::from_json`], or from SCOs you build yourself
//!   with [`Observation::from_objects`] + [`ObservationSet::from_observations`]). The
//!   outcome lists the observations of the first binding, as the reference returns them.
//! * Many patterns: [`Matcher::compile`] indexes every test (hash maps for string equality
//!   per object path, literal prefilters for LIKE/MATCHES, scans for the rest);
//!   [`Matcher::evaluate`] gives one outcome per pattern, and [`Matcher::matches`] only the
//!   patterns that matched, at a cost proportional to the hits: feed it one set per time
//!   window of a stream. Observation operators and qualifiers bind across the whole set.
//! * What `=` means: strict STIX by default; [`MatchOptions`] (given to [`evaluate_with`] and
//!   [`Matcher::compile_with`]) compare observables in canonical form instead — case of
//!   domains, e-mail addresses and digests, URLs without scheme or default port, addresses
//!   inside a block literal, names below a domain — as a log scanner needs.
//! * Literals as observables: [`observable::comparisons`] gives the canonical values
//!   (`detente-observable`) of a pattern that is only `=` tests on observables joined by `OR`,
//!   the form indexes and PSI sets take patterns in; [`observable::required`] the `=` tests
//!   of which every observation a pattern binds holds one (what selects a log's candidate
//!   records).
//!
//! ```
//! use detente_pattern::{Matcher, Observation, ObservationSet, StixVersion};
//! let m = Matcher::compile(&["[domain-name:value = 'evil.example']",
//!                            "[url:value LIKE 'http%://evil.example/%']"], StixVersion::V21);
//! let sco = serde_json::json!({"type": "domain-name", "id": "domain-name--1",
//!                              "value": "evil.example"});
//! let set = ObservationSet::from_observations(vec![Observation::from_objects(vec![&sco], 0, 0, 1)]);
//! let hits: Vec<usize> = m.matches(&set).into_iter().map(|(i, _)| i).collect();
//! assert_eq!(hits, vec![0]);
//! ```
//!
//! Per-process state: one compiled regex for the reference's timestamp syntax, built on first
//! use; a compiled pattern keeps its own regexes, per pattern.

pub mod ast;
mod eval;
pub mod lexer;
mod matcher;
pub mod observable;
mod observe;
mod options;
mod parser;
pub mod value;

pub use ast::{
    CompExpr, Literal, Number, ObjectPath, ObsExpr, Op, PathStep, Pattern, PropTest, Span,
};
pub use eval::{CompResult, MatchOutcome, PreparedTest, binding_span, evaluate, evaluate_with};
pub use matcher::{Matcher, MatcherStats};
pub use observe::{Observation, ObservationSet};
pub use options::MatchOptions;
pub use parser::{MAX_DEPTH, MAX_OPERATORS, MAX_PATTERN_LEN, parse, parse_with};

use std::fmt;

/// STIX specification version of a pattern and its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StixVersion {
    /// STIX 2.0
    V20,
    /// STIX 2.1
    V21,
}

impl StixVersion {
    /// Parses `"2.0"` / `"2.1"`.
    pub fn from_str_opt(s: &str) -> Option<StixVersion> {
        match s {
            "2.0" => Some(StixVersion::V20),
            "2.1" => Some(StixVersion::V21),
            _ => None,
        }
    }
}

/// A syntax error, with its position (line from 1, column from 0, as ANTLR counts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    /// Line number, from 1.
    pub line: usize,
    /// Column in characters, from 0.
    pub column: usize,
    /// Byte offset in the pattern.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// The source line holding the error, for [`ParseError::caret`].
    pub source_line: String,
}

impl ParseError {
    pub(crate) fn new(src: &str, offset: usize, message: String) -> ParseError {
        let offset = offset.min(src.len());
        let before = &src[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = src[line_start..offset].chars().count();
        let source_line = src[line_start..]
            .split('\n')
            .next()
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_string();
        ParseError {
            line,
            column,
            offset,
            message,
            source_line,
        }
    }

    /// The offending line with a caret under the error column.
    pub fn caret(&self) -> String {
        format!("{}\n{}^", self.source_line, " ".repeat(self.column))
    }
}

/// The pattern could not be evaluated against the data (the reference's `MatcherException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatchError(pub String);

/// Either failure of a one-shot match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Syntax error in the pattern.
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// Evaluation failed.
    #[error("{0}")]
    Match(#[from] MatchError),
}

/// Parses `pattern` and matches it against `observed` (the JSON `stix2matcher.match()` takes).
pub fn match_json(
    pattern: &str,
    observed: &serde_json::Value,
    version: StixVersion,
) -> Result<MatchOutcome, Error> {
    let p = parse(pattern, version)?;
    let set = ObservationSet::from_json(observed, version)?;
    Ok(evaluate(&p, &set)?)
}

/// Validation failures, each a message in the reference validator's style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub Vec<String>);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

/// The hash algorithms the reference validator checks, with the hex length required.
fn hash_ok(kind: &str, value: &str) -> Option<bool> {
    let hex = |n: usize| value.len() == n && value.bytes().all(|c| c.is_ascii_hexdigit());
    Some(match kind {
        "MD5" => hex(32),
        // The reference's MD6 expression accepts anything starting with 32 hex digits.
        "MD6" => value.len() >= 32 && value.as_bytes()[..32].iter().all(u8::is_ascii_hexdigit),
        "RIPEMD160" | "SHA1" => hex(40),
        "SHA224" | "SHA3224" => hex(56),
        "SHA256" | "SHA3256" => hex(64),
        "SHA384" | "SHA3384" => hex(96),
        "SHA512" | "SHA3512" | "WHIRLPOOL" => hex(128),
        "SSDEEP" => {
            (1..=128).contains(&value.len())
                && value
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'+' | b':' | b'.'))
        }
        _ => return None,
    })
}

/// The literal's source text with every `'` removed (what the reference validator checks).
fn unquoted_text(op: &Op) -> Option<String> {
    let s = match op {
        Op::Eq(l) | Op::Ne(l) | Op::Lt(l) | Op::Le(l) | Op::Gt(l) | Op::Ge(l) => l.to_string(),
        Op::In(items) => format!(
            "({})",
            items
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
        Op::Like(s) | Op::Matches(s) | Op::IsSubset(s) | Op::IsSuperset(s) => {
            Literal::Str(s.clone()).to_string()
        }
        Op::Exists => return None,
    };
    Some(s.replace('\'', ""))
}

/// Validates a pattern the way `stix2patterns.validator.run_validator` does: syntax,
/// duplicate qualifiers (2.1), hash values, and the leading-bracket check.
pub fn validate(pattern: &str, version: StixVersion) -> Result<Pattern, Invalid> {
    let mut errors = Vec::new();
    let parsed = parse_with(pattern, version, true);
    let bracket = pattern
        .chars()
        .find(|c| *c != '(' && !c.is_whitespace())
        .is_some_and(|c| c == '[');
    if !bracket {
        errors.push("FAIL: Error found at line 1:0. input is missing square brackets".to_string());
    }
    match parsed {
        Err(e) => {
            if e.message.starts_with("Duplicate qualifier") {
                errors.push(format!("FAIL: {}", e.message));
            } else {
                errors.push(format!(
                    "FAIL: Error found at line {}:{}. {}",
                    e.line, e.column, e.message
                ));
            }
            Err(Invalid(errors))
        }
        Ok(p) => {
            for t in p.tests() {
                let steps = &t.path.steps;
                if !steps.iter().any(|s| *s == PathStep::Key("hashes".into())) {
                    continue;
                }
                let Some(PathStep::Key(sel)) = steps.last() else {
                    continue;
                };
                let kind = sel.to_uppercase().replace(['-', '\''], "");
                if let Some(v) = unquoted_text(&t.op)
                    && hash_ok(&kind, &v) == Some(false)
                {
                    errors.push(format!("FAIL: '{v}' is not a valid {sel} hash"));
                }
            }
            if errors.is_empty() {
                Ok(p)
            } else {
                Err(Invalid(errors))
            }
        }
    }
}
