//! Private set intersection (PSI) between two parties that do not trust each other, by
//! ECDH over ristretto255.
//!
//! The *querier* holds a set X and learns X ∩ Y (intersection mode) or only |X ∩ Y|
//! (count-only mode); the *answerer* holds Y and learns only |X|. Both set sizes are public.
//! The crate is pure: [`normalize`] canonicalises indicator values, [`protocol`] holds the two
//! parties as state machines without I/O (randomness is passed in), [`codec`] the wire
//! messages, [`budget`] the per-peer sliding-window budget. Transport lives elsewhere.
//!
//! # What each mode protects against
//!
//! Both modes are secure only against a **semi-honest querier**, one that follows the protocol
//! and then tries to learn more from what it saw:
//!
//! * **Intersection mode**: the querier learns which of its own items the answerer holds,
//!   and nothing about the answerer's other items (they arrive as truncated hashes of points
//!   blinded by a fresh key that never leaves the answerer). The answerer sees |X| points
//!   blinded by the querier's fresh key: it learns |X| and nothing about the items.
//! * **Count-only mode**: the answerer sorts the double-blinded points before returning them,
//!   so a semi-honest querier cannot tell which of its items matched, only how many.
//!
//! Neither mode stops a **malicious querier**. It can blind every item with its own key
//! (per-item blinding), which undoes the count-only shuffle and reveals exactly which items
//! matched; and it can pad its set with guesses, so every session is a batch of membership
//! probes. That is why the answerer enforces a hard cap on |X| (checked from the request
//! header before any group operation, see [`protocol::accept`]) and a per-peer budget
//! ([`budget::SlidingWindowBudget`]) charging |X| + |Y| per session, and refuses replayed
//! session ids ([`protocol::ReplayGuard`]). Nor does anything here stop a **malicious
//! answerer** from using different keys for different points to make the querier's result
//! wrong; that would need DLEQ proofs (a verifiable OPRF), which this crate does not do.
//!
//! # False matches
//!
//! The answerer's set travels as tags of ℓ bytes with 8ℓ ≥ 40 + log₂|X| + log₂|Y|; the
//! probability that any querier item falsely matches is at most |X|·|Y|·2^-8ℓ ≤ 2^-40
//! (see [`protocol::tag_len_for`]).
//!
//! Per-process state: none; its parallel loops run on the caller's rayon pool.

pub mod budget;
pub mod codec;
pub mod items;
pub mod normalize;
pub mod protocol;

pub use budget::{BudgetError, SlidingWindowBudget, fits};
pub use codec::{DecodeError, Mode, Request, RequestHeader, Response, SessionId};
pub use items::ItemSet;
pub use normalize::{NormalizeError, normalize};
pub use protocol::{
    AcceptedSession, AnswererPolicy, Outcome, Progress, ProtocolError, Querier, ReplayGuard, accept,
};
