//! Records of witnessing: the logs this node witnesses and what it cosigned for them, the
//! evidence of logs caught equivocating, and the witnesses of this node's own log.

/// A log key this node's witness trusts for an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedLog {
    /// The checkpoint origin the key signs for.
    pub origin: String,
    /// The log's verifier key (`name+hex+base64`).
    pub vkey: String,
    /// When it was trusted, µs since the epoch.
    pub added: i64,
}

/// The checkpoint this node's witness last cosigned for an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessState {
    /// The log's origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash (32 bytes).
    pub root: Vec<u8>,
    /// The signed checkpoint note as the log sent it.
    pub note: Vec<u8>,
    /// When it was cosigned, µs since the epoch.
    pub updated: i64,
}

/// One compare-and-set of a witness state: store `new` if the origin's state is `expected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessAdvance {
    /// The (size, root) the state must have now; `None`: the origin has no state yet.
    pub expected: Option<(u64, Vec<u8>)>,
    /// The state to store.
    pub new: WitnessState,
}

/// A checkpoint that contradicts one the witness cosigned: both notes, verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessEvidence {
    /// The log's origin.
    pub origin: String,
    /// The note the witness had cosigned.
    pub cosigned: Vec<u8>,
    /// The note that contradicts it.
    pub conflicting: Vec<u8>,
    /// Why they conflict.
    pub reason: String,
    /// When the conflict was first seen, µs since the epoch.
    pub seen: i64,
}

/// A witness of this node's own log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogWitness {
    /// The witness node's base URL (`add-checkpoint` is under `URL/witness/`).
    pub url: String,
    /// The witness's cosignature verifier key (`name+hex+base64`).
    pub vkey: String,
    /// When it was registered, µs since the epoch.
    pub added: i64,
}
