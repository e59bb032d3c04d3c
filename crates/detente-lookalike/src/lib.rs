//! Look-alike domains: which protected domain an observed host name imitates, and how.
//!
//! [`Index::new`] takes the protected domains and builds hash maps of a few normalised keys per
//! domain (the whole name and its one-character deletions, its confusable fold, its name without
//! the TLD, its labels run together). [`Index::classify`] computes the same keys for an observed
//! name and probes them, so the work per name depends on the name's length, not on how many
//! domains are protected; the few candidates found are then checked exactly and the technique
//! named with dnstwist's fuzzer names ([`Technique`]). [`generate`] lists permutations of one
//! domain from the same tables. Pure: no I/O, no clocks.
//!
//! Per-process state: the look-up tables (confusables, keyboard neighbours, TLDs:
//! `tables::TABLES`), built once on first use and read-only after.

#![forbid(unsafe_code)]

mod fold;
mod generate;
mod pair;
mod tables;

use rustc_hash::FxHashMap;

pub use fold::MAX_HOST;
/// Arithmetic modulo the Mersenne prime 2^61 − 1, as the look-alike tables hash (also the
/// scan's clean-name fingerprints).
pub use fold::hash::{P as P61, add as addmod61, mul as mulmod61};
pub use generate::generate;

use fold::hash;

/// How a look-alike imitates its protected domain. The order is dnstwist's fuzzer order: a name
/// several techniques explain is named after the first, as dnstwist names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Technique {
    /// A character appended to a label or before a hyphen (`sos.caa.gov`).
    Addition,
    /// One bit of one character flipped (`sos.ka.gov`).
    Bitsquatting,
    /// Latin letters replaced by Cyrillic ones (`ѕos.ca.gov`).
    Cyrillic,
    /// Characters replaced by look-alike glyphs (`s0s.ca.gov`, `rn` for `m`).
    Homoglyph,
    /// A hyphen inserted inside a label (`s-os.ca.gov`).
    Hyphenation,
    /// A keyboard neighbour inserted next to a character (`sos.cxa.gov`).
    Insertion,
    /// One character left out (`so.ca.gov`).
    Omission,
    /// `s` or `es` inserted as if pluralising (`electionss.gov`).
    Plural,
    /// One character doubled (`soos.ca.gov`).
    Repetition,
    /// One character replaced by a keyboard neighbour (`sos.cs.gov`).
    Replacement,
    /// A dot inserted inside a label (`s.os.ca.gov`).
    Subdomain,
    /// Two adjacent characters swapped (`sos.ac.gov`).
    Transposition,
    /// One vowel replaced by another (`sos.ce.gov`).
    VowelSwap,
    /// Dictionary words added around the name (`sos.ca.gov-results.info`, `vote-fvap.org`).
    Dictionary,
    /// Another top-level domain (`sos.ca.com`).
    TldSwap,
    /// Dots and hyphens folded or moved (`sosca.gov`, `sos-ca-gov.com`).
    Various,
    /// The whole protected name inside a longer host (`sos-ca.gov.example.com`); not a dnstwist
    /// fuzzer.
    Embedding,
}

impl Technique {
    /// Every technique, in order.
    pub const ALL: [Technique; 17] = [
        Technique::Addition,
        Technique::Bitsquatting,
        Technique::Cyrillic,
        Technique::Homoglyph,
        Technique::Hyphenation,
        Technique::Insertion,
        Technique::Omission,
        Technique::Plural,
        Technique::Repetition,
        Technique::Replacement,
        Technique::Subdomain,
        Technique::Transposition,
        Technique::VowelSwap,
        Technique::Dictionary,
        Technique::TldSwap,
        Technique::Various,
        Technique::Embedding,
    ];

