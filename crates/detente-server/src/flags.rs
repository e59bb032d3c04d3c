//! Ingest flagging (issues 14 and 16): every indicator a member stores is checked against
//! the node's MISP warninglists and protected assets (per node or per collection), and each
//! one that matches gets a STIX `note` written by the node, never a change to the indicator
//! itself (contributor signatures and byte-identical mirrors depend on its bytes).
//!
//! The note is created by the node's own identity and contributed by the node's own member
//! ([`NODE_MEMBER`], disabled, unable to log in), in the indicator's collection, with the
//! indicator's markings and (TLP:RED) its recipients plus its contributor, so it is never
//! more visible than the indicator. It enters through [`Store::ingest`] like any object (so
//! it is in the transparency log), and members cannot post objects that claim to be the
//! node's (see [`Flagger::forged`]). The exact fields are in `docs/assets.md`.
//!
//! Matchers are built once per store generation (every configuration change moves it), not
//! per request; a POST with nothing configured costs one generation read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use detente_observable::{Ip, MAX_URL, Observable, normalize_url, overlap, parse_cidr};
use detente_pattern::{Literal, Op, StixVersion};
use detente_store::{
    AssetKind, CollectionRecord, FlagAction, FlagRecord, IngestBatch, IngestOutcome, MemberId,
    NewMember, NewObject, ObjectQuery, Role, Store, StoreError, Tlp, VersionMatch, Viewer,
};
use detente_warninglist::{Action, Matcher, Warninglist};
use serde_json::{Value as Json, json};

use crate::error::ApiError;
use crate::ingest::RECIPIENTS_PROPERTY;

/// The member the node contributes its flags as: disabled, and not a name a member can have
/// (member names have no `:`, Basic-auth user names cannot).
pub const NODE_MEMBER: &str = "detente:node";
/// The custom property of a flag note that lists the matches.
pub const FLAGS_PROPERTY: &str = "x_detente_flags";
/// The custom property of a flag note naming the flagged indicator version.
pub const FLAGGED_VERSION_PROPERTY: &str = "x_detente_flagged_version";

/// One configuration generation's matchers.
#[derive(Default)]
pub(crate) struct Matchers {
    generation: u64,
    /// Node-wide warninglists, then per-collection ones.
    node_lists: Matcher,
    collection_lists: HashMap<String, Matcher>,
    /// Protected domains: name → (subdomains included, collection or every one).
    domains: HashMap<String, Vec<(bool, Option<String>)>>,
    /// Protected ranges: (network, prefix length, as written, collection).
    ranges: Vec<(Ip, u8, String, Option<String>)>,
    /// Protected organisations: (lower-case name, as written, collection).
    orgs: Vec<(String, String, Option<String>)>,
}

impl Matchers {
    fn is_empty(&self) -> bool {
        self.node_lists.is_empty()
            && self.collection_lists.is_empty()
            && self.domains.is_empty()
            && self.ranges.is_empty()
            && self.orgs.is_empty()
    }

    fn build<S: Store + ?Sized>(store: &S, generation: u64) -> Result<Matchers, StoreError> {
        let mut m = Matchers {
            generation,
            ..Matchers::default()
        };
        for l in store.flag_warninglists()? {
            let wl = match Warninglist::parse(l.body.as_bytes()) {
                Ok(wl) => wl,
                Err(e) => {
                    tracing::warn!(list = %l.key, error = %e, "stored warninglist does not load; not applied");
                    continue;
                }
            };
            let target = match &l.collection {
                None => &mut m.node_lists,
                Some(c) => m.collection_lists.entry(c.clone()).or_default(),
            };
            for why in target.add(&l.key, &wl) {
                tracing::warn!(list = %l.key, "warninglist entry not applied: {why}");
            }
            if l.action == FlagAction::Suppress {
                target.set_action(&l.key, Action::Suppress);
            }
        }
        m.node_lists.finish();
        m.collection_lists.values_mut().for_each(Matcher::finish);
        for a in store.assets()? {
            match a.kind {
                AssetKind::Domain => m
                    .domains
                    .entry(a.value.clone())
                    .or_default()
                    .push((a.subdomains, a.collection)),
                AssetKind::Cidr => match parse_cidr(a.value.as_bytes()) {
                    Some((ip, len)) => m.ranges.push((ip, len, a.value, a.collection)),
                    None => tracing::warn!(asset = %a.value, "stored range does not parse"),
                },
                AssetKind::Org => m.orgs.push((a.value.to_lowercase(), a.value, a.collection)),
            }
        }
        Ok(m)
    }

