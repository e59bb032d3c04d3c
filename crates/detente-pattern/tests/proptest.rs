//! Property tests: print/re-parse round trip on generated ASTs, and agreement between the
//! compiled multi-pattern matcher and the one-pattern evaluator.

use detente_pattern::{
    CompExpr, Error, Literal, Matcher, Number, ObjectPath, ObsExpr, ObservationSet, Op, PathStep,
    Pattern, PropTest, Span, StixVersion, evaluate, parse,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn ident() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,6}".prop_filter("not a literal keyword", |s| s != "true" && s != "false")
}

fn object_type() -> impl Strategy<Value = String> {
    prop_oneof![ident(), "[a-z][a-z0-9]{0,4}-[a-z0-9-]{1,5}"]
        .prop_filter("not a literal keyword", |s| s != "true" && s != "false")
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => ident(), 1 => any::<String>(), 1 => Just("AND".to_string())]
}

fn path() -> impl Strategy<Value = ObjectPath> {
    let step = prop_oneof![
        3 => key().prop_map(PathStep::Key),
        1 => (-5i64..100).prop_map(PathStep::Index),
        1 => Just(PathStep::Star),
    ];
    (object_type(), key(), prop::collection::vec(step, 0..4)).prop_map(|(t, first, rest)| {
        let mut steps = vec![PathStep::Key(first)];
        steps.extend(rest);
        ObjectPath {
            object_type: t,
            steps,
        }
    })
}

fn timestamp() -> impl Strategy<Value = String> {
    (
        1000u32..9999,
        1u32..13,
        1u32..29,
        0u32..24,
        0u32..60,
        0u32..60,
        prop::option::of(0u32..1_000_000),
    )
        .prop_map(|(y, mo, d, h, mi, s, f)| match f {
            Some(f) => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{f}Z"),
            None => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        })
}

fn literal(with_bool: bool) -> BoxedStrategy<Literal> {
    let mut s = prop_oneof![
        any::<i64>().prop_map(Literal::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Literal::Float),
        any::<String>().prop_map(Literal::Str),
        prop::collection::vec(any::<u8>(), 1..8).prop_map(Literal::Binary),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Literal::Hex),
        timestamp().prop_map(Literal::Timestamp),
    ]
    .boxed();
    if with_bool {
        s = prop_oneof![5 => s, 1 => any::<bool>().prop_map(Literal::Bool)].boxed();
    }
    s
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        literal(true).prop_map(Op::Eq),
        literal(true).prop_map(Op::Ne),
        literal(false).prop_map(Op::Lt),
        literal(false).prop_map(Op::Le),
        literal(false).prop_map(Op::Gt),
        literal(false).prop_map(Op::Ge),
        prop::collection::vec(literal(true), 0..4).prop_map(Op::In),
        any::<String>().prop_map(Op::Like),
        any::<String>().prop_map(Op::Matches),
        any::<String>().prop_map(Op::IsSubset),
        any::<String>().prop_map(Op::IsSuperset),
        Just(Op::Exists),
    ]
}

fn prop_test() -> impl Strategy<Value = PropTest> {
    (path(), any::<bool>(), op()).prop_map(|(path, negated, op)| PropTest {
        negated: negated && op != Op::Exists,
        path,
        op,
        span: Span::default(),
    })
}

fn comp() -> impl Strategy<Value = CompExpr> {
    prop_test()
        .prop_map(CompExpr::Test)
        .prop_recursive(3, 12, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| CompExpr::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| CompExpr::Or(Box::new(a), Box::new(b))),
            ]
        })
}

