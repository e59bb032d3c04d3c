//! Patterns across records: STIX patterns with observation operators (`AND`, `OR`,
//! `FOLLOWEDBY`) and qualifiers (`WITHIN`, `REPEATS`, `START/STOP`) evaluated over a log stream.
//!
//! Each such pattern keeps a window of the records its atoms selected (every bracket holds an
//! indexable `=` test, so the index finds every record a bracket can match) and that satisfy
//! one of its brackets, keyed by each record's own time. When a record enters, the pattern engine (`detente-pattern`'s compiled
//! matcher, the one `detente pattern match-all` runs) evaluates the pattern on the window's
//! records as observations at their times. The window held no binding before the record came
//! (a binding only depends on the records it binds, so one that lost records to expiry is no
//! binding either): any binding now holds the new record, and the engine's first binding names
//! the records of the hit. They leave the window, so a record takes part in at most one hit of
//! a pattern.
//!
//! Memory is bounded per pattern: the window spans the pattern's longest binding
//! ([`detente_pattern::binding_span`]), at most [`MAX_WINDOW_SECS`], and retains at most
//! [`MAX_RETAINED`] records (the oldest go first, with a warning). Records are taken in the
//! order the scan offers them (several logs merged by time, [`crate::Scanner::scan_logs`]);
//! one more than the window behind the latest time the pattern has seen is late and does not
//! enter (counted in a warning). `docs/detection.md` has the rules.

use std::collections::VecDeque;
use std::sync::Arc;

use detente_pattern::{Matcher, ObsExpr, Observation, ObservationSet, StixVersion};

use crate::index::Index;

/// The longest window any pattern gets (one day): patterns whose bindings are not bounded by
/// `WITHIN` or `START/STOP` (a bare `FOLLOWEDBY`) match records at most this far apart.
pub const MAX_WINDOW_SECS: i64 = 86_400;
/// Most records one pattern's window retains.
pub const MAX_RETAINED: usize = 10_000;

/// A record that took part in a cross-record hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Took {
    /// Log name as given.
    pub file: Arc<str>,
    /// 1-based line number.
    pub line: u64,
    /// The record's time, Unix milliseconds.
    pub time_ms: i64,
    /// Field holding the value that selected the record.
    pub field: Box<str>,
    /// That value as written in the log.
    pub observed: Box<str>,
}

/// A record one of a pattern's atoms selected, with its values as STIX cyber-observables.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Where it is and what selected it.
    pub took: Took,
    /// The record's SCOs (shared by every pattern the record is a candidate for).
    pub objects: Arc<Vec<serde_json::Value>>,
}

/// A record in a window, with the brackets it satisfies (bit `i`: bracket `i`).
struct Held {
    c: Candidate,
    brackets: u64,
}

struct Window {
    /// The pattern's indicator number.
    ind: u32,
    matcher: Matcher,
    /// The pattern's observation expression, to tell whether the window can match at all.
    expr: Option<ObsExpr>,
    /// Each bracket alone, left to right (at most 64; `None` when there are more).
    brackets: Option<Matcher>,
    /// Per bracket, how many held records satisfy it.
    counts: Vec<u32>,
    /// Window length, microseconds.
    span_us: i64,
    held: VecDeque<Held>,
    /// Latest record time seen, microseconds.
    watermark: Option<i64>,
    late: u64,
    dropped: u64,
    errors: u64,
    last_error: String,
}

impl Window {
    /// The brackets `c` satisfies on its own (all of them when they are not known apart).
    fn satisfied(&self, c: &Candidate) -> u64 {
        let Some(m) = &self.brackets else {
            return u64::MAX;
        };
        let t = c.took.time_ms.saturating_mul(1000);
        let one = vec![Observation::from_objects(
            c.objects.iter().collect(),
            t,
            t,
            1,
        )];
        let set = ObservationSet::from_observations(one);
        m.evaluate(&set)
            .iter()
            .enumerate()
            .filter(|(_, r)| r.as_ref().is_ok_and(|o| o.matched()))
            .fold(0, |acc, (i, _)| acc | 1 << i)
    }
}

fn uncount(counts: &mut [u32], brackets: u64) {
    for (i, n) in counts.iter_mut().enumerate() {
        *n -= u32::from(brackets >> i & 1 == 1);
    }
}

/// The brackets of `e` as one-bracket patterns, left to right.
fn bracket_texts(e: &ObsExpr, out: &mut Vec<String>) {
    match e {
        ObsExpr::Simple { comp, .. } => out.push(format!("[{comp}]")),
        ObsExpr::And(l, r) | ObsExpr::Or(l, r) | ObsExpr::FollowedBy(l, r) => {
            bracket_texts(l, out);
            bracket_texts(r, out);
        }
        ObsExpr::Within { expr, .. }
        | ObsExpr::Repeats { expr, .. }
        | ObsExpr::StartStop { expr, .. } => bracket_texts(expr, out),
    }
}

