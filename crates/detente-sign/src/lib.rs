//! Contributor signatures of STIX objects (issue 13), pure: no HTTP, storage or clock.
//!
//! A signed object carries one entry in its `extensions` map under [`EXTENSION_ID`] (a STIX 2.1
//! property extension defined by [`EXTENSION_DEFINITION`]):
//!
//! ```json
//! {"extension_type": "property-extension", "signer": "alice",
//!  "key_id": "1a2b3c4d", "signature": "base64 of 64 bytes"}
//! ```
//!
//! The signature is Ed25519 over [`signing_input`]: the RFC 8785 canonical JSON (the same JCS
//! implementation the log uses) of the whole object with that one entry removed, and with
//! `extensions` removed too if no other entry is left. Keys are C2SP signed-note keys
//! (`detente_tlog::NoteSigner` / `VerifierKey`, type 0x01), so `key_id` is the note key id.
//! See `docs/signatures.md`.
//!
//! Per-process state: none.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use detente_tlog::note::KeyType;
use detente_tlog::{NoteSigner, VerifierKey};
use serde_json::{Map, Value};

/// The id of detente's signature extension definition.
pub const EXTENSION_ID: &str = "extension-definition--91b32a10-6cd0-4f08-b2bc-f92c7cde316c";

/// The extension definition object, as published (the node serves it byte for byte).
pub const EXTENSION_DEFINITION: &str = include_str!("../extension-definition.json");

/// Length in bytes of an Ed25519 signature.
const SIGNATURE_LEN: usize = 64;

/// The largest integer magnitude I-JSON numbers carry exactly (2^53): beyond it RFC 8785 would
/// give two different integers the same canonical form, so one could replace the other under
/// a valid signature.
const MAX_EXACT_INT: u64 = 1 << 53;

/// Why an object cannot be signed, or its signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The object is not a JSON object.
    #[error("the object is not a JSON object")]
    NotAnObject,
    /// `extensions` exists but is not a JSON object.
    #[error("property `extensions` is not a JSON object")]
    BadExtensions,
    /// The object carries no signature entry.
    #[error("unsigned: no `{EXTENSION_ID}` entry in `extensions`")]
    Unsigned,
    /// The signature entry breaks its schema.
    #[error("malformed signature extension: {0}")]
    Malformed(String),
    /// An integer the canonical form cannot carry exactly.
    #[error("the integer {0} is outside ±2^53, which RFC 8785 cannot represent exactly")]
    InexactNumber(String),
    /// The canonical form could not be computed.
    #[error("the object cannot be canonicalized (RFC 8785): {0}")]
    Canonical(String),
    /// The key is not an Ed25519 (type 0x01) note key.
    #[error("key {0} is not an Ed25519 signing key (type 0x01)")]
    WrongKeyType(String),
    /// The entry names another signer than the one expected.
    #[error("signed by {signer:?}, not by {expected:?}")]
    WrongSigner {
        /// Who the entry names.
        signer: String,
        /// Who was expected.
        expected: String,
    },
    /// The entry's key id is not the verifier key's.
    #[error("signed with key id {given}, but the key bound to {signer} has id {bound}")]
    WrongKey {
        /// Signer named.
        signer: String,
        /// Key id in the entry.
        given: String,
        /// Key id of the bound key.
        bound: String,
    },
    /// The Ed25519 signature does not verify: the object was altered after signing, or signed
    /// with another key.
    #[error(
        "the signature by {signer} (key {key_id}) does not verify: the object was altered or signed with another key"
    )]
    BadSignature {
        /// Signer named.
        signer: String,
        /// Key id.
        key_id: String,
    },
}

/// The parsed signature entry of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The signing member's name.
    pub signer: String,
    /// The C2SP key id of the verifier key.
    pub key_id: u32,
    /// The Ed25519 signature.
    pub signature: [u8; SIGNATURE_LEN],
}

impl Signature {
    /// The key id as written in the entry: eight lower-case hex digits.
    pub fn key_id_hex(&self) -> String {
        format!("{:08x}", self.key_id)
    }

