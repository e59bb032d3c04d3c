//! Indicator sources: STIX 2.1 bundles, Zeek intel files, MISP warninglists, the GRIZZLY STEPPE
//! CSV and plain one-value-per-line lists. Parsing is pure: callers hand in bytes.

use std::borrow::Cow;

pub use detente_indicator::object::LoadOptions;
use detente_indicator::object::{self, Reading, StixObject};
pub use detente_indicator::types::PatternIndicator;
use detente_indicator::types::{Indicator, Provenance, Value};
use detente_warninglist::Warninglist;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};

use crate::norm::{self, MAX_URL};

/// What loading one source produced.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Indicators that are in force.
    pub indicators: Vec<Indicator>,
    /// Which reader recognised the source.
    pub format: &'static str,
    /// Indicators dropped because `revoked` is true.
    pub revoked: usize,
    /// Indicators dropped because `valid_until` has passed.
    pub expired: usize,
    /// Indicators dropped because `valid_from` is in the future.
    pub not_yet_valid: usize,
    /// Entries we could not type, with a reason each (first few kept).
    pub skipped: Vec<String>,
    /// Number of entries skipped in total.
    pub skipped_count: usize,
    /// Patterns beyond simple comparisons, evaluated on the records their atoms select.
    pub patterns: Vec<PatternIndicator>,
    /// The source as a MISP warninglist, entries as written (for use as an allowlist).
    pub warninglist: Option<Warninglist>,
    /// False-positive reports: (indicator id, reporting party), from sightings marked
    /// `x_detente_false_positive`.
    pub false_positives: Vec<(String, String)>,
}

impl Loaded {
    fn add(&mut self, reading: Reading) {
        match reading {
            Reading::NotIndicator => {}
            Reading::Revoked => self.revoked += 1,
            Reading::Expired => self.expired += 1,
            Reading::NotYetValid => self.not_yet_valid += 1,
            Reading::Skipped(why) => self.skip(why),
            Reading::Indicators(list) => self.indicators.extend(list),
            Reading::Pattern(p) => self.patterns.push(p),
            Reading::FalsePositive(ind, by) => self.false_positives.push((ind, by)),
        }
    }

    /// Adds what `b` read after what `self` did (its format and warninglist aside).
    fn append(&mut self, b: Loaded) {
        self.indicators.extend(b.indicators);
        self.patterns.extend(b.patterns);
        self.revoked += b.revoked;
        self.expired += b.expired;
        self.not_yet_valid += b.not_yet_valid;
        for why in b.skipped {
            if self.skipped.len() < 20 {
                self.skipped.push(why);
            }
        }
        self.skipped_count += b.skipped_count;
        self.false_positives.extend(b.false_positives);
    }

    fn skip(&mut self, why: String) {
        self.skipped_count += 1;
        if self.skipped.len() < 20 {
            self.skipped.push(why);
        }
    }
}

/// Errors that make a whole source unusable.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// JSON that does not parse or has the wrong shape.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// CSV that does not parse.
    #[error("invalid CSV: {0}")]
    Csv(#[from] csv::Error),
    /// A required column or field is missing.
    #[error("{0}")]
    Shape(String),
}

/// Recognises the source format from its content and loads it; `name` labels derived ids.
pub fn load_bytes(name: &str, data: &[u8], opts: LoadOptions) -> Result<Loaded, SourceError> {
    let head = data
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .map_or(&data[..0], |p| &data[p..]);
    if head.starts_with(b"{") {
        let mut out = Loaded::default();
        let doc = parse_json(
            data,
            JsonSeed {
                opts,
                out: &mut out,
            },
        )?;
        if doc.objects {
            out.format = "stix";
            return Ok(out);
        }
        if let Some(list) = doc.list {
            let kind = doc.kind.unwrap_or_default();
            let name = doc.name.unwrap_or_default();
            return Ok(load_warninglist(Warninglist::new(name, kind, list)));
        }
        return Err(SourceError::Shape(
            "JSON is neither a STIX bundle/envelope nor a MISP warninglist".into(),
        ));
    }
    if head.starts_with(b"#fields") || head.starts_with(b"#separator") {
        return load_zeek_intel(name, data, opts);
    }
    if head.starts_with(b"INDICATOR_VALUE,") {
        return load_jar_csv(name, data, opts);
    }
    Ok(load_plain(name, data, opts))
}

