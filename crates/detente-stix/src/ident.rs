//! Names and identifiers: type names, property names, `type--UUID` identifiers.

use crate::error::quoted;

/// Why a type name is not valid, or `None` if it is.
///
/// STIX 2.1 (sections 3.1 and 11.2): ASCII `a-z`, `0-9` and `-`; no `--` (it separates the
/// type from the UUID in an identifier); 3 to 250 characters.
pub(crate) fn type_name_problem(t: &str) -> Option<&'static str> {
    if t.len() < 3 {
        return Some("type names must be at least 3 characters long");
    }
    if t.len() > 250 {
        return Some("type names must be at most 250 characters long");
    }
    let mut prev_hyphen = false;
    for c in t.bytes() {
        let hyphen = c == b'-';
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || hyphen) {
            return Some("type names may only contain a-z, 0-9 and '-'");
        }
        if hyphen && prev_hyphen {
            return Some("type names must not contain \"--\"");
        }
        prev_hyphen = hyphen;
    }
    None
}

/// Whether `s` is an RFC 4122 / 9562 UUID in its textual form (`8-4-4-4-12` hex digits,
/// variant bits `10`, version 1 to 8).
///
/// STIX requires "an RFC 4122-compliant UUID"; SDOs should use version 4 and SCOs version 5,
/// but the spec only says SHOULD, so any version is accepted.
pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 36 {
        return false;
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        };
        if !ok {
            return false;
        }
    }
    let version = b[14];
    let variant = b[19].to_ascii_lowercase();
    (b'1'..=b'8').contains(&version) && matches!(variant, b'8' | b'9' | b'a' | b'b')
}

/// Splits an identifier `type--UUID` into its type, or says why it is not one.
pub(crate) fn parse_identifier(id: &str) -> Result<&str, String> {
    // A UUID is 36 characters and never contains "--": the identifier ends `--` + UUID.
    let split = id
        .len()
        .checked_sub(38)
        .filter(|&n| id.is_char_boundary(n) && id.as_bytes()[n..n + 2] == *b"--");
    let Some(n) = split else {
        return Err(format!("{} is not an identifier `type--UUID`", quoted(id)));
    };
    let (t, uuid) = (&id[..n], &id[n + 2..]);
    if let Some(problem) = type_name_problem(t) {
        return Err(format!(
            "{} is not an identifier `type--UUID`: {problem}",
            quoted(id)
        ));
    }
    if !is_uuid(uuid) {
        return Err(format!(
            "{} is not an identifier `type--UUID`: {uuid:?} is not an RFC 4122 UUID",
            quoted(id)
        ));
    }
    Ok(t)
}

/// Why a top-level property name is not valid, or `None` if it is.
///
/// Predefined names are all lower-case; custom ones (section 11.1) MUST be ASCII `a-z`,
/// `0-9` and `_`, 3 to 250 characters. `id` is the one predefined name shorter than 3.
pub(crate) fn property_name_problem(name: &str) -> Option<&'static str> {
    if name == "id" {
        return None;
    }
    if name.len() < 3 {
        return Some("property names must be at least 3 characters long");
    }
    if name.len() > 250 {
        return Some("property names must be at most 250 characters long");
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
    {
        return Some("property names may only contain a-z, 0-9 and '_'");
    }
    None
}

/// Why a dictionary key is not valid, or `None` if it is (the dictionary type: ASCII letters,
/// digits, `_` and `-`, at most 250 characters).
pub(crate) fn dictionary_key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        return Some("dictionary keys must not be empty");
    }
    if key.len() > 250 {
        return Some("dictionary keys must be at most 250 characters long");
    }
    if !key
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    {
        return Some("dictionary keys may only contain ASCII letters, digits, '_' and '-'");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert_eq!(
            parse_identifier("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
            Ok("indicator")
        );
        assert_eq!(
            parse_identifier("x-acme-widget--8E2E2D2B-17D4-5CBF-938F-98EE46B3CD3F"),
            Ok("x-acme-widget")
        );
        for bad in [
            "indicator",
            "indicator--",
            "indicator-8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "Indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "in--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "indicator--8e2e2d2b-17d4-0cbf-938f-98ee46b3cd3f",
            "indicator--8e2e2d2b-17d4-4cbf-c38f-98ee46b3cd3f",
            "indicator--8e2e2d2b17d4-4cbf-938f-98ee46b3cd3f0",
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3g",
            "a--b--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        ] {
            assert!(parse_identifier(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn names() {
        assert!(type_name_problem("x-mitre-tactic").is_none());
        assert!(type_name_problem("ab").is_some());
        assert!(type_name_problem("x_y").is_some());
        assert!(property_name_problem("id").is_none());
        assert!(property_name_problem("x_mitre_version").is_none());
        assert!(property_name_problem("xY_z").is_some());
        assert!(property_name_problem("ab").is_some());
        assert!(property_name_problem("x-y").is_some());
        assert!(dictionary_key_problem("SHA-256").is_none());
        assert!(dictionary_key_problem("a b").is_some());
    }
}
