//! Evaluation with `stix2-matcher` 3.0.0 semantics.
//!
//! Comparison expressions select, per observation, the set of root objects satisfying
//! them. Observation expressions then enumerate *bindings* (tuples of observation
//! instances, one instance per `number_observed`) lazily, in the reference's order, so the
//! first binding found is the one the reference reports.

use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::OnceLock;

use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

use crate::ast::*;
use crate::observe::ObservationSet;
use crate::options::{Canonical, MatchOptions};
use crate::value::{self, parse_timestamp};
use crate::{MatchError, StixVersion};

fn err(msg: impl Into<String>) -> MatchError {
    MatchError(msg.into())
}

/// A value selected by an object path.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    /// Straight from the JSON.
    J(&'a Value),
    /// Decoded from a `*_hex` / `*_bin` property.
    Bytes(Rc<[u8]>),
    /// A dereferenced `*_refs` list.
    List(Rc<[Val<'a>]>),
}

/// Per observation (in the reference's dict order), the matching root objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompResult {
    /// `(observation index, sorted root indices)`.
    pub entries: Vec<(u32, Vec<u32>)>,
}

impl CompResult {
    /// Records that root `r` of observation `o` matched. Callers visit observations in order
    /// and each observation's roots in ascending order, so appending keeps `entries` sorted;
    /// a repeat of the last root is dropped.
    pub(crate) fn push(&mut self, o: u32, r: u32) {
        match self.entries.last_mut() {
            Some((lo, roots)) if *lo == o => {
                if roots.last() != Some(&r) {
                    roots.push(r);
                }
            }
            _ => self.entries.push((o, vec![r])),
        }
    }

    fn and(self, other: CompResult) -> CompResult {
        let idx: HashMap<u32, &Vec<u32>> = other.entries.iter().map(|(o, r)| (*o, r)).collect();
        let entries = self
            .entries
            .into_iter()
            .filter_map(|(o, roots)| {
                let other = idx.get(&o)?;
                let both: Vec<u32> = roots.into_iter().filter(|r| other.contains(r)).collect();
                (!both.is_empty()).then_some((o, both))
            })
            .collect();
        CompResult { entries }
    }

    fn or(mut self, other: CompResult) -> CompResult {
        let mut idx: HashMap<u32, usize> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, (o, _))| (*o, i))
            .collect();
        for (o, roots) in other.entries {
            match idx.get(&o) {
                Some(&i) => {
                    let r = &mut self.entries[i].1;
                    r.extend(roots);
                    r.sort_unstable();
                    r.dedup();
                }
                None => {
                    idx.insert(o, self.entries.len());
                    self.entries.push((o, roots));
                }
            }
        }
        self
    }
}