    /// dnstwist's name of the fuzzer (`embedding` is ours).
    pub fn as_str(self) -> &'static str {
        match self {
            Technique::Addition => "addition",
            Technique::Bitsquatting => "bitsquatting",
            Technique::Cyrillic => "cyrillic",
            Technique::Homoglyph => "homoglyph",
            Technique::Hyphenation => "hyphenation",
            Technique::Insertion => "insertion",
            Technique::Omission => "omission",
            Technique::Plural => "plural",
            Technique::Repetition => "repetition",
            Technique::Replacement => "replacement",
            Technique::Subdomain => "subdomain",
            Technique::Transposition => "transposition",
            Technique::VowelSwap => "vowel-swap",
            Technique::Dictionary => "dictionary",
            Technique::TldSwap => "tld-swap",
            Technique::Various => "various",
            Technique::Embedding => "embedding",
        }
    }

    /// How closely a name made this way imitates the original, in (0, 1]: glyph swaps read
    /// the same, one-character typos nearly so, added words and other TLDs less.
    pub fn score(self) -> f32 {
        match self {
            Technique::Cyrillic | Technique::Homoglyph => 0.95,
            Technique::Various => 0.9,
            Technique::Embedding => 0.85,
            Technique::Transposition
            | Technique::Omission
            | Technique::Repetition
            | Technique::Hyphenation
            | Technique::Subdomain
            | Technique::Bitsquatting => 0.8,
            Technique::Addition
            | Technique::Insertion
            | Technique::Replacement
            | Technique::VowelSwap
            | Technique::Plural => 0.75,
            Technique::Dictionary => 0.7,
            Technique::TldSwap => 0.6,
        }
    }
}

impl std::fmt::Display for Technique {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a protected domain was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not a host name of two or more labels.
    #[error("{0:?} is not a domain name (two or more labels of letters, digits and hyphens)")]
    NotADomain(String),
}

/// One look-alike found: which protected domain, how, and how closely.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Finding {
    /// Index of the protected domain in [`Index::protected`].
    pub protected: u32,
    /// The technique.
    pub technique: Technique,
    /// [`Technique::score`].
    pub score: f32,
}

/// One protected domain, prepared.
#[derive(Debug)]
pub(crate) struct Entry {
    /// As given, normalised (Unicode).
    pub text: String,
    /// Normalised characters.
    pub chars: Vec<char>,
    /// The A-label form, for an internationalised name.
    pub alabel: Option<Vec<char>>,
    /// The characters' confusable folds, pairs merged left to right and right to left.
    pub folds: [Vec<char>; 2],
    /// Where its TLD (public suffix) starts in `chars`.
    pub tld: usize,
    /// All labels run together, without dots and hyphens.
    pub all: Vec<char>,
    /// The labels before the TLD run together.
    pub name: Vec<char>,
}

/// Protected domains, indexed for look-alike classification.
#[derive(Debug, Default)]
pub struct Index {
    entries: Vec<Entry>,
    /// Protected names (Unicode and A-label form): exact and real-subdomain check.
    exact: FxHashMap<u64, u32>,
    /// The first three characters of every key of `exact`: far fewer than of `edits`, so a
    /// name's hashes are seldom computed for this check alone.
    exact_grams: Grams,
    /// Each name and its one-character deletions (and plural `es` forms).
    edits: Keys,
    /// The first three characters of every key of `edits`.
    edit_grams: Grams,
    /// The confusable fold.
    folds: Keys,
    /// The first three characters of every key of `folds`.
    fold_grams: Grams,
    /// The folds' characters that no pair merge touches: an ASCII name whose suffixes keep
    /// none of these is folded no further.
    fold_unpaired: Unpaired,
    /// The name without its TLD.
    names: Keys,
    /// The first three characters of every key of `names`.
    name_grams: Grams,
    /// All labels run together, and the labels before the TLD run together.
    runs: Keys,
    /// The first three characters of every key of `runs`.
    run_grams: Grams,
    /// Bit `n` set when some key of `edits` covers `n` characters.
    edit_lens: [u64; 4],
    /// The longest run key.
    max_run: usize,
    /// The most labels of a protected domain.
    max_labels: usize,
}

