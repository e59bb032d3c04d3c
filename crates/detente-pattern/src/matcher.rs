//! Compiled multi-pattern matcher.
//!
//! Every property test of every pattern becomes an *atom*. Atoms are indexed by object path:
//! string equality goes into a hash map per path (one lookup per selected value), LIKE and
//! MATCHES get a literal prefilter (Aho-Corasick over the longest literal each must contain),
//! equality in canonical form ([`MatchOptions`]) a hash map of canonical values per path (a
//! suffix walk for subdomains, one map per prefix length for address blocks), and everything
//! else is evaluated by scanning the objects of its type. Evaluating N
//! patterns over M observations thus costs about one path walk per object and indexed path,
//! plus work proportional to the candidate hits; the observation-level part (AND, OR,
//! FOLLOWEDBY, qualifiers) then runs only for patterns that have hits.

use std::collections::HashMap;

use aho_corasick::AhoCorasick;
use detente_observable::{Ip, Kind, Observable, mask4, mask6};
use serde_json::Value;

use crate::ast::*;
use crate::eval::{
    CompResult, MatchOutcome, PreparedTest, check_qualifiers, from_test_results, select,
    type_matchable,
};
use crate::observe::ObservationSet;
use crate::options::{Canonical, MatchOptions, read};
use crate::{Error, MatchError, StixVersion, parse};

type AtomId = u32;

/// Atom ids sharing one key (most keys have one).
#[derive(Debug)]
enum Ids {
    One(AtomId),
    Many(Vec<AtomId>),
}

impl Ids {
    fn push(&mut self, id: AtomId) {
        match self {
            Ids::One(a) => *self = Ids::Many(vec![*a, id]),
            Ids::Many(v) => v.push(id),
        }
    }
    fn as_slice(&self) -> &[AtomId] {
        match self {
            Ids::One(a) => std::slice::from_ref(a),
            Ids::Many(v) => v,
        }
    }
}

/// Text-search atoms on one path: the prefilter and the atoms it guards.
#[derive(Debug, Default)]
struct TextIndex {
    literals: Vec<String>,
    owners: Vec<AtomId>,
    unfiltered: Vec<AtomId>,
    automaton: Option<AhoCorasick>,
}

#[derive(Debug)]
struct PathIndex {
    path: ObjectPath,
    eq: hashbrown::HashMap<Box<str>, Ids>,
    text: TextIndex,
    cidr: CidrIndex,
    canon: CanonIndex,
}

/// Equality atoms compared in canonical form on one path ([`MatchOptions`]): the kind values
/// are read as, canonical texts (domains, URLs, e-mail addresses, digests) and address blocks
/// per prefix length, masked.
#[derive(Debug, Default)]
struct CanonIndex {
    kind: Option<Kind>,
    subdomains: bool,
    texts: hashbrown::HashMap<Box<str>, Ids>,
    nets: Vec<(u8, hashbrown::HashMap<Ip, Ids>)>,
}

fn push_id<K: std::hash::Hash + Eq>(map: &mut hashbrown::HashMap<K, Ids>, key: K, id: AtomId) {
    match map.get_mut(&key) {
        Some(ids) => ids.push(id),
        None => {
            map.insert(key, Ids::One(id));
        }
    }
}

fn forget_id<K>(map: &mut hashbrown::HashMap<K, Ids>, id: AtomId) {
    map.retain(|_, ids| {
        if let Ids::Many(v) = ids {
            v.retain(|x| *x != id);
        }
        !matches!(ids, Ids::One(x) if *x == id)
    });
}

impl CanonIndex {
    fn is_empty(&self) -> bool {
        self.texts.is_empty() && self.nets.is_empty()
    }

