//! Validation errors: which object, which property, what is wrong.

use std::fmt;

/// What is wrong with a property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// A property the spec requires is absent.
    Missing,
    /// The property has the wrong JSON type; the text says what was expected.
    WrongType(&'static str),
    /// The property has the right type but a value the spec forbids.
    Invalid(String),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Missing => f.write_str("required property missing"),
            ErrorKind::WrongType(expected) => write!(f, "must be {expected}"),
            ErrorKind::Invalid(reason) => f.write_str(reason),
        }
    }
}

/// A STIX object refused by the validator.
///
/// Display names the object id when known and the property, e.g.
/// ``indicator--…: property `pattern`: required property missing``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// The object's `id`, when it has a string one.
    pub object_id: Option<String>,
    /// The property at fault, as a path (`external_references[0].source_name`); empty when
    /// the fault is the value as a whole (e.g. not a JSON object).
    pub property: String,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl ValidationError {
    /// An error about `property` of the object with `object_id`.
    pub fn new(object_id: Option<&str>, property: impl Into<String>, kind: ErrorKind) -> Self {
        ValidationError {
            object_id: object_id.map(str::to_owned),
            property: property.into(),
            kind,
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.object_id {
            Some(id) => write!(f, "{id}: ")?,
            None => f.write_str("object without a valid id: ")?,
        }
        if !self.property.is_empty() {
            write!(f, "property `{}`: ", self.property)?;
        }
        write!(f, "{}", self.kind)
    }
}