fn obs() -> impl Strategy<Value = ObsExpr> {
    comp()
        .prop_map(|comp| ObsExpr::Simple {
            comp,
            span: Span::default(),
        })
        .prop_recursive(4, 16, 2, |inner| {
            let b = |e: ObsExpr| Box::new(e);
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(move |(x, y)| ObsExpr::And(b(x), b(y))),
                (inner.clone(), inner.clone()).prop_map(move |(x, y)| ObsExpr::Or(b(x), b(y))),
                (inner.clone(), inner.clone())
                    .prop_map(move |(x, y)| ObsExpr::FollowedBy(b(x), b(y))),
                (
                    inner.clone(),
                    prop_oneof![
                        (0u64..100_000).prop_map(Number::Int),
                        (0.0f64..1e6).prop_map(Number::Float)
                    ]
                )
                    .prop_map(move |(x, seconds)| ObsExpr::Within {
                        expr: b(x),
                        seconds,
                        span: Span::default()
                    }),
                (inner.clone(), 0u64..1000).prop_map(move |(x, times)| ObsExpr::Repeats {
                    expr: b(x),
                    times,
                    span: Span::default()
                }),
                (inner, timestamp(), timestamp()).prop_map(move |(x, s, t)| ObsExpr::StartStop {
                    expr: b(x),
                    start: Literal::Timestamp(s),
                    stop: Literal::Timestamp(t),
                    span: Span::default()
                }),
            ]
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn print_reparse_round_trip(expr in obs()) {
        let p = Pattern { expr };
        let text = p.to_string();
        let back = parse(&text, StixVersion::V21)
            .unwrap_or_else(|e| panic!("printed pattern does not parse: {e}\n{text}"));
        prop_assert_eq!(back.without_spans(), p);
        // Printing is canonical: a second round gives the same text.
        prop_assert_eq!(back.to_string(), text);
    }
}

const TYPES: [&str; 3] = ["ipv4-addr", "domain-name", "file"];
const VALUES: [&str; 6] = [
    "10.0.0.1",
    "10.0.0.2",
    "198.51.100.7",
    "evil.example",
    "a.evil.example",
    "x.exe",
];

fn observations() -> impl Strategy<Value = Value> {
    let sco = (0usize..3, 0usize..6, 0u64..5000);
    let od = (
        prop::collection::vec(sco, 1..3),
        0i64..3600,
        0i64..600,
        1u64..3,
    );
    prop::collection::vec(od, 1..7).prop_map(|ods| {
        let mut bundles = Vec::new();
        for (i, (scos, start, len, n)) in ods.into_iter().enumerate() {
            let ts = |s: i64| format!("2024-06-01T{:02}:{:02}:{:02}Z", s / 3600, (s / 60) % 60, s % 60);
            let mut objects = Vec::new();
            let mut refs = Vec::new();
            for (j, (t, v, size)) in scos.into_iter().enumerate() {
                let id = format!("{}--{i}-{j}", TYPES[t]);
                refs.push(id.clone());
                let mut o = json!({"type": TYPES[t], "id": id, "value": VALUES[v], "name": VALUES[v], "size": size});
                if t == 1 {
                    o["resolves_to_refs"] = json!([format!("{}--{i}-0", TYPES[0])]);
                }
                objects.push(o);
            }
            let mut all = vec![json!({
                "type": "observed-data", "id": format!("observed-data--{i}"),
                "first_observed": ts(start), "last_observed": ts(start + len),
                "number_observed": n, "object_refs": refs})];
            all.extend(objects);
            bundles.push(json!({"type": "bundle", "id": format!("bundle--{i}"), "objects": all}));
        }
        Value::Array(bundles)
    })
}

fn small_test() -> impl Strategy<Value = String> {
    let t = 0usize..3;
    let v = 0usize..6;
    prop_oneof![
        (t.clone(), v.clone()).prop_map(|(t, v)| format!("{}:value = '{}'", TYPES[t], VALUES[v])),
        (t.clone(), v.clone()).prop_map(|(t, v)| format!("{}:name != '{}'", TYPES[t], VALUES[v])),
        (t.clone(), v.clone())
            .prop_map(|(t, v)| format!("{}:value NOT = '{}'", TYPES[t], VALUES[v])),
        (t.clone(), v.clone()).prop_map(|(t, v)| format!(
            "{}:value LIKE '%{}'",
            TYPES[t],
            &VALUES[v][2..]
        )),
        (t.clone(), v.clone()).prop_map(|(t, v)| format!(
            "{}:value MATCHES '{}$'",
            TYPES[t],
            VALUES[v][1..].replace('.', "\\.")
        )),
        (t.clone(), v.clone(), v.clone()).prop_map(|(t, a, b)| format!(
            "{}:value IN ('{}', '{}')",
            TYPES[t], VALUES[a], VALUES[b]
        )),
        (t.clone(), 0u64..5000).prop_map(|(t, n)| format!("{}:size < {n}", TYPES[t])),
        (0usize..6, any::<bool>()).prop_map(|(n, not)| format!(
            "ipv4-addr:value {}ISSUBSET '{}'",
            if not { "NOT " } else { "" },
            [
                "10.0.0.0/8",
                "10.0.0.2/31",
                "198.51.100.0/24",
                "0.0.0.0/1",
                "10.0.0.1/32",
                "198.51.100.7/32"
            ][n]
        )),
        (0usize..3).prop_map(|n| format!(
            "domain-name:resolves_to_refs[*].value ISSUBSET '{}'",
            ["10.0.0.0/30", "10.0.0.1/32", "198.0.0.0/8"][n]
        )),
        v.clone()
            .prop_map(|v| format!("domain-name:resolves_to_refs[*].value = '{}'", VALUES[v])),
        (t, v).prop_map(|(t, v)| format!(
            "{}:value = '{}' AND {}:size > 100",
            TYPES[t], VALUES[v], TYPES[t]
        )),
    ]
}

fn small_pattern() -> impl Strategy<Value = String> {
    small_test()
        .prop_map(|c| format!("[{c}]"))
        .prop_recursive(3, 8, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} AND {b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} OR {b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} FOLLOWEDBY {b})")),
                (inner.clone(), 1u64..900).prop_map(|(a, n)| format!("({a} WITHIN {n} SECONDS)")),
                (inner, 1u64..4).prop_map(|(a, n)| format!("({a} REPEATS {n} TIMES)")),
            ]
        })
}

