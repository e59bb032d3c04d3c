//! The data the engine works from, embedded at build time: dnstwist's glyph and keyboard tables,
//! the dictionary and TLD lists (`data/`, see `data/PROVENANCE.md`), and what is derived from
//! them once per process.

use std::sync::LazyLock;

use rustc_hash::{FxHashMap, FxHashSet};

/// `base \t glyph` pairs: dnstwist's ASCII, Unicode, per-TLD IDN and Cyrillic glyph tables.
const GLYPHS: &str = include_str!("../data/glyphs.tsv");
/// `key \t neighbours` on the qwerty, qwertz and azerty layouts.
const KEYBOARDS: &str = include_str!("../data/keyboards.tsv");
/// Words for dictionary (combo) squatting, one per line.
pub const WORDS: &str = include_str!("../data/words.dict");
/// TLDs (and second-level public suffixes such as `co.uk`) for tld-swap, one per line.
pub const TLDS: &str = include_str!("../data/tlds.dict");

/// dnstwist's Latin-to-Cyrillic letters (its `cyrillic` fuzzer), in its order.
pub const LATIN_TO_CYRILLIC: [(char, char); 21] = [
    ('a', 'а'),
    ('b', 'ь'),
    ('c', 'с'),
    ('d', 'ԁ'),
    ('e', 'е'),
    ('g', 'ԍ'),
    ('h', 'һ'),
    ('i', 'і'),
    ('j', 'ј'),
    ('k', 'к'),
    ('l', 'ӏ'),
    ('m', 'м'),
    ('o', 'о'),
    ('p', 'р'),
    ('q', 'ԛ'),
    ('s', 'ѕ'),
    ('t', 'т'),
    ('v', 'ѵ'),
    ('w', 'ԝ'),
    ('x', 'х'),
    ('y', 'у'),
];

/// Sets of character triples (expansions, contractions).
type Triples = FxHashSet<(char, char, char)>;

/// Everything derived from the embedded data.
pub struct Tables {
    /// A non-ASCII glyph and the ASCII it imitates (`ѕ` → `s`, `æ` → `ae`).
    pub glyph: FxHashMap<char, &'static str>,
    /// Every `base → glyph` pair, for the generator.
    pub glyph_pairs: Vec<(&'static str, &'static str)>,
    /// ASCII byte → representative of its confusable class (`1`, `i`, `l` → `1`).
    pub class: [u8; 128],
    /// Two class representatives read as one (`rn` → `m`, `vv` → `w`, `cl` → `d`), indexed
    /// `first * 128 + second`, 0 for none: one load per pair, since every name is folded.
    pub pairs: Box<[u8; 128 * 128]>,
    /// An ASCII byte's class representative when no pair of `pairs` involves it (as either
    /// character or as what a pair merges to), else 0: what merging leaves in place, so the
    /// fold of a name keeps exactly these characters of its classes, in order.
    pub unpaired: [u8; 128],
    /// One character written as two: `(m, r, n)` for `m` → `rn`, with dnstwist's second pass
    /// (`n` → `m` → `nn`, `m` → `rn` → `rm`).
    pub expand: Triples,
    /// One character written as three by two expansions that keep it (`d` → `dl` → `cll`).
    pub expand3: FxHashSet<(char, char, char, char)>,
    /// Two characters written as one: `(r, n, m)` for `rn` → `m`.
    pub contract: Triples,
    /// Keyboard neighbours: bit `c - 0x20` of `keys[k]` is set when `c` is next to `k`.
    pub keys: [u128; 128],
    /// The dictionary words.
    pub words: FxHashSet<&'static str>,
    /// The dictionary words in file order, for the generator.
    pub word_list: Vec<&'static str>,
    /// The words starting with the two ASCII bytes `a`, `b` (index `a * 128 + b`), so a part
    /// of a name is compared only with the few words it may begin with.
    pub word_head: Vec<Vec<&'static str>>,
    /// The words ending with the two ASCII bytes (same indexing).
    pub word_tail: Vec<Vec<&'static str>>,
    /// The TLDs and public suffixes.
    pub tlds: FxHashSet<&'static str>,
    /// The length of the longest listed suffix of two or more labels: a name's last two
    /// labels, when longer, are not looked up (most names: `example.com`).
    pub longest_dotted_tld: usize,
    /// The TLDs in file order, for the generator.
    pub tld_list: Vec<&'static str>,
}

