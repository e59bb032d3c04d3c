//! Routing and the TAXII 2.1 endpoints.
//!
//! Every request runs: authentication (401), `Accept` (406), routing (404/405), collection
//! access (404 when invisible, 403 when not allowed), filters (400), then the endpoint.
//! Store work runs on blocking threads.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use detente_store::{
    CollectionRecord, DeleteScope, ObjectQuery, Role, Store, StoredObject, VersionMatch,
};
use detente_taxii::filter::Endpoint;
use detente_taxii::media::{self, STIX_21, TAXII_21};
use detente_taxii::time::format_micros;
use detente_taxii::{
    ApiRoot, Collection, Collections, Discovery, Filter, ManifestRecord, VersionSelector,
};
use serde::Serialize;

use crate::App;
use crate::access::{api_root, blocking, collection};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::respond::{status_view, taxii};

/// A parsed request path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Discovery,
    ApiRoot(String),
    Status(String, String),
    Collections(String),
    Collection(String, String),
    Manifest(String, String),
    Objects(String, String),
    Object(String, String, String),
    Versions(String, String, String),
    /// A partner's mirroring feed (`crate::federation`).
    Feed(String, String),
    /// Provenance of a mirrored object's versions (`crate::federation`).
    Provenance(String, String, String),
    /// Provenance of several objects' versions (`crate::federation`).
    Provenances(String, String),
    /// Corroboration and scores of a collection's indicators (`crate::scores`).
    Scores(String, String),
}

/// Parses a path; every TAXII path ends in `/`.
fn route(path: &str) -> Option<Route> {
    let inner = path.strip_prefix('/')?.strip_suffix('/')?;
    let segs: Vec<&str> = inner.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return None;
    }
    let root = |s: &str| format!("/{s}/");
    let own = |s: &str| s.to_owned();
    Some(match segs.as_slice() {
        ["taxii2"] => Route::Discovery,
        [r] => Route::ApiRoot(root(r)),
        [r, "status", id] => Route::Status(root(r), own(id)),
        [r, "collections"] => Route::Collections(root(r)),
        [r, "collections", c] => Route::Collection(root(r), own(c)),
        [r, "collections", c, "manifest"] => Route::Manifest(root(r), own(c)),
        [r, "collections", c, "objects"] => Route::Objects(root(r), own(c)),
        [r, "collections", c, "objects", o] => Route::Object(root(r), own(c), own(o)),
        [r, "collections", c, "objects", o, "versions"] => Route::Versions(root(r), own(c), own(o)),
        [r, "collections", c, "federation", "feed"] => Route::Feed(root(r), own(c)),
        [r, "collections", c, "scores"] => Route::Scores(root(r), own(c)),
        [r, "collections", c, "provenance"] => Route::Provenances(root(r), own(c)),
        [r, "collections", c, "objects", o, "provenance"] => {
            Route::Provenance(root(r), own(c), own(o))
        }
        _ => return None,
    })
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Response, ApiError> {
    let body = serde_json::to_string(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(taxii(status, body))
}

/// The single entry point of the service.
pub(crate) async fn handle<S: Store>(State(app): State<Arc<App<S>>>, req: Request) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = match dispatch(&app, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let status = resp.status().as_u16();
    let elapsed = start.elapsed();
    app.metrics.observe(status, elapsed);
    tracing::debug!(%method, %path, status, elapsed_us = elapsed.as_micros() as u64, "request");
    resp
}

async fn dispatch<S: Store>(app: &Arc<App<S>>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    if parts.uri.path() == "/healthz" {
        return Ok((StatusCode::OK, "ok\n").into_response());
    }
    let authz = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    if parts.method == Method::POST {
        let principal = blocking(app, move |a| {
            a.auth.authenticate(&*a.store, authz.as_deref())
        })
        .await?;
        check_accept(&parts.headers)?;
        let Some(Route::Objects(root, cid)) = route(parts.uri.path()) else {
            return match route(parts.uri.path()) {
                Some(_) => Err(ApiError::MethodNotAllowed),
                None => Err(ApiError::NotFound("no such resource".into())),
            };
        };
        let p = principal.clone();
        let coll = blocking(app, move |a| collection(a, &p, &root, &cid)).await?;
        if !principal.access(&coll.id).1 {
            return Err(ApiError::Forbidden(
                "you may not add objects to this collection".into(),
            ));
        }
        let ct = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !media::content_type_is_taxii(ct) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let max = app.config.max_content_length;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(ApiError::TooLarge(max));
        }
        let bytes = axum::body::to_bytes(body, max).await.map_err(|e| {
            if crate::net::is_body_timeout(&e) {
                ApiError::RequestTimeout
            } else {
                ApiError::TooLarge(max)
            }
        })?;
        return blocking(app, move |a| {
            crate::ingest::post_objects(a, &principal, &coll, &bytes)
        })
        .await;
    }
    drop(body);
    blocking(app, move |a| {
        let principal = a.auth.authenticate(&*a.store, authz.as_deref())?;
        check_accept(&parts.headers)?;
        let query = parts.uri.query().unwrap_or("");
        let route =
            route(parts.uri.path()).ok_or_else(|| ApiError::NotFound("no such resource".into()))?;
        match (&parts.method, route) {
            (&Method::GET, r) => get(a, &principal, r, query),
            (&Method::DELETE, Route::Object(root, cid, oid)) => {
                delete_object(a, &principal, &root, &cid, &oid, query)
            }
            _ => Err(ApiError::MethodNotAllowed),
        }
    })
    .await
}

