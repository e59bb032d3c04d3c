//! What every backend writes beside the rows it stores, built here so backends only persist
//! it: the transparency-log entry of a stored or deleted version (leaf and fresh nonce), the
//! clock and the `date_added` rule, and the stored form of status details.

use std::time::{SystemTime, UNIX_EPOCH};

use detente_logentry::NONCE_LEN;

use crate::{NewObject, Result, StatusDetail, StoreError};

/// A log entry to append: its leaf bytes and the nonce that hides it.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// The leaf (`detente-logentry` format), appended at the next log index.
    pub leaf: Vec<u8>,
    /// The entry's random nonce, kept for receipts.
    pub nonce: [u8; NONCE_LEN],
}

/// A fresh random nonce: a leaf reveals nothing of its content without it.
pub fn fresh_nonce() -> Result<[u8; NONCE_LEN]> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut nonce)
        .map_err(|e| StoreError::Backend(format!("no randomness for log nonce: {e}")))?;
    Ok(nonce)
}

/// The log entry of a newly stored object version contributed by `member`. `canonical` is
/// the RFC 8785 form of `o.body` when the caller already computed it (a mirrored version,
/// checked against the partner's entry); otherwise it is derived here.
pub fn object_entry(
    collection: &str,
    o: &NewObject,
    member: &str,
    canonical: Option<&[u8]>,
) -> Result<LogEntry> {
    let nonce = fresh_nonce()?;
    let derived;
    let canonical = match canonical {
        Some(c) => c,
        None => {
            derived = canonical_body(o)?;
            &derived
        }
    };
    let leaf = detente_logentry::object_leaf_canonical(
        &detente_logentry::ObjectFields {
            collection,
            object_id: &o.id,
            version: o.version.as_deref().unwrap_or(""),
            member,
        },
        canonical,
        &nonce,
    );
    Ok(LogEntry {
        leaf: leaf.to_bytes().to_vec(),
        nonce,
    })
}

/// A stored object version being deleted, with what its tombstone needs (both backends read
/// it from their `objects` and `log_nonces` rows and store the tombstone beside the leaf).
#[derive(Debug, Clone)]
pub struct DeletedVersionRow {
    /// Its `date_added`.
    pub date_added: i64,
    /// Its version (`None` for a value-identified object's copy).
    pub version: Option<String>,
    /// Its stored TLP rank.
    pub tlp: i64,
    /// Its contributor's member id.
    pub contributor: i64,
    /// The log index of its entry.
    pub leaf_idx: i64,
}

impl DeletedVersionRow {
    /// The version as a tombstone records it (empty for a value-identified object).
    pub fn version_text(&self) -> &str {
        self.version.as_deref().unwrap_or("")
    }

    /// The log entry of its deletion from `collection` by `member` at `time`
    /// ([`deletion_time`]).
    pub fn tombstone(
        &self,
        collection: &str,
        object_id: &str,
        member: &str,
        time: &str,
    ) -> Result<LogEntry> {
        tombstone_entry(&detente_logentry::Tombstone {
            collection,
            object_id,
            version: self.version_text(),
            member,
            time,
            deleted_index: self.leaf_idx.unsigned_abs(),
        })
    }
}

/// The RFC 8785 form of `o.body`, which its log entry commits to. Backends may compute it
/// before taking their write lock and hand it to [`object_entry`].
pub fn canonical_body(o: &NewObject) -> Result<Vec<u8>> {
    let object: serde_json::Value = serde_json::from_str(&o.body)
        .map_err(|e| StoreError::Invalid(format!("object {} is not JSON: {e}", o.id)))?;
    detente_logentry::canonical_form(&object)
        .map_err(|e| StoreError::Invalid(format!("object {}: {e}", o.id)))
}

/// The log entry of a deleted object version (`time` from [`deletion_time`]).
pub fn tombstone_entry(t: &detente_logentry::Tombstone<'_>) -> Result<LogEntry> {
    let nonce = fresh_nonce()?;
    let leaf = detente_logentry::tombstone_leaf(t, &nonce);
    Ok(LogEntry {
        leaf: leaf.to_bytes().to_vec(),
        nonce,
    })
}

