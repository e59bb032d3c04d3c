//! Property tests: the validator never panics, timestamps round-trip.

use detente_stix::timestamp::{
    civil_from_days, days_from_civil, days_in_month, format_unix, parse_rfc3339,
};
use detente_stix::{Timestamp, validate_bundle, validate_object};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Arbitrary JSON, biased towards STIX-looking keys and values so that deep checks run.
fn arb_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("type".to_owned()),
        Just("id".to_owned()),
        Just("spec_version".to_owned()),
        Just("created".to_owned()),
        Just("modified".to_owned()),
        Just("object_marking_refs".to_owned()),
        Just("granular_markings".to_owned()),
        Just("selectors".to_owned()),
        Just("marking_ref".to_owned()),
        Just("extensions".to_owned()),
        Just("external_references".to_owned()),
        Just("source_name".to_owned()),
        Just("hashes".to_owned()),
        Just("x_ref".to_owned()),
        Just("x_a_refs".to_owned()),
        "[a-z_]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(json!("indicator")),
        Just(json!("2.1")),
        Just(json!("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")),
        Just(json!(
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
        )),
        Just(json!("2016-04-06T20:03:48.000Z")),
        Just(json!("tlp")),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A valid indicator with one property replaced by arbitrary JSON.
fn mutated_indicator() -> impl Strategy<Value = Value> {
    let props = prop::sample::select(vec![
        "type",
        "id",
        "spec_version",
        "created",
        "modified",
        "pattern",
        "valid_from",
        "object_marking_refs",
        "granular_markings",
        "external_references",
        "extensions",
        "kill_chain_phases",
        "confidence",
        "x_foo_ref",
    ]);
    (props, arb_json()).prop_map(|(p, v)| {
        let mut o = json!({
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z",
            "pattern": "[url:value = 'http://x']", "pattern_type": "stix",
            "valid_from": "2016-01-01T00:00:00Z"
        });
        o[p] = v;
        o
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn validate_never_panics(v in arb_json()) {
        let _ = validate_object(&v);
        let _ = validate_bundle(&v);
    }

    #[test]
    fn mutated_objects_never_panic(v in mutated_indicator()) {
        if let Err(e) = validate_object(&v) {
            // Every refusal names something: a property, or the value as a whole.
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn timestamp_round_trips(
        year in 0u32..=9999, month in 1u32..=12, day in 1u32..=28,
        hour in 0u32..=23, minute in 0u32..=59, second in 0u32..=59,
        frac in prop::option::of("[0-9]{1,12}"),
    ) {
        let text = format!(
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{}Z",
            frac.as_ref().map(|f| format!(".{f}")).unwrap_or_default()
        );
        let t = Timestamp::parse(&text).unwrap();
        prop_assert_eq!(t.to_string(), text.clone());
        prop_assert_eq!(t.as_str(), text.as_str());
        let back: Timestamp = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
        prop_assert_eq!(&back, &t);
        prop_assert_eq!(back.as_str(), text.as_str());
        // The instant agrees with a plain seconds count within the day.
        let day_secs = i128::from(hour * 3600 + minute * 60 + second);
        prop_assert_eq!(t.unix_nanos().rem_euclid(86_400_000_000_000) / 1_000_000_000, day_secs);
    }

    #[test]
    fn timestamp_order_follows_instant(a in 0i64..4_000_000_000, b in 0i64..4_000_000_000) {
        let ta = from_unix(a);
        let tb = from_unix(b);
        prop_assert_eq!(ta.cmp(&tb), a.cmp(&b));
        prop_assert_eq!(ta.unix_nanos(), i128::from(a) * 1_000_000_000);
    }

    #[test]
    fn calendar_round_trips(days in -1_000_000i64..3_000_000) {
        let (y, m, d) = civil_from_days(days);
        prop_assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
        prop_assert_eq!(days_from_civil(y, m, d), days);
    }

    #[test]
    fn rfc3339_formats_and_parses_back(secs in -62_135_596_800i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
        let text = format_unix(secs, nanos, 9);
        let t = parse_rfc3339(&text).unwrap();
        prop_assert_eq!((t.secs, t.nanos, t.utc), (secs, nanos, true));
        // The strict STIX parser agrees on the instant.
        let strict = Timestamp::parse(&text).unwrap();
        prop_assert_eq!(strict.unix_nanos(), i128::from(secs) * 1_000_000_000 + i128::from(nanos));
        // The independent oracle agrees on the calendar.
        if secs >= 0 {
            let oracle = from_unix(secs);
            prop_assert_eq!(&text[..19], &oracle.as_str()[..19]);
        }
    }

    #[test]
    fn rfc3339_offsets_shift_the_instant(secs in 0i64..4_000_000_000, minutes in -1439i64..1440) {
        let base = format_unix(secs, 0, 0);
        let sign = if minutes < 0 { '-' } else { '+' };
        let text = format!("{}{sign}{:02}:{:02}", &base[..19], minutes.abs() / 60, minutes.abs() % 60);
        let t = parse_rfc3339(&text).unwrap();
        prop_assert_eq!(t.secs, secs - minutes * 60);
        prop_assert!(!t.utc);
    }

    #[test]
    fn rfc3339_parse_never_panics(s in ".{0,40}") {
        let _ = parse_rfc3339(&s);
    }

    #[test]
    fn timestamp_parse_never_panics(s in ".{0,40}") {
        let _ = Timestamp::parse(&s);
    }
}

/// Formats seconds since the epoch as a STIX timestamp, independently of the crate
/// (civil-from-days, Hinnant's algorithm).
fn from_unix(secs: i64) -> Timestamp {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let text = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    Timestamp::parse(&text).unwrap()
}
