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

/// A partner's key binding, proven against the partner's log, as this node records it. It is
/// published (an entry of this node's log binding `member`, a name no local member can hold,
/// served by `/log/keys`) once an object its member signed is mirrored here, so this node's
/// members learn only the partner members whose signatures they may meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerKeyBinding {
    /// The name this node's log entry binds (`peer:PARTNER/NAME`, built by the caller).
    pub member: String,
    /// The member's name as the partner's log commits it.
    pub partner_member: String,
    /// The verifier key bound.
    pub vkey: String,
    /// The index of the binding's entry in the partner's log.
    pub partner_index: u64,
    /// The index of this node's entry for it, once published (ignored when recording).
    pub log_index: Option<u64>,
}