/// Steps into the values selected so far (one root object's worth).
pub(crate) fn step_values<'a>(
    set: &ObservationSet<'a>,
    obs: usize,
    vals: Vec<Val<'a>>,
    step: &PathStep,
) -> Result<Vec<Val<'a>>, MatchError> {
    let mut out = Vec::new();
    match step {
        PathStep::Key(k) => {
            for v in &vals {
                if let Val::J(Value::Object(m)) = v
                    && let Some(x) = m.get(k.as_str())
                {
                    out.push(suffixed(k, x)?);
                }
            }
            if k.ends_with("_ref") {
                let mut deref = Vec::new();
                for v in &out {
                    match v {
                        Val::J(Value::String(id)) => {
                            let mut objs = Vec::new();
                            set.deref(obs, id, &mut objs);
                            deref.extend(objs.into_iter().map(Val::J));
                        }
                        _ => {
                            return Err(err(format!(
                                "The value of reference property '{k}' was not a string!"
                            )));
                        }
                    }
                }
                out = deref;
            } else if k.ends_with("_refs") {
                let mut deref = Vec::new();
                for v in &out {
                    let Val::J(Value::Array(ids)) = v else {
                        return Err(err(format!(
                            "The value of reference list property '{k}' was not a list!"
                        )));
                    };
                    let mut objs = Vec::new();
                    for id in ids {
                        let Some(id) = id.as_str() else {
                            return Err(err(format!(
                                "A value of reference property '{k}' was not a string!"
                            )));
                        };
                        set.deref(obs, id, &mut objs);
                    }
                    if !objs.is_empty() {
                        deref.push(Val::List(objs.into_iter().map(Val::J).collect()));
                    }
                }
                out = deref;
            }
        }
        PathStep::Index(i) => {
            if let Ok(i) = usize::try_from(*i) {
                for v in &vals {
                    match v {
                        Val::J(Value::Array(a)) => {
                            if let Some(x) = a.get(i) {
                                out.push(Val::J(x));
                            }
                        }
                        Val::List(l) => {
                            if let Some(x) = l.get(i) {
                                out.push(x.clone());
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        PathStep::Star => {
            for v in &vals {
                match v {
                    Val::J(Value::Array(a)) => out.extend(a.iter().map(Val::J)),
                    Val::List(l) => out.extend(l.iter().cloned()),
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

fn suffixed<'a>(key: &str, v: &'a Value) -> Result<Val<'a>, MatchError> {
    if key.ends_with("_hex") {
        let s = v
            .as_str()
            .ok_or_else(|| err(format!("{key}: not a string")))?;
        let b = value::hex_decode(s).ok_or_else(|| err(format!("{key}: invalid hex")))?;
        Ok(Val::Bytes(b.into()))
    } else if key.ends_with("_bin") {
        let s = v
            .as_str()
            .ok_or_else(|| err(format!("{key}: not a string")))?;
        let b = value::base64_decode(s).ok_or_else(|| err(format!("{key}: invalid base64")))?;
        Ok(Val::Bytes(b.into()))
    } else {
        Ok(Val::J(v))
    }
}

/// Values the path selects from one root object.
pub(crate) fn select<'a>(
    set: &ObservationSet<'a>,
    obs: usize,
    root: &'a Value,
    steps: &[PathStep],
) -> Result<Vec<Val<'a>>, MatchError> {
    let mut vals = vec![Val::J(root)];
    for s in steps {
        vals = step_values(set, obs, vals, s)?;
        if vals.is_empty() {
            break;
        }
    }
    Ok(vals)
}

/// Whether the reference looks at objects of this type at all.
/// In 2.1 the reference never matches the predefined types that are not SCOs (SDOs, SROs, meta
/// objects and `bundle`).
pub(crate) fn type_matchable(version: StixVersion, t: &str) -> bool {
    use detente_stix::Category;
    version != StixVersion::V21
        || !(t == "bundle"
            || matches!(
                detente_stix::category(t),
                Category::Sdo | Category::Sro | Category::Meta
            ))
}

/// A literal converted to the reference's Python value.
#[derive(Debug, Clone, PartialEq)]
enum Py {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Bytes(Vec<u8>),
    Time(i64),
}

fn py_literal(l: &Literal) -> Result<Py, MatchError> {
    Ok(match l {
        Literal::Int(i) => Py::Int(*i),
        Literal::Float(f) => Py::Float(*f),
        Literal::Str(s) => Py::Str(s.clone()),
        Literal::Bool(b) => Py::Bool(*b),
        Literal::Binary(b) | Literal::Hex(b) => Py::Bytes(b.clone()),
        Literal::Timestamp(t) => Py::Time(
            parse_timestamp(t).ok_or_else(|| err(format!("Invalid TimestampLiteral: t'{t}'")))?,
        ),
    })
}

/// A JSON/derived value seen as a Python value (`None` for null, lists, dicts).
fn py_value(v: &Val<'_>) -> Option<Py> {
    match v {
        Val::J(Value::Bool(b)) => Some(Py::Bool(*b)),
        Val::J(Value::Number(n)) => Some(match n.as_i64() {
            Some(i) => Py::Int(i),
            None => Py::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Val::J(Value::String(s)) => Some(Py::Str(s.clone())),
        Val::Bytes(b) => Some(Py::Bytes(b.to_vec())),
        _ => None,
    }
}

fn latin1(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

fn num(p: &Py) -> Option<f64> {
    match p {
        Py::Int(i) => Some(*i as f64),
        Py::Float(f) => Some(*f),
        _ => None,
    }
}

/// The reference's `_COMPARE_EQ_FUNCS`; `None` when the types are not comparable.
fn py_eq(a: &Py, b: &Py) -> Option<bool> {
    use Py::*;
    Some(match (a, b) {
        (Int(x), Int(y)) => x == y,
        (Int(_) | Float(_), Int(_) | Float(_)) => num(a) == num(b),
        (Bytes(x), Bytes(y)) => x == y,
        (Bytes(x), Str(s)) | (Str(s), Bytes(x)) => latin1(s).is_some_and(|b| &b == x),
        (Str(x), Str(y)) => x == y,
        (Bool(x), Bool(y)) => x == y,
        (Time(x), Time(y)) => x == y,
        _ => return None,
    })
}

/// The reference's `_COMPARE_ORDER_FUNCS`: `None` not comparable, `Some(None)` the
/// "string not convertible to bytes" case (result false).
fn py_cmp(a: &Py, b: &Py) -> Option<Option<std::cmp::Ordering>> {
    use Py::*;
    Some(match (a, b) {
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Int(_) | Float(_), Int(_) | Float(_)) => {
            num(a).and_then(|x| num(b).and_then(|y| x.partial_cmp(&y)))
        }
        (Bytes(x), Bytes(y)) => Some(x.cmp(y)),
        (Bytes(x), Str(s)) => latin1(s).map(|b| x.as_slice().cmp(b.as_slice())),
        (Str(s), Bytes(x)) => latin1(s).map(|b| b.as_slice().cmp(x.as_slice())),
        (Str(x), Str(y)) => Some(x.cmp(y)),
        (Time(x), Time(y)) => Some(x.cmp(y)),
        _ => return None,
    })
}

/// Python's `==` as used by `value in set` (bool and numbers compare by value).
fn py_set_eq(a: &Py, b: &Py) -> bool {
    use Py::*;
    let n = |p: &Py| match p {
        Bool(b) => Some(f64::from(u8::from(*b))),
        Int(i) => Some(*i as f64),
        Float(f) => Some(*f),
        _ => None,
    };
    match (a, b) {
        (Str(x), Str(y)) => x == y,
        (Bytes(x), Bytes(y)) => x == y,
        (Time(x), Time(y)) => x == y,
        (Int(x), Int(y)) => x == y,
        _ => matches!((n(a), n(b)), (Some(x), Some(y)) if x == y),
    }
}

fn nfc(s: &str) -> std::borrow::Cow<'_, str> {
    if s.is_ascii() {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.nfc().collect())
    }
}

/// A property test prepared for evaluation (literals converted, regexes compiled).
#[derive(Debug)]
enum Pred {
    Eq(Py, bool),
    /// `=` (or `!=`, with `true`) on an observable path, compared in canonical form.
    Canon(Box<Canonical>, bool),
    Order(Py, fn(std::cmp::Ordering) -> bool),
    /// `IN`: items compared exactly, and items compared in canonical form.
    In(Vec<Py>, Vec<Canonical>),
    Like {
        like: value::LikePattern,
        bin_ok: bool,
    },
    Matches(Box<LazyRegex>),
    Subset(String),
    Superset(String),
    Exists,
}

/// A MATCHES regex, compiled on first use (text and bytes flavours).
#[derive(Debug)]
struct LazyRegex {
    src: String,
    text: OnceLock<Option<fancy_regex::Regex>>,
    bin: OnceLock<Option<regex::bytes::Regex>>,
}

/// A prepared property test: what to select and how to test it.
#[derive(Debug)]
pub struct PreparedTest {
    pub(crate) path: ObjectPath,
    pub(crate) negated: bool,
    pred: Pred,
}

impl PreparedTest {
    /// Converts literals and compiles regexes; errors here are the reference's eager errors.
    pub fn new(t: &PropTest) -> Result<PreparedTest, MatchError> {
        PreparedTest::with_options(t, &MatchOptions::STRICT)
    }

    /// [`PreparedTest::new`] with `=`, `!=` and `IN` on observable paths as `opts` say.
    pub fn with_options(t: &PropTest, opts: &MatchOptions) -> Result<PreparedTest, MatchError> {
        let canon = |l: &Literal| match l {
            Literal::Str(s) => opts.canonical(&t.path, s),
            _ => None,
        };
        let mut path = t.path.clone();
        let mut canonical = |l: &Literal, neq: bool| {
            canon(l).map(|c| {
                path.object_type.clone_from(&c.object_type);
                Pred::Canon(Box::new(c), neq)
            })
        };
        let pred = match &t.op {
            Op::Eq(l) => match canonical(l, false) {
                Some(p) => p,
                None => Pred::Eq(py_literal(l)?, false),
            },
            Op::Ne(l) => match canonical(l, true) {
                Some(p) => p,
                None => Pred::Eq(py_literal(l)?, true),
            },
            Op::Lt(l) => Pred::Order(py_literal(l)?, |o| o.is_lt()),
            Op::Le(l) => Pred::Order(py_literal(l)?, |o| o.is_le()),
            Op::Gt(l) => Pred::Order(py_literal(l)?, |o| o.is_gt()),
            Op::Ge(l) => Pred::Order(py_literal(l)?, |o| o.is_ge()),
            Op::In(items) => {
                let vals = items
                    .iter()
                    .map(py_literal)
                    .collect::<Result<Vec<_>, _>>()?;
                let numeric = |p: &Py| matches!(p, Py::Int(_) | Py::Float(_));
                let same = vals
                    .windows(2)
                    .all(|w| std::mem::discriminant(&w[0]) == std::mem::discriminant(&w[1]));
                if !same && !vals.iter().all(numeric) {
                    return Err(err("Nonhomogenous set"));
                }
                let (exact, canonical): (Vec<_>, Vec<_>) = items
                    .iter()
                    .zip(vals)
                    .map(|(l, v)| canon(l).ok_or(v))
                    .partition(Result::is_err);
                Pred::In(
                    exact.into_iter().filter_map(Result::err).collect(),
                    canonical.into_iter().filter_map(Result::ok).collect(),
                )
            }
            Op::Like(s) => {
                let s = nfc(s);
                Pred::Like {
                    like: value::LikePattern::new(&s),
                    bin_ok: s.chars().all(|c| u32::from(c) < 256),
                }
            }
            Op::Matches(s) => {
                let s = nfc(s).into_owned();
                // Syntax is checked now (the reference fails on a bad regex whatever the
                // data); compiling waits for the first value that needs it.
                if fancy_regex::Expr::parse_tree(&value::translate_python_regex(&s)).is_err() {
                    return Err(err(format!("invalid regular expression: {s}")));
                }
                Pred::Matches(Box::new(LazyRegex {
                    src: s,
                    text: OnceLock::new(),
                    bin: OnceLock::new(),
                }))
            }
            Op::IsSubset(s) => Pred::Subset(s.clone()),
            Op::IsSuperset(s) => Pred::Superset(s.clone()),
            Op::Exists => Pred::Exists,
        };
        Ok(PreparedTest {
            path,
            negated: t.negated,
            pred,
        })
    }

    /// Tests one selected value.
    pub(crate) fn test(&self, v: &Val<'_>) -> Result<bool, MatchError> {
        let r = match &self.pred {
            Pred::Eq(lit, neq) => {
                let mut pv = py_value(v);
                if let (Py::Time(_), Some(Py::Str(s))) = (lit, &pv) {
                    pv =
                        Some(Py::Time(parse_timestamp(s).ok_or_else(|| {
                            err(format!("Invalid timestamp in JSON: {s}"))
                        })?));
                }
                let eq = pv.and_then(|p| py_eq(&p, lit)).unwrap_or(false);
                eq != *neq
            }
            Pred::Order(lit, f) => {
                let mut pv = py_value(v);
                if let (Py::Time(_), Some(Py::Str(s))) = (lit, &pv) {
                    pv =
                        Some(Py::Time(parse_timestamp(s).ok_or_else(|| {
                            err(format!("Invalid timestamp in JSON: {s}"))
                        })?));
                }
                match pv.and_then(|p| py_cmp(&p, lit)) {
                    None => return Ok(false), // not comparable: false even under NOT
                    Some(None) => false,
                    Some(Some(o)) => f(o),
                }
            }
            Pred::Canon(c, neq) => {
                let eq = matches!(v, Val::J(Value::String(s)) if c.matches(s));
                eq != *neq
            }
            Pred::In(set, canonical) => {
                let mut pv = py_value(v);
                if let (Some(Py::Time(_)), Some(Py::Str(s))) = (set.first(), &pv) {
                    pv =
                        Some(Py::Time(parse_timestamp(s).ok_or_else(|| {
                            err(format!("Invalid timestamp in JSON: {s}"))
                        })?));
                }
                pv.is_some_and(|p| set.iter().any(|x| py_set_eq(&p, x)))
                    || matches!(v, Val::J(Value::String(s)) if canonical.iter().any(|c| c.matches(s)))
            }
            Pred::Like { like, bin_ok } => match v {
                Val::J(Value::String(s)) => like.is_match(&nfc(s)),
                Val::Bytes(b) if *bin_ok => {
                    let s = std::str::from_utf8(b).map_err(|_| err("LIKE: bytes are not UTF-8"))?;
                    like.is_match(&nfc(s))
                }
                _ => false,
            },
            Pred::Matches(lr) => match v {
                Val::J(Value::String(s)) => {
                    let re = lr
                        .text
                        .get_or_init(|| value::compile_text_regex(&lr.src))
                        .as_ref()
                        .ok_or_else(|| err(format!("invalid regular expression: {}", lr.src)))?;
                    re.is_match(&nfc(s)).unwrap_or(false)
                }
                Val::Bytes(b) => lr
                    .bin
                    .get_or_init(|| {
                        if lr.src.chars().all(|c| u32::from(c) < 256) {
                            value::compile_bytes_regex(&lr.src)
                        } else {
                            None
                        }
                    })
                    .as_ref()
                    .is_some_and(|r| r.is_match(b)),
                _ => false,
            },
            Pred::Subset(net) => match v {
                Val::J(Value::String(s)) => value::ip_in_subnet(s, net).ok_or_else(|| {
                    err(format!("Invalid IPv4 address or CIDR subnet: {s} / {net}"))
                })?,
                _ => false,
            },
            Pred::Superset(ip) => match v {
                Val::J(Value::String(s)) => value::ip_in_subnet(ip, s).ok_or_else(|| {
                    err(format!("Invalid IPv4 address or CIDR subnet: {ip} / {s}"))
                })?,
                _ => false,
            },
            Pred::Exists => return Ok(true),
        };
        Ok(r != self.negated)
    }

    /// Does any of one root's selected values pass? (Stops at the first that does.)
    pub(crate) fn any(&self, vals: &[Val<'_>]) -> Result<bool, MatchError> {
        for v in vals {
            if self.test(v)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Evaluates the test against every observation by scanning.
    pub fn scan(&self, set: &ObservationSet<'_>) -> Result<CompResult, MatchError> {
        let mut entries = Vec::new();
        if !type_matchable(set.version, &self.path.object_type) {
            return Ok(CompResult { entries });
        }
        for (oi, o) in set.observations.iter().enumerate() {
            let mut roots = Vec::new();
            for (ri, (_, root)) in o.roots.iter().enumerate() {
                if root.get("type").and_then(Value::as_str) != Some(self.path.object_type.as_str())
                {
                    continue;
                }
                let vals = select(set, oi, root, &self.path.steps)?;
                if !vals.is_empty() && self.any(&vals)? {
                    roots.push(ri as u32);
                }
            }
            if !roots.is_empty() {
                entries.push((oi as u32, roots));
            }
        }
        Ok(CompResult { entries })
    }
}

/// Combines per-test results through the comparison expression (tests numbered left to right).
pub(crate) fn combine(c: &CompExpr, results: &mut dyn Iterator<Item = CompResult>) -> CompResult {
    match c {
        CompExpr::Test(_) => results.next().unwrap_or_default(),
        CompExpr::And(l, r) => {
            let a = combine(l, results);
            let b = combine(r, results);
            a.and(b)
        }
        CompExpr::Or(l, r) => {
            let a = combine(l, results);
            let b = combine(r, results);
            a.or(b)
        }
    }
}

/// One observation instance: (observation index, instance number < number_observed).
pub type Inst = (u32, u32);
/// A binding: the instances bound to the pattern's observation expressions.
pub type Binding = Vec<Inst>;

fn disjoint(a: &[Inst], b: &[Inst]) -> bool {
    a.iter().all(|x| !b.contains(x))
}

fn concat(a: &[Inst], b: &[Inst]) -> Binding {
    let mut v = Vec::with_capacity(a.len() + b.len());
    v.extend_from_slice(a);
    v.extend_from_slice(b);
    v
}

type Bindings<'s> = Box<dyn Iterator<Item = Binding> + 's>;

/// Most binding-search steps one evaluation may take; pathological patterns (huge
/// `number_observed` with joins that never succeed, deep REPEATS) stop with an error
/// instead of running for hours as the reference would.
pub const MAX_STEPS: u64 = 10_000_000;

/// Shared step counter of one evaluation.
#[derive(Clone, Default)]
struct Budget(Rc<std::cell::Cell<u64>>);

impl Budget {
    /// Counts one step; false once the budget is spent.
    fn step(&self) -> bool {
        self.spend(1)
    }
    /// Counts `n` units of work (comparisons); false once the budget is spent.
    fn spend(&self, n: usize) -> bool {
        let t = self.0.get().saturating_add(n as u64);
        self.0.set(t);
        t <= MAX_STEPS
    }
    fn exhausted(&self) -> bool {
        self.0.get() > MAX_STEPS
    }
}

#[derive(Clone, Copy)]
struct Times<'s> {
    set: &'s ObservationSet<'s>,
}

impl Times<'_> {
    fn first(&self, i: Inst) -> i64 {
        self.set.observations[i.0 as usize].first
    }
    fn last(&self, i: Inst) -> i64 {
        self.set.observations[i.0 as usize].last
    }
}

/// AND / FOLLOWEDBY join of two binding streams, interleaved like the reference.
struct Join<'s> {
    l: Bindings<'s>,
    r: Bindings<'s>,
    lc: Vec<Binding>,
    rc: Vec<Binding>,
    nl: Option<Binding>,
    nr: Option<Binding>,
    started: bool,
    right_turn: bool,
    queue: VecDeque<Binding>,
    followed: Option<Times<'s>>,
    budget: Budget,
}

impl Join<'_> {
    fn ok(&self, l: &[Inst], r: &[Inst]) -> bool {
        if !disjoint(l, r) {
            return false;
        }
        match self.followed {
            None => true,
            Some(t) => {
                let lf = l.iter().map(|i| t.first(*i)).max();
                let rl = r.iter().map(|i| t.last(*i)).min();
                lf <= rl
            }
        }
    }
}

impl Iterator for Join<'_> {
    type Item = Binding;
    fn next(&mut self) -> Option<Binding> {
        loop {
            if let Some(b) = self.queue.pop_front() {
                return Some(b);
            }
            if !self.started {
                self.started = true;
                self.nr = self.r.next();
                self.nl = self.l.next();
                if self.nr.is_none() || self.nl.is_none() {
                    self.nr = None;
                    self.nl = None;
                }
            }
            let work = self.lc.len().max(self.rc.len()) + 1;
            if (self.nr.is_none() && self.nl.is_none()) || !self.budget.spend(work) {
                return None;
            }
            if self.right_turn {
                self.right_turn = false;
                if let Some(nr) = self.nr.take() {
                    let found: Vec<Binding> = self
                        .lc
                        .iter()
                        .filter(|l| self.ok(l, &nr))
                        .map(|l| concat(l, &nr))
                        .collect();
                    self.queue.extend(found);
                    self.rc.push(nr);
                    self.nr = self.r.next();
                }
            } else {
                self.right_turn = true;
                if let Some(nl) = self.nl.take() {
                    let found: Vec<Binding> = self
                        .rc
                        .iter()
                        .filter(|r| self.ok(&nl, r))
                        .map(|r| concat(&nl, r))
                        .collect();
                    self.queue.extend(found);
                    self.lc.push(nl);
                    self.nl = self.l.next();
                }
            }
        }
    }
}

/// Observation-level OR: alternate between the sides' bindings.
struct Alternate<'s> {
    l: Bindings<'s>,
    r: Bindings<'s>,
    nl: Option<Binding>,
    nr: Option<Binding>,
    started: bool,
    left_turn: bool,
}

impl Iterator for Alternate<'_> {
    type Item = Binding;
    fn next(&mut self) -> Option<Binding> {
        if !self.started {
            self.started = true;
            self.nl = self.l.next();
            self.nr = self.r.next();
        }
        loop {
            if self.nl.is_none() && self.nr.is_none() {
                return None;
            }
            if self.left_turn {
                self.left_turn = false;
                if let Some(b) = self.nl.take() {
                    self.nl = self.l.next();
                    return Some(b);
                }
            } else {
                self.left_turn = true;
                if let Some(b) = self.nr.take() {
                    self.nr = self.r.next();
                    return Some(b);
                }
            }
        }
    }
}

/// Upper bound on how many pairwise-disjoint bindings `values` can supply.
fn bound_largest_combination(values: &[Binding]) -> usize {
    let Some(max) = values.iter().map(Vec::len).max() else {
        return 0;
    };
    if max == 0 {
        return 0;
    }
    let mut by_size: Vec<HashSet<Inst>> = vec![HashSet::new(); max + 1];
    for v in values {
        by_size[v.len()].extend(v.iter().copied());
    }
    let mut consumed: HashSet<Inst> = HashSet::new();
    let mut size = 0;
    for (i, set) in by_size.iter().enumerate().take(max).skip(1) {
        let avail: Vec<Inst> = set.difference(&consumed).copied().collect();
        size += avail.len().div_ceil(i);
        consumed.extend(avail);
    }
    size += by_size[max].difference(&consumed).count() / max;
    size
}

/// `k`-combinations of pairwise-disjoint bindings from a list, in lexicographic order.
struct ListCombos {
    stack: Vec<(Rc<Vec<Binding>>, usize, usize)>,
    prefix: Vec<Binding>,
    budget: Budget,
}

impl ListCombos {
    fn new(list: Vec<Binding>, k: usize, budget: Budget) -> ListCombos {
        let mut stack = Vec::new();
        if k == 1 || bound_largest_combination(&list) >= k {
            stack.push((Rc::new(list), 0, k));
        }
        ListCombos {
            stack,
            prefix: Vec::new(),
            budget,
        }
    }
}

impl Iterator for ListCombos {
    type Item = Binding;
    fn next(&mut self) -> Option<Binding> {
        loop {
            if !self.budget.step() {
                return None;
            }
            let depth = self.stack.len();
            let (list, i, k) = self.stack.last_mut()?;
            let (k, len) = (*k, list.len());
            if k == 1 {
                if *i < len {
                    let v = &list[*i];
                    *i += 1;
                    let mut out: Binding = self.prefix.iter().flatten().copied().collect();
                    out.extend_from_slice(v);
                    return Some(out);
                }
            } else if *i + k <= len {
                if !self.budget.spend(len) {
                    return None;
                }
                let head = list[*i].clone();
                *i += 1;
                let filtered: Vec<Binding> = list[*i..]
                    .iter()
                    .filter(|c| disjoint(&head, c))
                    .cloned()
                    .collect();
                if k - 1 > 1 && bound_largest_combination(&filtered) < k - 1 {
                    continue;
                }
                self.prefix.push(head);
                self.stack.push((Rc::new(filtered), 0, k - 1));
                continue;
            }
            self.stack.pop();
            if depth > 1 {
                self.prefix.pop();
            }
        }
    }
}

/// REPEATS: `k`-combinations of pairwise-disjoint bindings from a stream.
struct StreamCombos<'s> {
    src: Bindings<'s>,
    k: usize,
    generated: Vec<Binding>,
    primed: bool,
    cur: Option<(ListCombos, Binding)>,
    budget: Budget,
}

impl Iterator for StreamCombos<'_> {
    type Item = Binding;
    fn next(&mut self) -> Option<Binding> {
        if !self.primed {
            self.primed = true;
            for _ in 0..self.k - 1 {
                // Stored bindings cost memory, not just time: charge them extra.
                if !self.budget.spend(16) {
                    return None;
                }
                match self.src.next() {
                    Some(b) => self.generated.push(b),
                    None => break,
                }
            }
        }
        loop {
            if let Some((lc, v)) = &mut self.cur {
                if let Some(mut sub) = lc.next() {
                    sub.extend_from_slice(v);
                    return Some(sub);
                }
                let v = std::mem::take(v);
                self.generated.push(v);
                self.cur = None;
            }
            let v = self.src.next()?;
            if !self.budget.spend(self.generated.len()) {
                return None;
            }
            let filtered: Vec<Binding> = self
                .generated
                .iter()
                .filter(|c| disjoint(c, &v))
                .cloned()
                .collect();
            self.cur = Some((
                ListCombos::new(filtered, self.k - 1, self.budget.clone()),
                v,
            ));
        }
    }
}

