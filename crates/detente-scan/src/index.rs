//! The typed indicator index: hash sets per value type, per-prefix-length CIDR tables and a
//! label-by-label domain suffix walk. No per-indicator loop on the lookup path.

use detente_pattern::{MatchOptions, Matcher, ObservationSet, StixVersion};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::norm::{self, HashKind, Ip, MAX_DOMAIN, MAX_HASH, MAX_URL};
pub use detente_indicator::{Indicator, PatternIndicator, Provenance, Value};

/// How an observed value met an indicator; spelled as in the hit output's `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchKind {
    /// Exact IPv4 address.
    Ipv4,
    /// Exact IPv6 address.
    Ipv6,
    /// Address inside a CIDR indicator.
    Cidr,
    /// Domain equal to the indicator.
    Domain,
    /// Domain below the indicator on a label boundary.
    Subdomain,
    /// URL equal after normalisation.
    Url,
    /// MD5 digest.
    Md5,
    /// SHA-1 digest.
    Sha1,
    /// SHA-256 digest.
    Sha256,
    /// SHA-512 digest.
    Sha512,
    /// E-mail address.
    Email,
    /// A pattern beyond a single comparison.
    Pattern,
}

impl MatchKind {
    /// The output spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Ipv4 => "ipv4",
            MatchKind::Ipv6 => "ipv6",
            MatchKind::Cidr => "cidr",
            MatchKind::Domain => "domain",
            MatchKind::Subdomain => "subdomain",
            MatchKind::Url => "url",
            MatchKind::Md5 => "md5",
            MatchKind::Sha1 => "sha1",
            MatchKind::Sha256 => "sha256",
            MatchKind::Sha512 => "sha512",
            MatchKind::Email => "email",
            MatchKind::Pattern => "pattern",
        }
    }
}

/// The map key of a normalised text value.
fn text_key(b: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(b);
    h.finish()
}

/// Head of a chain of indicator numbers (`u32` indexes into [`Index::indicators`]); further
/// indicators with the same key follow through [`Index::next`], so no per-key vector is allocated.
type Ids = u32;

thread_local! {
    /// Scratch space for URL and e-mail normalisation, reused so the hot path does not zero
    /// 4 KiB per value.
    static URL_BUF: std::cell::RefCell<[u8; MAX_URL]> = const { std::cell::RefCell::new([0; MAX_URL]) };
}

/// Runs `f` with URL scratch space: the thread's buffer, or a fresh one when that is in use.
/// Lookups call back into their caller while the buffer is held, and a callback may itself
/// match a value (the allowlist check on a hit), so the buffer must not be borrowed twice.
fn with_url_buf<T>(f: impl FnOnce(&mut [u8; MAX_URL]) -> T) -> T {
    URL_BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut [0; MAX_URL]),
    })
}

/// The IPv4 prefilter has one bit per /20.
const V4_FILTER_SHIFT: u32 = 12;

/// End of an indicator chain.
const END: u32 = u32::MAX;

/// The lookup structure for one set of indicators (the indicators or the allowlist).
#[derive(Default)]
pub struct Index {
    indicators: Vec<Indicator>,
    ipv4: FxHashMap<u32, Ids>,
    ipv6: FxHashMap<u128, Ids>,
    cidr4: Vec<(u8, FxHashMap<u32, Ids>)>,
    cidr6: Vec<(u8, FxHashMap<u128, Ids>)>,
    /// Domains, URLs, digests and e-mail addresses, keyed by [`text_key`]: no key copies to
    /// allocate or follow on lookup; a chain member is confirmed against its indicator's value.
    domains: FxHashMap<u64, Ids>,
    urls: FxHashMap<u64, Ids>,
    /// The [`text_key`]s of the URL indicators' host parts (their canonical form up to the
    /// first `/`): [`Index::match_url`] skips canonicalising a URL whose host is already
    /// canonical and not among them.
    url_hosts: FxHashSet<u64>,
    hashes: FxHashMap<u64, Ids>,
    emails: FxHashMap<u64, Ids>,
    exact_domains: bool,
    /// Next indicator with the same key, per indicator.
    next: Vec<u32>,
    /// Whether a domain indicator also matches subdomains, per indicator.
    subdomains: Vec<bool>,
    /// One bit per IPv4 /20 holding any address or CIDR indicator (128 KiB, cache-resident):
    /// most observed addresses are rejected by one bit test instead of a hash lookup per
    /// prefix length.
    v4_filter: Vec<u64>,
    /// The same per /16 (8 KiB, stays in L1): most public addresses in logs are rejected here
    /// without the cache miss a lookup in the larger filter costs.
    v4_filter16: Vec<u64>,
    /// For complex-pattern atoms, the pattern's indicator number (else [`END`]).
    atom_of: Vec<u32>,
    /// Fewest labels of any domain indicator.
    min_labels: usize,
    /// Most labels of any domain indicator.
    max_labels: usize,
    /// Complex patterns' indicator numbers, in matcher order.
    patterns: Vec<u32>,
    /// Cross-record patterns' indicator numbers, ascending (evaluated by `crate::window`).
    cross: Vec<u32>,
    /// The pattern engine's compiled matcher over those patterns.
    matcher: Option<Matcher>,
    /// Per indicator, the distinct contributors of its value (empty until counted).
    contributors: Vec<u32>,
}

impl Index {
    /// An empty index; with `exact_domains` no domain indicator matches its subdomains.
    pub fn new(exact_domains: bool) -> Self {
        Index {
            exact_domains,
            ..Index::default()
        }
    }

    /// Number of indicators held.
    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    /// Whether the index holds no indicator.
    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    /// The indicator behind a lookup result.
    pub fn indicator(&self, n: u32) -> &Indicator {
        &self.indicators[n as usize]
    }

