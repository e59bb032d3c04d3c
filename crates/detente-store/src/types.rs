//! Domain types shared by the server and every backend.

use std::fmt;
use std::str::FromStr;

/// The one TLP level type: object versions carry one, clearances are built on it.
pub use detente_stix::tlp::Tlp;

use crate::StoreError;

/// A member's numeric id.
pub type MemberId = i64;

/// What a member may do across the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads and writes every collection and manages members.
    Admin,
    /// Reads, writes and deletes where granted.
    Contributor,
    /// Only reads where granted.
    Reader,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Contributor => "contributor",
            Role::Reader => "reader",
        }
    }
}

impl FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "admin" => Ok(Role::Admin),
            "contributor" => Ok(Role::Contributor),
            "reader" => Ok(Role::Reader),
            _ => Err(StoreError::Invalid(format!(
                "unknown role {s:?} (expected admin, contributor or reader)"
            ))),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The highest TLP level a member may read: a [`Tlp`] below RED (TLP:RED goes by
/// contributor and recipients instead). Kept as its level's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Clearance(Tlp);

impl Clearance {
    /// TLP:CLEAR only.
    pub const CLEAR: Clearance = Clearance(Tlp::Clear);
    /// Up to TLP:GREEN (the default).
    pub const GREEN: Clearance = Clearance(Tlp::Green);
    /// Up to TLP:AMBER.
    pub const AMBER: Clearance = Clearance(Tlp::Amber);
    /// Up to TLP:AMBER+STRICT.
    pub const AMBER_STRICT: Clearance = Clearance(Tlp::AmberStrict);

    /// The clearance up to `level`; `None` for TLP:RED, which no clearance grants.
    pub fn new(level: Tlp) -> Option<Clearance> {
        (level < Tlp::Red).then_some(Clearance(level))
    }

    /// The highest level this clearance reads.
    pub fn level(self) -> Tlp {
        self.0
    }

    /// The clearance's name (its level's).
    pub fn as_str(self) -> &'static str {
        self.0.as_str()
    }
}

impl FromStr for Clearance {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        let unknown = || {
            StoreError::Invalid(format!(
                "unknown clearance {s:?} (expected clear, green, amber or amber+strict)"
            ))
        };
        s.parse::<Tlp>()
            .ok()
            .and_then(Clearance::new)
            .ok_or_else(unknown)
    }
}

impl fmt::Display for Clearance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The level of a stored TLP rank ([`Tlp::rank`]); a number no level has is refused rather
/// than read as any level, so a damaged row is never shown.
pub fn tlp_from_stored(rank: i64) -> Result<Tlp, StoreError> {
    u8::try_from(rank)
        .ok()
        .and_then(Tlp::from_rank)
        .ok_or_else(|| StoreError::Backend(format!("stored TLP rank {rank} names no level")))
}

/// A member's access to one collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// May read.
    Read,
    /// May write.
    Write,
    /// May read and write.
    ReadWrite,
    /// May only run PSI sessions against the collection (no object reads).
    Psi,
    /// May read and run PSI sessions.
    ReadPsi,
    /// May write and run PSI sessions.
    WritePsi,
    /// May read, write and run PSI sessions.
    ReadWritePsi,
}

impl Access {
    /// The grant's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::ReadWrite => "read-write",
            Access::Psi => "psi",
            Access::ReadPsi => "read+psi",
            Access::WritePsi => "write+psi",
            Access::ReadWritePsi => "read-write+psi",
        }
    }
    /// Whether it allows reading.
    pub fn read(self) -> bool {
        matches!(
            self,
            Access::Read | Access::ReadWrite | Access::ReadPsi | Access::ReadWritePsi
        )
    }
    /// Whether it allows writing.
    pub fn write(self) -> bool {
        matches!(
            self,
            Access::Write | Access::ReadWrite | Access::WritePsi | Access::ReadWritePsi
        )
    }
    /// Whether it allows private set intersection sessions against the collection.
    pub fn psi(self) -> bool {
        matches!(
            self,
            Access::Psi | Access::ReadPsi | Access::WritePsi | Access::ReadWritePsi
        )
    }
    /// The grant with exactly these permissions, if any (at least one must be set).
    pub fn from_parts(read: bool, write: bool, psi: bool) -> Option<Access> {
        Some(match (read, write, psi) {
            (true, false, false) => Access::Read,
            (false, true, false) => Access::Write,
            (true, true, false) => Access::ReadWrite,
            (false, false, true) => Access::Psi,
            (true, false, true) => Access::ReadPsi,
            (false, true, true) => Access::WritePsi,
            (true, true, true) => Access::ReadWritePsi,
            (false, false, false) => return None,
        })
    }
}

