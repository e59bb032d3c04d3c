//! Per-type rules: the required properties and value constraints STIX 2.1 sets for each of
//! its predefined object types (sections 4 to 7).

use crate::category::{Category, SCO_TYPES};
use crate::check::{Allowed, Kind, Obj, Res, hashes, is_language_tag};
use crate::error::{ErrorKind, quoted};
use crate::tlp::TLP1_MARKINGS;

/// The values of `extension_type` (section 7.3).
pub(crate) const EXTENSION_TYPES: &[&str] = &[
    "new-sdo",
    "new-sco",
    "new-sro",
    "property-extension",
    "toplevel-property-extension",
];

/// Objects that are not SDOs or SCOs: a relationship may not point at them (section 5.1).
const NOT_RELATABLE: Allowed = Allowed::Not(
    &[
        "relationship",
        "sighting",
        "bundle",
        "language-content",
        "marking-definition",
    ],
    "an SDO or SCO (not an SRO, bundle, language content or marking definition)",
);

/// What `sighting_of_ref` may point at: an SDO (section 5.2), so no SCO, SRO or meta object.
const SIGHTABLE: Allowed = Allowed::Except(
    &[Category::Sco, Category::Sro, Category::Meta],
    &["bundle"],
    "an SDO",
);

/// What observed-data `object_refs` may point at: SCOs and SROs (section 4.14), so no SDO
/// or meta object.
const OBSERVABLE: Allowed = Allowed::Except(
    &[Category::Sdo, Category::Meta],
    &["bundle"],
    "an SCO or SRO",
);

/// What `analysis_sco_refs` may point at: SCOs (section 4.12).
const SCO_ONLY: Allowed = Allowed::Except(
    &[Category::Sdo, Category::Sro, Category::Meta],
    &["bundle"],
    "an SCO",
);

const SOFTWARE: Allowed = Allowed::Only(&["software"]);
const IDENTITY_OR_LOCATION: Allowed = Allowed::Only(&["identity", "location"]);
const EMAIL_ADDR: Allowed = Allowed::Only(&["email-addr"]);
const ADDRESSES: Allowed = Allowed::Only(&["ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"]);

/// The rules for `object_type`; custom types have none beyond the common ones.
pub(crate) fn specific(o: &Obj<'_>, object_type: &str) -> Res<()> {
    match object_type {
        "attack-pattern" | "course-of-action" | "tool" | "vulnerability" | "incident" => {
            named(o)?;
            o.string_lists(&["aliases", "tool_types", "incident_types"])?;
            o.strings(&["tool_version"])?;
            kill_chain_phases(o)
        }
        "campaign" | "intrusion-set" | "threat-actor" | "infrastructure" => {
            named(o)?;
            o.string_lists(&[
                "aliases",
                "goals",
                "secondary_motivations",
                "personal_motivations",
                "roles",
                "threat_actor_types",
                "infrastructure_types",
            ])?;
            o.strings(&[
                "objective",
                "resource_level",
                "primary_motivation",
                "sophistication",
            ])?;
            kill_chain_phases(o)?;
            o.order("first_seen", "last_seen", false)
        }
        "identity" => {
            named(o)?;
            o.strings(&["identity_class", "contact_information"])?;
            o.string_lists(&["roles", "sectors"])
        }
        "indicator" => indicator(o),
        "malware" => malware(o),
        "malware-analysis" => malware_analysis(o),
        "grouping" => {
            o.require(&["context", "object_refs"])?;
            o.strings(&["context", "name", "description"])?;
            o.references("object_refs", Allowed::Any).map(drop)
        }
        "note" => {
            o.require(&["content", "object_refs"])?;
            o.strings(&["abstract", "content"])?;
            o.string_lists(&["authors"])?;
            o.references("object_refs", Allowed::Any).map(drop)
        }
        "opinion" => {
            o.require(&["opinion", "object_refs"])?;
            let op = o.string("opinion")?.unwrap_or_default();
            const OPINIONS: &[&str] = &[
                "strongly-disagree",
                "disagree",
                "neutral",
                "agree",
                "strongly-agree",
            ];
            if !OPINIONS.contains(&op) {
                return Err(o.invalid("opinion", format!("must be one of {}", OPINIONS.join(", "))));
            }
            o.string("explanation")?;
            o.string_lists(&["authors"])?;
            o.references("object_refs", Allowed::Any).map(drop)
        }
        "report" => {
            o.require(&["name", "published", "object_refs"])?;
            o.strings(&["name", "description"])?;
            o.timestamp("published")?;
            o.string_lists(&["report_types"])?;
            o.references("object_refs", Allowed::Any).map(drop)
        }
        "location" => location(o),
        "observed-data" => observed_data(o),
        "relationship" => {
            o.require(&["relationship_type", "source_ref", "target_ref"])?;
            let rt = o.string("relationship_type")?.unwrap_or_default();
            // Section 5.1: ASCII a-z, 0-9 and '-' only.
            if rt.is_empty()
                || !rt
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            {
                return Err(o.invalid("relationship_type", "may only contain a-z, 0-9 and '-'"));
            }
            o.string("description")?;
            o.reference("source_ref", NOT_RELATABLE)?;
            o.reference("target_ref", NOT_RELATABLE)?;
            o.order("start_time", "stop_time", true)
        }
        "sighting" => {
            o.require(&["sighting_of_ref"])?;
            o.reference("sighting_of_ref", SIGHTABLE)?;
            o.references("observed_data_refs", Allowed::Only(&["observed-data"]))?;
            o.references("where_sighted_refs", IDENTITY_OR_LOCATION)?;
            o.integer("count", 0, 999_999_999)?;
            o.boolean("summary")?;
            o.string("description")?;
            o.order("first_seen", "last_seen", false)
        }
        "language-content" => {
            o.require(&[
                "spec_version",
                "created",
                "modified",
                "object_ref",
                "contents",
            ])?;
            o.reference("object_ref", Allowed::Any)?;
            o.timestamp("object_modified")?;
            let contents = o.dictionary("contents")?;
            for (lang, v) in contents.into_iter().flatten() {
                if !is_language_tag(lang) {
                    return Err(o.invalid(
                        "contents",
                        format!("key {} is not an RFC 5646 language tag", quoted(lang)),
                    ));
                }
                if !v.is_object() {
                    return Err(o.err(
                        &format!("contents.{lang}"),
                        ErrorKind::WrongType("an object"),
                    ));
                }
            }
            Ok(())
        }
        "marking-definition" => marking_definition(o),
        "extension-definition" => extension_definition(o),
        _ if SCO_TYPES.contains(&object_type) => sco(o, object_type),
        _ => Ok(()),
    }
}

