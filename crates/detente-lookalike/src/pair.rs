//! The exact check of one observed name against one candidate protected domain.

use crate::fold::{self, is_cyrillic};
use crate::tables::TABLES;
use crate::{Entry, Scratch, Technique, tld_start};

/// The labels before the TLD without dots and hyphens into `sq`; where a run of them may start
/// (`starts`) and end (`ends`): at every label or hyphen boundary, and inside a part next to a
/// dictionary word it begins or ends with (`voteca` → `vote|ca`); and the pieces that are
/// dictionary words (whole parts, or such a beginning or end) into `words`.
pub fn cuts(
    h: &[char],
    tld: usize,
    sq: &mut Vec<char>,
    starts: &mut Vec<usize>,
    ends: &mut Vec<usize>,
    words: &mut Vec<(usize, usize)>,
) {
    sq.clear();
    starts.clear();
    ends.clear();
    words.clear();
    let name = &h[..tld.saturating_sub(1)];
    if name.is_empty() {
        return;
    }
    let t = &*TABLES;
    let mut part_start = 0;
    starts.push(0);
    let close = |sq: &Vec<char>,
                 ps: usize,
                 starts: &mut Vec<usize>,
                 ends: &mut Vec<usize>,
                 words: &mut Vec<(usize, usize)>| {
        let part = &sq[ps..];
        let len = part.len();
        if len >= 2 && part.iter().all(char::is_ascii) {
            let b = |i: usize| part[i] as usize;
            for w in &t.word_head[b(0) * 128 + b(1)] {
                let l = w.len();
                if l <= len
                    && part
                        .iter()
                        .zip(w.bytes())
                        .all(|(c, b)| *c as u32 == u32::from(b))
                {
                    words.push((ps, ps + l));
                    if l < len {
                        starts.push(ps + l);
                    }
                }
            }
            for w in &t.word_tail[b(len - 2) * 128 + b(len - 1)] {
                let l = w.len();
                if l < len
                    && part[len - l..]
                        .iter()
                        .zip(w.bytes())
                        .all(|(c, b)| *c as u32 == u32::from(b))
                {
                    words.push((ps + len - l, ps + len));
                    ends.push(ps + len - l);
                }
            }
        }
        ends.push(ps + len);
    };
    for &c in name {
        if c == '.' || c == '-' {
            if sq.len() > part_start {
                close(sq, part_start, starts, ends, words);
                part_start = sq.len();
                starts.push(part_start);
            }
        } else {
            sq.push(c);
        }
    }
    if sq.len() > part_start {
        close(sq, part_start, starts, ends, words);
    }
    // Two words in a row (`https-www`) come out as one piece too.
    let single = words.len();
    for i in 0..single {
        for j in 0..single {
            if words[i].1 == words[j].0 {
                words.push((words[i].0, words[j].1));
            }
        }
    }
}

/// Whether the ASCII characters `w` spell a dictionary word.
fn is_word(w: &[char]) -> bool {
    let mut buf = [0u8; 32];
    if w.len() > buf.len() {
        return false;
    }
    for (b, c) in buf.iter_mut().zip(w) {
        *b = *c as u8;
    }
    std::str::from_utf8(&buf[..w.len()]).is_ok_and(|s| TABLES.words.contains(s))
}

/// Label starts of `h` that leave at least two labels: `h` itself and its parent names.
fn suffix_starts(h: &[char]) -> impl Iterator<Item = usize> + '_ {
    let last = h.iter().rposition(|c| *c == '.').unwrap_or(0);
    std::iter::once(0).chain(
        h.iter()
            .enumerate()
            .filter(move |(i, c)| **c == '.' && *i < last)
            .map(|(i, _)| i + 1),
    )
}

