//! The one list of STIX 2.1 object types, by category: what decides an object's required
//! common properties, and what every crate asks when it needs to know a type.

/// STIX Domain Object types (section 4).
pub const SDO_TYPES: &[&str] = &[
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
];

/// STIX Relationship Object types (section 5).
pub const SRO_TYPES: &[&str] = &["relationship", "sighting"];

/// STIX Cyber-observable Object types (section 6).
pub const SCO_TYPES: &[&str] = &[
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// STIX Meta Object types (section 7).
pub const META_TYPES: &[&str] = &[
    "language-content",
    "marking-definition",
    "extension-definition",
];

/// The broad kind of a STIX object, which decides its required common properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// STIX Domain Object (section 4).
    Sdo,
    /// STIX Relationship Object: `relationship`, `sighting` (section 5).
    Sro,
    /// STIX Cyber-observable Object (section 6).
    Sco,
    /// STIX Meta Object: `language-content`, `marking-definition`, `extension-definition`.
    Meta,
    /// A type this crate does not know (a custom object).
    Custom,
}

/// The category of a `type` value.
pub fn category(object_type: &str) -> Category {
    let t = &object_type;
    if SDO_TYPES.contains(t) {
        Category::Sdo
    } else if SCO_TYPES.contains(t) {
        Category::Sco
    } else if SRO_TYPES.contains(t) {
        Category::Sro
    } else if META_TYPES.contains(t) {
        Category::Meta
    } else {
        Category::Custom
    }
}
