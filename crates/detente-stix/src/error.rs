//! Validation errors: which object, which property, what is wrong.

use std::fmt;

/// How many characters of an input value an error message repeats.
const ECHO_MAX: usize = 64;

/// `s` cut to [`ECHO_MAX`] characters (with `…` when cut): error messages repeat input
/// values, and input can be megabytes long.
pub(crate) fn cut(s: &str) -> String {
    match s.char_indices().nth(ECHO_MAX) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// `s` cut like [`cut`] and quoted, for error messages.
pub(crate) fn quoted(s: &str) -> String {
    match s.char_indices().nth(ECHO_MAX) {
        None => format!("{s:?}"),
        Some((i, _)) => format!("{:?}…", &s[..i]),
    }
}

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
            Some(id) => write!(f, "{}: ", cut(id))?,
            None => f.write_str("object without a valid id: ")?,
        }
        if !self.property.is_empty() {
            // Property names come from the input too; valid ones are at most 250 characters.
            let p = &self.property;
            match p.char_indices().nth(300) {
                None => write!(f, "property `{p}`: ")?,
                Some((i, _)) => write!(f, "property `{}…`: ", &p[..i])?,
            }
        }
        write!(f, "{}", self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut() {
        let long = "é".repeat(1000);
        assert_eq!(cut(&long).chars().count(), ECHO_MAX + 1);
        assert!(quoted(&long).ends_with("\"…"));
        assert_eq!(quoted("ab"), "\"ab\"");
        let e = ValidationError::new(Some(&long), "x".repeat(5000), ErrorKind::Missing);
        assert!(e.to_string().len() < 1000);
    }
}