/// SDOs whose `name` is required.
fn named(o: &Obj<'_>) -> Res<()> {
    o.require(&["name"])?;
    o.strings(&["name", "description"])
}

/// `kill_chain_phases` (the kill-chain-phase type).
fn kill_chain_phases(o: &Obj<'_>) -> Res<()> {
    let Some(items) = o.list("kill_chain_phases")? else {
        return Ok(());
    };
    for (i, item) in items.iter().enumerate() {
        let path = o.path(&format!("kill_chain_phases[{i}]"));
        let Some(m) = item.as_object() else {
            return Err(crate::ValidationError::new(
                o.id,
                path,
                ErrorKind::WrongType("an object"),
            ));
        };
        let k = o.nested(m, path);
        k.require(&["kill_chain_name", "phase_name"])?;
        k.strings(&["kill_chain_name", "phase_name"])?;
    }
    Ok(())
}

fn indicator(o: &Obj<'_>) -> Res<()> {
    o.require(&["pattern", "pattern_type", "valid_from"])?;
    o.strings(&[
        "name",
        "description",
        "pattern",
        "pattern_type",
        "pattern_version",
    ])?;
    o.string_lists(&["indicator_types"])?;
    o.timestamps(&["valid_from", "valid_until"])?;
    // Section 4.7: valid_until MUST be greater than valid_from.
    o.order("valid_from", "valid_until", true)?;
    kill_chain_phases(o)
}

fn malware(o: &Obj<'_>) -> Res<()> {
    o.require(&["is_family"])?;
    // Section 4.11: a malware family must have a name.
    if o.boolean("is_family")? == Some(true) {
        o.require(&["name"])?;
    }
    o.strings(&["name", "description"])?;
    o.string_lists(&[
        "malware_types",
        "aliases",
        "architecture_execution_envs",
        "implementation_languages",
        "capabilities",
    ])?;
    kill_chain_phases(o)?;
    o.order("first_seen", "last_seen", false)?;
    o.references("operating_system_refs", SOFTWARE)?;
    o.references("sample_refs", Allowed::Only(&["file", "artifact"]))?;
    Ok(())
}

