//! Indicator scores: MISP's polynomial decaying model plus false-positive reports. The model
//! is described in `docs/detection.md`.

use std::hash::Hash;

use rustc_hash::FxHashMap;

use crate::types::Provenance;

/// How many distinct parties stand behind each key, from (key, party) pairs: the one counting
/// rule of corroboration (contributors of a value) and of false-positive reports (reporters of
/// an indicator), in the scanner and on the node.
pub fn distinct_parties<K: Hash + Eq, P: Ord>(
    pairs: impl IntoIterator<Item = (K, P)>,
) -> FxHashMap<K, u32> {
    let mut per: FxHashMap<K, Vec<P>> = FxHashMap::default();
    for (k, p) in pairs {
        per.entry(k).or_default().push(p);
    }
    per.into_iter()
        .map(|(k, mut parties)| {
            parties.sort_unstable();
            parties.dedup();
            (k, u32::try_from(parties.len()).unwrap_or(u32::MAX))
        })
        .collect()
}

/// A score as hits and the node show it: one decimal is all a score means.
pub fn rounded(score: f64) -> f64 {
    (score * 10.0).round() / 10.0
}

/// The parameters of MISP's `Polynomial` decaying model, named as MISP names them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecayModel {
    /// τ: days after which the score reaches 0.
    pub lifetime_days: f64,
    /// δ: the polynomial's decay speed (1 is linear; above 1 drops fast at first).
    pub decay_speed: f64,
    /// Scores below this are `inform`.
    pub threshold: f64,
    /// The base score of indicators without a STIX `confidence`.
    pub default_base_score: f64,
}

impl DecayModel {
    /// MISP's "NIDS Simple Decaying Model" (misp-decaying-models `nids-simple-model.json`).
    pub const NIDS_SIMPLE: DecayModel = DecayModel {
        lifetime_days: 120.0,
        decay_speed: 2.0,
        threshold: 30.0,
        default_base_score: 80.0,
    };

    /// `base × (1 − (t/τ)^(1/δ))`, floored at 0, for `elapsed` seconds (MISP's formula; a
    /// negative elapsed time, which clock skew produces, counts as none).
    pub fn decayed(&self, base: f64, elapsed: i64) -> f64 {
        let tau = self.lifetime_days * 86_400.0;
        if tau <= 0.0 || self.decay_speed <= 0.0 {
            return 0.0;
        }
        let t = elapsed.max(0) as f64;
        (base * (1.0 - (t / tau).powf(1.0 / self.decay_speed))).max(0.0)
    }
}

/// How a scan scores indicators.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scoring {
    /// The model's parameters (the threshold and default base score apply even without decay).
    pub model: DecayModel,
    /// Whether scores decay with time.
    pub decay: bool,
    /// The scan's time, Unix seconds.
    pub now: i64,
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring {
            model: DecayModel::NIDS_SIMPLE,
            decay: false,
            now: 0,
        }
    }
}

impl Scoring {
    /// The indicator's score: its base score (STIX `confidence`, else the model's default),
    /// decayed from its last update when decay is on, halved for every party that reported it
    /// as a false positive.
    pub fn score(&self, p: &Provenance) -> f64 {
        let base = p
            .confidence
            .map_or(self.model.default_base_score, f64::from);
        let aged = match p.since {
            Some(since) if self.decay => self.model.decayed(base, self.now - since),
            _ => base,
        };
        aged * 0.5f64.powi(i32::try_from(p.false_positives).unwrap_or(i32::MAX))
    }

    /// Whether `score` is below the threshold (the hit is `inform`).
    pub fn below(&self, score: f64) -> bool {
        score < self.model.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn parties_are_counted_once_per_key() {
        let n = distinct_parties([("a", "x"), ("a", "y"), ("a", "x"), ("b", "x")]);
        assert_eq!(n.get("a"), Some(&2));
        assert_eq!(n.get("b"), Some(&1));
        assert_eq!(n.get("c"), None);
    }

    #[test]
    fn misp_polynomial_values() {
        let m = DecayModel::NIDS_SIMPLE;
        // t = 0: the base score; t = τ: 0; t = τ/4 with δ = 2: 1 − (1/4)^(1/2) = 1/2.
        assert_eq!(m.decayed(80.0, 0), 80.0);
        assert!(m.decayed(80.0, 120 * DAY).abs() < 1e-9);
        assert!((m.decayed(80.0, 30 * DAY) - 40.0).abs() < 1e-9);
        assert_eq!(m.decayed(80.0, 400 * DAY), 0.0);
        let linear = DecayModel {
            decay_speed: 1.0,
            ..m
        };
        assert!((linear.decayed(100.0, 60 * DAY) - 50.0).abs() < 1e-9);
        assert_eq!(m.decayed(80.0, -DAY), 80.0);
    }

    #[test]
    fn scores_from_provenance() {
        let s = Scoring {
            model: DecayModel::NIDS_SIMPLE,
            decay: true,
            now: 1_000 * DAY,
        };
        let fresh = Provenance {
            since: Some(1_000 * DAY),
            ..Provenance::default()
        };
        assert_eq!(s.score(&fresh), 80.0);
        let old = Provenance {
            since: Some(1_000 * DAY - 30 * DAY),
            confidence: Some(60),
            ..Provenance::default()
        };
        assert!((s.score(&old) - 30.0).abs() < 1e-9);
        assert!(!s.below(s.score(&old)));
        let reported = Provenance {
            false_positives: 2,
            ..fresh.clone()
        };
        assert_eq!(s.score(&reported), 20.0);
        assert!(s.below(20.0));
        // Without decay, time does not count; reports still do.
        let flat = Scoring { decay: false, ..s };
        assert_eq!(flat.score(&old), 60.0);
        assert_eq!(flat.score(&reported), 20.0);
    }
}
