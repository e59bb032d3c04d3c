//! Allowlists: MISP warninglists (matched by `detente-warninglist`) and any other indicator
//! source used as a list of known-benign values, matched as indicators are. Each list has an
//! action: hits on its values are reported as `inform`, or not at all (`suppress`). See
//! `docs/detection.md`.

use detente_warninglist::Matcher;
pub use detente_warninglist::{Action, Entry, List, Verdict};

use crate::index::{Index, Indicator, Value};
use crate::norm::Ip;
use crate::sources::Loaded;

/// All allowlists of a scan.
#[derive(Default)]
pub struct Allowlist {
    /// The warninglists, and the numbering and actions of every list's entries.
    lists: Matcher,
    /// Other sources, matched as indicators are; indicator number to entry.
    typed: Index,
    typed_entry: Vec<u32>,
}

impl Allowlist {
    /// An empty allowlist.
    pub fn new() -> Self {
        Allowlist::default()
    }

    /// Whether no list has any usable entry.
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// Number of usable entries.
    pub fn len(&self) -> usize {
        self.lists.len()
    }

    /// The lists, in load order.
    pub fn lists(&self) -> &[List] {
        self.lists.lists()
    }

    /// The address and CIDR entries of every list, with the entry as written (for reports of
    /// CIDR indicators that overlap the allowlist).
    pub fn nets(&self) -> impl Iterator<Item = (Ip, u8, &str)> {
        let typed = self
            .typed
            .indicators()
            .iter()
            .filter_map(|i| match i.value {
                Value::Net(ip, len) => Some((ip, len, i.written.as_str())),
                _ => None,
            });
        typed.chain(self.lists.nets())
    }

    /// An entry behind a [`Verdict`].
    pub fn entry(&self, n: u32) -> Entry<'_> {
        self.lists.entry(n)
    }

    /// Adds one loaded source: a warninglist by its type, anything else as typed indicators.
    /// `source` names it (a warninglist in a folder is keyed by the folder). Returns the
    /// entries that cannot be applied, with the reason, for the caller to report.
    pub fn add(&mut self, source: &str, loaded: Loaded) -> Vec<String> {
        if let Some(wl) = &loaded.warninglist {
            return self.lists.add(source, wl);
        }
        let inds: Vec<Indicator> = loaded
            .indicators
            .into_iter()
            .filter(|i| i.value != Value::Pattern)
            .collect();
        let numbers = self.lists.add_foreign(
            source,
            "indicators",
            inds.iter().map(|i| i.written.as_str()),
        );
        self.typed_entry.extend(numbers);
        self.typed.extend(inds);
        Vec::new()
    }

    /// Sets the action of every list whose key or name is `name`; false when there is none.
    pub fn set_action(&mut self, name: &str, action: Action) -> bool {
        self.lists.set_action(name, action)
    }

    /// Sets the action of every list.
    pub fn set_all(&mut self, action: Action) {
        self.lists.set_all(action);
    }

    /// Builds the matchers; call after the last [`Allowlist::add`].
    pub fn finish(&mut self) {
        self.lists.finish();
    }

    /// Checks an observed value against every list. A list whose action is `suppress` wins;
    /// otherwise the first matching entry (warninglists in the order `string`, `hostname`,
    /// `cidr`, `substring`, `regex`, then other sources) is reported.
    pub fn check(&self, v: &[u8]) -> Option<Verdict> {
        let mut found = self.lists.check(v);
        if found.is_some_and(|f| f.suppress) || self.typed.is_empty() {
            return found;
        }
        let mut stop = false;
        self.typed.match_value(v, &mut |n, _| {
            if !stop && let Some(e) = self.typed_entry.get(n as usize) {
                stop = self.lists.consider(&mut found, *e);
            }
        });
        found
    }
}