fn malware_analysis(o: &Obj<'_>) -> Res<()> {
    o.require(&["product"])?;
    o.require_any(&["result", "analysis_sco_refs"])?;
    o.strings(&[
        "product",
        "version",
        "configuration_version",
        "analysis_engine_version",
        "analysis_definition_version",
        "result_name",
        "result",
    ])?;
    o.string_lists(&["modules"])?;
    o.order("analysis_started", "analysis_ended", false)?;
    o.timestamp("submitted")?;
    o.reference("host_vm_ref", SOFTWARE)?;
    o.reference("operating_system_ref", SOFTWARE)?;
    o.references("installed_software_refs", SOFTWARE)?;
    o.reference(
        "sample_ref",
        Allowed::Only(&["file", "artifact", "network-traffic"]),
    )?;
    o.references("analysis_sco_refs", SCO_ONLY)?;
    Ok(())
}

fn location(o: &Obj<'_>) -> Res<()> {
    o.strings(&[
        "name",
        "description",
        "region",
        "country",
        "administrative_area",
        "city",
        "street_address",
        "postal_code",
    ])?;
    let lat = o.float("latitude", -90.0, 90.0)?;
    let lon = o.float("longitude", -180.0, 180.0)?;
    o.float("precision", 0.0, f64::MAX)?;
    // Section 4.10: latitude and longitude come together; precision needs both; at least
    // one of region, country or the coordinates is present.
    match (lat, lon) {
        (Some(_), None) => return Err(o.err("longitude", ErrorKind::Missing)),
        (None, Some(_)) => return Err(o.err("latitude", ErrorKind::Missing)),
        (None, None) if o.has("precision") => {
            return Err(o.invalid("precision", "requires `latitude` and `longitude`"));
        }
        _ => {}
    }
    o.require_any(&["region", "country", "latitude"])
}

fn observed_data(o: &Obj<'_>) -> Res<()> {
    o.require(&["first_observed", "last_observed", "number_observed"])?;
    o.timestamps(&["first_observed", "last_observed"])?;
    o.order("first_observed", "last_observed", false)?;
    o.integer("number_observed", 1, 999_999_999)?;
    // Section 4.14: exactly one of object_refs and the deprecated objects.
    match (o.has("object_refs"), o.has("objects")) {
        (true, true) => {
            Err(o.invalid("objects", "must not be present together with `object_refs`"))
        }
        (false, false) => Err(o.err("object_refs", ErrorKind::Missing)),
        (true, false) => {
            let refs = o.references("object_refs", OBSERVABLE)?.unwrap_or_default();
            // "MUST contain at least one SCO reference": SROs alone observe nothing.
            let sro = |r: &&str| r.starts_with("relationship--") || r.starts_with("sighting--");
            if refs.iter().all(sro) {
                return Err(o.invalid("object_refs", "must refer to at least one observable (SCO)"));
            }
            Ok(())
        }
        (false, true) => {
            for (key, v) in o.dictionary("objects")?.into_iter().flatten() {
                if v.get("type").and_then(serde_json::Value::as_str).is_none() {
                    return Err(o.invalid(
                        &format!("objects.{key}"),
                        "must be an observable object with a `type`",
                    ));
                }
            }
            Ok(())
        }
    }
}