/// Found through the edit keys (the name and its one-character deletions).
pub const EDIT: u8 = 1;
/// Found through the confusable fold.
pub const FOLD: u8 = 2;
/// Found through the name without its TLD.
pub const NAME: u8 = 4;
/// Found through labels run together.
pub const RUN: u8 = 8;
/// Every check.
pub const ALL_KEYS: u8 = EDIT | FOLD | NAME | RUN;

/// The technique by which `o` imitates `e`, if any (the first in dnstwist's order). `keys`
/// says which index keys found `e`: each technique is checked only when a key that every name
/// made that way shares with `e` did.
pub fn classify(o: &[char], e: &Entry, keys: u8, s: &mut Scratch) -> Option<Technique> {
    let tld = tld_start(o);
    // Same name under another TLD: dnstwist never edits a TLD, so this comes first.
    if tld >= 2 && keys & NAME != 0 {
        let p_name = &e.chars[..e.tld.saturating_sub(1)];
        let (o_tld, p_tld) = (&o[tld..], &e.chars[e.tld..]);
        for a in suffix_starts(o).filter(|a| *a < tld - 1) {
            if &o[a..tld - 1] == p_name && o_tld != p_tld {
                let last = p_tld.iter().rposition(|c| *c == '.');
                let parent = last.is_some_and(|l| &p_tld[l + 1..] == o_tld);
                return Some(if parent {
                    Technique::Various
                } else {
                    Technique::TldSwap
                });
            }
        }
    }
    // The whole name first, then its parents (`www.s0s.ca.gov`): `f.vap.gov` is a dot
    // inserted into `fvap.gov`, not `vap.gov` with a letter left out.
    for a in suffix_starts(o).filter(|_| keys & (EDIT | FOLD) != 0) {
        let mut best = if keys & EDIT != 0 {
            edit(&o[a..], &e.chars)
        } else {
            None
        };
        if keys & FOLD != 0
            && {
                fold::fold(&o[a..], &mut s.fold, false);
                fold::fold(&o[a..], &mut s.fold2, true);
                e.folds.contains(&s.fold) || e.folds.contains(&s.fold2)
            }
            && glyphs(&o[a..], &e.chars, s)
        {
            let rest = &o[a..];
            let cyrillic = rest.iter().any(|c| is_cyrillic(*c))
                && rest
                    .iter()
                    .filter(|c| !c.is_ascii())
                    .all(|c| is_cyrillic(*c));
            let t = if cyrillic {
                Technique::Cyrillic
            } else {
                Technique::Homoglyph
            };
            best = Some(best.map_or(t, |b| b.min(t)));
        }
        if best.is_some() {
            return best;
        }
    }
    if keys & RUN == 0 {
        return None;
    }
    runs(o, tld, e, s)
}

/// Dictionary, various or embedding: a run of `o`'s parts spells all of `e`'s labels, or its
/// labels before the TLD, and what lies around the run is nothing, dictionary words, or (for
/// all labels) anything.
fn runs(o: &[char], tld: usize, e: &Entry, s: &mut Scratch) -> Option<Technique> {
    cuts(
        o,
        tld,
        &mut s.squeezed,
        &mut s.cuts,
        &mut s.ends,
        &mut s.words,
    );
    let sq = &s.squeezed;
    // Part boundaries only (word cuts excluded), to split what lies around a run into pieces.
    let parts: Vec<usize> = {
        let mut v = vec![0];
        let mut n = 0;
        for &c in &o[..tld.saturating_sub(1)] {
            if c == '.' || c == '-' {
                if v.last() != Some(&n) {
                    v.push(n);
                }
            } else {
                n += 1;
            }
        }
        if v.last() != Some(&n) {
            v.push(n);
        }
        v
    };
    let mut best: Option<Technique> = None;
    for &a in &s.cuts {
        for &b in &s.ends {
            if b <= a {
                continue;
            }
            let run = &sq[a..b];
            let all = run == &e.all[..];
            if !all && run != &e.name[..] {
                continue;
            }
            let t = if a == 0 && b == sq.len() {
                Technique::Various
            } else if around_is_words(sq, &parts, a, b) {
                Technique::Dictionary
            } else if all {
                Technique::Embedding
            } else {
                continue;
            };
            best = Some(best.map_or(t, |x| x.min(t)));
        }
    }
    // A word inside the name: `sos.voteca.gov`, `sos-vote-ca.gov`.
    for &(x, y) in &s.words {
        let len = sq.len() - (y - x);
        let same = |t: &[char]| t.len() == len && sq[..x] == t[..x] && sq[y..] == t[x..];
        if x > 0 && y < sq.len() && (same(&e.all) || same(&e.name)) {
            best = Some(best.map_or(Technique::Dictionary, |b| b.min(Technique::Dictionary)));
        }
    }
    best
}

