//! Marking definitions as published (TLP 1.0 in the STIX 2.1 spec, TLP 2.0 by the OASIS
//! extension) validate and map to their TLP level.

use detente_stix::tlp::{TLP1_MARKINGS, TLP2_EXTENSION_ID, TLP2_MARKINGS, Tlp, tlp_of_markings};
use detente_stix::validate_object;
use serde_json::{Value, json};

fn tlp1(id: &str, color: &str) -> Value {
    json!({
        "type": "marking-definition", "spec_version": "2.1", "id": id,
        "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp",
        "name": format!("TLP:{}", color.to_ascii_uppercase()),
        "definition": {"tlp": color}
    })
}

fn tlp2(id: &str, level: &str) -> Value {
    json!({
        "type": "marking-definition", "spec_version": "2.1", "id": id,
        "created": "2022-10-01T00:00:00.000Z",
        "name": format!("TLP:{}", level.to_ascii_uppercase()),
        "extensions": {TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": level}}
    })
}

#[test]
fn tlp1_markings_validate_and_map() {
    for ((id, level), color) in TLP1_MARKINGS.iter().zip(["white", "green", "amber", "red"]) {
        let meta = validate_object(&tlp1(id, color)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tlp_of_markings(&[meta.id]), Some(*level));
    }
    // The colours are tied to their ids.
    let swapped = tlp1(TLP1_MARKINGS[0].0, "red");
    assert_eq!(validate_object(&swapped).unwrap_err().property, "name");
}

#[test]
fn tlp2_markings_validate_and_map() {
    for (id, level) in TLP2_MARKINGS {
        let meta = validate_object(&tlp2(id, level.as_str())).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tlp_of_markings(&[meta.id]), Some(level));
    }
}

#[test]
fn marked_object_reports_most_restrictive_level() {
    let obj = json!({
        "type": "indicator", "spec_version": "2.1",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z",
        "pattern": "[url:value = 'http://x.example']", "pattern_type": "stix",
        "valid_from": "2016-01-01T00:00:00Z",
        "object_marking_refs": [TLP1_MARKINGS[1].0, TLP2_MARKINGS[4].0]
    });
    let meta = validate_object(&obj).unwrap();
    assert_eq!(tlp_of_markings(&meta.object_marking_refs), Some(Tlp::Red));
}
