//! Traffic Light Protocol levels carried by STIX marking references.
//!
//! STIX 2.1 (section 7.2.1.4) fixes the ids of the four TLP 1.0 marking definitions; the
//! OASIS TLP 2.0 extension (`extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d`)
//! fixes five more. Both sets are recognised; any other marking is not a TLP level.
//!
//! Access control must fail closed, so ids are compared as RFC 4122 says UUIDs are read:
//! case-insensitively (`marking-definition--5E57C739-…` is TLP:RED), and a marking
//! definition that looks like TLP but does not carry one of these ids is refused by
//! [`lookalike_problem`] rather than taken as no marking at all.

use std::fmt;
use std::str::FromStr;

/// A TLP level, ordered from least (`Clear`) to most (`Red`) restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tlp {
    /// TLP:CLEAR (TLP 1.0's WHITE): no restriction on disclosure.
    Clear,
    /// TLP:GREEN: the community, not public.
    Green,
    /// TLP:AMBER: the recipient's organisation and its clients.
    Amber,
    /// TLP:AMBER+STRICT: the recipient's organisation only.
    AmberStrict,
    /// TLP:RED: named recipients only.
    Red,
}

/// The TLP 1.0 marking-definition ids (STIX 2.1 section 7.2.1.4).
pub const TLP1_MARKINGS: [(&str, Tlp); 4] = [
    (
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tlp::Clear,
    ),
    (
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tlp::Green,
    ),
    (
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tlp::Amber,
    ),
    (
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        Tlp::Red,
    ),
];

/// The TLP 2.0 marking-definition ids (OASIS cti-stix-common-objects, tlp-2.0 extension).
pub const TLP2_MARKINGS: [(&str, Tlp); 5] = [
    (
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Clear,
    ),
    (
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Green,
    ),
    (
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::Amber,
    ),
    (
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::AmberStrict,
    ),
    (
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        Tlp::Red,
    ),
];

/// The id of the TLP 2.0 extension definition.
pub const TLP2_EXTENSION_ID: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

impl Tlp {
    /// The TLP level a single marking-definition id stands for, if it is a TLP marking
    /// (compared case-insensitively: upper-case hex is the same UUID).
    pub fn of_marking(id: &str) -> Option<Tlp> {
        TLP1_MARKINGS
            .iter()
            .chain(TLP2_MARKINGS.iter())
            .find(|(m, _)| m.eq_ignore_ascii_case(id))
            .map(|&(_, t)| t)
    }

    /// The TLP 2.0 marking-definition id for this level.
    pub fn marking_id(self) -> &'static str {
        match self {
            Tlp::Clear => TLP2_MARKINGS[0].0,
            Tlp::Green => TLP2_MARKINGS[1].0,
            Tlp::Amber => TLP2_MARKINGS[2].0,
            Tlp::AmberStrict => TLP2_MARKINGS[3].0,
            Tlp::Red => TLP2_MARKINGS[4].0,
        }
    }

    /// The level as a number, 0 (`Clear`) to 4 (`Red`), in the order of restriction: how
    /// stores keep it, so visibility is a numeric comparison.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// The level of a [`Tlp::rank`]; `None` for a number above 4.
    pub fn from_rank(rank: u8) -> Option<Tlp> {
        [
            Tlp::Clear,
            Tlp::Green,
            Tlp::Amber,
            Tlp::AmberStrict,
            Tlp::Red,
        ]
        .get(usize::from(rank))
        .copied()
    }

    /// The lower-case name used by TLP 2.0 (`clear`, `green`, `amber`, `amber+strict`, `red`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }
}

/// The most restrictive TLP level among marking refs (TLP 1.0 marking-definition ids and the
/// TLP 2.0 extension ids), `None` if unmarked.
pub fn tlp_of_markings<'a>(refs: impl IntoIterator<Item = &'a String>) -> Option<Tlp> {
    refs.into_iter().filter_map(|r| Tlp::of_marking(r)).max()
}

/// Why a `marking-definition` object that looks like a TLP marking (a `tlp` definition type
/// or definition, a `TLP:` name, or the TLP 2.0 extension) is not one of the fixed TLP
/// markings, or names a level other than its id's; `None` for every other object.
///
/// Such a definition would mark objects as TLP for STIX consumers while access control
/// (which goes by the fixed ids) took them as unmarked, so it is refused instead.
pub fn lookalike_problem(object: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    if object.get("type").and_then(Value::as_str) != Some("marking-definition") {
        return None;
    }
    let id = object.get("id").and_then(Value::as_str).unwrap_or("");
    let name = object.get("name").and_then(Value::as_str).unwrap_or("");
    let name_level = name
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("tlp:"))
        .map(|_| name.parse::<Tlp>());
    let looks_tlp = name_level.is_some()
        || object
            .get("definition_type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("tlp"))
        || object
            .get("definition")
            .and_then(|d| d.get("tlp"))
            .is_some()
        || object
            .get("extensions")
            .and_then(Value::as_object)
            .is_some_and(|e| e.keys().any(|k| k.eq_ignore_ascii_case(TLP2_EXTENSION_ID)));
    if !looks_tlp {
        return None;
    }
    let Some(level) = Tlp::of_marking(id) else {
        return Some(format!(
            "{id}: looks like a TLP marking but is not one of the fixed TLP 1.0 or 2.0 \
             marking definitions; mark objects with those ids instead"
        ));
    };
    match name_level {
        Some(Ok(named)) if named == level => None,
        Some(_) => Some(format!(
            "{id}: is the TLP:{} marking but is named {name:?}",
            level.as_str().to_ascii_uppercase()
        )),
        None => None,
    }
}

