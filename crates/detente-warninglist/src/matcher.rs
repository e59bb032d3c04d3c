//! Matching observed values against MISP warninglists of all five types (`string`, `hostname`,
//! `cidr`, `substring`, `regex`) with MISP's rules. Each list has an action: hits on its values
//! are reported as `inform`, or not reported at all (`suppress`). Lists the caller matches by
//! other means (the scanner's typed indicator sources) can share the entry numbering and the
//! actions ([`Matcher::add_foreign`]). See `docs/detection.md`.

use aho_corasick::AhoCorasick;
use detente_observable::{Ip, MAX_DOMAIN, Observable, mask4, mask6, parse_cidr, parse_ip};
use rustc_hash::FxHashMap;

use crate::format::Warninglist;

/// Compiled program size allowed per warninglist regex (and for its lazy DFA): a hostile or
/// careless list cannot make the matcher build a huge automaton.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What a list does to hits on its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Report the hit as `inform` rather than `alert`.
    Inform,
    /// Do not report the hit.
    Suppress,
}

/// One list as loaded.
#[derive(Clone, Debug)]
pub struct List {
    /// The list's name (a warninglist's `name`, else the source as given).
    pub name: String,
    /// A short name to select the list by: a warninglist's folder, else the source as given.
    pub key: String,
    /// The MISP list type, or what the caller named a foreign list's kind.
    pub kind: String,
    /// The action for hits on its values.
    pub action: Action,
}

/// A match of an observed value against the lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The matching entry (see [`Matcher::entry`]).
    pub entry: u32,
    /// Whether the hit is to be dropped.
    pub suppress: bool,
}

/// A matching entry, for reporting.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    /// The list holding it.
    pub list: &'a List,
    /// The entry as written in the list.
    pub written: &'a str,
}

/// `cidr` entries of one address family: per prefix length, network to entries (newest last).
/// Full-width addresses are looked up first, then blocks from the shortest prefix up.
#[derive(Default)]
struct Nets<T> {
    tables: Vec<(u8, FxHashMap<T, Vec<u32>>)>,
}

impl<T: std::hash::Hash + Eq + Copy> Nets<T> {
    fn insert(&mut self, net: T, len: u8, width: u8, entry: u32) {
        let pos = match self.tables.iter().position(|(l, _)| *l == len) {
            Some(p) => p,
            None => {
                self.tables.push((len, FxHashMap::default()));
                self.tables.sort_by_key(|(l, _)| (*l != width, *l));
                self.tables.iter().position(|(l, _)| *l == len).unwrap_or(0)
            }
        };
        self.tables[pos].1.entry(net).or_default().push(entry);
    }

    /// Entries covering the address, newest first within one block; stops when `f` says so.
    fn each(&self, mask: impl Fn(u8) -> T, f: &mut impl FnMut(u32) -> bool) -> bool {
        for (len, t) in &self.tables {
            for e in t.get(&mask(*len)).into_iter().flatten().rev() {
                if f(*e) {
                    return true;
                }
            }
        }
        false
    }

    fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

/// A set of warninglists, each with its action.
#[derive(Default)]
pub struct Matcher {
    lists: Vec<List>,
    /// Every usable entry: (list number, entry as written).
    entries: Vec<(u32, String)>,
    /// `string` lists: the entry as written, and its canonical form for typed values.
    exact: FxHashMap<Box<[u8]>, u32>,
    /// `hostname` lists: lower-case names without outer dots.
    hostnames: FxHashMap<Box<[u8]>, u32>,
    /// `cidr` lists (looked up with addresses only).
    nets4: Nets<u32>,
    nets6: Nets<u128>,
    /// `cidr` entries as parsed: (network, prefix length, entry).
    nets: Vec<(Ip, u8, u32)>,
    /// `substring` lists, case-sensitive; pattern number to entry.
    substrings: Vec<String>,
    substring_entry: Vec<u32>,
    substring_matcher: Option<AhoCorasick>,
    /// `regex` lists.
    regexes: Vec<(regex::Regex, u32)>,
}

impl Matcher {
    /// An empty matcher.
    pub fn new() -> Self {
        Matcher::default()
    }

    /// Whether no list has any usable entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of usable entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The lists, in load order.
    pub fn lists(&self) -> &[List] {
        &self.lists
    }

