//! Property checkers shared by the per-type rules: each names the property it refuses.

use serde_json::{Map, Value};

use crate::category::{Category, category};
use crate::error::{ErrorKind, ValidationError, quoted};
use crate::ident::{dictionary_key_problem, parse_identifier};
use crate::timestamp::Timestamp;

/// One JSON object under validation, with the id used to name it in errors.
pub(crate) struct Obj<'a> {
    pub(crate) map: &'a Map<String, Value>,
    pub(crate) id: Option<&'a str>,
    /// Prefix for property paths of nested objects (`external_references[0].`).
    pub(crate) prefix: String,
}

pub(crate) type Res<T> = Result<T, ValidationError>;

impl<'a> Obj<'a> {
    /// A top-level object.
    pub(crate) fn top(map: &'a Map<String, Value>, id: Option<&'a str>) -> Self {
        Obj {
            map,
            id,
            prefix: String::new(),
        }
    }

    /// A nested object found at `path` (already including the parent prefix).
    pub(crate) fn nested(&self, map: &'a Map<String, Value>, path: String) -> Obj<'a> {
        Obj {
            map,
            id: self.id,
            prefix: format!("{path}."),
        }
    }

    /// The full path of a property of this object.
    pub(crate) fn path(&self, prop: &str) -> String {
        format!("{}{prop}", self.prefix)
    }

    /// An error about `prop` (a property of this object).
    pub(crate) fn err(&self, prop: &str, kind: ErrorKind) -> ValidationError {
        ValidationError::new(self.id, self.path(prop), kind)
    }

    /// An `Invalid` error about `prop`.
    pub(crate) fn invalid(&self, prop: &str, reason: impl Into<String>) -> ValidationError {
        self.err(prop, ErrorKind::Invalid(reason.into()))
    }

    pub(crate) fn get(&self, prop: &str) -> Option<&'a Value> {
        self.map.get(prop)
    }

    pub(crate) fn has(&self, prop: &str) -> bool {
        self.map.contains_key(prop)
    }

    /// Fails unless every one of `props` is present.
    pub(crate) fn require(&self, props: &[&str]) -> Res<()> {
        match props.iter().find(|p| !self.has(p)) {
            Some(p) => Err(self.err(p, ErrorKind::Missing)),
            None => Ok(()),
        }
    }

    /// Fails unless at least one of `props` is present (named after the first).
    pub(crate) fn require_any(&self, props: &[&str]) -> Res<()> {
        if props.iter().any(|p| self.has(p)) {
            return Ok(());
        }
        Err(self.invalid(
            props.first().copied().unwrap_or_default(),
            format!("at least one of {} must be present", props.join(", ")),
        ))
    }