/// Where to cut a large STIX bundle in two for [`load_stix_halves`]: the `}` that ends the
/// first object at or after `from` which is followed by `,{"type":"`. In valid JSON that text
/// can only stand between two objects of one array (the quote before `type` opens a string),
/// and the halves' parse checks the array is the bundle's `objects`.
pub fn stix_split_point(data: &[u8], from: usize) -> Option<usize> {
    let rest = data.get(from..)?;
    memchr::memmem::find(rest, br#"},{"type":""#).map(|p| from + p)
}

/// Loads a STIX bundle cut at [`stix_split_point`] `p` from its two halves in parallel:
/// `first` is the bundle up to and including byte `p`, then `]}`; `second` is `{"objects":[`
/// then the bundle from byte `p + 2` on. Gives the same result as [`load_bytes`] on the whole
/// bundle, or `None` when the halves do not read as the two parts of one bundle's `objects`
/// (the caller then loads the whole).
pub fn load_stix_halves(first: &[u8], second: &[u8], opts: LoadOptions) -> Option<Loaded> {
    let parse = |data: &[u8]| -> Option<(Loaded, JsonDoc)> {
        let mut out = Loaded::default();
        let doc = parse_json(
            data,
            JsonSeed {
                opts,
                out: &mut out,
            },
        )
        .ok()?;
        Some((out, doc))
    };
    let (a, b) = rayon::join(|| parse(first), || parse(second));
    let ((mut a, da), (b, db)) = (a?, b?);
    // The cut must lie in the one `objects` array: the first half ends inside it, the second
    // half has no other.
    if da.objects_seen != 1 || da.keys_after_objects != 0 || db.objects_seen != 1 {
        return None;
    }
    a.format = "stix";
    a.append(b);
    Some(a)
}

/// Applies the false-positive reports found in any of `loaded` to the indicators they name
/// (in any of `loaded`): an indicator's count is the number of distinct reporting parties.
pub fn apply_false_positives(loaded: &mut [Loaded]) {
    let counts = detente_indicator::score::distinct_parties(
        loaded
            .iter()
            .flat_map(|l| &l.false_positives)
            .map(|(id, by)| (id.as_str(), by.as_str())),
    );
    if counts.is_empty() {
        return;
    }
    let counts: std::collections::HashMap<String, u32> = counts
        .into_iter()
        .map(|(id, n)| (id.to_string(), n))
        .collect();
    for l in loaded.iter_mut() {
        let provenances = l
            .indicators
            .iter_mut()
            .map(|i| (&i.id, &mut i.provenance))
            .chain(l.patterns.iter_mut().map(|p| (&p.id, &mut p.provenance)));
        for (id, p) in provenances {
            if let Some(n) = counts.get(id) {
                p.false_positives = *n;
            }
        }
    }
}

/// A stable id for indicators whose source has none: `indicator--<UUIDv5-shaped hash>`.
pub fn derived_id(source: &str, value: &str) -> String {
    let h = Sha256::digest(format!("{source}\0{value}").as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&h[..16]);
    format!(
        "indicator--{}",
        uuid::Builder::from_sha1_bytes(first).into_uuid()
    )
}

/// Parses an RFC 3339 timestamp to Unix milliseconds (fractional seconds kept to the
/// millisecond); `detente_indicator::object::parse_timestamp` gives seconds.
pub fn parse_timestamp_ms(s: &str) -> Option<i64> {
    detente_stix::timestamp::parse_rfc3339(s)
        .ok()
        .map(|t| t.unix_millis())
}

/// The JSON sources we read: a STIX bundle or TAXII envelope (`objects`), or a MISP warninglist
/// (`name`, `type`, `list`). STIX objects are typed one at a time as they are parsed, so a large
/// bundle never exists as a tree in memory.
/// Reads one JSON document (and nothing after it) through `seed`. Input that is valid UTF-8,
/// checked in one pass over all of it, is read as a `str`, so serde_json does not validate each
/// string again (per-string checks on short strings were about 11% of loading a large bundle's
/// instructions); other input is read as bytes, which reports where it is not UTF-8.
fn parse_json(data: &[u8], seed: JsonSeed<'_>) -> Result<JsonDoc, serde_json::Error> {
    match std::str::from_utf8(data) {
        Ok(text) => {
            let mut de = serde_json::Deserializer::from_str(text);
            let doc = seed.deserialize(&mut de)?;
            de.end()?;
            Ok(doc)
        }
        Err(_) => {
            let mut de = serde_json::Deserializer::from_slice(data);
            let doc = seed.deserialize(&mut de)?;
            de.end()?;
            Ok(doc)
        }
    }
}

struct JsonSeed<'o> {
    opts: LoadOptions,
    out: &'o mut Loaded,
}