    /// What `value` (a string a pattern compares with) matches in `collection`.
    fn check(&self, collection: &str, value: &str, out: &mut Vec<Json>) {
        let typed = Observable::parse(value);
        let mut probes = vec![value.to_owned()];
        // A range is listed when its first address is: MISP lists hold addresses and ranges.
        if let Some(Observable::Net(ip, len)) = &typed
            && *len < ip.width()
        {
            probes.push(ip.to_string());
        }
        let lists = std::iter::once((&self.node_lists, None)).chain(
            self.collection_lists
                .get(collection)
                .map(|l| (l, Some(collection))),
        );
        for (lists, scope) in lists {
            for probe in &probes {
                if let Some(v) = lists.check(probe.as_bytes()) {
                    let e = lists.entry(v.entry);
                    out.push(json!({
                        "source": "warninglist",
                        "value": value,
                        "list": e.list.key,
                        "list_name": e.list.name,
                        "list_type": e.list.kind,
                        "entry": e.written,
                        "action": if v.suppress { "suppress" } else { "inform" },
                        "scope": scope.unwrap_or("node"),
                    }));
                    break;
                }
            }
        }
        let applies = |c: &Option<String>| c.as_deref().is_none_or(|c| c == collection);
        let scope = |c: &Option<String>| c.clone().unwrap_or_else(|| "node".into());
        match &typed {
            Some(Observable::Domain(d)) => self.check_domain(d, value, collection, out),
            Some(Observable::Url(_)) => {
                let mut buf = [0u8; MAX_URL];
                if let Some(parts) = normalize_url(value.trim_ascii().as_bytes(), &mut buf) {
                    let host = String::from_utf8_lossy(parts.host);
                    match Observable::parse(&host) {
                        Some(Observable::Domain(d)) => {
                            self.check_domain(&d, value, collection, out)
                        }
                        Some(Observable::Net(ip, len)) => {
                            self.check_range(ip, len, value, collection, out)
                        }
                        _ => {}
                    }
                }
            }
            Some(Observable::Email(e)) => {
                if let Some((_, d)) = e.rsplit_once('@') {
                    self.check_domain(d, value, collection, out);
                }
            }
            Some(Observable::Net(ip, len)) => self.check_range(*ip, *len, value, collection, out),
            Some(Observable::Hash(..)) | None => {}
        }
        for (lower, written, c) in &self.orgs {
            if applies(c) && value.to_lowercase() == *lower {
                out.push(json!({
                    "source": "asset", "value": value, "asset_type": "org", "asset": written,
                    "scope": scope(c),
                }));
            }
        }
    }

    /// A domain touches a protected one when it equals it or lies below it (when the asset
    /// includes subdomains).
    fn check_domain(&self, d: &str, value: &str, collection: &str, out: &mut Vec<Json>) {
        let d = d.trim_end_matches('.');
        let mut start = 0;
        loop {
            let suffix = &d[start..];
            for (subdomains, c) in self.domains.get(suffix).into_iter().flatten() {
                let applies = c.as_deref().is_none_or(|c| c == collection);
                if applies && (start == 0 || *subdomains) {
                    out.push(json!({
                        "source": "asset", "value": value, "asset_type": "domain",
                        "asset": suffix, "subdomains": subdomains,
                        "scope": c.clone().unwrap_or_else(|| "node".into()),
                    }));
                }
            }
            match d[start..].find('.') {
                Some(p) => start += p + 1,
                None => return,
            }
        }
    }

    /// An address or range touches a protected range when the two overlap.
    fn check_range(&self, ip: Ip, len: u8, value: &str, collection: &str, out: &mut Vec<Json>) {
        for (net, nlen, written, c) in &self.ranges {
            let applies = c.as_deref().is_none_or(|c| c == collection);
            if applies && overlap(ip, len, *net, *nlen) {
                out.push(json!({
                    "source": "asset", "value": value, "asset_type": "cidr", "asset": written,
                    "scope": c.clone().unwrap_or_else(|| "node".into()),
                }));
            }
        }
    }
}

