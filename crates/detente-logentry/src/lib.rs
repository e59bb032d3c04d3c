//! Leaf format of detente's transparency log.
//!
//! Every log leaf is one kind byte followed by a 32-byte SHA-256 commitment:
//!
//! * `0x01` object version: `SHA-256("detente/log-entry/v1/object\0" || nonce ||
//!   lp(collection) || lp(object id) || lp(version) || lp(member) || lp(JCS(object)))`
//! * `0x02` tombstone: `SHA-256("detente/log-entry/v1/tombstone\0" || nonce ||
//!   lp(collection) || lp(object id) || lp(deleted version) || lp(member) || lp(time) ||
//!   u64be(log index of the deleted version's entry))`
//! * `0x03` key binding: `SHA-256("detente/log-entry/v1/key-binding\0" || nonce || lp(member) ||
//!   lp(verifier key) || lp(time))`: a member's contributor key bound (or rotated) by an admin
//!
//! `lp(x)` is the 8-byte big-endian length of `x` followed by `x`; `JCS` is the
//! RFC 8785 canonical JSON form. The per-entry random nonce hides object contents (and who
//! deleted what) from anyone who can read the public log but not the object. See `docs/log-entry.md`.
//!
//! This crate is pure: callers supply the nonce (from a CSPRNG) and the time string.
//! [`receipt`] is the JSON a node hands a reader to prove one entry is in its log.
//!
//! Per-process state: none.

pub mod receipt;

use sha2::{Digest, Sha256};

/// Length in bytes of every leaf.
pub const LEAF_LEN: usize = 33;
/// Length in bytes of a per-version nonce.
pub const NONCE_LEN: usize = 32;
/// Kind byte of an object-version leaf.
pub const KIND_OBJECT: u8 = 0x01;
/// Kind byte of a tombstone leaf.
pub const KIND_TOMBSTONE: u8 = 0x02;
/// Kind byte of a contributor key binding leaf.
pub const KIND_KEY_BINDING: u8 = 0x03;

const OBJECT_TAG: &[u8] = b"detente/log-entry/v1/object\0";
const TOMBSTONE_TAG: &[u8] = b"detente/log-entry/v1/tombstone\0";
const KEY_BINDING_TAG: &[u8] = b"detente/log-entry/v1/key-binding\0";

/// Errors building or parsing a leaf.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object could not be put into RFC 8785 canonical form.
    #[error("object cannot be canonicalized (RFC 8785): {0}")]
    Canonical(#[from] serde_json::Error),
    /// A leaf did not have exactly [`LEAF_LEN`] bytes.
    #[error("log leaf has {0} bytes, expected {LEAF_LEN}")]
    Length(usize),
    /// A leaf started with an unknown kind byte.
    #[error("log leaf has unknown kind byte 0x{0:02x}")]
    Kind(u8),
}

/// What a leaf records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A stored object version.
    Object,
    /// The deletion of an object version.
    Tombstone,
    /// A member's contributor key bound or rotated.
    KeyBinding,
}

/// A parsed log leaf: its kind and commitment hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    /// What the leaf records.
    pub kind: Kind,
    /// SHA-256 commitment over the fields of the entry.
    pub commitment: [u8; 32],
}

impl Leaf {
    /// Encodes the leaf as the bytes appended to the log.
    pub fn to_bytes(&self) -> [u8; LEAF_LEN] {
        let mut out = [0u8; LEAF_LEN];
        out[0] = match self.kind {
            Kind::Object => KIND_OBJECT,
            Kind::Tombstone => KIND_TOMBSTONE,
            Kind::KeyBinding => KIND_KEY_BINDING,
        };
        out[1..].copy_from_slice(&self.commitment);
        out
    }

    /// Parses leaf bytes as served in `/log/tile/entries/...`.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() != LEAF_LEN {
            return Err(Error::Length(bytes.len()));
        }
        let kind = match bytes[0] {
            KIND_OBJECT => Kind::Object,
            KIND_TOMBSTONE => Kind::Tombstone,
            KIND_KEY_BINDING => Kind::KeyBinding,
            other => return Err(Error::Kind(other)),
        };
        let mut commitment = [0u8; 32];
        commitment.copy_from_slice(&bytes[1..]);
        Ok(Leaf { kind, commitment })
    }
}

