//! STIX 2.1 object model and validation.
//!
//! Pure: no I/O. Objects stay generic [`serde_json::Value`]s, so unknown properties and
//! custom objects remain byte-faithful in the caller's hands; this crate only decides whether
//! an object is acceptable STIX 2.1 and extracts what a TAXII node indexes ([`ObjectMeta`]).
//!
//! # What is validated, and why
//!
//! A TAXII server that stores whatever it is sent hands the problem to every consumer, so
//! [`validate_object`] enforces the MUSTs of the STIX 2.1 OASIS Standard that can be checked on
//! one object in isolation, and nothing stricter (SHOULDs are not enforced, and every object
//! of the OASIS examples and of the MITRE ATT&CK ICS and Mobile bundles validates):
//!
//! - **Identity**: `type` is a valid type name (`a-z`, `0-9`, `-`, no `--`, 3–250
//!   characters); `id` is `type--UUID` with the same type and an RFC 4122 UUID (any version:
//!   v4 for SDOs and v5 for SCOs are only SHOULDs). A bundle is not an object.
//! - **Common properties by category**: SDOs and SROs need `spec_version`, `created` and
//!   `modified`; SCOs only `type` and `id`; marking definitions `spec_version` and `created`;
//!   language content and extension definitions their own sets. Custom types declared through
//!   an extension (`new-sdo`, `new-sro`, `new-sco`) get their category's rules; other custom
//!   types get the checks of whatever common properties they carry.
//! - **Values**: `spec_version` is `"2.1"`; timestamps are RFC 3339 in UTC with `Z`, and
//!   `created`/`modified` have millisecond precision with `created <= modified`;
//!   `confidence` is 0–100; lists are never empty and no value is `null`; dictionaries have
//!   valid keys;
//!   `created_by_ref` points to an identity; `object_marking_refs` and granular `marking_ref`s
//!   point to marking definitions; granular-marking selectors select content present in the
//!   object; `external_references` have a `source_name` plus one of `description`, `url`,
//!   `external_id` (with well-formed CVE and CAPEC ids); `kill_chain_phases` entries have both
//!   names; known hash algorithms have digests of the right length; `extensions` keys are
//!   extension-definition ids or names, values non-empty objects with a known
//!   `extension_type`.
//! - **References**: every property named `*_ref` holds an identifier and every `*_refs` a
//!   non-empty list of them, custom properties included; predefined references are also
//!   checked for the object types the spec allows (a relationship cannot point at an SRO or
//!   marking definition, a sighting is of an SDO, `where_sighted_refs` are identities or
//!   locations, observed-data refers to SCOs and SROs, ...).
//! - **Per type**: the required properties of all 19 SDOs, 2 SROs, 18 SCOs and 3 meta
//!   objects, and the constraints between properties (`valid_until` after `valid_from`,
//!   `last_seen` not before `first_seen`, malware families have a name, locations have a
//!   region, country or both coordinates in range, `opinion` from its enumeration, TLP 1.0
//!   markings with their fixed ids, email `body` vs `body_multipart`, MAC addresses in
//!   lower-case colon form, network traffic with a source or destination and ports in range,
//!   ...).
//! - **Names**: custom property names are `a-z`, `0-9`, `_`, 3–250 characters (section
//!   11.1). Unknown properties with valid names are accepted and left alone.
//!
//! Not checked here: patterns (the pattern engine parses them), open vocabularies (values
//! outside them are allowed), the reserved names `severity`, `action`, `username` and
//! `phone_numbers` (real producers use them as custom properties, e.g. on incidents), and
//! anything needing other objects (that a reference resolves, version history).
//!
//! # Example
//!
//! ```
//! let indicator = serde_json::json!({
//!     "type": "indicator", "spec_version": "2.1",
//!     "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
//!     "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z",
//!     "pattern_type": "stix", "valid_from": "2016-01-01T00:00:00Z"
//! });
//! let err = detente_stix::validate_object(&indicator).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f: property `pattern`: required property missing"
//! );
//! ```
//!
//! [`tlp`] maps marking references to Traffic Light Protocol levels, for access control.
//!
//! Per-process state: none.

mod category;
mod check;
mod error;
mod ident;
pub mod timestamp;
pub mod tlp;
mod types;
mod validate;

pub use category::{Category, META_TYPES, SCO_TYPES, SDO_TYPES, SRO_TYPES, category};
pub use error::{ErrorKind, ValidationError};
pub use timestamp::{Timestamp, TimestampError};
pub use validate::{ObjectMeta, validate_bundle, validate_object};
