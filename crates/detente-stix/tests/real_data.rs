//! Every object of real published STIX 2.1 data validates: the OASIS examples and the
//! MITRE ATT&CK bundles (see PROVENANCE.md beside each). All of these objects are also valid
//! under the OASIS JSON schemas shipped beside the examples (checked with Python `jsonschema`
//! when this test was written), so none is skipped.

use std::path::{Path, PathBuf};

use detente_stix::{validate_bundle, validate_object};
use serde_json::Value;

fn shared(rel: &str) -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/real"
    ))
    .join(rel)
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Validates a file holding a bundle or a single object; returns the object count.
fn validate_file(path: &Path) -> usize {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    if v["type"] == "bundle" {
        let results = validate_bundle(&v).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let failures: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        assert!(failures.is_empty(), "{}: {failures:#?}", path.display());
        for (r, o) in results.iter().zip(v["objects"].as_array().unwrap()) {
            let meta = r.as_ref().unwrap();
            assert_eq!(meta.id, o["id"].as_str().unwrap());
            assert_eq!(meta.object_type, o["type"].as_str().unwrap());
        }
        results.len()
    } else {
        validate_object(&v).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        1
    }
}

#[test]
fn oasis_examples_validate() {
    let mut files = Vec::new();
    json_files(
        &shared("stix21-examples/cti-stix2-json-schemas/examples"),
        &mut files,
    );
    json_files(
        &shared("stix21-examples/cti-documentation/examples"),
        &mut files,
    );
    files.sort();
    assert!(
        files.len() >= 19,
        "found only {} example files",
        files.len()
    );
    let objects: usize = files.iter().map(|f| validate_file(f)).sum();
    println!(
        "{} OASIS example files, {objects} objects valid",
        files.len()
    );
    assert!(objects > 500);
}

#[test]
fn mitre_attack_bundles_validate() {
    let mut total = 0;
    for name in ["ics-attack-18.1.json", "mobile-attack-17.1.json"] {
        let n = validate_file(&shared(&format!("mitre-attack-stix21/{name}")));
        println!("{name}: {n} objects valid");
        total += n;
    }
    assert_eq!(total, 1826 + 2148);
}
