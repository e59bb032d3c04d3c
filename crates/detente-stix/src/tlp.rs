//! Traffic Light Protocol levels carried by STIX marking references.
//!
//! STIX 2.1 (section 7.2.1.4) fixes the ids of the four TLP 1.0 marking definitions; the
//! OASIS TLP 2.0 extension (`extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d`)
//! fixes five more. Both sets are recognised; any other marking is not a TLP level.

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
    /// The TLP level a single marking-definition id stands for, if it is a TLP marking.
    pub fn of_marking(id: &str) -> Option<Tlp> {
        TLP1_MARKINGS
            .iter()
            .chain(TLP2_MARKINGS.iter())
            .find(|(m, _)| *m == id)
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
pub fn tlp_of_markings(refs: &[String]) -> Option<Tlp> {
    refs.iter().filter_map(|r| Tlp::of_marking(r)).max()
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
        }
        assert_eq!("white".parse::<Tlp>().unwrap(), Tlp::Clear);
        assert_eq!("TLP:AMBER+STRICT".parse::<Tlp>().unwrap(), Tlp::AmberStrict);
        assert!("amber-strict".parse::<Tlp>().is_err());
        assert!(Tlp::Clear < Tlp::Green && Tlp::Amber < Tlp::AmberStrict);
    }
}