/// The log entry of a contributor key binding (or rotation) made now, and its time.
pub fn key_binding_entry(member: &str, vkey: &str) -> Result<(LogEntry, String)> {
    let nonce = fresh_nonce()?;
    let time = now_micros().to_string();
    let leaf = detente_logentry::key_binding_leaf(
        &detente_logentry::KeyBinding {
            member,
            vkey,
            time: &time,
        },
        &nonce,
    );
    Ok((
        LogEntry {
            leaf: leaf.to_bytes().to_vec(),
            nonce,
        },
        time,
    ))
}

/// A log index or tree size (`what` names it in the error) as the `i64` both backends store:
/// one above 2^63-1 is refused, never wrapped.
pub fn stored_u64(what: &str, n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("{what} {n} above 2^63-1")))
}

/// The time recorded in tombstones: µs since the epoch, in decimal.
pub fn deletion_time() -> String {
    now_micros().to_string()
}

/// Now, µs since the epoch.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The `date_added` of the next stored version when the last one handed out is `last`: the
/// clock, but strictly after `last` (so a clock stepping back never reorders the store).
/// Backends call it at their one serialization point, with `last` read there.
pub fn next_date_added(last: i64) -> i64 {
    now_micros().max(last.saturating_add(1))
}

/// The stored form of a status record's details (a JSON array of `[id, version, message]`).
pub fn details_to_json(d: &[StatusDetail]) -> String {
    serde_json::Value::Array(
        d.iter()
            .map(|d| serde_json::json!([d.id, d.version, d.message]))
            .collect(),
    )
    .to_string()
}

/// Reads what [`details_to_json`] wrote.
pub fn details_from_json(s: &str) -> Result<Vec<StatusDetail>> {
    let v: Vec<(String, String, Option<String>)> =
        serde_json::from_str(s).map_err(|e| StoreError::Backend(format!("status details: {e}")))?;
    Ok(v.into_iter()
        .map(|(id, version, message)| StatusDetail {
            id,
            version,
            message,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tlp;

    #[test]
    fn details_round_trip() {
        let d = vec![
            StatusDetail {
                id: "x--1".into(),
                version: "v".into(),
                message: None,
            },
            StatusDetail {
                id: "x--2".into(),
                version: "w".into(),
                message: Some("already present".into()),
            },
        ];
        assert_eq!(details_from_json(&details_to_json(&d)).unwrap(), d);
        assert!(details_from_json("{").is_err());
    }

    #[test]
    fn date_added_never_goes_back() {
        let far = now_micros() + 3_600_000_000;
        assert_eq!(next_date_added(far), far + 1);
        assert!(next_date_added(0) > 1_600_000_000_000_000);
    }

    #[test]
    fn entries_have_fresh_nonces_and_reject_non_json() {
        let o = NewObject {
            id: "x--1".into(),
            object_type: "x".into(),
            spec_version: "2.1".into(),
            version: Some("v".into()),
            version_micros: Some(1),
            tlp: Tlp::Clear,
            recipients: vec![],
            body: "{}".into(),
        };
        let a = object_entry("c", &o, "m", None).unwrap();
        let b = object_entry("c", &o, "m", None).unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.leaf, b.leaf);
        assert_eq!(a.leaf.len(), detente_logentry::LEAF_LEN);
        // A canonical form handed in is what the entry commits to, instead of the body's.
        let object = serde_json::json!({"given": true});
        let canonical = detente_logentry::canonical_form(&object).unwrap();
        let given = object_entry("c", &o, "m", Some(&canonical)).unwrap();
        let expect = detente_logentry::object_leaf(
            &detente_logentry::ObjectVersion {
                collection: "c",
                object_id: "x--1",
                version: "v",
                member: "m",
                object: &object,
            },
            &given.nonce,
        )
        .unwrap();
        assert_eq!(given.leaf, expect.to_bytes());
        let bad = NewObject {
            body: "{".into(),
            ..o
        };
        assert!(matches!(
            object_entry("c", &bad, "m", None),
            Err(StoreError::Invalid(_))
        ));
    }
}