    /// The extension entry.
    pub fn to_entry(&self) -> Value {
        serde_json::json!({
            "extension_type": "property-extension",
            "signer": self.signer,
            "key_id": self.key_id_hex(),
            "signature": B64.encode(self.signature),
        })
    }

    /// Parses an extension entry; every field is required and no other is allowed (fields
    /// outside the signature input could otherwise be added by anyone).
    pub fn from_entry(entry: &Value) -> Result<Signature, SignError> {
        let bad = |m: &str| SignError::Malformed(m.to_owned());
        let map = entry
            .as_object()
            .ok_or_else(|| bad("the entry is not a JSON object"))?;
        if let Some(k) = map.keys().find(|k| {
            !matches!(
                k.as_str(),
                "extension_type" | "signer" | "key_id" | "signature"
            )
        }) {
            return Err(SignError::Malformed(format!(
                "unknown property {:?} in the entry",
                k.chars().take(64).collect::<String>()
            )));
        }
        let text = |name: &str| {
            map.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| SignError::Malformed(format!("`{name}` must be a string")))
        };
        if text("extension_type")? != "property-extension" {
            return Err(bad("`extension_type` must be \"property-extension\""));
        }
        let signer = text("signer")?;
        if signer.is_empty() {
            return Err(bad("`signer` is empty"));
        }
        let hex = text("key_id")?;
        if hex.len() != 8
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("`key_id` must be 8 lower-case hex digits"));
        }
        let key_id = u32::from_str_radix(hex, 16).map_err(|_| bad("`key_id` is not hex"))?;
        let raw = B64
            .decode(text("signature")?)
            .map_err(|_| bad("`signature` is not base64"))?;
        let signature: [u8; SIGNATURE_LEN] = raw.try_into().map_err(|r: Vec<u8>| {
            SignError::Malformed(format!("`signature` has {} bytes, not 64", r.len()))
        })?;
        Ok(Signature {
            signer: signer.to_owned(),
            key_id,
            signature,
        })
    }
}

fn object(v: &Value) -> Result<&Map<String, Value>, SignError> {
    v.as_object().ok_or(SignError::NotAnObject)
}

/// The signature entry of `object`, `Ok(None)` if it has none.
pub fn signature_of(obj: &Value) -> Result<Option<Signature>, SignError> {
    match object(obj)?.get("extensions") {
        None => Ok(None),
        Some(Value::Object(ext)) => ext.get(EXTENSION_ID).map(Signature::from_entry).transpose(),
        Some(_) => Err(SignError::BadExtensions),
    }
}

/// Refuses integers RFC 8785 cannot carry exactly.
fn check_numbers(v: &Value) -> Result<(), SignError> {
    match v {
        Value::Number(n) => {
            let exact = if let Some(u) = n.as_u64() {
                u <= MAX_EXACT_INT
            } else if let Some(i) = n.as_i64() {
                i.unsigned_abs() <= MAX_EXACT_INT
            } else {
                true
            };
            if exact {
                Ok(())
            } else {
                Err(SignError::InexactNumber(n.to_string()))
            }
        }
        Value::Array(a) => a.iter().try_for_each(check_numbers),
        Value::Object(m) => m.values().try_for_each(check_numbers),
        _ => Ok(()),
    }
}

/// The object without its signature entry, and without `extensions` if no other entry is
/// left (also when it was empty to begin with, so signing and verifying see the same input):
/// what the signature covers.
pub fn without_signature(obj: &Value) -> Result<Value, SignError> {
    let mut map = object(obj)?.clone();
    let now_empty = match map.get_mut("extensions") {
        None => false,
        Some(Value::Object(ext)) => {
            ext.remove(EXTENSION_ID);
            ext.is_empty()
        }
        Some(_) => return Err(SignError::BadExtensions),
    };
    if now_empty {
        map.remove("extensions");
    }
    Ok(Value::Object(map))
}

