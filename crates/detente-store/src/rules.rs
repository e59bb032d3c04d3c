//! The backend-neutral rules of ingest: who may add a version of an object, what counts as
//! a duplicate, and what the status record says. Backends gather the facts ([`Held`]) inside
//! their ingest transaction and call [`decide`], so every backend refuses and reports alike.
//!
//! - **Versioned objects** (with `modified` or `created`) belong to the member who
//!   contributed their first version in the collection (kept after deletion, through its
//!   tombstone): only that member, or an admin, adds versions. Anyone else posting an
//!   identical copy of a version it can read is told "already present"; everything else
//!   from anyone else is refused with [`NOT_OWNER`], which says nothing about the stored
//!   versions (their content, level or number).
//! - **Value-identified objects** (no `modified`, no `created`: SCOs, whose ids derive from
//!   their values) are held per contributor: each contributor's copy is its own version,
//!   versioned by its `date_added`. Posting a value someone else holds is an ordinary
//!   success; posting again what one already holds is "already present". So what a writer
//!   learns from a POST never depends on copies it cannot read.

use crate::{
    Clearance, IngestBatch, IngestOutcome, MemberId, NewObject, Result, Role, StatusDetail,
    StatusRecord, Tlp, Viewer,
};

/// Why a version of an object owned by another member is refused.
pub const NOT_OWNER: &str = "this object id was first contributed to this collection by \
     another member; only that member or an admin adds versions of it (make your own object \
     with a new id, e.g. one that refers to it)";

/// Why a version differing from the stored one with the same id and version is refused.
pub const CONFLICT: &str =
    "you already stored a different object with this id and version; change `modified`";

/// What the store holds for a posted object's id, as far as the posted version's fate
/// depends on it. Backends fill it inside the ingest transaction.
#[derive(Debug, Clone, Default)]
pub struct Held {
    /// For a versioned object: the contributor of its first version in the collection,
    /// live or deleted; `None` if the id is new there.
    pub owner: Option<MemberId>,
    /// For a versioned object: the stored version with the same version key, if any.
    pub same_version: Option<HeldVersion>,
    /// For a value-identified object: the poster's own copies, as (`date_added`, body).
    pub own_copies: Vec<(i64, String)>,
}

/// A stored version as [`decide`] needs it.
#[derive(Debug, Clone)]
pub struct HeldVersion {
    /// Its JSON text.
    pub body: String,
    /// Whether the poster may read it (TLP).
    pub visible: bool,
}

/// The poster of an envelope, as the rules see it.
#[derive(Debug, Clone)]
pub struct Poster {
    /// Who posts, with the TLP view used to decide what it may read.
    pub viewer: Viewer,
    /// Admins version any object (moderation).
    pub admin: bool,
}

impl Poster {
    /// The poster with member id `id`, from its stored (name, role, clearance) as text; a
    /// member row that is missing gives a poster who sees only TLP:CLEAR and owns nothing of
    /// anyone else's.
    pub fn from_row(id: MemberId, row: Option<(String, String, String)>) -> Result<Poster> {
        Ok(match row {
            Some((name, role, clearance)) => Poster {
                viewer: Viewer {
                    member: id,
                    name,
                    clearance: clearance.parse::<Clearance>()?.level(),
                },
                admin: role.parse::<Role>()? == Role::Admin,
            },
            None => Poster {
                viewer: Viewer {
                    member: id,
                    name: id.to_string(),
                    clearance: Tlp::Clear,
                },
                admin: false,
            },
        })
    }
}

/// Whether a version with version key `v` becomes its object's first and last, given the
/// smallest and largest version keys stored for the object before it.
pub fn first_last(v: i64, min: Option<i64>, max: Option<i64>) -> (bool, bool) {
    (min.is_none_or(|m| v < m), max.is_none_or(|m| v > m))
}

/// What to do with one posted object; [`IngestOutcome::Stored`] means "store it now".
pub fn decide(new: &NewObject, poster: &Poster, held: &Held) -> IngestOutcome {
    if new.version_micros.is_none() {
        return match held
            .own_copies
            .iter()
            .find(|(_, b)| same_json(b, &new.body))
        {
            Some(&(date_added, _)) => IngestOutcome::Duplicate { date_added },
            None => IngestOutcome::Stored { date_added: 0 },
        };
    }
    let owns = held
        .owner
        .is_none_or(|o| o == poster.viewer.member || poster.admin);
    match (&held.same_version, owns) {
        (Some(v), true) if same_json(&v.body, &new.body) => {
            IngestOutcome::Duplicate { date_added: 0 }
        }
        (Some(_), true) => IngestOutcome::Conflict,
        (None, true) => IngestOutcome::Stored { date_added: 0 },
        (Some(v), false) if v.visible && same_json(&v.body, &new.body) => {
            IngestOutcome::Duplicate { date_added: 0 }
        }
        (_, false) => IngestOutcome::NotOwner,
    }
}

impl Viewer {
    /// Whether this viewer may read a version of level `tlp` contributed by `contributor`
    /// and naming `recipients` (TLP:RED goes by contributor and recipients only).
    pub fn sees(&self, tlp: Tlp, contributor: MemberId, recipients: &[String]) -> bool {
        tlp <= self.clearance
            || (tlp == Tlp::Red && (contributor == self.member || recipients.contains(&self.name)))
    }

    /// Whether this viewer may read some version of an object, from the object's id gate:
    /// the lowest level among its stored versions (`None`: nothing stored) and whether the
    /// viewer contributed or is named on one of its TLP:RED versions. Backends keep that
    /// gate per (collection, id) so a by-id read or delete of an object nobody lets the
    /// viewer see costs one index probe whatever the object's number of versions, as an
    /// absent id does (`docs/node.md`, "What remains observable").
    pub fn may_see_some(&self, lowest: Option<Tlp>, red_viewer: bool) -> bool {
        red_viewer || lowest.is_some_and(|t| t <= self.clearance)
    }
}