    /// All indicators, in load order.
    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    /// Counts, for every indicator, the distinct contributors among all indicators with the
    /// same normalised value (patterns: the same pattern text; a pattern's atoms count for
    /// nothing), or the most any of them has [`Provenance::attested`] if more. An indicator
    /// without a contributor counts as its own; call after the last insertion.
    pub fn count_contributors(&mut self) {
        // A pattern's atoms are parts of its claim, not claims of their own.
        let claims = self
            .indicators
            .iter()
            .zip(&self.atom_of)
            .filter(|(_, a)| **a == END)
            .map(|(i, _)| {
                let who = i.provenance.contributor.as_deref();
                (i.claim(), who.unwrap_or(i.id.as_str()))
            });
        let per = detente_indicator::score::distinct_parties(claims);
        // What a source attests cannot be told apart from other sources' parties: the larger
        // count stands, never their sum.
        let mut attested: FxHashMap<_, u32> = FxHashMap::default();
        for i in &self.indicators {
            let a = attested.entry(i.claim()).or_default();
            *a = (*a).max(i.provenance.attested);
        }
        self.contributors = self
            .indicators
            .iter()
            .map(|i| {
                let n = per.get(&i.claim()).copied().unwrap_or(0);
                n.max(attested.get(&i.claim()).copied().unwrap_or(0))
            })
            .collect();
    }

    /// The distinct contributors of an indicator's value, once counted.
    pub fn contributors(&self, n: u32) -> Option<u32> {
        self.contributors.get(n as usize).copied()
    }

    /// Adds a complex pattern: its atoms select records, the compiled matcher decides (a
    /// cross-record pattern: the stream's time windows, `crate::window`). Call
    /// [`Index::compile_patterns`] after the last one.
    pub fn insert_pattern(&mut self, p: PatternIndicator) {
        let pn = u32::try_from(self.indicators.len()).unwrap_or(u32::MAX);
        if detente_indicator::stix_pattern::is_cross_record(&p.pattern) {
            self.cross.push(pn);
        } else {
            self.patterns.push(pn);
        }
        self.indicators.push(Indicator {
            id: p.id.clone(),
            written: p.pattern,
            value: Value::Pattern,
            provenance: p.provenance.clone(),
        });
        self.next.push(END);
        self.subdomains.push(false);
        self.atom_of.push(END);
        for (written, value) in p.atoms {
            self.insert_with(
                Indicator {
                    id: p.id.clone(),
                    written,
                    value,
                    provenance: p.provenance.clone(),
                },
                pn,
            );
        }
    }

    /// What a match means for a log record, on both paths: the lookups here and the pattern
    /// engine's evaluation of complex and cross-record patterns (`docs/detection.md`, "What a
    /// match means"). Domains cover their subdomains unless the index is for exact domains.
    pub fn match_options(&self) -> MatchOptions {
        MatchOptions::scanner(!self.exact_domains)
    }

    /// Compiles the complex patterns added so far with the pattern engine.
    pub fn compile_patterns(&mut self) {
        let texts: Vec<&str> = self
            .patterns
            .iter()
            .map(|n| self.indicators[*n as usize].written.as_str())
            .collect();
        let opts = self.match_options();
        self.matcher =
            (!texts.is_empty()).then(|| Matcher::compile_with(&texts, StixVersion::V21, opts));
    }

    /// Number of complex patterns (cross-record ones included).
    pub fn pattern_count(&self) -> usize {
        self.patterns.len() + self.cross.len()
    }

    /// Indicator numbers of the cross-record patterns, ascending.
    pub fn cross_patterns(&self) -> &[u32] {
        &self.cross
    }

    /// Whether indicator `n` is a cross-record pattern.
    pub fn is_cross(&self, n: u32) -> bool {
        self.cross.binary_search(&n).is_ok()
    }

    /// The complex pattern an indicator is an atom of, if any.
    pub fn atom_of(&self, n: u32) -> Option<u32> {
        self.atom_of.get(n as usize).copied().filter(|p| *p != END)
    }

    /// Indicator numbers of the complex patterns that match the observations in `bundle`
    /// (STIX 2.1 `[bundle]` form, as the pattern engine reads it).
    pub fn patterns_matching(&self, bundle: &serde_json::Value) -> Vec<u32> {
        let Some(m) = &self.matcher else {
            return Vec::new();
        };
        let Ok(set) = ObservationSet::from_json(bundle, StixVersion::V21) else {
            return Vec::new();
        };
        m.evaluate(&set)
            .iter()
            .zip(&self.patterns)
            .filter(|(r, _)| r.as_ref().is_ok_and(|o| o.matched()))
            .map(|(_, n)| *n)
            .collect()
    }

    /// Makes room for `inds` before they are inserted one by one (saves rehashing as the
    /// tables grow).
    fn reserve_for(&mut self, inds: &[Indicator]) {
        let (mut v4, mut v6, mut dom, mut url, mut hash, mut mail) = (0, 0, 0, 0, 0, 0);
        for i in inds {
            match &i.value {
                Value::Net(Ip::V4(_), 32) => v4 += 1,
                Value::Net(Ip::V6(_), 128) => v6 += 1,
                Value::Domain(..) => dom += 1,
                Value::Url(_) => url += 1,
                Value::Hash(_) => hash += 1,
                Value::Email(_) => mail += 1,
                Value::Net(..) | Value::Pattern => {}
            }
        }
        self.ipv4.reserve(v4);
        self.ipv6.reserve(v6);
        self.domains.reserve(dom);
        self.urls.reserve(url);
        self.hashes.reserve(hash);
        self.emails.reserve(mail);
        self.indicators.reserve(inds.len());
        self.next.reserve(inds.len());
        self.subdomains.reserve(inds.len());
        self.atom_of.reserve(inds.len());
    }

