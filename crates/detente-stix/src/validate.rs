//! Validation of one STIX 2.1 object and of bundles.

use serde_json::{Map, Value};

use crate::category::{Category, category};
use crate::check::{Allowed, Obj, Res, hashes, is_language_tag};
use crate::error::{ErrorKind, ValidationError, quoted};
use crate::ident::{is_uuid, parse_identifier, property_name_problem, type_name_problem};
use crate::timestamp::Timestamp;
use crate::types;

/// What the node needs of one validated object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's identifier, `type--uuid`.
    pub id: String,
    /// The `type` property.
    pub object_type: String,
    /// `spec_version` as given (SCOs may omit it in 2.1).
    pub spec_version: Option<String>,
    /// `created`, when present (never for SCOs, which are not versioned).
    pub created: Option<Timestamp>,
    /// `modified`, when present (never for SCOs).
    pub modified: Option<Timestamp>,
    /// `object_marking_refs`, empty when absent.
    pub object_marking_refs: Vec<String>,
    /// The `marking_ref` of every `granular_markings` entry that has one, in order.
    pub granular_marking_refs: Vec<String>,
    /// `created_by_ref`, when present.
    pub created_by_ref: Option<String>,
}

/// Validates one STIX 2.1 object (any type, custom ones too) and returns its summary.
pub fn validate_object(value: &Value) -> Result<ObjectMeta, ValidationError> {
    let Some(map) = value.as_object() else {
        return Err(ValidationError::new(
            None,
            "",
            ErrorKind::WrongType("a JSON object"),
        ));
    };
    let id = map.get("id").and_then(Value::as_str);
    let o = Obj::top(map, id);

    // Identity first: every other error names the object by its id.
    o.require(&["type"])?;
    let object_type = o.string("type")?.unwrap_or_default();
    if let Some(problem) = type_name_problem(object_type) {
        return Err(o.invalid("type", problem));
    }
    if object_type == "bundle" {
        return Err(o.invalid(
            "type",
            "a bundle is a container, not a STIX object; send its objects instead",
        ));
    }
    o.require(&["id"])?;
    let id = o.string("id")?.unwrap_or_default();
    let id_type = parse_identifier(id).map_err(|e| o.invalid("id", e))?;
    if id_type != object_type {
        return Err(o.invalid(
            "id",
            format!("the type part {id_type:?} differs from the `type` property {object_type:?}"),
        ));
    }

    for (name, v) in map {
        if let Some(problem) = property_name_problem(name) {
            return Err(o.invalid(name, problem));
        }
        // The list type: empty lists are prohibited, custom properties included.
        if v.as_array().is_some_and(Vec::is_empty) {
            return Err(o.invalid(name, "lists must not be empty"));
        }
        // STIX has no null value (the OASIS schemas refuse it for every property): an
        // absent value is an omitted property.
        if v.is_null() {
            return Err(o.invalid(name, "null is not a STIX value; omit the property instead"));
        }
    }

    let mut cat = category(object_type);
    if cat == Category::Custom {
        cat = custom_category(&o)?;
    }
    common(&o, cat)?;
    types::specific(&o, object_type)?;
    // Selectors are checked last: they point into properties the checks above vouch for.
    granular_markings(&o)?;

    Ok(ObjectMeta {
        id: id.to_owned(),
        object_type: object_type.to_owned(),
        spec_version: o.string("spec_version")?.map(str::to_owned),
        // SCOs are not versioned: a `created` or `modified` on one is a custom property.
        created: if cat == Category::Sco {
            None
        } else {
            o.timestamp("created")?
        },
        modified: if cat == Category::Sco {
            None
        } else {
            o.timestamp("modified")?
        },
        object_marking_refs: o
            .references("object_marking_refs", Allowed::Any)?
            .unwrap_or_default()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        granular_marking_refs: o
            .list("granular_markings")?
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|g| g.get("marking_ref").and_then(Value::as_str))
            .map(str::to_owned)
            .collect(),
        created_by_ref: o.string("created_by_ref")?.map(str::to_owned),
    })
}

impl ObjectMeta {
    /// The most restrictive TLP level marked anywhere in the object (object markings and
    /// granular markings alike: a reader gets the whole object or nothing), `None` if none.
    pub fn tlp(&self) -> Option<crate::tlp::Tlp> {
        crate::tlp::tlp_of_markings(
            self.object_marking_refs
                .iter()
                .chain(&self.granular_marking_refs),
        )
    }
}

