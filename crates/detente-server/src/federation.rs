//! What a partner node needs to mirror a collection (issue 13), and provenance of mirrored
//! objects for readers. A partner is an ordinary member here: both endpoints show exactly what
//! the caller may read (grants, TLP, RED recipients), like the objects endpoints.
//!
//! - `GET {root}collections/{id}/federation/feed/?objects_after=µs&tombstones_after=N&limit=L`:
//!   the tombstones of versions the caller could read, after log index `N`, then (when those
//!   are exhausted) every version the caller may read added after `objects_after`, each with
//!   its log entry (index, nonce, contributor) and its stored bytes verbatim.
//! - `GET {root}collections/{id}/objects/{object}/provenance/`: for each version of the object
//!   the caller may read that was mirrored from a partner, where it came from.
//! - `GET {root}collections/{id}/provenance/?match[id]=ID,ID,…`: the same for several objects
//!   in one request (a reader checking a page of signatures); objects the caller cannot see
//!   are left out exactly like absent ones.

use std::collections::HashMap;

use axum::response::Response;
use detente_logentry::receipt::encode;
use detente_store::{ObjectQuery, Provenance, Store, VersionMatch};
use detente_taxii::time::format_micros;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::App;
use crate::access::readable;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::respond::{int_param, json, limit_param};

/// A tombstone in the feed: the fields its log entry commits to, and where it is.
#[derive(Serialize, Deserialize)]
pub struct FeedTombstone {
    /// The tombstone's log index.
    pub index: u64,
    /// The deleted object's id.
    pub object_id: String,
    /// The deleted version (empty for value-identified objects).
    pub version: String,
    /// The deleting member.
    pub member: String,
    /// The deletion time as committed.
    pub time: String,
    /// The log index of the deleted version's entry.
    pub deleted_index: u64,
    /// The tombstone's nonce, base64.
    pub nonce: String,
}

/// An object version in the feed, with its log entry.
#[derive(Serialize, Deserialize)]
pub struct FeedObject {
    /// Its `date_added` on this node (µs): the feed's paging position.
    pub date_added: i64,
    /// Its entry's log index.
    pub index: u64,
    /// Its entry's nonce, base64.
    pub nonce: String,
    /// The contributor its entry names.
    pub contributor: String,
    /// The stored object, verbatim.
    pub object: Box<RawValue>,
}

/// One page of the feed.
#[derive(Serialize, Deserialize)]
pub struct Feed {
    /// Tombstones, in log order.
    #[serde(default)]
    pub tombstones: Vec<FeedTombstone>,
    /// Object versions, in `date_added` order (only once the tombstones are exhausted).
    #[serde(default)]
    pub objects: Vec<FeedObject>,
    /// Whether another request would return more.
    #[serde(default)]
    pub more: bool,
}

#[derive(Serialize)]
struct ProvenanceOut {
    id: String,
    version: String,
    date_added: String,
    peer: String,
    partner_log_index: u64,
    partner_contributor: String,
    partner_date_added: String,
}

#[derive(Serialize)]
struct Provenances {
    provenance: Vec<ProvenanceOut>,
}

const ALL: VersionMatch = VersionMatch {
    all: true,
    first: false,
    last: false,
    exact: Vec::new(),
};

