//! The MISP warninglist format: a JSON object with `name`, `type` and the `list` of entries
//! (other members, such as `description` or `matching_attributes`, are not used).

use serde::Deserialize;

/// A MISP warninglist as written: `name`, `type` and the `list` entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Warninglist {
    /// The list's `name`.
    pub name: String,
    /// The list's `type` (`string` when absent, as MISP reads it).
    pub kind: String,
    /// The entries, trimmed; empty entries are left out (MISP skips them too).
    pub entries: Vec<String>,
    /// Entries that are not strings (reported, never applied).
    pub non_strings: usize,
}

/// Why bytes are not a MISP warninglist.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or not an object whose `name`, `type` and `list` have the right types.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A JSON object without `list`.
    #[error("not a MISP warninglist (a JSON object with `name`, `type` and `list`)")]
    NoList,
}

#[derive(Deserialize)]
struct Raw {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    list: Option<Vec<serde_json::Value>>,
}

impl Warninglist {
    /// A list from its members as read: an empty or absent `type` is `string`.
    pub fn new(name: String, kind: String, list: Vec<serde_json::Value>) -> Self {
        let kind = if kind.is_empty() {
            "string".into()
        } else {
            kind
        };
        let mut wl = Warninglist {
            name,
            kind,
            ..Warninglist::default()
        };
        for e in list {
            match e.as_str().map(str::trim) {
                Some("") => {}
                Some(s) => wl.entries.push(s.to_string()),
                None => wl.non_strings += 1,
            }
        }
        wl
    }

    /// Parses a `list.json`.
    pub fn parse(data: &[u8]) -> Result<Warninglist, ParseError> {
        let raw: Raw = serde_json::from_slice(data)?;
        let list = raw.list.ok_or(ParseError::NoList)?;
        Ok(Warninglist::new(
            raw.name.unwrap_or_default(),
            raw.kind.unwrap_or_default(),
            list,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_misp_defaults() {
        let wl = Warninglist::parse(br#"{"name":"n","list":[" a ","",3,"b"],"x":1}"#).unwrap();
        assert_eq!(wl.kind, "string");
        assert_eq!(wl.entries, ["a", "b"]);
        assert_eq!(wl.non_strings, 1);
        assert!(matches!(
            Warninglist::parse(br#"{"type":"cidr"}"#),
            Err(ParseError::NoList)
        ));
        assert!(Warninglist::parse(br#"{"list":"x"}"#).is_err());
        assert!(Warninglist::parse(b"[1]").is_err());
    }
}
