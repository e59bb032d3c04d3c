//! Unit tests: one per technique, the whole-host variants, IDNs, and what is never flagged.

use super::*;

const PROTECTED: [&str; 6] = [
    "sos.ca.gov",
    "vote.org",
    "fvap.gov",
    "eac.gov",
    "elections.ny.gov",
    "nased.org",
];

fn index() -> Index {
    Index::new(PROTECTED).expect("valid protected set")
}

/// The technique found for `observed` against `protected`, if any.
fn tech(ix: &Index, observed: &str, protected: &str) -> Option<&'static str> {
    let mut s = Scratch::default();
    ix.classify(observed, &mut s)
        .iter()
        .find(|f| ix.protected(f.protected) == protected)
        .map(|f| f.technique.as_str())
}

#[test]
fn each_technique_is_named() {
    let ix = index();
    for (observed, protected, want) in [
        ("sos.caa.gov", "sos.ca.gov", "addition"),
        ("sos.ka.gov", "sos.ca.gov", "bitsquatting"),
        ("ѕоѕ.ca.gov", "sos.ca.gov", "cyrillic"),
        ("ѕos.ca.gov", "sos.ca.gov", "cyrillic"),
        ("s0s.ca.gov", "sos.ca.gov", "homoglyph"),
        ("șos.ca.gov", "sos.ca.gov", "homoglyph"),
        ("nasred.org", "nased.org", "insertion"),
        ("nasecl.org", "nased.org", "homoglyph"),
        ("naselb.org", "nased.org", "homoglyph"),
        ("vvote.org", "vote.org", "repetition"),
        ("f-vap.gov", "fvap.gov", "hyphenation"),
        ("fcvap.gov", "fvap.gov", "insertion"),
        ("fap.gov", "fvap.gov", "omission"),
        ("electionss.ny.gov", "elections.ny.gov", "addition"),
        ("electiosns.ny.gov", "elections.ny.gov", "plural"),
        ("eaac.gov", "eac.gov", "repetition"),
        ("fvsp.gov", "fvap.gov", "replacement"),
        ("f.vap.gov", "fvap.gov", "subdomain"),
        ("vtoe.org", "vote.org", "transposition"),
        ("voto.org", "vote.org", "vowel-swap"),
        ("vote-results.org", "vote.org", "dictionary"),
        ("sos.voteca.gov", "sos.ca.gov", "dictionary"),
        ("vote.com", "vote.org", "tld-swap"),
        ("sosca.gov", "sos.ca.gov", "various"),
        ("sos-ca-gov.com", "sos.ca.gov", "various"),
        ("sos-ca.gov.example.com", "sos.ca.gov", "embedding"),
    ] {
        assert_eq!(tech(&ix, observed, protected), Some(want), "{observed}");
    }
}

#[test]
fn whole_host_variants() {
    let ix = index();
    for (observed, want) in [
        ("sos-ca.gov.example.com", "embedding"),
        ("sos.ca.gov-results.info", "dictionary"),
        ("sosca.gov", "various"),
        ("sos-ca-gov.com", "various"),
        ("sos-ca.gov", "various"),
        ("www.s0s.ca.gov", "homoglyph"),
        ("login.sos.ca.gov.evil.net", "embedding"),
        ("sos.ca.gov.com", "various"),
        ("s0s.ca.gov", "homoglyph"),
        ("sos.ca.gow", "tld-swap"),
    ] {
        assert_eq!(tech(&ix, observed, "sos.ca.gov"), Some(want), "{observed}");
    }
    assert_eq!(tech(&ix, "vote-fvap.org", "fvap.gov"), Some("dictionary"));
}

#[test]
fn idn_homographs_in_unicode_and_punycode() {
    let ix = index();
    let unicode = "ѕos.ca.gov";
    let puny = idna::domain_to_ascii(unicode).expect("encodable");
    assert!(puny.starts_with("xn--"));
    assert_eq!(tech(&ix, unicode, "sos.ca.gov"), Some("cyrillic"));
    assert_eq!(tech(&ix, &puny, "sos.ca.gov"), Some("cyrillic"));
    assert_eq!(
        tech(&ix, &puny.to_uppercase(), "sos.ca.gov"),
        Some("cyrillic")
    );
    assert_eq!(tech(&ix, "vοte.org", "vote.org"), Some("homoglyph"));
    // A protected IDN: its A-label form and subdomains are its own, edits to it are not.
    let ix = Index::new(["bürgerwahl.de"]).expect("valid");
    let a = idna::domain_to_ascii("bürgerwahl.de").expect("encodable");
    assert_eq!(tech(&ix, &a, "bürgerwahl.de"), None);
    assert_eq!(tech(&ix, &format!("www.{a}"), "bürgerwahl.de"), None);
    assert_eq!(
        tech(&ix, "burgerwahl.de", "bürgerwahl.de"),
        Some("homoglyph")
    );
    assert_eq!(
        tech(&ix, "bürgerwah1.de", "bürgerwahl.de"),
        Some("homoglyph")
    );
    assert_eq!(
        tech(&ix, "bürgerwahll.de", "bürgerwahl.de"),
        Some("addition")
    );
}