/// The tables, built on first use.
pub static TABLES: LazyLock<Tables> = LazyLock::new(build);

fn lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn build() -> Tables {
    let glyph_pairs: Vec<(&str, &str)> = lines(GLYPHS).filter_map(|l| l.split_once('\t')).collect();
    let mut glyph = FxHashMap::default();
    // Union-find over ASCII for single-character confusables.
    let mut parent: [u8; 128] = std::array::from_fn(|i| i as u8);
    fn find(p: &mut [u8; 128], mut x: u8) -> u8 {
        while p[x as usize] != x {
            x = p[x as usize];
        }
        x
    }
    let union = |p: &mut [u8; 128], a: u8, b: u8| {
        let (ra, rb) = (find(p, a), find(p, b));
        // The smaller byte represents the class, so representatives are stable.
        p[ra.max(rb) as usize] = ra.min(rb);
    };
    let mut multi: Vec<(&str, &str)> = Vec::new();
    let mut singles: Vec<(char, char)> = Vec::new();
    for &(base, g) in &glyph_pairs {
        let mut gc = g.chars();
        match (gc.next(), gc.next()) {
            (Some(c), None) if !c.is_ascii() && base.is_ascii() => {
                glyph.insert(c, base);
            }
            _ => {}
        }
        match (base.len(), g.len(), base.is_ascii() && g.is_ascii()) {
            (1, 1, true) => {
                union(&mut parent, base.as_bytes()[0], g.as_bytes()[0]);
                singles.push((char::from(base.as_bytes()[0]), char::from(g.as_bytes()[0])));
            }
            (1, 2, true) => multi.push((g, base)),
            (2, 1, true) => multi.push((base, g)),
            _ => {}
        }
    }
    // TR39 prototypes of ASCII host characters (`0` → `O`, `1` → `l`, `m` → `rn`).
    for b in b'a'..=b'z' {
        ascii_confusable(b, &mut |s| match s.len() {
            1 => {
                union(&mut parent, b, s.as_bytes()[0]);
                singles.push((char::from(b), char::from(s.as_bytes()[0])));
            }
            2 => multi.push((leak(s), leak_byte(b))),
            _ => {}
        });
    }
    for b in b'0'..=b'9' {
        ascii_confusable(b, &mut |s| {
            if s.len() == 1 {
                union(&mut parent, b, s.as_bytes()[0]);
                singles.push((char::from(b), char::from(s.as_bytes()[0])));
                singles.push((char::from(s.as_bytes()[0]), char::from(b)));
            }
        });
    }
    // The ASCII pairs named in the issue, whether or not a table above has them.
    multi.extend([
        ("rn", "m"),
        ("vv", "w"),
        ("cl", "d"),
        ("nn", "m"),
        ("rr", "m"),
    ]);
    let class: [u8; 128] = std::array::from_fn(|i| find(&mut parent, i as u8));
    let (expand, contract) = closures(&multi, &singles);
    let mut expand3 = FxHashSet::default();
    for &(c, x, y) in &expand {
        for &(c2, x2, y2) in &expand {
            if c2 == c && x == c {
                expand3.insert((c, x2, y2, y));
            }
            if c2 == c && y == c {
                expand3.insert((c, x, x2, y2));
            }
        }
    }
    let mut pairs = Box::new([0u8; 128 * 128]);
    for (two, one) in multi {
        let t = two.as_bytes();
        let key =
            usize::from(class[usize::from(t[0])]) * 128 + usize::from(class[usize::from(t[1])]);
        pairs[key] = class[usize::from(one.as_bytes()[0])];
    }
    let mut paired = [false; 128];
    for (i, m) in pairs.iter().enumerate() {
        if *m != 0 {
            paired[i >> 7] = true;
            paired[i & 0x7f] = true;
            paired[usize::from(*m)] = true;
        }
    }
    let unpaired: [u8; 128] = std::array::from_fn(|c| {
        let k = class[c];
        if paired[usize::from(k)] { 0 } else { k }
    });
    let mut keys = [0u128; 128];
    for l in lines(KEYBOARDS) {
        if let Some((k, ns)) = l.split_once('\t')
            && let Some(&k) = k.as_bytes().first()
        {
            for n in ns.bytes() {
                keys[k as usize] |= 1u128 << (n - 0x20);
            }
        }
    }
    let word_list: Vec<&str> = lines(WORDS).collect();
    let tld_list: Vec<&str> = lines(TLDS).collect();
    let mut word_head = vec![Vec::new(); 128 * 128];
    let mut word_tail = vec![Vec::new(); 128 * 128];
    for &w in word_list.iter().filter(|w| w.len() >= 2 && w.is_ascii()) {
        let b = w.as_bytes();
        word_head[usize::from(b[0]) * 128 + usize::from(b[1])].push(w);
        word_tail[usize::from(b[b.len() - 2]) * 128 + usize::from(b[b.len() - 1])].push(w);
    }
    Tables {
        expand,
        expand3,
        contract,
        word_head,
        word_tail,
        glyph,
        glyph_pairs,
        class,
        pairs,
        unpaired,
        keys,
        words: word_list.iter().copied().collect(),
        word_list,
        tlds: tld_list.iter().copied().collect(),
        longest_dotted_tld: tld_list
            .iter()
            .filter(|t| t.contains('.'))
            .map(|t| t.len())
            .max()
            .unwrap_or(0),
        tld_list,
    }
}