    /// Adds indicators, as [`Index::insert`] on each in turn would; the lookup tables are filled
    /// by two threads (domains and e-mail addresses; the rest).
    pub fn extend(&mut self, mut inds: Vec<Indicator>) {
        // Patterns are only inserted through `insert_pattern`.
        inds.retain(|i| i.value != Value::Pattern);
        self.reserve_for(&inds);
        let base = self.indicators.len();
        for ind in &inds {
            match &ind.value {
                Value::Net(Ip::V4(v), len) => self.mark_v4(*v, *len),
                Value::Domain(d, _) => {
                    let labels = d.split('.').count();
                    // No domain so far: the tables are filled below, so ask `max_labels`.
                    if self.max_labels == 0 || labels < self.min_labels {
                        self.min_labels = labels;
                    }
                    self.max_labels = self.max_labels.max(labels);
                }
                _ => {}
            }
            self.next.push(END);
            let sub = matches!(ind.value, Value::Domain(_, true)) && !self.exact_domains;
            self.subdomains.push(sub);
            self.atom_of.push(END);
        }
        let numbered = || {
            inds.iter().enumerate().map(|(i, ind)| {
                let n = u32::try_from(base + i).unwrap_or(u32::MAX);
                (n, &ind.value)
            })
        };
        // Prepend to each key's chain (lookups report a key's indicators newest first); the
        // links are applied to `next` afterwards.
        let link = |slot: &mut u32, n: u32, links: &mut Vec<(u32, u32)>| {
            links.push((n, *slot));
            *slot = n;
        };
        let Index {
            ipv4,
            ipv6,
            cidr4,
            cidr6,
            domains,
            urls,
            url_hosts,
            hashes,
            emails,
            ..
        } = self;
        let (a, b) = rayon::join(
            || {
                let mut links = Vec::new();
                for (n, v) in numbered() {
                    match v {
                        Value::Domain(d, _) => {
                            link(
                                domains.entry(text_key(d.as_bytes())).or_insert(END),
                                n,
                                &mut links,
                            );
                        }
                        Value::Email(e) => {
                            link(
                                emails.entry(text_key(e.as_bytes())).or_insert(END),
                                n,
                                &mut links,
                            );
                        }
                        _ => {}
                    }
                }
                links
            },
            || {
                let mut links = Vec::new();
                for (n, v) in numbered() {
                    let slot = match v {
                        Value::Net(Ip::V4(v), 32) => ipv4.entry(*v).or_insert(END),
                        Value::Net(Ip::V6(v), 128) => ipv6.entry(*v).or_insert(END),
                        Value::Net(Ip::V4(v), len) => table(cidr4, *len).entry(*v).or_insert(END),
                        Value::Net(Ip::V6(v), len) => table(cidr6, *len).entry(*v).or_insert(END),
                        Value::Url(u) => {
                            url_hosts.insert(url_host_key(u));
                            urls.entry(text_key(u.as_bytes())).or_insert(END)
                        }
                        Value::Hash(h) => hashes.entry(text_key(h.as_bytes())).or_insert(END),
                        Value::Domain(..) | Value::Email(_) | Value::Pattern => continue,
                    };
                    link(slot, n, &mut links);
                }
                links
            },
        );
        for (n, prev) in a.into_iter().chain(b) {
            self.next[n as usize] = prev;
        }
        self.indicators.extend(inds);
    }

    /// Adds an indicator.
    pub fn insert(&mut self, ind: Indicator) {
        self.insert_with(ind, END);
    }

    fn insert_with(&mut self, ind: Indicator, atom_of: u32) {
        let n = u32::try_from(self.indicators.len()).unwrap_or(u32::MAX);
        if let Value::Net(Ip::V4(v), len) = ind.value {
            self.mark_v4(v, len);
        }
        let slot = match &ind.value {
            Value::Net(Ip::V4(v), 32) => self.ipv4.entry(*v).or_insert(END),
            Value::Net(Ip::V6(v), 128) => self.ipv6.entry(*v).or_insert(END),
            Value::Net(Ip::V4(v), len) => table(&mut self.cidr4, *len).entry(*v).or_insert(END),
            Value::Net(Ip::V6(v), len) => table(&mut self.cidr6, *len).entry(*v).or_insert(END),
            Value::Domain(d, _) => {
                let labels = d.split('.').count();
                if self.domains.is_empty() || labels < self.min_labels {
                    self.min_labels = labels;
                }
                self.max_labels = self.max_labels.max(labels);
                self.domains.entry(text_key(d.as_bytes())).or_insert(END)
            }
            Value::Url(u) => {
                self.url_hosts.insert(url_host_key(u));
                self.urls.entry(text_key(u.as_bytes())).or_insert(END)
            }
            Value::Hash(h) => self.hashes.entry(text_key(h.as_bytes())).or_insert(END),
            Value::Email(e) => self.emails.entry(text_key(e.as_bytes())).or_insert(END),
            // Patterns are only inserted through `insert_pattern`, never looked up by value.
            Value::Pattern => return,
        };
        // Prepend to the chain; lookups report a key's indicators newest first.
        self.next.push(*slot);
        *slot = n;
        // A pattern's atoms select what its evaluation can match: subdomains as the pattern
        // engine is told ([`Index::match_options`]).
        let sub =
            (atom_of != END || matches!(ind.value, Value::Domain(_, true))) && !self.exact_domains;
        self.subdomains.push(sub);
        self.atom_of.push(atom_of);
        self.indicators.push(ind);
    }

    fn mark_v4(&mut self, net: u32, len: u8) {
        if self.v4_filter.is_empty() {
            self.v4_filter = vec![0; (1 << 20) / 64];
            self.v4_filter16 = vec![0; (1 << 16) / 64];
        }
        let span = |shift: u32| {
            let last = net | u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            (net >> shift)..=(last >> shift)
        };
        set_bits(&mut self.v4_filter16, span(16));
        set_bits(&mut self.v4_filter, span(V4_FILTER_SHIFT));
    }

    #[inline(always)]
    fn v4_maybe(&self, v: u32) -> bool {
        let bit = |filter: &[u64], b: u32| {
            filter
                .get((b >> 6) as usize)
                .is_some_and(|w| w & (1 << (b & 63)) != 0)
        };
        bit(&self.v4_filter16, v >> 16) && bit(&self.v4_filter, v >> V4_FILTER_SHIFT)
    }