/// Whether everything in `sq` outside `a..b`, cut at part boundaries and at `a` and `b`, is
/// dictionary words.
fn around_is_words(sq: &[char], parts: &[usize], a: usize, b: usize) -> bool {
    let mut cuts: Vec<usize> = parts.to_vec();
    cuts.extend([a, b]);
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .filter(|w| w[1] <= a || w[0] >= b)
        .all(|w| is_word(&sq[w[0]..w[1]]))
}

/// Whether `o` is `p` with characters replaced by look-alike glyphs: one for one (same
/// confusable class), one written as two (`m` → `rn`) or two as one (`rn` → `m`).
fn glyphs(o: &[char], p: &[char], s: &mut Scratch) -> bool {
    let (n, m) = (o.len(), p.len());
    if n > 2 * m || m > 2 * n || o == p {
        return false;
    }
    let t = &*TABLES;
    let (fa, fb) = (&mut s.fold, &mut s.squeezed);
    let same = |a: char, b: char, fa: &mut Vec<char>, fb: &mut Vec<char>| {
        if a.is_ascii() && b.is_ascii() {
            return t.class[a as usize] == t.class[b as usize];
        }
        fold::fold(&[a], fa, false);
        fold::fold(&[b], fb, false);
        fa == fb
    };
    let w = n + 1;
    let dp = &mut s.dp;
    dp.clear();
    dp.resize((m + 1) * w, false);
    dp[0] = true;
    for i in 0..=m {
        for j in 0..=n {
            if !dp[i * w + j] {
                continue;
            }
            if i < m && j < n && same(p[i], o[j], fa, fb) {
                dp[(i + 1) * w + j + 1] = true;
            }
            if i < m && j + 1 < n && t.expand.contains(&(p[i], base(o[j]), base(o[j + 1]))) {
                dp[(i + 1) * w + j + 2] = true;
            }
            if i < m
                && j + 2 < n
                && t.expand3
                    .contains(&(p[i], base(o[j]), base(o[j + 1]), base(o[j + 2])))
            {
                dp[(i + 1) * w + j + 3] = true;
            }
            if i + 1 < m && j < n && t.contract.contains(&(p[i], p[i + 1], o[j])) {
                dp[(i + 2) * w + j + 1] = true;
            }
            // A glyph standing for two letters (`æ` for `ae`).
            if i + 1 < m && j < n && !o[j].is_ascii() {
                fold::fold(&[o[j]], fa, false);
                fold::fold(&p[i..i + 2], fb, false);
                if *fa == *fb {
                    dp[(i + 2) * w + j + 1] = true;
                }
            }
        }
    }
    dp[m * w + n]
}

/// The ASCII letter a glyph imitates (itself for ASCII), as dnstwist's glyph tables say.
fn base(c: char) -> char {
    if c.is_ascii() {
        return c;
    }
    match TABLES.glyph.get(&c).map(|b| b.as_bytes()) {
        Some([b]) => char::from(*b),
        _ => c,
    }
}

fn sep(c: char) -> bool {
    c == '.' || c == '-'
}