/// One stored object version, as committed to the log.
#[derive(Debug, Clone, Copy)]
pub struct ObjectVersion<'a> {
    /// TAXII collection id.
    pub collection: &'a str,
    /// STIX object id.
    pub object_id: &'a str,
    /// STIX version (the object's `modified` timestamp as stored).
    pub version: &'a str,
    /// Member that contributed the version.
    pub member: &'a str,
    /// The full object.
    pub object: &'a serde_json::Value,
}

/// The deletion of one object version, as committed to the log.
#[derive(Debug, Clone, Copy)]
pub struct Tombstone<'a> {
    /// TAXII collection id.
    pub collection: &'a str,
    /// STIX object id.
    pub object_id: &'a str,
    /// Deleted version.
    pub version: &'a str,
    /// Member that deleted it.
    pub member: &'a str,
    /// Time of the deletion, as recorded by the node.
    pub time: &'a str,
    /// Log index of the deleted version's object entry, so the tombstone names exactly one.
    pub deleted_index: u64,
}

/// A member's contributor key binding, as committed to the log.
#[derive(Debug, Clone, Copy)]
pub struct KeyBinding<'a> {
    /// The member's name.
    pub member: &'a str,
    /// The verifier key bound (`name+hex+base64`, C2SP note key).
    pub vkey: &'a str,
    /// When it was bound, as recorded by the node (µs since the epoch, decimal).
    pub time: &'a str,
}

/// The commitment every leaf kind makes: SHA-256 over its domain tag, its nonce, each field
/// length-prefixed, then `trailer` as is (fixed-width data needs no length).
fn commitment(tag: &[u8], nonce: &[u8; NONCE_LEN], fields: &[&[u8]], trailer: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tag);
    h.update(nonce);
    for field in fields {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field);
    }
    h.update(trailer);
    h.finalize().into()
}

/// Computes the leaf of an object version with its per-version nonce.
pub fn object_leaf(v: &ObjectVersion<'_>, nonce: &[u8; NONCE_LEN]) -> Result<Leaf, Error> {
    let fields = ObjectFields {
        collection: v.collection,
        object_id: v.object_id,
        version: v.version,
        member: v.member,
    };
    Ok(object_leaf_canonical(
        &fields,
        &canonical_form(v.object)?,
        nonce,
    ))
}

/// The fields of an object version's entry other than the object.
#[derive(Debug, Clone, Copy)]
pub struct ObjectFields<'a> {
    /// TAXII collection id.
    pub collection: &'a str,
    /// STIX object id.
    pub object_id: &'a str,
    /// STIX version (the object's `modified` timestamp as stored).
    pub version: &'a str,
    /// Member that contributed the version.
    pub member: &'a str,
}

/// The RFC 8785 canonical form of an object, as an object leaf commits to it.
pub fn canonical_form(object: &serde_json::Value) -> Result<Vec<u8>, Error> {
    Ok(serde_json_canonicalizer::to_vec(object)?)
}

/// [`object_leaf`] for a caller that already has the object's [`canonical_form`]: one
/// object committed in several leaves (a partner's and this node's) is canonicalized once.
pub fn object_leaf_canonical(
    f: &ObjectFields<'_>,
    canonical: &[u8],
    nonce: &[u8; NONCE_LEN],
) -> Leaf {
    let fields = [
        f.collection.as_bytes(),
        f.object_id.as_bytes(),
        f.version.as_bytes(),
        f.member.as_bytes(),
        canonical,
    ];
    Leaf {
        kind: Kind::Object,
        commitment: commitment(OBJECT_TAG, nonce, &fields, &[]),
    }
}

