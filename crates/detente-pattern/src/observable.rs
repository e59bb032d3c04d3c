//! Patterns' literals as observable values (`detente-observable`): which object paths hold which
//! kind of observable, and the patterns that only test observables for equality, `OR`ed
//! together, inside or between brackets (`[domain-name:value = 'evil.com' OR url:value = '…']
//! OR [file:hashes.'SHA-256' = '…']`). Such a pattern matches exactly the records holding one
//! of its values, so its values can stand for it (a scanner's index, a PSI set). Any other
//! pattern may still have [`required`] tests, of which every observation it binds holds one:
//! they select the records worth evaluating it on.

use detente_observable::{Kind, Observable};

use crate::ast::{CompExpr, Literal, ObjectPath, ObsExpr, Op, PathStep, PropTest};
use crate::{StixVersion, parse};

/// Why a literal or a pattern is not a comparison with observables.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotObservable(pub String);

/// One equality test with an observable: the literal as written and its canonical value.
pub type Comparison = (String, Observable);

/// The observable that `path = 'v'` compares with: `v` read as the kind `path` holds
/// ([`Kind::of_stix_path`]). STIX values are exact, so white space around `v` makes it none.
pub fn literal(path: &ObjectPath, v: &str) -> Result<Observable, NotObservable> {
    let mut keys = Vec::with_capacity(path.steps.len());
    for step in &path.steps {
        match step {
            PathStep::Key(k) => keys.push(k.as_str()),
            _ => return Err(NotObservable(format!("object path {path} is not indexed"))),
        }
    }
    let kind = match Kind::of_stix_path(&path.object_type, &keys) {
        Some(kind) => kind,
        None if path.object_type == "file" && keys.len() == 2 && keys[0] == "hashes" => {
            return Err(NotObservable(format!(
                "hash algorithm {} is not indexed",
                keys[1]
            )));
        }
        None => return Err(NotObservable(format!("object path {path} is not indexed"))),
    };
    Observable::parse_as(kind, v)
        .filter(|_| v.trim_ascii() == v)
        .ok_or_else(|| NotObservable(format!("value {v:?} is not a valid {path}")))
}

/// The comparisons of `pattern` when it is only `=` tests with observables joined by `OR`
/// ([`disjunction`]), read without the full parser for the shape nearly every feed uses.
pub fn comparisons(pattern: &str) -> Result<Vec<Comparison>, NotObservable> {
    if let Some(c) = single_test(pattern) {
        return Ok(vec![c]);
    }
    let parsed = parse(pattern, StixVersion::V21)
        .map_err(|e| NotObservable(format!("invalid pattern: {e}")))?;
    disjunction(&parsed.expr)
}

/// `[type:path = 'value']` with no escapes, read without the full parser (which costs as much
/// as the rest of loading a large bundle). `None` leaves anything else, including values that
/// are not the path's kind, to the parser.
pub fn single_test(pattern: &str) -> Option<Comparison> {
    let inner = pattern.strip_prefix('[')?.strip_suffix("']")?;
    // A byte window rather than `split_once(" = '")`, whose substring searcher costs more to
    // set up than these short patterns take to scan.
    let at = inner.as_bytes().windows(4).position(|w| w == b" = '")?;
    let (lhs, value) = (&inner[..at], &inner[at + 4..]);
    if value.bytes().any(|c| c == b'\\' || c == b'\'') {
        return None;
    }
    let (object_type, path) = lhs.split_once(':')?;
    // What `literal` would do for this path, without building (and freeing) an `ObjectPath`;
    // any refusal is left to the parser, which says why.
    let kind = match (object_type, path) {
        ("ipv4-addr" | "ipv6-addr" | "domain-name" | "url" | "email-addr", "value") => {
            Kind::of_stix_path(object_type, &["value"])
        }
        ("file", p) => {
            let algo = p.strip_prefix("hashes.")?;
            let algo = match algo.strip_prefix('\'') {
                Some(q) => q.strip_suffix('\'').filter(|a| {
                    !a.is_empty() && a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                })?,
                None => Some(algo).filter(|a| {
                    a.bytes().next().is_some_and(|c| c.is_ascii_alphabetic())
                        && a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
                })?,
            };
            Kind::of_stix_path("file", &["hashes", algo])
        }
        _ => return None,
    }?;
    let v = Observable::parse_as(kind, value).filter(|_| value.trim_ascii() == value)?;
    Some((value.to_string(), v))
}

