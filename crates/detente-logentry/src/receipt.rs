//! Receipts: what a node gives a member who may read an object so that the member can check,
//! against the public log alone, that the object version it was served is the one logged.
//!
//! A receipt carries the entry's fields and nonce (so the member recomputes the leaf from the
//! object it fetched over TAXII), the log index, a signed checkpoint and the inclusion proof
//! against it. Hashes, leaves and nonces are standard base64. The checkpoint's signature is
//! not checked here: the caller checks it against the key it pinned for the node.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use detente_tlog::proof::verify_inclusion;
use detente_tlog::{Checkpoint, Hash, Note, leaf_hash};
use serde::{Deserialize, Serialize};

use crate::{
    KeyBinding, Leaf, NONCE_LEN, ObjectVersion, Tombstone, key_binding_leaf, object_leaf,
    tombstone_leaf,
};

/// What the receipted entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// An object version was stored.
    Object {
        /// Contributing member, as committed.
        contributor: String,
    },
    /// An object version was deleted.
    Tombstone {
        /// Deleting member, as committed.
        deleted_by: String,
        /// Deletion time as committed (µs since the epoch, decimal).
        deleted_at: String,
        /// Log index of the deleted version's object entry.
        deleted_index: u64,
    },
}

/// A receipt for one log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// TAXII collection id.
    pub collection: String,
    /// STIX object id.
    pub object_id: String,
    /// Version string as committed (empty for unversioned objects).
    pub version: String,
    /// The entry's kind and its kind-specific fields.
    #[serde(flatten)]
    pub entry: Entry,
    /// The entry's secret nonce (base64).
    pub nonce: String,
    /// Index of the entry in the log.
    pub log_index: u64,
    /// The leaf bytes (base64), as in the log's entry bundles.
    pub leaf: String,
    /// The signed checkpoint the proof is against (signed-note text).
    pub checkpoint: String,
    /// Inclusion proof of the leaf in the checkpoint's tree (base64 hashes, leaf side first).
    pub inclusion_proof: Vec<String>,
}

/// Why a receipt does not check out.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// A field is not well-formed.
    #[error("malformed receipt: {0}")]
    Malformed(String),
    /// The leaf recomputed from the object and the receipt's fields differs from the receipt's
    /// leaf: the object served is not the one logged (or the fields were altered).
    #[error("the {what} does not match the logged entry {index}")]
    LeafMismatch {
        /// What was recomputed.
        what: &'static str,
        /// Log index.
        index: u64,
    },
    /// The inclusion proof does not lead to the checkpoint's root.
    #[error("entry {index} is not included in the checkpoint of size {size}: {reason}")]
    NotIncluded {
        /// Log index.
        index: u64,
        /// Checkpoint size.
        size: u64,
        /// Why the proof failed.
        reason: String,
    },
}

fn malformed(what: &str) -> impl FnOnce(String) -> ReceiptError + '_ {
    move |e| ReceiptError::Malformed(format!("{what}: {e}"))
}

impl Receipt {
    /// The receipt's leaf bytes.
    pub fn leaf_bytes(&self) -> Result<Vec<u8>, ReceiptError> {
        B64.decode(&self.leaf)
            .map_err(|e| malformed("leaf")(e.to_string()))
    }

    /// The checkpoint note (signatures unchecked) and its parsed body.
    pub fn checkpoint(&self) -> Result<(Note, Checkpoint), ReceiptError> {
        parse_checkpoint(&self.checkpoint)
    }

    fn nonce(&self) -> Result<[u8; NONCE_LEN], ReceiptError> {
        decode_nonce(&self.nonce)
    }

    /// Recomputes the leaf from the receipt's fields and, for an object entry, the object as
    /// served; then checks the leaf is the one in the receipt.
    pub fn check_entry(&self, object: Option<&serde_json::Value>) -> Result<(), ReceiptError> {
        let nonce = self.nonce()?;
        let (leaf, what) = match (&self.entry, object) {
            (Entry::Object { contributor }, Some(object)) => (
                object_leaf(
                    &ObjectVersion {
                        collection: &self.collection,
                        object_id: &self.object_id,
                        version: &self.version,
                        member: contributor,
                        object,
                    },
                    &nonce,
                )
                .map_err(|e| malformed("object")(e.to_string()))?,
                "object as served",
            ),
            (Entry::Object { .. }, None) => {
                return Err(ReceiptError::Malformed(
                    "an object entry is checked against the object".into(),
                ));
            }
            (
                Entry::Tombstone {
                    deleted_by,
                    deleted_at,
                    deleted_index,
                },
                _,
            ) => (
                tombstone_leaf(
                    &Tombstone {
                        collection: &self.collection,
                        object_id: &self.object_id,
                        version: &self.version,
                        member: deleted_by,
                        time: deleted_at,
                        deleted_index: *deleted_index,
                    },
                    &nonce,
                ),
                "tombstone",
            ),
        };
        let logged =
            Leaf::parse(&self.leaf_bytes()?).map_err(|e| malformed("leaf")(e.to_string()))?;
        if leaf != logged {
            return Err(ReceiptError::LeafMismatch {
                what,
                index: self.log_index,
            });
        }
        Ok(())
    }