fn outcome(r: Result<detente_pattern::MatchOutcome, Error>) -> Result<Vec<usize>, String> {
    r.map(|o| o.observations).map_err(|e| match e {
        Error::Parse(_) => "parse".to_string(),
        Error::Match(_) => "match".to_string(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn compiled_matcher_agrees_with_evaluator(
        data in observations(),
        patterns in prop::collection::vec(small_pattern(), 1..12),
    ) {
        let set = ObservationSet::from_json(&data, StixVersion::V21).unwrap();
        let m = Matcher::compile(&patterns, StixVersion::V21);
        let compiled = m.evaluate(&set);
        let hits: Vec<usize> = m.matches(&set).into_iter().map(|(i, _)| i).collect();
        let want_hits: Vec<usize> = compiled.iter().enumerate()
            .filter(|(i, r)| match r { Ok(o) => o.matched(), Err(_) => m.compile_error(*i).is_none() })
            .map(|(i, _)| i).collect();
        prop_assert_eq!(hits, want_hits);
        for (p, got) in patterns.iter().zip(compiled) {
            let want = parse(p, StixVersion::V21).map_err(Error::from)
                .and_then(|pat| evaluate(&pat, &set).map_err(Error::from));
            prop_assert_eq!(outcome(got), outcome(want), "pattern {}", p);
        }
    }
}

fn patternish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[".to_string()),
        Just("]".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just(" AND ".to_string()),
        Just(" OR ".to_string()),
        Just(" FOLLOWEDBY ".to_string()),
        Just(" NOT ".to_string()),
        Just(" = ".to_string()),
        Just(" != ".to_string()),
        Just(" < ".to_string()),
        Just(" IN ".to_string()),
        Just(" LIKE ".to_string()),
        Just(" MATCHES ".to_string()),
        Just(" ISSUBSET ".to_string()),
        Just(" EXISTS ".to_string()),
        Just(" WITHIN 5 SECONDS".to_string()),
        Just(" REPEATS 3 TIMES".to_string()),
        Just(" START t'2016-01-01T00:00:00Z' STOP t'2017-01-01T00:00:00Z'".to_string()),
        Just("file:name".to_string()),
        Just("ipv4-addr:value".to_string()),
        Just("a:b_refs[*].c".to_string()),
        Just("'x'".to_string()),
        Just("'10.0.0.0/8'".to_string()),
        Just("1".to_string()),
        Just("-2.5".to_string()),
        Just("h'0a'".to_string()),
        Just("b'YQ=='".to_string()),
        Just("true".to_string()),
        Just(",".to_string()),
        Just("t'2016-01-01T00:00:00Z'".to_string()),
        Just("'^a.*$'".to_string()),
        Just("'%a_'".to_string()),
        "[ -~]{0,3}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Parsing, validating and (when it parses) evaluating never panic, and accepted patterns
    /// round-trip through the printer.
    #[test]
    fn parser_and_evaluator_never_panic(text in prop_oneof![patternish(), any::<String>()]) {
        let data = json!([{"type": "bundle", "objects": [
            {"type": "observed-data", "id": "observed-data--1", "number_observed": 3,
             "first_observed": "2016-06-01T00:00:00Z", "last_observed": "2016-06-01T00:01:00Z",
             "object_refs": ["file--1", "ipv4-addr--1"]},
            {"type": "file", "id": "file--1", "name": "x", "size": 1},
            {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "10.1.2.3"}]}]);
        for v in [StixVersion::V20, StixVersion::V21] {
            let _ = detente_pattern::validate(&text, v);
            if let Ok(p) = parse(&text, v) {
                let back = parse(&p.to_string(), v).unwrap();
                prop_assert_eq!(back.without_spans(), p.without_spans());
                if v == StixVersion::V21 {
                    let set = ObservationSet::from_json(&data, v).unwrap();
                    let _ = evaluate(&p, &set);
                }
            }
        }
    }
}