/// Keys to protected-domain numbers, compact because most keys lead to one domain: 12 bytes
/// a key in the table, so more of it stays in cache while names are classified.
#[derive(Debug, Default)]
struct Keys {
    /// A domain number, or `MANY` and an index into `more`.
    map: FxHashMap<u64, u32>,
    more: Vec<Vec<u32>>,
    /// One bit per key (a Bloom filter with one hash), about 16 bits a key: most probes miss,
    /// and a bit costs less to look at than the table.
    bits: Vec<u64>,
}

const MANY: u32 = 1 << 31;

/// The first three characters, the last character and the length of a table's keys, one bit
/// each (one hash, 2^16 bits: 8 KiB). A probe string whose first three characters, last
/// character and length no key has cannot hit, so a whole family of probes is skipped on one
/// bit: the deletions of `s[a..]` after its third character and before its last all start and
/// end like each other and have one length, and most observed names start, end or measure like
/// no protected one. Keys and probes shorter than three characters are not gated.
#[derive(Debug, Default)]
struct Grams {
    bits: Vec<u64>,
}

/// log2 of the bits of a [`Grams`].
const GRAM_BITS: u32 = 16;

impl Grams {
    fn bit(a: char, b: char, c: char, last: char, len: usize) -> (usize, u64) {
        let x = u64::from(a) | u64::from(b) << 21 | u64::from(c) << 42;
        let y = u64::from(last) | (len as u64) << 21;
        let i = ((x ^ y.wrapping_mul(0xff51_afd7_ed55_8ccd)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            >> (64 - GRAM_BITS)) as usize;
        (i / 64, 1 << (i % 64))
    }

    /// Notes the first three characters, the last one and the length of `key` (nothing for a
    /// shorter key).
    fn add(&mut self, key: &[char]) {
        if key.len() < 3 {
            return;
        }
        if self.bits.is_empty() {
            self.bits = vec![0; (1 << GRAM_BITS) / 64];
        }
        let (w, b) = Grams::bit(key[0], key[1], key[2], key[key.len() - 1], key.len());
        self.bits[w] |= b;
    }

    /// Whether some key of `len` characters may start with `a`, `b`, `c` and end with `last`.
    fn may(&self, a: char, b: char, c: char, last: char, len: usize) -> bool {
        let (w, b) = Grams::bit(a, b, c, last, len);
        self.bits.get(w).is_some_and(|x| x & b != 0)
    }

    /// Whether a probe of `s` may hit: shorter than three characters, or starting, ending and
    /// measuring as some key.
    fn open(&self, s: &[char]) -> bool {
        s.len() < 3 || self.may(s[0], s[1], s[2], s[s.len() - 1], s.len())
    }
}

/// Hashes of what merging leaves of the protected folds (`Tables::unpaired`: the characters
/// no pair involves, dots included), one bit each (2^16 bits: 8 KiB). Merging replaces paired
/// characters by a paired character and never touches a dot, so the fold of a suffix keeps
/// the unpaired characters of the suffix's classes: a suffix whose unpaired characters are no
/// protected fold's cannot meet a fold key, and an ASCII name none of whose label suffixes
/// passes needs neither its fold nor the probes of it. About half of all names hold a pair
/// (`el`, `rn`, `ic` read as other letters), so the fold is the dearest key to compute.
#[derive(Debug, Default)]
struct Unpaired {
    bits: Vec<u64>,
}

/// log2 of the bits of an [`Unpaired`].
const UNPAIRED_BITS: u32 = 16;

/// The multiplier of [`Unpaired`]'s hash (odd).
const UNPAIRED_MUL: u64 = 0x2545_f491_4f6c_dd1d;

impl Unpaired {
    fn bit(h: u64) -> (usize, u64) {
        let i = (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - UNPAIRED_BITS)) as usize;
        (i / 64, 1 << (i % 64))
    }

