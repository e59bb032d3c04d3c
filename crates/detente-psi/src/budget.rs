//! Per-peer item budget over a sliding window.
//!
//! Each PSI session costs the answerer |X| + |Y| group operations (fresh keys mean nothing is
//! reused), and each querier item is one membership probe. Charging both per session, per
//! peer, over a sliding window stops many small sessions from adding up to an enumeration of
//! a low-entropy space (all of IPv4 is only 2^32 probes). The clock is passed in, so this is
//! pure and testable: `now` is any monotonic duration since an origin the caller fixes.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Duration;

use thiserror::Error;

/// A charge that the budget cannot take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BudgetError {
    /// The window is full; enough of it frees up after `retry_after`.
    #[error("item budget exhausted ({used} of {limit} items used in the window); retry in {}s", retry_after.as_secs_f64().ceil())]
    Exhausted {
        /// Items already charged in the current window.
        used: u64,
        /// Budget per window.
        limit: u64,
        /// Wait until the charge would fit.
        retry_after: Duration,
    },
    /// The charge alone exceeds the whole budget; waiting does not help.
    #[error("session costs {cost} items, more than the whole budget of {limit} per window")]
    ExceedsBudget {
        /// Items this session would cost.
        cost: u64,
        /// Budget per window.
        limit: u64,
    },
}

/// Whether a charge of `cost` fits a budget of `limit` items per `window` whose peer was
/// charged `charges` (time, items; oldest first; all within the window ending at `now`), or
/// else when it will: the one rule of the budget, whoever keeps the charges (this crate's
/// [`SlidingWindowBudget`] in memory, or a node's database).
pub fn fits(
    charges: &[(Duration, u64)],
    cost: u64,
    limit: u64,
    window: Duration,
    now: Duration,
) -> Result<(), BudgetError> {
    if cost > limit {
        return Err(BudgetError::ExceedsBudget { cost, limit });
    }
    let used = charges
        .iter()
        .fold(0u64, |sum, &(_, c)| sum.saturating_add(c));
    if used.saturating_add(cost) <= limit {
        return Ok(());
    }
    // The oldest charges expire first: find the one whose expiry makes room.
    let mut remaining = used;
    let mut retry_after = window;
    for &(at, c) in charges {
        remaining = remaining.saturating_sub(c);
        if remaining.saturating_add(cost) <= limit {
            retry_after = (at + window).saturating_sub(now);
            break;
        }
    }
    Err(BudgetError::Exhausted {
        used,
        limit,
        retry_after,
    })
}

/// Sliding-window budgets, one per peer key.
#[derive(Debug, Clone)]
pub struct SlidingWindowBudget<K> {
    limit: u64,
    window: Duration,
    charges: HashMap<K, VecDeque<(Duration, u64)>>,
}

impl<K: Eq + Hash + Clone> SlidingWindowBudget<K> {
    /// A budget of `limit` items per peer within any `window`.
    pub fn new(limit: u64, window: Duration) -> Self {
        SlidingWindowBudget {
            limit,
            window,
            charges: HashMap::new(),
        }
    }

    /// Items `peer` has been charged within the window ending at `now`.
    pub fn used(&mut self, peer: &K, now: Duration) -> u64 {
        self.expire(now);
        self.charges
            .get(peer)
            .map_or(0, |q| q.iter().map(|&(_, c)| c).sum())
    }

    /// Charges `cost` items to `peer` at `now`, or says when to retry.
    pub fn charge(&mut self, peer: &K, cost: u64, now: Duration) -> Result<(), BudgetError> {
        self.check(peer, cost, now)?;
        self.charges
            .entry(peer.clone())
            .or_default()
            .push_back((now, cost));
        Ok(())
    }

    /// What [`SlidingWindowBudget::charge`] would answer, without charging anything.
    pub fn check(&mut self, peer: &K, cost: u64, now: Duration) -> Result<(), BudgetError> {
        self.expire(now);
        let charges: Vec<(Duration, u64)> = self
            .charges
            .get(peer)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default();
        fits(&charges, cost, self.limit, self.window, now)
    }

    /// Drops charges that have left the window (and peers with none left).
    fn expire(&mut self, now: Duration) {
        let window = self.window;
        self.charges.retain(|_, queue| {
            while queue.front().is_some_and(|&(at, _)| at + window <= now) {
                queue.pop_front();
            }
            !queue.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn charges_accumulate_until_the_limit() {
        let mut b = SlidingWindowBudget::new(100, S(60));
        b.charge(&"peer", 60, S(0)).unwrap();
        b.charge(&"peer", 40, S(10)).unwrap();
        assert_eq!(
            b.charge(&"peer", 1, S(20)),
            Err(BudgetError::Exhausted {
                used: 100,
                limit: 100,
                retry_after: S(40)
            })
        );
        // Another peer has its own budget.
        b.charge(&"other", 100, S(20)).unwrap();
    }

    #[test]
    fn window_slides() {
        let mut b = SlidingWindowBudget::new(100, S(60));
        b.charge(&1, 60, S(0)).unwrap();
        b.charge(&1, 40, S(30)).unwrap();
        // Needs 50: the first charge (60) must expire, at t = 60.
        assert!(matches!(
            b.charge(&1, 50, S(45)),
            Err(BudgetError::Exhausted { retry_after, .. }) if retry_after == S(15)
        ));
        b.charge(&1, 50, S(60)).unwrap();
        assert_eq!(b.used(&1, S(60)), 90);
        assert_eq!(b.used(&1, S(120)), 0);
    }

    #[test]
    fn oversized_charge_is_refused_outright() {
        let mut b = SlidingWindowBudget::new(10, S(60));
        assert_eq!(
            b.charge(&"p", 11, S(0)),
            Err(BudgetError::ExceedsBudget {
                cost: 11,
                limit: 10
            })
        );
        assert_eq!(b.used(&"p", S(0)), 0);
    }

    #[test]
    fn fits_decides_over_charges_kept_elsewhere() {
        let charges = [(S(0), 60), (S(30), 40)];
        assert_eq!(fits(&charges, 0, 100, S(60), S(45)), Ok(()));
        assert_eq!(
            fits(&charges, 50, 100, S(60), S(45)),
            Err(BudgetError::Exhausted {
                used: 100,
                limit: 100,
                retry_after: S(15)
            })
        );
        assert_eq!(fits(&charges[1..], 50, 100, S(60), S(45)), Ok(()));
        assert_eq!(
            fits(&[], 101, 100, S(60), S(0)),
            Err(BudgetError::ExceedsBudget {
                cost: 101,
                limit: 100
            })
        );
    }
}
