//! Add Objects (TAXII 5.5): validate an envelope, store it in one transaction, answer 202.
//!
//! TLP:RED recipients: a TLP:RED object names the members who may read it, besides its
//! contributor, in the custom property `x_detente_recipients` (a list of member names).
//!
//! TLP fails closed: an object's level is the most restrictive TLP marking anywhere in it
//! (object and granular markings, ids compared case-insensitively), and marking definitions
//! that look like TLP without being the fixed ones are refused. Who may add a version of an
//! object is decided by the store's shared rules (`detente_store::rules`).
//!
//! Contributor signatures (`docs/signatures.md`): an object carrying detente's signature
//! extension must be signed by the posting member, with the key currently bound to it; in a
//! collection that requires signatures, an unsigned object is refused. Both are checked here,
//! before the store's transaction, and a failure is that object's failure in the status.

use axum::http::StatusCode;
use axum::response::Response;
use detente_stix::tlp::{Tlp, lookalike_problem};
use detente_store::{CollectionRecord, IngestBatch, IngestOutcome, NewObject, StatusDetail, Store};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::App;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::respond::{status_view, taxii};

/// The custom property naming a TLP:RED object's recipients.
pub const RECIPIENTS_PROPERTY: &str = "x_detente_recipients";

#[derive(Deserialize)]
struct EnvelopeIn<'a> {
    #[serde(borrow)]
    objects: Option<Vec<&'a RawValue>>,
}

/// Validates one posted object into what the store keeps (with its parsed JSON, for the
/// checks that follow), or the reason it is refused.
/// `now` and `max_future_skew` are µs: a `modified` (or `created`) further ahead than the
/// skew is refused, so no version can stay "latest" by being dated in the far future.
fn prepare(
    raw: &RawValue,
    now: i64,
    max_future_skew: i64,
) -> Result<(NewObject, Value), StatusDetail> {
    let value: Value = serde_json::from_str(raw.get()).map_err(|e| StatusDetail {
        id: String::new(),
        version: String::new(),
        message: Some(format!("not JSON: {e}")),
    })?;
    let o = prepare_parsed(raw.get(), &value, now, max_future_skew)?;
    Ok((o, value))
}

/// Reads a POST body as a TAXII envelope and validates each object in it (size, STIX 2.1,
/// id, markings, version dated no further ahead than `max_future_skew` µs past `now`), in
/// envelope order: what may be stored, or why not. The objects handler uses it (with the
/// node's check against forged node objects) before it checks TLP:RED recipients and
/// signatures and stores; it is public so the fuzzer runs the same code.
pub fn read_envelope(
    body: &[u8],
    now: i64,
    max_future_skew: i64,
    max_object_bytes: usize,
) -> Result<Vec<Result<NewObject, StatusDetail>>, ApiError> {
    read_envelope_checked(body, now, max_future_skew, max_object_bytes, &mut |o, _| {
        Ok(o)
    })
}

/// [`read_envelope`] with a further check of each valid object, given with its parsed JSON.
fn read_envelope_checked(
    body: &[u8],
    now: i64,
    max_future_skew: i64,
    max_object_bytes: usize,
    check: &mut dyn FnMut(NewObject, &Value) -> Result<NewObject, StatusDetail>,
) -> Result<Vec<Result<NewObject, StatusDetail>>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("the request body is not UTF-8".into()))?;
    let env: EnvelopeIn<'_> = serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::Unprocessable(format!("the request body is not a TAXII envelope: {e}"))
        }
        _ => ApiError::BadRequest(format!("the request body is not valid JSON: {e}")),
    })?;
    let raws = env.objects.unwrap_or_default();
    if raws.is_empty() {
        return Err(ApiError::Unprocessable(
            "the envelope holds no objects".into(),
        ));
    }
    Ok(raws
        .into_iter()
        .map(|raw| {
            if raw.get().len() > max_object_bytes {
                Err(oversized(raw, max_object_bytes))
            } else {
                prepare(raw, now, max_future_skew).and_then(|(o, value)| check(o, &value))
            }
        })
        .collect())
}