/// Computes the leaf of a tombstone with its own nonce.
pub fn tombstone_leaf(t: &Tombstone<'_>, nonce: &[u8; NONCE_LEN]) -> Leaf {
    let fields = [t.collection, t.object_id, t.version, t.member, t.time].map(str::as_bytes);
    Leaf {
        kind: Kind::Tombstone,
        commitment: commitment(
            TOMBSTONE_TAG,
            nonce,
            &fields,
            &t.deleted_index.to_be_bytes(),
        ),
    }
}

/// Computes the leaf of a key binding with its own nonce.
pub fn key_binding_leaf(b: &KeyBinding<'_>, nonce: &[u8; NONCE_LEN]) -> Leaf {
    let fields = [b.member, b.vkey, b.time].map(str::as_bytes);
    Leaf {
        kind: Kind::KeyBinding,
        commitment: commitment(KEY_BINDING_TAG, nonce, &fields, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn ov<'a>(obj: &'a serde_json::Value, member: &'a str) -> ObjectVersion<'a> {
        ObjectVersion {
            collection: "c1",
            object_id: "indicator--1",
            version: "2024-01-01T00:00:00.000Z",
            member,
            object: obj,
        }
    }

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a: serde_json::Value = serde_json::from_str(r#"{"b":1,"a":[1.0,"x"]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{ "a" : [1, "x"], "b" : 1 }"#).unwrap();
        let n = [7u8; 32];
        assert_eq!(
            object_leaf(&ov(&a, "m"), &n).unwrap(),
            object_leaf(&ov(&b, "m"), &n).unwrap()
        );
    }

    #[test]
    fn every_field_and_the_nonce_are_committed() {
        let obj = json!({"type": "indicator"});
        let n = [1u8; 32];
        let base = object_leaf(&ov(&obj, "m"), &n).unwrap();
        assert_ne!(base, object_leaf(&ov(&obj, "m2"), &n).unwrap());
        assert_ne!(base, object_leaf(&ov(&obj, "m"), &[2u8; 32]).unwrap());
        let other = json!({"type": "malware"});
        assert_ne!(base, object_leaf(&ov(&other, "m"), &n).unwrap());
        let mut v = ov(&obj, "m");
        v.collection = "c2";
        assert_ne!(base, object_leaf(&v, &n).unwrap());
    }

    #[test]
    fn a_precomputed_canonical_form_gives_the_same_leaf() {
        let obj: serde_json::Value = serde_json::from_str(r#"{"b":1, "a":"\u00e9"}"#).unwrap();
        let canonical = canonical_form(&obj).unwrap();
        assert_eq!(canonical, "{\"a\":\"\u{e9}\",\"b\":1}".as_bytes());
        let v = ov(&obj, "m");
        let fields = ObjectFields {
            collection: v.collection,
            object_id: v.object_id,
            version: v.version,
            member: v.member,
        };
        let n = [3u8; 32];
        assert_eq!(
            object_leaf(&v, &n).unwrap(),
            object_leaf_canonical(&fields, &canonical, &n)
        );
        assert_ne!(
            object_leaf(&v, &n).unwrap(),
            object_leaf_canonical(&fields, b"{}", &n)
        );
    }

    #[test]
    fn length_prefix_prevents_field_shifting() {
        let obj = json!({});
        let n = [0u8; 32];
        let mut a = ov(&obj, "m");
        a.collection = "ab";
        a.object_id = "c";
        let mut b = ov(&obj, "m");
        b.collection = "a";
        b.object_id = "bc";
        assert_ne!(object_leaf(&a, &n).unwrap(), object_leaf(&b, &n).unwrap());
    }

    /// The tombstone the tests below vary.
    fn tombstone() -> Tombstone<'static> {
        Tombstone {
            collection: "c1",
            object_id: "indicator--1",
            version: "v",
            member: "m",
            time: "2024-01-02T00:00:00Z",
            deleted_index: 7,
        }
    }

    #[test]
    fn tombstone_differs_from_object_and_parses() {
        let t = tombstone();
        let n = [3u8; NONCE_LEN];
        let leaf = tombstone_leaf(&t, &n);
        let bytes = leaf.to_bytes();
        assert_eq!(bytes[0], KIND_TOMBSTONE);
        assert_eq!(Leaf::parse(&bytes).unwrap(), leaf);
        assert_ne!(tombstone_leaf(&Tombstone { time: "x", ..t }, &n), leaf);
        assert_ne!(
            tombstone_leaf(
                &Tombstone {
                    deleted_index: 8,
                    ..t
                },
                &n
            ),
            leaf
        );
        assert_ne!(tombstone_leaf(&t, &[4u8; NONCE_LEN]), leaf);
    }

    #[test]
    fn key_bindings_commit_to_every_field() {
        let b = KeyBinding {
            member: "alice",
            vkey: "alice+01020304+AQ==",
            time: "1700000000000000",
        };
        let n = [9u8; NONCE_LEN];
        let leaf = key_binding_leaf(&b, &n);
        assert_eq!(leaf.to_bytes()[0], KIND_KEY_BINDING);
        assert_eq!(Leaf::parse(&leaf.to_bytes()).unwrap(), leaf);
        assert_ne!(
            key_binding_leaf(&KeyBinding { member: "bob", ..b }, &n),
            leaf
        );
        assert_ne!(key_binding_leaf(&KeyBinding { vkey: "x", ..b }, &n), leaf);
        assert_ne!(key_binding_leaf(&KeyBinding { time: "1", ..b }, &n), leaf);
        assert_ne!(key_binding_leaf(&b, &[8u8; NONCE_LEN]), leaf);
    }

    /// The commitments of one entry of each kind, computed independently (Python's hashlib
    /// over the documented layout: tag, nonce, length-prefixed fields, fixed-width trailer),
    /// so a change to the byte layout cannot pass unnoticed.
    #[test]
    fn commitments_match_independently_computed_values() {
        let hex = |l: Leaf| -> String { l.commitment.iter().map(|b| format!("{b:02x}")).collect() };
        let obj = json!({"b": 1, "a": "x"});
        let object = object_leaf(&ov(&obj, "m"), &[7u8; NONCE_LEN]).unwrap();
        assert_eq!(
            hex(object),
            "81ecf3f02966d757f01603ff817f409ece183bea561b2257fc084e013a025379"
        );
        let t = tombstone();
        assert_eq!(
            hex(tombstone_leaf(&t, &[3u8; NONCE_LEN])),
            "e600b08b68c6de9f730c848843d20eeb53f7f5e1437dc53576cd91e95b97bbc5"
        );
        let b = KeyBinding {
            member: "alice",
            vkey: "alice+01020304+AQ==",
            time: "1700000000000000",
        };
        assert_eq!(
            hex(key_binding_leaf(&b, &[9u8; NONCE_LEN])),
            "3054779b6bf1e8e0672f693407db48a927c704661255e5aea9c60cf3a7996ea1"
        );
    }

    #[test]
    fn parse_rejects_bad_leaves() {
        assert!(matches!(Leaf::parse(&[1u8; 10]), Err(Error::Length(10))));
        let mut b = [0u8; LEAF_LEN];
        b[0] = 9;
        assert!(matches!(Leaf::parse(&b), Err(Error::Kind(9))));
    }

    proptest! {
        #[test]
        fn parse_roundtrip(kind in prop_oneof![Just(Kind::Object), Just(Kind::Tombstone), Just(Kind::KeyBinding)],
                           c in proptest::array::uniform32(any::<u8>())) {
            let leaf = Leaf { kind, commitment: c };
            prop_assert_eq!(Leaf::parse(&leaf.to_bytes()).unwrap(), leaf);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Leaf::parse(&bytes);
        }

        #[test]
        fn distinct_members_give_distinct_leaves(a in "[a-z]{1,8}", b in "[a-z]{1,8}", k in "[a-z]{1,5}", x in any::<i64>()) {
            let obj = json!({ k: x });
            let n = [3u8; 32];
            let la = object_leaf(&ov(&obj, &a), &n).unwrap();
            let lb = object_leaf(&ov(&obj, &b), &n).unwrap();
            prop_assert_eq!(la == lb, a == b);
        }
    }
}