/// A custom object defined through an extension (section 7.3) declares its kind with
/// `extension_type` `new-sdo`, `new-sro` or `new-sco`; without one it is left `Custom`.
fn custom_category(o: &Obj<'_>) -> Res<Category> {
    let Some(exts) = o.object("extensions")? else {
        return Ok(Category::Custom);
    };
    for ext in exts.values() {
        match ext.get("extension_type").and_then(Value::as_str) {
            Some("new-sdo") => return Ok(Category::Sdo),
            Some("new-sro") => return Ok(Category::Sro),
            Some("new-sco") => return Ok(Category::Sco),
            _ => {}
        }
    }
    Ok(Category::Custom)
}

/// Common properties (sections 3.2 and 6.1), by category.
fn common(o: &Obj<'_>, cat: Category) -> Res<()> {
    match cat {
        Category::Sdo | Category::Sro => {
            o.require(&["spec_version", "created", "modified"])?;
        }
        Category::Meta | Category::Sco | Category::Custom => {}
    }
    if let Some(v) = o.string("spec_version")?
        && v != "2.1"
    {
        return Err(o.invalid(
            "spec_version",
            format!("must be \"2.1\" for a STIX 2.1 object, not {}", quoted(v)),
        ));
    }

    // created/modified are common properties of every object but SCOs, where the names
    // are free for custom use.
    if cat != Category::Sco {
        for prop in ["created", "modified"] {
            if let Some(ts) = o.timestamp(prop)? {
                // Section 3.2: "MUST be precise to the nearest millisecond".
                if ts.precision() < 3 {
                    return Err(o.invalid(
                        prop,
                        "must be precise to the nearest millisecond (at least 3 fractional digits)",
                    ));
                }
            }
        }
        o.order("created", "modified", false)?;
        o.reference("created_by_ref", Allowed::Only(&["identity"]))?;
        o.boolean("revoked")?;
        o.string_lists(&["labels"])?;
        o.integer("confidence", 0, 100)?;
        external_references(o)?;
    } else {
        o.boolean("defanged")?;
    }

    o.references(
        "object_marking_refs",
        Allowed::Only(&["marking-definition"]),
    )?;
    extensions(o)?;
    o.generic_references()?;
    o.encoded_values()?;
    if let Some(lang) = o.string("lang")?
        && !is_language_tag(lang)
    {
        return Err(o.invalid(
            "lang",
            format!("{} is not an RFC 5646 language tag", quoted(lang)),
        ));
    }
    Ok(())
}

/// `external_references` (the external-reference type).
fn external_references(o: &Obj<'_>) -> Res<()> {
    let Some(items) = o.list("external_references")? else {
        return Ok(());
    };
    for (i, item) in items.iter().enumerate() {
        let path = o.path(&format!("external_references[{i}]"));
        let Value::Object(m) = item else {
            return Err(ValidationError::new(
                o.id,
                path,
                ErrorKind::WrongType("an object"),
            ));
        };
        let r = o.nested(m, path);
        r.require(&["source_name"])?;
        r.strings(&["source_name", "description", "url", "external_id"])?;
        hashes(&r, "hashes")?;
        let source = r.string("source_name")?.unwrap_or_default();
        let ext_id = r.string("external_id")?;
        // External references: CVE and CAPEC references carry their ids in a fixed shape.
        match source {
            "cve" => match ext_id {
                Some(x) if is_cve(x) => {}
                Some(_) => {
                    return Err(r.invalid(
                        "external_id",
                        "a cve reference needs a CVE id `CVE-YYYY-NNNN`",
                    ));
                }
                None => return Err(r.err("external_id", ErrorKind::Missing)),
            },
            "capec" => match ext_id {
                Some(x)
                    if x.strip_prefix("CAPEC-").is_some_and(|n| {
                        !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit())
                    }) => {}
                Some(_) => {
                    return Err(r.invalid(
                        "external_id",
                        "a capec reference needs a CAPEC id `CAPEC-N`",
                    ));
                }
                None => return Err(r.err("external_id", ErrorKind::Missing)),
            },
            _ => r.require_any(&["description", "url", "external_id"])?,
        }
    }
    Ok(())
}

fn is_cve(x: &str) -> bool {
    let Some(rest) = x.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, num)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|c| c.is_ascii_digit())
        && num.len() >= 4
        && num.bytes().all(|c| c.is_ascii_digit())
}

