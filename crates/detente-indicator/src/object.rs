//! Reading one STIX object as an indicator source: an `indicator` in force becomes typed
//! values or a pattern with its selecting atoms, a `sighting` marked `x_detente_false_positive`
//! a false-positive report. The scanner reads a bundle's objects one at a time with
//! [`read`] as it parses them; the node reads each stored object with [`read_json`]. Times are
//! judged against [`LoadOptions::now`], which the caller supplies.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};

use crate::stix_pattern::{Usable, classify};
use crate::types::{Indicator, PatternIndicator, Provenance};

/// Reading options.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    /// Current time, seconds since the Unix epoch (for `valid_from`/`valid_until`).
    pub now: i64,
    /// Whether domain indicators also match their subdomains.
    pub subdomains: bool,
}

/// The properties of a STIX object the reading looks at, borrowed from the JSON text where
/// it has no escapes.
#[derive(Deserialize, Debug)]
pub struct StixObject<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pattern: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pattern_type: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    valid_from: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    valid_until: Option<Cow<'a, str>>,
    revoked: Option<bool>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    created_by_ref: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    created: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    modified: Option<Cow<'a, str>>,
    confidence: Option<serde_json::Value>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    sighting_of_ref: Option<Cow<'a, str>>,
    x_detente_false_positive: Option<bool>,
}

/// An optional string borrowed from the input when it has no escapes: serde's `borrow` on an
/// `Option<Cow<str>>` field always copies (six allocations per indicator at load).
fn borrowed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowed<'de>>::deserialize(d)?.map(|b| b.0))
}

/// What one STIX object contributes.
#[derive(Debug)]
pub enum Reading {
    /// Neither an indicator nor a false-positive report.
    NotIndicator,
    /// An indicator with `revoked` true.
    Revoked,
    /// An indicator whose `valid_until` has passed.
    Expired,
    /// An indicator whose `valid_from` is in the future.
    NotYetValid,
    /// An indicator that cannot be used, and why.
    Skipped(String),
    /// The typed values of a pattern that is only `=` tests ORed together.
    Indicators(Vec<Indicator>),
    /// A pattern for the pattern engine.
    Pattern(PatternIndicator),
    /// A false-positive report: (indicator id, reporter).
    FalsePositive(String, String),
}

/// Parses an RFC 3339 timestamp (`2024-09-17T00:00:00.000Z`, offsets allowed) to Unix seconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    detente_stix::timestamp::parse_rfc3339(s)
        .ok()
        .map(|t| t.secs)
}

/// Reads one STIX object from its JSON text.
pub fn read_json(data: &[u8], opts: LoadOptions) -> Result<Reading, serde_json::Error> {
    let obj: StixObject<'_> = serde_json::from_slice(data)?;
    Ok(read(&obj, opts))
}

fn stix_time<'a>(t: &'a Option<Cow<'_, str>>) -> Option<(&'a str, Option<i64>)> {
    t.as_deref().map(|t| (t, parse_timestamp(t)))
}