/// Whether `e` could bind given how many held records satisfy each bracket (`next`: the
/// number of the next bracket, left to right); a necessary condition only.
fn possible(e: &ObsExpr, counts: &[u32], next: &mut usize) -> bool {
    match e {
        ObsExpr::Simple { .. } => {
            let n = counts.get(*next).copied().unwrap_or(1);
            *next += 1;
            n > 0
        }
        ObsExpr::And(l, r) | ObsExpr::FollowedBy(l, r) => {
            let a = possible(l, counts, next);
            possible(r, counts, next) && a
        }
        ObsExpr::Or(l, r) => {
            let a = possible(l, counts, next);
            possible(r, counts, next) || a
        }
        ObsExpr::Within { expr, .. }
        | ObsExpr::Repeats { expr, .. }
        | ObsExpr::StartStop { expr, .. } => possible(expr, counts, next),
    }
}

/// The windows of every cross-record pattern of an index, kept across the logs of one scan.
pub struct Windows {
    per: Vec<Window>,
    max_retained: usize,
}

impl Windows {
    /// Windows for `index`'s cross-record patterns with the default limits.
    pub fn new(index: &Index) -> Windows {
        Windows::with_limits(index, MAX_WINDOW_SECS, MAX_RETAINED)
    }

    /// Windows spanning at most `max_window_secs` and retaining at most `max_retained` records
    /// per pattern.
    pub fn with_limits(index: &Index, max_window_secs: i64, max_retained: usize) -> Windows {
        let max_us = max_window_secs.saturating_mul(1_000_000);
        let per = index
            .cross_patterns()
            .iter()
            .map(|&ind| {
                let text = index.indicator(ind).written.as_str();
                let opts = index.match_options();
                let expr = detente_pattern::parse(text, StixVersion::V21)
                    .ok()
                    .map(|p| p.expr);
                let span = expr.as_ref().and_then(detente_pattern::binding_span);
                let mut comps = Vec::new();
                if let Some(e) = &expr {
                    bracket_texts(e, &mut comps);
                }
                Window {
                    ind,
                    matcher: Matcher::compile_with(&[text], StixVersion::V21, opts),
                    brackets: (comps.len() <= 64)
                        .then(|| Matcher::compile_with(&comps, StixVersion::V21, opts)),
                    counts: vec![0; comps.len()],
                    expr,
                    span_us: span.map_or(max_us, |s| s.min(max_us)),
                    held: VecDeque::new(),
                    watermark: None,
                    late: 0,
                    dropped: 0,
                    errors: 0,
                    last_error: String::new(),
                }
            })
            .collect();
        Windows {
            per,
            max_retained: max_retained.max(1),
        }
    }

    /// Whether there is any cross-record pattern.
    pub fn is_empty(&self) -> bool {
        self.per.is_empty()
    }

    /// Offers pattern `ind` a record its atoms selected; returns the records of the hit it
    /// completes (ordered by time, then file and line), if any.
    pub fn offer(&mut self, ind: u32, c: Candidate) -> Option<Vec<Took>> {
        let max_retained = self.max_retained;
        let i = self.per.binary_search_by_key(&ind, |w| w.ind).ok()?;
        let w = &mut self.per[i];
        let t = c.took.time_ms.saturating_mul(1000);
        let mark = w.watermark.map_or(t, |m| m.max(t));
        let cutoff = mark.saturating_sub(w.span_us);
        if t < cutoff {
            w.late += 1;
            return None;
        }
        w.watermark = Some(mark);
        let brackets = w.satisfied(&c);
        if brackets == 0 {
            // It holds an atom but satisfies no bracket: it can take part in nothing.
            return None;
        }
        // Records are held in arrival order, which is time order but for stragglers: expiring
        // from the front costs O(1) a record; a straggler leaves when it reaches the front.
        while w
            .held
            .front()
            .is_some_and(|h| h.c.took.time_ms.saturating_mul(1000) < cutoff)
        {
            if let Some(h) = w.held.pop_front() {
                uncount(&mut w.counts, h.brackets);
            }
        }
        while w.held.len() >= max_retained {
            if let Some(h) = w.held.pop_front() {
                uncount(&mut w.counts, h.brackets);
            }
            w.dropped += 1;
        }
        for (i, n) in w.counts.iter_mut().enumerate() {
            *n += u32::from(brackets >> i & 1 == 1);
        }
        w.held.push_back(Held { c, brackets });
        // Most arrivals cannot complete a match (a bracket nothing in the window satisfies):
        // those skip the evaluation over the whole window.
        if let Some(e) = &w.expr
            && w.brackets.is_some()
            && !possible(e, &w.counts, &mut 0)
        {
            return None;
        }
        let outcome = {
            let observations = w
                .held
                .iter()
                .map(|h| {
                    let t = h.c.took.time_ms.saturating_mul(1000);
                    Observation::from_objects(h.c.objects.iter().collect(), t, t, 1)
                })
                .collect();
            let set = ObservationSet::from_observations(observations);
            w.matcher.evaluate(&set).into_iter().next()
        };
        let bound = match outcome {
            Some(Ok(o)) if o.matched() => o.observations,
            Some(Err(e)) => {
                w.errors += 1;
                w.last_error = e.to_string();
                return None;
            }
            _ => return None,
        };
        let mut took: Vec<Took> = Vec::with_capacity(bound.len());
        // Highest index first, so the lower ones stay where they are.
        for &k in bound.iter().rev() {
            if let Some(h) = w.held.remove(k) {
                uncount(&mut w.counts, h.brackets);
                took.push(h.c.took);
            }
        }
        took.sort_by(|a, b| (a.time_ms, &a.file, a.line).cmp(&(b.time_ms, &b.file, b.line)));
        Some(took)
    }