impl FromStr for Access {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        // A grant is `+`-joined parts: `read`, `write`, `read-write` and `psi`.
        let bad = || {
            StoreError::Invalid(format!(
                "unknown access {s:?} (expected read, write, read-write or psi, or a `+` \
                 combination such as read+psi)"
            ))
        };
        let (mut read, mut write, mut psi) = (false, false, false);
        for part in s.split('+') {
            match part {
                "read" => read = true,
                "write" => write = true,
                "read-write" => (read, write) = (true, true),
                "psi" => psi = true,
                _ => return Err(bad()),
            }
        }
        Access::from_parts(read, write, psi).ok_or_else(bad)
    }
}

/// A member as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Numeric id, never reused.
    pub id: MemberId,
    /// Unique name (the Basic-auth user name).
    pub name: String,
    /// Role.
    pub role: Role,
    /// TLP clearance.
    pub clearance: Clearance,
    /// Disabled members cannot authenticate.
    pub disabled: bool,
    /// Argon2 PHC string of the secret.
    pub secret_hash: String,
}

/// A member to add.
#[derive(Debug, Clone)]
pub struct NewMember {
    /// Unique name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// TLP clearance.
    pub clearance: Clearance,
    /// Argon2 PHC string of the secret.
    pub secret_hash: String,
}

impl NewMember {
    /// The member as a backend stored it under `id` (enabled, as every member starts).
    pub fn stored(&self, id: MemberId) -> Member {
        Member {
            id,
            name: self.name.clone(),
            role: self.role,
            clearance: self.clearance,
            disabled: false,
            secret_hash: self.secret_hash.clone(),
        }
    }
}

/// A bearer token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Public token id (part of the token string).
    pub id: String,
    /// Owner.
    pub member: MemberId,
    /// Argon2 PHC string of the token's secret part.
    pub secret_hash: String,
    /// Revoked tokens no longer authenticate.
    pub revoked: bool,
}

/// An API root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRootRecord {
    /// Path, starting and ending with `/`.
    pub path: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
}

/// A collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionRecord {
    /// UUID.
    pub id: String,
    /// Path of its API root.
    pub api_root: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Alias, unique within the API root.
    pub alias: Option<String>,
    /// Objects posted here must carry a valid contributor signature (issue 13).
    pub require_signatures: bool,
}

/// One validated object version to store.
#[derive(Debug, Clone)]
pub struct NewObject {
    /// STIX id.
    pub id: String,
    /// STIX type.
    pub object_type: String,
    /// `spec_version` (`2.1` when absent).
    pub spec_version: String,
    /// The version as given (`modified`, else `created`); `None` for unversioned objects,
    /// whose version is their `date_added`.
    pub version: Option<String>,
    /// The version in microseconds since the epoch (the identity of a version).
    pub version_micros: Option<i64>,
    /// TLP level from the object's markings (unmarked is TLP:CLEAR); stored as [`Tlp::rank`].
    pub tlp: Tlp,
    /// For TLP:RED, the member names the object names as recipients.
    pub recipients: Vec<String>,
    /// The object's JSON text, byte for byte as received.
    pub body: String,
}

/// An envelope to store, with what the server already refused from it.
#[derive(Debug, Clone)]
pub struct IngestBatch {
    /// Target collection.
    pub collection: String,
    /// Who posted it.
    pub contributor: MemberId,
    /// Id of the status record to write.
    pub status_id: String,
    /// When the request arrived, µs since the epoch.
    pub request_timestamp: i64,
    /// Objects that passed validation, in envelope order.
    pub objects: Vec<NewObject>,
    /// Objects refused before storage (id, version, reason).
    pub failures: Vec<StatusDetail>,
}

/// What happened to one object of an [`IngestBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// A new version was stored with this `date_added` (µs).
    Stored {
        /// Its `date_added`.
        date_added: i64,
    },
    /// The same version was already stored with identical content; nothing changed. For a
    /// value-identified object, `date_added` is the poster's own copy's (else 0).
    Duplicate {
        /// The `date_added` of the poster's identical copy (value-identified objects).
        date_added: i64,
    },
    /// The poster already stored a different object with this id and version; refused.
    Conflict,
    /// The object belongs to another member ([`crate::rules::NOT_OWNER`]); refused.
    NotOwner,
}

