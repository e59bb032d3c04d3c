//! Host-name normalisation (case, trailing dot, IDNA) and the confusable fold ("skeleton")
//! under which a homoglyph variant and its original read the same.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::tables::TABLES;

/// Longest host name accepted (RFC 1035 presentation form without the trailing dot).
pub const MAX_HOST: usize = 253;

/// Normalises a host name into `out` as Unicode characters: trimmed, lower-cased, without a
/// trailing dot, A-labels (`xn--…`) decoded. Returns whether the input held A-labels, or
/// `None` when it is not a host name of two or more labels (IP addresses included).
pub fn parse(s: &str, out: &mut Vec<char>) -> Option<bool> {
    out.clear();
    let s = s.trim();
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > MAX_HOST * 4 {
        return None;
    }
    // Most names: ASCII without A-labels, checked and lower-cased in one pass.
    match ascii_host(s.as_bytes(), out) {
        Ascii::Valid => return Some(false),
        Ascii::Invalid => return None,
        Ascii::Other => {}
    }
    let puny = s.len() > 4 && has_xn(s);
    let (u, _errors) = idna::domain_to_unicode(s);
    // UTS 46 marks what it cannot map; such a name is not one anybody can register.
    if u.contains('\u{fffd}') {
        return None;
    }
    out.extend(u.chars().flat_map(char::to_lowercase));
    valid(out).then_some(puny)
}

fn has_xn(s: &str) -> bool {
    // Hyphens first: they are rare, so most windows cost one comparison.
    s.as_bytes()
        .windows(4)
        .any(|w| w[3] == b'-' && w[2] == b'-' && w[0] | 0x20 == b'x' && w[1] | 0x20 == b'n')
}

/// What [`ascii_host`] found.
enum Ascii {
    /// An ASCII host name without A-labels, lower-cased into `out`.
    Valid,
    /// An ASCII string without A-labels that is not a host name.
    Invalid,
    /// Non-ASCII, or an A-label: for IDNA.
    Other,
}

/// [`valid`] for an ASCII name without A-labels, checked in one pass and then lower-cased into
/// `out` (left untouched otherwise). The whole string is read before it is called invalid: a
/// later non-ASCII byte or `xn--` sends it to IDNA, as [`parse`] did before this pass.
fn ascii_host(s: &[u8], out: &mut Vec<char>) -> Ascii {
    let (mut label, mut labels, mut last_digits, mut bad) = (0usize, 1, true, false);
    for (i, &b) in s.iter().enumerate() {
        // One table look-up a byte: what it is in a host name.
        match HOST_BYTE[usize::from(b)] {
            DOT => {
                bad |= label == 0;
                labels += 1;
                label = 0;
                last_digits = true;
                continue;
            }
            DIGIT => {}
            OTHER => last_digits = false,
            HYPHEN => {
                last_digits = false;
                // The end of `xn--` (hyphens are rare, so this is seldom looked at).
                if s.len() > 4
                    && i >= 3
                    && s[i - 1] == b'-'
                    && s[i - 2] | 0x20 == b'n'
                    && s[i - 3] | 0x20 == b'x'
                {
                    return Ascii::Other;
                }
            }
            NON_ASCII => return Ascii::Other,
            _ => bad = true,
        }
        label += 1;
        bad |= label > 63;
    }
    if bad || label == 0 || labels < 2 || last_digits || s.len() > MAX_HOST || s.len() < 3 {
        return Ascii::Invalid;
    }
    out.extend(s.iter().map(|b| char::from(b.to_ascii_lowercase())));
    Ascii::Valid
}

/// What a byte is in a host name ([`ascii_host`]): not allowed, a dot, a digit, a hyphen,
/// another allowed character (letters of either case, `_`), or part of a non-ASCII character.
const HOST_BYTE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = (b as u8).to_ascii_lowercase();
        t[b] = if b >= 128 {
            NON_ASCII
        } else if c == b'.' {
            DOT
        } else if c.is_ascii_digit() {
            DIGIT
        } else if c == b'-' {
            HYPHEN
        } else if c.is_ascii_lowercase() || c == b'_' {
            OTHER
        } else {
            0
        };
        b += 1;
    }
    t
};
const DOT: u8 = 1;
const DIGIT: u8 = 2;
const OTHER: u8 = 3;
const HYPHEN: u8 = 4;
const NON_ASCII: u8 = 5;