    /// Notes what merging leaves of the fold `f`.
    fn add(&mut self, f: &[char]) {
        if self.bits.is_empty() {
            self.bits = vec![0; (1 << UNPAIRED_BITS) / 64];
        }
        let t = &tables::TABLES;
        // Right to left, as `may` hashes suffixes.
        let mut h = 0u64;
        for &c in f.iter().rev() {
            let k = if c.is_ascii() {
                u32::from(t.unpaired[c as usize])
            } else {
                u32::from(c)
            };
            if k != 0 {
                h = h.wrapping_mul(UNPAIRED_MUL).wrapping_add(u64::from(k));
            }
        }
        let (w, b) = Unpaired::bit(h);
        self.bits[w] |= b;
    }

    /// Whether the fold of some label suffix of the ASCII name `h` may be a key: what merging
    /// leaves of its classes hashes to a noted bit.
    fn may(&self, h: &[char]) -> bool {
        if self.bits.is_empty() {
            return false;
        }
        let t = &tables::TABLES;
        let test = |x: u64| {
            let (w, b) = Unpaired::bit(x);
            self.bits[w] & b != 0
        };
        let mut x = 0u64;
        let mut any = false;
        for &c in h.iter().rev() {
            if c == '.' {
                // `x` is the hash of the suffix after this dot.
                any |= test(x);
            }
            let k = t.unpaired[c as usize & 0x7f];
            if k != 0 {
                x = x.wrapping_mul(UNPAIRED_MUL).wrapping_add(u64::from(k));
            }
        }
        any || test(x)
    }
}

impl Keys {
    fn bit(&self, k: u64) -> (usize, u64) {
        // The key's high bits are as good as its low ones (a hash modulo 2^61 − 1).
        // `bits` holds a power of two words, so the mask is the modulo.
        let i = (k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20) as usize & (self.bits.len() * 64 - 1);
        (i / 64, 1 << (i % 64))
    }

    fn add(&mut self, k: u64, n: u32) {
        use std::collections::hash_map::Entry as E;
        if (self.map.len() + 1) * 16 > self.bits.len() * 64 {
            let words = ((self.map.len() + 1) * 32 / 64).next_power_of_two().max(64);
            self.bits = vec![0; words];
            let keys: Vec<u64> = self.map.keys().copied().collect();
            for key in keys {
                let (w, b) = self.bit(key);
                self.bits[w] |= b;
            }
        }
        let (w, b) = self.bit(k);
        self.bits[w] |= b;
        match self.map.entry(k) {
            E::Vacant(v) => {
                v.insert(n);
            }
            E::Occupied(mut o) => {
                let cur = *o.get();
                if cur & MANY != 0 {
                    let l = &mut self.more[(cur & !MANY) as usize];
                    if !l.contains(&n) {
                        l.push(n);
                    }
                } else if cur != n {
                    self.more.push(vec![cur, n]);
                    *o.get_mut() = MANY | u32::try_from(self.more.len() - 1).unwrap_or(0);
                }
            }
        }
    }

    fn get(&self, k: u64) -> &[u32] {
        if self.bits.is_empty() || {
            let (w, b) = self.bit(k);
            self.bits[w] & b == 0
        } {
            return &[];
        }
        match self.map.get(&k) {
            None => &[],
            Some(v) if v & MANY != 0 => self.more.get((v & !MANY) as usize).map_or(&[], |l| l),
            Some(v) => std::slice::from_ref(v),
        }
    }
}

/// Reusable buffers for [`Index::classify`]: one per thread, so classifying allocates nothing
/// once warm.
#[derive(Default)]
pub struct Scratch {
    chars: Vec<char>,
    fold: Vec<char>,
    fold2: Vec<char>,
    squeezed: Vec<char>,
    cuts: Vec<usize>,
    words: Vec<(usize, usize)>,
    starts: Vec<usize>,
    ends: Vec<usize>,
    prefix: hash::Prefix,
    prefix2: hash::Prefix,
    candidates: Vec<(u32, u8)>,
    findings: Vec<Finding>,
    ascii: Vec<char>,
    dp: Vec<bool>,
}