/// The comparisons of an observation expression made only of `=` tests with observables
/// ([`literal`]) joined by `OR`, within and between brackets; else why not.
pub fn disjunction(e: &ObsExpr) -> Result<Vec<Comparison>, NotObservable> {
    let mut out = Vec::new();
    obs(e, &mut out)?;
    Ok(out)
}

/// An `=` test of a pattern, with its literal as written and canonical.
pub type Atom<'a> = (&'a PropTest, Comparison);

/// The `=` tests with observables ([`literal`]) of which every observation `e` binds holds
/// one: each bracket's comparison expression has such tests (`a AND b`: those of `a`, else of
/// `b`; `a OR b`: those of both), and every observation of a binding satisfies some bracket.
/// "Holds" is per root object and under the same [`crate::MatchOptions`] the pattern is
/// evaluated with: `AND` and `OR` combine tests' results on one object whatever the options.
/// Else why not (a bracket without such tests, `[a = 'x' OR c LIKE 'y%']`).
pub fn required(e: &ObsExpr) -> Result<Vec<Atom<'_>>, NotObservable> {
    let mut brackets = Vec::new();
    e.brackets(&mut brackets);
    let mut out = Vec::new();
    for c in brackets {
        out.extend(required_in(c).ok_or_else(|| {
            NotObservable(format!(
                "no indexable equality test is in every match of [{c}]"
            ))
        })?);
    }
    Ok(out)
}

/// Tests of which every object satisfying `c` satisfies one, if there are such.
fn required_in(c: &CompExpr) -> Option<Vec<Atom<'_>>> {
    match c {
        CompExpr::Test(t) => match (&t.op, t.negated) {
            (Op::Eq(Literal::Str(v)), false) => {
                Some(vec![(t, (v.clone(), literal(&t.path, v).ok()?))])
            }
            _ => None,
        },
        CompExpr::And(a, b) => required_in(a).or_else(|| required_in(b)),
        CompExpr::Or(a, b) => {
            let mut l = required_in(a)?;
            l.extend(required_in(b)?);
            Some(l)
        }
    }
}

/// Whether `e` is brackets joined by `OR` only: one observation decides it (no `AND` or
/// `FOLLOWEDBY` between observations, no qualifier).
pub fn single_observation(e: &ObsExpr) -> bool {
    match e {
        ObsExpr::Simple { .. } => true,
        ObsExpr::Or(a, b) => single_observation(a) && single_observation(b),
        _ => false,
    }
}

fn obs(e: &ObsExpr, out: &mut Vec<Comparison>) -> Result<(), NotObservable> {
    match e {
        ObsExpr::Simple { comp, .. } => comp_expr(comp, out),
        ObsExpr::Or(a, b) => {
            obs(a, out)?;
            obs(b, out)
        }
        _ => Err(NotObservable(
            "observation operators or qualifiers are not evaluated by the scanner".into(),
        )),
    }
}