/// Qualifier parameters converted eagerly (the reference raises these while walking).
pub(crate) fn check_qualifiers(e: &ObsExpr) -> Result<(), MatchError> {
    match e {
        ObsExpr::Simple { .. } => Ok(()),
        ObsExpr::And(l, r) | ObsExpr::Or(l, r) | ObsExpr::FollowedBy(l, r) => {
            check_qualifiers(l)?;
            check_qualifiers(r)
        }
        ObsExpr::Within { expr, seconds, .. } => {
            check_qualifiers(expr)?;
            if seconds.as_f64() <= 0.0 {
                return Err(err(format!(
                    "Invalid WITHIN value (must be positive): {seconds}"
                )));
            }
            Ok(())
        }
        ObsExpr::Repeats { expr, times, .. } => {
            check_qualifiers(expr)?;
            if *times < 1 {
                return Err(err(format!("Invalid repetition count: {times}")));
            }
            Ok(())
        }
        ObsExpr::StartStop {
            expr, start, stop, ..
        } => {
            check_qualifiers(expr)?;
            qual_time(start)?;
            qual_time(stop)?;
            Ok(())
        }
    }
}

fn qual_time(l: &Literal) -> Result<i64, MatchError> {
    match l {
        Literal::Timestamp(s) | Literal::Str(s) => {
            parse_timestamp(s).ok_or_else(|| err(format!("Invalid timestamp: {s}")))
        }
        _ => Err(err("START/STOP needs a timestamp")),
    }
}