    /// The string value of `prop`, if present.
    pub(crate) fn string(&self, prop: &str) -> Res<Option<&'a str>> {
        match self.get(prop) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(prop, ErrorKind::WrongType("a string"))),
        }
    }

    /// Checks the listed properties, when present, are strings.
    pub(crate) fn strings(&self, props: &[&str]) -> Res<()> {
        props.iter().try_for_each(|p| self.string(p).map(drop))
    }

    /// The boolean value of `prop`, if present.
    pub(crate) fn boolean(&self, prop: &str) -> Res<Option<bool>> {
        match self.get(prop) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(prop, ErrorKind::WrongType("a boolean"))),
        }
    }

    /// Checks the listed properties, when present, are booleans.
    pub(crate) fn booleans(&self, props: &[&str]) -> Res<()> {
        props.iter().try_for_each(|p| self.boolean(p).map(drop))
    }

    /// The integer value of `prop`, if present, checked to lie in `min..=max`.
    pub(crate) fn integer(&self, prop: &str, min: i64, max: i64) -> Res<Option<i64>> {
        let Some(v) = self.get(prop) else {
            return Ok(None);
        };
        // JSON numbers like 5.0 are not STIX integers; u64 beyond i64 is out of any range.
        let n = match v {
            Value::Number(n) if n.is_i64() => n.as_i64(),
            Value::Number(n) if n.is_u64() => None,
            _ => return Err(self.err(prop, ErrorKind::WrongType("an integer"))),
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(self.invalid(prop, format!("must be between {min} and {max}"))),
        }
    }

    /// The floating-point value of `prop`, if present, checked to lie in `min..=max`.
    pub(crate) fn float(&self, prop: &str, min: f64, max: f64) -> Res<Option<f64>> {
        match self.get(prop) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if (min..=max).contains(&f) => Ok(Some(f)),
                _ => Err(self.invalid(prop, format!("must be between {min} and {max}"))),
            },
            Some(_) => Err(self.err(prop, ErrorKind::WrongType("a number"))),
        }
    }

    /// The timestamp value of `prop`, if present.
    pub(crate) fn timestamp(&self, prop: &str) -> Res<Option<Timestamp>> {
        match self.get(prop) {
            None => Ok(None),
            Some(Value::String(s)) => Timestamp::parse(s)
                .map(Some)
                .map_err(|e| self.invalid(prop, e.to_string())),
            Some(_) => Err(self.err(prop, ErrorKind::WrongType("a timestamp string"))),
        }
    }

    /// Checks the listed properties, when present, are timestamps.
    pub(crate) fn timestamps(&self, props: &[&str]) -> Res<()> {
        props.iter().try_for_each(|p| self.timestamp(p).map(drop))
    }

    /// Checks that `later`, when both are present, is not before `earlier` (or strictly
    /// after it when `strict`).
    pub(crate) fn order(&self, earlier: &str, later: &str, strict: bool) -> Res<()> {
        let (Some(a), Some(b)) = (self.timestamp(earlier)?, self.timestamp(later)?) else {
            return Ok(());
        };
        if b < a || (strict && b == a) {
            let rel = if strict {
                "later than"
            } else {
                "later than or equal to"
            };
            return Err(self.invalid(later, format!("must be {rel} `{earlier}`")));
        }
        Ok(())
    }

    /// The non-empty list value of `prop`, if present (STIX forbids empty lists).
    pub(crate) fn list(&self, prop: &str) -> Res<Option<&'a Vec<Value>>> {
        match self.get(prop) {
            None => Ok(None),
            Some(Value::Array(a)) if a.is_empty() => {
                Err(self.invalid(prop, "lists must not be empty"))
            }
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(self.err(prop, ErrorKind::WrongType("a list"))),
        }
    }

    /// Checks the listed properties, when present, are non-empty lists of strings.
    pub(crate) fn string_lists(&self, props: &[&str]) -> Res<()> {
        for prop in props {
            if let Some(items) = self.list(prop)? {
                for (i, item) in items.iter().enumerate() {
                    if !item.is_string() {
                        return Err(
                            self.err(&format!("{prop}[{i}]"), ErrorKind::WrongType("a string"))
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// The object value of `prop`, if present.
    pub(crate) fn object(&self, prop: &str) -> Res<Option<&'a Map<String, Value>>> {
        match self.get(prop) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(self.err(prop, ErrorKind::WrongType("an object"))),
        }
    }

    /// The dictionary value of `prop`, if present: an object with valid keys and at least
    /// one entry (the dictionary type).
    pub(crate) fn dictionary(&self, prop: &str) -> Res<Option<&'a Map<String, Value>>> {
        let Some(m) = self.object(prop)? else {
            return Ok(None);
        };
        if m.is_empty() {
            return Err(self.invalid(prop, "dictionaries must have at least one entry"));
        }
        for key in m.keys() {
            if let Some(problem) = dictionary_key_problem(key) {
                return Err(self.invalid(prop, format!("key {}: {problem}", quoted(key))));
            }
        }
        Ok(Some(m))
    }

    /// Checks an identifier-valued `prop`, when present; `allowed` restricts the type.
    pub(crate) fn reference(&self, prop: &str, allowed: Allowed) -> Res<Option<&'a str>> {
        match self.get(prop) {
            None => Ok(None),
            Some(v) => self.reference_value(prop, v, allowed).map(Some),
        }
    }

    /// Checks one identifier value found at `prop`.
    pub(crate) fn reference_value(
        &self,
        prop: &str,
        v: &'a Value,
        allowed: Allowed,
    ) -> Res<&'a str> {
        let Value::String(s) = v else {
            return Err(self.err(prop, ErrorKind::WrongType("an identifier string")));
        };
        let t = parse_identifier(s).map_err(|e| self.invalid(prop, e))?;
        if !allowed.permits(t) {
            return Err(self.invalid(
                prop,
                format!("{} must refer to {}", quoted(s), allowed.describe()),
            ));
        }
        Ok(s)
    }

    /// Checks an identifier-list-valued `prop`, when present.
    pub(crate) fn references(&self, prop: &str, allowed: Allowed) -> Res<Option<Vec<&'a str>>> {
        let Some(items) = self.list(prop)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            // The indexed path is only built for an error: lists of refs can be long.
            match v {
                Value::String(s) if parse_identifier(s).is_ok_and(|t| allowed.permits(t)) => {
                    out.push(s.as_str());
                }
                _ => {
                    self.reference_value(&format!("{prop}[{i}]"), v, allowed)?;
                }
            }
        }
        Ok(Some(out))
    }

    /// Checks every property whose name ends in `_ref` holds an identifier and every one
    /// ending in `_refs` a list of them (the identifier type, section 11.1), whatever the type.
    ///
    /// An empty string is let through here: MITRE ATT&CK publishes `"x_mitre_data_source_ref":
    /// ""` on deprecated objects, meaning "no reference". Predefined reference properties are
    /// checked again, strictly, by the common and per-type rules.
    pub(crate) fn generic_references(&self) -> Res<()> {
        for (name, v) in self.map {
            if v.as_str() == Some("") {
                continue;
            }
            if name.ends_with("_ref") {
                self.reference_value(name, v, Allowed::Any)?;
            } else if name.ends_with("_refs") {
                self.references(name, Allowed::Any)?;
            }
        }
        Ok(())
    }
}