/// Whether two JSON texts are the same JSON value (exact duplicates may differ in spacing).
pub fn same_json(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// The status entry of one posted object and whether it is a success.
///
/// A value-identified object's version is its copy's `date_added`, so the receipt link of
/// the status names the poster's own copy.
pub fn status_detail(o: &NewObject, outcome: &IngestOutcome) -> (bool, StatusDetail) {
    let version = |date_added: i64| match &o.version {
        Some(v) => v.clone(),
        None => detente_taxii::time::format_micros(date_added),
    };
    let detail = |version: String, message: Option<&str>| StatusDetail {
        id: o.id.clone(),
        version,
        message: message.map(str::to_owned),
    };
    match outcome {
        IngestOutcome::Stored { date_added } => (true, detail(version(*date_added), None)),
        IngestOutcome::Duplicate { date_added } => {
            (true, detail(version(*date_added), Some("already present")))
        }
        IngestOutcome::Conflict => (false, detail(version(0), Some(CONFLICT))),
        IngestOutcome::NotOwner => (false, detail(version(0), Some(NOT_OWNER))),
    }
}

/// The status record of an ingested envelope: the server's refusals first, then each
/// object's entry by its outcome (as [`status_detail`] words it).
pub fn status_record(batch: &IngestBatch, outcomes: &[IngestOutcome]) -> StatusRecord {
    let mut successes = Vec::new();
    let mut failures = batch.failures.clone();
    for (o, outcome) in batch.objects.iter().zip(outcomes) {
        match status_detail(o, outcome) {
            (true, d) => successes.push(d),
            (false, d) => failures.push(d),
        }
    }
    StatusRecord {
        id: batch.status_id.clone(),
        member: batch.contributor,
        collection: batch.collection.clone(),
        request_timestamp: batch.request_timestamp,
        successes,
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(version: Option<i64>, body: &str) -> NewObject {
        NewObject {
            id: "x--1".into(),
            object_type: "x".into(),
            spec_version: "2.1".into(),
            version: version.map(|v| format!("v{v}")),
            version_micros: version,
            tlp: Tlp::Clear,
            recipients: vec![],
            body: body.into(),
        }
    }

    fn poster(member: MemberId, admin: bool) -> Poster {
        Poster {
            viewer: Viewer {
                member,
                name: format!("m{member}"),
                clearance: Tlp::Green,
            },
            admin,
        }
    }

    #[test]
    fn the_id_gate_opens_on_a_low_enough_version_or_a_red_one_naming_the_viewer() {
        let v = poster(1, false).viewer;
        assert!(!v.may_see_some(None, false), "nothing stored");
        assert!(v.may_see_some(Some(Tlp::Clear), false));
        assert!(v.may_see_some(Some(Tlp::Green), false));
        assert!(!v.may_see_some(Some(Tlp::Amber), false));
        assert!(!v.may_see_some(Some(Tlp::Red), false));
        assert!(v.may_see_some(Some(Tlp::Red), true));
    }

    #[test]
    fn only_the_owner_or_an_admin_versions() {
        let held = Held {
            owner: Some(1),
            ..Held::default()
        };
        let o = new(Some(5), "{}");
        assert!(matches!(
            decide(&o, &poster(1, false), &held),
            IngestOutcome::Stored { .. }
        ));
        assert!(matches!(
            decide(&o, &poster(3, true), &held),
            IngestOutcome::Stored { .. }
        ));
        assert_eq!(
            decide(&o, &poster(2, false), &held),
            IngestOutcome::NotOwner
        );
        let same = |visible| Held {
            owner: Some(1),
            same_version: Some(HeldVersion {
                body: "{ }".into(),
                visible,
            }),
            ..Held::default()
        };
        // An identical copy the poster can read is "already present"; a hidden one or a
        // different one is the same refusal as a new version.
        assert!(matches!(
            decide(&o, &poster(2, false), &same(true)),
            IngestOutcome::Duplicate { .. }
        ));
        assert_eq!(
            decide(&o, &poster(2, false), &same(false)),
            IngestOutcome::NotOwner
        );
        let other = new(Some(5), r#"{"a":1}"#);
        assert_eq!(
            decide(&other, &poster(2, false), &same(true)),
            IngestOutcome::NotOwner
        );
        assert_eq!(
            decide(&other, &poster(1, false), &same(true)),
            IngestOutcome::Conflict
        );
    }

    #[test]
    fn copies_are_per_contributor() {
        let o = new(None, r#"{"v":1}"#);
        assert!(matches!(
            decide(&o, &poster(2, false), &Held::default()),
            IngestOutcome::Stored { .. }
        ));
        let mine = Held {
            own_copies: vec![(7, r#"{ "v": 1 }"#.into())],
            ..Held::default()
        };
        assert_eq!(
            decide(&o, &poster(2, false), &mine),
            IngestOutcome::Duplicate { date_added: 7 }
        );
        let (ok, d) = status_detail(&o, &IngestOutcome::Duplicate { date_added: 7 });
        assert!(ok);
        assert_eq!(d.version, "1970-01-01T00:00:00.000007Z");
    }

    #[test]
    fn red_goes_by_contributor_and_recipients() {
        let v = poster(2, false).viewer;
        assert!(v.sees(Tlp::Green, 9, &[]));
        assert!(!v.sees(Tlp::Amber, 9, &[]));
        assert!(!v.sees(Tlp::Red, 9, &[]));
        assert!(v.sees(Tlp::Red, 2, &[]));
        assert!(v.sees(Tlp::Red, 9, &["m2".into()]));
    }
}