    fn insert(&mut self, c: &Canonical, id: AtomId) {
        self.kind = Some(c.kind);
        self.subdomains = c.subdomains;
        match &c.value {
            Observable::Net(ip, len) => {
                let level = match self.nets.iter().position(|(l, _)| l == len) {
                    Some(i) => i,
                    None => {
                        self.nets.push((*len, hashbrown::HashMap::new()));
                        self.nets.len() - 1
                    }
                };
                push_id(&mut self.nets[level].1, *ip, id);
            }
            other => push_id(&mut self.texts, other.text().into(), id),
        }
    }

    /// Atoms the observed string meets.
    fn lookup(&self, observed: &str, out: &mut Vec<AtomId>) {
        let Some(o) = self.kind.and_then(|k| read(k, observed)) else {
            return;
        };
        match &o {
            Observable::Net(ip, olen) => {
                for (len, map) in &self.nets {
                    if len > olen {
                        continue;
                    }
                    let key = match ip {
                        Ip::V4(a) => Ip::V4(mask4(*a, *len)),
                        Ip::V6(a) => Ip::V6(mask6(*a, *len)),
                    };
                    if let Some(ids) = map.get(&key) {
                        out.extend_from_slice(ids.as_slice());
                    }
                }
            }
            Observable::Domain(d) => {
                if let Some(ids) = self.texts.get(d.as_str()) {
                    out.extend_from_slice(ids.as_slice());
                }
                if self.subdomains {
                    for (i, _) in d.match_indices('.') {
                        if let Some(ids) = self.texts.get(&d[i + 1..]) {
                            out.extend_from_slice(ids.as_slice());
                        }
                    }
                }
            }
            other => {
                if let Some(ids) = self.texts.get(other.text().as_ref()) {
                    out.extend_from_slice(ids.as_slice());
                }
            }
        }
    }
}

/// `ISSUBSET 'net/len'` atoms on one path: a prefix trie stored level by level, one hash
/// map per prefix length in use, keyed by the masked network address.
#[derive(Debug, Default)]
struct CidrIndex {
    levels: Vec<(u32, HashMap<u32, Ids>)>,
    all: Vec<AtomId>,
}

impl CidrIndex {
    fn insert(&mut self, net: u32, prefix: u32, id: AtomId) {
        let key = net & mask(prefix);
        let level = match self.levels.iter().position(|(p, _)| *p == prefix) {
            Some(i) => i,
            None => {
                self.levels.push((prefix, HashMap::new()));
                self.levels.sort_by_key(|(p, _)| *p);
                self.levels
                    .iter()
                    .position(|(p, _)| *p == prefix)
                    .unwrap_or(0)
            }
        };
        match self.levels[level].1.get_mut(&key) {
            Some(ids) => ids.push(id),
            None => {
                self.levels[level].1.insert(key, Ids::One(id));
            }
        }
        self.all.push(id);
    }

    /// Atoms whose subnet contains `ip/len`.
    fn containing(&self, ip: u32, len: u32, out: &mut Vec<AtomId>) {
        for (prefix, map) in &self.levels {
            if *prefix > len {
                break;
            }
            if let Some(ids) = map.get(&(ip & mask(*prefix))) {
                out.extend_from_slice(ids.as_slice());
            }
        }
    }
}

fn mask(prefix: u32) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

#[derive(Debug)]
enum Compiled {
    /// The pattern failed to parse or to prepare.
    Failed(Box<Error>),
    /// `[path = 'string']`: matched iff its one atom has a hit.
    Single(AtomId),
    /// Anything else: the AST and its atoms in [`Pattern::tests`] order.
    General(Box<Pattern>, Vec<AtomId>),
}

#[derive(Debug)]
enum Atom {
    /// String equality served by the path's hash map.
    Eq(u32),
    /// LIKE/MATCHES behind the path's prefilter.
    Text(u32, Box<PreparedTest>),
    /// ISSUBSET with a valid CIDR, served by the path's prefix trie.
    Cidr(u32),
    /// Equality in canonical form, served by the path's canonical index.
    Canon(u32),
    /// Evaluated by scanning objects of the path's type.
    Scan(Box<PreparedTest>),
    /// A type the reference never matches in this version.
    Never,
}