impl Obj<'_> {
    /// Checks that properties named `*_hex` hold hex strings and `*_bin` base64 (the hex and
    /// binary types; the OASIS schemas apply this to every property name).
    pub(crate) fn encoded_values(&self) -> Res<()> {
        for (name, v) in self.map {
            let Value::String(s) = v else {
                if name.ends_with("_hex") || name.ends_with("_bin") {
                    return Err(self.err(name, ErrorKind::WrongType("a string")));
                }
                continue;
            };
            if name.ends_with("_hex")
                && (s.len() % 2 != 0 || !s.bytes().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(self.invalid(name, "must be hexadecimal, an even number of digits"));
            }
            if name.ends_with("_bin") && !is_base64(s) {
                return Err(self.invalid(name, "must be base64 (RFC 4648, with padding)"));
            }
        }
        Ok(())
    }
}

/// The JSON shape a predefined property must have.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// A string.
    Str,
    /// A boolean.
    Bool,
    /// An integer, any value.
    Int,
    /// A number.
    Num,
    /// A timestamp.
    Ts,
    /// A non-empty list of strings.
    StrList,
    /// A dictionary with any values.
    Dict,
    /// A dictionary of strings.
    StrDict,
    /// A dictionary whose values are strings or non-empty lists of strings.
    HeaderDict,
    /// An object with at least one property.
    NonEmptyObj,
}