fn check_accept(headers: &HeaderMap) -> Result<(), ApiError> {
    let ok = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(media::accept_allows_taxii);
    if ok {
        Ok(())
    } else {
        Err(ApiError::NotAcceptable)
    }
}

fn collection_view(c: &CollectionRecord, p: &Principal) -> Collection {
    let (can_read, can_write) = p.access(&c.id);
    Collection {
        id: c.id.clone(),
        title: c.title.clone(),
        description: c.description.clone(),
        alias: c.alias.clone(),
        can_read,
        can_write,
        media_types: vec![STIX_21.to_owned()],
    }
}

fn bad_filter(e: detente_taxii::FilterError) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

fn get<S: Store>(
    a: &App<S>,
    p: &Principal,
    route: Route,
    query: &str,
) -> Result<Response, ApiError> {
    match route {
        Route::Discovery => {
            let roots: Vec<String> = a.api_roots.iter().map(|r| r.path.clone()).collect();
            json(
                StatusCode::OK,
                &Discovery {
                    title: a.config.title.clone(),
                    description: Some("detente TAXII 2.1 exchange node".to_owned()),
                    contact: None,
                    default: roots.first().cloned(),
                    api_roots: roots,
                },
            )
        }
        Route::ApiRoot(root) => {
            let r = api_root(a, &root)?;
            json(
                StatusCode::OK,
                &ApiRoot {
                    title: r.title.clone(),
                    description: r.description.clone(),
                    versions: vec![TAXII_21.to_owned()],
                    max_content_length: a.config.max_content_length as u64,
                },
            )
        }
        Route::Status(root, id) => {
            api_root(a, &root)?;
            let not_found = || ApiError::NotFound(format!("no status {id}"));
            let s = a.store.status(&id)?.ok_or_else(not_found)?;
            if s.member != p.member.id && p.member.role != Role::Admin {
                return Err(not_found());
            }
            json(StatusCode::OK, &status_view(&s))
        }
        Route::Collections(root) => {
            api_root(a, &root)?;
            let collections = a
                .store
                .collections()?
                .iter()
                .filter(|c| c.api_root == root && p.access(&c.id) != (false, false))
                .map(|c| collection_view(c, p))
                .collect();
            json(StatusCode::OK, &Collections { collections })
        }
        Route::Collection(root, cid) => {
            let c = collection(a, p, &root, &cid)?;
            json(StatusCode::OK, &collection_view(&c, p))
        }
        Route::Manifest(root, cid) => list(a, p, &root, &cid, None, Kind::Manifest, query),
        Route::Objects(root, cid) => list(a, p, &root, &cid, None, Kind::Objects, query),
        Route::Object(root, cid, oid) => list(a, p, &root, &cid, Some(&oid), Kind::Objects, query),
        Route::Versions(root, cid, oid) => {
            list(a, p, &root, &cid, Some(&oid), Kind::Versions, query)
        }
        Route::Feed(root, cid) => crate::federation::feed(a, p, &root, &cid, query),
        Route::Provenance(root, cid, oid) => crate::federation::provenance(a, p, &root, &cid, &oid),
        Route::Provenances(root, cid) => crate::federation::provenances(a, p, &root, &cid, query),
        Route::Scores(root, cid) => crate::scores::get(a, p, &root, &cid, query),
    }
}

