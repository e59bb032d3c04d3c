//! STIX 2.1 `sighting` objects from aggregated hits.

use std::collections::BTreeMap;

use serde_json::json;
use sha2::{Digest, Sha256};

/// Per-indicator tallies of alerting hits.
#[derive(Debug, Default)]
pub struct Sightings {
    per: BTreeMap<String, Tally>,
}

#[derive(Debug, Clone, Copy)]
struct Tally {
    count: u64,
    first: i64,
    last: i64,
}

impl Sightings {
    /// Records one hit on `indicator_id` at `millis` since the epoch.
    pub fn add(&mut self, indicator_id: &str, millis: i64) {
        let t = self.per.entry(indicator_id.to_string()).or_insert(Tally {
            count: 0,
            first: millis,
            last: millis,
        });
        t.count += 1;
        t.first = t.first.min(millis);
        t.last = t.last.max(millis);
    }

    /// Whether `indicator_id` was sighted.
    pub fn contains(&self, indicator_id: &str) -> bool {
        self.per.contains_key(indicator_id)
    }

    /// Forgets the sightings of `indicator_id` (it is being reported as a false positive).
    pub fn remove(&mut self, indicator_id: &str) {
        self.per.remove(indicator_id);
    }

    /// Number of indicators sighted.
    pub fn len(&self) -> usize {
        self.per.len()
    }

    /// Whether nothing was sighted.
    pub fn is_empty(&self) -> bool {
        self.per.is_empty()
    }

    /// One `sighting` per indicator, seen by `identity_id`, created at `now_millis`.
    pub fn objects(&self, identity_id: &str, now_millis: i64) -> Vec<serde_json::Value> {
        let now = rfc3339_millis(now_millis);
        self.per
            .iter()
            .map(|(ind, t)| {
                let id = uuid_like(
                    &format!(
                        "{identity_id}|{ind}|{}|{}|{}|{now_millis}",
                        t.first, t.last, t.count
                    ),
                    4,
                );
                let mut o = sighting(&id, &now, ind, identity_id);
                o.insert("count".into(), t.count.into());
                o.insert("first_seen".into(), rfc3339_millis(t.first).into());
                o.insert("last_seen".into(), rfc3339_millis(t.last).into());
                serde_json::Value::Object(o)
            })
            .collect()
    }
}

/// A false-positive report: a `sighting` of `indicator_id` by `identity_id` marked
/// `"x_detente_false_positive": true`, which lowers the indicator's score for every party that
/// reads it (`docs/detection.md`). Its id is derived from the reporter and the indicator, so
/// reporting again makes a new version of one report, not a second one.
pub fn false_positive(identity_id: &str, indicator_id: &str, now_millis: i64) -> serde_json::Value {
    let now = rfc3339_millis(now_millis);
    let id = uuid_like(&format!("{identity_id}|{indicator_id}|false-positive"), 5);
    let mut o = sighting(&id, &now, indicator_id, identity_id);
    o.insert("created_by_ref".into(), identity_id.into());
    o.insert("x_detente_false_positive".into(), true.into());
    serde_json::Value::Object(o)
}

/// The properties every sighting we write has: `id` from `uuid`, created and modified `now`,
/// of `indicator_id`, seen by `identity_id`.
fn sighting(
    uuid: &str,
    now: &str,
    indicator_id: &str,
    identity_id: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let mut o = serde_json::Map::new();
    for (k, v) in [
        ("type", "sighting".to_owned()),
        ("spec_version", "2.1".to_owned()),
        ("id", format!("sighting--{uuid}")),
        ("created", now.to_owned()),
        ("modified", now.to_owned()),
        ("sighting_of_ref", indicator_id.to_owned()),
    ] {
        o.insert(k.to_owned(), v.into());
    }
    o.insert("where_sighted_refs".to_owned(), json!([identity_id]));
    o
}

/// A UUID-shaped string (RFC 9562 layout, given version nibble) derived from `seed` by SHA-256.
pub fn uuid_like(seed: &str, version: u8) -> String {
    let h = Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | (version << 4);
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

/// Formats Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_millis(ms: i64) -> String {
    let frac = u32::try_from(ms.rem_euclid(1000)).unwrap_or(0);
    detente_stix::timestamp::format_unix(ms.div_euclid(1000), frac * 1_000_000, 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_726_531_200_123),
            "2024-09-17T00:00:00.123Z"
        );
        assert_eq!(
            detente_indicator::object::parse_timestamp("2024-02-29T12:34:56Z")
                .map(|s| rfc3339_millis(s * 1000))
                .as_deref(),
            Some("2024-02-29T12:34:56.000Z")
        );
    }

    #[test]
    fn tallies() {
        let mut s = Sightings::default();
        s.add("indicator--a", 2000);
        s.add("indicator--a", 1000);
        s.add("indicator--b", 5);
        let o = s.objects("identity--x", 9000);
        assert_eq!(o.len(), 2);
        assert_eq!(o[0]["count"], 2);
        assert_eq!(o[0]["first_seen"], "1970-01-01T00:00:01.000Z");
        assert_eq!(o[0]["where_sighted_refs"][0], "identity--x");
        assert!(uuid_like("x", 4).chars().nth(14) == Some('4'));
        // SHA-256("x")'s first 16 bytes with version 4 and the RFC 9562 variant (Python's uuid).
        assert_eq!(uuid_like("x", 4), "2d711642-b726-4044-8162-7ca9fbac32f5");
    }

    #[test]
    fn false_positive_reports() {
        let o = false_positive("identity--x", "indicator--a", 1000);
        assert_eq!(o["type"], "sighting");
        assert_eq!(o["created_by_ref"], "identity--x");
        assert_eq!(o["where_sighted_refs"][0], "identity--x");
        assert_eq!(o["sighting_of_ref"], "indicator--a");
        assert_eq!(o["modified"], "1970-01-01T00:00:01.000Z");
        assert_eq!(o["x_detente_false_positive"], true);
        assert_eq!(
            o["id"],
            false_positive("identity--x", "indicator--a", 9)["id"]
        );
        assert!(o.get("count").is_none());
    }
}