/// The one-edit technique turning `p` into `o`, if `o` is one edit away.
fn edit(o: &[char], p: &[char]) -> Option<Technique> {
    let (n, m) = (o.len(), p.len());
    let common_prefix = o.iter().zip(p).take_while(|(a, b)| a == b).count();
    let common_suffix = o
        .iter()
        .rev()
        .zip(p.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    if n == m + 1 {
        // Inserted at any k in lo..=hi (a run of equal characters).
        let hi = common_prefix.min(m);
        let lo = n - 1 - common_suffix.min(m);
        if lo > hi {
            return None;
        }
        let x = o[lo];
        let ks = lo..=hi;
        let mut best: Option<Technique> = None;
        let mut found = |t: Technique| best = Some(best.map_or(t, |b| b.min(t)));
        for k in ks {
            let before = k.checked_sub(1).map(|i| o[i]);
            let after = o.get(k + 1).copied();
            let inner = before.is_some_and(|c| !sep(c)) && after.is_some_and(|c| !sep(c));
            if x.is_ascii_alphanumeric() && before.is_some_and(|c| !sep(c)) && after.is_none_or(sep)
            {
                found(Technique::Addition);
            }
            if x == '-' && inner {
                found(Technique::Hyphenation);
            }
            // dnstwist's insertion: a neighbour of a letter that is not its label's last, put
            // before or after it.
            let not_last = |i: usize| o.get(i).is_some_and(|c| !sep(*c));
            if x.is_ascii_alphanumeric()
                && (before.is_some_and(|c| TABLES.adjacent(c, x)) && not_last(k + 1)
                    || after.is_some_and(|c| TABLES.adjacent(c, x)) && not_last(k + 2))
            {
                found(Technique::Insertion);
            }
            // dnstwist's plural: `s` after the third letter of a label or later, two or
            // more letters still following.
            if x == 's' && inner {
                let start = o[..k].iter().rposition(|c| sep(*c)).map_or(0, |i| i + 1);
                let end = o[k + 1..]
                    .iter()
                    .position(|c| sep(*c))
                    .map_or(n, |i| k + 1 + i);
                let es = before.is_some_and(|c| matches!(c, 's' | 'x' | 'z'));
                if k - start >= 3 && end - k > 2 && !es {
                    found(Technique::Plural);
                }
            }
            if !sep(x) && (before == Some(x) || after == Some(x)) {
                found(Technique::Repetition);
            }
            if x == '.' && inner {
                found(Technique::Subdomain);
            }
        }
        return best;
    }
    if n + 1 == m {
        let hi = common_prefix.min(n);
        let lo = m - 1 - common_suffix.min(n);
        return (lo <= hi && p[lo] != '.').then_some(Technique::Omission);
    }
    if n == m + 2 {
        // Plural `es` after s, x or z.
        for i in 1..=common_prefix.min(m) {
            if matches!(p[i - 1], 's' | 'x' | 'z')
                && o[i] == 'e'
                && o[i + 1] == 's'
                && o[i + 2..] == p[i..]
            {
                return Some(Technique::Plural);
            }
        }
        return None;
    }
    if n != m || common_prefix == n {
        return None;
    }
    let i = common_prefix;
    let rest = n - i - 1;
    if common_suffix >= rest {
        let (a, b) = (p[i], o[i]);
        let bit = a.is_ascii()
            && b.is_ascii()
            && (a as u32 ^ b as u32).is_power_of_two()
            && (b.is_ascii_lowercase() || b.is_ascii_digit() || b == '-');
        if bit {
            return Some(Technique::Bitsquatting);
        }
        if TABLES.adjacent(a, b) {
            return Some(Technique::Replacement);
        }
        let vowel = |c: char| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u');
        if vowel(a) && vowel(b) {
            return Some(Technique::VowelSwap);
        }
        return None;
    }
    if i + 1 < n && o[i] == p[i + 1] && o[i + 1] == p[i] && o[i + 2..] == p[i + 2..] {
        return Some(Technique::Transposition);
    }
    None
}