impl Obj<'_> {
    /// Checks each present property of the table has its kind.
    pub(crate) fn kinds(&self, table: &[(&str, Kind)]) -> Res<()> {
        for &(prop, kind) in table {
            if !self.has(prop) {
                continue;
            }
            match kind {
                Kind::Str => self.string(prop).map(drop)?,
                Kind::Bool => self.boolean(prop).map(drop)?,
                Kind::Int => self.integer(prop, i64::MIN, i64::MAX).map(drop)?,
                Kind::Num => self.float(prop, f64::MIN, f64::MAX).map(drop)?,
                Kind::Ts => self.timestamp(prop).map(drop)?,
                Kind::StrList => self.string_lists(&[prop])?,
                Kind::Dict => self.dictionary(prop).map(drop)?,
                Kind::StrDict | Kind::HeaderDict => {
                    for (k, v) in self.dictionary(prop)?.into_iter().flatten() {
                        let ok = match v {
                            Value::String(_) => true,
                            Value::Array(a) if matches!(kind, Kind::HeaderDict) => {
                                !a.is_empty() && a.iter().all(Value::is_string)
                            }
                            _ => false,
                        };
                        if !ok {
                            let what = if matches!(kind, Kind::HeaderDict) {
                                "a string or a non-empty list of strings"
                            } else {
                                "a string"
                            };
                            return Err(
                                self.err(&format!("{prop}.{k}"), ErrorKind::WrongType(what))
                            );
                        }
                    }
                }
                Kind::NonEmptyObj => {
                    if self.object(prop)?.is_some_and(Map::is_empty) {
                        return Err(self.invalid(prop, "must have at least one property"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs `each` on every item of a non-empty list of objects at `prop`.
    pub(crate) fn each_object(
        &self,
        prop: &str,
        mut each: impl FnMut(&Obj<'_>) -> Res<()>,
    ) -> Res<()> {
        for (i, item) in self.list(prop)?.into_iter().flatten().enumerate() {
            let path = self.path(&format!("{prop}[{i}]"));
            let Value::Object(m) = item else {
                return Err(ValidationError::new(
                    self.id,
                    path,
                    ErrorKind::WrongType("an object"),
                ));
            };
            each(&self.nested(m, path))?;
        }
        Ok(())
    }
}

/// Whether `s` is standard base64 with padding (RFC 4648 section 4).
fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    pad <= 2
        && b[..b.len() - pad]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

/// Which object types a reference may point to.
#[derive(Clone, Copy)]
pub(crate) enum Allowed {
    /// Any type.
    Any,
    /// Only these types.
    Only(&'static [&'static str]),
    /// Any type but these.
    Not(&'static [&'static str], &'static str),
    /// Any type outside these categories and not one of these types.
    Except(&'static [Category], &'static [&'static str], &'static str),
}

impl Allowed {
    fn permits(self, t: &str) -> bool {
        match self {
            Allowed::Any => true,
            Allowed::Only(types) => types.contains(&t),
            Allowed::Not(types, _) => !types.contains(&t),
            Allowed::Except(categories, types, _) => {
                !categories.contains(&category(t)) && !types.contains(&t)
            }
        }
    }

    fn describe(self) -> String {
        match self {
            Allowed::Any => "any object".to_owned(),
            Allowed::Only(types) => format!("an object of type {}", types.join(" or ")),
            Allowed::Not(_, what) | Allowed::Except(_, _, what) => what.to_owned(),
        }
    }
}

/// Whether `tag` has the shape of an RFC 5646 language tag: subtags of 1 to 8 ASCII
/// letters or digits separated by `-`, the first made of letters (`en`, `de-CH`, `zh-Hant-TW`,
/// `i-klingon`). Registry membership is not checked.
pub(crate) fn is_language_tag(tag: &str) -> bool {
    let mut subtags = tag.split('-');
    let first_ok = subtags
        .next()
        .is_some_and(|s| (1..=8).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_alphabetic()));
    first_ok
        && subtags
            .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_alphanumeric()))
}

/// A `hashes` dictionary (the hashes type): string values; the algorithms the spec names get
/// their digest length checked.
pub(crate) fn hashes(o: &Obj<'_>, prop: &str) -> Res<()> {
    let Some(m) = o.dictionary(prop)? else {
        return Ok(());
    };
    for (alg, v) in m {
        let Value::String(h) = v else {
            return Err(o.err(&format!("{prop}.{alg}"), ErrorKind::WrongType("a string")));
        };
        let hex_len = match alg.as_str() {
            "MD5" => Some(32),
            "SHA-1" => Some(40),
            "SHA-256" | "SHA3-256" => Some(64),
            "SHA-512" | "SHA3-512" => Some(128),
            _ => None,
        };
        if let Some(n) = hex_len
            && (h.len() != n || !h.bytes().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(o.invalid(
                &format!("{prop}.{alg}"),
                format!("a {alg} hash is {n} hexadecimal digits"),
            ));
        }
    }
    Ok(())
}