    /// The `cidr` entries: network, prefix length and the entry as written.
    pub fn nets(&self) -> impl Iterator<Item = (Ip, u8, &str)> {
        self.nets
            .iter()
            .map(|(ip, len, e)| (*ip, *len, self.entries[*e as usize].1.as_str()))
    }

    /// An entry behind a [`Verdict`].
    pub fn entry(&self, n: u32) -> Entry<'_> {
        let (list, written) = &self.entries[n as usize];
        Entry {
            list: &self.lists[*list as usize],
            written,
        }
    }

    /// Adds a warninglist; `source` names it (a `list.json` is keyed by its folder). Returns
    /// the entries that cannot be applied, with the reason, for the caller to report.
    pub fn add(&mut self, source: &str, wl: &Warninglist) -> Vec<String> {
        let list = self.push_list(List {
            name: wl.name.clone(),
            key: list_key(source),
            kind: wl.kind.clone(),
            action: Action::Inform,
        });
        let mut unusable = Vec::new();
        if wl.non_strings > 0 {
            unusable.push(format!("{} entries that are not strings", wl.non_strings));
        }
        match wl.kind.as_str() {
            "string" => self.add_strings(list, wl),
            "hostname" => self.add_hostnames(list, wl),
            "cidr" => self.add_cidrs(list, wl, &mut unusable),
            "substring" => {
                for e in &wl.entries {
                    let n = self.push_entry(list, e);
                    self.substrings.push(e.clone());
                    self.substring_entry.push(n);
                }
            }
            "regex" => self.add_regexes(list, wl, &mut unusable),
            other => unusable.push(format!(
                "unknown list type {other:?}; none of its {} entries applied",
                wl.entries.len()
            )),
        }
        unusable
    }

