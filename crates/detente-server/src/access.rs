//! How endpoints reach the store for a caller: store work on threads that may block, the
//! API root and collection a caller may see or read (404 when invisible, 403 when not
//! allowed), and the newest readable version of each object, through the store's one
//! visibility rule.

use std::sync::Arc;

use detente_store::{CollectionRecord, ObjectQuery, Store, StoredObject, VersionMatch};

use crate::App;
use crate::auth::Principal;
use crate::error::ApiError;

/// Runs store work where blocking is allowed: on the runtime's blocking pool.
pub(crate) async fn blocking<S: Store, T: Send + 'static>(
    app: &Arc<App<S>>,
    f: impl FnOnce(&App<S>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || f(&app))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// The API root `root`, if it exists (404 otherwise).
pub(crate) fn api_root<'a, S>(
    a: &'a App<S>,
    root: &str,
) -> Result<&'a detente_store::ApiRootRecord, ApiError> {
    a.api_roots
        .iter()
        .find(|r| r.path == root)
        .ok_or_else(|| ApiError::NotFound("no such API root".into()))
}

/// The collection, if it exists in this API root and the caller may read or write it.
pub(crate) fn collection<S: Store>(
    a: &App<S>,
    p: &Principal,
    root: &str,
    cid: &str,
) -> Result<CollectionRecord, ApiError> {
    api_root(a, root)?;
    let not_found = || ApiError::NotFound(format!("no collection {cid} here"));
    let c = a.store.collection(cid)?.ok_or_else(not_found)?;
    if c.api_root != root || p.access(&c.id) == (false, false) {
        return Err(not_found());
    }
    Ok(c)
}

/// The collection, if the caller may read it (404 when invisible, 403 when not readable).
pub(crate) fn readable<S: Store>(
    a: &App<S>,
    p: &Principal,
    root: &str,
    cid: &str,
) -> Result<CollectionRecord, ApiError> {
    let c = collection(a, p, root, cid)?;
    if !p.access(&c.id).0 {
        return Err(ApiError::Forbidden(
            "you may not read this collection".into(),
        ));
    }
    Ok(c)
}

/// Objects read per store page by [`each_latest`].
const LATEST_PAGE: usize = 5_000;

/// Hands `f` the newest version `viewer` may read of every object of `types` in
/// `collection`, with bodies, page by page in `date_added` order: the store applies TLP
/// exactly as for a TAXII GET. What the node derives from a collection for a member (PSI
/// sets, scores) reads it here.
pub(crate) fn each_latest<S: Store + ?Sized>(
    store: &S,
    collection: &str,
    viewer: &detente_store::Viewer,
    types: &[String],
    mut f: impl FnMut(&[StoredObject]) -> Result<(), detente_store::StoreError>,
) -> Result<(), detente_store::StoreError> {
    let mut after = None;
    loop {
        let page = store.query_objects(&ObjectQuery {
            collection: collection.to_owned(),
            viewer: viewer.clone(),
            ids: Vec::new(),
            types: types.to_vec(),
            versions: VersionMatch {
                all: false,
                first: false,
                last: true,
                exact: Vec::new(),
            },
            spec_versions: Vec::new(),
            added_after: None,
            after,
            limit: LATEST_PAGE,
            max_bytes: crate::DEFAULT_MAX_PAGE_BYTES,
            with_body: true,
        })?;
        f(&page.items)?;
        match (page.more, page.items.last()) {
            (true, Some(last)) => after = Some(last.date_added),
            _ => return Ok(()),
        }
    }
}
