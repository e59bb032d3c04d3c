//! STIX 2.1 object model and validation.
//!
//! Pure: no I/O. Parses any STIX 2.1 object generically as [`serde_json::Value`] (so unknown
//! properties and custom objects stay byte-faithful in the caller's hands) and checks what
//! the spec requires of it.

mod check;
mod error;
mod ident;
mod timestamp;
pub mod tlp;
mod types;
mod validate;

pub use error::{ErrorKind, ValidationError};
pub use timestamp::{Timestamp, TimestampError};
pub use validate::{Category, ObjectMeta, category, validate_bundle, validate_object};