/// The strings a STIX pattern compares with for equality (`=` and `IN`, not negated).
fn pattern_values(pattern: &str) -> Vec<String> {
    let Ok(p) = detente_pattern::parse(pattern, StixVersion::V21) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in p.tests() {
        if t.negated {
            continue;
        }
        match &t.op {
            Op::Eq(Literal::Str(s)) => out.push(s.clone()),
            Op::In(list) => out.extend(list.iter().filter_map(|l| match l {
                Literal::Str(s) => Some(s.clone()),
                _ => None,
            })),
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The node's own STIX identity: the creator of its flags and of its exported assets
/// (`identity_secret` is the node secret `identity`).
fn node_identity(identity_secret: &[u8]) -> Result<Json, ApiError> {
    let mut identity = crate::identity::identity(identity_secret, NODE_MEMBER)?;
    identity["name"] = json!("detente node");
    identity["identity_class"] = json!("system");
    identity["description"] = json!(
        "This node: it writes notes about indicators that match its warninglists or touch \
         its protected assets, and publishes what its parties protect."
    );
    Ok(identity)
}

/// [`node_identity`] of the node whose store is `store` (for the CLI on a data directory).
pub fn node_identity_of<S: Store + ?Sized>(store: &S) -> Result<Json, ApiError> {
    node_identity(&store.secret("identity", &crate::identity::init)?)
}

/// Flags `GET /flags` returns at most.
const LIST_LIMIT: usize = 10_000;

/// A flag as `GET /flags` and `detente flags list` show it.
pub fn flag_json(f: &FlagRecord) -> Json {
    json!({
        "created": detente_taxii::time::format_micros(f.created),
        "collection": f.collection,
        "indicator": f.indicator_id,
        "indicator_version": f.indicator_version,
        "contributor": f.contributor,
        "tlp": f.tlp.as_str(),
        "note": f.note_id,
        "matches": serde_json::from_str::<Json>(&f.matches).unwrap_or(Json::Null),
    })
}

/// `GET /flags`: the latest flags, oldest first, whatever their marking: for admins only.
pub(crate) async fn list<S: Store>(
    State(app): State<Arc<crate::App<S>>>,
    headers: HeaderMap,
) -> Response {
    let authz = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let rows = crate::access::blocking(&app, move |a| {
        let p = a.auth.authenticate(&*a.store, authz.as_deref())?;
        if p.member.role != Role::Admin {
            return Err(ApiError::Forbidden(
                "only admins may list the node's flags".into(),
            ));
        }
        Ok(a.store.flags(LIST_LIMIT)?)
    })
    .await;
    match rows {
        Ok(rows) => {
            let body = Json::Array(rows.iter().map(flag_json).collect()).to_string();
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Flags the stored indicators no flag names yet (by id and version), in every collection,
/// against the configuration in force: for lists and assets added after indicators were
/// shared. Returns the flags written. Meant for `detente flags rescan` on the data directory.
pub fn rescan<S: Store + ?Sized>(store: &S) -> Result<Vec<FlagRecord>, ApiError> {
    let flagger = Flagger::start(store, &store.secret("identity", &crate::identity::init)?)?;
    let Some(m) = flagger.active(store)? else {
        return Ok(Vec::new());
    };
    let done: std::collections::HashSet<(String, String)> = store
        .flags(usize::MAX)?
        .into_iter()
        .map(|f| (f.indicator_id, f.indicator_version))
        .collect();
    // The node's own view: every version whatever its marking.
    let viewer = Viewer {
        member: flagger.member,
        name: NODE_MEMBER.into(),
        clearance: Tlp::Red,
    };
    let mut written = Vec::new();
    for c in store.collections()? {
        let mut after = None;
        loop {
            let page = store.query_objects(&ObjectQuery {
                collection: c.id.clone(),
                viewer: viewer.clone(),
                ids: Vec::new(),
                types: vec!["indicator".into()],
                versions: VersionMatch {
                    all: true,
                    first: false,
                    last: false,
                    exact: Vec::new(),
                },
                spec_versions: Vec::new(),
                added_after: None,
                after,
                limit: 1000,
                max_bytes: crate::DEFAULT_MAX_PAGE_BYTES,
                with_body: true,
            })?;
            after = page.items.last().map(|row| row.date_added).or(after);
            // Grouped by poster: a batch of notes is one ingest.
            let mut by_poster: HashMap<String, Vec<NewObject>> = HashMap::new();
            let todo: Vec<_> = page
                .items
                .iter()
                .filter(|row| {
                    !done.contains(&(row.id.clone(), row.version.clone().unwrap_or_default()))
                })
                .collect();
            // The page's log entries in one query, not one per object.
            let dates: Vec<i64> = todo.iter().map(|row| row.date_added).collect();
            let entries = store.log_object_entries(&dates)?;
            for (row, entry) in todo.into_iter().zip(entries) {
                let Some(entry) = entry else {
                    continue;
                };
                let Ok(body) = serde_json::from_str::<Json>(&row.body) else {
                    continue;
                };
                let Ok(meta) = detente_stix::validate_object(&body) else {
                    continue;
                };
                let recipients = body
                    .get(RECIPIENTS_PROPERTY)
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect();
                by_poster
                    .entry(entry.contributor)
                    .or_default()
                    .push(NewObject {
                        id: row.id.clone(),
                        object_type: "indicator".into(),
                        spec_version: row.spec_version.clone(),
                        version: row.version.clone(),
                        version_micros: None,
                        tlp: meta.tlp().unwrap_or(Tlp::Clear),
                        recipients,
                        body: row.body.clone(),
                    });
            }
            for (poster, objects) in by_poster {
                let stored = vec![IngestOutcome::Stored { date_added: 0 }; objects.len()];
                written.extend(flagger.flag(store, &m, &poster, &c, &objects, &stored)?);
            }
            if !page.more {
                break;
            }
        }
    }
    Ok(written)
}

/// The node's flagging: its member and identity, and the matchers of the current generation.
pub(crate) struct Flagger {
    member: MemberId,
    identity: Json,
    identity_id: String,
    matchers: Mutex<Arc<Matchers>>,
}

impl Flagger {
    /// The node's flagger: makes the node's member on first start.
    pub(crate) fn start<S: Store + ?Sized>(
        store: &S,
        identity_secret: &[u8],
    ) -> Result<Flagger, ApiError> {
        let member = match store.member_by_name(NODE_MEMBER)? {
            Some(m) => m,
            None => {
                let added = store.add_member(&NewMember {
                    name: NODE_MEMBER.into(),
                    role: Role::Contributor,
                    clearance: detente_store::Clearance::AMBER_STRICT,
                    // No secret hashes to this: the member never logs in.
                    secret_hash: "!".into(),
                });
                match added {
                    Ok(m) => m,
                    // Another process sharing the store made it first.
                    Err(StoreError::AlreadyExists(_)) => store
                        .member_by_name(NODE_MEMBER)?
                        .ok_or_else(|| ApiError::Internal("the node's member vanished".into()))?,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        if !member.disabled {
            store.set_disabled(NODE_MEMBER, true)?;
        }
        let identity = node_identity(identity_secret)?;
        let identity_id = identity["id"].as_str().unwrap_or_default().to_owned();
        Ok(Flagger {
            member: member.id,
            identity,
            identity_id,
            matchers: Mutex::new(Arc::new(Matchers {
                generation: u64::MAX,
                ..Matchers::default()
            })),
        })
    }

    /// Why a member may not post `object`: it claims to be the node's (its identity, created
    /// by it, or carrying flags). `None` when it may.
    pub(crate) fn forged(&self, object: &Json) -> Option<String> {
        let id = object.get("id").and_then(Json::as_str).unwrap_or_default();
        if id == self.identity_id {
            return Some(format!(
                "{id}: this is the node's own identity; only the node writes it"
            ));
        }
        if object.get("created_by_ref").and_then(Json::as_str) == Some(&self.identity_id) {
            return Some(format!(
                "{id}: property `created_by_ref`: only the node creates objects as {}",
                self.identity_id
            ));
        }
        if object.get(FLAGS_PROPERTY).is_some() {
            return Some(format!(
                "{id}: property `{FLAGS_PROPERTY}`: only the node writes flags"
            ));
        }
        None
    }

    /// The matchers of the store's current generation, or `None` when nothing is
    /// configured. Rebuilt only when the generation moved, by one request while the others
    /// wait for it (a whole MISP checkout takes a while to compile).
    pub(crate) fn active<S: Store + ?Sized>(
        &self,
        store: &S,
    ) -> Result<Option<Arc<Matchers>>, StoreError> {
        let generation = store.generation()?;
        let mut current = self
            .matchers
            .lock()
            .map_err(|_| StoreError::Backend("flag matchers lock poisoned".into()))?;
        if current.generation != generation {
            *current = Arc::new(Matchers::build(store, generation)?);
        }
        Ok((!current.is_empty()).then(|| current.clone()))
    }

    /// Flags the indicators of a stored envelope that match; `poster` posted them. Returns
    /// the flags written.
    pub(crate) fn flag<S: Store + ?Sized>(
        &self,
        store: &S,
        m: &Matchers,
        poster: &str,
        collection: &CollectionRecord,
        objects: &[NewObject],
        outcomes: &[IngestOutcome],
    ) -> Result<Vec<FlagRecord>, ApiError> {
        let stored: Vec<&NewObject> = objects
            .iter()
            .zip(outcomes)
            .filter(|(o, r)| {
                o.object_type == "indicator" && matches!(r, IngestOutcome::Stored { .. })
            })
            .map(|(o, _)| o)
            .collect();
        if stored.is_empty() {
            return Ok(Vec::new());
        }
        let now = crate::now_micros();
        let mut notes = vec![NewObject {
            id: self.identity_id.clone(),
            object_type: "identity".into(),
            spec_version: "2.1".into(),
            version: self.identity["modified"].as_str().map(str::to_owned),
            version_micros: self.identity["modified"]
                .as_str()
                .and_then(|t| detente_taxii::time::parse_micros(t).ok()),
            tlp: Tlp::Clear,
            recipients: Vec::new(),
            body: self.identity.to_string(),
        }];
        let mut records = Vec::new();
        for o in stored {
            let Ok(body) = serde_json::from_str::<Json>(&o.body) else {
                continue;
            };
            if body.get("pattern_type").and_then(Json::as_str) != Some("stix") {
                continue;
            }
            let Some(pattern) = body.get("pattern").and_then(Json::as_str) else {
                continue;
            };
            let mut matches = Vec::new();
            for v in pattern_values(pattern) {
                m.check(&collection.id, &v, &mut matches);
            }
            if matches.is_empty() {
                continue;
            }
            let (note, record) = self.note(&body, o, poster, &collection.id, matches, now)?;
            notes.push(note);
            records.push(record);
        }
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let report = store.ingest(IngestBatch {
            collection: collection.id.clone(),
            contributor: self.member,
            status_id: uuid::Uuid::new_v4().to_string(),
            request_timestamp: now,
            objects: notes,
            failures: Vec::new(),
        })?;
        // The identity is first; a note that was not stored is not recorded.
        let written: Vec<FlagRecord> = records
            .into_iter()
            .zip(report.outcomes.iter().skip(1))
            .filter(|(_, r)| matches!(r, IngestOutcome::Stored { .. }))
            .map(|(f, _)| f)
            .collect();
        store.flag_record(&written)?;
        Ok(written)
    }

    /// The note flagging one indicator version, and its record.
    fn note(
        &self,
        indicator: &Json,
        o: &NewObject,
        poster: &str,
        collection: &str,
        matches: Vec<Json>,
        now: i64,
    ) -> Result<(NewObject, FlagRecord), ApiError> {
        let id = format!("note--{}", uuid::Uuid::new_v4());
        let created = detente_taxii::time::format_micros(now);
        // Every marking of the indicator, granular ones included, so the note's level is
        // the indicator's and its non-TLP markings (statements) carry over.
        let mut markings: Vec<String> = indicator
            .get("object_marking_refs")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .chain(
                indicator
                    .get("granular_markings")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|g| g.get("marking_ref")),
            )
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        markings.sort();
        markings.dedup();
        let mut recipients = Vec::new();
        if o.tlp == Tlp::Red {
            recipients = o.recipients.clone();
            recipients.push(poster.to_owned());
            recipients.sort();
            recipients.dedup();
        }
        let asset = matches.iter().any(|m| m["source"] == "asset");
        let listed = matches.iter().any(|m| m["source"] == "warninglist");
        let summary = match (listed, asset) {
            (true, true) => "matches a warninglist and touches a protected asset",
            (true, false) => "matches a warninglist",
            _ => "touches a protected asset",
        };
        let content = matches
            .iter()
            .map(|m| match m["source"].as_str() {
                Some("warninglist") => format!(
                    "{} is on warninglist {} ({}), entry {}: {}",
                    m["value"], m["list"], m["list_name"], m["entry"], m["action"]
                ),
                _ => format!(
                    "{} touches protected {} {}",
                    m["value"], m["asset_type"], m["asset"]
                ),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut note = json!({
            "type": "note",
            "spec_version": "2.1",
            "id": id,
            "created": created,
            "modified": created,
            "created_by_ref": self.identity_id,
            "abstract": format!("detente: this indicator {summary}"),
            "content": content,
            "object_refs": [o.id],
            FLAGGED_VERSION_PROPERTY: o.version,
            FLAGS_PROPERTY: matches,
        });
        if !markings.is_empty() {
            note["object_marking_refs"] = json!(markings);
        }
        if !recipients.is_empty() {
            note[RECIPIENTS_PROPERTY] = json!(recipients);
        }
        let record = FlagRecord {
            id: 0,
            collection: collection.to_owned(),
            note_id: id.clone(),
            indicator_id: o.id.clone(),
            indicator_version: o.version.clone().unwrap_or_default(),
            contributor: poster.to_owned(),
            tlp: o.tlp,
            matches: note[FLAGS_PROPERTY].to_string(),
            created: now,
        };
        Ok((
            NewObject {
                id,
                object_type: "note".into(),
                spec_version: "2.1".into(),
                version: Some(created),
                version_micros: Some(now),
                tlp: o.tlp,
                recipients,
                body: note.to_string(),
            },
            record,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use detente_store::{
        ApiRootRecord, AssetRecord, ObjectQuery, VersionMatch, Viewer, WarninglistRecord,
    };
    use detente_store_sqlite::SqliteStore;

    const COLL: &str = "11111111-2222-4333-8444-555555555555";
    const OTHER: &str = "11111111-2222-4333-8444-666666666666";

    fn store(dir: &tempfile::TempDir) -> SqliteStore {
        let s = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
        s.ensure_api_root(&ApiRootRecord {
            path: "/api/".into(),
            title: "t".into(),
            description: None,
        })
        .unwrap();
        for id in [COLL, OTHER] {
            s.add_collection(&CollectionRecord {
                id: id.into(),
                api_root: "/api/".into(),
                title: "c".into(),
                description: None,
                alias: None,
                require_signatures: false,
            })
            .unwrap();
        }
        s
    }

    fn list(s: &SqliteStore, key: &str, kind: &str, entries: &[&str], coll: Option<&str>) {
        let body = json!({"name": format!("{key} list"), "type": kind, "list": entries});
        s.flag_warninglist_put(&WarninglistRecord {
            key: key.into(),
            collection: coll.map(str::to_owned),
            action: if key == "quiet" {
                FlagAction::Suppress
            } else {
                FlagAction::Inform
            },
            body: body.to_string(),
            added: 0,
        })
        .unwrap();
    }

    fn asset(s: &SqliteStore, kind: AssetKind, value: &str, subdomains: bool, coll: Option<&str>) {
        s.asset_add(&AssetRecord {
            kind,
            value: value.into(),
            subdomains,
            collection: coll.map(str::to_owned),
            added: 0,
        })
        .unwrap();
    }

    /// What one pattern value matches in `coll`: (source, list or asset, entry) per match.
    fn hits(m: &Matchers, coll: &str, value: &str) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        m.check(coll, value, &mut out);
        out.iter()
            .map(|j| {
                let s = |k: &str| j[k].as_str().unwrap_or_default().to_owned();
                match j["source"].as_str() {
                    Some("warninglist") => (s("source"), s("list"), s("entry")),
                    _ => (s("source"), s("asset_type"), s("asset")),
                }
            })
            .collect()
    }

    fn h(a: &str, b: &str, c: &str) -> (String, String, String) {
        (a.into(), b.into(), c.into())
    }

    #[test]
    fn the_five_list_types_and_the_three_asset_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir);
        list(&s, "strings", "string", &["8.8.8.8", "exact.example"], None);
        list(&s, "hosts", "hostname", &["google.com."], None);
        list(&s, "nets", "cidr", &["1.1.1.0/24", "2606:4700::/32"], None);
        list(&s, "subs", "substring", &["amazonaws"], None);
        list(&s, "re", "regex", &["/^ntp[0-9]+\\.example\\.org$/i"], None);
        list(&s, "quiet", "string", &["only-here.example"], Some(COLL));
        asset(&s, AssetKind::Domain, "sos.ca.gov", true, None);
        asset(&s, AssetKind::Domain, "vote.example", false, Some(COLL));
        asset(&s, AssetKind::Cidr, "198.51.100.0/24", true, None);
        asset(&s, AssetKind::Org, "Secretary of State", true, None);
        let f = Flagger::start(&s, &crate::identity::init()).unwrap();
        let m = f.active(&s).unwrap().unwrap();
        assert_eq!(
            hits(&m, COLL, "8.8.8.8"),
            [h("warninglist", "strings", "8.8.8.8")]
        );
        assert_eq!(
            hits(&m, COLL, "EXACT.example"),
            [h("warninglist", "strings", "exact.example")]
        );
        // hostname: the name and every subdomain, on label boundaries only.
        assert_eq!(
            hits(&m, COLL, "mail.google.com"),
            [h("warninglist", "hosts", "google.com.")]
        );
        assert_eq!(
            hits(&m, COLL, "https://www.google.com/x"),
            [h("warninglist", "hosts", "google.com.")]
        );
        assert!(hits(&m, COLL, "notgoogle.com").is_empty());
        // cidr: addresses inside, and ranges whose first address is inside.
        assert_eq!(
            hits(&m, COLL, "1.1.1.1"),
            [h("warninglist", "nets", "1.1.1.0/24")]
        );
        assert_eq!(
            hits(&m, COLL, "1.1.1.128/25"),
            [h("warninglist", "nets", "1.1.1.0/24")]
        );
        assert_eq!(
            hits(&m, COLL, "2606:4700::1"),
            [h("warninglist", "nets", "2606:4700::/32")]
        );
        assert!(hits(&m, COLL, "1.1.2.1").is_empty());
        // substring (case-sensitive) and regex (flags honoured).
        assert_eq!(
            hits(&m, COLL, "s3.amazonaws.com"),
            [h("warninglist", "subs", "amazonaws")]
        );
        assert!(hits(&m, COLL, "s3.AMAZONAWS.com").is_empty());
        assert_eq!(
            hits(&m, COLL, "NTP12.example.org"),
            [h("warninglist", "re", "/^ntp[0-9]+\\.example\\.org$/i")]
        );
        // A collection's own list applies there only, with its action.
        let mut out = Vec::new();
        m.check(COLL, "only-here.example", &mut out);
        assert_eq!(out[0]["action"], "suppress");
        assert_eq!(out[0]["scope"], COLL);
        assert!(hits(&m, OTHER, "only-here.example").is_empty());
        // Protected domains: the name, its subdomains when included, in URLs and e-mail.
        assert_eq!(
            hits(&m, OTHER, "sos.ca.gov"),
            [h("asset", "domain", "sos.ca.gov")]
        );
        assert_eq!(
            hits(&m, OTHER, "WWW.sos.ca.gov."),
            [h("asset", "domain", "sos.ca.gov")]
        );
        assert_eq!(
            hits(&m, OTHER, "http://elections.sos.ca.gov/login"),
            [h("asset", "domain", "sos.ca.gov")]
        );
        assert_eq!(
            hits(&m, OTHER, "clerk@sos.ca.gov"),
            [h("asset", "domain", "sos.ca.gov")]
        );
        assert!(hits(&m, OTHER, "sos-ca.gov").is_empty());
        assert!(hits(&m, OTHER, "xsos.ca.gov").is_empty());
        assert_eq!(
            hits(&m, COLL, "vote.example"),
            [h("asset", "domain", "vote.example")]
        );
        assert!(hits(&m, COLL, "www.vote.example").is_empty());
        assert!(hits(&m, OTHER, "vote.example").is_empty());
        // Ranges: an address inside, or any overlapping range.
        assert_eq!(
            hits(&m, OTHER, "198.51.100.7"),
            [h("asset", "cidr", "198.51.100.0/24")]
        );
        assert_eq!(
            hits(&m, OTHER, "198.51.0.0/16"),
            [h("asset", "cidr", "198.51.100.0/24")]
        );
        assert_eq!(
            hits(&m, OTHER, "http://198.51.100.9:8080/"),
            [h("asset", "cidr", "198.51.100.0/24")]
        );
        assert!(hits(&m, OTHER, "198.51.101.7").is_empty());
        assert_eq!(
            hits(&m, OTHER, "secretary of state"),
            [h("asset", "org", "Secretary of State")]
        );
    }

    #[test]
    fn pattern_values_are_the_positive_equality_operands() {
        assert_eq!(
            pattern_values(
                "[domain-name:value = 'a.example' OR url:value IN ('http://b.example/', 'http://c.example/')] \
                 FOLLOWEDBY [ipv4-addr:value != '10.0.0.1' AND file:size > 5 AND file:name = 'x.exe'] WITHIN 300 SECONDS"
            ),
            [
                "a.example",
                "http://b.example/",
                "http://c.example/",
                "x.exe"
            ]
        );
        assert!(pattern_values("[not a pattern").is_empty());
    }

    fn indicator(id: &str, pattern: &str, extra: &str) -> NewObject {
        let body = format!(
            r#"{{"type":"indicator","spec_version":"2.1","id":"{id}","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"{pattern}","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"{extra}}}"#
        );
        let value: Json = serde_json::from_str(&body).unwrap();
        let meta = detente_stix::validate_object(&value).unwrap();
        let tlp = meta.tlp().unwrap_or(Tlp::Clear);
        NewObject {
            id: id.into(),
            object_type: "indicator".into(),
            spec_version: "2.1".into(),
            version: Some("2026-01-01T00:00:00.000Z".into()),
            version_micros: Some(1_767_225_600_000_000),
            tlp,
            recipients: if tlp == Tlp::Red {
                vec!["bob".into()]
            } else {
                vec![]
            },
            body,
        }
    }

    #[test]
    fn notes_carry_the_indicators_markings_and_refuse_forgery() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir);
        asset(&s, AssetKind::Domain, "sos.ca.gov", true, None);
        let f = Flagger::start(&s, &crate::identity::init()).unwrap();
        let node = s.member_by_name(NODE_MEMBER).unwrap().unwrap();
        assert!(node.disabled);
        // Starting again (a restart) keeps the one member.
        Flagger::start(&s, &crate::identity::init()).unwrap();
        let red = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";
        let amber = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
        let objects = vec![
            indicator(
                "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "[domain-name:value = 'www.sos.ca.gov']",
                &format!(r#","object_marking_refs":["{amber}"]"#),
            ),
            indicator(
                "indicator--9e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "[domain-name:value = 'sos.ca.gov']",
                &format!(r#","object_marking_refs":["{red}"],"x_detente_recipients":["bob"]"#),
            ),
            indicator(
                "indicator--ae2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "[domain-name:value = 'unrelated.example']",
                "",
            ),
        ];
        let outcomes = vec![IngestOutcome::Stored { date_added: 1 }; 3];
        let c = s.collection(COLL).unwrap().unwrap();
        let m = f.active(&s).unwrap().unwrap();
        let written = f.flag(&s, &m, "alice", &c, &objects, &outcomes).unwrap();
        assert_eq!(written.len(), 2);
        assert_eq!(s.flags(10).unwrap(), {
            let mut w = written.clone();
            for (i, r) in w.iter_mut().enumerate() {
                r.id = i as i64 + 1;
            }
            w
        });
        let notes = s
            .query_objects(&ObjectQuery {
                collection: COLL.into(),
                viewer: Viewer {
                    member: node.id,
                    name: NODE_MEMBER.into(),
                    clearance: Tlp::AmberStrict,
                },
                ids: vec![],
                types: vec!["note".into()],
                versions: VersionMatch {
                    all: true,
                    first: false,
                    last: false,
                    exact: vec![],
                },
                spec_versions: vec![],
                added_after: None,
                after: None,
                limit: 10,
                max_bytes: 1 << 20,
                with_body: true,
            })
            .unwrap()
            .items;
        assert_eq!(notes.len(), 2);
        let amber_note: Json = serde_json::from_str(&notes[0].body).unwrap();
        let red_note: Json = serde_json::from_str(&notes[1].body).unwrap();
        for n in [&amber_note, &red_note] {
            detente_stix::validate_object(n).unwrap_or_else(|e| panic!("{e}: {n}"));
            assert_eq!(n["created_by_ref"], f.identity_id);
            assert!(
                f.forged(n).is_some(),
                "a member posting a node note is refused"
            );
        }
        assert_eq!(amber_note["object_marking_refs"], json!([amber]));
        assert_eq!(amber_note["object_refs"], json!([objects[0].id]));
        assert_eq!(amber_note[FLAGS_PROPERTY][0]["asset"], "sos.ca.gov");
        assert_eq!(red_note["object_marking_refs"], json!([red]));
        assert_eq!(red_note[RECIPIENTS_PROPERTY], json!(["alice", "bob"]));
        assert!(f.forged(&f.identity).is_some());
        assert!(
            f.forged(&json!({"id": "note--1", "created_by_ref": "identity--x"}))
                .is_none()
        );
    }
}