/// A string that names no TLP level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown TLP level {0:?} (expected clear, white, green, amber, amber+strict or red)")]
pub struct UnknownTlp(pub String);

impl FromStr for Tlp {
    type Err = UnknownTlp;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let name = lower.strip_prefix("tlp:").unwrap_or(&lower);
        match name {
            "clear" | "white" => Ok(Tlp::Clear),
            "green" => Ok(Tlp::Green),
            "amber" => Ok(Tlp::Amber),
            "amber+strict" => Ok(Tlp::AmberStrict),
            "red" => Ok(Tlp::Red),
            _ => Err(UnknownTlp(crate::error::cut(s))),
        }
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_restrictive_wins() {
        let refs = vec![
            TLP1_MARKINGS[1].0.to_owned(),
            "marking-definition--00000000-0000-4000-8000-000000000000".to_owned(),
            TLP2_MARKINGS[3].0.to_owned(),
        ];
        assert_eq!(tlp_of_markings(&refs), Some(Tlp::AmberStrict));
        assert_eq!(tlp_of_markings(&[]), None);
        assert_eq!(tlp_of_markings(&refs[1..2]), None);
    }

    #[test]
    fn ids_compare_case_insensitively() {
        let upper = TLP1_MARKINGS[3].0.to_ascii_uppercase();
        assert_eq!(Tlp::of_marking(&upper), Some(Tlp::Red));
        let red = "marking-definition--5E57C739-391A-4EB3-B6BE-7D15CA92D5ED";
        assert_eq!(Tlp::of_marking(red), Some(Tlp::Red));
        let green = TLP2_MARKINGS[1].0.to_owned();
        assert_eq!(tlp_of_markings(&[green, red.to_owned()]), Some(Tlp::Red));
    }

    #[test]
    fn lookalikes_are_refused() {
        use serde_json::json;
        let def = |id: &str, name: &str| {
            json!({"type": "marking-definition", "id": id, "name": name,
                   "definition_type": "statement", "definition": {"statement": "x"}})
        };
        let other = "marking-definition--00000000-0000-4000-8000-000000000000";
        assert!(lookalike_problem(&def(other, "TLP:RED")).is_some());
        assert!(lookalike_problem(&def(other, "tlp:amber")).is_some());
        assert!(lookalike_problem(&def(other, "TLP:PURPLE")).is_some());
        assert!(lookalike_problem(&def(other, "Internal only")).is_none());
        let tlp2 = json!({"type": "marking-definition", "id": other, "name": "x",
            "extensions": {TLP2_EXTENSION_ID: {"extension_type": "property-extension",
                                               "tlp_2_0": "red"}}});
        assert!(lookalike_problem(&tlp2).is_some());
        let tlp_def = json!({"type": "marking-definition", "id": other,
            "definition_type": "TLP", "definition": {"tlp": "red"}});
        assert!(lookalike_problem(&tlp_def).is_some());
        // The fixed ids, named for their level (in either case), are TLP markings.
        assert!(lookalike_problem(&def(TLP2_MARKINGS[4].0, "TLP:RED")).is_none());
        assert!(lookalike_problem(&def(TLP1_MARKINGS[0].0, "TLP:WHITE")).is_none());
        assert!(lookalike_problem(&def(TLP2_MARKINGS[0].0, "TLP:CLEAR")).is_none());
        // A fixed id named for another level misleads consumers.
        assert!(lookalike_problem(&def(TLP2_MARKINGS[4].0, "TLP:CLEAR")).is_some());
        assert!(lookalike_problem(&json!({"type": "indicator", "name": "TLP:RED"})).is_none());
    }

    #[test]
    fn names_parse_and_print() {
        for t in [
            Tlp::Clear,
            Tlp::Green,
            Tlp::Amber,
            Tlp::AmberStrict,
            Tlp::Red,
        ] {
            assert_eq!(t.as_str().parse::<Tlp>().unwrap(), t);
            assert_eq!(Tlp::of_marking(t.marking_id()), Some(t));
            assert_eq!(Tlp::from_rank(t.rank()), Some(t));
        }
        assert_eq!("white".parse::<Tlp>().unwrap(), Tlp::Clear);
        assert_eq!("TLP:AMBER+STRICT".parse::<Tlp>().unwrap(), Tlp::AmberStrict);
        assert!("amber-strict".parse::<Tlp>().is_err());
        assert!(Tlp::Clear < Tlp::Green && Tlp::Amber < Tlp::AmberStrict);
        // The ranks stores keep: CLEAR is 0, RED is 4, nothing above.
        assert_eq!((Tlp::Clear.rank(), Tlp::Red.rank()), (0, 4));
        assert_eq!(Tlp::from_rank(5), None);
    }
}