    /// Registers a list this matcher does not match itself (the caller does, by other means):
    /// named `source`, of `kind`, action `inform`. Returns each entry's number, for
    /// [`Matcher::consider`] and [`Matcher::entry`].
    pub fn add_foreign<'a>(
        &mut self,
        source: &str,
        kind: &str,
        written: impl IntoIterator<Item = &'a str>,
    ) -> Vec<u32> {
        let list = self.push_list(List {
            name: source.to_string(),
            key: source.to_string(),
            kind: kind.to_string(),
            action: Action::Inform,
        });
        written
            .into_iter()
            .map(|w| self.push_entry(list, w))
            .collect()
    }

    /// Sets the action of every list whose key or name is `name`; false when there is none.
    pub fn set_action(&mut self, name: &str, action: Action) -> bool {
        let mut found = false;
        for l in self
            .lists
            .iter_mut()
            .filter(|l| l.key == name || l.name == name)
        {
            l.action = action;
            found = true;
        }
        found
    }

    /// Sets the action of every list.
    pub fn set_all(&mut self, action: Action) {
        self.lists.iter_mut().for_each(|l| l.action = action);
    }

    /// Builds the substring matcher; call after the last [`Matcher::add`].
    pub fn finish(&mut self) {
        self.substring_matcher = (!self.substrings.is_empty())
            .then(|| AhoCorasick::new(&self.substrings).ok())
            .flatten();
    }

    fn push_list(&mut self, l: List) -> u32 {
        let n = u32::try_from(self.lists.len()).unwrap_or(u32::MAX);
        self.lists.push(l);
        n
    }

    fn push_entry(&mut self, list: u32, written: &str) -> u32 {
        let n = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        self.entries.push((list, written.to_string()));
        n
    }

    fn add_strings(&mut self, list: u32, wl: &Warninglist) {
        for e in &wl.entries {
            let n = self.push_entry(list, e);
            self.exact.entry(e.as_bytes().into()).or_insert(n);
            if let Some(c) = canonical(e.as_bytes()) {
                self.exact.entry(c.into_bytes().into()).or_insert(n);
            }
        }
    }

    fn add_hostnames(&mut self, list: u32, wl: &Warninglist) {
        for e in &wl.entries {
            let n = self.push_entry(list, e);
            let key = e.trim_matches('.').to_ascii_lowercase();
            self.hostnames.entry(key.into_bytes().into()).or_insert(n);
        }
    }

    fn add_cidrs(&mut self, list: u32, wl: &Warninglist, unusable: &mut Vec<String>) {
        for e in &wl.entries {
            match parse_cidr(e.as_bytes()) {
                Some((ip, len)) => {
                    let n = self.push_entry(list, e);
                    match ip {
                        Ip::V4(v) => self.nets4.insert(v, len, 32, n),
                        Ip::V6(v) => self.nets6.insert(v, len, 128, n),
                    }
                    self.nets.push((ip, len, n));
                }
                None => unusable.push(format!("entry {e:?} is not an address or CIDR block")),
            }
        }
    }

    fn add_regexes(&mut self, list: u32, wl: &Warninglist, unusable: &mut Vec<String>) {
        for e in &wl.entries {
            match compile_pcre(e) {
                Ok(re) => {
                    let n = self.push_entry(list, e);
                    self.regexes.push((re, n));
                }
                Err(why) => unusable.push(format!("regex {e:?} not applied: {why}")),
            }
        }
    }

    /// Folds a matching entry into the verdict so far: the first match is kept unless a
    /// suppressing one comes later. True once the verdict is a suppression, which nothing can
    /// change: the caller stops looking.
    pub fn consider(&self, found: &mut Option<Verdict>, entry: u32) -> bool {
        let suppress = self
            .entries
            .get(entry as usize)
            .and_then(|(l, _)| self.lists.get(*l as usize))
            .is_some_and(|l| l.action == Action::Suppress);
        if found.is_none() || suppress {
            *found = Some(Verdict { entry, suppress });
        }
        suppress
    }

    /// Checks an observed value against every list. A list whose action is `suppress` wins;
    /// otherwise the first matching entry (in the order `string`, `hostname`, `cidr`,
    /// `substring`, `regex`) is reported.
    pub fn check(&self, v: &[u8]) -> Option<Verdict> {
        let mut found: Option<Verdict> = None;
        if !self.exact.is_empty() {
            let hit = self
                .exact
                .get(v)
                .copied()
                .or_else(|| canonical(v).and_then(|c| self.exact.get(c.as_bytes()).copied()));
            if let Some(n) = hit
                && self.consider(&mut found, n)
            {
                return found;
            }
        }
        if !self.hostnames.is_empty()
            && let Some(n) = self.hostname_match(v)
            && self.consider(&mut found, n)
        {
            return found;
        }
        let stop = match address_of(v) {
            Some(Ip::V4(a)) if !self.nets4.is_empty() => self
                .nets4
                .each(|len| mask4(a, len), &mut |e| self.consider(&mut found, e)),
            Some(Ip::V6(a)) if !self.nets6.is_empty() => self
                .nets6
                .each(|len| mask6(a, len), &mut |e| self.consider(&mut found, e)),
            _ => false,
        };
        if stop {
            return found;
        }
        if let Some(m) = &self.substring_matcher {
            for hit in m.find_overlapping_iter(v) {
                if let Some(e) = self.substring_entry.get(hit.pattern().as_usize())
                    && self.consider(&mut found, *e)
                {
                    return found;
                }
            }
        }
        if !self.regexes.is_empty() {
            let text = String::from_utf8_lossy(v);
            for (re, e) in &self.regexes {
                if re.is_match(&text) && self.consider(&mut found, *e) {
                    return found;
                }
            }
        }
        found
    }

    /// MISP's `hostname` rule: the host of the value (after `//` when there is one, else up to
    /// the first `/`), without trailing dots, matches an entry equal to it or to any of its
    /// label-boundary suffixes. Letter case is ignored (host names are case-insensitive); a
    /// `:port` is dropped, since MISP keeps ports in a separate attribute.
    fn hostname_match(&self, v: &[u8]) -> Option<u32> {
        let rest = match memchr::memmem::find(v, b"//") {
            Some(p) => &v[p + 2..],
            None => v,
        };
        let host = rest.split(|c| *c == b'/').next().unwrap_or_default();
        let host = match host.iter().rposition(|c| *c == b':') {
            Some(p) if is_port(&host[p + 1..]) && !host[..p].contains(&b':') => &host[..p],
            _ => host,
        };
        let mut end = host.len();
        while end > 0 && host[end - 1] == b'.' {
            end -= 1;
        }
        if end == 0 || end > MAX_DOMAIN {
            return None;
        }
        let host = host[..end].to_ascii_lowercase();
        let mut start = 0;
        loop {
            if let Some(n) = self.hostnames.get(&host[start..]) {
                return Some(*n);
            }
            start += memchr::memchr(b'.', &host[start..])? + 1;
        }
    }
}