/// [`prepare`] of an object already parsed (`value` is `text` parsed); also how a sync reads
/// a partner's object, so the same rules decide what it is.
pub fn prepare_parsed(
    text: &str,
    value: &Value,
    now: i64,
    max_future_skew: i64,
) -> Result<NewObject, StatusDetail> {
    let str_prop = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let fail = |message: String| StatusDetail {
        id: str_prop("id"),
        version: {
            let m = str_prop("modified");
            if m.is_empty() { str_prop("created") } else { m }
        },
        message: Some(message),
    };
    let meta = detente_stix::validate_object(value).map_err(|e| fail(e.to_string()))?;
    let spec_version = meta
        .spec_version
        .clone()
        .unwrap_or_else(|| "2.1".to_owned());
    if spec_version != "2.1" {
        return Err(fail(format!(
            "{}: property `spec_version`: unsupported version {spec_version:?} (this node takes 2.1)",
            meta.id
        )));
    }
    // One object, one id: upper-case hex would be a second id for the same UUID.
    if meta.id.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(fail(format!(
            "{}: property `id`: the UUID must be written in lower case on this node",
            meta.id
        )));
    }
    if let Some(problem) = lookalike_problem(value) {
        return Err(fail(problem));
    }
    if meta.object_type == "indicator"
        && let Some(problem) = pattern_problem(value)
    {
        return Err(fail(format!("{}: property `pattern`: {problem}", meta.id)));
    }
    let version_ts = meta.modified.as_ref().or(meta.created.as_ref());
    let version_micros = match version_ts {
        Some(t) => Some(
            i64::try_from(t.unix_nanos().div_euclid(1000))
                .map_err(|_| fail(format!("{}: version timestamp out of range", meta.id)))?,
        ),
        None => None,
    };
    if let (Some(v), Some(t)) = (version_micros, version_ts)
        && v > now.saturating_add(max_future_skew)
    {
        return Err(fail(format!(
            "{}: property `{}`: {} is more than {} s in the future",
            meta.id,
            if meta.modified.is_some() {
                "modified"
            } else {
                "created"
            },
            t.as_str(),
            max_future_skew / 1_000_000
        )));
    }
    let tlp = meta.tlp();
    let mut recipients = Vec::new();
    if let Some(r) = value.get(RECIPIENTS_PROPERTY) {
        let list = r.as_array().ok_or_else(|| {
            fail(format!(
                "{}: property `{RECIPIENTS_PROPERTY}`: must be a list of member names",
                meta.id
            ))
        })?;
        for item in list {
            let name = item.as_str().ok_or_else(|| {
                fail(format!(
                    "{}: property `{RECIPIENTS_PROPERTY}`: must be a list of member names",
                    meta.id
                ))
            })?;
            recipients.push(name.to_owned());
        }
    }
    Ok(NewObject {
        version: version_ts.map(|t| t.as_str().to_owned()),
        version_micros,
        spec_version,
        // Unmarked is stored as TLP:CLEAR.
        tlp: tlp.unwrap_or(Tlp::Clear),
        recipients,
        body: text.to_owned(),
        id: meta.id,
        object_type: meta.object_type,
    })
}

/// Longest parse error quoted in a status failure (it may quote the pattern's own text).
const MAX_PATTERN_ERROR_CHARS: usize = 300;

/// Why an indicator's STIX pattern (`pattern_type` `stix`, or none given) does not parse, as
/// every reader (scanner, flags, PSI) parses it; `None` when it parses or is another language.
fn pattern_problem(indicator: &Value) -> Option<String> {
    let language = indicator.get("pattern_type").and_then(Value::as_str);
    if language.is_some_and(|l| l != "stix") {
        return None;
    }
    // STIX validation already refused an indicator without a string `pattern`.
    let pattern = indicator.get("pattern").and_then(Value::as_str)?;
    let e = detente_pattern::parse(pattern, detente_pattern::StixVersion::V21).err()?;
    let full = e.to_string();
    let mut message: String = full.chars().take(MAX_PATTERN_ERROR_CHARS).collect();
    if message.len() < full.len() {
        message.push('…');
    }
    Some(format!("not a valid STIX pattern: {message}"))
}

