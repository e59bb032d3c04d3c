//! C2SP `tlog-witness`: the `add-checkpoint` request, the witness's decision, and the
//! verifier's quorum of cosignatures.
//!
//! The witness side is split so that storage stays outside: [`AddCheckpoint::parse`] reads a
//! request body, [`decide`] takes the trusted keys for the checkpoint's origin and the last
//! checkpoint cosigned for it and says whether to cosign or which status to answer. The caller
//! cosigns with a [`crate::Cosigner`] and must persist the new state by compare-and-set before
//! it replies.

use std::collections::HashSet;

use crate::checkpoint::Checkpoint;
use crate::hash::{Hash, empty_root};
use crate::note::{KeyType, Note, NoteError, VerifierKey, Verifiers};
use crate::proof::verify_consistency;

/// Most consistency-proof lines a request may carry (a proof between two 64-bit sizes is shorter).
pub const MAX_PROOF_LINES: usize = 63;

/// The `Content-Type` of a 409 answer, whose body is the witness's latest size and `\n`.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// The body of `POST <submission prefix>/add-checkpoint`: `old <size>`, the consistency proof
/// (one base64 hash a line), a blank line, then the signed checkpoint note.
pub fn add_checkpoint_body(old_size: u64, proof: &[Hash], checkpoint_note: &[u8]) -> Vec<u8> {
    let mut out = format!("old {old_size}\n").into_bytes();
    for h in proof {
        out.extend_from_slice(h.to_base64().as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(checkpoint_note);
    out
}

/// A parsed `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size the log believes the witness cosigned last.
    pub old: u64,
    /// Consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed note, as sent.
    pub note: Note,
    /// The checkpoint in the note's text.
    pub checkpoint: Checkpoint,
}

/// Parses an unsigned decimal with no leading zeros.
fn canonical_u64(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

impl AddCheckpoint {
    /// Parses a request body; every error is a malformed request (400).
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let mut rest = body;
        let mut next_line = || -> Result<&[u8], String> {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or("request ends before the blank line")?;
            let (line, tail) = rest.split_at(end);
            rest = &tail[1..];
            Ok(line)
        };
        let first = std::str::from_utf8(next_line()?).map_err(|_| "first line is not UTF-8")?;
        let old = first
            .strip_prefix("old ")
            .and_then(canonical_u64)
            .ok_or_else(|| format!("first line must be `old <size>`, not {first:?}"))?;
        let mut proof = Vec::new();
        loop {
            let line = next_line()?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(format!("more than {MAX_PROOF_LINES} proof lines"));
            }
            let text = std::str::from_utf8(line).map_err(|_| "proof line is not UTF-8")?;
            let hash = Hash::from_base64(text)
                .ok()
                .filter(|h| h.to_base64() == text)
                .ok_or_else(|| {
                    format!("proof line {} is not base64 of 32 bytes", proof.len() + 1)
                })?;
            proof.push(hash);
        }
        let note = Note::parse(rest).map_err(|e| format!("checkpoint note: {e}"))?;
        let checkpoint = Checkpoint::parse(note.text()).map_err(|e| format!("checkpoint: {e}"))?;
        Ok(AddCheckpoint {
            old,
            proof,
            note,
            checkpoint,
        })
    }
}

/// What the witness last cosigned for an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
}

/// Why the witness refuses to cosign, with the HTTP status the spec gives each case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No trusted key for the checkpoint's origin (404).
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// No signature by a trusted key, or one that does not verify (403).
    #[error("checkpoint is not signed by a trusted key of its log: {0}")]
    BadSignature(String),
    /// A malformed request or `old` above the checkpoint's size (400).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// `old` is not the size the witness last cosigned (409, body: that size).
    #[error("old size {old} is not the size this witness last cosigned, {latest}")]
    OldMismatch {
        /// The request's `old`.
        old: u64,
        /// The size the witness last cosigned (0 if none).
        latest: u64,
    },
    /// The checkpoint is inconsistent with what the witness cosigned, or its proof is
    /// malformed for the sizes (422). `conflict` is true when the witness holds a cosigned
    /// checkpoint this one contradicts: evidence of a split view.
    #[error("inconsistent checkpoint: {reason}")]
    Inconsistent {
        /// What failed.
        reason: String,
        /// Whether the checkpoint contradicts one the witness cosigned.
        conflict: bool,
    },
}