/// The key a list is selected by: the folder of a `…/list.json`, else the source as given.
fn list_key(source: &str) -> String {
    std::path::Path::new(source)
        .parent()
        .filter(|_| source.ends_with("list.json"))
        .and_then(|p| p.file_name())
        .map_or_else(|| source.to_string(), |f| f.to_string_lossy().into_owned())
}

fn is_port(s: &[u8]) -> bool {
    !s.is_empty() && s.len() <= 5 && s.iter().all(u8::is_ascii_digit)
}

/// The address of a value that is one (optionally with a `:port`, IPv6 in brackets).
fn address_of(v: &[u8]) -> Option<Ip> {
    if let Some(ip) = parse_ip(v) {
        return Some(ip);
    }
    if let Some(inner) = v.strip_prefix(b"[") {
        let close = memchr::memchr(b']', inner)?;
        return parse_ip(&inner[..close]);
    }
    let p = memchr::memrchr(b':', v)?;
    (is_port(&v[p + 1..]) && !v[..p].contains(&b':'))
        .then(|| parse_ip(&v[..p]))
        .flatten()
}

/// The canonical text of a typed value (lower-case host names and digests, normalised URLs,
/// addresses in standard form; a `:port` after an address or host name dropped), so that a
/// `string` entry equals the values it names however a log writes them.
fn canonical(v: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(v).ok()?;
    let host = s
        .rsplit_once(':')
        .filter(|(h, port)| is_port(port.as_bytes()) && !h.contains(':'))
        .and_then(|(h, _)| Observable::parse(h))
        .filter(|x| matches!(x, Observable::Net(..) | Observable::Domain(..)));
    let typed = host.or_else(|| Observable::parse(s))?;
    Some(typed.text().into_owned())
}

/// Compiles a PHP (PCRE) delimited regex as MISP's lists write them, `/body/flags`, with a
/// size limit. Flags `i`, `m`, `s`, `x`, `U` map to Rust's; `u` and `D` change nothing here
/// (Rust regexes are Unicode-aware and `$` does not match before a final newline); the `g`
/// some lists carry is ignored (a match test has no "global" mode). Anything else is refused.
pub fn compile_pcre(entry: &str) -> Result<regex::Regex, String> {
    let mut chars = entry.chars();
    let open = chars.next().ok_or("empty")?;
    if open.is_alphanumeric() || open == '\\' || open.is_whitespace() {
        return Err(format!(
            "no delimiter ({open:?} cannot delimit a PCRE pattern)"
        ));
    }
    let close = match open {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        c => c,
    };
    let rest = &entry[open.len_utf8()..];
    let end = rest
        .rfind(close)
        .ok_or_else(|| format!("no closing delimiter {close:?}"))?;
    let (body, flags) = (&rest[..end], &rest[end + close.len_utf8()..]);
    let mut b = regex::RegexBuilder::new(body);
    b.size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT);
    for f in flags.chars() {
        match f {
            'i' => b.case_insensitive(true),
            'm' => b.multi_line(true),
            's' => b.dot_matches_new_line(true),
            'x' => b.ignore_whitespace(true),
            'U' => b.swap_greed(true),
            'u' | 'D' | 'g' => &mut b,
            other => return Err(format!("unsupported flag {other:?}")),
        };
    }
    b.build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcre_delimiters_and_flags() {
        assert!(compile_pcre("/^ab$/i").unwrap().is_match("AB"));
        assert!(compile_pcre("#a/b#").unwrap().is_match("xa/by"));
        assert!(compile_pcre("{a}").unwrap().is_match("a"));
        assert!(compile_pcre("/x/g").unwrap().is_match("x"));
        assert!(compile_pcre("abc").is_err());
        assert!(compile_pcre("/abc").is_err());
        assert!(compile_pcre("/a/Q").is_err());
        // Lookaround is PCRE-only: refused, with the reason.
        assert!(compile_pcre("/a(?=b)/").is_err());
        // A program beyond the size limit is refused, not built.
        assert!(compile_pcre("/(\\w{1,100}){1,100}/").is_err());
    }

    #[test]
    fn addresses_with_ports() {
        assert_eq!(address_of(b"10.1.2.3:443"), parse_ip(b"10.1.2.3"));
        assert_eq!(address_of(b"[2001:db8::1]:53"), parse_ip(b"2001:db8::1"));
        assert_eq!(address_of(b"2001:db8::1"), parse_ip(b"2001:db8::1"));
        assert_eq!(address_of(b"evil.com:80"), None);
    }
}
