//! Every name the generator lists is detected, with the technique it was made by.

use detente_lookalike::{Index, Scratch, generate};

#[test]
fn every_generated_name_is_detected_with_its_technique() {
    let domains = [
        "sos.ca.gov",
        "vote.org",
        "fvap.gov",
        "eac.gov",
        "elections.ny.gov",
    ];
    let ix = Index::new(domains).expect("valid");
    let mut s = Scratch::default();
    let mut failures = Vec::new();
    let mut total = 0;
    for d in domains {
        let perms = generate(d).expect("valid domain");
        assert!(perms.len() > 500, "{d}: only {} permutations", perms.len());
        for (t, name) in perms {
            total += 1;
            let found = ix
                .classify(&name, &mut s)
                .iter()
                .find(|f| ix.protected(f.protected) == d)
                .map(|f| f.technique);
            if found != Some(t) {
                failures.push(format!(
                    "{d} {name}: generated as {t}, detected as {found:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} not detected as generated:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
}

#[test]
fn generate_refuses_non_domains() {
    assert!(generate("not a domain").is_err());
    assert!(generate("localhost").is_err());
}