#[derive(Default)]
struct JsonDoc {
    kind: Option<String>,
    name: Option<String>,
    list: Option<Vec<serde_json::Value>>,
    objects: bool,
    /// How often `objects` occurs, and how many keys follow its last occurrence.
    objects_seen: usize,
    keys_after_objects: usize,
}

impl<'de> DeserializeSeed<'de> for JsonSeed<'_> {
    type Value = JsonDoc;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<JsonDoc, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for JsonSeed<'_> {
    type Value = JsonDoc;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a STIX bundle or a MISP warninglist")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonDoc, A::Error> {
        let mut doc = JsonDoc::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            doc.keys_after_objects += 1;
            match key.as_ref() {
                "type" => doc.kind = map.next_value::<Option<String>>()?,
                "name" => doc.name = map.next_value::<Option<String>>()?,
                "list" => doc.list = Some(map.next_value()?),
                "objects" => {
                    doc.objects = true;
                    doc.objects_seen += 1;
                    doc.keys_after_objects = 0;
                    map.next_value_seed(ObjectsSeed {
                        opts: self.opts,
                        out: &mut *self.out,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(doc)
    }
}

struct ObjectsSeed<'o> {
    opts: LoadOptions,
    out: &'o mut Loaded,
}

impl<'de> DeserializeSeed<'de> for ObjectsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ObjectsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of STIX objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(obj) = seq.next_element::<StixObject<'de>>()? {
            self.out.add(object::read(&obj, self.opts));
        }
        Ok(())
    }
}

/// A warninglist used as an indicator source: its `cidr`, `hostname` and `string` entries that
/// have a type become indicators; the list itself is kept for use as an allowlist.
fn load_warninglist(wl: Warninglist) -> Loaded {
    let mut out = Loaded {
        format: "misp-warninglist",
        ..Loaded::default()
    };
    let source = format!("misp-warninglist:{}", wl.name);
    for s in &wl.entries {
        let value = match wl.kind.as_str() {
            "cidr" => norm::parse_cidr(s.as_bytes()).map(|(ip, len)| Value::Net(ip, len)),
            // A hostname list covers the name and everything below it; string lists are exact.
            "hostname" => Value::guess(s.trim_matches('.'), true),
            "string" => Value::guess(s, false),
            other => {
                out.skip(format!(
                    "{}: {other} list entries are not indicators (they apply as an allowlist)",
                    wl.name
                ));
                break;
            }
        };
        match value {
            Some(value) => out.indicators.push(Indicator {
                id: derived_id(&source, s),
                written: s.clone(),
                value,
                provenance: Provenance::default(),
            }),
            None => out.skip(format!("{}: untyped entry {s:?}", wl.name)),
        }
    }
    out.warninglist = Some(wl);
    out
}