/// The longest time, in microseconds, between the earliest and the latest observation of any
/// binding of `e` when every observation is a point in time (`first == last`, as log records
/// are); `None` when nothing bounds it (`AND`, `FOLLOWEDBY` or `REPEATS` without `WITHIN`).
/// A stream evaluator whose window is at least this long misses no binding.
pub fn binding_span(e: &ObsExpr) -> Option<i64> {
    match e {
        ObsExpr::Simple { .. } => Some(0),
        ObsExpr::Or(l, r) => Some(binding_span(l)?.max(binding_span(r)?)),
        ObsExpr::And(..) | ObsExpr::FollowedBy(..) => None,
        ObsExpr::Repeats { expr, times, .. } => {
            if *times <= 1 {
                binding_span(expr)
            } else {
                None
            }
        }
        ObsExpr::Within { expr, seconds, .. } => {
            let dur = (seconds.as_f64() * 1e6).round() as i64;
            Some(binding_span(expr).map_or(dur, |s| s.min(dur)).max(0))
        }
        ObsExpr::StartStop {
            expr, start, stop, ..
        } => {
            let (Ok(start), Ok(stop)) = (qual_time(start), qual_time(stop)) else {
                return Some(0);
            };
            let span = stop.saturating_sub(start).max(0);
            Some(binding_span(expr).map_or(span, |s| s.min(span)))
        }
    }
}