/// The result of [`crate::Store::ingest`].
#[derive(Debug, Clone)]
pub struct IngestReport {
    /// One outcome per object, in batch order.
    pub outcomes: Vec<IngestOutcome>,
    /// The status record written.
    pub status: StatusRecord,
}

/// One entry of a status record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusDetail {
    /// Object id.
    pub id: String,
    /// Object version.
    pub version: String,
    /// Note or reason.
    pub message: Option<String>,
}

/// A status record of one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRecord {
    /// Status id.
    pub id: String,
    /// Who posted.
    pub member: MemberId,
    /// Which collection.
    pub collection: String,
    /// When the request arrived, µs.
    pub request_timestamp: i64,
    /// Stored or already present.
    pub successes: Vec<StatusDetail>,
    /// Refused.
    pub failures: Vec<StatusDetail>,
}

/// Who is asking: decides TLP visibility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// Member id (TLP:RED contributor check).
    pub member: MemberId,
    /// Member name (TLP:RED recipient check).
    pub name: String,
    /// Highest level visible whoever contributed it: a member's [`Clearance::level`], or
    /// TLP:RED for the node's own view of every version.
    pub clearance: Tlp,
}

/// Which versions of each object to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMatch {
    /// Every version.
    pub all: bool,
    /// The oldest.
    pub first: bool,
    /// The newest.
    pub last: bool,
    /// Exact versions (µs).
    pub exact: Vec<i64>,
}

/// A page query over one collection's object versions.
#[derive(Debug, Clone)]
pub struct ObjectQuery {
    /// Collection id.
    pub collection: String,
    /// Who is asking.
    pub viewer: Viewer,
    /// Only these STIX ids (any when empty).
    pub ids: Vec<String>,
    /// Only these types (any when empty).
    pub types: Vec<String>,
    /// Which versions.
    pub versions: VersionMatch,
    /// Only these spec versions; when empty, only the latest spec version held for each
    /// object (TAXII 2.1 `match[spec_version]` default).
    pub spec_versions: Vec<String>,
    /// Only `date_added` strictly after this (µs).
    pub added_after: Option<i64>,
    /// Paging position: only `date_added` strictly after this (µs).
    pub after: Option<i64>,
    /// Page size (≥ 1).
    pub limit: usize,
    /// A page stops before its rows (bodies, ids and a small per-row allowance) pass this many
    /// bytes, and then says `more`; it always holds at least one row.
    pub max_bytes: usize,
    /// Whether to return bodies (false for manifests and versions).
    pub with_body: bool,
}

/// One stored object version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// STIX id.
    pub id: String,
    /// `date_added`, µs.
    pub date_added: i64,
    /// Version string (`modified`/`created`; `None` if the object has neither).
    pub version: Option<String>,
    /// `spec_version`.
    pub spec_version: String,
    /// JSON text (empty unless requested).
    pub body: String,
}

/// A page of object versions.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Rows in ascending `date_added` order.
    pub items: Vec<StoredObject>,
    /// Whether more matching rows follow.
    pub more: bool,
}

impl Page {
    /// The page of `rows` (matching rows in ascending `date_added` order, at least one more
    /// than `limit` if there are) within `limit` rows and about `max_bytes` bytes, with at
    /// least one row when any matches.
    pub fn fill(
        rows: impl IntoIterator<Item = crate::Result<StoredObject>>,
        limit: usize,
        max_bytes: usize,
    ) -> crate::Result<Page> {
        let (mut items, mut bytes) = (Vec::new(), 0usize);
        for row in rows {
            let o = row?;
            let size = o.body.len() + o.id.len() + 64;
            if items.len() == limit || (!items.is_empty() && bytes + size > max_bytes) {
                return Ok(Page { items, more: true });
            }
            bytes += size;
            items.push(o);
        }
        Ok(Page { items, more: false })
    }
}

/// Whose versions [`crate::Store::delete_object`] may remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteScope {
    /// Only versions this member contributed and can see; the selection (`last`, `first`)
    /// is taken among those.
    Own(Viewer),
    /// Any version whatever its marking (an admin moderating), by the named member.
    Moderator(String),
}

impl DeleteScope {
    /// The name of the deleting member, as its tombstones record it.
    pub fn member_name(&self) -> &str {
        match self {
            DeleteScope::Own(v) => &v.name,
            DeleteScope::Moderator(n) => n,
        }
    }
}

/// An object version removed by [`crate::Store::delete_object`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedVersion {
    /// STIX id.
    pub id: String,
    /// Its `date_added`, µs.
    pub date_added: i64,
    /// Its version string.
    pub version: Option<String>,
}