/// Labels non-empty and at most 63 characters, two or more of them, host characters only, and a
/// last label that is not a number (so dotted IPv4 addresses are not names).
fn valid(h: &[char]) -> bool {
    if h.len() > MAX_HOST || h.len() < 3 {
        return false;
    }
    let mut label = 0usize;
    let mut labels = 1;
    let mut last_digits = true;
    for &c in h {
        if c == '.' {
            if label == 0 {
                return false;
            }
            labels += 1;
            label = 0;
            last_digits = true;
            continue;
        }
        let ok = c.is_ascii_alphanumeric()
            || c == '-'
            || c == '_'
            || (!c.is_ascii() && (c.is_alphanumeric() || is_combining_mark(c)));
        if !ok {
            return false;
        }
        last_digits &= c.is_ascii_digit();
        label += 1;
        if label > 63 {
            return false;
        }
    }
    label > 0 && labels >= 2 && !last_digits
}

/// Folds a normalised host into `out`: every character replaced by the representative of its
/// confusable class (dnstwist's glyphs, then the TR39 prototype stripped of marks), then
/// character pairs that read as one (`rn`, `vv`, `cl`) merged, until nothing changes. Pairs
/// overlap (`elb`: `el` or `lb`), so the merging goes left to right, or right to left when
/// `rtl`; a look-alike meets its original in one of the two. Returns whether the other
/// direction may give another fold (see [`merge`]).
pub fn fold(h: &[char], out: &mut Vec<char>, rtl: bool) -> bool {
    let pairs = classes(h, out);
    merge(out, rtl, pairs)
}

/// Whether a string of class representatives holds a pair that merges, and two that overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pairs {
    /// Some pair merges.
    pub found: bool,
    /// Two pairs share a character.
    pub overlap: bool,
}

/// The first step of [`fold`]: every character replaced by its class representative. Returns
/// what [`merge`] needs to know of the pairs in `out`, found on the way for an ASCII name.
pub fn classes(h: &[char], out: &mut Vec<char>) -> Pairs {
    let t = &*TABLES;
    out.clear();
    if h.iter().all(char::is_ascii) {
        // Most names: one table look-up a character, no capacity check per push, and the
        // pairs looked for in the same pass (the class of NUL, 0, starts no pair).
        let (mut prev, mut found, mut overlap, mut was) = (0usize, 0u8, 0u8, 0u8);
        out.extend(h.iter().map(|c| {
            let k = usize::from(t.class[*c as usize & 0x7f]);
            let m = u8::from(t.pairs[(prev << 7 | k) & 0x3fff] != 0);
            overlap |= m & was;
            found |= m;
            was = m;
            prev = k;
            char::from(k as u8)
        }));
        return Pairs {
            found: found != 0,
            overlap: overlap != 0,
        };
    }
    let push_ascii = |out: &mut Vec<char>, b: u8| out.push(char::from(t.class[usize::from(b)]));
    for &c in h {
        if c.is_ascii() {
            push_ascii(out, c as u8);
        } else if let Some(base) = t.glyph.get(&c) {
            base.bytes().for_each(|b| push_ascii(out, b));
        } else {
            let proto: String = unicode_security::skeleton(&c.to_string()).collect();
            for p in proto.nfd().filter(|p| !is_combining_mark(*p)) {
                for l in p.to_lowercase() {
                    if l.is_ascii() {
                        push_ascii(out, l as u8);
                    } else {
                        out.push(l);
                    }
                }
            }
        }
    }
    scan(out)
}

/// The pairs of class representatives in `out` (one table load a window, 0 for a non-ASCII
/// character; flags or-ed together without branches).
fn scan(out: &[char]) -> Pairs {
    let t = &*TABLES;
    let (mut found, mut overlap, mut prev) = (0u8, 0u8, 0u8);
    for w in out.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        let ascii = u8::from(a | b < 128).wrapping_neg();
        let m = u8::from(t.pairs[(a << 7 | b) & 0x3fff] & ascii != 0);
        overlap |= m & prev;
        found |= m;
        prev = m;
    }
    Pairs {
        found: found != 0,
        overlap: overlap != 0,
    }
}