/// The bytes signed: RFC 8785 JCS of [`without_signature`].
pub fn signing_input(obj: &Value) -> Result<String, SignError> {
    let bare = without_signature(obj)?;
    check_numbers(&bare)?;
    let bytes =
        serde_json_canonicalizer::to_vec(&bare).map_err(|e| SignError::Canonical(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| SignError::Canonical(e.to_string()))
}

/// Signs `obj` in place as `member` with `key`, replacing any signature entry it had.
pub fn sign(obj: &mut Value, member: &str, key: &NoteSigner) -> Result<Signature, SignError> {
    if member.is_empty() {
        return Err(SignError::Malformed("`signer` is empty".into()));
    }
    let input = signing_input(obj)?;
    let note_sig = key.sign(&input);
    let signature: [u8; SIGNATURE_LEN] = note_sig
        .signature
        .try_into()
        .map_err(|_| SignError::WrongKeyType(key.name().to_owned()))?;
    let sig = Signature {
        signer: member.to_owned(),
        key_id: note_sig.key_id,
        signature,
    };
    let Value::Object(map) = obj else {
        return Err(SignError::NotAnObject);
    };
    let ext = map
        .entry("extensions")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(ext) = ext else {
        return Err(SignError::BadExtensions);
    };
    ext.insert(EXTENSION_ID.to_owned(), sig.to_entry());
    Ok(sig)
}

/// Checks that `obj` is signed by `member` with `key`; returns the signature entry.
pub fn verify(obj: &Value, member: &str, key: &VerifierKey) -> Result<Signature, SignError> {
    if key.key_type() != KeyType::Ed25519 {
        return Err(SignError::WrongKeyType(key.to_string()));
    }
    let sig = signature_of(obj)?.ok_or(SignError::Unsigned)?;
    if sig.signer != member {
        return Err(SignError::WrongSigner {
            signer: sig.signer,
            expected: member.to_owned(),
        });
    }
    if sig.key_id != key.key_id() {
        return Err(SignError::WrongKey {
            signer: sig.signer.clone(),
            given: sig.key_id_hex(),
            bound: format!("{:08x}", key.key_id()),
        });
    }
    let input = signing_input(obj)?;
    match key.verify(&input, &sig.signature) {
        Some(_) => Ok(sig),
        None => Err(SignError::BadSignature {
            signer: sig.signer.clone(),
            key_id: sig.key_id_hex(),
        }),
    }
}

/// A contributor verifier key from its text, refusing keys of any type but Ed25519 (0x01).
pub fn parse_contributor_key(vkey: &str) -> Result<VerifierKey, String> {
    let key = VerifierKey::parse(vkey).map_err(|e| e.to_string())?;
    if key.key_type() != KeyType::Ed25519 {
        return Err(format!(
            "{vkey} is a key of type 0x{:02x}; contributor keys are Ed25519 (0x01)",
            key.key_type().byte()
        ));
    }
    Ok(key)
}

/// The key material of a verifier key (`name+hex+base64`): its base64 part, the key type and
/// public key. Keys with the same material verify the same signatures whatever their names
/// (and so key ids), and a signature entry's `key_id` is not signed: one public key must
/// sign for one member only. `None` if the text is not of that form.
pub fn key_material(vkey: &str) -> Option<&str> {
    let mut parts = vkey.splitn(3, '+');
    parts.next()?;
    parts.next()?;
    parts.next().filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn key(seed: u8) -> NoteSigner {
        NoteSigner::from_seed("alice-key", &[seed; 32]).unwrap()
    }

    fn indicator() -> Value {
        json!({
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
            "pattern": "[ipv4-addr:value = '198.51.100.1']", "pattern_type": "stix",
            "valid_from": "2024-01-01T00:00:00Z"
        })
    }

    #[test]
    fn renamed_keys_have_the_same_material() {
        let a = NoteSigner::from_seed("alice-key", &[5; 32])
            .unwrap()
            .verifier();
        let b = NoteSigner::from_seed("other-name", &[5; 32])
            .unwrap()
            .verifier();
        let c = NoteSigner::from_seed("alice-key", &[6; 32])
            .unwrap()
            .verifier();
        assert_ne!(a.key_id(), b.key_id());
        let m = |k: &VerifierKey| key_material(&k.to_string()).unwrap().to_owned();
        assert_eq!(m(&a), m(&b));
        assert_ne!(m(&a), m(&c));
        assert_eq!(key_material("no-plus"), None);
        assert_eq!(key_material("a+b+"), None);
    }

    #[test]
    fn sign_then_verify_and_alterations_fail() {
        let k = key(1);
        let mut o = indicator();
        sign(&mut o, "alice", &k).unwrap();
        let sig = verify(&o, "alice", &k.verifier()).unwrap();
        assert_eq!(sig.key_id, k.verifier().key_id());
        let mut altered = o.clone();
        altered["pattern"] = json!("[ipv4-addr:value = '198.51.100.2']");
        assert!(matches!(
            verify(&altered, "alice", &k.verifier()),
            Err(SignError::BadSignature { .. })
        ));
        assert!(matches!(
            verify(&o, "bob", &k.verifier()),
            Err(SignError::WrongSigner { .. })
        ));
        assert!(matches!(
            verify(&o, "alice", &key(2).verifier()),
            Err(SignError::WrongKey { .. })
        ));
        assert_eq!(
            verify(&indicator(), "alice", &k.verifier()),
            Err(SignError::Unsigned)
        );
    }

    #[test]
    fn the_input_drops_the_entry_and_an_emptied_extensions() {
        let k = key(3);
        let mut o = indicator();
        let before = signing_input(&o).unwrap();
        sign(&mut o, "alice", &k).unwrap();
        assert_eq!(signing_input(&o).unwrap(), before);
        assert!(o["extensions"][EXTENSION_ID].is_object());
        // Other extensions stay covered.
        let mut with_other = indicator();
        with_other["extensions"] =
            json!({"x-other": {"extension_type": "property-extension", "a": 1}});
        let covered = signing_input(&with_other).unwrap();
        sign(&mut with_other, "alice", &k).unwrap();
        assert_eq!(signing_input(&with_other).unwrap(), covered);
        assert!(covered.contains("x-other"));
        verify(&with_other, "alice", &k.verifier()).unwrap();
        with_other["extensions"]["x-other"]["a"] = json!(2);
        assert!(verify(&with_other, "alice", &k.verifier()).is_err());
    }

    #[test]
    fn an_empty_extensions_map_signs_and_verifies() {
        let k = key(6);
        let mut o = indicator();
        o["extensions"] = json!({});
        let input = signing_input(&o).unwrap();
        assert!(!input.contains("extensions"), "{input}");
        sign(&mut o, "alice", &k).unwrap();
        verify(&o, "alice", &k.verifier()).unwrap();
    }

    #[test]
    fn extra_fields_in_the_entry_are_refused() {
        let k = key(4);
        let mut o = indicator();
        sign(&mut o, "alice", &k).unwrap();
        o["extensions"][EXTENSION_ID]["note"] = json!("added by the operator");
        assert!(matches!(
            verify(&o, "alice", &k.verifier()),
            Err(SignError::Malformed(_))
        ));
    }

    #[test]
    fn inexact_integers_are_refused() {
        let mut o = indicator();
        o["x_count"] = json!(9_007_199_254_740_993u64);
        assert!(matches!(
            sign(&mut o, "alice", &key(5)),
            Err(SignError::InexactNumber(_))
        ));
        o["x_count"] = json!(9_007_199_254_740_992u64);
        sign(&mut o, "alice", &key(5)).unwrap();
    }

    #[test]
    fn malformed_entries_name_the_problem() {
        for (entry, want) in [
            (json!("x"), "not a JSON object"),
            (
                json!({"extension_type": "x", "signer": "a", "key_id": "00000000", "signature": ""}),
                "extension_type",
            ),
            (
                json!({"extension_type": "property-extension", "signer": "a", "key_id": "0000000G", "signature": ""}),
                "key_id",
            ),
            (
                json!({"extension_type": "property-extension", "signer": "a", "key_id": "00000000", "signature": "AAAA"}),
                "3 bytes",
            ),
            (
                json!({"extension_type": "property-extension", "key_id": "00000000", "signature": ""}),
                "signer",
            ),
        ] {
            let e = Signature::from_entry(&entry).unwrap_err().to_string();
            assert!(e.contains(want), "{e} lacks {want}");
        }
    }

    #[test]
    fn the_definition_is_a_property_extension_with_this_id() {
        let d: Value = serde_json::from_str(EXTENSION_DEFINITION).unwrap();
        assert_eq!(d["id"], EXTENSION_ID);
        assert_eq!(d["extension_types"], json!(["property-extension"]));
        let schema: Value = serde_json::from_str(d["schema"].as_str().unwrap()).unwrap();
        assert_eq!(schema["additionalProperties"], json!(false));
    }

    /// The vector in `testdata/signatures/vector.json`, built from a fixed seed; set
    /// `DETENTE_REGENERATE=1` to rewrite the file after a deliberate format change.
    #[test]
    fn the_test_vector_matches() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/signatures/vector.json"
        );
        let k = NoteSigner::from_seed("alice-contributor", &[0x2a; 32]).unwrap();
        let mut obj = indicator();
        obj["extensions"] =
            json!({"x-acme-ext": {"extension_type": "property-extension", "rank": 3}});
        let unsigned = obj.clone();
        sign(&mut obj, "alice", &k).unwrap();
        let vector = json!({
            "description": "detente contributor signature: Ed25519 over RFC 8785 JCS of the object without the signature entry",
            "seed_hex": "2a".repeat(32),
            "signer_key": k.to_skey(),
            "verifier_key": k.verifier().to_string(),
            "member": "alice",
            "unsigned": unsigned,
            "signing_input": signing_input(&obj).unwrap(),
            "signed": obj,
        });
        let text = serde_json::to_string_pretty(&vector).unwrap() + "\n";
        if std::env::var_os("DETENTE_REGENERATE").is_some() {
            std::fs::create_dir_all(std::path::Path::new(path).parent().unwrap()).unwrap();
            std::fs::write(path, &text).unwrap();
        }
        let stored: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(stored, vector);
        let key = parse_contributor_key(stored["verifier_key"].as_str().unwrap()).unwrap();
        verify(&stored["signed"], "alice", &key).unwrap();
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trip_over_arbitrary_properties(
            props in proptest::collection::btree_map("x_[a-z]{1,6}", any::<i32>(), 0..6),
            text in ".{0,40}", seed in any::<u8>(),
        ) {
            let k = key(seed);
            let mut o = indicator();
            for (name, v) in &props {
                o[name] = json!(v);
            }
            o["description"] = json!(text);
            // Key order of the submission does not matter: re-serialising keeps verifying.
            sign(&mut o, "alice", &k).unwrap();
            let reparsed: Value = serde_json::from_str(&serde_json::to_string_pretty(&o).unwrap()).unwrap();
            prop_assert!(verify(&reparsed, "alice", &k.verifier()).is_ok());
        }

        /// What the fuzz target asserts, on arbitrary JSON: reading never panics, and whatever
        /// signs verifies.
        #[test]
        fn any_json_that_signs_verifies(v in json_value(), ext in json_value()) {
            let k = key(9);
            let mut o = json!({"type": "indicator"});
            o["x_v"] = v;
            o["extensions"] = ext;
            let _ = signature_of(&o);
            let _ = verify(&o, "alice", &k.verifier());
            if sign(&mut o, "alice", &k).is_ok() {
                prop_assert!(verify(&o, "alice", &k.verifier()).is_ok(), "{o}");
            }
        }

        #[test]
        fn entry_parser_never_panics(entry in any::<Vec<u8>>()) {
            if let Ok(v) = serde_json::from_slice::<Value>(&entry) {
                let _ = Signature::from_entry(&v);
            }
        }
    }
}
