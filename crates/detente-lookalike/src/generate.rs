//! Permutations of one domain, for checking DNS proactively (dnstwist's fuzzers, applied to
//! every label before the TLD rather than to the registrable label only).

use rustc_hash::FxHashMap;

use crate::tables::{LATIN_TO_CYRILLIC, TABLES};
use crate::{Error, Technique, fold, tld_start};

/// The permutations of `domain`, each with the technique that makes it (the first in
/// [`Technique`]'s order when several do), sorted by technique then name. Names the
/// protected domain itself, its subdomains and invalid host names are left out.
pub fn generate(domain: &str) -> Result<Vec<(Technique, String)>, Error> {
    let mut chars = Vec::new();
    if fold::parse(domain, &mut chars).is_none() {
        return Err(Error::NotADomain(domain.to_string()));
    }
    let host: String = chars.iter().collect();
    let tld_at = tld_start(&chars);
    let tld: String = chars[tld_at..].iter().collect();
    let labels: Vec<Vec<char>> = if tld_at >= 2 {
        chars[..tld_at - 1]
            .split(|c| *c == '.')
            .map(<[char]>::to_vec)
            .collect()
    } else {
        Vec::new()
    };
    let name = |ls: &[Vec<char>]| -> String {
        ls.iter()
            .map(|l| l.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(".")
    };
    let mut out: FxHashMap<String, Technique> = FxHashMap::default();
    let mut add = |t: Technique, n: String| {
        let e = out.entry(n).or_insert(t);
        *e = (*e).min(t);
    };
    for i in 0..labels.len() {
        for (t, v) in label_variants(&labels[i]) {
            let mut ls = labels.clone();
            ls[i] = v;
            add(t, format!("{}.{tld}", name(&ls)));
        }
    }
    let n = name(&labels);
    if !n.is_empty() {
        for t in TABLES.tld_list.iter().filter(|t| **t != tld) {
            add(Technique::TldSwap, format!("{n}.{t}"));
        }
        let squeezed: String = n.chars().filter(|c| *c != '.').collect();
        let hyphens = n.replace('.', "-");
        let last = tld.rsplit('.').next().unwrap_or(&tld);
        let squeezed_tld = format!("{squeezed}{}", tld.replace('.', ""));
        let mut various = vec![
            format!("{squeezed}.{tld}"),
            format!("{hyphens}.{tld}"),
            format!("{n}{}.{tld}", tld.replace('.', "")),
            format!("{squeezed_tld}.com"),
            format!("{hyphens}-{}.com", tld.replace('.', "-")),
        ];
        if tld.contains('.') {
            various.push(format!("{n}.{last}"));
        }
        for v in various {
            add(Technique::Various, v);
        }
    }
    let mut list: Vec<(Technique, String)> = out
        .into_iter()
        .filter(|(v, _)| keep(v, &host))
        .map(|(v, t)| (t, v))
        .collect();
    list.sort();
    Ok(list)
}

/// Whether a permutation is worth listing: a valid host name of letters, digits and hyphens
/// (no label starting or ending with a hyphen), neither the domain nor one of its subdomains.
fn keep(v: &str, host: &str) -> bool {
    let mut c = Vec::new();
    if fold::parse(v, &mut c).is_none() || v == host || v.ends_with(&format!(".{host}")) {
        return false;
    }
    v.split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
        && idna::domain_to_ascii(v).is_ok()
}

/// dnstwist's fuzzers on one label.
fn label_variants(l: &[char]) -> Vec<(Technique, Vec<char>)> {
    let t = &*TABLES;
    let mut out = Vec::new();
    let n = l.len();
    let with = |i: usize, ins: &[char], skip: usize| -> Vec<char> {
        let mut v = l[..i].to_vec();
        v.extend_from_slice(ins);
        v.extend_from_slice(&l[(i + skip).min(n)..]);
        v
    };
    let alnum = ('0'..='9').chain('a'..='z');
    // Addition: at the end, and before each hyphen.
    for c in alnum.clone() {
        out.push((Technique::Addition, with(n, &[c], 0)));
        for (i, _) in l.iter().enumerate().filter(|(_, c)| **c == '-') {
            out.push((Technique::Addition, with(i, &[c], 0)));
        }
    }
    for (i, &c) in l.iter().enumerate() {
        if c.is_ascii() {
            for bit in 0..8 {
                let b = char::from(c as u8 ^ (1 << bit));
                if b.is_ascii_lowercase() || b.is_ascii_digit() || b == '-' {
                    out.push((Technique::Bitsquatting, with(i, &[b], 1)));
                }
            }
        }
    }
    let cyr: Vec<char> = l
        .iter()
        .map(|c| {
            LATIN_TO_CYRILLIC
                .iter()
                .find(|(a, _)| a == c)
                .map_or(*c, |(_, b)| *b)
        })
        .collect();
    if cyr.iter().zip(l).all(|(a, b)| a != b) {
        out.push((Technique::Cyrillic, cyr));
    }
    // dnstwist's two passes: glyphs swapped into the label, then into each result again.
    let first = glyph_swaps(l);
    let mut all: rustc_hash::FxHashSet<Vec<char>> = first.iter().cloned().collect();
    for v in &first {
        all.extend(glyph_swaps(v));
    }
    for v in all {
        let odd = v.iter().filter(|c| !c.is_ascii());
        let cyrillic = odd.clone().count() > 0 && odd.clone().all(|c| fold::is_cyrillic(*c));
        let t = if cyrillic {
            Technique::Cyrillic
        } else {
            Technique::Homoglyph
        };
        out.push((t, v));
    }
    for i in 1..n {
        out.push((Technique::Hyphenation, with(i, &['-'], 0)));
    }
    for (i, &k) in l.iter().enumerate().take(n.saturating_sub(1)) {
        for c in t.neighbours(k) {
            out.push((Technique::Insertion, with(i, &[c], 0)));
            out.push((Technique::Insertion, with(i + 1, &[c], 0)));
        }
    }
    for (i, &k) in l.iter().enumerate() {
        out.push((Technique::Omission, with(i, &[], 1)));
        out.push((Technique::Repetition, with(i, &[k], 0)));
        for c in t.neighbours(k) {
            out.push((Technique::Replacement, with(i, &[c], 1)));
        }
        if is_vowel(k) {
            for v in ['a', 'e', 'i', 'o', 'u'] {
                out.push((Technique::VowelSwap, with(i, &[v], 1)));
            }
        }
    }
    for (i, &k) in l.iter().enumerate().take(n.saturating_sub(2)).skip(2) {
        let s: &[char] = if matches!(k, 's' | 'x' | 'z') {
            &['e', 's']
        } else {
            &['s']
        };
        out.push((Technique::Plural, with(i + 1, s, 0)));
    }
    for i in 1..n.saturating_sub(1) {
        if l[i] != '-' && l[i - 1] != '-' {
            out.push((Technique::Subdomain, with(i, &['.'], 0)));
        }
    }
    for i in 0..n.saturating_sub(1) {
        let mut v = l.to_vec();
        v.swap(i, i + 1);
        out.push((Technique::Transposition, v));
    }
    let label: String = l.iter().collect();
    for w in &t.word_list {
        if label == *w {
            continue;
        }
        for v in [
            format!("{label}-{w}"),
            format!("{label}{w}"),
            format!("{w}-{label}"),
            format!("{w}{label}"),
        ] {
            out.push((Technique::Dictionary, v.chars().collect()));
        }
    }
    out
}

/// Every way of swapping one glyph (or a two-letter sequence) of `l` for a look-alike.
fn glyph_swaps(l: &[char]) -> Vec<Vec<char>> {
    let mut out = Vec::new();
    for &(base, g) in &TABLES.glyph_pairs {
        let b: Vec<char> = base.chars().collect();
        for i in 0..l.len() {
            if l[i..].starts_with(&b) {
                let mut v = l[..i].to_vec();
                v.extend(g.chars());
                v.extend_from_slice(&l[i + b.len()..]);
                out.push(v);
            }
        }
    }
    out
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
}
