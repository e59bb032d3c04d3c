//! Invalid objects are refused, and the error names the property at fault.

use detente_stix::{ErrorKind, validate_bundle, validate_object};
use serde_json::{Value, json};

const IND: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
const IDENT: &str = "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff";
const TLP_GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";

/// A valid object of each kind, to be broken one property at a time.
fn base(kind: &str) -> Value {
    match kind {
        "indicator" => json!({
            "type": "indicator", "spec_version": "2.1", "id": IND,
            "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z",
            "created_by_ref": IDENT,
            "pattern": "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
            "pattern_type": "stix", "valid_from": "2016-01-01T00:00:00Z",
            "object_marking_refs": [TLP_GREEN],
            "kill_chain_phases": [{"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "delivery"}],
            "external_references": [{"source_name": "capec", "external_id": "CAPEC-163"}],
            "granular_markings": [{"marking_ref": TLP_GREEN, "selectors": ["pattern", "kill_chain_phases.[0].phase_name"]}],
            "confidence": 50,
            "x_acme_score": 3
        }),
        "relationship" => json!({
            "type": "relationship", "spec_version": "2.1",
            "id": "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad",
            "created": "2016-04-06T20:06:37.000Z", "modified": "2016-04-06T20:06:37.000Z",
            "relationship_type": "indicates", "source_ref": IND,
            "target_ref": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
            "start_time": "2016-01-01T00:00:00Z", "stop_time": "2016-02-01T00:00:00Z"
        }),
        "sighting" => json!({
            "type": "sighting", "spec_version": "2.1",
            "id": "sighting--ee20065d-2555-424f-ad9e-0f8428623c75",
            "created": "2016-04-06T20:08:31.000Z", "modified": "2016-04-06T20:08:31.000Z",
            "sighting_of_ref": IND, "where_sighted_refs": [IDENT],
            "count": 2, "first_seen": "2015-12-21T19:00:00Z", "last_seen": "2015-12-21T19:00:00Z"
        }),
        "malware" => json!({
            "type": "malware", "spec_version": "2.1",
            "id": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
            "created": "2016-04-06T20:07:09.000Z", "modified": "2016-04-06T20:07:09.000Z",
            "name": "Poison Ivy", "is_family": true
        }),
        "observed-data" => json!({
            "type": "observed-data", "spec_version": "2.1",
            "id": "observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf",
            "created": "2016-04-06T19:58:16.000Z", "modified": "2016-04-06T19:58:16.000Z",
            "first_observed": "2015-12-21T19:00:00Z", "last_observed": "2015-12-21T19:00:00Z",
            "number_observed": 50,
            "object_refs": ["ipv4-addr--efcd5e80-570d-5131-b213-62cb18eaa6a8"]
        }),
        "location" => json!({
            "type": "location", "spec_version": "2.1",
            "id": "location--a6e9345f-5a15-4c29-8bb3-7dcc5d168d64",
            "created": "2016-04-06T20:03:00.000Z", "modified": "2016-04-06T20:03:00.000Z",
            "latitude": 48.8566, "longitude": 2.3522, "precision": 1000.0
        }),
        "report" => json!({
            "type": "report", "spec_version": "2.1",
            "id": "report--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3",
            "created": "2015-12-21T19:59:11.000Z", "modified": "2015-12-21T19:59:11.000Z",
            "name": "The Black Vine Cyberespionage Group", "published": "2016-01-20T17:00:00Z",
            "object_refs": [IND]
        }),
        "marking-definition" => json!({
            "type": "marking-definition", "spec_version": "2.1", "id": TLP_GREEN,
            "created": "2017-01-20T00:00:00.000Z", "name": "TLP:GREEN",
            "definition_type": "tlp", "definition": {"tlp": "green"}
        }),
        "statement-marking" => json!({
            "type": "marking-definition", "spec_version": "2.1",
            "id": "marking-definition--d81f86b9-975b-4c0b-875e-810c5ad45a4f",
            "created": "2017-06-01T00:00:00.000Z",
            "definition_type": "statement",
            "definition": {"statement": "Copyright 2017, Example Corp"}
        }),
        "extension-definition" => json!({
            "type": "extension-definition", "spec_version": "2.1",
            "id": "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e",
            "created_by_ref": IDENT,
            "created": "2014-02-20T09:16:08.989Z", "modified": "2014-02-20T09:16:08.989Z",
            "name": "Extension Foo Bar", "schema": "https://www.example.com/schema-foo-1/v1/",
            "version": "1.2.1", "extension_types": ["new-sdo"]
        }),
        "language-content" => json!({
            "type": "language-content", "spec_version": "2.1",
            "id": "language-content--b86bd89f-98bb-4fa9-8cb2-9ad421da981d",
            "created": "2017-02-08T21:31:22.007Z", "modified": "2017-02-08T21:31:22.007Z",
            "object_ref": "campaign--12a111f0-b824-4baf-a224-83b80237a094",
            "object_modified": "2017-02-08T21:31:22.007Z",
            "contents": {"de": {"name": "Bank Angriff 1"}}
        }),
        "file" => json!({
            "type": "file", "spec_version": "2.1",
            "id": "file--e277603e-1060-5ad4-9937-c26c97f1ca68",
            "name": "foo.dll", "hashes": {"SHA-256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
            "size": 25536
        }),
        "file-name-only" => json!({
            "type": "file", "id": "file--e277603e-1060-5ad4-9937-c26c97f1ca68", "name": "foo.dll"
        }),
        "network-traffic" => json!({
            "type": "network-traffic", "id": "network-traffic--2568d22a-8998-58eb-99ec-3c8ca74f527d",
            "src_ref": "ipv4-addr--4d22aae0-2bf9-5427-8819-e4f6abf20a53",
            "protocols": ["tcp", "http"], "src_port": 2487, "dst_port": 80
        }),
        "ipv4-addr" => json!({
            "type": "ipv4-addr", "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd",
            "value": "198.51.100.0/24"
        }),
        "ipv6-addr" => json!({
            "type": "ipv6-addr", "id": "ipv6-addr--1e61d36c-a16c-53b7-a80f-2a00161c96b1",
            "value": "2001:0db8::/96"
        }),
        "mac-addr" => json!({
            "type": "mac-addr", "id": "mac-addr--65cfcf98-8a6e-5a1b-8f61-379ac4f92d00",
            "value": "d2:fb:49:24:37:18"
        }),
        "email-message" => json!({
            "type": "email-message", "spec_version": "2.1",
            "id": "email-message--cf9b4b7f-14c8-5955-8065-020e0316b559",
            "is_multipart": false, "subject": "hello", "body": "text",
            "from_ref": "email-addr--89f52ea8-d6ef-51e9-8fce-6a29236436ed"
        }),
        "artifact" => json!({
            "type": "artifact", "id": "artifact--6f437177-6e48-5cf8-9d9e-872a2bddd641",
            "mime_type": "application/zip", "payload_bin": "UEsDBAoAAAAAAA==",
            "encryption_algorithm": "mime-type-indicated", "decryption_key": "infected"
        }),
        "registry-key" => json!({
            "type": "windows-registry-key", "id": "windows-registry-key--2ba37ae7-2745-5082-9dfd-9486dad41016",
            "key": "hkey_local_machine\\system\\bar\\foo",
            "values": [{"name": "Foo", "data": "qwerty", "data_type": "REG_SZ"}]
        }),
        "socket" => json!({
            "type": "network-traffic", "id": "network-traffic--c95e972a-20a4-5307-b00d-b8393faf02c5",
            "src_ref": "ipv4-addr--4d22aae0-2bf9-5427-8819-e4f6abf20a53", "protocols": ["tcp"],
            "extensions": {"socket-ext": {"is_listening": true, "address_family": "AF_INET", "socket_type": "SOCK_STREAM"}},
            "x_acme_flags_hex": "0a1B"
        }),
        "archive" => json!({
            "type": "file", "id": "file--9a1f834d-2506-5367-baec-7aa63996ac43", "name": "foo.zip",
            "extensions": {"archive-ext": {"contains_refs": ["file--019fde1c-94ab-5d47-a35c-3a5d7d2fc2f3"], "comment": "zip"}}
        }),
        "x509" => json!({
            "type": "x509-certificate", "id": "x509-certificate--463d7b2a-8516-5a50-a3d7-6f801465d5de",
            "issuer": "C=ZA, O=Thawte Consulting cc", "subject": "C=US, O=Brent Baccala",
            "validity_not_before": "2016-03-12T12:00:00Z", "validity_not_after": "2016-08-21T12:00:00Z",
            "x509_v3_extensions": {"basic_constraints": "critical,CA:TRUE, pathlen:0"}
        }),
        "software" => json!({
            "type": "software", "id": "software--a1827f6d-ca53-5605-9e93-4316cd22a00a",
            "name": "Word", "cpe": "cpe:2.3:a:microsoft:word:2000:*:*:*:*:*:*:*", "vendor": "Microsoft"
        }),
        "process" => json!({
            "type": "process", "id": "process--f52a906a-0dfc-40bd-92f1-e7778ead38a9",
            "pid": 1221, "command_line": "./gedit-bin --new-window",
            "environment_variables": {"PATH": "/usr/bin"}
        }),
        "user-account" => json!({
            "type": "user-account", "id": "user-account--0d5b424b-93b8-5cd8-ac36-306e1789d63c",
            "user_id": "1001", "account_login": "jdoe", "is_privileged": false
        }),
        "malware-analysis" => json!({
            "type": "malware-analysis", "spec_version": "2.1",
            "id": "malware-analysis--d25167b7-fed0-4068-9ccd-a73dd2c5b07c",
            "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z",
            "product": "microsoft", "result": "malicious",
            "analysis_started": "2018-01-01T00:00:00Z", "analysis_ended": "2018-01-01T00:01:00Z",
            "analysis_sco_refs": ["file--6e8c78cf-4bcc-4729-9265-86a97bfc91ba"]
        }),
        "custom" => json!({
            "type": "x-acme-widget", "spec_version": "2.1",
            "id": "x-acme-widget--3e3f4f63-9d8e-4b2a-9d5a-0d9f9d8a3e2a",
            "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z",
            "x_acme_thing_ref": IND
        }),
        other => panic!("no base {other}"),
    }
}

/// (base, JSON pointer to change, new value or None to remove, expected property in error)
type Case = (&'static str, &'static str, Option<Value>, &'static str);

fn cases() -> Vec<Case> {
    vec![
        // Identity of the object.
        ("indicator", "/type", None, "type"),
        ("indicator", "/type", Some(json!(7)), "type"),
        ("indicator", "/type", Some(json!("In")), "type"),
        ("indicator", "/type", Some(json!("x--y")), "type"),
        ("indicator", "/type", Some(json!("malware")), "id"),
        ("indicator", "/type", Some(json!("bundle")), "type"),
        ("indicator", "/id", None, "id"),
        ("indicator", "/id", Some(json!("indicator--1234")), "id"),
        (
            "indicator",
            "/id",
            Some(json!("indicator--8e2e2d2b-17d4-4cbf-f38f-98ee46b3cd3f")),
            "id",
        ),
        (
            "indicator",
            "/id",
            Some(json!("indicator-8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")),
            "id",
        ),
        // Common properties.
        ("indicator", "/spec_version", None, "spec_version"),
        (
            "indicator",
            "/spec_version",
            Some(json!("2.0")),
            "spec_version",
        ),
        (
            "indicator",
            "/spec_version",
            Some(json!(2.1)),
            "spec_version",
        ),
        ("indicator", "/created", None, "created"),
        ("indicator", "/modified", None, "modified"),
        (
            "indicator",
            "/created",
            Some(json!("2016-04-06T20:03:48Z")),
            "created",
        ),
        (
            "indicator",
            "/created",
            Some(json!("2016-04-06T20:03:48.0Z")),
            "created",
        ),
        (
            "indicator",
            "/created",
            Some(json!("2016-04-06 20:03:48.000Z")),
            "created",
        ),
        (
            "indicator",
            "/modified",
            Some(json!("2016-04-06T20:03:48.000+01:00")),
            "modified",
        ),
        (
            "indicator",
            "/modified",
            Some(json!("2016-02-30T20:03:48.000Z")),
            "modified",
        ),
        (
            "indicator",
            "/modified",
            Some(json!("2016-04-06T20:03:47.999Z")),
            "modified",
        ),
        (
            "indicator",
            "/created_by_ref",
            Some(json!("identity--f431f809")),
            "created_by_ref",
        ),
        (
            "indicator",
            "/created_by_ref",
            Some(json!(IND)),
            "created_by_ref",
        ),
        ("indicator", "/revoked", Some(json!("no")), "revoked"),
        ("indicator", "/labels", Some(json!([])), "labels"),
        ("indicator", "/labels", Some(json!(["a", 1])), "labels[1]"),
        ("indicator", "/confidence", Some(json!(101)), "confidence"),
        ("indicator", "/confidence", Some(json!(-1)), "confidence"),
        ("indicator", "/confidence", Some(json!(50.5)), "confidence"),
        ("indicator", "/lang", Some(json!(["en"])), "lang"),
        (
            "indicator",
            "/object_marking_refs",
            Some(json!([IDENT])),
            "object_marking_refs[0]",
        ),
        (
            "indicator",
            "/object_marking_refs",
            Some(json!(TLP_GREEN)),
            "object_marking_refs",
        ),
        (
            "indicator",
            "/object_marking_refs",
            Some(json!([])),
            "object_marking_refs",
        ),
        (
            "indicator",
            "/external_references/0/source_name",
            None,
            "external_references[0].source_name",
        ),
        (
            "indicator",
            "/external_references/0/external_id",
            Some(json!("163")),
            "external_references[0].external_id",
        ),
        (
            "indicator",
            "/external_references/0",
            Some(json!({"source_name": "cve", "external_id": "CVE-16-1"})),
            "external_references[0].external_id",
        ),
        (
            "indicator",
            "/external_references/0",
            Some(json!({"source_name": "acme"})),
            "external_references[0].description",
        ),
        (
            "indicator",
            "/external_references/0",
            Some(json!({"source_name": "acme", "url": "https://x", "hashes": {"SHA-256": "abc"}})),
            "external_references[0].hashes.SHA-256",
        ),
        (
            "indicator",
            "/external_references/0",
            Some(json!("cve")),
            "external_references[0]",
        ),
        (
            "indicator",
            "/kill_chain_phases/0/phase_name",
            None,
            "kill_chain_phases[0].phase_name",
        ),
        (
            "indicator",
            "/kill_chain_phases/0/kill_chain_name",
            Some(json!(1)),
            "kill_chain_phases[0].kill_chain_name",
        ),
        (
            "indicator",
            "/granular_markings/0/selectors",
            Some(json!(["nonexistent"])),
            "granular_markings[0].selectors[0]",
        ),
        (
            "indicator",
            "/granular_markings/0/selectors",
            Some(json!(["kill_chain_phases.[3]"])),
            "granular_markings[0].selectors[0]",
        ),
        (
            "indicator",
            "/granular_markings/0/selectors",
            None,
            "granular_markings[0].selectors",
        ),
        (
            "indicator",
            "/granular_markings/0/marking_ref",
            None,
            "granular_markings[0].marking_ref",
        ),
        (
            "indicator",
            "/granular_markings/0/lang",
            Some(json!("en")),
            "granular_markings[0].lang",
        ),
        (
            "indicator",
            "/granular_markings/0/marking_ref",
            Some(json!(IDENT)),
            "granular_markings[0].marking_ref",
        ),
        ("indicator", "/extensions", Some(json!({})), "extensions"),
        (
            "indicator",
            "/extensions",
            Some(json!({"extension-definition--1234": {"extension_type": "new-sdo"}})),
            "extensions",
        ),
        (
            "indicator",
            "/extensions",
            Some(
                json!({"extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e": {"extension_type": "new-thing"}}),
            ),
            "extensions.extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e.extension_type",
        ),
        (
            "indicator",
            "/extensions",
            Some(json!({"acme-ext": {}})),
            "extensions.acme-ext",
        ),
        // Custom properties and references.
        ("indicator", "/X_acme", Some(json!(1)), "X_acme"),
        ("indicator", "/x-acme", Some(json!(1)), "x-acme"),
        ("indicator", "/xa", Some(json!(1)), "xa"),
        (
            "indicator",
            "/x_acme_target_ref",
            Some(json!("somewhere")),
            "x_acme_target_ref",
        ),
        (
            "indicator",
            "/x_acme_target_refs",
            Some(json!([IND, "nowhere"])),
            "x_acme_target_refs[1]",
        ),
        (
            "indicator",
            "/x_acme_target_refs",
            Some(json!(IND)),
            "x_acme_target_refs",
        ),
        (
            "custom",
            "/x_acme_thing_ref",
            Some(json!(42)),
            "x_acme_thing_ref",
        ),
        (
            "custom",
            "/created",
            Some(json!("2020-01-01T00:00:00Z")),
            "created",
        ),
        (
            "custom",
            "/modified",
            Some(json!("2019-01-01T00:00:00.000Z")),
            "modified",
        ),
        // Indicator.
        ("indicator", "/pattern", None, "pattern"),
        ("indicator", "/pattern_type", None, "pattern_type"),
        ("indicator", "/valid_from", None, "valid_from"),
        (
            "indicator",
            "/valid_from",
            Some(json!("yesterday")),
            "valid_from",
        ),
        (
            "indicator",
            "/valid_until",
            Some(json!("2016-01-01T00:00:00Z")),
            "valid_until",
        ),
        ("indicator", "/pattern", Some(json!(["a"])), "pattern"),
        // Relationship.
        (
            "relationship",
            "/relationship_type",
            None,
            "relationship_type",
        ),
        (
            "relationship",
            "/relationship_type",
            Some(json!("Indicates")),
            "relationship_type",
        ),
        ("relationship", "/source_ref", None, "source_ref"),
        ("relationship", "/target_ref", None, "target_ref"),
        (
            "relationship",
            "/target_ref",
            Some(json!("malware")),
            "target_ref",
        ),
        (
            "relationship",
            "/target_ref",
            Some(json!("relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad")),
            "target_ref",
        ),
        (
            "relationship",
            "/source_ref",
            Some(json!(TLP_GREEN)),
            "source_ref",
        ),
        (
            "relationship",
            "/stop_time",
            Some(json!("2016-01-01T00:00:00Z")),
            "stop_time",
        ),
        // Sighting.
        ("sighting", "/sighting_of_ref", None, "sighting_of_ref"),
        (
            "sighting",
            "/sighting_of_ref",
            Some(json!("file--e277603e-1060-5ad4-9937-c26c97f1ca68")),
            "sighting_of_ref",
        ),
        (
            "sighting",
            "/where_sighted_refs",
            Some(json!([IND])),
            "where_sighted_refs[0]",
        ),
        (
            "sighting",
            "/observed_data_refs",
            Some(json!([IND])),
            "observed_data_refs[0]",
        ),
        ("sighting", "/count", Some(json!(1_000_000_000)), "count"),
        (
            "sighting",
            "/first_seen",
            Some(json!("2016-01-01T00:00:00Z")),
            "last_seen",
        ),
        // Malware.
        ("malware", "/is_family", None, "is_family"),
        ("malware", "/is_family", Some(json!("true")), "is_family"),
        ("malware", "/name", None, "name"),
        (
            "malware",
            "/sample_refs",
            Some(json!([IND])),
            "sample_refs[0]",
        ),
        // Observed data.
        ("observed-data", "/first_observed", None, "first_observed"),
        (
            "observed-data",
            "/number_observed",
            Some(json!(0)),
            "number_observed",
        ),
        ("observed-data", "/object_refs", None, "object_refs"),
        (
            "observed-data",
            "/object_refs",
            Some(json!([IND])),
            "object_refs[0]",
        ),
        (
            "observed-data",
            "/objects",
            Some(json!({"0": {"type": "file", "name": "a"}})),
            "objects",
        ),
        (
            "observed-data",
            "/last_observed",
            Some(json!("2014-12-21T19:00:00Z")),
            "last_observed",
        ),
        // Location.
        ("location", "/latitude", Some(json!(91.0)), "latitude"),
        ("location", "/longitude", None, "longitude"),
        ("location", "/longitude", Some(json!("east")), "longitude"),
        // Report.
        ("report", "/published", None, "published"),
        ("report", "/object_refs", Some(json!([])), "object_refs"),
        ("report", "/name", None, "name"),
        // Marking definition.
        (
            "marking-definition",
            "/definition",
            Some(json!({"tlp": "red"})),
            "id",
        ),
        (
            "marking-definition",
            "/definition",
            Some(json!({"tlp": "purple"})),
            "definition.tlp",
        ),
        ("marking-definition", "/definition", None, "definition"),
        ("marking-definition", "/created", None, "created"),
        (
            "marking-definition",
            "/name",
            Some(json!("TLP:AMBER")),
            "name",
        ),
        (
            "marking-definition",
            "/definition_type",
            Some(json!("tlp2")),
            "definition_type",
        ),
        (
            "marking-definition",
            "/definition_type",
            Some(json!("statement")),
            "definition_type",
        ),
        (
            "statement-marking",
            "/definition/statement",
            None,
            "definition.statement",
        ),
        (
            "statement-marking",
            "/definition",
            Some(json!({"statement": 1})),
            "definition.statement",
        ),
        (
            "statement-marking",
            "/definition_type",
            None,
            "definition_type",
        ),
        // Extension definition.
        (
            "extension-definition",
            "/created_by_ref",
            None,
            "created_by_ref",
        ),
        ("extension-definition", "/schema", None, "schema"),
        (
            "extension-definition",
            "/extension_types",
            Some(json!(["new-thing"])),
            "extension_types[0]",
        ),
        (
            "extension-definition",
            "/extension_properties",
            Some(json!(["x_foo"])),
            "extension_properties",
        ),
        // Language content.
        ("language-content", "/object_ref", None, "object_ref"),
        (
            "language-content",
            "/contents",
            Some(json!({"de": "Bank"})),
            "contents.de",
        ),
        (
            "indicator",
            "/lang",
            Some(json!("english language")),
            "lang",
        ),
        ("indicator", "/lang", Some(json!("")), "lang"),
        (
            "language-content",
            "/contents",
            Some(json!({"de_DE": {"name": "x"}})),
            "contents",
        ),
        (
            "statement-marking",
            "/object_marking_refs",
            Some(json!([
                "marking-definition--d81f86b9-975b-4c0b-875e-810c5ad45a4f"
            ])),
            "object_marking_refs[0]",
        ),
        (
            "observed-data",
            "/object_refs",
            Some(json!([
                "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad"
            ])),
            "object_refs",
        ),
        (
            "registry-key",
            "/key",
            Some(json!("HKLM\\system\\bar")),
            "key",
        ),
        // Observables.
        (
            "artifact",
            "/encryption_algorithm",
            Some(json!("rot13")),
            "encryption_algorithm",
        ),
        ("artifact", "/encryption_algorithm", None, "decryption_key"),
        (
            "artifact",
            "/payload_bin",
            Some(json!("not base64!")),
            "payload_bin",
        ),
        (
            "artifact",
            "/payload_bin",
            Some(json!("QUJD=")),
            "payload_bin",
        ),
        (
            "artifact",
            "/url",
            Some(json!("https://example.com/a.zip")),
            "url",
        ),
        (
            "registry-key",
            "/values/0/data_type",
            Some(json!("REG_TEXT")),
            "values[0].data_type",
        ),
        ("registry-key", "/values/0", Some(json!("Foo")), "values[0]"),
        (
            "socket",
            "/extensions/socket-ext/address_family",
            None,
            "extensions.socket-ext.address_family",
        ),
        (
            "socket",
            "/extensions/socket-ext/socket_type",
            Some(json!("SOCK_FOO")),
            "extensions.socket-ext.socket_type",
        ),
        (
            "socket",
            "/x_acme_flags_hex",
            Some(json!("abc")),
            "x_acme_flags_hex",
        ),
        (
            "socket",
            "/x_acme_flags_hex",
            Some(json!("zz")),
            "x_acme_flags_hex",
        ),
        (
            "archive",
            "/extensions/archive-ext/contains_refs",
            None,
            "extensions.archive-ext.contains_refs",
        ),
        (
            "archive",
            "/extensions/archive-ext/contains_refs",
            Some(json!([IND])),
            "extensions.archive-ext.contains_refs[0]",
        ),
        (
            "archive",
            "/extensions/archive-ext/x_bad_ref",
            Some(json!("nope")),
            "extensions.archive-ext.x_bad_ref",
        ),
        (
            "email-message",
            "/received_lines",
            Some(json!("from mx")),
            "received_lines",
        ),
        ("file-name-only", "/name", None, "hashes"),
        ("file", "/hashes", Some(json!({"MD5": "zz"})), "hashes.MD5"),
        ("file", "/size", Some(json!(-1)), "size"),
        ("file", "/spec_version", Some(json!("2.0")), "spec_version"),
        (
            "file",
            "/parent_directory_ref",
            Some(json!(IND)),
            "parent_directory_ref",
        ),
        ("network-traffic", "/src_ref", None, "src_ref"),
        ("network-traffic", "/protocols", None, "protocols"),
        (
            "network-traffic",
            "/dst_port",
            Some(json!(65536)),
            "dst_port",
        ),
        ("network-traffic", "/src_ref", Some(json!(IND)), "src_ref"),
        (
            "mac-addr",
            "/value",
            Some(json!("D2:FB:49:24:37:18")),
            "value",
        ),
        ("mac-addr", "/value", None, "value"),
        (
            "ipv4-addr",
            "/value",
            Some(json!("198.51.100.0/33")),
            "value",
        ),
        ("ipv4-addr", "/value", Some(json!("198.51.100")), "value"),
        ("ipv4-addr", "/value", Some(json!("2001:db8::1")), "value"),
        (
            "ipv6-addr",
            "/value",
            Some(json!("2001:db8::/129")),
            "value",
        ),
        ("ipv6-addr", "/value", Some(json!("198.51.100.1")), "value"),
        (
            "ipv4-addr",
            "/resolves_to_refs",
            Some(json!(["ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd"])),
            "resolves_to_refs[0]",
        ),
        ("custom", "/x_acme_tags", Some(json!([])), "x_acme_tags"),
        ("custom", "/x_acme_tags", Some(Value::Null), "x_acme_tags"),
        (
            "indicator",
            "/description",
            Some(Value::Null),
            "description",
        ),
        ("email-message", "/is_multipart", None, "is_multipart"),
        (
            "email-message",
            "/body_multipart",
            Some(json!([{"body": "x"}])),
            "body_multipart",
        ),
        ("email-message", "/from_ref", Some(json!(IND)), "from_ref"),
        (
            "email-message",
            "/additional_header_fields",
            Some(json!({"X-Mailer": 7})),
            "additional_header_fields.X-Mailer",
        ),
        ("email-message", "/is_multipart", Some(json!(true)), "body"),
        ("artifact", "/payload_bin", None, "payload_bin"),
        (
            "archive",
            "/extensions/ntfs-ext",
            Some(json!({"alternate_data_streams": [{"size": 1}]})),
            "extensions.ntfs-ext.alternate_data_streams[0].name",
        ),
        (
            "archive",
            "/extensions/windows-pebinary-ext",
            Some(json!({"machine_hex": "014c"})),
            "extensions.windows-pebinary-ext.pe_type",
        ),
        (
            "archive",
            "/extensions/unix-account-ext",
            Some(json!({"gid": "1001"})),
            "extensions.unix-account-ext.gid",
        ),
        (
            "socket",
            "/extensions/http-request-ext",
            Some(
                json!({"request_method": "get", "request_value": "/", "request_header": {"Host": 1}}),
            ),
            "extensions.http-request-ext.request_header.Host",
        ),
        (
            "socket",
            "/extensions/icmp-ext",
            Some(json!({"icmp_type_hex": "08"})),
            "extensions.icmp-ext.icmp_code_hex",
        ),
        (
            "socket",
            "/extensions/icmp-ext",
            Some(json!({"icmp_type_hex": "8", "icmp_code_hex": "00"})),
            "extensions.icmp-ext.icmp_type_hex",
        ),
        (
            "registry-key",
            "/values/0",
            Some(json!({})),
            "values[0].name",
        ),
        (
            "x509",
            "/x509_v3_extensions",
            Some(json!({})),
            "x509_v3_extensions",
        ),
        (
            "x509",
            "/x509_v3_extensions/basic_constraints",
            Some(json!(7)),
            "x509_v3_extensions.basic_constraints",
        ),
        (
            "x509",
            "/x509_v3_extensions/private_key_usage_period_not_before",
            Some(json!("2016")),
            "x509_v3_extensions.private_key_usage_period_not_before",
        ),
        (
            "x509",
            "/validity_not_after",
            Some(json!("2015-01-01")),
            "validity_not_after",
        ),
        (
            "software",
            "/cpe",
            Some(json!("cpe:/a:microsoft:word:2000")),
            "cpe",
        ),
        ("software", "/languages", Some(json!("en")), "languages"),
        (
            "process",
            "/environment_variables",
            Some(json!({"PATH": 1})),
            "environment_variables.PATH",
        ),
        (
            "process",
            "/parent_ref",
            Some(json!("file--e04f22d1-be2c-59de-add8-10f61d15fe20")),
            "parent_ref",
        ),
        ("process", "/pid", Some(json!("1221")), "pid"),
        (
            "user-account",
            "/is_privileged",
            Some(json!("no")),
            "is_privileged",
        ),
        ("user-account", "/user_id", Some(json!(1001)), "user_id"),
        (
            "indicator",
            "/extensions",
            Some(
                json!({"extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e": {"rank": 5}}),
            ),
            "extensions.extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e.extension_type",
        ),
        (
            "malware-analysis",
            "/analysis_sco_refs",
            Some(json!([IDENT])),
            "analysis_sco_refs[0]",
        ),
        ("malware-analysis", "/product", None, "product"),
        (
            "malware-analysis",
            "/analysis_ended",
            Some(json!("2017-01-01T00:00:00Z")),
            "analysis_ended",
        ),
    ]
}

/// Applies a change at a JSON pointer (parent must exist).
fn apply(v: &mut Value, pointer: &str, new: Option<Value>) {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    let target = v.pointer_mut(parent).unwrap();
    match (target, new) {
        (Value::Object(m), Some(n)) => {
            m.insert(last.to_owned(), n);
        }
        (Value::Object(m), None) => {
            assert!(m.remove(last).is_some(), "{pointer} absent");
        }
        (Value::Array(a), Some(n)) => a[last.parse::<usize>().unwrap()] = n,
        _ => panic!("cannot apply {pointer}"),
    }
}

#[test]
fn bases_are_valid() {
    for kind in [
        "indicator",
        "relationship",
        "sighting",
        "malware",
        "observed-data",
        "location",
        "report",
        "marking-definition",
        "statement-marking",
        "extension-definition",
        "language-content",
        "file",
        "file-name-only",
        "network-traffic",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "email-message",
        "artifact",
        "registry-key",
        "socket",
        "archive",
        "x509",
        "software",
        "process",
        "user-account",
        "malware-analysis",
        "custom",
    ] {
        let v = base(kind);
        let meta = validate_object(&v).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(meta.id, v["id"].as_str().unwrap());
    }
}

#[test]
fn invalid_objects_name_the_property() {
    let cases = cases();
    let mut failures = Vec::new();
    for (kind, pointer, new, expected) in &cases {
        let mut v = base(kind);
        apply(&mut v, pointer, new.clone());
        match validate_object(&v) {
            Ok(_) => failures.push(format!("{kind} {pointer}={new:?}: accepted")),
            Err(e) if e.property != *expected => failures.push(format!(
                "{kind} {pointer}={new:?}: expected `{expected}`, got {e}"
            )),
            Err(e) => {
                let text = e.to_string();
                assert!(text.contains(&format!("property `{expected}`")), "{text}");
            }
        }
    }
    println!("{} invalid objects checked", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn error_display_names_object_and_property() {
    let mut v = base("indicator");
    apply(&mut v, "/pattern", None);
    let e = validate_object(&v).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Missing);
    assert_eq!(
        e.to_string(),
        format!("{IND}: property `pattern`: required property missing")
    );
    let e = validate_object(&json!([1])).unwrap_err();
    assert_eq!(e.object_id, None);
    let e = validate_object(&json!({"type": "indicator"})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "object without a valid id: property `id`: required property missing"
    );
}

#[test]
fn unknown_properties_and_custom_types_are_accepted() {
    let mut v = base("indicator");
    apply(
        &mut v,
        "/x_acme_nested",
        Some(json!({"Anything": [1, {"goes": null}]})),
    );
    apply(&mut v, "/x_acme_deprecated_ref", Some(json!("")));
    validate_object(&v).unwrap();
    let custom_sco = json!({
        "type": "x-acme-device", "id": "x-acme-device--5dc57e5b-7b0f-5b0b-9d5f-5b6d1b1c1d10",
        "extensions": {"extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e": {"extension_type": "new-sco"}},
        "serial": "AB-1"
    });
    let meta = validate_object(&custom_sco).unwrap();
    assert_eq!(meta.spec_version, None);
    assert_eq!(meta.created, None);
    // On an SCO, `created`/`modified` are custom properties, not versions.
    let mut file = base("file");
    apply(&mut file, "/modified", Some(json!("last tuesday")));
    let meta = validate_object(&file).unwrap();
    assert_eq!(meta.modified, None);
    // The same custom type declared as an SDO needs the SDO common properties.
    let mut custom_sdo = custom_sco.clone();
    apply(
        &mut custom_sdo,
        "/extensions/extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e/extension_type",
        Some(json!("new-sdo")),
    );
    assert_eq!(
        validate_object(&custom_sdo).unwrap_err().property,
        "spec_version"
    );
}

#[test]
fn meta_carries_what_the_node_needs() {
    let meta = validate_object(&base("indicator")).unwrap();
    assert_eq!(meta.object_type, "indicator");
    assert_eq!(meta.spec_version.as_deref(), Some("2.1"));
    assert_eq!(meta.created.unwrap().as_str(), "2016-04-06T20:03:48.000Z");
    assert_eq!(meta.object_marking_refs, vec![TLP_GREEN.to_owned()]);
    assert_eq!(meta.created_by_ref.as_deref(), Some(IDENT));
}

#[test]
fn huge_values_are_not_echoed_whole() {
    let huge = "x".repeat(1 << 20);
    for (pointer, value) in [
        ("/id", json!(huge.clone())),
        ("/created", json!(huge.clone())),
        ("/created_by_ref", json!(huge.clone())),
        ("/lang", json!(huge.clone())),
        (&*format!("/{huge}"), json!(1)),
    ] {
        let mut v = base("indicator");
        apply(&mut v, pointer, Some(value));
        let e = validate_object(&v).unwrap_err();
        assert!(
            e.to_string().len() < 2000,
            "{pointer:.20}: {} bytes",
            e.to_string().len()
        );
    }
}

#[test]
fn bundles() {
    let b = json!({
        "type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": [base("indicator"), {"type": "indicator"}, base("file")]
    });
    let results = validate_bundle(&b).unwrap();
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok());
    for (bad, prop) in [
        (json!({"type": "bundle", "id": "bundle--1"}), "id"),
        (json!({"type": "bundle", "id": IND}), "id"),
        (
            json!({"type": "bundles", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d"}),
            "type",
        ),
        (
            json!({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": {}}),
            "objects",
        ),
    ] {
        assert_eq!(validate_bundle(&bad).unwrap_err().property, prop, "{bad}");
    }
}