/// `o` if every recipient it names (TLP:RED) is a member of this node, else the failure
/// naming the first unknown one: a misspelt recipient would leave the object unreadable to
/// the member meant. `known` caches lookups for the envelope.
fn known_recipients<S: Store>(
    a: &App<S>,
    known: &mut std::collections::HashMap<String, bool>,
    o: NewObject,
) -> Result<NewObject, StatusDetail> {
    if o.tlp != Tlp::Red {
        return Ok(o);
    }
    for name in &o.recipients {
        let is_member = match known.get(name) {
            Some(&k) => k,
            None => {
                let k = a.store.member_by_name(name).map_err(|e| StatusDetail {
                    id: o.id.clone(),
                    version: o.version.clone().unwrap_or_default(),
                    message: Some(format!("could not check the recipients: {e}")),
                })?;
                known.insert(name.clone(), k.is_some());
                k.is_some()
            }
        };
        if !is_member {
            return Err(StatusDetail {
                id: o.id.clone(),
                version: o.version.clone().unwrap_or_default(),
                message: Some(format!(
                    "{}: property `{RECIPIENTS_PROPERTY}`: no member named {:?} on this node",
                    o.id,
                    name.chars().take(64).collect::<String>()
                )),
            });
        }
    }
    Ok(o)
}

/// The poster's current contributor key, looked up once per envelope.
enum PosterKey {
    /// Not looked up yet.
    Unknown,
    /// The member has no key bound.
    None,
    /// The bound key, or why it cannot be used.
    Bound(Result<Box<detente_tlog::VerifierKey>, String>),
}

/// `o` if its contributor signature is in order for this poster and collection, else the
/// failure saying what is wrong with it.
fn signature_check<S: Store>(
    a: &App<S>,
    p: &Principal,
    c: &CollectionRecord,
    key: &mut PosterKey,
    o: NewObject,
    value: &Value,
) -> Result<NewObject, StatusDetail> {
    let fail = |o: &NewObject, reason: String| StatusDetail {
        id: o.id.clone(),
        version: o.version.clone().unwrap_or_default(),
        message: Some(format!("{}: contributor signature: {reason}", o.id)),
    };
    let unsigned = |o: NewObject| {
        if c.require_signatures {
            Err(fail(
                &o,
                format!(
                    "this collection requires signed objects and the object carries no                      `{}` extension entry (sign it with `detente push --sign KEYFILE`)",
                    detente_sign::EXTENSION_ID
                ),
            ))
        } else {
            Ok(o)
        }
    };
    // The parsed object, never a search of its text: JSON escapes can spell the extension's
    // id in many ways, and readers parse it.
    let sig = match detente_sign::signature_of(value) {
        Ok(Some(sig)) => sig,
        Ok(None) => return unsigned(o),
        Err(e) => return Err(fail(&o, e.to_string())),
    };
    let poster = &p.member.name;
    if &sig.signer != poster {
        return Err(fail(
            &o,
            format!(
                "signed as {:?} but posted by {poster:?}: a member posts only objects signed \
                 with its own key",
                sig.signer.chars().take(64).collect::<String>()
            ),
        ));
    }
    if matches!(key, PosterKey::Unknown) {
        *key = match a.store.current_key(poster) {
            Ok(None) => PosterKey::None,
            Ok(Some(b)) => {
                PosterKey::Bound(detente_sign::parse_contributor_key(&b.vkey).map(Box::new))
            }
            Err(e) => PosterKey::Bound(Err(format!("could not read the bound key: {e}"))),
        };
    }
    let vkey = match key {
        PosterKey::Bound(Ok(k)) => k,
        PosterKey::Bound(Err(e)) => return Err(fail(&o, e.clone())),
        PosterKey::None | PosterKey::Unknown => {
            return Err(fail(
                &o,
                format!(
                    "member {poster:?} has no contributor key bound on this node (an admin \
                     binds one with `detente member set-key`)"
                ),
            ));
        }
    };
    match detente_sign::verify(value, poster, vkey) {
        Ok(_) => Ok(o),
        Err(e) => Err(fail(&o, e.to_string())),
    }
}