/// Where the TLD starts: the longest listed public suffix that leaves a label before it, else
/// the last label. Returns the index of its first character.
pub(crate) fn tld_start(h: &[char]) -> usize {
    let Some(last) = h.iter().rposition(|c| *c == '.') else {
        return 0;
    };
    if let Some(second) = h[..last].iter().rposition(|c| *c == '.') {
        let two = &h[second + 1..];
        let mut buf = [0u8; 64];
        if two.len() <= tables::TABLES.longest_dotted_tld.min(buf.len())
            && two.iter().all(char::is_ascii)
        {
            for (b, c) in buf.iter_mut().zip(two) {
                *b = *c as u8;
            }
            if std::str::from_utf8(&buf[..two.len()]).is_ok_and(|s| tables::TABLES.tlds.contains(s))
            {
                return second + 1;
            }
        }
    }
    last + 1
}

/// `p` holding the prefix hashes of `h`, loaded now unless `loaded` says they are.
fn ensure<'p>(p: &'p mut hash::Prefix, loaded: &mut bool, h: &[char]) -> &'p hash::Prefix {
    if !*loaded {
        p.load(h.iter().map(|c| *c as u32));
        *loaded = true;
    }
    p
}

/// The characters of `h` other than dots and hyphens.
pub(crate) fn squeeze(h: &[char]) -> Vec<char> {
    h.iter()
        .copied()
        .filter(|c| *c != '.' && *c != '-')
        .collect()
}

/// The A-label (punycode) form of a host name, as DNS and dnstwist's lists write it.
pub fn to_ascii(host: &str) -> Option<String> {
    idna::domain_to_ascii(host).ok()
}

fn chars_hash(s: &[char]) -> u64 {
    hash::of(s.iter().map(|c| *c as u32))
}

impl Index {
    /// Indexes the protected domains (Unicode or A-label form, any case); a domain that is not
    /// a host name is refused with an error naming it.
    pub fn new<S: AsRef<str>>(protected: impl IntoIterator<Item = S>) -> Result<Index, Error> {
        let mut ix = Index::default();
        for p in protected {
            ix.insert(p.as_ref())?;
        }
        Ok(ix)
    }

    /// Adds one protected domain (a repeat is ignored).
    pub fn insert(&mut self, domain: &str) -> Result<(), Error> {
        let mut chars = Vec::new();
        if fold::parse(domain, &mut chars).is_none() {
            return Err(Error::NotADomain(domain.to_string()));
        }
        let key = chars_hash(&chars);
        if let Some(&n) = self.exact.get(&key)
            && self.entries[n as usize].chars == chars
        {
            return Ok(());
        }
        let n = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        let text: String = chars.iter().collect();
        self.exact.insert(key, n);
        self.exact_grams.add(&chars);
        // The A-label form too, so a subdomain written in it is recognised as real.
        let mut alabel = None;
        if !text.is_ascii()
            && let Ok(a) = idna::domain_to_ascii(&text)
        {
            let a: Vec<char> = a.chars().collect();
            self.exact.insert(chars_hash(&a), n);
            self.exact_grams.add(&a);
            self.add_edits(&a, n);
            alabel = Some(a);
        }
        self.add_edits(&chars, n);
        self.max_labels = self
            .max_labels
            .max(1 + chars.iter().filter(|c| **c == '.').count());
        let mut f = Vec::new();
        fold::fold(&chars, &mut f, false);
        let mut f2 = Vec::new();
        fold::fold(&chars, &mut f2, true);
        if f2 != f {
            self.folds.add(chars_hash(&f2), n);
            self.fold_grams.add(&f2);
            self.fold_unpaired.add(&f2);
        }
        self.folds.add(chars_hash(&f), n);
        self.fold_grams.add(&f);
        self.fold_unpaired.add(&f);
        let tld = tld_start(&chars);
        let name = squeeze(&chars[..tld.saturating_sub(1)]);
        let all = squeeze(&chars);
        self.names
            .add(chars_hash(&chars[..tld.saturating_sub(1)]), n);
        self.name_grams.add(&chars[..tld.saturating_sub(1)]);
        for run in [&all, &name] {
            if !run.is_empty() {
                self.max_run = self.max_run.max(run.len());
                self.runs.add(chars_hash(run), n);
                self.run_grams.add(run);
            }
        }
        self.entries.push(Entry {
            text,
            chars,
            alabel,
            folds: [f, f2],
            tld,
            all,
            name,
        });
        Ok(())
    }