/// The expansions and contractions of `multi` (two ASCII characters, one ASCII character),
/// closed under one more single-character substitution, as dnstwist's second pass makes them.
fn closures(multi: &[(&str, &str)], singles: &[(char, char)]) -> (Triples, Triples) {
    let singles_of = |c: char| singles.iter().filter(move |s| s.0 == c).map(|s| s.1);
    let mut expand = FxHashSet::default();
    let mut contract = FxHashSet::default();
    for &(two, one) in multi {
        let t: Vec<char> = two.chars().collect();
        let Some(c) = one.chars().next() else {
            continue;
        };
        let (x, y) = (t[0], t[1]);
        // `c` written `xy`, and `xy` with one of its letters swapped once more.
        expand.insert((c, x, y));
        singles_of(x).for_each(|x2| {
            expand.insert((c, x2, y));
        });
        singles_of(y).for_each(|y2| {
            expand.insert((c, x, y2));
        });
        // Both letters swapped by one replacement of a repeated letter (`vv` → `uu`).
        if x == y {
            singles_of(x).for_each(|x2| {
                expand.insert((c, x2, x2));
            });
        }
        // A letter that first became `c`, then `xy`.
        for &(from, to) in singles {
            if to == c {
                expand.insert((from, x, y));
            }
        }
        contract.insert((x, y, c));
        singles_of(c).for_each(|c2| {
            contract.insert((x, y, c2));
        });
        // Letters that first became `x` or `y` (`el` → `cl` → `d`).
        for &(from, to) in singles {
            if to == x {
                contract.insert((from, y, c));
            }
            if to == y {
                contract.insert((x, from, c));
            }
        }
    }
    (expand, contract)
}

/// Calls `f` with the lower-cased TR39 prototype of an ASCII byte when it differs.
fn ascii_confusable(b: u8, f: &mut impl FnMut(String)) {
    let s: String = unicode_security::skeleton(&char::from(b).to_string())
        .flat_map(char::to_lowercase)
        .collect();
    if s.len() != 1 || s.as_bytes()[0] != b {
        f(s);
    }
}

// The tables live for the whole process; leaking the few derived strings keeps them `'static`.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn leak_byte(b: u8) -> &'static str {
    leak(char::from(b).to_string())
}

impl Tables {
    /// Whether `c` sits next to `k` on one of the keyboards.
    pub fn adjacent(&self, k: char, c: char) -> bool {
        let (k, c) = (k as u32, c as u32);
        k < 128 && (0x20..0xa0).contains(&c) && self.keys[k as usize] >> (c - 0x20) & 1 == 1
    }

    /// The neighbours of `k`, for the generator.
    pub fn neighbours(&self, k: char) -> impl Iterator<Item = char> + '_ {
        let bits = if (k as u32) < 128 {
            self.keys[k as usize]
        } else {
            0
        };
        (0u8..96)
            .filter(move |i| bits >> i & 1 == 1)
            .map(|i| char::from(i + 0x20))
    }
}