    /// Checks the inclusion proof of the receipt's leaf against its checkpoint's root.
    pub fn check_inclusion(&self) -> Result<Checkpoint, ReceiptError> {
        check_inclusion(
            self.log_index,
            &self.leaf_bytes()?,
            &self.checkpoint,
            &self.inclusion_proof,
        )
    }
}

fn decode_nonce(text: &str) -> Result<[u8; NONCE_LEN], ReceiptError> {
    let n = B64
        .decode(text)
        .map_err(|e| malformed("nonce")(e.to_string()))?;
    n.try_into()
        .map_err(|n: Vec<u8>| malformed("nonce")(format!("{} bytes, not {NONCE_LEN}", n.len())))
}

fn parse_checkpoint(text: &str) -> Result<(Note, Checkpoint), ReceiptError> {
    let note = Note::parse(text.as_bytes()).map_err(|e| malformed("checkpoint")(e.to_string()))?;
    let cp = Checkpoint::parse(note.text()).map_err(|e| malformed("checkpoint")(e.to_string()))?;
    Ok((note, cp))
}

/// Checks an inclusion proof of `leaf` at `index` against the checkpoint's root.
fn check_inclusion(
    index: u64,
    leaf: &[u8],
    checkpoint: &str,
    proof: &[String],
) -> Result<Checkpoint, ReceiptError> {
    let (_, cp) = parse_checkpoint(checkpoint)?;
    let proof = proof
        .iter()
        .map(|h| Hash::from_base64(h).map_err(|e| malformed("inclusion proof")(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    verify_inclusion(index, cp.size, &leaf_hash(leaf), &proof, &cp.root).map_err(|e| {
        ReceiptError::NotIncluded {
            index,
            size: cp.size,
            reason: e.to_string(),
        }
    })?;
    Ok(cp)
}

/// A member's contributor key binding as served by `GET /log/keys`, with what a reader needs
/// to prove it is in the log: its fields and nonce (to recompute the leaf), index, leaf, a
/// signed checkpoint and the inclusion proof against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyBindingReceipt {
    /// The member's name.
    pub member: String,
    /// The verifier key bound (`name+hex+base64`).
    pub vkey: String,
    /// When it was bound (µs since the epoch, decimal), as committed.
    pub time: String,
    /// Log index of the binding that replaced this one; `None` while it is the member's key.
    pub superseded_by: Option<u64>,
    /// The entry's nonce (base64).
    pub nonce: String,
    /// Index of the entry in the log.
    pub log_index: u64,
    /// The leaf bytes (base64).
    pub leaf: String,
    /// The signed checkpoint the proof is against (signed-note text).
    pub checkpoint: String,
    /// Inclusion proof of the leaf in the checkpoint's tree (base64 hashes).
    pub inclusion_proof: Vec<String>,
}

impl KeyBindingReceipt {
    /// Recomputes the leaf from the binding's fields and checks it is the receipt's leaf.
    pub fn check_entry(&self) -> Result<(), ReceiptError> {
        let leaf = key_binding_leaf(
            &KeyBinding {
                member: &self.member,
                vkey: &self.vkey,
                time: &self.time,
            },
            &decode_nonce(&self.nonce)?,
        );
        let logged = B64
            .decode(&self.leaf)
            .map_err(|e| malformed("leaf")(e.to_string()))?;
        let logged = Leaf::parse(&logged).map_err(|e| malformed("leaf")(e.to_string()))?;
        if leaf != logged {
            return Err(ReceiptError::LeafMismatch {
                what: "key binding",
                index: self.log_index,
            });
        }
        Ok(())
    }

    /// The checkpoint note (signatures unchecked) and its parsed body.
    pub fn checkpoint(&self) -> Result<(Note, Checkpoint), ReceiptError> {
        parse_checkpoint(&self.checkpoint)
    }

    /// Checks the inclusion proof of the binding's leaf against its checkpoint's root.
    pub fn check_inclusion(&self) -> Result<Checkpoint, ReceiptError> {
        let leaf = B64
            .decode(&self.leaf)
            .map_err(|e| malformed("leaf")(e.to_string()))?;
        check_inclusion(
            self.log_index,
            &leaf,
            &self.checkpoint,
            &self.inclusion_proof,
        )
    }
}

/// Encodes bytes as the receipt's base64.
pub fn encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use detente_tlog::proof::{MemoryTree, prove_inclusion};
    use detente_tlog::{NoteSigner, leaf_hash};
    use serde_json::json;

    fn receipt_for(object: &serde_json::Value) -> Receipt {
        let nonce = [5u8; NONCE_LEN];
        let leaf = object_leaf(
            &ObjectVersion {
                collection: "c",
                object_id: "indicator--1",
                version: "2024-01-01T00:00:00.000Z",
                member: "alice",
                object,
            },
            &nonce,
        )
        .unwrap()
        .to_bytes();
        let mut leaves: Vec<Vec<u8>> = (0u8..9).map(|i| vec![i; 33]).collect();
        leaves[4] = leaf.to_vec();
        let tree = MemoryTree::new(leaves.iter().map(|l| leaf_hash(l)).collect());
        let proof = prove_inclusion(&mut &tree, 4, 9).unwrap();
        let cp = Checkpoint::new("example.test/log", 9, tree.root(9).unwrap()).unwrap();
        let mut note = Note::new(cp.to_string()).unwrap();
        let signer = NoteSigner::from_seed("example.test/log", &[1u8; 32]).unwrap();
        note.add_signature(signer.sign(note.text())).unwrap();
        Receipt {
            collection: "c".into(),
            object_id: "indicator--1".into(),
            version: "2024-01-01T00:00:00.000Z".into(),
            entry: Entry::Object {
                contributor: "alice".into(),
            },
            nonce: encode(&nonce),
            log_index: 4,
            leaf: encode(&leaf),
            checkpoint: String::from_utf8(note.to_bytes()).unwrap(),
            inclusion_proof: proof.iter().map(Hash::to_base64).collect(),
        }
    }

    #[test]
    fn a_good_receipt_checks_and_round_trips() {
        let obj = json!({"type": "indicator", "id": "indicator--1", "name": "x"});
        let r = receipt_for(&obj);
        r.check_entry(Some(&obj)).unwrap();
        assert_eq!(r.check_inclusion().unwrap().size, 9);
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"kind\":\"object\""), "{text}");
        let back: Receipt = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn altered_objects_fields_and_proofs_are_caught() {
        let obj = json!({"type": "indicator", "id": "indicator--1", "name": "x"});
        let r = receipt_for(&obj);
        let altered = json!({"type": "indicator", "id": "indicator--1", "name": "y"});
        assert!(matches!(
            r.check_entry(Some(&altered)),
            Err(ReceiptError::LeafMismatch { .. })
        ));
        let mut other = r.clone();
        other.entry = Entry::Object {
            contributor: "mallory".into(),
        };
        assert!(other.check_entry(Some(&obj)).is_err());
        let mut moved = r.clone();
        moved.log_index = 5;
        assert!(matches!(
            moved.check_inclusion(),
            Err(ReceiptError::NotIncluded { .. })
        ));
        let mut short = r.clone();
        short.nonce = encode(&[1u8; 3]);
        assert!(matches!(
            short.check_entry(Some(&obj)),
            Err(ReceiptError::Malformed(_))
        ));
    }

    #[test]
    fn a_key_binding_receipt_checks_and_a_swapped_key_does_not() {
        let nonce = [6u8; NONCE_LEN];
        let b = KeyBinding {
            member: "alice",
            vkey: "alice+01020304+AQ==",
            time: "1700000000000000",
        };
        let leaf = key_binding_leaf(&b, &nonce).to_bytes();
        let mut leaves: Vec<Vec<u8>> = (0u8..5).map(|i| vec![i; 33]).collect();
        leaves[2] = leaf.to_vec();
        let tree = MemoryTree::new(leaves.iter().map(|l| leaf_hash(l)).collect());
        let proof = prove_inclusion(&mut &tree, 2, 5).unwrap();
        let cp = Checkpoint::new("example.test/log", 5, tree.root(5).unwrap()).unwrap();
        let r = KeyBindingReceipt {
            member: b.member.into(),
            vkey: b.vkey.into(),
            time: b.time.into(),
            superseded_by: None,
            nonce: encode(&nonce),
            log_index: 2,
            leaf: encode(&leaf),
            checkpoint: {
                let mut note = Note::new(cp.to_string()).unwrap();
                let signer = NoteSigner::from_seed("example.test/log", &[1u8; 32]).unwrap();
                note.add_signature(signer.sign(note.text())).unwrap();
                String::from_utf8(note.to_bytes()).unwrap()
            },
            inclusion_proof: proof.iter().map(Hash::to_base64).collect(),
        };
        r.check_entry().unwrap();
        assert_eq!(r.check_inclusion().unwrap().size, 5);
        let swapped = KeyBindingReceipt {
            vkey: "mallory+05060708+AQ==".into(),
            ..r.clone()
        };
        assert!(matches!(
            swapped.check_entry(),
            Err(ReceiptError::LeafMismatch { .. })
        ));
        let moved = KeyBindingReceipt { log_index: 3, ..r };
        assert!(moved.check_inclusion().is_err());
    }
}