/// The log entry of a stored object version: what a reader needs to recompute its leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectLogEntry {
    /// Log index.
    pub index: u64,
    /// The leaf bytes.
    pub leaf: Vec<u8>,
    /// The version's secret nonce.
    pub nonce: Vec<u8>,
    /// The contributing member's name as committed.
    pub contributor: String,
}

/// The log entry of a deleted object version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TombstoneLogEntry {
    /// Log index of the tombstone.
    pub index: u64,
    /// The leaf bytes.
    pub leaf: Vec<u8>,
    /// The tombstone's secret nonce.
    pub nonce: Vec<u8>,
    /// Deleted version string (empty for unversioned objects).
    pub version: String,
    /// The deleting member's name.
    pub member: String,
    /// Deletion time as committed (µs since the epoch, decimal).
    pub time: String,
    /// Log index of the deleted version's object entry.
    pub deleted_index: u64,
}

/// Which side of a private set intersection session a node was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsiRole {
    /// This node answered a member's session over one of its collections.
    Answerer,
    /// This node queried a peer.
    Querier,
}

impl PsiRole {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PsiRole::Answerer => "answerer",
            PsiRole::Querier => "querier",
        }
    }
}

impl FromStr for PsiRole {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "answerer" => Ok(PsiRole::Answerer),
            "querier" => Ok(PsiRole::Querier),
            _ => Err(StoreError::Invalid(format!("unknown PSI role {s:?}"))),
        }
    }
}

/// One audited PSI session. The answerer never learns the result, so its rows have no
/// `result_items`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsiSessionRecord {
    /// Row id, assigned by the store (ignored when recording).
    pub id: i64,
    /// When the session ended, µs since the epoch.
    pub time: i64,
    /// Which side this node was on.
    pub role: PsiRole,
    /// The session id in hex (both sides log it, so their rows can be matched); empty when
    /// the session broke off before it was known.
    pub session: String,
    /// The other party: the member name (answerer) or the peer URL (querier).
    pub peer: String,
    /// The collection queried (on the answering node).
    pub collection: String,
    /// `intersection` or `count-only`.
    pub mode: String,
    /// This node's set size, if it got that far.
    pub own_items: Option<u64>,
    /// The other party's set size, if known.
    pub peer_items: Option<u64>,
    /// The querier's result size (intersection or count); always `None` on the answerer.
    pub result_items: Option<u64>,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Wall time, µs.
    pub duration_micros: u64,
    /// `ok`, or `refused: REASON` / `failed: REASON`.
    pub outcome: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_names_round_trip_and_combine() {
        for a in [
            Access::Read,
            Access::Write,
            Access::ReadWrite,
            Access::Psi,
            Access::ReadPsi,
            Access::WritePsi,
            Access::ReadWritePsi,
        ] {
            assert_eq!(a.as_str().parse::<Access>().unwrap(), a);
        }
        assert_eq!("psi+read".parse::<Access>().unwrap(), Access::ReadPsi);
        assert_eq!("read+write".parse::<Access>().unwrap(), Access::ReadWrite);
        let psi: Access = "psi".parse().unwrap();
        assert!(psi.psi() && !psi.read() && !psi.write());
        assert!(!Access::ReadWrite.psi());
        for bad in ["", "psi+", "admin", "read+admin", "+"] {
            assert!(bad.parse::<Access>().is_err(), "{bad}");
        }
    }

    #[test]
    fn clearances_are_levels_below_red() {
        for c in [
            Clearance::CLEAR,
            Clearance::GREEN,
            Clearance::AMBER,
            Clearance::AMBER_STRICT,
        ] {
            assert_eq!(c.as_str().parse::<Clearance>().unwrap(), c);
            assert_eq!(Clearance::new(c.level()), Some(c));
        }
        assert_eq!("white".parse::<Clearance>().unwrap(), Clearance::CLEAR);
        // RED goes by recipients: no clearance grants it, and it is not stored as one.
        assert_eq!(Clearance::new(Tlp::Red), None);
        assert!("red".parse::<Clearance>().is_err());
        assert!("purple".parse::<Clearance>().is_err());
        assert!(Clearance::GREEN.level() < Clearance::AMBER.level());
    }

    #[test]
    fn stored_ranks_are_the_levels_and_nothing_else() {
        assert_eq!(tlp_from_stored(0).unwrap(), Tlp::Clear);
        assert_eq!(tlp_from_stored(4).unwrap(), Tlp::Red);
        for bad in [-1, 5, 255, 256, i64::MAX] {
            assert!(tlp_from_stored(bad).is_err(), "{bad}");
        }
    }
}
