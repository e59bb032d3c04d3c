//! PSI abuse limits held in the store, so that every node on one database charges a member
//! against one budget and refuses a session id any of them has answered ([`Store::psi_charge`]).
//!
//! [`Store::psi_charge`]: crate::Store::psi_charge

/// A PSI session's claim on its member's item budget, made once its cost is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsiCharge {
    /// The budget's key (the answering node's name for the member).
    pub peer: String,
    /// The session id (hex): recorded when charged, refused if recorded before.
    pub session: String,
    /// Items the session costs (|X| + |Y|).
    pub cost: u64,
    /// Items per window; `None`: no budget, only the replay refusal.
    pub limit: Option<u64>,
    /// Length of the sliding window, µs.
    pub window_micros: i64,
    /// Now, µs since the epoch (the window is the `window_micros` before it).
    pub at: i64,
    /// Only say what charging would answer: record nothing (a session is refused from its
    /// header, before the answerer's set is built, when even its querier set cannot fit).
    pub dry_run: bool,
}

impl PsiCharge {
    /// Charges made strictly after this time are in the window.
    pub fn window_start(&self) -> i64 {
        self.at.saturating_sub(self.window_micros)
    }
}

/// What [`crate::Store::psi_charge`] answered; when refused, nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PsiChargeOutcome {
    /// Charged, and the session id recorded (or, on a dry run, would have been).
    Charged,
    /// The session id was recorded before (by any node): a replay.
    Replayed,
    /// The window cannot take the cost: the peer's charges in it, (µs, items), oldest first,
    /// to tell when it will.
    Exhausted {
        /// The charges in the window.
        charges: Vec<(i64, u64)>,
    },
}

/// The decision every backend makes under its lock, from whether the session id is
/// recorded and the peer's `charges` within the window (oldest first).
pub fn decide_psi_charge(
    charge: &PsiCharge,
    replayed: bool,
    charges: Vec<(i64, u64)>,
) -> PsiChargeOutcome {
    if replayed {
        return PsiChargeOutcome::Replayed;
    }
    let Some(limit) = charge.limit else {
        return PsiChargeOutcome::Charged;
    };
    let used = charges
        .iter()
        .fold(0u64, |sum, &(_, c)| sum.saturating_add(c));
    if used.saturating_add(charge.cost) <= limit {
        PsiChargeOutcome::Charged
    } else {
        PsiChargeOutcome::Exhausted { charges }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(cost: u64, limit: Option<u64>) -> PsiCharge {
        PsiCharge {
            peer: "p".into(),
            session: "s".into(),
            cost,
            limit,
            window_micros: 60,
            at: 100,
            dry_run: false,
        }
    }

    #[test]
    fn replay_first_then_the_limit() {
        let held = vec![(50, 60), (70, 40)];
        assert_eq!(
            decide_psi_charge(&charge(0, Some(100)), true, vec![]),
            PsiChargeOutcome::Replayed
        );
        assert_eq!(
            decide_psi_charge(&charge(0, Some(100)), false, held.clone()),
            PsiChargeOutcome::Charged
        );
        assert_eq!(
            decide_psi_charge(&charge(1, Some(100)), false, held.clone()),
            PsiChargeOutcome::Exhausted {
                charges: held.clone()
            }
        );
        assert_eq!(
            decide_psi_charge(&charge(u64::MAX, None), false, held),
            PsiChargeOutcome::Charged
        );
        assert_eq!(charge(0, None).window_start(), 40);
    }
}
