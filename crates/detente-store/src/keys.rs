//! Contributor key bindings (issue 13): which verifier key signs for which member. Every
//! binding and rotation is a leaf of the node's transparency log, so a swapped key is public.

/// One binding of a member to a contributor verifier key, with its log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBindingRecord {
    /// The member's name.
    pub member: String,
    /// The verifier key (`name+hex+base64`, C2SP note key of type 0x01).
    pub vkey: String,
    /// When it was bound, µs since the epoch in decimal (as committed in the leaf).
    pub time: String,
    /// The entry's secret nonce.
    pub nonce: Vec<u8>,
    /// Log index of the binding's entry.
    pub log_index: u64,
    /// The leaf bytes.
    pub leaf: Vec<u8>,
    /// Log index of the member's next binding, which replaced this one; `None` while current.
    pub superseded_by: Option<u64>,
}