fn comp_expr(c: &CompExpr, out: &mut Vec<Comparison>) -> Result<(), NotObservable> {
    match c {
        CompExpr::Or(a, b) => {
            comp_expr(a, out)?;
            comp_expr(b, out)
        }
        CompExpr::And(..) => Err(NotObservable(
            "AND inside an observation is not evaluated".into(),
        )),
        CompExpr::Test(t) => match (&t.op, t.negated) {
            (Op::Eq(Literal::Str(v)), false) => {
                out.push((v.clone(), literal(&t.path, v)?));
                Ok(())
            }
            _ => Err(NotObservable(format!(
                "comparison `{t}` is not an equality test"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use detente_observable::{HashKind, Ip};

    #[test]
    fn disjunctions_of_equality_tests() {
        let sha = "AB".repeat(64);
        let c = comparisons(&format!(
            "[domain-name:value = 'Bücher.example' OR url:value = 'http://x.com/a\\'b#f'] \
             OR [file:hashes.'SHA-512' = '{sha}'] OR [ipv6-addr:value = '::ffff:10.0.0.1']"
        ))
        .unwrap();
        assert_eq!(
            c,
            [
                (
                    "Bücher.example".to_string(),
                    Observable::Domain("xn--bcher-kva.example".into())
                ),
                (
                    "http://x.com/a'b#f".into(),
                    Observable::Url("x.com/a'b".into())
                ),
                (
                    sha.clone(),
                    Observable::Hash(HashKind::Sha512, sha.to_lowercase())
                ),
                (
                    "::ffff:10.0.0.1".into(),
                    Observable::Net(Ip::V4(0x0a000001), 32)
                ),
            ]
        );
        for p in [
            "[ipv4-addr:value != '1.2.3.4']",
            "[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'a.com']",
            "[ipv4-addr:value = '1.2.3.4' AND domain-name:value = 'a.com']",
            "[file:name = 'x.exe']",
            "[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS",
            "[ipv4-addr:value = 'not-an-ip']",
            "[ipv6-addr:value = '1.2.3.4']",
            "[domain-name:value = ' a.com']",
            "[file:hashes.MD5 = 'abcd']",
            "[file:hashes.SSDEEP = 'abcd']",
            "[ipv4-addr:value = '1.2.3.4'",
        ] {
            assert!(comparisons(p).is_err(), "{p}");
        }
    }

    #[test]
    fn shortcut_covers_common_forms() {
        let sha = "AB".repeat(32);
        for p in [
            "[ipv4-addr:value = '10.0.0.0/8']".to_string(),
            "[ipv6-addr:value = '2001:db8::1']".into(),
            "[domain-name:value = 'Evil.COM']".into(),
            "[url:value = 'HTTP://evil.com:80/a?b']".into(),
            "[email-addr:value = 'Bob@evil.com']".into(),
            format!("[file:hashes.'SHA-256' = '{sha}']"),
            "[file:hashes.MD5 = 'D41D8CD98F00B204E9800998ECF8427E']".into(),
        ] {
            let c = single_test(&p).unwrap();
            let parsed = parse(&p, StixVersion::V21).unwrap();
            assert_eq!(disjunction(&parsed.expr), Ok(vec![c]), "{p}");
        }
        for p in [
            "[ipv4-addr:value = 'not-an-ip']",
            "[url:value = 'http://x.com/a\\'b']",
            "[file:hashes.MD5 = 'abcd']",
            "[file:name = 'x.exe']",
        ] {
            assert!(single_test(p).is_none(), "{p}");
        }
    }

    proptest::proptest! {
        #[test]
        fn shortcut_agrees_with_the_parser(
            lhs in "(ipv4-addr|ipv6-addr|domain-name|url|email-addr|file|x-y):(value|hashes\\.('SHA-256'|MD5|'md5'|SHA1|'SHA-512'|'A B'|x))",
            value in "[a-fA-F0-9.:/@x-]{0,70}|[0-9]{1,3}(\\.[0-9]{1,3}){3}(/[0-9]{1,2})?|[a-z]{1,8}\\.(com|co\\.uk)|http://[a-z]{1,5}\\.net/[a-z?=]{0,6}|[a-zü]{1,8}\\.de",
        ) {
            let p = format!("[{lhs} = '{value}']");
            if let Some(c) = single_test(&p) {
                let parsed = parse(&p, StixVersion::V21).ok().map(|p| disjunction(&p.expr));
                proptest::prop_assert_eq!(parsed, Some(Ok(vec![c])));
            }
        }

        #[test]
        fn never_panics(s: String) {
            let _ = comparisons(&s);
        }
    }
}