/// `granular_markings` (section 7.2.3): each applies a marking or a language to selected
/// content, and each selector must select something present in the object.
fn granular_markings(o: &Obj<'_>) -> Res<()> {
    let Some(items) = o.list("granular_markings")? else {
        return Ok(());
    };
    for (i, item) in items.iter().enumerate() {
        let path = o.path(&format!("granular_markings[{i}]"));
        let Value::Object(m) = item else {
            return Err(ValidationError::new(
                o.id,
                path,
                ErrorKind::WrongType("an object"),
            ));
        };
        let g = o.nested(m, path);
        g.require(&["selectors"])?;
        if let Some(lang) = g.string("lang")?
            && !is_language_tag(lang)
        {
            return Err(g.invalid(
                "lang",
                format!("{} is not an RFC 5646 language tag", quoted(lang)),
            ));
        }
        g.reference("marking_ref", Allowed::Only(&["marking-definition"]))?;
        match (g.has("marking_ref"), g.has("lang")) {
            (true, true) => {
                return Err(g.invalid("lang", "must not be present together with `marking_ref`"));
            }
            (false, false) => {
                return Err(g.invalid(
                    "marking_ref",
                    "one of `marking_ref` or `lang` must be present",
                ));
            }
            _ => {}
        }
        let selectors = g.list("selectors")?.map(Vec::as_slice).unwrap_or_default();
        for (j, s) in selectors.iter().enumerate() {
            let prop = format!("selectors[{j}]");
            let Value::String(sel) = s else {
                return Err(g.err(&prop, ErrorKind::WrongType("a string")));
            };
            if !selector_resolves(o.map, sel) {
                return Err(g.invalid(
                    &prop,
                    format!("{} selects nothing in this object", quoted(sel)),
                ));
            }
        }
    }
    Ok(())
}

/// Whether a granular-marking selector (`a.b.[2].c`) names content present in `map`.
fn selector_resolves(map: &Map<String, Value>, selector: &str) -> bool {
    let mut parts = selector.split('.');
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(mut cur) = map.get(first) else {
        return false;
    };
    for part in parts {
        let next = if let Some(idx) = part.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
            match (idx.parse::<usize>(), cur) {
                (Ok(n), Value::Array(a)) => a.get(n),
                _ => None,
            }
        } else {
            cur.as_object().and_then(|m| m.get(part))
        };
        match next {
            Some(v) => cur = v,
            None => return false,
        }
    }
    true
}

/// `extensions` (section 7.3): keys are extension-definition ids or predefined `*-ext`
/// names; values are non-empty objects, `extension_type` from the spec's list.
fn extensions(o: &Obj<'_>) -> Res<()> {
    let Some(m) = o.dictionary("extensions")? else {
        return Ok(());
    };
    for (key, v) in m {
        let path = o.path(&format!("extensions.{key}"));
        if let Some(uuid) = key.strip_prefix("extension-definition--")
            && !is_uuid(uuid)
        {
            return Err(o.invalid(
                "extensions",
                format!(
                    "key {} is not an extension-definition identifier",
                    quoted(key)
                ),
            ));
        }
        let Value::Object(ext) = v else {
            return Err(ValidationError::new(
                o.id,
                path,
                ErrorKind::WrongType("an object"),
            ));
        };
        if ext.is_empty() {
            return Err(ValidationError::new(
                o.id,
                path,
                ErrorKind::Invalid("an extension must have at least one property".to_owned()),
            ));
        }
        let e = o.nested(ext, path);
        // Section 7.3: an extension defined by an extension-definition says which kind it is.
        if key.starts_with("extension-definition--") {
            e.require(&["extension_type"])?;
        }
        if let Some(t) = e.string("extension_type")?
            && !types::EXTENSION_TYPES.contains(&t)
        {
            return Err(e.invalid(
                "extension_type",
                format!(
                    "{} is not one of {}",
                    quoted(t),
                    types::EXTENSION_TYPES.join(", ")
                ),
            ));
        }
        e.generic_references()?;
        e.encoded_values()?;
        types::predefined_extension(&e, key)?;
    }
    Ok(())
}

/// Validates a bundle `{"type":"bundle","id":"bundle--…","objects":[…]}`.
///
/// The outer error is about the bundle itself; otherwise one result per entry of
/// `objects`, in order (an absent `objects` gives an empty list).
pub fn validate_bundle(
    value: &Value,
) -> Result<Vec<Result<ObjectMeta, ValidationError>>, ValidationError> {
    let Some(map) = value.as_object() else {
        return Err(ValidationError::new(
            None,
            "",
            ErrorKind::WrongType("a JSON object"),
        ));
    };
    let o = Obj::top(map, map.get("id").and_then(Value::as_str));
    o.require(&["type"])?;
    if o.string("type")? != Some("bundle") {
        return Err(o.invalid("type", "a bundle must have type \"bundle\""));
    }
    o.require(&["id"])?;
    let id = o.string("id")?.unwrap_or_default();
    match parse_identifier(id) {
        Ok("bundle") => {}
        Ok(_) => return Err(o.invalid("id", "a bundle id must start with \"bundle--\"")),
        Err(e) => return Err(o.invalid("id", e)),
    }
    Ok(o.list("objects")?
        .map(|items| items.iter().map(validate_object).collect())
        .unwrap_or_default())
}