/// Sizes of a compiled matcher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatcherStats {
    /// Patterns compiled (including those that failed).
    pub patterns: usize,
    /// Patterns that failed to parse or prepare.
    pub failed: usize,
    /// Property tests.
    pub atoms: usize,
    /// Distinct indexed object paths.
    pub paths: usize,
    /// Tests evaluated by scanning.
    pub scanned: usize,
}

/// Many patterns compiled for evaluation over observation sets.
#[derive(Debug)]
pub struct Matcher {
    version: StixVersion,
    opts: MatchOptions,
    patterns: Vec<Compiled>,
    atoms: Vec<Atom>,
    /// The pattern each atom belongs to.
    owner: Vec<u32>,
    paths: Vec<PathIndex>,
    path_ids: hashbrown::HashMap<ObjectPath, u32>,
    by_type: HashMap<String, Vec<u32>>,
    scan: Vec<AtomId>,
}

/// The longest literal run every match of a LIKE pattern contains.
fn like_literal(s: &str) -> String {
    s.split(['%', '_'])
        .max_by_key(|p| p.len())
        .unwrap_or("")
        .to_string()
}

/// The longest literal run every match of a (Python) regex contains, when easy to prove.
fn regex_literal(src: &str) -> String {
    if src.contains('|') || src.contains("(?") {
        return String::new();
    }
    let chars: Vec<char> = src.chars().collect();
    let mut best = String::new();
    let mut cur = String::new();
    let mut i = 0;
    let flush = |cur: &mut String, best: &mut String| {
        if cur.len() > best.len() {
            *best = cur.clone();
        }
        cur.clear();
    };
    while i < chars.len() {
        let c = chars[i];
        let (lit, width) = match c {
            '\\' => match chars.get(i + 1) {
                Some(n) if !n.is_alphanumeric() => (Some(*n), 2),
                _ => (None, 2),
            },
            '[' => {
                // Skip the class.
                let mut j = i + 1;
                if chars.get(j) == Some(&'^') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    if chars[j] == '\\' {
                        j += 1;
                    }
                    j += 1;
                }
                (None, j + 1 - i)
            }
            '(' => {
                let mut depth = 0;
                let mut j = i;
                while j < chars.len() {
                    match chars[j] {
                        '\\' => j += 1,
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                (None, j + 1 - i)
            }
            '.' | '^' | '$' | ')' | '*' | '+' | '?' | '{' | '}' | ']' => (None, 1),
            c => (Some(c), 1),
        };
        let next = chars.get(i + width).copied();
        let optional = matches!(next, Some('*' | '?' | '{'));
        match lit {
            Some(ch) if !optional => cur.push(ch),
            _ => flush(&mut cur, &mut best),
        }
        if optional {
            flush(&mut cur, &mut best);
        }
        i += width;
    }
    flush(&mut cur, &mut best);
    best
}

fn has_suffix_key(p: &ObjectPath) -> bool {
    p.steps
        .iter()
        .any(|s| matches!(s, PathStep::Key(k) if k.ends_with("_hex") || k.ends_with("_bin")))
}

impl Matcher {
    /// Compiles `patterns` (STIX `version`); patterns that fail keep their error.
    pub fn compile<S: AsRef<str>>(patterns: &[S], version: StixVersion) -> Matcher {
        Matcher::compile_with(patterns, version, MatchOptions::STRICT)
    }

    /// [`Matcher::compile`] with `=`, `!=` and `IN` on observable paths as `opts` say.
    pub fn compile_with<S: AsRef<str>>(
        patterns: &[S],
        version: StixVersion,
        opts: MatchOptions,
    ) -> Matcher {
        let mut m = Matcher {
            version,
            opts,
            patterns: Vec::with_capacity(patterns.len()),
            atoms: Vec::new(),
            owner: Vec::new(),
            paths: Vec::new(),
            path_ids: hashbrown::HashMap::new(),
            by_type: HashMap::new(),
            scan: Vec::new(),
        };
        for p in patterns {
            let c = m.add(p.as_ref());
            m.patterns.push(c);
        }
        for p in &mut m.paths {
            if !p.text.literals.is_empty() {
                p.text.automaton = AhoCorasick::new(&p.text.literals).ok();
                if p.text.automaton.is_none() {
                    p.text.unfiltered.append(&mut p.text.owners);
                    p.text.literals.clear();
                }
            }
        }
        m
    }

    fn path_id(&mut self, path: &ObjectPath) -> u32 {
        if let Some(id) = self.path_ids.get(path) {
            return *id;
        }
        let id = self.paths.len() as u32;
        self.paths.push(PathIndex {
            path: path.clone(),
            eq: hashbrown::HashMap::new(),
            text: TextIndex::default(),
            cidr: CidrIndex::default(),
            canon: CanonIndex::default(),
        });
        self.path_ids.insert(path.clone(), id);
        self.by_type
            .entry(path.object_type.clone())
            .or_default()
            .push(id);
        id
    }

    fn add_atom(&mut self, t: &PropTest) -> Result<AtomId, MatchError> {
        let id = self.atoms.len() as AtomId;
        let cheap = matches!(t.op, Op::Eq(Literal::Str(_)) | Op::IsSubset(_));
        // Literal conversion errors are the reference's eager errors, whatever the type.
        let prepared = if cheap {
            None
        } else {
            Some(PreparedTest::with_options(t, &self.opts)?)
        };
        let canonical = match (&t.op, t.negated) {
            (Op::Eq(Literal::Str(s)), false) => self.opts.canonical(&t.path, s),
            _ => None,
        };
        let atom = if !type_matchable(self.version, &t.path.object_type) {
            Atom::Never
        } else if let Some(c) = canonical {
            let path = ObjectPath {
                object_type: c.object_type.clone(),
                steps: t.path.steps.clone(),
            };
            let pid = self.path_id(&path);
            self.paths[pid as usize].canon.insert(&c, id);
            Atom::Canon(pid)
        } else {
            match (&t.op, t.negated) {
                (Op::Eq(Literal::Str(s)), false) if !has_suffix_key(&t.path) => {
                    let pid = self.path_id(&t.path);
                    let eq = &mut self.paths[pid as usize].eq;
                    match eq.get_mut(s.as_str()) {
                        Some(ids) => ids.push(id),
                        None => {
                            eq.insert(s.as_str().into(), Ids::One(id));
                        }
                    }
                    Atom::Eq(pid)
                }
                (Op::IsSubset(net), false)
                    if !has_suffix_key(&t.path) && crate::value::parse_cidr(net).is_some() =>
                {
                    let (addr, prefix) = crate::value::parse_cidr(net).unwrap_or_default();
                    let pid = self.path_id(&t.path);
                    self.paths[pid as usize].cidr.insert(addr, prefix, id);
                    Atom::Cidr(pid)
                }
                (Op::Like(s) | Op::Matches(s), false) if !has_suffix_key(&t.path) => {
                    let pid = self.path_id(&t.path);
                    let norm: String =
                        unicode_normalization::UnicodeNormalization::nfc(s.chars()).collect();
                    let lit = if matches!(t.op, Op::Like(_)) {
                        like_literal(&norm)
                    } else {
                        regex_literal(&norm)
                    };
                    let text = &mut self.paths[pid as usize].text;
                    if lit.len() >= 3 {
                        text.literals.push(lit);
                        text.owners.push(id);
                    } else {
                        text.unfiltered.push(id);
                    }
                    Atom::Text(pid, Box::new(self.prepared(prepared, t)?))
                }
                _ => {
                    self.scan.push(id);
                    Atom::Scan(Box::new(self.prepared(prepared, t)?))
                }
            }
        };
        self.atoms.push(atom);
        self.owner.push(self.patterns.len() as u32);
        Ok(id)
    }

    fn prepared(&self, p: Option<PreparedTest>, t: &PropTest) -> Result<PreparedTest, MatchError> {
        match p {
            Some(p) => Ok(p),
            None => PreparedTest::with_options(t, &self.opts),
        }
    }

    fn add(&mut self, src: &str) -> Compiled {
        let p = match parse(src, self.version) {
            Ok(p) => p,
            Err(e) => return Compiled::Failed(Box::new(e.into())),
        };
        if let Err(e) = check_qualifiers(&p.expr) {
            return Compiled::Failed(Box::new(e.into()));
        }
        let first_atom = self.atoms.len();
        let mut ids = Vec::new();
        for t in p.tests() {
            match self.add_atom(t) {
                Ok(id) => ids.push(id),
                Err(e) => {
                    self.unwind(first_atom);
                    return Compiled::Failed(Box::new(e.into()));
                }
            }
        }
        if let ObsExpr::Simple {
            comp: CompExpr::Test(_),
            ..
        } = &p.expr
            && let [id] = ids[..]
            && matches!(self.atoms[id as usize], Atom::Eq(_) | Atom::Canon(_))
        {
            return Compiled::Single(id);
        }
        Compiled::General(Box::new(p), ids)
    }

    /// Forgets atoms from `first` on (a pattern that failed half-way).
    fn unwind(&mut self, first: usize) {
        for id in first..self.atoms.len() {
            let id = id as AtomId;
            for p in &mut self.paths {
                forget_id(&mut p.eq, id);
                forget_id(&mut p.canon.texts, id);
                for (_, m) in &mut p.canon.nets {
                    forget_id(m, id);
                }
                p.text.owners.iter().position(|x| *x == id).map(|i| {
                    p.text.owners.remove(i);
                    p.text.literals.remove(i)
                });
                p.text.unfiltered.retain(|x| *x != id);
                p.cidr.all.retain(|x| *x != id);
                for (_, m) in &mut p.cidr.levels {
                    m.retain(|_, ids| {
                        if let Ids::Many(v) = ids {
                            v.retain(|x| *x != id);
                        }
                        !matches!(ids, Ids::One(x) if *x == id)
                    });
                }
            }
            self.scan.retain(|x| *x != id);
        }
        self.atoms.truncate(first);
        self.owner.truncate(first);
    }

    /// Why pattern `i` failed to compile, if it did.
    pub fn compile_error(&self, i: usize) -> Option<&Error> {
        match self.patterns.get(i) {
            Some(Compiled::Failed(e)) => Some(e),
            _ => None,
        }
    }

    /// Counts of what was compiled.
    pub fn stats(&self) -> MatcherStats {
        MatcherStats {
            patterns: self.patterns.len(),
            failed: self
                .patterns
                .iter()
                .filter(|p| matches!(p, Compiled::Failed(_)))
                .count(),
            atoms: self.atoms.len(),
            paths: self.paths.len(),
            scanned: self.scan.len(),
        }
    }

    /// Number of compiled patterns.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// True when no pattern was compiled.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Evaluates every pattern over `set` (all observations bound together, as the reference
    /// does for one `match()` call). One result per pattern, in compile order.
    pub fn evaluate(&self, set: &ObservationSet<'_>) -> Vec<Result<MatchOutcome, Error>> {
        let mut out: Vec<Result<MatchOutcome, Error>> = self
            .patterns
            .iter()
            .map(|c| match c {
                Compiled::Failed(e) => Err((**e).clone()),
                _ => Ok(MatchOutcome {
                    observations: Vec::new(),
                }),
            })
            .collect();
        for (i, r) in self.candidates(set) {
            out[i] = r;
        }
        out
    }

    /// Only the patterns that matched `set` or failed on it, as `(pattern index, outcome)`
    /// in compile order. The work is proportional to the tests that hit, not to the number
    /// of patterns: this is the entry point for streams (one set per window of observations).
    pub fn matches(&self, set: &ObservationSet<'_>) -> Vec<(usize, Result<MatchOutcome, Error>)> {
        self.candidates(set)
            .into_iter()
            .filter(|(_, r)| r.as_ref().map_or(true, MatchOutcome::matched))
            .collect()
    }

    /// Outcomes of the patterns with at least one atom hit or error; a pattern none of whose
    /// tests selects anything cannot match (every bracket is empty).
    fn candidates(&self, set: &ObservationSet<'_>) -> Vec<(usize, Result<MatchOutcome, Error>)> {
        let (results, errors) = self.atom_results(set);
        let mut pats: Vec<u32> = results
            .keys()
            .chain(errors.keys())
            .map(|a| self.owner[*a as usize])
            .collect();
        pats.sort_unstable();
        pats.dedup();
        pats.into_iter()
            .map(|pi| {
                let r = match &self.patterns[pi as usize] {
                    Compiled::Failed(e) => Err((**e).clone()),
                    Compiled::Single(id) => match errors.get(id) {
                        Some(e) => Err(e.clone().into()),
                        None => Ok(MatchOutcome {
                            observations: results
                                .get(id)
                                .and_then(|r| r.entries.first())
                                .map(|(o, _)| vec![*o as usize])
                                .unwrap_or_default(),
                        }),
                    },
                    Compiled::General(p, ids) => match ids.iter().find_map(|id| errors.get(id)) {
                        Some(e) => Err(e.clone().into()),
                        None => {
                            let rs = ids
                                .iter()
                                .map(|id| results.get(id).cloned().unwrap_or_default())
                                .collect();
                            from_test_results(p, set, rs).map_err(Error::from)
                        }
                    },
                };
                (pi as usize, r)
            })
            .collect()
    }

    /// ISSUBSET atoms for one root's values, with the reference's per-value order: an atom
    /// stops at its first containing value, and a value that is not an IPv4 address or CIDR
    /// is an error for every atom still looking.
    fn cidr_hits(
        &self,
        idx: &CidrIndex,
        vals: &[crate::eval::Val<'_>],
        o: u32,
        r: u32,
        results: &mut HashMap<AtomId, CompResult>,
        errors: &mut HashMap<AtomId, MatchError>,
    ) {
        let mut satisfied: Vec<AtomId> = Vec::new();
        for v in vals {
            let crate::eval::Val::J(Value::String(s)) = v else {
                continue;
            };
            let parsed = if s.contains('/') {
                crate::value::parse_cidr(s)
            } else {
                crate::value::inet_aton(s).map(|ip| (ip, 32))
            };
            match parsed {
                Some((ip, len)) => idx.containing(ip, len, &mut satisfied),
                None => {
                    for &id in &idx.all {
                        if !satisfied.contains(&id) {
                            errors.entry(id).or_insert_with(|| {
                                MatchError(format!("Invalid IPv4 address: {s}"))
                            });
                        }
                    }
                    break;
                }
            }
        }
        satisfied.sort_unstable();
        satisfied.dedup();
        for id in satisfied {
            results.entry(id).or_default().push(o, r);
        }
    }

    /// Per-atom results (only atoms with hits) and errors.
    fn atom_results(
        &self,
        set: &ObservationSet<'_>,
    ) -> (HashMap<AtomId, CompResult>, HashMap<AtomId, MatchError>) {
        let mut results: HashMap<AtomId, CompResult> = HashMap::new();
        let mut errors: HashMap<AtomId, MatchError> = HashMap::new();
        let hit = |results: &mut HashMap<AtomId, CompResult>, id: AtomId, o: u32, r: u32| {
            results.entry(id).or_default().push(o, r);
        };
        let mut path_errors: HashMap<u32, MatchError> = HashMap::new();
        let mut cands: Vec<AtomId> = Vec::new();
        for (oi, o) in set.observations.iter().enumerate() {
            for (ri, (_, root)) in o.roots.iter().enumerate() {
                let Some(t) = root.get("type").and_then(Value::as_str) else {
                    continue;
                };
                let Some(pids) = self.by_type.get(t) else {
                    continue;
                };
                for &pid in pids {
                    if path_errors.contains_key(&pid) {
                        continue;
                    }
                    let pi = &self.paths[pid as usize];
                    let vals = match select(set, oi, root, &pi.path.steps) {
                        Ok(v) => v,
                        Err(e) => {
                            path_errors.insert(pid, e);
                            continue;
                        }
                    };
                    if vals.is_empty() {
                        continue;
                    }
                    if !pi.eq.is_empty() {
                        for v in &vals {
                            if let crate::eval::Val::J(Value::String(s)) = v
                                && let Some(ids) = pi.eq.get(s.as_str())
                            {
                                for &id in ids.as_slice() {
                                    hit(&mut results, id, oi as u32, ri as u32);
                                }
                            }
                        }
                    }
                    if !pi.canon.is_empty() {
                        cands.clear();
                        for v in &vals {
                            if let crate::eval::Val::J(Value::String(s)) = v {
                                pi.canon.lookup(s, &mut cands);
                            }
                        }
                        cands.sort_unstable();
                        cands.dedup();
                        for &id in &cands {
                            hit(&mut results, id, oi as u32, ri as u32);
                        }
                    }
                    if !pi.cidr.all.is_empty() {
                        self.cidr_hits(
                            &pi.cidr,
                            &vals,
                            oi as u32,
                            ri as u32,
                            &mut results,
                            &mut errors,
                        );
                    }
                    let tx = &pi.text;
                    if tx.owners.is_empty() && tx.unfiltered.is_empty() {
                        continue;
                    }
                    cands.clear();
                    cands.extend_from_slice(&tx.unfiltered);
                    if let Some(ac) = &tx.automaton {
                        for v in &vals {
                            match v {
                                crate::eval::Val::J(Value::String(s)) => {
                                    let n: String = if s.is_ascii() {
                                        s.clone()
                                    } else {
                                        unicode_normalization::UnicodeNormalization::nfc(s.chars())
                                            .collect()
                                    };
                                    for m in ac.find_overlapping_iter(&n) {
                                        cands.push(tx.owners[m.pattern().as_usize()]);
                                    }
                                }
                                // Bytes and other values bypass the text prefilter.
                                _ => cands.extend_from_slice(&tx.owners),
                            }
                        }
                    }
                    cands.sort_unstable();
                    cands.dedup();
                    for &id in &cands {
                        if errors.contains_key(&id) {
                            continue;
                        }
                        if let Atom::Text(_, t) = &self.atoms[id as usize] {
                            match t.any(&vals) {
                                Ok(true) => hit(&mut results, id, oi as u32, ri as u32),
                                Ok(false) => {}
                                Err(e) => {
                                    errors.insert(id, e);
                                }
                            }
                        }
                    }
                }
            }
        }
        // Path errors poison every atom on the path.
        if !path_errors.is_empty() {
            for (id, a) in self.atoms.iter().enumerate() {
                if let Atom::Eq(pid) | Atom::Text(pid, _) | Atom::Cidr(pid) | Atom::Canon(pid) = a
                    && let Some(e) = path_errors.get(pid)
                {
                    errors.insert(id as AtomId, e.clone());
                }
            }
        }
        for &id in &self.scan {
            if let Atom::Scan(t) = &self.atoms[id as usize] {
                match t.scan(set) {
                    Ok(r) if !r.entries.is_empty() => {
                        results.insert(id, r);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        errors.insert(id, e);
                    }
                }
            }
        }
        (results, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_is_shareable_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Matcher>();
    }

    #[test]
    fn literals() {
        assert_eq!(like_literal("%.evil.com"), ".evil.com");
        assert_eq!(regex_literal(r"^[a-z0-9]{8}\.abc\.xyz$"), ".abc.xyz");
        assert_eq!(
            regex_literal(r"^https?://ab\.c/[a-z]+/gate\.php\?id=[0-9]+$"),
            "/gate.php?id="
        );
        assert_eq!(regex_literal("a|b"), "");
    }
}