    /// The indicators under the text key of `v` in `map` whose value is `v` (a different text
    /// with the same key is not reported).
    fn text_chain<'s>(
        &'s self,
        map: &'s FxHashMap<u64, Ids>,
        v: &'s [u8],
    ) -> impl Iterator<Item = u32> + 's {
        self.chain(map.get(&text_key(v)))
            .filter(move |n| self.indicators[*n as usize].value.text() == v)
    }

    /// The indicators chained from `head` (a map lookup result).
    fn chain(&self, head: Option<&u32>) -> impl Iterator<Item = u32> + '_ {
        let mut n = head.copied().unwrap_or(END);
        std::iter::from_fn(move || {
            let cur = n;
            n = *self.next.get(cur as usize)?;
            Some(cur)
        })
    }

    /// Reports every indicator equal to or covering `ip`.
    #[inline]
    pub fn lookup_ip(&self, ip: Ip, emit: &mut impl FnMut(u32, MatchKind)) {
        // Inlined this far: most addresses stop at the filter, and a call's register saves cost
        // about as much as the filter itself.
        if let Ip::V4(v) = ip
            && !self.v4_maybe(v)
        {
            return;
        }
        self.lookup_ip_tables(ip, emit);
    }

    /// [`Index::lookup_ip`] past the IPv4 filter.
    #[inline(never)]
    fn lookup_ip_tables(&self, ip: Ip, emit: &mut impl FnMut(u32, MatchKind)) {
        match ip {
            Ip::V4(v) => {
                for n in self.chain(self.ipv4.get(&v)) {
                    emit(n, MatchKind::Ipv4);
                }
                for (len, t) in &self.cidr4 {
                    for n in self.chain(t.get(&norm::mask4(v, *len))) {
                        emit(n, MatchKind::Cidr);
                    }
                }
            }
            Ip::V6(v) => {
                for n in self.chain(self.ipv6.get(&v)) {
                    emit(n, MatchKind::Ipv6);
                }
                for (len, t) in &self.cidr6 {
                    for n in self.chain(t.get(&norm::mask6(v, *len))) {
                        emit(n, MatchKind::Cidr);
                    }
                }
            }
        }
    }

    /// CIDR indicators (and addresses) inside the block `net/len` — used for overlap reports.
    pub fn nets_within(&self, net: Ip, len: u8) -> Vec<u32> {
        let mut out = Vec::new();
        let mut add = |head: &u32| out.extend(self.chain(Some(head)));
        let inside4 =
            |v: u32, l: u8| matches!(net, Ip::V4(n) if l >= len && norm::mask4(v, len) == n);
        let inside6 =
            |v: u128, l: u8| matches!(net, Ip::V6(n) if l >= len && norm::mask6(v, len) == n);
        for (l, t) in &self.cidr4 {
            t.iter()
                .filter(|(v, _)| inside4(**v, *l))
                .for_each(|(_, h)| add(h));
        }
        for (l, t) in &self.cidr6 {
            t.iter()
                .filter(|(v, _)| inside6(**v, *l))
                .for_each(|(_, h)| add(h));
        }
        out
    }

    /// Reports domain indicators equal to `d` (already normalised) or, on label boundaries, above it.
    pub fn lookup_domain(&self, d: &[u8], emit: &mut impl FnMut(u32, MatchKind)) {
        if self.domains.is_empty() {
            return;
        }
        // Suffixes with more labels than the longest domain indicator cannot match: the
        // longest one looked up starts after the `max_labels`-th dot from the end, found by a
        // backward pass over those labels alone (not a count of the whole name's dots).
        let mut labels = 1;
        let mut start = 0;
        let mut i = d.len();
        while i > 0 {
            i -= 1;
            if d[i] == b'.' {
                if labels == self.max_labels {
                    start = i + 1;
                    break;
                }
                labels += 1;
            }
        }
        let mut rest = &d[start..];
        let mut first = start == 0;
        // Nor can suffixes with fewer labels than the shortest one (usually this skips the
        // bare TLD lookup).
        while labels >= self.min_labels {
            for n in self.text_chain(&self.domains, rest) {
                if first {
                    emit(n, MatchKind::Domain);
                } else if self.subdomains[n as usize] {
                    emit(n, MatchKind::Subdomain);
                }
            }
            if labels == self.min_labels {
                break;
            }
            // Labels are short: a byte loop beats a `memchr` call.
            match rest.iter().position(|c| *c == b'.') {
                Some(p) => rest = &rest[p + 1..],
                None => break,
            }
            labels -= 1;
            first = false;
        }
    }

    /// Reports URL indicators equal to the normalised URL `u`.
    pub fn lookup_url(&self, u: &[u8], emit: &mut impl FnMut(u32, MatchKind)) {
        for n in self.text_chain(&self.urls, u) {
            emit(n, MatchKind::Url);
        }
    }

    /// Reports hash indicators equal to the lower-case hex digest `h`.
    pub fn lookup_hash(&self, h: &[u8], emit: &mut impl FnMut(u32, MatchKind)) {
        let kind = match HashKind::from_hex_len(h.len()) {
            Some(HashKind::Md5) => MatchKind::Md5,
            Some(HashKind::Sha1) => MatchKind::Sha1,
            Some(HashKind::Sha512) => MatchKind::Sha512,
            Some(HashKind::Sha256) | None => MatchKind::Sha256,
        };
        for n in self.text_chain(&self.hashes, h) {
            emit(n, kind);
        }
    }

    /// Reports e-mail indicators equal to the lower-case address `e`.
    pub fn lookup_email(&self, e: &[u8], emit: &mut impl FnMut(u32, MatchKind)) {
        for n in self.text_chain(&self.emails, e) {
            emit(n, MatchKind::Email);
        }
    }

    /// Whether any URL indicators are loaded (lets readers skip URL rebuilding).
    pub fn has_urls(&self) -> bool {
        !self.urls.is_empty()
    }

    /// Classifies an observed value by shape ([`shape`]) and reports every indicator it meets.
    pub fn match_value(&self, v: &[u8], emit: &mut impl FnMut(u32, MatchKind)) {
        shape(v, |s| self.match_shape(&s, emit));
    }

    /// Reports every indicator a typed value meets: a URL's host is matched too.
    pub fn match_shape(&self, s: &Shape<'_>, emit: &mut impl FnMut(u32, MatchKind)) {
        match s {
            Shape::Ip(ip) => self.lookup_ip(*ip, emit),
            Shape::Hash(h) => self.lookup_hash(h, emit),
            Shape::Domain(d) => self.lookup_domain(d, emit),
            Shape::Email(e) => self.lookup_email(e, emit),
            Shape::Url(parts) => {
                self.lookup_url(parts.normalized, emit);
                self.match_host(parts.host, emit);
            }
            // No indicator is a Unicode name (sources keep domains in A-label form).
            Shape::Unicode(_) => {}
        }
    }

    /// Matches `v` as a URL only (its host is not looked up).
    pub fn match_url(&self, v: &[u8], emit: &mut impl FnMut(u32, MatchKind)) {
        if self.urls.is_empty() {
            return;
        }
        // Most URLs (Zeek's `host` + `uri`) have a host no URL indicator has: decided here by one
        // hash instead of a canonicalisation (1,000 instructions or more).
        // A value with no scheme (no `:` before its host ends) whose host is plain has that
        // host, then `/` and the path, as its canonical form, if any.
        if let Some(host) = norm::plain_host(v)
            && !self.url_hosts.contains(&text_key(host))
        {
            return;
        }
        with_url_buf(|u| {
            if let Some(parts) = norm::normalize_url(v, u) {
                self.lookup_url(parts.normalized, emit);
            }
        });
    }

    /// Matches a bare host (from a URL or a Host header) as an address or a domain.
    pub fn match_host(&self, host: &[u8], emit: &mut impl FnMut(u32, MatchKind)) {
        if let Some(v) = norm::parse_ipv4(host) {
            self.lookup_ip(Ip::V4(v), emit);
            return;
        }
        // A name in canonical form has no `:`, so is no IPv6 address: looked up as it is,
        // without the IPv6 parser's search for a `:` or a copy into a zeroed buffer.
        if let Some(d) = norm::canonical_domain(host) {
            self.lookup_domain(d, emit);
            return;
        }
        if let Some(ip) = norm::parse_ipv6(host) {
            self.lookup_ip(Ip::from_v6(ip), emit);
            return;
        }
        let mut d = [0u8; MAX_DOMAIN];
        if let Some(d) = norm::normalize_domain(host, &mut d) {
            self.lookup_domain(d, emit);
        }
    }

    /// Whether the observed value meets any indicator here (the allowlist test).
    pub fn contains_value(&self, v: &[u8]) -> bool {
        let mut hit = false;
        self.match_value(v, &mut |_, _| hit = true);
        hit
    }
}