    /// Problems since the last call, one message each (for the logs just read): late and
    /// dropped records, evaluation errors.
    pub fn problems(&mut self, index: &Index) -> Vec<String> {
        let mut out = Vec::new();
        for w in &mut self.per {
            let ind = index.indicator(w.ind);
            let name = format!("pattern {} ({})", ind.written, ind.id);
            if w.late > 0 {
                out.push(format!(
                    "{name}: {} records came more than its {} s window behind the latest time seen and were not evaluated",
                    w.late,
                    w.span_us / 1_000_000
                ));
            }
            if w.dropped > 0 {
                out.push(format!(
                    "{name}: more than {} records within its window; the {} oldest were dropped, so matches may be missed",
                    self.max_retained, w.dropped
                ));
            }
            if w.errors > 0 {
                out.push(format!(
                    "{name}: evaluation failed {} times: {}",
                    w.errors, w.last_error
                ));
            }
            (w.late, w.dropped, w.errors) = (0, 0, 0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Value;
    use crate::sources::PatternIndicator;

    fn index(pattern: &str, atoms: &[&str]) -> Index {
        let mut ix = Index::new(false);
        ix.insert_pattern(PatternIndicator {
            id: "indicator--p".into(),
            pattern: pattern.into(),
            atoms: atoms
                .iter()
                .filter_map(|a| Some((a.to_string(), Value::guess(a, false)?)))
                .collect(),
            provenance: Default::default(),
        });
        ix.compile_patterns();
        ix
    }

    fn offer(w: &mut Windows, line: u64, secs: i64, domain: &str) -> Option<Vec<u64>> {
        let took = Took {
            file: "t".into(),
            line,
            time_ms: secs * 1000,
            field: "query".into(),
            observed: domain.into(),
        };
        let sco =
            serde_json::json!({"type": "domain-name", "id": "domain-name--1", "value": domain});
        let c = Candidate {
            took,
            objects: Arc::new(vec![sco]),
        };
        let ind = w.per.first()?.ind;
        w.offer(ind, c).map(|t| t.iter().map(|t| t.line).collect())
    }

    #[test]
    fn unbounded_patterns_use_the_maximum_window() {
        let ix = index(
            "[domain-name:value = 'a.example'] FOLLOWEDBY [domain-name:value = 'b.example']",
            &["a.example", "b.example"],
        );
        let mut w = Windows::with_limits(&ix, 60, 100);
        assert_eq!(offer(&mut w, 1, 0, "a.example"), None);
        // 61 s later: a.example has left the window.
        assert_eq!(offer(&mut w, 2, 61, "b.example"), None);
        assert_eq!(offer(&mut w, 3, 100, "a.example"), None);
        assert_eq!(offer(&mut w, 4, 160, "b.example"), Some(vec![3, 4]));
        // Both took part: the next b.example needs a new a.example.
        assert_eq!(offer(&mut w, 5, 161, "b.example"), None);
        // A record more than the window behind the latest time is late.
        assert_eq!(offer(&mut w, 6, 10, "a.example"), None);
        let problems = w.problems(&ix);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("1 records came more than its 60 s window behind"));
        assert!(w.problems(&ix).is_empty(), "counted once");
    }

    #[test]
    fn within_sets_the_window_and_retention_is_bounded() {
        let ix = index(
            "[domain-name:value = 'a.example'] REPEATS 3 TIMES WITHIN 300 SECONDS",
            &["a.example"],
        );
        let mut w = Windows::new(&ix);
        assert_eq!(w.per[0].span_us, 300_000_000);
        assert_eq!(offer(&mut w, 1, 0, "a.example"), None);
        assert_eq!(offer(&mut w, 2, 200, "a.example"), None);
        assert_eq!(offer(&mut w, 3, 400, "a.example"), None);
        assert_eq!(offer(&mut w, 4, 450, "a.example"), Some(vec![2, 3, 4]));
        // Two retained records at most: three within 300 s never meet.
        let mut w = Windows::with_limits(&ix, MAX_WINDOW_SECS, 2);
        for (line, t) in [(1, 0), (2, 1), (3, 2)] {
            assert_eq!(offer(&mut w, line, t, "a.example"), None);
        }
        let problems = w.problems(&ix);
        assert!(
            problems[0]
                .contains("more than 2 records within its window; the 1 oldest were dropped"),
            "{problems:?}"
        );
    }
}