fn bindings<'s>(
    e: &'s ObsExpr,
    set: &'s ObservationSet<'s>,
    simple: &mut dyn Iterator<Item = CompResult>,
    budget: &Budget,
) -> Bindings<'s> {
    let times = Times { set };
    match e {
        ObsExpr::Simple { .. } => {
            let r = simple.next().unwrap_or_default();
            let budget = budget.clone();
            Box::new(
                r.entries
                    .into_iter()
                    .flat_map(move |(o, _)| {
                        let n = set.observations[o as usize]
                            .number_observed
                            .min(u64::from(u32::MAX));
                        (0..n).map(move |i| vec![(o, i as u32)])
                    })
                    .take_while(move |_| budget.step()),
            )
        }
        ObsExpr::And(l, r) | ObsExpr::FollowedBy(l, r) => {
            let lb = bindings(l, set, simple, budget);
            let rb = bindings(r, set, simple, budget);
            Box::new(Join {
                l: lb,
                r: rb,
                lc: Vec::new(),
                rc: Vec::new(),
                nl: None,
                nr: None,
                started: false,
                right_turn: true,
                queue: VecDeque::new(),
                followed: matches!(e, ObsExpr::FollowedBy(..)).then_some(times),
                budget: budget.clone(),
            })
        }
        ObsExpr::Or(l, r) => {
            let lb = bindings(l, set, simple, budget);
            let rb = bindings(r, set, simple, budget);
            Box::new(Alternate {
                l: lb,
                r: rb,
                nl: None,
                nr: None,
                started: false,
                left_turn: true,
            })
        }
        ObsExpr::Within { expr, seconds, .. } => {
            let inner = bindings(expr, set, simple, budget);
            let dur = (seconds.as_f64() * 1e6).round() as i64;
            Box::new(inner.filter(move |b| {
                let Some(earliest_last) = b.iter().map(|i| times.last(*i)).min() else {
                    return true;
                };
                let end = earliest_last.saturating_add(dur);
                b.iter()
                    .all(|i| times.first(*i) <= end && earliest_last <= times.last(*i))
            }))
        }
        ObsExpr::StartStop {
            expr, start, stop, ..
        } => {
            let inner = bindings(expr, set, simple, budget);
            let (Ok(start), Ok(stop)) = (qual_time(start), qual_time(stop)) else {
                return Box::new(std::iter::empty());
            };
            if start >= stop {
                return Box::new(std::iter::empty());
            }
            Box::new(inner.filter(move |b| {
                b.iter().all(|i| {
                    let (f, l) = (times.first(*i), times.last(*i));
                    stop != f && (l == start || (f <= stop && start <= l))
                })
            }))
        }
        ObsExpr::Repeats { expr, times: k, .. } => {
            let inner = bindings(expr, set, simple, budget);
            let k = usize::try_from(*k).unwrap_or(usize::MAX);
            if k <= 1 {
                inner
            } else {
                Box::new(StreamCombos {
                    src: inner,
                    k,
                    generated: Vec::new(),
                    primed: false,
                    cur: None,
                    budget: budget.clone(),
                })
            }
        }
    }
}