impl Refusal {
    /// The HTTP status code for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::UnknownOrigin(_) => 404,
            Refusal::BadSignature(_) => 403,
            Refusal::Malformed(_) => 400,
            Refusal::OldMismatch { .. } => 409,
            Refusal::Inconsistent { .. } => 422,
        }
    }
}

/// Decides an `add-checkpoint` request in the order tlog-witness gives its checks: trusted
/// origin (404), log signature (403), `old` not above the size (400), `old` equal to the last
/// cosigned size (409), then consistency (422). `keys` are the trusted log keys for the
/// checkpoint's origin; `last` is what the witness last cosigned for it. `Ok` means: cosign.
pub fn decide(
    req: &AddCheckpoint,
    keys: &[VerifierKey],
    last: Option<&Cosigned>,
) -> Result<(), Refusal> {
    let cp = &req.checkpoint;
    if keys.is_empty() {
        return Err(Refusal::UnknownOrigin(cp.origin.clone()));
    }
    let log_keys: Vec<VerifierKey> = keys
        .iter()
        .filter(|k| k.key_type() == KeyType::Ed25519)
        .cloned()
        .collect();
    req.note
        .verify(&Verifiers::new(log_keys))
        .map_err(|e| match e {
            NoteError::NoKnownSignature => {
                Refusal::BadSignature("no signature by a trusted key".into())
            }
            other => Refusal::BadSignature(other.to_string()),
        })?;
    if req.old > cp.size {
        return Err(Refusal::Malformed(format!(
            "old size {} is above the checkpoint's size {}",
            req.old, cp.size
        )));
    }
    let latest = last.map_or(0, |l| l.size);
    if req.old != latest {
        return Err(Refusal::OldMismatch {
            old: req.old,
            latest,
        });
    }
    let inconsistent = |reason: String| Refusal::Inconsistent {
        reason,
        conflict: last.is_some(),
    };
    if cp.size == 0 && cp.root != empty_root() {
        return Err(inconsistent(
            "an empty tree's root must be SHA-256(\"\")".into(),
        ));
    }
    if req.old == 0 {
        if !req.proof.is_empty() {
            return Err(Refusal::Inconsistent {
                reason: "a proof from size 0 must be empty".into(),
                conflict: false,
            });
        }
        // From nothing (or from a cosigned empty tree, whose root is fixed), any tree extends.
        return Ok(());
    }
    let Some(last) = last else {
        return Err(Refusal::OldMismatch {
            old: req.old,
            latest: 0,
        });
    };
    if last.size == cp.size && last.root == cp.root && !req.proof.is_empty() {
        return Err(Refusal::Inconsistent {
            reason: "a proof between equal sizes must be empty".into(),
            conflict: false,
        });
    }
    verify_consistency(last.size, cp.size, &last.root, &cp.root, &req.proof).map_err(|e| {
        if last.size == cp.size {
            inconsistent(format!(
                "size {} was cosigned with root {}, not {}",
                cp.size, last.root, cp.root
            ))
        } else {
            inconsistent(format!(
                "consistency proof from size {} to {} fails: {e}",
                last.size, cp.size
            ))
        }
    })
}

/// Why a checkpoint lacks the cosignatures a verifier requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{valid} of the required {quorum} witness cosignatures; missing: {}", missing.join(", "))]
pub struct QuorumError {
    /// Valid cosignatures by distinct named witnesses.
    pub valid: usize,
    /// The quorum asked for.
    pub quorum: usize,
    /// The named witnesses without a valid cosignature (with why, where known).
    pub missing: Vec<String>,
}