/// Handles a POST to a collection's objects: every object valid is stored before the reply.
pub(crate) fn post_objects<S: Store>(
    a: &App<S>,
    p: &Principal,
    c: &CollectionRecord,
    body: &[u8],
) -> Result<Response, ApiError> {
    let request_timestamp = crate::now_micros();
    let skew = i64::try_from(a.config.max_future_skew.as_micros()).unwrap_or(i64::MAX);
    let mut members = std::collections::HashMap::new();
    let mut key = PosterKey::Unknown;
    let read = read_envelope_checked(
        body,
        request_timestamp,
        skew,
        a.config.max_object_bytes,
        &mut |o, value| {
            if let Some(problem) = a.flagger.forged(value) {
                return Err(StatusDetail {
                    id: o.id,
                    version: o.version.unwrap_or_default(),
                    message: Some(problem),
                });
            }
            let o = known_recipients(a, &mut members, o)?;
            signature_check(a, p, c, &mut key, o, value)
        },
    )?;
    let mut objects = Vec::with_capacity(read.len());
    let mut failures = Vec::new();
    for prepared in read {
        match prepared {
            Ok(o) => objects.push(o),
            Err(f) => failures.push(f),
        }
    }
    if objects.is_empty() {
        let reasons: Vec<String> = failures
            .iter()
            .take(5)
            .filter_map(|f| f.message.clone())
            .collect();
        a.metrics.ingested(0, 0, failures.len() as u64);
        return Err(ApiError::Unprocessable(format!(
            "no object in the envelope can be stored: {}",
            reasons.join("; ")
        )));
    }
    // Flagging is decided on the configuration in force when the envelope arrives; with
    // nothing configured it costs one generation read and no copies.
    let flagging = a.flagger.active(&*a.store).unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not load the flagging configuration");
        None
    });
    let is_indicator: Vec<bool> = objects
        .iter()
        .map(|o| o.object_type == "indicator")
        .collect();
    let indicators: Vec<NewObject> = match flagging {
        Some(_) => objects
            .iter()
            .filter(|o| o.object_type == "indicator")
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let status_id = uuid::Uuid::new_v4().to_string();
    let batch = IngestBatch {
        collection: c.id.clone(),
        contributor: p.member.id,
        status_id,
        request_timestamp,
        objects,
        failures,
    };
    // Another node writing at the same moment may make the store refuse with a conflict that
    // changed nothing: the envelope is valid, so the node tries again rather than the client.
    let report = detente_store::retry_conflicts(|| a.store.ingest(batch.clone()))?;
    // The envelope is stored and its status final: a flagging failure is the node's problem,
    // logged, and never the poster's.
    if let Some(m) = flagging {
        let outcomes: Vec<IngestOutcome> = report
            .outcomes
            .iter()
            .zip(&is_indicator)
            .filter(|(_, i)| **i)
            .map(|(o, _)| o.clone())
            .collect();
        if let Err(e) = a
            .flagger
            .flag(&*a.store, &m, &p.member.name, c, &indicators, &outcomes)
        {
            tracing::error!(error = %e, "flagging the envelope's indicators failed");
        }
    }
    let stored = report
        .outcomes
        .iter()
        .filter(|o| matches!(o, IngestOutcome::Stored { .. }))
        .count() as u64;
    let dups = report
        .outcomes
        .iter()
        .filter(|o| matches!(o, IngestOutcome::Duplicate { .. }))
        .count() as u64;
    a.metrics
        .ingested(stored, dups, report.status.failures.len() as u64);
    let status = status_view(&report.status);
    let body = serde_json::to_string(&status).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(taxii(StatusCode::ACCEPTED, body))
}

/// The failure for an object over `max` bytes: its id and version, read without building it.
fn oversized(raw: &RawValue, max: usize) -> StatusDetail {
    #[derive(Deserialize, Default)]
    struct Head<'a> {
        #[serde(borrow, default)]
        id: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, default)]
        modified: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, default)]
        created: Option<std::borrow::Cow<'a, str>>,
    }
    let head: Head<'_> = serde_json::from_str(raw.get()).unwrap_or_default();
    let id = head.id.unwrap_or_default().into_owned();
    StatusDetail {
        version: head
            .modified
            .or(head.created)
            .unwrap_or_default()
            .into_owned(),
        message: Some(format!(
            "{id}: the object is {} bytes, over this node's limit of {max} bytes per object",
            raw.get().len()
        )),
        id,
    }
}
