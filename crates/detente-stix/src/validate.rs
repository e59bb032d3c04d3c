//! Validation of one STIX 2.1 object.

use serde_json::Value;

use crate::error::{ErrorKind, ValidationError};
use crate::timestamp::Timestamp;

/// What the node needs of one validated object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's identifier, `type--uuid`.
    pub id: String,
    /// The `type` property.
    pub object_type: String,
    /// `spec_version` as given (SCOs may omit it in 2.1).
    pub spec_version: Option<String>,
    /// `created`, when present.
    pub created: Option<Timestamp>,
    /// `modified`, when present.
    pub modified: Option<Timestamp>,
    /// `object_marking_refs`, empty when absent.
    pub object_marking_refs: Vec<String>,
    /// `created_by_ref`, when present.
    pub created_by_ref: Option<String>,
}

/// Validates one STIX 2.1 object (any type, custom ones too) and returns its summary.
pub fn validate_object(value: &Value) -> Result<ObjectMeta, ValidationError> {
    let Some(obj) = value.as_object() else {
        return Err(ValidationError::new(
            None,
            "",
            ErrorKind::WrongType("a JSON object"),
        ));
    };
    let id = obj.get("id").and_then(Value::as_str);
    let err = |prop: &str, kind| ValidationError::new(id, prop, kind);
    let object_type = match obj.get("type") {
        None => return Err(err("type", ErrorKind::Missing)),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(err("type", ErrorKind::WrongType("a string"))),
    };
    let id = match obj.get("id") {
        None => return Err(err("id", ErrorKind::Missing)),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(err("id", ErrorKind::WrongType("a string"))),
    };
    let ts = |prop: &str| -> Result<Option<Timestamp>, ValidationError> {
        match obj.get(prop) {
            None => Ok(None),
            Some(Value::String(s)) => Timestamp::parse(s)
                .map(Some)
                .map_err(|e| err(prop, ErrorKind::Invalid(e.to_string()))),
            Some(_) => Err(err(prop, ErrorKind::WrongType("a timestamp string"))),
        }
    };
    Ok(ObjectMeta {
        spec_version: obj
            .get("spec_version")
            .and_then(Value::as_str)
            .map(str::to_owned),
        created: ts("created")?,
        modified: ts("modified")?,
        object_marking_refs: obj
            .get("object_marking_refs")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        created_by_ref: obj
            .get("created_by_ref")
            .and_then(Value::as_str)
            .map(str::to_owned),
        id,
        object_type,
    })
}

/// Validates a bundle `{"type":"bundle","id":"bundle--…","objects":[…]}`.
///
/// The outer error is about the bundle itself; otherwise one result per entry of
/// `objects`, in order (an absent `objects` gives an empty list).
pub fn validate_bundle(
    value: &Value,
) -> Result<Vec<Result<ObjectMeta, ValidationError>>, ValidationError> {
    let Some(obj) = value.as_object() else {
        return Err(ValidationError::new(
            None,
            "",
            ErrorKind::WrongType("a JSON object"),
        ));
    };
    let id = obj.get("id").and_then(Value::as_str);
    if obj.get("type").and_then(Value::as_str) != Some("bundle") {
        return Err(ValidationError::new(
            id,
            "type",
            ErrorKind::Invalid("a bundle must have type \"bundle\"".to_owned()),
        ));
    }
    match obj.get("objects") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.iter().map(validate_object).collect()),
        Some(_) => Err(ValidationError::new(
            id,
            "objects",
            ErrorKind::WrongType("a list of STIX objects"),
        )),
    }
}