    fn add_edits(&mut self, chars: &[char], n: u32) {
        let mut keys = vec![chars_hash(chars)];
        self.edit_grams.add(chars);
        let mut p = hash::Prefix::default();
        p.load(chars.iter().map(|c| *c as u32));
        keys.extend((0..chars.len()).map(|j| p.without(0, j, chars.len())));
        for j in 0..chars.len() {
            let mut v = chars.to_vec();
            v.remove(j);
            self.edit_grams.add(&v);
        }
        // Plural `es` after s, x or z: two characters, so keyed whole.
        for (i, c) in chars.iter().enumerate() {
            if matches!(c, 's' | 'x' | 'z') {
                let mut v = chars[..=i].to_vec();
                v.extend(['e', 's']);
                v.extend(&chars[i + 1..]);
                keys.push(chars_hash(&v));
                self.edit_grams.add(&v);
            }
        }
        for len in [chars.len(), chars.len() + 2] {
            self.mark_len(len);
            self.mark_len(len.saturating_sub(1));
        }
        for k in keys {
            self.edits.add(k, n);
        }
    }

    fn mark_len(&mut self, len: usize) {
        let len = len.min(255);
        self.edit_lens[len / 64] |= 1 << (len % 64);
    }

    fn has_len(&self, len: usize) -> bool {
        len < 256 && self.edit_lens[len / 64] >> (len % 64) & 1 == 1
    }

    /// The number of protected domains.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no domain is protected.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Protected domain number `n` (normalised, Unicode form).
    pub fn protected(&self, n: u32) -> &str {
        self.entries.get(n as usize).map_or("", |e| e.text.as_str())
    }