/// Checks that `note` carries valid `cosignature/v1` signatures from at least `quorum` of the
/// `witnesses` (each key counted once; a line whose name matches but whose key id differs
/// counts for nothing). Returns the witnesses that cosigned, by vkey.
pub fn check_quorum(
    note: &Note,
    witnesses: &[VerifierKey],
    quorum: usize,
) -> Result<Vec<String>, QuorumError> {
    let mut ok: HashSet<String> = HashSet::new();
    let mut why: Vec<(String, &'static str)> = Vec::new();
    for w in witnesses {
        if w.key_type() != KeyType::CosignatureV1 {
            why.push((w.to_string(), "not a cosignature/v1 key"));
            continue;
        }
        let lines: Vec<_> = note
            .signatures()
            .iter()
            .filter(|s| s.name == w.name() && s.key_id == w.key_id())
            .collect();
        if lines.is_empty() {
            why.push((w.to_string(), "no cosignature"));
        } else if lines
            .iter()
            .any(|s| w.verify(note.text(), &s.signature).is_some())
        {
            ok.insert(w.to_string());
        } else {
            why.push((w.to_string(), "cosignature does not verify"));
        }
    }
    if ok.len() >= quorum {
        let mut out: Vec<String> = ok.into_iter().collect();
        out.sort();
        return Ok(out);
    }
    let mut missing: Vec<String> = why.into_iter().map(|(k, r)| format!("{k} ({r})")).collect();
    missing.sort();
    missing.dedup();
    Err(QuorumError {
        valid: ok.len(),
        quorum,
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::note::{Cosigner, NoteSigner};
    use crate::proof::{MemoryTree, prove_consistency};

    fn tree(n: u64, tag: u8) -> MemoryTree {
        MemoryTree::new((0..n).map(|i| leaf_hash(&[tag, i as u8])).collect())
    }

    fn note(signer: &NoteSigner, size: u64, root: Hash) -> Vec<u8> {
        let cp = Checkpoint::new(signer.name(), size, root).unwrap();
        let mut n = Note::new(cp.to_string()).unwrap();
        n.add_signature(signer.sign(n.text())).unwrap();
        n.to_bytes()
    }

    fn req(old: u64, proof: &[Hash], note: &[u8]) -> AddCheckpoint {
        AddCheckpoint::parse(&add_checkpoint_body(old, proof, note)).unwrap()
    }

    #[test]
    fn decisions_follow_the_spec_table() {
        let log = NoteSigner::from_seed("example.com/log", &[1; 32]).unwrap();
        let other = NoteSigner::from_seed("example.com/log", &[2; 32]).unwrap();
        let keys = vec![log.verifier()];
        let t = tree(10, 0);
        let root = |n| t.root(n).unwrap();
        let proof = |a, b| prove_consistency(&mut &t, a, b).unwrap();
        let at5 = Cosigned {
            size: 5,
            root: root(5),
        };
        // Fresh origin: old 0 with an empty proof is cosigned.
        assert_eq!(
            decide(&req(0, &[], &note(&log, 5, root(5))), &keys, None),
            Ok(())
        );
        // Unknown origin, then wrong key id (same name), then a forged signature.
        let r = req(0, &[], &note(&log, 5, root(5)));
        assert_eq!(decide(&r, &[], None).unwrap_err().status(), 404);
        assert_eq!(
            decide(&r, &[other.verifier()], None).unwrap_err().status(),
            403
        );
        let mut forged = Note::parse(&note(&other, 5, root(5))).unwrap();
        let sig = forged.signatures()[0].clone();
        forged = Note::new(forged.text()).unwrap();
        forged
            .add_signature(crate::note::NoteSignature {
                key_id: log.verifier().key_id(),
                ..sig
            })
            .unwrap();
        let f = req(0, &[], &forged.to_bytes());
        assert_eq!(decide(&f, &keys, None).unwrap_err().status(), 403);
        // old above size is malformed; a stale old is 409 with the latest size.
        let n4 = note(&log, 4, root(4));
        assert_eq!(
            decide(&req(5, &[], &n4), &keys, None).unwrap_err().status(),
            400
        );
        assert_eq!(
            decide(
                &req(3, &proof(3, 8), &note(&log, 8, root(8))),
                &keys,
                Some(&at5)
            ),
            Err(Refusal::OldMismatch { old: 3, latest: 5 })
        );
        // Rollback below the cosigned size with old 0: 409.
        assert_eq!(
            decide(&req(0, &[], &n4), &keys, Some(&at5))
                .unwrap_err()
                .status(),
            409
        );
        // A good proof extends; a proof for the wrong old fails; same size other root fails.
        let n8 = note(&log, 8, root(8));
        assert_eq!(
            decide(&req(5, &proof(5, 8), &n8), &keys, Some(&at5)),
            Ok(())
        );
        let wrong = decide(&req(5, &proof(4, 8), &n8), &keys, Some(&at5)).unwrap_err();
        assert!(matches!(
            wrong,
            Refusal::Inconsistent { conflict: true, .. }
        ));
        let fork = tree(5, 9);
        let n5 = note(&log, 5, fork.root(5).unwrap());
        let same = decide(&req(5, &[], &n5), &keys, Some(&at5)).unwrap_err();
        assert!(matches!(same, Refusal::Inconsistent { conflict: true, .. }));
        assert_eq!(
            decide(&req(5, &[], &note(&log, 5, root(5))), &keys, Some(&at5)),
            Ok(())
        );
        // A non-empty proof between equal sizes is malformed, not a conflict.
        let padded = decide(
            &req(5, &proof(3, 5), &note(&log, 5, root(5))),
            &keys,
            Some(&at5),
        );
        assert!(matches!(
            padded,
            Err(Refusal::Inconsistent {
                conflict: false,
                ..
            })
        ));
        // Non-empty proof with old 0, and a bad empty-tree root.
        let bad0 = decide(&req(0, &proof(3, 8), &n8), &keys, None).unwrap_err();
        assert!(matches!(
            bad0,
            Refusal::Inconsistent {
                conflict: false,
                ..
            }
        ));
        let empty_bad = decide(&req(0, &[], &note(&log, 0, root(1))), &keys, None);
        assert_eq!(empty_bad.unwrap_err().status(), 422);
        assert_eq!(
            decide(&req(0, &[], &note(&log, 0, empty_root())), &keys, None),
            Ok(())
        );
    }

    #[test]
    fn malformed_requests() {
        let log = NoteSigner::from_seed("example.com/log", &[1; 32]).unwrap();
        let n = note(&log, 1, leaf_hash(b"x"));
        let good = add_checkpoint_body(0, &[], &n);
        assert!(AddCheckpoint::parse(&good).is_ok());
        let mut too_many = b"old 1\n".to_vec();
        for _ in 0..64 {
            too_many.extend_from_slice(leaf_hash(b"x").to_base64().as_bytes());
            too_many.push(b'\n');
        }
        too_many.push(b'\n');
        too_many.extend_from_slice(&n);
        for bad in [
            &b""[..],
            b"old 01\n\n",
            b"old -1\n\n",
            b"old 1",
            b"olds 1\n\n",
            b"old 1\nAAAA\n\n",
            b"old 1\n\nnot a note\n",
            &too_many,
        ] {
            assert!(AddCheckpoint::parse(bad).is_err(), "{bad:?}");
        }
        let mut no_cp = b"old 0\n\n".to_vec();
        let mut plain = Note::new("hello\n").unwrap();
        plain.add_signature(log.sign(plain.text())).unwrap();
        no_cp.extend_from_slice(&plain.to_bytes());
        assert!(AddCheckpoint::parse(&no_cp).is_err());
    }

    #[test]
    fn quorum_counts_each_named_key_once() {
        let log = NoteSigner::from_seed("example.com/log", &[1; 32]).unwrap();
        let b = Cosigner::from_seed("b.example/witness", &[2; 32]).unwrap();
        let c = Cosigner::from_seed("c.example/witness", &[3; 32]).unwrap();
        let c2 = Cosigner::from_seed("c.example/witness", &[4; 32]).unwrap();
        let mut n = Note::parse(&note(&log, 3, leaf_hash(b"r"))).unwrap();
        let text = n.text().to_owned();
        n.add_signature(b.cosign(&text, 10).unwrap()).unwrap();
        n.add_signature(b.cosign(&text, 11).unwrap()).unwrap();
        n.add_signature(c2.cosign(&text, 10).unwrap()).unwrap();
        let both = [b.verifier(), c.verifier()];
        let e = check_quorum(&n, &both, 2).unwrap_err();
        assert_eq!(e.valid, 1);
        assert!(e.missing[0].starts_with(&c.verifier().to_string()));
        assert_eq!(
            check_quorum(&n, &[b.verifier(), b.verifier()], 2)
                .unwrap_err()
                .valid,
            1
        );
        n.add_signature(c.cosign(&text, 12).unwrap()).unwrap();
        assert_eq!(check_quorum(&n, &both, 2).unwrap().len(), 2);
        // A cosignature over another text does not count.
        let mut other = Note::parse(&note(&log, 4, leaf_hash(b"r"))).unwrap();
        other.add_signature(b.cosign(&text, 10).unwrap()).unwrap();
        assert_eq!(check_quorum(&other, &both, 1).unwrap_err().valid, 0);
    }
}
