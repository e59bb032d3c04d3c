//! Indexable comparisons from STIX patterns, read with the pattern engine's parser
//! (`detente-pattern`): a pattern qualifies when it is an `OR` of `=` tests on the object paths
//! we index (`ipv4-addr:value`, `ipv6-addr:value`, `domain-name:value`, `url:value`,
//! `email-addr:value`, `file:hashes.*`), inside or between brackets; other patterns qualify
//! when they have required tests (`detente_pattern::observable::required`): indexable `=`
//! tests of which every observation they bind holds one.

use detente_pattern::StixVersion;
use detente_pattern::observable::{self, NotObservable};

pub use crate::types::Comparison;
use crate::types::Value;

/// Why a pattern is not a disjunction of equality tests we can index.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotSimple(pub String);

/// How the scanner uses a pattern.
#[derive(Debug, PartialEq)]
pub enum Usable {
    /// Only `=` tests ORed together: each comparison is an ordinary indicator.
    Simple(Vec<Comparison>),
    /// Anything else within one observation: the atoms select candidate records, on which the
    /// pattern engine's compiled matcher then decides.
    Complex(Vec<Comparison>),
    /// Observation operators (`AND`, `FOLLOWEDBY`) or qualifiers (`WITHIN`, `REPEATS`,
    /// `START/STOP`): the atoms select the records that enter the pattern's time window, on
    /// which the pattern engine decides (the scanner's time windows, `detente_scan::window`).
    CrossRecord(Vec<Comparison>),
}

/// Classifies a pattern: simple comparisons, or a complex pattern with selecting atoms.
///
/// A complex or cross-record pattern qualifies when every record each of its brackets can
/// match must contain one of its indexable `=` tests (so scanning for those atoms finds every
/// candidate record).
pub fn classify(pattern: &str, subdomains: bool) -> Result<Usable, NotSimple> {
    if let Some((written, o)) = observable::single_test(pattern) {
        return Ok(Usable::Simple(vec![(written, Value::of(o, subdomains))]));
    }
    classify_parsed(pattern, subdomains)
}

/// [`classify`] through the pattern engine's parser.
fn classify_parsed(pattern: &str, subdomains: bool) -> Result<Usable, NotSimple> {
    let parsed = detente_pattern::parse(pattern, StixVersion::V21)
        .map_err(|e| NotSimple(format!("invalid pattern: {e}")))?;
    let simple = match observable::disjunction(&parsed.expr) {
        Ok(c) => {
            return Ok(Usable::Simple(
                c.into_iter()
                    .map(|(written, o)| (written, Value::of(o, subdomains)))
                    .collect(),
            ));
        }
        Err(NotObservable(why)) => why,
    };
    let atoms = match observable::required(&parsed.expr) {
        Ok(atoms) => atoms
            .into_iter()
            .map(|(_, (written, o))| (written, Value::of(o, subdomains)))
            .collect(),
        // Both readings failed: say why the plain one did too (e.g. a malformed value).
        Err(NotObservable(complex)) => return Err(NotSimple(format!("{simple}; {complex}"))),
    };
    if observable::single_observation(&parsed.expr) {
        Ok(Usable::Complex(atoms))
    } else {
        Ok(Usable::CrossRecord(atoms))
    }
}

/// Whether a (parsable) pattern needs more than one record or the records' times: it has
/// observation operators `AND`/`FOLLOWEDBY` or qualifiers.
pub fn is_cross_record(pattern: &str) -> bool {
    detente_pattern::parse(pattern, StixVersion::V21)
        .is_ok_and(|p| !observable::single_observation(&p.expr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparisons(p: &str, sub: bool) -> Result<Vec<Comparison>, NotSimple> {
        match classify(p, sub)? {
            Usable::Simple(c) => Ok(c),
            Usable::Complex(_) | Usable::CrossRecord(_) => Err(NotSimple("complex".into())),
        }
    }

    #[test]
    fn simple_forms() {
        let c = comparisons("[ipv4-addr:value = '10.0.0.0/8']", true).unwrap();
        assert_eq!(c[0].0, "10.0.0.0/8");
        let sha = "a".repeat(64);
        let p = format!(
            "[domain-name:value = 'A.com' OR url:value = 'http://x.com/a\\'b'] \
             OR [file:hashes.'SHA-256' = '{sha}']"
        );
        let c = comparisons(&p, true).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].1, Value::Domain("a.com".into(), true));
        assert_eq!(c[1].0, "http://x.com/a'b");
        assert_eq!(c[2].1, Value::Hash(sha));
        let c = comparisons(
            "[file:hashes.MD5 = 'D41D8CD98F00B204E9800998ECF8427E']",
            true,
        );
        assert_eq!(
            c.unwrap()[0].1,
            Value::Hash("d41d8cd98f00b204e9800998ecf8427e".into())
        );
    }

    #[test]
    fn says_why_a_pattern_is_not_indexable() {
        // Which patterns are disjunctions is the pattern engine's (tested there); here, that
        // its reasons reach the caller.
        let e = classify("[ipv4-addr:value = '1.2.3.4'", true).unwrap_err();
        assert!(e.0.starts_with("invalid pattern"), "{e}");
        let e = classify("[file:name = 'x.exe']", true).unwrap_err();
        assert!(e.0.contains(';'), "both readings' reasons: {e}");
    }

    #[test]
    fn complex_patterns_keep_their_selecting_atoms() {
        let p = "[ipv4-addr:value = '1.2.3.4' AND domain-name:value = 'a.com'] OR [url:value = 'http://x.com/']";
        let Usable::Complex(atoms) = classify(p, true).unwrap() else {
            panic!()
        };
        assert_eq!(
            atoms.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
            ["1.2.3.4", "http://x.com/"]
        );
        assert!(matches!(
            classify("[ipv4-addr:value = '1.2.3.4']", true),
            Ok(Usable::Simple(_))
        ));
        for p in [
            "[file:name = 'x.exe']",
            "[ipv4-addr:value = '1.2.3.4' OR file:name = 'x']",
            "[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [file:name = 'x.exe']",
        ] {
            assert!(classify(p, true).is_err(), "{p}");
        }
    }

    #[test]
    fn cross_record_patterns_keep_the_atoms_of_every_bracket() {
        for (p, want) in [
            (
                "[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'a.com']",
                vec!["1.2.3.4", "a.com"],
            ),
            (
                "[ipv4-addr:value = '1.2.3.4' AND file:size > 5] REPEATS 2 TIMES",
                vec!["1.2.3.4"],
            ),
            (
                "([domain-name:value = 'a.com'] OR [url:value = 'http://x.com/']) FOLLOWEDBY [ipv4-addr:value = '10.0.0.9'] WITHIN 300 SECONDS",
                vec!["a.com", "http://x.com/", "10.0.0.9"],
            ),
            (
                "[domain-name:value = 'a.com'] START t'2020-01-01T00:00:00Z' STOP t'2020-01-02T00:00:00Z'",
                vec!["a.com"],
            ),
        ] {
            let Ok(Usable::CrossRecord(atoms)) = classify(p, true) else {
                panic!("{p}")
            };
            assert_eq!(atoms.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(), want);
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s: String) {
            let _ = classify(&s, true);
        }
    }
}