/// What a listing returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Objects,
    Manifest,
    Versions,
}

fn version_match(v: &VersionSelector) -> VersionMatch {
    VersionMatch {
        all: v.all,
        first: v.first,
        last: v.last,
        exact: v.exact.clone(),
    }
}

fn version_of(o: &StoredObject) -> String {
    o.version
        .clone()
        .unwrap_or_else(|| format_micros(o.date_added))
}

fn list<S: Store>(
    a: &App<S>,
    p: &Principal,
    root: &str,
    cid: &str,
    oid: Option<&str>,
    kind: Kind,
    query: &str,
) -> Result<Response, ApiError> {
    let c = collection(a, p, root, cid)?;
    if !p.access(&c.id).0 {
        return Err(ApiError::Forbidden(
            "you may not read this collection".into(),
        ));
    }
    let endpoint = match (kind, oid) {
        (Kind::Versions, _) => Endpoint::Versions,
        (_, Some(_)) => Endpoint::Object,
        _ => Endpoint::Objects,
    };
    let f = Filter::parse(query, endpoint).map_err(bad_filter)?;
    let binding = format!(
        "{}|{kind:?}|{}|{}|{}",
        p.member.id,
        c.id,
        oid.unwrap_or(""),
        f.canonical
    );
    let after = match &f.next {
        Some(n) => Some(a.cursors.open(&binding, n).ok_or_else(|| {
            ApiError::BadRequest("the `next` cursor is not valid for this query".into())
        })?),
        None => None,
    };
    let limit = f
        .limit
        .map_or(a.config.default_page_size, |l| {
            usize::try_from(l).unwrap_or(usize::MAX)
        })
        .min(a.config.max_page_size);
    let mut q = ObjectQuery {
        collection: c.id.clone(),
        viewer: p.viewer(),
        ids: match oid {
            Some(o) => vec![o.to_owned()],
            None => f.ids.clone(),
        },
        types: f.types.clone(),
        versions: if kind == Kind::Versions {
            version_match(&VersionSelector::all())
        } else {
            version_match(&f.versions)
        },
        spec_versions: f.spec_versions.clone(),
        added_after: f.added_after,
        after,
        limit,
        max_bytes: a.config.max_page_bytes,
        with_body: kind == Kind::Objects,
    };
    let page = a.store.query_objects(&q)?;
    if page.items.is_empty() && oid.is_some() && f.next.is_none() {
        // An object the caller cannot see at all is 404; one filtered out is an empty page.
        q.versions = version_match(&VersionSelector::all());
        q.spec_versions.clear();
        q.added_after = None;
        q.limit = 1;
        q.with_body = false;
        if a.store.query_objects(&q)?.items.is_empty() {
            return Err(ApiError::NotFound(format!(
                "no object {} here",
                oid.unwrap_or("")
            )));
        }
    }
    let next = match page.items.last() {
        Some(last) if page.more => Some(a.cursors.mint(&binding, last.date_added)),
        _ => None,
    };
    let mut resp = match kind {
        Kind::Objects => taxii(
            StatusCode::OK,
            envelope(&page.items, page.more, next.as_deref()),
        ),
        Kind::Manifest => json(
            StatusCode::OK,
            &detente_taxii::Manifest {
                more: page.more,
                next,
                objects: page
                    .items
                    .iter()
                    .map(|o| ManifestRecord {
                        id: o.id.clone(),
                        date_added: format_micros(o.date_added),
                        version: version_of(o),
                        media_type: Some(STIX_21.to_owned()),
                    })
                    .collect(),
            },
        )?,
        Kind::Versions => json(
            StatusCode::OK,
            &detente_taxii::Versions {
                more: page.more,
                next,
                versions: page.items.iter().map(version_of).collect(),
            },
        )?,
    };
    if let (Some(first), Some(last)) = (page.items.first(), page.items.last()) {
        let h = resp.headers_mut();
        for (name, t) in [
            ("x-taxii-date-added-first", first.date_added),
            ("x-taxii-date-added-last", last.date_added),
        ] {
            if let Ok(v) = HeaderValue::from_str(&format_micros(t)) {
                h.insert(name, v);
            }
        }
    }
    Ok(resp)
}

