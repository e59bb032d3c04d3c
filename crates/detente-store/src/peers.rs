//! Records of federation (issue 13): the partner nodes this node mirrors from, what it has
//! verified of each partner's transparency log, the mirrors of partner collections into local
//! ones, and the provenance kept beside every mirrored object version.

use std::collections::HashSet;

use crate::{IngestBatch, IngestOutcome, MemberId, NewMember, NewObject, TombstoneLogEntry};

/// A partner node to add.
#[derive(Debug, Clone)]
pub struct NewPeer {
    /// Local name of the partner (`[A-Za-z0-9._-]`, 1–64).
    pub name: String,
    /// The partner's base URL (discovery and `/log/` live under it).
    pub url: String,
    /// The partner's log verifier key (`name+hex+base64`), pinned.
    pub log_key: String,
    /// Witness keys whose cosignatures count towards `quorum`.
    pub witnesses: Vec<String>,
    /// Valid witness cosignatures a partner checkpoint needs (0: none).
    pub quorum: u32,
    /// The `Authorization` header value this node sends to the partner (it is a member there).
    pub authorization: String,
    /// A PEM certificate to trust for the partner's TLS, if any.
    pub ca_cert: Option<String>,
    /// The local member that contributes the partner's mirrored versions (disabled: nobody
    /// logs in as it); created with the peer.
    pub identity: NewMember,
}

impl NewPeer {
    /// The partner as a backend stored it, contributed by `member` (no checkpoint accepted yet).
    pub fn stored(&self, member: MemberId) -> PeerRecord {
        PeerRecord {
            name: self.name.clone(),
            url: self.url.clone(),
            log_key: self.log_key.clone(),
            witnesses: self.witnesses.clone(),
            quorum: self.quorum,
            authorization: self.authorization.clone(),
            ca_cert: self.ca_cert.clone(),
            member,
            log: None,
        }
    }
}

/// A partner node as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// Local name.
    pub name: String,
    /// Base URL.
    pub url: String,
    /// Pinned log key.
    pub log_key: String,
    /// Witness keys.
    pub witnesses: Vec<String>,
    /// Witness quorum.
    pub quorum: u32,
    /// The `Authorization` header value for the partner.
    pub authorization: String,
    /// Trusted PEM certificate.
    pub ca_cert: Option<String>,
    /// The local member contributing the mirrored versions.
    pub member: MemberId,
    /// The partner checkpoint last accepted, if any.
    pub log: Option<PeerLog>,
}

/// A partner checkpoint this node verified and accepted, with the tree's right edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerLog {
    /// Tree size.
    pub size: u64,
    /// Root hash (32 bytes).
    pub root: Vec<u8>,
    /// The signed checkpoint note as the partner served it.
    pub note: Vec<u8>,
    /// The tree's partial tiles (opaque to the store; the syncing code encodes them).
    pub frontier: Vec<u8>,
}

/// One partner collection mirrored into a local one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorRecord {
    /// Row id.
    pub id: i64,
    /// The partner's local name.
    pub peer: String,
    /// The partner's collection id.
    pub remote_collection: String,
    /// The local collection id.
    pub local_collection: String,
    /// Paging position in the partner's objects: its last `date_added` applied (µs; 0 none).
    pub objects_after: i64,
    /// Paging position in the partner's tombstones: its last tombstone log index applied
    /// (-1: none).
    pub tombstones_after: i64,
}

/// One verified partner object version to store.
#[derive(Debug, Clone)]
pub struct MirroredObject {
    /// The object, bytes as the partner served them.
    pub object: NewObject,
    /// The RFC 8785 form of `object.body`, as the verifier computed it to check the partner's
    /// entry: this node's own entry commits to it without canonicalizing the object again.
    pub canonical: Vec<u8>,
    /// Its entry's index in the partner's log.
    pub partner_index: u64,
    /// The contributor the partner's log entry names.
    pub partner_contributor: String,
    /// Its `date_added` on the partner (µs).
    pub partner_date_added: i64,
}

/// One page of a mirror, applied in one transaction with the mirror's new positions.
#[derive(Debug, Clone)]
pub struct MirrorPage {
    /// The mirror.
    pub mirror: i64,
    /// The positions the mirror must have now (objects, tombstones): a compare-and-set, so
    /// two syncs of the same mirror never both apply a page.
    pub expected: (i64, i64),
    /// The positions after this page.
    pub next: (i64, i64),
    /// Partner log indices of deleted versions (verified tombstones), applied first.
    pub deleted: Vec<u64>,
    /// Verified object versions, in the partner's order.
    pub objects: Vec<MirroredObject>,
}

impl MirrorPage {
    /// The page's objects as one ingest batch into `collection` by `contributor` (the peer's
    /// identity member), with their RFC 8785 forms in order.
    pub fn batch(&self, collection: &str, contributor: MemberId) -> (IngestBatch, Vec<&[u8]>) {
        let batch = IngestBatch {
            collection: collection.to_owned(),
            contributor,
            status_id: String::new(),
            request_timestamp: 0,
            objects: self.objects.iter().map(|m| m.object.clone()).collect(),
            failures: Vec::new(),
        };
        let canonical = self
            .objects
            .iter()
            .map(|m| m.canonical.as_slice())
            .collect();
        (batch, canonical)
    }
}

/// What applying a [`MirrorPage`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorApplied {
    /// Ids of objects stored whose id was new to the local collection.
    pub new: Vec<String>,
    /// Ids of new versions of objects already held.
    pub updated: Vec<String>,
    /// Ids of local mirrored versions removed by partner tombstones.
    pub deleted: Vec<String>,
    /// Versions identical to one already held.
    pub unchanged: u64,
    /// Object versions the local ingest rules refused: (id, reason).
    pub refused: Vec<(String, String)>,
}

impl MirrorApplied {
    /// Counts what ingesting `m` did: `held_before` says whether the local collection held its
    /// id before the page, `seen` collects the ids this page stored so far (a second version
    /// of one id in a page is an update).
    pub fn record(
        &mut self,
        m: &MirroredObject,
        outcome: &IngestOutcome,
        held_before: bool,
        seen: &mut HashSet<String>,
    ) {
        match outcome {
            IngestOutcome::Stored { .. } => {
                if held_before || !seen.insert(m.object.id.clone()) {
                    self.updated.push(m.object.id.clone());
                } else {
                    self.new.push(m.object.id.clone());
                }
            }
            IngestOutcome::Duplicate { .. } => self.unchanged += 1,
            refused => {
                let (_, d) = crate::rules::status_detail(&m.object, refused);
                self.refused
                    .push((m.object.id.clone(), d.message.unwrap_or_default()));
            }
        }
    }
}

/// Where a mirrored object version came from, kept beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// Its local `date_added`.
    pub date_added: i64,
    /// The partner's local name.
    pub peer: String,
    /// Its entry's index in the partner's log.
    pub partner_index: u64,
    /// The contributor the partner's log names.
    pub partner_contributor: String,
    /// Its `date_added` on the partner (µs).
    pub partner_date_added: i64,
}

/// A tombstone of a collection with the object it deleted, for the tombstone feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TombstoneFeedEntry {
    /// The deleted object's id.
    pub object_id: String,
    /// The tombstone's log entry.
    pub entry: TombstoneLogEntry,
}