/// What an observed value is, by its shape: the scanner's typing, shared by the indicator
/// lookups ([`Index::match_shape`]) and by checks on host names ([`host_name`]).
#[derive(Debug)]
pub enum Shape<'a> {
    /// An IPv4 address (optionally with `:port`) or an IPv6 address.
    Ip(Ip),
    /// A lower-case hex digest (MD5, SHA-1, SHA-256).
    Hash(&'a [u8]),
    /// A lower-case domain name, a `:port` dropped.
    Domain(&'a [u8]),
    /// A lower-case e-mail address (`mailto:` dropped).
    Email(&'a [u8]),
    /// A URL, with or without scheme (`host/path` only when the host looks like one).
    Url(norm::UrlParts<'a>),
    /// A name with non-ASCII characters and a dot, as written (an internationalised name in
    /// Unicode form; no whitespace).
    Unicode(&'a str),
}

impl Shape<'_> {
    /// The host name the value names, if any: a domain, an e-mail address's domain, a URL's
    /// host (as written, unless an address), a Unicode name.
    pub fn host(&self) -> Option<&[u8]> {
        match self {
            Shape::Domain(d) => Some(d),
            Shape::Email(e) => memchr::memrchr(b'@', e).map(|p| &e[p + 1..]),
            Shape::Url(parts) => norm::parse_ip(parts.host).is_none().then_some(parts.host),
            Shape::Unicode(s) => Some(s.as_bytes()),
            Shape::Ip(_) | Shape::Hash(_) => None,
        }
    }
}

/// Types an observed value and hands its shape to `f`; `None` (and `f` not called) when it is
/// none of [`Shape`]'s. Addresses (IPv4 optionally with `:port`), digests, URLs, e-mail
/// addresses, domains (optionally with `:port`), scheme-less `host/path` URLs and Unicode names
/// are recognised; surrounding whitespace is not dropped.
pub fn shape<T>(v: &[u8], f: impl FnOnce(Shape<'_>) -> T) -> Option<T> {
    let &c0 = v.first()?;
    if c0.is_ascii_digit()
        && let Some((ip, n)) = norm::parse_ipv4_prefix(v)
        && (n == v.len() || is_port_suffix(&v[n..]))
    {
        return Some(f(Shape::Ip(Ip::V4(ip))));
    }
    if matches!(v.len(), 32 | 40 | 64 | 128) {
        let mut h = [0u8; MAX_HASH];
        if let Some(h) = norm::normalize_hash(v, &mut h) {
            return Some(f(Shape::Hash(h)));
        }
    }
    // Short values (most log fields) are typed by one branch-free pass; a value with neither a
    // separator nor a dot is nothing we type.
    let mut flags = NON_ASCII | DOT | URL_BYTE;
    if v.len() <= 32 {
        flags = v.iter().fold(0u8, |f, c| f | VALUE_CLASS[usize::from(*c)]);
        if flags & (DOT | URL_BYTE) == 0 {
            return None;
        }
    }
    // A byte loop, not `memchr3`: values are short and the byte sought, if any, comes early
    // (`http:`, `Mozilla/`), where a call's setup costs more than the search. Not at all when
    // the pass above saw none (a short name: the most common value with a dot).
    let p = if flags & URL_BYTE == 0 {
        None
    } else {
        v.iter().position(|c| matches!(c, b'/' | b'@' | b':'))
    };
    let Some(p) = p else {
        // No `/`, `@` or `:`: a domain name, a Unicode name or nothing (both want a dot). Most
        // names are written in canonical form already: no buffer to zero, no copy.
        if let Some(d) = norm::canonical_domain(v) {
            return Some(f(Shape::Domain(d)));
        }
        let mut d = [0u8; MAX_DOMAIN];
        if let Some(d) = norm::normalize_domain(v, &mut d) {
            return Some(f(Shape::Domain(d)));
        }
        if flags & NON_ASCII != 0
            && !v.is_ascii()
            && memchr::memchr(b'.', v).is_some()
            && let Ok(s) = std::str::from_utf8(v)
            && !s.contains(char::is_whitespace)
        {
            return Some(f(Shape::Unicode(s)));
        }
        return None;
    };
    if v[p] == b':'
        && (c0.is_ascii_hexdigit() || c0 == b':')
        && let Some(ip) = norm::parse_ipv6(v)
    {
        return Some(f(Shape::Ip(Ip::from_v6(ip))));
    }
    match v[p] {
        b'@' if !norm::has_scheme(v) => {
            with_url_buf(|e| norm::normalize_email(v, e).map(|e| f(Shape::Email(e))))
        }
        b':' if v[..p] == *b"mailto" => {
            with_url_buf(|e| norm::normalize_email(v, e).map(|e| f(Shape::Email(e))))
        }
        b':' if is_port_suffix(&v[p..]) => {
            let mut d = [0u8; MAX_DOMAIN];
            norm::normalize_domain(&v[..p], &mut d).map(|d| f(Shape::Domain(d)))
        }
        // A bare path (`/index.php`) names no host.
        _ if c0 == b'/' => None,
        _ => {
            // Without a scheme only `host/path` with a real host counts as a URL; check the
            // host before normalising (user agents and MIME types also contain `/`).
            if !norm::has_scheme(v) {
                let end = v
                    .iter()
                    .position(|c| matches!(c, b'/' | b'?'))
                    .unwrap_or(v.len());
                let host = v[..end].split(|c| *c == b':').next().unwrap_or_default();
                if !looks_like_host(host) {
                    return None;
                }
            }
            // Most URLs are written in canonical form already: no copy, no buffer.
            if let Some(parts) = norm::plain_url(v) {
                return Some(f(Shape::Url(parts)));
            }
            with_url_buf(|u| norm::normalize_url(v, u).map(|parts| f(Shape::Url(parts))))
        }
    }
}

/// The host name a log value names, for checks on host names (look-alikes): the value's
/// [`Shape::host`], surrounding ASCII whitespace dropped first.
pub fn host_name<T>(v: &[u8], f: impl FnOnce(&[u8]) -> T) -> Option<T> {
    shape(v.trim_ascii(), |s| s.host().map(f)).flatten()
}

/// [`VALUE_CLASS`]: `.`.
const DOT: u8 = 1;
/// [`VALUE_CLASS`]: a byte of a non-ASCII character.
const NON_ASCII: u8 = 2;
/// [`VALUE_CLASS`]: `/`, `@` or `:`.
const URL_BYTE: u8 = 4;

/// Bytes that make a value more than a bare word: `/`, `@`, `:` (URL, e-mail, port, IPv6) are
/// [`URL_BYTE`]s and `.` (domain) is [`DOT`], and a value without any is not typed; bytes of
/// non-ASCII characters are marked [`NON_ASCII`] (a Unicode name).
static VALUE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'/' as usize] = URL_BYTE;
    t[b'@' as usize] = URL_BYTE;
    t[b':' as usize] = URL_BYTE;
    t[b'.' as usize] = DOT;
    let mut c = 0x80;
    while c < 256 {
        t[c] = NON_ASCII;
        c += 1;
    }
    t
};

fn looks_like_host(h: &[u8]) -> bool {
    // An address has a `.` or a `:`, and so has a name short enough for the ASCII rules: the
    // values that get here are mostly user agents and MIME types (`curl/8.5`, `text/html`),
    // rejected by this one pass before two parsers and a buffer to zero.
    if h.len() <= MAX_DOMAIN && !h.iter().any(|c| matches!(c, b'.' | b':')) {
        return false;
    }
    let mut d = [0u8; MAX_DOMAIN];
    norm::parse_ip(h).is_some() || norm::normalize_domain(h, &mut d).is_some()
}

/// The key of a canonical URL's host part: everything before its first `/` (host, brackets
/// and a port as [`norm::normalize_url`] writes them).
fn url_host_key(u: &str) -> u64 {
    let u = u.as_bytes();
    text_key(u.split(|c| *c == b'/').next().unwrap_or(u))
}

fn is_port_suffix(s: &[u8]) -> bool {
    s.len() >= 2 && s.len() <= 6 && s[0] == b':' && s[1..].iter().all(u8::is_ascii_digit)
}

fn table<K>(tables: &mut Vec<(u8, FxHashMap<K, Ids>)>, len: u8) -> &mut FxHashMap<K, Ids> {
    let pos = match tables.iter().position(|(l, _)| *l == len) {
        Some(p) => p,
        None => {
            tables.push((len, FxHashMap::default()));
            tables.sort_by_key(|(l, _)| *l);
            tables.iter().position(|(l, _)| *l == len).unwrap_or(0)
        }
    };
    &mut tables[pos].1
}

/// Sets bits `bits` of `filter`, a word at a time where whole words are covered (a /0 network
/// would otherwise set a million bits one by one).
fn set_bits(filter: &mut [u64], bits: std::ops::RangeInclusive<u32>) {
    let (first, last) = (*bits.start() as usize, *bits.end() as usize);
    for w in first / 64..=last / 64 {
        let lo = if w == first / 64 { first % 64 } else { 0 };
        let hi = if w == last / 64 { last % 64 } else { 63 };
        let mask = (u64::MAX >> (63 - hi)) & (u64::MAX << lo);
        if let Some(word) = filter.get_mut(w) {
            *word |= mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn set_bits_sets_exactly_the_range(a in 0u32..4096, b in 0u32..4096, seed: u64) {
            let (first, last) = (a.min(b), a.max(b));
            let mut fast = vec![seed; 4096 / 64];
            let mut slow = fast.clone();
            set_bits(&mut fast, first..=last);
            for bit in first..=last {
                slow[(bit >> 6) as usize] |= 1 << (bit & 63);
            }
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    fn index(values: &[&str]) -> Index {
        let mut ix = Index::new(false);
        for (i, v) in values.iter().enumerate() {
            let value = Value::guess(v, true).unwrap();
            ix.insert(Indicator {
                id: format!("i{i}"),
                written: v.to_string(),
                value,
                provenance: Provenance::default(),
            });
        }
        ix
    }

    fn hits(ix: &Index, v: &str) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        ix.match_value(v.as_bytes(), &mut |n, k| {
            out.push((ix.indicator(n).written.clone(), k.as_str()))
        });
        out.sort();
        out
    }

    #[test]
    fn extend_builds_what_inserts_build() {
        let values = [
            "evil.com",
            "a.evil.com",
            "10.0.0.0/8",
            "10.1.2.3",
            "10.1.2.3",
            "2001:db8::/32",
            "2001:db8::7",
            "http://evil.com/a",
            "evil.com",
            "bob@evil.com",
            "d41d8cd98f00b204e9800998ecf8427e",
            "x.y.z.example.org",
        ];
        let inds: Vec<Indicator> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Indicator {
                id: format!("i{i}"),
                written: v.to_string(),
                value: Value::guess(v, true).unwrap(),
                provenance: Provenance::default(),
            })
            .collect();
        let mut one = Index::new(false);
        inds.iter().cloned().for_each(|i| one.insert(i));
        let mut all = Index::new(false);
        all.insert(inds[0].clone());
        all.extend(inds[1..].to_vec());
        for probe in [
            "evil.com",
            "q.a.evil.com",
            "10.1.2.3",
            "10.9.9.9",
            "2001:db8::7",
            "http://evil.com/a",
            "BOB@evil.com",
            "D41D8CD98F00B204E9800998ECF8427E",
            "w.x.y.z.example.org",
            "y.z.example.org",
        ] {
            let seq = |ix: &Index| {
                let mut out = Vec::new();
                ix.match_value(probe.as_bytes(), &mut |n, k| out.push((n, k)));
                out
            };
            assert_eq!(seq(&all), seq(&one), "{probe}");
        }
        assert_eq!(all.len(), one.len());
    }

    #[test]
    fn domain_label_boundaries() {
        let ix = index(&["evil.com", "microsoft.com"]);
        assert_eq!(
            hits(&ix, "a.b.EVIL.com."),
            vec![("evil.com".into(), "subdomain")]
        );
        assert_eq!(hits(&ix, "evil.com"), vec![("evil.com".into(), "domain")]);
        assert!(hits(&ix, "notevil.com").is_empty());
        assert!(hits(&ix, "evil.com.au").is_empty());
        assert!(hits(&ix, "maps.microsoft.com.au").is_empty());
        let exact = {
            let mut ix = Index::new(true);
            ix.insert(Indicator {
                id: "x".into(),
                written: "evil.com".into(),
                value: Value::guess("evil.com", true).unwrap(),
                provenance: Provenance::default(),
            });
            ix
        };
        assert!(hits(&exact, "a.evil.com").is_empty());
    }

    #[test]
    fn shortest_indicator_sets_the_suffix_walk() {
        let mut ix = Index::new(false);
        for v in ["a.b.example.org", "zz"] {
            let value = Value::Domain(v.into(), true);
            ix.insert(Indicator {
                id: v.into(),
                written: v.into(),
                value,
                provenance: Provenance::default(),
            });
        }
        assert_eq!(
            hits(&ix, "x.a.b.example.org"),
            vec![("a.b.example.org".into(), "subdomain")]
        );
        assert_eq!(hits(&ix, "host.zz"), vec![("zz".into(), "subdomain")]);
        // Suffixes longer than the longest indicator are skipped, not the ones below them.
        assert_eq!(
            hits(&ix, "q.r.x.a.b.example.org"),
            vec![("a.b.example.org".into(), "subdomain")]
        );
        assert!(hits(&ix, "b.example.org").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn domain_suffix_walk_meets_every_covering_indicator(
            inds in proptest::collection::vec((proptest::collection::vec(0usize..3, 1..5), proptest::prelude::any::<bool>()), 1..6),
            probe in proptest::collection::vec(0usize..3, 0..8),
            exact: bool,
        ) {
            // Few labels, so names share suffixes; each indicator with or without subdomains.
            const LABELS: [&str; 3] = ["a", "bb", "c"];
            let name = |ls: &[usize]| ls.iter().map(|l| LABELS[*l]).collect::<Vec<_>>().join(".");
            let mut ix = Index::new(exact);
            for (i, (ls, sub)) in inds.iter().enumerate() {
                ix.insert(Indicator {
                    id: format!("i{i}"),
                    written: name(ls),
                    value: Value::Domain(name(ls), *sub),
                    provenance: Provenance::default(),
                });
            }
            let d = name(&probe);
            let mut got = Vec::new();
            ix.lookup_domain(d.as_bytes(), &mut |n, k| got.push((n, k)));
            // Every suffix on a label boundary, longest first; each key's indicators newest first.
            let mut want = Vec::new();
            for cut in 0..probe.len().max(1) {
                let suffix = name(&probe[cut.min(probe.len())..]);
                for n in (0..inds.len()).rev() {
                    let (ls, sub) = &inds[n];
                    if name(ls) != suffix {
                        continue;
                    }
                    if cut == 0 {
                        want.push((n as u32, MatchKind::Domain));
                    } else if *sub && !exact {
                        want.push((n as u32, MatchKind::Subdomain));
                    }
                }
            }
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn every_covering_cidr() {
        let ix = index(&["10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", "10.2.0.0/16"]);
        let got = hits(&ix, "10.1.2.3");
        assert_eq!(got.len(), 3);
        assert!(got.contains(&("10.1.2.3".into(), "ipv4")));
        assert!(hits(&ix, "11.1.2.3").is_empty());
        assert!(hits(&ix, "10.1.2.34").iter().all(|(_, k)| *k == "cidr"));
    }

    #[test]
    fn urls_match_url_and_host() {
        let ix = index(&["http://evil.com/a.php", "evil.com", "https://1.2.3.4/x"]);
        let got = hits(&ix, "HTTPS://EVIL.com:443/a.php");
        assert_eq!(
            got,
            vec![
                ("evil.com".into(), "domain"),
                ("http://evil.com/a.php".into(), "url")
            ]
        );
        assert_eq!(hits(&ix, "1.2.3.4/x").len(), 1);
        assert!(hits(&ix, "Mozilla/5.0").is_empty());
    }

    #[test]
    fn contributors_are_counted_per_value() {
        let mut ix = Index::new(false);
        let by = |v: &str, who: Option<&str>| Indicator {
            id: format!("indicator--{v}-{who:?}"),
            written: v.to_string(),
            value: Value::guess(v, true).unwrap(),
            provenance: Provenance {
                contributor: who.map(str::to_string),
                ..Provenance::default()
            },
        };
        ix.extend(vec![
            by("evil.com", Some("a")),
            by("EVIL.com.", Some("a")),
            by("evil.com", Some("b")),
            by("10.0.0.1", Some("a")),
            by("10.0.0.1", None),
        ]);
        ix.insert_pattern(PatternIndicator {
            id: "indicator--p".into(),
            pattern: "[ipv4-addr:value = '10.0.0.2'] AND [x:y = 'z']".into(),
            atoms: vec![("10.0.0.2".into(), Value::guess("10.0.0.2", true).unwrap())],
            provenance: Provenance {
                contributor: Some("c".into()),
                ..Provenance::default()
            },
        });
        ix.insert(by("10.0.0.2", Some("a")));
        assert_eq!(ix.contributors(0), None);
        ix.count_contributors();
        let counts: Vec<_> = (0..ix.len() as u32).map(|n| ix.contributors(n)).collect();
        // evil.com: a, b; 10.0.0.1: a and one unattributed; 10.0.0.2: only a (c's atom is
        // part of c's pattern).
        assert_eq!(counts[..5], [Some(2), Some(2), Some(2), Some(2), Some(2)]);
        let last = u32::try_from(ix.len() - 1).unwrap();
        assert_eq!(ix.contributors(last), Some(1));
        // A source attesting three contributors of evil.com raises its count (a, b) to three,
        // not to five; attesting one changes nothing.
        let attested = |v: &str, n: u32| {
            let mut i = by(v, Some("a"));
            i.provenance.attested = n;
            i
        };
        ix.extend(vec![attested("evil.com", 3), attested("10.0.0.1", 1)]);
        ix.count_contributors();
        assert_eq!(ix.contributors(0), Some(3));
        assert_eq!(ix.contributors(3), Some(2), "a and the unattributed one");
    }

    #[test]
    fn lookups_may_run_inside_lookups() {
        // A hit's callback checks the same value against a second index (the allowlist) while
        // the first still holds its URL scratch space.
        let outer = index(&["http://evil.com/a", "bob@evil.com"]);
        let inner = index(&["evil.com"]);
        for v in ["http://evil.com/a", "bob@evil.com"] {
            let mut seen = Vec::new();
            outer.match_value(v.as_bytes(), &mut |n, _| {
                let mut nested = 0;
                inner.match_value(v.as_bytes(), &mut |_, _| nested += 1);
                seen.push((n, nested));
            });
            assert_eq!(seen.len(), 1, "{v}");
            assert_eq!(seen[0].1, usize::from(v.starts_with("http")), "{v}");
        }
    }

    #[test]
    fn mailto_addresses_are_email_addresses() {
        let ix = index(&["bob@evil.com"]);
        assert_eq!(
            hits(&ix, "mailto:Bob@Evil.com"),
            vec![("bob@evil.com".into(), "email")]
        );
    }

    proptest::proptest! {
        /// The host prefilter of `match_url` drops no URL that canonicalisation would match:
        /// the same hits as canonicalising every value, on hosts with upper case, ports, user
        /// info, schemes, brackets and trailing dots.
        #[test]
        fn url_host_prefilter_drops_no_match(
            host in "(([a-zA-Z]{1,3}:)?//)?([a-z]{1,2}@)?(evil\\.com|Evil\\.com|ev_il\\.com|evil\\.com\\.|1\\.2\\.3\\.4|\\[::1\\]|x\\.org)(:[0-9]{1,3})?",
            path in "[/?#]?[a-z/?#]{0,4}",
        ) {
            let ix = index(&[
                "http://evil.com/a",
                "evil.com:8080/",
                "https://ev_il.com/a?b",
                "1.2.3.4/",
                "http://[::1]/a",
                "evil.com/",
            ]);
            let v = format!("{host}{path}");
            let mut got = Vec::new();
            ix.match_url(v.as_bytes(), &mut |n, k| got.push((n, k)));
            let mut want = Vec::new();
            let mut buf = [0u8; MAX_URL];
            if let Some(parts) = norm::normalize_url(v.as_bytes(), &mut buf) {
                ix.lookup_url(parts.normalized, &mut |n, k| want.push((n, k)));
            }
            proptest::prop_assert_eq!(got, want);
        }

        /// The early rejection in `looks_like_host` drops nothing either parser accepts.
        #[test]
        fn looks_like_host_agrees_with_the_parsers(h in "[a-zA-Z0-9.:/-]{0,12}|\\PC{0,10}") {
            let mut d = [0u8; MAX_DOMAIN];
            let parsed = norm::parse_ip(h.as_bytes()).is_some()
                || norm::normalize_domain(h.as_bytes(), &mut d).is_some();
            proptest::prop_assert_eq!(looks_like_host(h.as_bytes()), parsed);
        }
    }

    #[test]
    fn host_names() {
        let host = |v: &str| host_name(v.as_bytes(), |h| String::from_utf8_lossy(h).into_owned());
        for (v, h) in [
            ("Sos-CA-gov.com.", "sos-ca-gov.com"),
            ("sos-ca-gov.com:8443", "sos-ca-gov.com"),
            ("https://u@Sos-Ca-Gov.com:8443/x?y", "Sos-Ca-Gov.com"),
            ("sos-ca-gov.com/login", "sos-ca-gov.com"),
            ("Info@Fvap-Gov.com", "fvap-gov.com"),
            ("mailto:info@fvap-gov.com", "fvap-gov.com"),
            (" sos-ca-gov.com\t", "sos-ca-gov.com"),
            // A Unicode name IDNA accepts is read as its A-label (one form for every check).
            ("\u{455}os.ca.gov", "xn--os-doc.ca.gov"),
        ] {
            assert_eq!(host(v).as_deref(), Some(h), "{v}");
        }
        for v in [
            "http://1.2.3.4/x",
            "1.2.3.4:80",
            "2001:db8::1",
            "Mozilla/5.0 (X11)",
            "/a/b.php",
            "1726531200.5",
            "\u{455}os ca.gov",
            "\u{455}os",
            "d41d8cd98f00b204e9800998ecf8427e",
            "hello",
        ] {
            assert_eq!(host(v), None, "{v}");
        }
    }

    #[test]
    fn hashes_and_ipv6() {
        let h = "D41D8CD98F00B204E9800998ECF8427E";
        let ix = index(&[h, "2001:db8::/32"]);
        assert_eq!(hits(&ix, &h.to_lowercase()), vec![(h.into(), "md5")]);
        assert_eq!(
            hits(&ix, "2001:db8::7"),
            vec![("2001:db8::/32".into(), "cidr")]
        );
    }
}