fn load_zeek_intel(name: &str, data: &[u8], opts: LoadOptions) -> Result<Loaded, SourceError> {
    let mut out = Loaded {
        format: "zeek-intel",
        ..Loaded::default()
    };
    let mut cols: Option<(usize, usize)> = None;
    for (n, line) in data.split(|c| *c == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if let Some(fields) = line.strip_prefix(b"#fields\t") {
            let names: Vec<&[u8]> = fields.split(|c| *c == b'\t').collect();
            let ind = names.iter().position(|f| *f == b"indicator");
            let typ = names.iter().position(|f| *f == b"indicator_type");
            match (ind, typ) {
                (Some(i), Some(t)) => cols = Some((i, t)),
                _ => {
                    return Err(SourceError::Shape(format!(
                        "{name}:{}: #fields lacks indicator/indicator_type",
                        n + 1
                    )));
                }
            }
            continue;
        }
        if line[0] == b'#' {
            continue;
        }
        let Some((ci, ct)) = cols else {
            return Err(SourceError::Shape(format!(
                "{name}:{}: data before the #fields header",
                n + 1
            )));
        };
        let fields: Vec<&[u8]> = line.split(|c| *c == b'\t').collect();
        let (Some(v), Some(t)) = (fields.get(ci), fields.get(ct)) else {
            out.skip(format!("{name}:{}: too few fields", n + 1));
            continue;
        };
        let written = String::from_utf8_lossy(v).into_owned();
        let typ = String::from_utf8_lossy(t);
        let value = match typ.as_ref() {
            // Feeds put CIDRs in ADDR fields (zeek/zeek#514); accept both.
            "Intel::ADDR" | "Intel::SUBNET" => norm::parse_cidr(v).map(|(ip, l)| Value::Net(ip, l)),
            "Intel::DOMAIN" => {
                Value::guess(&written, opts.subdomains).filter(|x| matches!(x, Value::Domain(..)))
            }
            "Intel::URL" => {
                let mut u = [0u8; MAX_URL];
                norm::normalize_url(v, &mut u)
                    .map(|p| Value::Url(String::from_utf8_lossy(p.normalized).into_owned()))
            }
            "Intel::EMAIL" => {
                Value::guess(&written, false).filter(|x| matches!(x, Value::Email(_)))
            }
            "Intel::FILE_HASH" | "Intel::CERT_HASH" => {
                Value::guess(&written, false).filter(|x| matches!(x, Value::Hash(_)))
            }
            other => {
                out.skip(format!(
                    "{name}:{}: indicator type {other} is not matched",
                    n + 1
                ));
                continue;
            }
        };
        match value {
            Some(value) => {
                let id = derived_id(&format!("zeek-intel:{typ}"), &written);
                out.indicators.push(Indicator {
                    id,
                    written,
                    value,
                    provenance: Provenance::default(),
                });
            }
            None => out.skip(format!(
                "{name}:{}: {typ} value {written:?} does not parse",
                n + 1
            )),
        }
    }
    if cols.is_none() {
        return Err(SourceError::Shape(format!("{name}: no #fields header")));
    }
    Ok(out)
}

/// The JAR-16-20296 CSV: `INDICATOR_VALUE,TYPE,COMMENT,...`; the COMMENT column of hash rows
/// carries further digests as `SHA1:<hex>|SHA256:<hex>`.
fn load_jar_csv(name: &str, data: &[u8], opts: LoadOptions) -> Result<Loaded, SourceError> {
    let mut out = Loaded {
        format: "jar-csv",
        ..Loaded::default()
    };
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(data);
    let headers = rdr.headers()?.clone();
    let col = |n: &str| headers.iter().position(|h| h == n);
    let (Some(ci), Some(ct), Some(cc)) = (col("INDICATOR_VALUE"), col("TYPE"), col("COMMENT"))
    else {
        return Err(SourceError::Shape(format!(
            "{name}: missing INDICATOR_VALUE/TYPE/COMMENT columns"
        )));
    };
    let source = format!("jar-csv:{name}");
    for (row, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let value = rec.get(ci).unwrap_or("").trim();
        let typ = rec.get(ct).unwrap_or("").trim();
        let comment = rec.get(cc).unwrap_or("");
        let push = |written: &str, v: Option<Value>, out: &mut Loaded| match v {
            Some(v) => out.indicators.push(Indicator {
                id: derived_id(&source, written),
                written: written.to_string(),
                value: v,
                provenance: Provenance::default(),
            }),
            None => out.skip(format!(
                "{name}: record {}: {typ} value {written:?} does not parse",
                row + 1
            )),
        };
        if !value.is_empty() {
            let v = match typ {
                "IPV4ADDR" | "IPV6ADDR" => {
                    norm::parse_cidr(value.as_bytes()).map(|(ip, l)| Value::Net(ip, l))
                }
                "FQDN" => {
                    Value::guess(value, opts.subdomains).filter(|x| matches!(x, Value::Domain(..)))
                }
                "URL" => {
                    let mut u = [0u8; MAX_URL];
                    norm::normalize_url(value.as_bytes(), &mut u)
                        .map(|p| Value::Url(String::from_utf8_lossy(p.normalized).into_owned()))
                }
                "MD5" | "SHA1" | "SHA256" => {
                    Value::guess(value, false).filter(|x| matches!(x, Value::Hash(_)))
                }
                _ => Value::guess(value, opts.subdomains),
            };
            push(value, v, &mut out);
        }
        for part in comment.split('|') {
            let Some((k, v)) = part.split_once(':') else {
                continue;
            };
            if matches!(k.trim(), "MD5" | "SHA1" | "SHA256") {
                let v = v.trim();
                push(
                    v,
                    Value::guess(v, false).filter(|x| matches!(x, Value::Hash(_))),
                    &mut out,
                );
            }
        }
    }
    Ok(out)
}