#[test]
fn protected_and_real_subdomains_are_never_lookalikes() {
    let ix = index();
    let mut s = Scratch::default();
    for name in [
        "sos.ca.gov",
        "SOS.CA.GOV.",
        "www.sos.ca.gov",
        "a.b.c.sos.ca.gov",
        "registertovote.sos.ca.gov",
        "www.vote.org",
        "results.elections.ny.gov",
        "fvap.gov",
    ] {
        assert!(ix.classify(name, &mut s).is_empty(), "{name}");
    }
}

#[test]
fn unrelated_names_and_non_names_are_not_flagged() {
    let ix = index();
    let mut s = Scratch::default();
    for name in [
        "google.com",
        "note.org",
        "ca.gov",
        "www.ca.gov",
        "10.0.0.1",
        "",
        "-",
        "gov",
        "example.com",
        "vote",
        "elections.com.au.example",
        "rockthevote.org",
    ] {
        assert!(
            ix.classify(name, &mut s).is_empty(),
            "{name}: {:?}",
            ix.classify(name, &mut s)
        );
    }
}

#[test]
fn bad_protected_domain_is_named() {
    let err = Index::new(["sos.ca.gov", "not a domain"]).expect_err("refused");
    assert!(err.to_string().contains("not a domain"));
}

#[test]
fn scores_follow_techniques() {
    let ix = index();
    let mut s = Scratch::default();
    let f = ix.classify("s0s.ca.gov", &mut s);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].score, Technique::Homoglyph.score());
}

#[test]
fn a_reused_scratch_carries_nothing_over() {
    let ix = index();
    let mut s = Scratch::default();
    assert_eq!(ix.classify("s0s.ca.gov", &mut s).len(), 1);
    assert!(ix.classify("example.com", &mut s).is_empty());
    assert!(ix.classify("www.sos.ca.gov", &mut s).is_empty());
}

#[test]
fn dots_and_hyphens_are_never_merged() {
    // `Unpaired` relies on merging leaving dots in place, so a label suffix of a fold is the
    // fold of the label suffix.
    let t = &*crate::tables::TABLES;
    assert_eq!(t.unpaired[usize::from(b'.')], b'.');
    assert_eq!(t.unpaired[usize::from(b'-')], b'-');
}

/// Whether some label suffix of `h`'s folds (either direction) is a fold key of `ix`.
fn fold_hit(ix: &Index, h: &[char]) -> bool {
    [false, true].into_iter().any(|rtl| {
        let mut f = Vec::new();
        fold::fold(h, &mut f, rtl);
        std::iter::once(0)
            .chain(
                f.iter()
                    .enumerate()
                    .filter(|(_, c)| **c == '.')
                    .map(|(i, _)| i + 1),
            )
            .any(|a| !ix.folds.get(chars_hash(&f[a..])).is_empty())
    })
}

#[test]
fn unpaired_gate_passes_every_fold_hit() {
    // Every ASCII permutation of the protected names, with `www.` and a parent added: where a
    // fold suffix meets a key, the gate must let the name through.
    let ix = index();
    let (mut hits, mut passed) = (0, 0);
    for p in PROTECTED {
        for (_, name) in generate(p).expect("valid domain") {
            for n in [
                name.clone(),
                format!("www.{name}"),
                format!("{name}.example.com"),
            ] {
                let mut h = Vec::new();
                if fold::parse(&n, &mut h).is_none() || !h.iter().all(char::is_ascii) {
                    continue;
                }
                let may = ix.fold_unpaired.may(&h);
                passed += usize::from(may);
                if fold_hit(&ix, &h) {
                    hits += 1;
                    assert!(may, "{n}: a fold key meets it but the gate turns it away");
                }
            }
        }
    }
    assert!(hits > 100, "only {hits} fold hits");
    assert!(passed >= hits);
}

proptest::proptest! {
    #[test]
    fn unpaired_gate_is_sound_on_confusable_names(s in "[rnmvwuclideb10o.-]{1,12}\\.(gov|org)") {
        let ix = index();
        let mut h = Vec::new();
        if fold::parse(&s, &mut h).is_some() && fold_hit(&ix, &h) {
            proptest::prop_assert!(ix.fold_unpaired.may(&h));
        }
    }
}