/// The second step of [`fold`]: pairs merged in `out`, left to right or right to left;
/// `pairs` is what [`classes`] returned for `out`. Returns whether merging the other way may
/// give another result: not when no two pairs overlap and no merge makes a new pair, since
/// both directions then merge the same pairs once.
pub fn merge(out: &mut Vec<char>, rtl: bool, pairs: Pairs) -> bool {
    let t = &*TABLES;
    // What the ASCII pair `a b` (in reading order) merges to, 0 for nothing.
    let merge = |a: char, b: char| {
        let (a, b) = (a as usize, b as usize);
        // The mask is a no-op for ASCII and spares the bounds check.
        if a | b < 128 {
            t.pairs[(a << 7 | b) & 0x3fff]
        } else {
            0
        }
    };
    // Most names hold no pair, and then both directions leave them as they are.
    let Pairs { found, overlap } = pairs;
    if !found {
        return false;
    }
    let pair = |a: char, b: char| if rtl { merge(b, a) } else { merge(a, b) };
    if rtl {
        out.reverse();
    }
    // A pass merges greedily from the left, so two characters it copies side by side are never
    // a pair: a pair left after it touches a merged character, and only those are looked at.
    // When none is left, the next pass would change nothing.
    let mut first = true;
    let mut again = false;
    loop {
        let (mut w, mut r) = (0, 0);
        let (mut merged, mut left) = (false, false);
        while r < out.len() {
            let m = if r + 1 < out.len() {
                pair(out[r], out[r + 1])
            } else {
                0
            };
            let c = if m != 0 { char::from(m) } else { out[r] };
            if w > 0 && (merged || m != 0) && pair(out[w - 1], c) != 0 {
                left = true;
            }
            merged = m != 0;
            out[w] = c;
            r += if merged { 2 } else { 1 };
            w += 1;
        }
        out.truncate(w);
        if first {
            // A pair left after the first pass: a merge made a new pair.
            again = left;
            first = false;
        }
        if !left {
            break;
        }
    }
    if rtl {
        out.reverse();
    }
    overlap || again
}

/// Whether `c` is a Cyrillic letter (Cyrillic and Cyrillic Supplement blocks).
pub fn is_cyrillic(c: char) -> bool {
    ('\u{400}'..='\u{52f}').contains(&c)
}

/// Polynomial string hashing modulo the Mersenne prime 2^61 − 1, with prefix sums so that the
/// hash of any substring, or of the string with one character deleted, costs O(1).
pub mod hash {
    /// The modulus, 2^61 − 1.
    pub const P: u64 = (1 << 61) - 1;
    /// The base: a fixed odd value below `P`.
    const B: u64 = 0x1d9f_3a3b_5c07_4f21 % P;

    /// `a·b` modulo [`P`] (`a`, `b` below it).
    pub fn mul(a: u64, b: u64) -> u64 {
        let r = u128::from(a) * u128::from(b);
        let s = (r as u64 & P) + (r >> 61) as u64;
        if s >= P { s - P } else { s }
    }

    /// `a + b` modulo [`P`] (`a` below it, `b` below 2^62).
    pub fn add(a: u64, b: u64) -> u64 {
        let s = a + b;
        if s >= P { s - P } else { s }
    }

    fn sub(a: u64, b: u64) -> u64 {
        if a >= b { a - b } else { a + P - b }
    }

    /// Prefix hashes and powers of one string, reused across calls.
    #[derive(Default)]
    pub struct Prefix {
        h: Vec<u64>,
        pow: Vec<u64>,
    }

    impl Prefix {
        /// Prepares the hashes of `s` (characters, or anything convertible to `u32`).
        pub fn load(&mut self, s: impl Iterator<Item = u32>) {
            self.h.clear();
            self.h.push(0);
            if self.pow.is_empty() {
                self.pow.push(1);
            }
            let mut acc = 0;
            self.h.extend(s.map(|c| {
                acc = add(mul(acc, B), u64::from(c) + 1);
                acc
            }));
            while self.pow.len() < self.h.len() {
                let last = *self.pow.last().unwrap_or(&1);
                self.pow.push(mul(last, B));
            }
        }

        /// Hash of `s[a..b]`.
        pub fn range(&self, a: usize, b: usize) -> u64 {
            key(sub(self.h[b], mul(self.h[a], self.pow[b - a])), b - a)
        }

        /// The part of `deletion`'s hashes of `s[a..]` that depends on `a` only (`a < n`): the
        /// hash of `s[a..]` without `s[j]` is `(h[j] − h[j+1]) · B^(n−j−1) + h[n] − h[a] · B^(n−a−1)`,
        /// whose first term does not depend on `a` and whose rest does not depend on `j`.
        pub fn deletion_base(&self, a: usize) -> u64 {
            let n = self.h.len() - 1;
            sub(self.h[n], mul(self.h[a], self.pow[n - a - 1]))
        }