/// Result of matching one pattern: the observations of the first binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchOutcome {
    /// Sorted observation indices of the first binding (empty: no match).
    pub observations: Vec<usize>,
}

impl MatchOutcome {
    /// Did the pattern match?
    pub fn matched(&self) -> bool {
        !self.observations.is_empty()
    }
}

/// Runs the observation-level part given each bracket's comparison result (left to right).
pub(crate) fn finish(
    p: &Pattern,
    set: &ObservationSet<'_>,
    simple: Vec<CompResult>,
) -> Result<MatchOutcome, MatchError> {
    let mut it = simple.into_iter();
    let budget = Budget::default();
    let mut all = bindings(&p.expr, set, &mut it, &budget);
    let first = all.next();
    if first.is_none() && budget.exhausted() {
        return Err(err(format!(
            "evaluation stopped after {MAX_STEPS} units of binding work"
        )));
    }
    let mut observations: Vec<usize> = match first {
        // The reference reports an observation only through its first instance.
        Some(b) => b
            .iter()
            .filter(|i| i.1 == 0)
            .map(|i| i.0 as usize)
            .collect(),
        None => Vec::new(),
    };
    observations.sort_unstable();
    observations.dedup();
    Ok(MatchOutcome { observations })
}

/// Evaluates `p` against `set`, the one-pattern way (every test scans the set).
pub fn evaluate(p: &Pattern, set: &ObservationSet<'_>) -> Result<MatchOutcome, MatchError> {
    evaluate_with(p, set, &MatchOptions::STRICT)
}

/// [`evaluate`] with `=`, `!=` and `IN` on observable paths as `opts` say.
pub fn evaluate_with(
    p: &Pattern,
    set: &ObservationSet<'_>,
    opts: &MatchOptions,
) -> Result<MatchOutcome, MatchError> {
    let tests = p.tests();
    let mut results = Vec::with_capacity(tests.len());
    for t in &tests {
        let prepared = PreparedTest::with_options(t, opts)?;
        results.push(prepared.scan(set)?);
    }
    check_qualifiers(&p.expr)?;
    from_test_results(p, set, results)
}

/// Folds per-test results (in [`Pattern::tests`] order) into the pattern's outcome.
pub(crate) fn from_test_results(
    p: &Pattern,
    set: &ObservationSet<'_>,
    results: Vec<CompResult>,
) -> Result<MatchOutcome, MatchError> {
    let mut comps = Vec::new();
    p.expr.brackets(&mut comps);
    let mut it = results.into_iter();
    let simple: Vec<CompResult> = comps.iter().map(|c| combine(c, &mut it)).collect();
    finish(p, set, simple)
}
