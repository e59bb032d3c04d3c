//! What the node flags at ingest (issues 14 and 16): the MISP warninglists and the protected
//! assets configured per node or per collection, and the flags it wrote. See `docs/assets.md`.

use std::fmt;
use std::str::FromStr;

use crate::{StoreError, Tlp};

/// What a warninglist match means for the readers of a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagAction {
    /// Hits on the indicator are to be reported as `inform`, not `alert`.
    Inform,
    /// Hits on the indicator are not to be reported at all.
    Suppress,
}

impl FlagAction {
    /// The action's name.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagAction::Inform => "inform",
            FlagAction::Suppress => "suppress",
        }
    }
}

impl FromStr for FlagAction {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "inform" => Ok(FlagAction::Inform),
            "suppress" => Ok(FlagAction::Suppress),
            _ => Err(StoreError::Invalid(format!(
                "unknown action {s:?} (expected inform or suppress)"
            ))),
        }
    }
}

impl fmt::Display for FlagAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A MISP warninglist configured on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarninglistRecord {
    /// The name it is selected by (its folder in a MISP checkout, else as given).
    pub key: String,
    /// The collection it applies to; `None`: every collection of the node.
    pub collection: Option<String>,
    /// What a match means.
    pub action: FlagAction,
    /// The `list.json` text, as given.
    pub body: String,
    /// When it was added, µs since the epoch (ignored when adding).
    pub added: i64,
}

/// The kinds of protected asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AssetKind {
    /// A domain name (and, unless said otherwise, its subdomains).
    Domain,
    /// An IPv4 or IPv6 range.
    Cidr,
    /// A named organisation.
    Org,
}

impl AssetKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Domain => "domain",
            AssetKind::Cidr => "cidr",
            AssetKind::Org => "org",
        }
    }
}

impl FromStr for AssetKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "domain" => Ok(AssetKind::Domain),
            "cidr" => Ok(AssetKind::Cidr),
            "org" => Ok(AssetKind::Org),
            _ => Err(StoreError::Invalid(format!(
                "unknown asset kind {s:?} (expected domain, cidr or org)"
            ))),
        }
    }
}

impl fmt::Display for AssetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protected asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRecord {
    /// What it is.
    pub kind: AssetKind,
    /// The domain (lower case, no outer dots), the range (`addr/len`) or the name.
    pub value: String,
    /// For a domain: whether its subdomains are protected too.
    pub subdomains: bool,
    /// The collection it applies to; `None`: every collection of the node.
    pub collection: Option<String>,
    /// When it was added, µs since the epoch (ignored when adding).
    pub added: i64,
}

/// A flag the node wrote at ingest: one note about one indicator version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagRecord {
    /// Row id, assigned by the store (ignored when recording).
    pub id: i64,
    /// The collection of the indicator and its note.
    pub collection: String,
    /// The note's STIX id.
    pub note_id: String,
    /// The flagged indicator's STIX id.
    pub indicator_id: String,
    /// The flagged indicator's version (`modified`, else `created`).
    pub indicator_version: String,
    /// The member who posted the indicator.
    pub contributor: String,
    /// The indicator's (and so the note's) TLP level.
    pub tlp: Tlp,
    /// The matches, as the JSON array the note carries in `x_detente_flags`.
    pub matches: String,
    /// When it was written, µs since the epoch.
    pub created: i64,
}