/// `GET …/federation/feed/`.
pub(crate) fn feed<S: Store>(
    a: &App<S>,
    p: &Principal,
    root: &str,
    cid: &str,
    query: &str,
) -> Result<Response, ApiError> {
    let c = readable(a, p, root, cid)?;
    let objects_after = int_param(query, "objects_after", 0)?;
    let tombstones_after = int_param(query, "tombstones_after", -1)?;
    let limit = limit_param(query, &a.config)?;
    let viewer = p.viewer();
    let mut tombstones =
        a.store
            .log_tombstones_after(&c.id, &viewer, tombstones_after, limit + 1)?;
    let mut more = tombstones.len() > limit;
    tombstones.truncate(limit);
    let mut objects = Vec::new();
    // Objects only once the tombstones are drained, so a partner applies every deletion
    // before any later re-post of the same version.
    if !more {
        let page = a.store.query_objects(&ObjectQuery {
            collection: c.id.clone(),
            viewer,
            ids: Vec::new(),
            types: Vec::new(),
            versions: ALL,
            spec_versions: Vec::new(),
            added_after: Some(objects_after),
            after: None,
            limit,
            max_bytes: a.config.max_page_bytes,
            with_body: true,
        })?;
        more = page.more;
        // The page's log entries in one query, not one per object.
        let dates: Vec<i64> = page.items.iter().map(|o| o.date_added).collect();
        let entries = a.store.log_object_entries(&dates)?;
        objects.reserve(page.items.len());
        for (o, e) in page.items.into_iter().zip(entries) {
            let e =
                e.ok_or_else(|| ApiError::Internal(format!("no log entry for {}", o.date_added)))?;
            objects.push(FeedObject {
                date_added: o.date_added,
                index: e.index,
                nonce: encode(&e.nonce),
                contributor: e.contributor,
                object: RawValue::from_string(o.body)
                    .map_err(|e| ApiError::Internal(format!("stored object is not JSON: {e}")))?,
            });
        }
    }
    json(&Feed {
        tombstones: tombstones
            .into_iter()
            .map(|t| FeedTombstone {
                index: t.entry.index,
                object_id: t.object_id,
                version: t.entry.version,
                member: t.entry.member,
                time: t.entry.time,
                deleted_index: t.entry.deleted_index,
                nonce: encode(&t.entry.nonce),
            })
            .collect(),
        objects,
        more,
    })
}

/// `GET …/objects/{object}/provenance/` (404 for an object the caller cannot see).
pub(crate) fn provenance<S: Store>(
    a: &App<S>,
    p: &Principal,
    root: &str,
    cid: &str,
    oid: &str,
) -> Result<Response, ApiError> {
    let c = readable(a, p, root, cid)?;
    let (seen, provenance) = mirrored_versions(a, p, &c.id, vec![oid.to_owned()])?;
    if !seen {
        return Err(ApiError::NotFound(format!("no object {oid} here")));
    }
    json(&Provenances { provenance })
}

/// `GET …/provenance/?match[id]=…`: at most the node's page size of ids.
pub(crate) fn provenances<S: Store>(
    a: &App<S>,
    p: &Principal,
    root: &str,
    cid: &str,
    query: &str,
) -> Result<Response, ApiError> {
    let c = readable(a, p, root, cid)?;
    let mut ids: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "match[id]")
        .flat_map(|(_, v)| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Err(ApiError::BadRequest(
            "`match[id]` must name at least one object".into(),
        ));
    }
    if ids.len() > a.config.max_page_size {
        return Err(ApiError::BadRequest(format!(
            "at most {} ids per request",
            a.config.max_page_size
        )));
    }
    let (_, provenance) = mirrored_versions(a, p, &c.id, ids)?;
    json(&Provenances { provenance })
}

/// Where the versions of `ids` the caller may read came from (those mirrored), in
/// `date_added` order; and whether the caller may read any version of them at all.
fn mirrored_versions<S: Store>(
    a: &App<S>,
    p: &Principal,
    collection: &str,
    ids: Vec<String>,
) -> Result<(bool, Vec<ProvenanceOut>), ApiError> {
    let mut query = ObjectQuery {
        collection: collection.to_owned(),
        viewer: p.viewer(),
        ids,
        types: Vec::new(),
        versions: ALL,
        spec_versions: Vec::new(),
        added_after: None,
        after: None,
        limit: a.config.max_page_size,
        max_bytes: usize::MAX,
        with_body: false,
    };
    let mut seen = false;
    let mut out = Vec::new();
    loop {
        let page = a.store.query_objects(&query)?;
        seen |= !page.items.is_empty();
        let dates: Vec<i64> = page.items.iter().map(|o| o.date_added).collect();
        let found: HashMap<i64, Provenance> = a
            .store
            .mirror_provenance(collection, &dates)?
            .into_iter()
            .map(|f| (f.date_added, f))
            .collect();
        out.extend(page.items.iter().filter_map(|o| {
            let f = found.get(&o.date_added)?;
            Some(ProvenanceOut {
                id: o.id.clone(),
                version: o
                    .version
                    .clone()
                    .unwrap_or_else(|| format_micros(o.date_added)),
                date_added: format_micros(o.date_added),
                peer: f.peer.clone(),
                partner_log_index: f.partner_index,
                partner_contributor: f.partner_contributor.clone(),
                partner_date_added: format_micros(f.partner_date_added),
            })
        }));
        match page.items.last() {
            Some(last) if page.more => query.after = Some(last.date_added),
            _ => return Ok((seen, out)),
        }
    }
}