fn marking_definition(o: &Obj<'_>) -> Res<()> {
    o.require(&["spec_version", "created"])?;
    o.string("name")?;
    // Section 7.2.1: without extensions, definition_type and definition are required.
    if !o.has("extensions") {
        o.require(&["definition_type", "definition"])?;
    }
    // Section 7.2.1: a marking definition must not mark itself.
    let refs = o
        .references("object_marking_refs", Allowed::Any)?
        .unwrap_or_default();
    if let Some(i) = refs.iter().position(|r| Some(*r) == o.id) {
        return Err(o.invalid(
            &format!("object_marking_refs[{i}]"),
            "a marking definition must not mark itself",
        ));
    }
    let dtype = o.string("definition_type")?;
    let def = o.object("definition")?;
    // Section 7.2.1.4: the four TLP 1.0 markings are fixed objects with fixed ids.
    let tlp1 = TLP1_COLORS.iter().find(|(id, _)| o.id == Some(*id));
    if let Some((_, color)) = tlp1 {
        if dtype != Some("tlp") {
            return Err(o.invalid(
                "definition_type",
                "a TLP 1.0 marking has definition_type \"tlp\"",
            ));
        }
        let name = format!("TLP:{}", color.to_ascii_uppercase());
        if o.string("name")?.is_some_and(|n| n != name) {
            return Err(o.invalid("name", format!("this TLP 1.0 marking is named {name:?}")));
        }
    }
    match (dtype, def) {
        (Some("statement"), Some(d)) => {
            let d = o.nested(d, o.path("definition"));
            d.require(&["statement"])?;
            d.strings(&["statement"])?;
        }
        (Some("tlp"), Some(d)) => {
            let d = o.nested(d, o.path("definition"));
            d.require(&["tlp"])?;
            let color = d.string("tlp")?.unwrap_or_default();
            let Some((expected, _)) = TLP1_COLORS.iter().find(|(_, c)| *c == color) else {
                return Err(d.invalid("tlp", "must be white, green, amber or red"));
            };
            if o.id != Some(*expected) {
                return Err(o.invalid(
                    "id",
                    format!(
                        "the TLP:{} marking must have id {expected}",
                        color.to_ascii_uppercase()
                    ),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The TLP 1.0 marking-definition ids and their `definition.tlp` colours.
const TLP1_COLORS: [(&str, &str); 4] = [
    (TLP1_MARKINGS[0].0, "white"),
    (TLP1_MARKINGS[1].0, "green"),
    (TLP1_MARKINGS[2].0, "amber"),
    (TLP1_MARKINGS[3].0, "red"),
];

fn extension_definition(o: &Obj<'_>) -> Res<()> {
    o.require(&[
        "spec_version",
        "created",
        "modified",
        "created_by_ref",
        "name",
        "schema",
        "version",
        "extension_types",
    ])?;
    o.strings(&["name", "description", "schema", "version"])?;
    let types = o
        .list("extension_types")?
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut toplevel = false;
    for (i, t) in types.iter().enumerate() {
        match t.as_str() {
            Some(s) if EXTENSION_TYPES.contains(&s) => {
                toplevel |= s == "toplevel-property-extension"
            }
            _ => {
                return Err(o.invalid(
                    &format!("extension_types[{i}]"),
                    format!("must be one of {}", EXTENSION_TYPES.join(", ")),
                ));
            }
        }
    }
    o.string_lists(&["extension_properties"])?;
    if o.has("extension_properties") && !toplevel {
        return Err(o.invalid(
            "extension_properties",
            "only allowed with extension type `toplevel-property-extension`",
        ));
    }
    Ok(())
}

/// Cyber-observable objects (section 6).
fn sco(o: &Obj<'_>, t: &str) -> Res<()> {
    hashes(o, "hashes")?;
    o.kinds(sco_kinds(t))?;
    match t {
        "artifact" => {
            o.strings(&[
                "mime_type",
                "payload_bin",
                "url",
                "encryption_algorithm",
                "decryption_key",
            ])?;
            // Section 6.1: a closed enumeration; a key only makes sense with an algorithm.
            if let Some(alg) = o.string("encryption_algorithm")? {
                const ALGS: &[&str] = &["AES-256-GCM", "ChaCha20-Poly1305", "mime-type-indicated"];
                if !ALGS.contains(&alg) {
                    return Err(o.invalid(
                        "encryption_algorithm",
                        format!("must be one of {}", ALGS.join(", ")),
                    ));
                }
            } else if o.has("decryption_key") {
                return Err(o.invalid("decryption_key", "requires `encryption_algorithm`"));
            }
            o.require_any(&["payload_bin", "url"])?;
            match (o.has("payload_bin"), o.has("url")) {
                (true, true) => {
                    return Err(o.invalid("url", "must not be present together with `payload_bin`"));
                }
                (false, true) if !o.has("hashes") => {
                    return Err(o.invalid("hashes", "required when `url` is present"));
                }
                _ => {}
            }
            Ok(())
        }
        "autonomous-system" => {
            o.require(&["number"])?;
            o.integer("number", i64::MIN, i64::MAX)?;
            o.strings(&["name", "rir"])
        }
        "directory" => {
            o.require(&["path"])?;
            o.strings(&["path", "path_enc"])?;
            o.timestamps(&["ctime", "mtime", "atime"])?;
            o.references("contains_refs", Allowed::Only(&["file", "directory"]))
                .map(drop)
        }
        "domain-name" => {
            value(o)?;
            o.references(
                "resolves_to_refs",
                Allowed::Only(&["ipv4-addr", "ipv6-addr", "domain-name"]),
            )
            .map(drop)
        }
        "email-addr" => {
            value(o)?;
            o.string("display_name")?;
            o.reference("belongs_to_ref", Allowed::Only(&["user-account"]))
                .map(drop)
        }
        "email-message" => email_message(o),
        "file" => {
            o.require_any(&["hashes", "name"])?;
            o.integer("size", 0, i64::MAX)?;
            o.strings(&["name", "name_enc", "magic_number_hex", "mime_type"])?;
            o.timestamps(&["ctime", "mtime", "atime"])?;
            o.reference("parent_directory_ref", Allowed::Only(&["directory"]))?;
            o.reference("content_ref", Allowed::Only(&["artifact"]))?;
            Ok(())
        }
        "ipv4-addr" | "ipv6-addr" => {
            value(o)?;
            let v = o.string("value")?.unwrap_or_default();
            if !is_cidr(v, t == "ipv6-addr") {
                let kind = if t == "ipv6-addr" { "IPv6" } else { "IPv4" };
                return Err(o.invalid(
                    "value",
                    format!("{} is not an {kind} address in CIDR notation", quoted(v)),
                ));
            }
            o.references("resolves_to_refs", Allowed::Only(&["mac-addr"]))?;
            o.references("belongs_to_refs", Allowed::Only(&["autonomous-system"]))
                .map(drop)
        }
        "mac-addr" => {
            value(o)?;
            let v = o.string("value")?.unwrap_or_default();
            // Section 6.10: colon-delimited, lower-case MAC-48 with leading zeros.
            let ok = v.len() == 17
                && v.bytes().enumerate().all(|(i, c)| {
                    if i % 3 == 2 {
                        c == b':'
                    } else {
                        c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
                    }
                });
            if !ok {
                return Err(o.invalid(
                    "value",
                    "must be a lower-case, colon-delimited MAC-48 address like 00:00:ab:cd:ef:01",
                ));
            }
            Ok(())
        }
        "mutex" => {
            o.require(&["name"])?;
            o.strings(&["name"])
        }
        "network-traffic" => network_traffic(o),
        "process" => {
            at_least_one_own_property(o)?;
            o.boolean("is_hidden")?;
            o.integer("pid", i64::MIN, i64::MAX)?;
            o.timestamp("created_time")?;
            o.strings(&["cwd", "command_line"])?;
            o.dictionary("environment_variables")?;
            o.references(
                "opened_connection_refs",
                Allowed::Only(&["network-traffic"]),
            )?;
            o.reference("creator_user_ref", Allowed::Only(&["user-account"]))?;
            o.reference("image_ref", Allowed::Only(&["file"]))?;
            o.reference("parent_ref", Allowed::Only(&["process"]))?;
            o.references("child_refs", Allowed::Only(&["process"]))
                .map(drop)
        }
        "software" => {
            o.require(&["name"])?;
            // Section 6.14: a CPE 2.3 entry (formatted-string binding: `cpe:2.3:part:...`).
            if let Some(cpe) = o.string("cpe")?
                && !(cpe.starts_with("cpe:2.3:")
                    && matches!(
                        cpe.as_bytes().get(8),
                        Some(b'a' | b'h' | b'o' | b'*' | b'-')
                    )
                    && cpe.as_bytes().get(9) == Some(&b':'))
            {
                return Err(o.invalid("cpe", "must be a CPE 2.3 name `cpe:2.3:part:vendor:...`"));
            }
            o.string_lists(&["languages"])
        }
        "url" => value(o),
        "user-account" => {
            at_least_one_own_property(o)?;
            o.booleans(&[
                "is_service_account",
                "is_privileged",
                "can_escalate_privs",
                "is_disabled",
            ])?;
            o.timestamps(&[
                "account_created",
                "account_expires",
                "credential_last_changed",
                "account_first_login",
                "account_last_login",
            ])
        }
        "windows-registry-key" => {
            at_least_one_own_property(o)?;
            // Section 6.17: the hive is spelled out in full (HKEY_LOCAL_MACHINE, not HKLM).
            if let Some(key) = o.string("key")? {
                let hive = key
                    .split('\\')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                if matches!(hive.as_str(), "HKLM" | "HKCU" | "HKCR" | "HKU" | "HKCC") {
                    return Err(o.invalid(
                        "key",
                        format!(
                            "the hive must be spelled out in full, not {}",
                            quoted(&hive)
                        ),
                    ));
                }
            }
            o.timestamp("modified_time")?;
            o.integer("number_of_subkeys", 0, i64::MAX)?;
            o.reference("creator_user_ref", Allowed::Only(&["user-account"]))?;
            registry_values(o)
        }
        "x509-certificate" => {
            at_least_one_own_property(o)?;
            if let Some(m) = o.object("x509_v3_extensions")? {
                let x = o.nested(m, o.path("x509_v3_extensions"));
                for (k, _) in m {
                    if k.starts_with("private_key_usage_period_") {
                        x.timestamp(k)?;
                    } else {
                        x.string(k)?;
                    }
                }
            }
            o.boolean("is_self_signed")?;
            // No order between the two: an observed certificate may well be malformed.
            o.timestamps(&["validity_not_before", "validity_not_after"])
        }
        _ => Ok(()),
    }
}

/// Whether `v` is an address, optionally with a `/prefix` (sections 6.8 and 6.9: "expressed
/// using CIDR notation"). IPv6 may carry a `%zone`, as the OASIS schema allows.
fn is_cidr(v: &str, v6: bool) -> bool {
    let (addr, prefix) = match v.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (v, None),
    };
    let max = if v6 { 128 } else { 32 };
    let prefix_ok = prefix.is_none_or(|p| {
        p.parse::<u8>()
            .is_ok_and(|n| n <= max && p == n.to_string())
    });
    let addr_ok = if v6 {
        let bare = addr.split_once('%').map_or(addr, |(a, _)| a);
        bare.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        addr.parse::<std::net::Ipv4Addr>().is_ok()
    };
    prefix_ok && addr_ok
}

/// windows-registry-key `values` (section 6.17.1): objects with a closed `data_type`.
fn registry_values(o: &Obj<'_>) -> Res<()> {
    const DATA_TYPES: &[&str] = &[
        "REG_NONE",
        "REG_SZ",
        "REG_EXPAND_SZ",
        "REG_BINARY",
        "REG_DWORD",
        "REG_DWORD_BIG_ENDIAN",
        "REG_DWORD_LITTLE_ENDIAN",
        "REG_LINK",
        "REG_MULTI_SZ",
        "REG_RESOURCE_LIST",
        "REG_FULL_RESOURCE_DESCRIPTION",
        "REG_RESOURCE_REQUIREMENTS_LIST",
        "REG_QWORD",
        "REG_INVALID_TYPE",
    ];
    for (i, v) in o.list("values")?.into_iter().flatten().enumerate() {
        let path = o.path(&format!("values[{i}]"));
        let Some(m) = v.as_object() else {
            return Err(crate::ValidationError::new(
                o.id,
                path,
                ErrorKind::WrongType("an object"),
            ));
        };
        let r = o.nested(m, path);
        r.require_any(&["name", "data", "data_type"])?;
        r.strings(&["name", "data"])?;
        if let Some(dt) = r.string("data_type")?
            && !DATA_TYPES.contains(&dt)
        {
            return Err(r.invalid(
                "data_type",
                format!("{} is not a registry data type", quoted(dt)),
            ));
        }
    }
    Ok(())
}

/// Required properties and closed enumerations of the predefined SCO extensions (section 6).
pub(crate) fn predefined_extension(e: &Obj<'_>, name: &str) -> Res<()> {
    e.kinds(extension_kinds(name))?;
    match name {
        "ntfs-ext" => e.each_object("alternate_data_streams", |s| {
            s.require(&["name"])?;
            s.kinds(&[("name", Kind::Str), ("size", Kind::Int)])?;
            hashes(s, "hashes")
        }),
        "windows-pebinary-ext" => {
            e.require(&["pe_type"])?;
            hashes(e, "file_header_hashes")?;
            if let Some(m) = e.object("optional_header")? {
                let h = e.nested(m, e.path("optional_header"));
                hashes(&h, "hashes")?;
                h.encoded_values()?;
            }
            e.each_object("sections", |s| {
                s.require(&["name"])?;
                s.kinds(&[
                    ("name", Kind::Str),
                    ("size", Kind::Int),
                    ("entropy", Kind::Num),
                ])?;
                hashes(s, "hashes")
            })
        }
        "windows-service-ext" => e
            .references("service_dll_refs", Allowed::Only(&["file"]))
            .map(drop),
        "archive-ext" => {
            e.require(&["contains_refs"])?;
            e.references("contains_refs", Allowed::Only(&["file", "directory"]))
                .map(drop)
        }
        "http-request-ext" => {
            e.require(&["request_method", "request_value"])?;
            e.reference("message_body_data_ref", Allowed::Only(&["artifact"]))
                .map(drop)
        }
        "icmp-ext" => {
            e.require(&["icmp_type_hex", "icmp_code_hex"])?;
            Ok(())
        }
        "socket-ext" => {
            e.require(&["address_family"])?;
            const FAMILIES: &[&str] = &[
                "AF_UNSPEC",
                "AF_INET",
                "AF_IPX",
                "AF_APPLETALK",
                "AF_NETBIOS",
                "AF_INET6",
                "AF_IRDA",
                "AF_BTH",
            ];
            const SOCKET_TYPES: &[&str] = &[
                "SOCK_STREAM",
                "SOCK_DGRAM",
                "SOCK_RAW",
                "SOCK_RDM",
                "SOCK_SEQPACKET",
            ];
            let family = e.string("address_family")?.unwrap_or_default();
            if !FAMILIES.contains(&family) {
                return Err(e.invalid(
                    "address_family",
                    format!("must be one of {}", FAMILIES.join(", ")),
                ));
            }
            if let Some(st) = e.string("socket_type")?
                && !SOCKET_TYPES.contains(&st)
            {
                return Err(e.invalid(
                    "socket_type",
                    format!("must be one of {}", SOCKET_TYPES.join(", ")),
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Property kinds of the SCOs (section 6), beyond those checked with their constraints.
fn sco_kinds(t: &str) -> &'static [(&'static str, Kind)] {
    use Kind::*;
    match t {
        "email-message" => &[("additional_header_fields", HeaderDict)],
        "file" => &[("name", Str), ("name_enc", Str), ("mime_type", Str)],
        "process" => &[("environment_variables", StrDict)],
        "software" => &[
            ("name", Str),
            ("cpe", Str),
            ("swid", Str),
            ("vendor", Str),
            ("version", Str),
        ],
        "user-account" => &[
            ("user_id", Str),
            ("credential", Str),
            ("account_login", Str),
            ("account_type", Str),
            ("display_name", Str),
        ],
        "x509-certificate" => &[
            ("version", Str),
            ("serial_number", Str),
            ("signature_algorithm", Str),
            ("issuer", Str),
            ("subject", Str),
            ("subject_public_key_algorithm", Str),
            ("subject_public_key_modulus", Str),
            ("subject_public_key_exponent", Int),
            ("x509_v3_extensions", NonEmptyObj),
        ],
        _ => &[],
    }
}

/// Property kinds of the predefined SCO extensions (section 6).
fn extension_kinds(name: &str) -> &'static [(&'static str, Kind)] {
    use Kind::*;
    match name {
        "ntfs-ext" => &[("sid", Str)],
        "raster-image-ext" => &[
            ("image_height", Int),
            ("image_width", Int),
            ("bits_per_pixel", Int),
            ("exif_tags", Dict),
        ],
        "pdf-ext" => &[
            ("version", Str),
            ("is_optimized", Bool),
            ("document_info_dict", StrDict),
            ("pdfid0", Str),
            ("pdfid1", Str),
        ],
        "archive-ext" => &[("comment", Str)],
        "windows-pebinary-ext" => &[
            ("pe_type", Str),
            ("imphash", Str),
            ("number_of_sections", Int),
            ("time_date_stamp", Ts),
            ("number_of_symbols", Int),
            ("size_of_optional_header", Int),
            ("optional_header", NonEmptyObj),
        ],
        "http-request-ext" => &[
            ("request_method", Str),
            ("request_value", Str),
            ("request_version", Str),
            ("request_header", HeaderDict),
            ("message_body_length", Int),
        ],
        "socket-ext" => &[
            ("is_blocking", Bool),
            ("is_listening", Bool),
            ("options", Dict),
            ("socket_descriptor", Int),
            ("socket_handle", Int),
        ],
        "windows-process-ext" => &[
            ("aslr_enabled", Bool),
            ("dep_enabled", Bool),
            ("priority", Str),
            ("owner_sid", Str),
            ("window_title", Str),
            ("startup_info", Dict),
            ("integrity_level", Str),
        ],
        "windows-service-ext" => &[
            ("service_name", Str),
            ("descriptions", StrList),
            ("display_name", Str),
            ("group_name", Str),
            ("start_type", Str),
            ("service_type", Str),
            ("service_status", Str),
        ],
        "unix-account-ext" => &[
            ("gid", Int),
            ("groups", StrList),
            ("home_dir", Str),
            ("shell", Str),
        ],
        _ => &[],
    }
}

/// SCOs whose `value` is required.
fn value(o: &Obj<'_>) -> Res<()> {
    o.require(&["value"])?;
    o.strings(&["value"])
}

/// process, user-account, windows-registry-key and x509-certificate have no required
/// property, but MUST carry at least one beyond the common ones.
fn at_least_one_own_property(o: &Obj<'_>) -> Res<()> {
    const COMMON: &[&str] = &[
        "type",
        "id",
        "spec_version",
        "object_marking_refs",
        "granular_markings",
        "defanged",
    ];
    if o.map.keys().any(|k| !COMMON.contains(&k.as_str())) {
        Ok(())
    } else {
        Err(o.invalid(
            "type",
            "this observable must have at least one property beyond the common ones",
        ))
    }
}

fn email_message(o: &Obj<'_>) -> Res<()> {
    o.require(&["is_multipart"])?;
    let multipart = o.boolean("is_multipart")?.unwrap_or_default();
    // Section 6.6: body for single-part, body_multipart for multipart messages.
    if multipart && o.has("body") {
        return Err(o.invalid("body", "must not be present when `is_multipart` is true"));
    }
    if !multipart && o.has("body_multipart") {
        return Err(o.invalid(
            "body_multipart",
            "must not be present when `is_multipart` is false",
        ));
    }
    o.timestamp("date")?;
    o.strings(&["content_type", "message_id", "subject", "body"])?;
    o.string_lists(&["received_lines"])?;

    o.reference("from_ref", EMAIL_ADDR)?;
    o.reference("sender_ref", EMAIL_ADDR)?;
    o.references("to_refs", EMAIL_ADDR)?;
    o.references("cc_refs", EMAIL_ADDR)?;
    o.references("bcc_refs", EMAIL_ADDR)?;
    o.reference("raw_email_ref", Allowed::Only(&["artifact"]))?;
    if let Some(parts) = o.list("body_multipart")? {
        for (i, part) in parts.iter().enumerate() {
            let path = o.path(&format!("body_multipart[{i}]"));
            let Some(m) = part.as_object() else {
                return Err(crate::ValidationError::new(
                    o.id,
                    path,
                    ErrorKind::WrongType("an object"),
                ));
            };
            let p = o.nested(m, path);
            p.strings(&["body", "content_type", "content_disposition"])?;
            p.reference("body_raw_ref", Allowed::Only(&["artifact", "file"]))?;
            p.require_any(&["body", "body_raw_ref"])?;
            if p.has("body") && p.has("body_raw_ref") {
                return Err(p.invalid("body_raw_ref", "must not be present together with `body`"));
            }
        }
    }
    Ok(())
}

fn network_traffic(o: &Obj<'_>) -> Res<()> {
    o.require(&["protocols"])?;
    o.string_lists(&["protocols"])?;
    o.require_any(&["src_ref", "dst_ref"])?;
    o.reference("src_ref", ADDRESSES)?;
    o.reference("dst_ref", ADDRESSES)?;
    o.integer("src_port", 0, 65_535)?;
    o.integer("dst_port", 0, 65_535)?;
    for p in [
        "src_byte_count",
        "dst_byte_count",
        "src_packets",
        "dst_packets",
    ] {
        o.integer(p, 0, i64::MAX)?;
    }
    o.timestamps(&["start", "end"])?;
    o.order("start", "end", false)?;
    // Section 6.12: an active flow has no end yet.
    if o.boolean("is_active")? == Some(true) && o.has("end") {
        return Err(o.invalid("end", "must not be present when `is_active` is true"));
    }
    o.dictionary("ipfix")?;
    o.reference("src_payload_ref", Allowed::Only(&["artifact"]))?;
    o.reference("dst_payload_ref", Allowed::Only(&["artifact"]))?;
    o.references("encapsulates_refs", Allowed::Only(&["network-traffic"]))?;
    o.reference("encapsulated_by_ref", Allowed::Only(&["network-traffic"]))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::{META_TYPES, SDO_TYPES, SRO_TYPES, category};

    #[test]
    fn cidr() {
        for ok in ["10.0.0.1", "10.0.0.0/8", "0.0.0.0/0", "255.255.255.255/32"] {
            assert!(is_cidr(ok, false), "{ok}");
        }
        for bad in [
            "10.0.0",
            "10.0.0.256",
            "10.0.0.1/33",
            "10.0.0.1/08",
            "010.0.0.1",
            "::1",
            "",
        ] {
            assert!(!is_cidr(bad, false), "{bad}");
        }
        for ok in [
            "::1",
            "2001:db8::/32",
            "fe80::1%eth0",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        ] {
            assert!(is_cidr(ok, true), "{ok}");
        }
        for bad in ["2001:db8::/129", "1.2.3.4", "2001:db8:::1", "x"] {
            assert!(!is_cidr(bad, true), "{bad}");
        }
    }

    #[test]
    fn category_matches_the_lists() {
        for t in SDO_TYPES {
            assert_eq!(category(t), Category::Sdo, "{t}");
        }
        for t in SRO_TYPES {
            assert_eq!(category(t), Category::Sro, "{t}");
        }
        for t in SCO_TYPES {
            assert_eq!(category(t), Category::Sco, "{t}");
        }
        for t in META_TYPES {
            assert_eq!(category(t), Category::Meta, "{t}");
        }
        assert_eq!(category("x-mitre-tactic"), Category::Custom);
        assert_eq!(
            SDO_TYPES.len() + SRO_TYPES.len() + SCO_TYPES.len() + META_TYPES.len(),
            42
        );
    }

    #[test]
    fn categories_are_disjoint() {
        for t in SDO_TYPES {
            assert!(!SRO_TYPES.contains(t) && !SCO_TYPES.contains(t) && !META_TYPES.contains(t));
        }
        for t in SCO_TYPES {
            assert!(!META_TYPES.contains(t));
        }
    }
}