/// One value per line, typed by shape; `#` starts a comment line.
fn load_plain(name: &str, data: &[u8], opts: LoadOptions) -> Loaded {
    let mut out = Loaded {
        format: "plain",
        ..Loaded::default()
    };
    let source = format!("plain:{name}");
    for (n, line) in data.split(|c| *c == b'\n').enumerate() {
        let s = String::from_utf8_lossy(line);
        let s = s.trim();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        match Value::guess(s, opts.subdomains) {
            Some(value) => out.indicators.push(Indicator {
                id: derived_id(&source, s),
                written: s.to_string(),
                value,
                provenance: Provenance::default(),
            }),
            None => out.skip(format!("{name}:{}: untyped value {s:?}", n + 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: LoadOptions = LoadOptions {
        now: 1_800_000_000,
        subdomains: true,
    };

    #[test]
    fn one_object_reads_as_a_bundle_of_it_loads() {
        let load_object = |data: &[u8], opts| {
            let mut out = Loaded {
                format: "stix",
                ..Loaded::default()
            };
            out.add(object::read_json(data, opts)?);
            Ok::<_, serde_json::Error>(out)
        };
        let ind = br#"{"type":"indicator","id":"indicator--1","pattern":"[domain-name:value = 'Evil.com']","pattern_type":"stix","modified":"2024-09-17T00:00:00Z","confidence":60}"#;
        let one = load_object(ind, OPTS).unwrap();
        let mut bundle = br#"{"type":"bundle","objects":["#.to_vec();
        bundle.extend_from_slice(ind);
        bundle.extend_from_slice(b"]}");
        let all = load_bytes("b", &bundle, OPTS).unwrap();
        assert_eq!(summary(&one), summary(&all));
        assert_eq!(one.indicators[0].provenance.confidence, Some(60));
        assert_eq!(one.indicators[0].provenance.since, Some(1_726_531_200));
        let report = |extra: &str| {
            let s = format!(
                r#"{{"type":"sighting","id":"sighting--1","sighting_of_ref":"indicator--1","x_detente_false_positive":true{extra}}}"#
            );
            load_object(s.as_bytes(), OPTS).unwrap().false_positives
        };
        assert_eq!(
            report(""),
            [("indicator--1".to_string(), "sighting--1".to_string())]
        );
        assert!(report(r#","revoked":true"#).is_empty());
        assert!(load_object(b"[]", OPTS).is_err());
    }

    /// The halves [`load_stix_halves`] expects for a cut at `p`.
    fn halves(data: &[u8], p: usize) -> (Vec<u8>, Vec<u8>) {
        let mut a = data[..=p].to_vec();
        a.extend_from_slice(b"]}");
        let mut b = br#"{"objects":["#.to_vec();
        b.extend_from_slice(&data[p + 2..]);
        (a, b)
    }

    fn summary(l: &Loaded) -> String {
        let inds: Vec<String> = l
            .indicators
            .iter()
            .map(|i| format!("{} {} {:?}", i.id, i.written, i.value))
            .collect();
        format!(
            "{inds:?} {} {} {} {:?} {} {}",
            l.revoked,
            l.expired,
            l.not_yet_valid,
            l.skipped,
            l.skipped_count,
            l.patterns.len()
        )
    }

    #[test]
    fn halves_load_like_the_whole() {
        let mut objects = Vec::new();
        for i in 0..200 {
            let pattern = match i % 5 {
                0 => format!("[ipv4-addr:value = '10.0.{}.{}']", i / 250, i % 250),
                1 => format!("[domain-name:value = 'h{i}.example.com']"),
                2 => format!("[file:name = 'x{i}']"),
                3 => format!(
                    "[url:value = 'http://u{i}.example.net/a' OR domain-name:value = 'd{i}.org']"
                ),
                _ => format!(
                    "[ipv4-addr:value = '1.2.3.{}' AND file:size > {i}]",
                    i % 250
                ),
            };
            // Written by hand: `type` first, as producers do (serde_json::json! sorts keys).
            objects.push(format!(
                r#"{{"type":"indicator","id":"indicator--{i}","pattern":{},"pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z","revoked":{},"external_references":[{{"source_name":"a"}},{{"type":"x","n":{i}}}]}}"#,
                serde_json::Value::String(pattern),
                i % 17 == 0
            ));
        }
        let data = format!(
            r#"{{"type":"bundle","id":"bundle--1","objects":[{}],"z":[1]}}"#,
            objects.join(",")
        )
        .into_bytes();
        let whole = load_bytes("t", &data, OPTS).unwrap();
        let mut cuts = 0;
        let mut from = 0;
        while let Some(p) = stix_split_point(&data, from) {
            from = p + 1;
            let (a, b) = halves(&data, p);
            // Cuts inside an object's own arrays are refused; cuts between objects agree.
            if let Some(l) = load_stix_halves(&a, &b, OPTS) {
                assert_eq!(summary(&l), summary(&whole), "cut at {p}");
                cuts += 1;
            }
        }
        assert!(cuts > 100, "{cuts}");
        // Every `},{"type":"` here is a real boundary, yet a cut inside
        // `external_references` is refused.
        let nested = memchr::memmem::find(&data, br#"{"source_name":"a"},{"type":"x""#).unwrap();
        let (a, b) = halves(&data, nested + 18);
        assert!(load_stix_halves(&a, &b, OPTS).is_none());
    }

    #[test]
    fn stix_validity() {
        let b = serde_json::json!({"type": "bundle", "objects": [
            {"type": "indicator", "id": "indicator--1", "pattern": "[ipv4-addr:value = '1.2.3.4']", "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z"},
            {"type": "indicator", "id": "indicator--2", "pattern": "[ipv4-addr:value = '1.2.3.5']", "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z", "revoked": true},
            {"type": "indicator", "id": "indicator--3", "pattern": "[ipv4-addr:value = '1.2.3.6']", "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2021-01-01T00:00:00Z"},
            {"type": "indicator", "id": "indicator--4", "pattern": "[ipv4-addr:value = '1.2.3.7']", "pattern_type": "stix", "valid_from": "2099-01-01T00:00:00Z"},
            {"type": "indicator", "id": "indicator--5", "pattern": "[file:name = 'x']", "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z"},
            {"type": "malware", "id": "malware--1"}
        ]});
        let l = load_bytes("b", b.to_string().as_bytes(), OPTS).unwrap();
        assert_eq!(
            (
                l.indicators.len(),
                l.revoked,
                l.expired,
                l.not_yet_valid,
                l.skipped_count
            ),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(l.indicators[0].id, "indicator--1");
    }

    #[test]
    fn zeek_intel_urls_lose_scheme() {
        let f = b"#fields\tindicator\tindicator_type\tmeta.source\nhttps://Evil.com/x\tIntel::URL\ts\nevil.com/y\tIntel::URL\ts\n1.2.3.0/24\tIntel::ADDR\ts\nbob\tIntel::USER_NAME\ts\n";
        let l = load_bytes("f", f, OPTS).unwrap();
        assert_eq!(l.format, "zeek-intel");
        assert_eq!(l.indicators[0].value, Value::Url("evil.com/x".into()));
        assert_eq!(l.indicators[1].value, Value::Url("evil.com/y".into()));
        assert_eq!(
            l.indicators[2].value,
            Value::Net(norm::Ip::V4(0x01020300), 24)
        );
        assert_eq!(l.skipped_count, 1);
        assert!(load_bytes("f", b"#fields\tx\n1\n", OPTS).is_err());
    }

    #[test]
    fn derived_ids_are_uuid_shaped() {
        let id = derived_id("a", "b");
        assert_eq!(id.len(), "indicator--".len() + 36);
        assert_eq!(id, derived_id("a", "b"));
        assert_ne!(id, derived_id("a", "c"));
        // The first 16 bytes of SHA-256("a\0b") with version 5 and the RFC 4122 variant
        // (the ids written before the uuid crate formed them stay the same).
        assert_eq!(id, "indicator--59b271ae-1bbc-51d3-9d41-929817f4b16f");
    }

    #[test]
    fn timestamps_in_milliseconds() {
        // The calendar checks are `detente_stix::timestamp`'s; here, the unit.
        assert_eq!(
            parse_timestamp_ms("2024-09-17T02:00:00.2509+02:00"),
            Some(1_726_531_200_250)
        );
    }
}