    /// Classifies an observed host name: the look-alikes it is of protected domains, at most
    /// one finding per protected domain, empty for a protected domain itself, its real
    /// subdomains, and anything that is not a host name.
    pub fn classify<'s>(&self, observed: &str, s: &'s mut Scratch) -> &'s [Finding] {
        s.findings.clear();
        if self.entries.is_empty() {
            return &s.findings;
        }
        let Some(puny) = fold::parse(observed, &mut s.chars) else {
            return &s.findings;
        };
        let chars = std::mem::take(&mut s.chars);
        s.candidates.clear();
        let mut loaded = false;
        if !self.is_protected(&chars, s, &mut loaded) {
            self.candidates(&chars, loaded, s);
            if puny {
                // The A-label form as written, for edits made to a protected IDN's A-label.
                let mut ascii = std::mem::take(&mut s.ascii);
                ascii.clear();
                ascii.extend(
                    observed
                        .trim()
                        .trim_end_matches('.')
                        .chars()
                        .map(|c| c.to_ascii_lowercase()),
                );
                self.candidates(&ascii, false, s);
                s.ascii = ascii;
            }
            // One entry per candidate, with the union of the keys that found it.
            s.candidates.sort_unstable();
            let mut w = 0;
            for r in 0..s.candidates.len() {
                let (n, k) = s.candidates[r];
                if w > 0 && s.candidates[w - 1].0 == n {
                    s.candidates[w - 1].1 |= k;
                } else {
                    s.candidates[w] = (n, k);
                    w += 1;
                }
            }
            s.candidates.truncate(w);
            for i in 0..s.candidates.len() {
                let (n, keys) = s.candidates[i];
                let e = &self.entries[n as usize];
                let mut best = pair::classify(&chars, e, keys, s);
                if puny && s.ascii != chars {
                    let ascii = std::mem::take(&mut s.ascii);
                    if let Some(t) = pair::classify(&ascii, e, pair::ALL_KEYS, s) {
                        best = Some(best.map_or(t, |b| b.min(t)));
                    }
                    s.ascii = ascii;
                }
                if let Some(t) = best {
                    s.findings.push(Finding {
                        protected: n,
                        technique: t,
                        score: t.score(),
                    });
                }
            }
        }
        s.chars = chars;
        &s.findings
    }

    /// Whether `h` is a protected domain or one of its subdomains.
    /// `loaded` tells whether `s.prefix` holds `h`'s hashes (loaded when first needed).
    fn is_protected(&self, h: &[char], s: &mut Scratch, loaded: &mut bool) -> bool {
        let n = h.len();
        // Label starts, found by one plain loop (no iterator chain: this runs for every name).
        let mut a = 0;
        loop {
            if self.exact_grams.open(&h[a..]) {
                let p = ensure(&mut s.prefix, loaded, h);
                let hit = self.exact.get(&p.range(a, n)).is_some_and(|&p| {
                    let e = &self.entries[p as usize];
                    e.chars == h[a..] || e.alabel.as_deref() == Some(&h[a..])
                });
                if hit {
                    return true;
                }
            }
            match h[a..].iter().position(|c| *c == '.') {
                Some(i) => a += i + 1,
                None => return false,
            }
        }
    }

    /// Collects into `s.candidates` every protected domain some key of `h` points at;
    /// `loaded` when `s.prefix` already holds `h`'s hashes. A probe is computed only when its
    /// string starts as some key of its table may (`Grams`), and the hashes only for the first.
    fn candidates(&self, h: &[char], mut loaded: bool, s: &mut Scratch) {
        let n = h.len();
        // Suffixes at label boundaries that keep two labels: `www.vcte.org` is checked as
        // `vcte.org` too.
        s.starts.clear();
        s.starts.push(0);
        let last_dot = h.iter().rposition(|c| *c == '.').unwrap_or(0);
        s.starts.extend(
            h.iter()
                .enumerate()
                .filter(|(i, c)| **c == '.' && *i < last_dot)
                .map(|(i, _)| i + 1),
        );
        // One edit adds at most one label (a dot inserted): longer suffixes cannot meet.
        let labels = s.starts.len() + 1;
        let skip = labels
            .saturating_sub(self.max_labels + 1)
            .min(s.starts.len());
        let push = |list: &[u32], key: u8, out: &mut Vec<(u32, u8)>| {
            out.extend(list.iter().map(|n| (*n, key)));
        };
        let g = &self.edit_grams;
        for &a in &s.starts[skip..] {
            let m = n - a;
            if self.has_len(m) && g.open(&h[a..]) {
                let p = ensure(&mut s.prefix, &mut loaded, h);
                push(self.edits.get(p.range(a, n)), pair::EDIT, &mut s.candidates);
            }
            if !self.has_len(m - 1) {
                continue;
            }
            // `h[a..]` without `h[j]`: `m − 1` characters, starting with `h[a..a + 3]` when
            // `j >= a + 3` (otherwise three of `h[a..a + 4]`), ending with `h[n − 1]` unless
            // `j` is the last. So the deletions between the third character and the last share
            // one gate bit. Deletions shorter than three characters are not gated.
            let (mut lo, mut mid, mut hi) = ([true; 3], true, true);
            if m >= 4 {
                let (x, y, z, w) = (h[a], h[a + 1], h[a + 2], h[a + 3]);
                let end = |j: usize| if j == n - 1 { h[n - 2] } else { h[n - 1] };
                lo = [
                    g.may(y, z, w, end(a), m - 1),
                    g.may(x, z, w, end(a + 1), m - 1),
                    g.may(x, y, w, end(a + 2), m - 1),
                ];
                mid = g.may(x, y, z, h[n - 1], m - 1);
                hi = g.may(x, y, z, h[n - 2], m - 1);
            }
            let may = |j: usize| match j - a {
                0..=2 => lo[j - a],
                _ if j == n - 1 => hi,
                _ => mid,
            };
            // Past `a + 3`, only the last deletion when the middle ones are gated off.
            let tail = if mid { a + 3..n } else { n - 1..n };
            let mut base = None;
            for j in (a..(a + 3).min(n)).chain(tail.start.max(a + 3)..tail.end) {
                if !may(j) {
                    continue;
                }
                let p = ensure(&mut s.prefix, &mut loaded, h);
                let c = *base.get_or_insert_with(|| p.deletion_base(a));
                push(
                    self.edits.get(p.deletion(c, j, m - 1)),
                    pair::EDIT,
                    &mut s.candidates,
                );
            }
        }
        // The confusable folds, and their suffixes: for an ASCII name only when what merging
        // leaves of some label suffix is what it leaves of some protected fold (`Unpaired`).
        if !h.iter().all(char::is_ascii) || self.fold_unpaired.may(h) {
            // Both directions start from the same classes, so those are computed once; the second
            // is merged only when it may differ.
            let pairs = fold::classes(h, &mut s.fold);
            let both = pairs.found && {
                s.fold2.clear();
                s.fold2.extend_from_slice(&s.fold);
                fold::merge(&mut s.fold, false, pairs) && {
                    fold::merge(&mut s.fold2, true, pairs);
                    s.fold != s.fold2
                }
            };
            for f in [&s.fold, &s.fold2]
                .into_iter()
                .take(if both { 2 } else { 1 })
            {
                let fl = f.len();
                let mut loaded = false;
                for a in std::iter::once(0).chain(
                    f.iter()
                        .enumerate()
                        .filter(|(_, c)| **c == '.')
                        .map(|(i, _)| i + 1),
                ) {
                    if !self.fold_grams.open(&f[a..]) {
                        continue;
                    }
                    if !loaded {
                        s.prefix2.load(f.iter().map(|c| *c as u32));
                        loaded = true;
                    }
                    push(
                        self.folds.get(s.prefix2.range(a, fl)),
                        pair::FOLD,
                        &mut s.candidates,
                    );
                }
            }
        }
        // The name without its TLD (tld-swap), and its suffixes.
        let tld = tld_start(h);
        if tld >= 2 {
            let end = tld - 1;
            for &a in s.starts.iter().filter(|a| **a < end) {
                if !self.name_grams.open(&h[a..end]) {
                    continue;
                }
                let p = ensure(&mut s.prefix, &mut loaded, h);
                push(
                    self.names.get(p.range(a, end)),
                    pair::NAME,
                    &mut s.candidates,
                );
            }
        }
        // Runs of labels and hyphen-separated parts, run together; cut points also inside a
        // part, after a dictionary word it starts with or before one it ends with.
        pair::cuts(
            h,
            tld,
            &mut s.squeezed,
            &mut s.cuts,
            &mut s.ends,
            &mut s.words,
        );
        let sq = &s.squeezed;
        let mut loaded = false;
        for &a in &s.cuts {
            for &b in &s.ends {
                if b > a && b - a <= self.max_run && self.run_grams.open(&sq[a..b]) {
                    if !loaded {
                        s.prefix2.load(sq.iter().map(|c| *c as u32));
                        loaded = true;
                    }
                    push(
                        self.runs.get(s.prefix2.range(a, b)),
                        pair::RUN,
                        &mut s.candidates,
                    );
                }
            }
        }
        let sl = sq.len();
        for &(x, y) in &s.words {
            // The probe `sq[..x] + sq[y..]` starts with `sq[..3]` when `x >= 3`, and ends with
            // `sq[sl − 1]`.
            if x > 0
                && y < sl
                && (x < 3
                    || self
                        .run_grams
                        .may(sq[0], sq[1], sq[2], sq[sl - 1], sl - (y - x)))
            {
                if !loaded {
                    s.prefix2.load(sq.iter().map(|c| *c as u32));
                    loaded = true;
                }
                let key = s.prefix2.cut(0, x, y, sl);
                push(self.runs.get(key), pair::RUN, &mut s.candidates);
            }
        }
    }
}

#[cfg(test)]
mod tests;