/// Reads one STIX object.
pub fn read(obj: &StixObject<'_>, opts: LoadOptions) -> Reading {
    // A revoked report is withdrawn.
    if obj.kind == "sighting"
        && obj.x_detente_false_positive == Some(true)
        && obj.revoked != Some(true)
    {
        // The reporter is the sighting's author; an anonymous report counts once per sighting.
        let by = obj.created_by_ref.as_deref().or(obj.id.as_deref());
        if let (Some(of), Some(by)) = (obj.sighting_of_ref.as_deref(), by) {
            return Reading::FalsePositive(of.to_string(), by.to_string());
        }
    }
    if obj.kind != "indicator" {
        return Reading::NotIndicator;
    }
    let id = obj.id.as_deref().unwrap_or("indicator--unknown");
    if obj.revoked == Some(true) {
        return Reading::Revoked;
    }
    match stix_time(&obj.valid_until) {
        Some((_, Some(t))) if t <= opts.now => return Reading::Expired,
        Some((raw, None)) => {
            return Reading::Skipped(format!("{id}: unreadable valid_until {raw:?}"));
        }
        _ => {}
    }
    match stix_time(&obj.valid_from) {
        Some((_, Some(t))) if t > opts.now => return Reading::NotYetValid,
        Some((raw, None)) => {
            return Reading::Skipped(format!("{id}: unreadable valid_from {raw:?}"));
        }
        _ => {}
    }
    let pattern_type = obj.pattern_type.as_deref().unwrap_or("stix");
    let Some(pattern) = obj.pattern.as_deref() else {
        return Reading::Skipped(format!("{id}: no pattern"));
    };
    if pattern_type != "stix" {
        return Reading::Skipped(format!(
            "{id}: pattern_type {pattern_type} is not evaluated"
        ));
    }
    let provenance = Provenance {
        contributor: obj.created_by_ref.as_deref().map(str::to_string),
        // STIX confidence is 0-100; anything else is ignored.
        confidence: obj
            .confidence
            .as_ref()
            .and_then(serde_json::Value::as_u64)
            .and_then(|c| u8::try_from(c).ok())
            .filter(|c| *c <= 100),
        since: [&obj.modified, &obj.created, &obj.valid_from]
            .into_iter()
            .find_map(|t| t.as_deref().and_then(parse_timestamp)),
        valid_until: stix_time(&obj.valid_until).and_then(|(_, t)| t),
        false_positives: 0,
        attested: 0,
    };
    match classify(pattern, opts.subdomains) {
        Ok(Usable::Complex(atoms) | Usable::CrossRecord(atoms)) => {
            Reading::Pattern(PatternIndicator {
                id: id.to_string(),
                pattern: pattern.to_string(),
                atoms,
                provenance,
            })
        }
        Ok(Usable::Simple(list)) => Reading::Indicators(
            list.into_iter()
                .map(|(written, value)| Indicator {
                    id: id.to_string(),
                    written,
                    value,
                    provenance: provenance.clone(),
                })
                .collect(),
        ),
        Err(e) => Reading::Skipped(format!("{id}: {e}: {pattern}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Value;

    const OPTS: LoadOptions = LoadOptions {
        now: 1_800_000_000,
        subdomains: true,
    };

    #[test]
    fn timestamps_in_seconds() {
        // The calendar checks are `detente_stix::timestamp`'s; here, the unit and the offset.
        assert_eq!(
            parse_timestamp("2024-09-17T02:00:00.999+02:00"),
            Some(1_726_531_200)
        );
        assert_eq!(parse_timestamp("2023-02-31T00:00:00Z"), None);
    }

    fn read_str(s: &str) -> Reading {
        read_json(s.as_bytes(), OPTS).unwrap()
    }

    #[test]
    fn indicators_in_force_give_their_values_and_provenance() {
        let r = read_str(
            r#"{"type":"indicator","id":"indicator--1","pattern":"[domain-name:value = 'Evil.com']","pattern_type":"stix","created_by_ref":"identity--a","created":"2024-01-01T00:00:00Z","modified":"2024-09-17T00:00:00Z","confidence":60}"#,
        );
        let Reading::Indicators(list) = r else {
            panic!("{r:?}")
        };
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].value, Value::Domain("evil.com".into(), true));
        assert_eq!(list[0].written, "Evil.com");
        let p = &list[0].provenance;
        assert_eq!(p.contributor.as_deref(), Some("identity--a"));
        assert_eq!((p.confidence, p.since), (Some(60), Some(1_726_531_200)));
        // A confidence outside 0-100 is no base score.
        let Reading::Indicators(list) = read_str(
            r#"{"type":"indicator","id":"indicator--1","pattern":"[ipv4-addr:value = '1.2.3.4']","confidence":101}"#,
        ) else {
            panic!()
        };
        assert_eq!(list[0].provenance.confidence, None);
    }

    #[test]
    fn indicators_out_of_force_and_the_rest() {
        let ind = |extra: &str| {
            read_str(&format!(
                r#"{{"type":"indicator","id":"indicator--1","pattern":"[ipv4-addr:value = '1.2.3.4']"{extra}}}"#
            ))
        };
        assert!(matches!(ind(r#","revoked":true"#), Reading::Revoked));
        assert!(matches!(
            ind(r#","valid_until":"2020-01-01T00:00:00Z""#),
            Reading::Expired
        ));
        assert!(matches!(
            ind(r#","valid_from":"2099-01-01T00:00:00Z""#),
            Reading::NotYetValid
        ));
        assert!(matches!(
            ind(r#","valid_from":"2020-02-31T00:00:00Z""#),
            Reading::Skipped(_)
        ));
        assert!(matches!(
            ind(r#","pattern_type":"sigma""#),
            Reading::Skipped(_)
        ));
        assert!(matches!(
            read_str(
                r#"{"type":"indicator","id":"indicator--2","pattern":"[ipv4-addr:value = '1.2.3.4' AND file:size > 5]"}"#
            ),
            Reading::Pattern(_)
        ));
        assert!(matches!(
            read_str(r#"{"type":"malware","id":"malware--1"}"#),
            Reading::NotIndicator
        ));
        assert!(read_json(b"[]", OPTS).is_err());
    }

    #[test]
    fn false_positive_reports() {
        let report = |extra: &str| {
            read_str(&format!(
                r#"{{"type":"sighting","id":"sighting--1","sighting_of_ref":"indicator--1","x_detente_false_positive":true{extra}}}"#
            ))
        };
        let Reading::FalsePositive(of, by) = report("") else {
            panic!()
        };
        assert_eq!((of.as_str(), by.as_str()), ("indicator--1", "sighting--1"));
        let Reading::FalsePositive(_, by) = report(r#","created_by_ref":"identity--b""#) else {
            panic!()
        };
        assert_eq!(by, "identity--b");
        assert!(matches!(
            report(r#","revoked":true"#),
            Reading::NotIndicator
        ));
    }
}
