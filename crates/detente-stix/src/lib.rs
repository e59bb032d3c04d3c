//! STIX 2.1 object model and validation.
//!
//! Pure: no I/O. Parses any STIX 2.1 object generically as [`serde_json::Value`] (so unknown
//! properties and custom objects stay byte-faithful in the caller's hands) and checks what
//! the spec requires of it.

mod error;
mod timestamp;
pub mod tlp;
mod validate;

pub use error::{ErrorKind, ValidationError};
pub use timestamp::{Timestamp, TimestampError};
pub use validate::{ObjectMeta, validate_bundle, validate_object};