        /// Hash of `s[a..]` without `s[j]`, equal to `without(a, j, n)`, from
        /// `deletion_base(a)`; `len` is `n − a − 1`. The term of `j` is computed here, not for
        /// every `j` ahead: most deletions are never probed (see `Grams`).
        pub fn deletion(&self, base: u64, j: usize, len: usize) -> u64 {
            let n = self.h.len() - 1;
            let term = mul(sub(self.h[j], self.h[j + 1]), self.pow[n - j - 1]);
            key(add(term, base), len)
        }

        /// Hash of `s[a..b]` without the character at `j` (`a <= j < b`).
        pub fn without(&self, a: usize, j: usize, b: usize) -> u64 {
            self.cut(a, j, j + 1, b)
        }

        /// Hash of `s[a..b]` without `s[x..y]` (`a <= x <= y <= b`).
        pub fn cut(&self, a: usize, x: usize, y: usize, b: usize) -> u64 {
            let left = sub(self.h[x], mul(self.h[a], self.pow[x - a]));
            let right = sub(self.h[b], mul(self.h[y], self.pow[b - y]));
            key(add(mul(left, self.pow[b - y]), right), b - a - (y - x))
        }
    }

    /// The map key of a hash and the length it covers.
    fn key(h: u64, len: usize) -> u64 {
        h ^ ((len as u64) << 56)
    }