/// The envelope JSON, built from the stored object texts without re-parsing them.
fn envelope(items: &[StoredObject], more: bool, next: Option<&str>) -> String {
    if items.is_empty() {
        return "{}".to_owned();
    }
    let size: usize = items.iter().map(|o| o.body.len() + 1).sum();
    let mut s = String::with_capacity(size + 128);
    s.push_str("{\"more\":");
    s.push_str(if more { "true" } else { "false" });
    if let Some(n) = next {
        // Cursors are base64url: nothing to escape.
        s.push_str(",\"next\":\"");
        s.push_str(n);
        s.push('"');
    }
    s.push_str(",\"objects\":[");
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&o.body);
    }
    s.push_str("]}");
    s
}

fn delete_object<S: Store>(
    a: &App<S>,
    p: &Principal,
    root: &str,
    cid: &str,
    oid: &str,
    query: &str,
) -> Result<Response, ApiError> {
    let c = collection(a, p, root, cid)?;
    if p.access(&c.id) != (true, true) {
        return Err(ApiError::Forbidden(
            "deleting needs both read and write access to the collection".into(),
        ));
    }
    let f = Filter::parse(query, Endpoint::Delete).map_err(bad_filter)?;
    // Without match[version], DELETE removes every version of the object.
    let versions = if f.canonical.contains("match[version]=") {
        version_match(&f.versions)
    } else {
        version_match(&VersionSelector::all())
    };
    // Members delete only their own versions they can see; admins moderate: any version.
    let scope = if p.member.role == Role::Admin {
        DeleteScope::Moderator(p.member.name.clone())
    } else {
        DeleteScope::Own(p.viewer())
    };
    let gone = detente_store::retry_conflicts(|| {
        a.store
            .delete_object(&c.id, oid, &versions, &f.spec_versions, &scope)
    })?;
    if gone.is_empty() {
        return Err(ApiError::NotFound(format!("no object {oid} here")));
    }
    tracing::info!(collection = %c.id, object = oid, versions = gone.len(), member = %p.member.name, "deleted");
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, TAXII_21)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::OK.into_response()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/taxii2/"), Some(Route::Discovery));
        assert_eq!(route("/taxii2"), None);
        assert_eq!(route("/api/"), Some(Route::ApiRoot("/api/".into())));
        assert_eq!(
            route("/api/collections/c/objects/o/versions/"),
            Some(Route::Versions("/api/".into(), "c".into(), "o".into()))
        );
        assert_eq!(
            route("/api/collections/c/scores/"),
            Some(Route::Scores("/api/".into(), "c".into()))
        );
        assert_eq!(route("/api//collections/"), None);
        assert_eq!(route("/api/collections/c/x/"), None);
        assert_eq!(route("/"), None);
    }
}