    /// Hash of a whole string, equal to `Prefix::range` over it.
    pub fn of(s: impl Iterator<Item = u32>) -> u64 {
        let mut h = 0;
        let mut n = 0;
        for c in s {
            h = add(mul(h, B), u64::from(c) + 1);
            n += 1;
        }
        key(h, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm(s: &str) -> Option<String> {
        let mut v = Vec::new();
        parse(s, &mut v).map(|_| v.into_iter().collect())
    }

    fn folded(s: &str) -> String {
        let mut v = Vec::new();
        let mut f = Vec::new();
        parse(s, &mut v);
        fold(&v, &mut f, false);
        f.into_iter().collect()
    }

    #[test]
    fn normalises_case_dot_and_idna() {
        assert_eq!(norm("SOS.CA.Gov.").as_deref(), Some("sos.ca.gov"));
        let puny = idna::domain_to_ascii("ѕos.ca.gov").unwrap_or_default();
        assert_eq!(norm(&puny).as_deref(), Some("ѕos.ca.gov"));
        assert_eq!(norm(&puny.to_uppercase()).as_deref(), Some("ѕos.ca.gov"));
        assert_eq!(norm("ЅOS.ca.gov").as_deref(), Some("ѕos.ca.gov"));
        assert_eq!(norm("10.0.0.1"), None);
        assert_eq!(norm("localhost"), None);
        assert_eq!(norm("a..b"), None);
        assert_eq!(norm("a b.com"), None);
        assert_eq!(norm("xn--zz.com"), None);
    }

    #[test]
    fn folds_glyphs_both_tables_and_pairs() {
        assert_eq!(folded("ѕos.ca.gov"), folded("sos.ca.gov"));
        assert_eq!(folded("s0s.ca.gov"), folded("sos.ca.gov"));
        assert_eq!(folded("șos.ca.gov"), folded("sos.ca.gov"));
        assert_eq!(folded("modern.com"), folded("modem.com"));
        assert_eq!(folded("vvote.org"), folded("wote.org"));
        assert_eq!(folded("clemo.org"), folded("demo.org"));
        assert_eq!(folded("ℊov.org"), folded("gov.org"));
        assert_ne!(folded("vote.org"), folded("vate.org"));
    }

    #[test]
    fn every_dnstwist_glyph_folds_to_its_base() {
        for &(base, g) in &TABLES.glyph_pairs {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            fold(&base.chars().collect::<Vec<_>>(), &mut a, false);
            fold(&g.chars().collect::<Vec<_>>(), &mut b, false);
            assert_eq!(a, b, "{base} / {g}");
        }
    }

    #[test]
    fn hashes_agree() {
        let s: Vec<u32> = "sos.ca.gov".chars().map(u32::from).collect();
        let mut p = hash::Prefix::default();
        p.load(s.iter().copied());
        assert_eq!(p.range(0, s.len()), hash::of(s.iter().copied()));
        assert_eq!(p.range(4, 10), hash::of("ca.gov".chars().map(u32::from)));
        assert_eq!(
            p.without(0, 1, 10),
            hash::of("ss.ca.gov".chars().map(u32::from))
        );
        assert_eq!(
            p.without(4, 9, 10),
            hash::of("ca.go".chars().map(u32::from))
        );
    }

    /// [`merge`] as first written: passes until one changes nothing, every window scanned.
    fn merge_reference(out: &mut Vec<char>, rtl: bool) -> bool {
        let t = &*TABLES;
        let merge = |a: char, b: char| {
            let (a, b) = (a as usize, b as usize);
            if a | b < 128 { t.pairs[a << 7 | b] } else { 0 }
        };
        let (mut found, mut overlap, mut prev) = (false, false, false);
        for w in out.windows(2) {
            let m = merge(w[0], w[1]) != 0;
            overlap |= m && prev;
            found |= m;
            prev = m;
        }
        if !found {
            return false;
        }
        let pair = |a: char, b: char| if rtl { merge(b, a) } else { merge(a, b) };
        if rtl {
            out.reverse();
        }
        let mut passes = 0;
        loop {
            passes += 1;
            let (mut w, mut r, mut changed) = (0, 0, false);
            while r < out.len() {
                let m = if r + 1 < out.len() {
                    pair(out[r], out[r + 1])
                } else {
                    0
                };
                if m != 0 {
                    out[w] = char::from(m);
                    r += 2;
                    changed = true;
                } else {
                    out[w] = out[r];
                    r += 1;
                }
                w += 1;
            }
            out.truncate(w);
            if !changed {
                break;
            }
        }
        if rtl {
            out.reverse();
        }
        overlap || passes > 2
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_is_idempotent(s in "\\PC{0,80}") {
            if let Some(n) = norm(&s) {
                prop_assert_eq!(norm(&n), Some(n.clone()));
            }
        }

        #[test]
        fn ascii_pass_agrees_with_valid(s in "[a-zA-Z0-9._ /-]{0,80}") {
            let mut fast = Vec::new();
            let ok = match ascii_host(s.as_bytes(), &mut fast) {
                Ascii::Valid => true,
                Ascii::Invalid => false,
                Ascii::Other => return Ok(()),
            };
            let slow: Vec<char> = s.chars().map(|c| c.to_ascii_lowercase()).collect();
            prop_assert_eq!(ok, valid(&slow));
            if ok {
                prop_assert_eq!(fast, slow);
            }
        }

        #[test]
        fn case_and_trailing_dot_do_not_matter(s in "[a-zA-Z0-9-]{1,20}\\.[a-zA-Z]{2,6}") {
            prop_assert_eq!(norm(&s), norm(&format!("{}.", s.to_uppercase())));
        }

        #[test]
        fn fold_is_idempotent_on_ascii(s in "[a-z0-9-]{1,20}\\.[a-z]{2,6}") {
            let once = folded(&s);
            let mut again = Vec::new();
            fold(&once.chars().collect::<Vec<_>>(), &mut again, false);
            let again: String = again.into_iter().collect();
            prop_assert_eq!(once, again);
        }

        #[test]
        fn merge_says_when_the_directions_may_differ(s in "[rnmvwcldeib1o0.-]{1,24}") {
            let h: Vec<char> = s.chars().collect();
            let (mut ltr, mut rtl) = (Vec::new(), Vec::new());
            let may_differ = fold(&h, &mut ltr, false);
            let may_differ_back = fold(&h, &mut rtl, true);
            prop_assert_eq!(may_differ, may_differ_back);
            if !may_differ {
                prop_assert_eq!(ltr, rtl);
            }
        }

        #[test]
        fn merge_agrees_with_the_reference(s in "[rnmvwcldeib1o0u.-]{0,32}", rtl in any::<bool>()) {
            let mut classes_of = Vec::new();
            let pairs = classes(&s.chars().collect::<Vec<_>>(), &mut classes_of);
            prop_assert_eq!(pairs, scan(&classes_of));
            let (mut fast, mut slow) = (classes_of.clone(), classes_of);
            let may = merge(&mut fast, rtl, pairs);
            prop_assert_eq!(may, merge_reference(&mut slow, rtl));
            prop_assert_eq!(fast, slow);
        }

        #[test]
        fn deletion_hash_matches_hash_of_deleted(s in "[a-z.-]{2,30}", j in 0usize..30) {
            let c: Vec<u32> = s.chars().map(u32::from).collect();
            let j = j % c.len();
            let mut p = hash::Prefix::default();
            p.load(c.iter().copied());
            let mut d = c.clone();
            d.remove(j);
            prop_assert_eq!(p.without(0, j, c.len()), hash::of(d.iter().copied()));
            for a in 0..=j {
                let base = p.deletion_base(a);
                prop_assert_eq!(
                    p.deletion(base, j, c.len() - a - 1),
                    hash::of(d[a..].iter().copied())
                );
            }
        }
    }
}
