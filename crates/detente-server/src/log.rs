//! The transparency log's HTTP API under `/log/`: the public tlog-tiles resources
//! (`checkpoint`, with the witnesses' cosignatures collected for it, and `tile/...`), public
//! consistency proofs, and receipts for members.
//!
//! A receipt is given only for an object version (or the tombstone of one) that the caller
//! may read; every other case, including a collection the caller cannot read, gets the same
//! 404, so the endpoint tells a non-reader nothing.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use detente_logentry::receipt::{Entry, KeyBindingReceipt, Receipt, encode};
use detente_sequencer::{ProofError, Prover};
use detente_store::published::LogStorage;
use detente_store::{ObjectQuery, Store, StoreError, VersionMatch};
use detente_taxii::time::parse_micros;
use serde::Serialize;

use crate::App;
use crate::auth::Principal;
use crate::error::ApiError;

/// Where the published log lives and how proofs are made.
#[derive(Clone)]
pub struct LogService {
    /// Where the published tiles and checkpoint are (a directory, or the nodes' database).
    pub storage: Arc<dyn LogStorage>,
    /// The current checkpoint, and proofs against it.
    pub prover: Arc<Prover>,
    /// The log's verifier key (`name+hex+base64`), shown on the status page.
    pub verifier_key: String,
    /// Cosignatures collected from the log's witnesses, served on the checkpoint.
    pub witnesses: Arc<detente_sequencer::witnessing::Witnessing>,
}

fn body(content_type: &'static str, cache: &'static str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        bytes,
    )
        .into_response()
}

fn json<T: Serialize>(cache: &'static str, value: &T) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(body("application/json", cache, bytes))
}

/// `GET /log/{*path}`.
pub(crate) async fn get<S: Store>(
    State(app): State<Arc<App<S>>>,
    Path(path): Path<String>,
    req: Request,
) -> Response {
    let result = match &app.config.log {
        None => Err(ApiError::NotFound("this node publishes no log".into())),
        Some(log) => route(&app, log, &path, req).await,
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn route<S: Store>(
    app: &Arc<App<S>>,
    log: &LogService,
    path: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let query = req.uri().query().unwrap_or("");
    if path == "checkpoint" {
        // The checkpoint is read from the log storage (with PostgreSQL, a query: blocking).
        let l = log.clone();
        let latest = crate::access::blocking(app, move |_| match l.prover.current() {
            Err(ProofError::NoCheckpoint) => Err(ApiError::NotFound("no checkpoint yet".into())),
            other => other.map_err(proof_error),
        })
        .await?;
        return Ok(body(
            "text/plain; charset=utf-8",
            "no-cache",
            log.witnesses.cosigned(&latest.note),
        ));
    }
    if path == "consistency" {
        let (l, q) = (log.clone(), query.to_owned());
        return crate::access::blocking(app, move |_| consistency(&l, &q)).await;
    }
    if path == "keys" {
        let authz = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        let log = log.clone();
        let keys = crate::access::blocking(app, move |a| {
            a.auth.authenticate(&*a.store, authz.as_deref())?;
            bindings(a, &log)
        })
        .await?;
        return json("private, no-store", &keys);
    }
    if let Some(rest) = path.strip_prefix("receipt/") {
        let (cid, oid) = rest
            .split_once('/')
            .filter(|(c, o)| !c.is_empty() && !o.is_empty() && !o.contains('/'))
            .ok_or_else(|| {
                ApiError::NotFound("receipts are at /log/receipt/{collection}/{object}".into())
            })?;
        let authz = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        // A receipt is a few indexed point reads; `blocking` runs them in place on the
        // multi-threaded runtime (handing them to another thread cost a third of the
        // throughput in bench/tlog.sh), which PostgreSQL's blocking client also needs.
        let (l, cid, oid, q) = (
            log.clone(),
            cid.to_owned(),
            oid.to_owned(),
            query.to_owned(),
        );
        let r = crate::access::blocking(app, move |a| {
            let p = a.auth.authenticate(&*a.store, authz.as_deref())?;
            receipt(a, &l, &p, &cid, &oid, &q)
        })
        .await?;
        return json("private, no-store", &r);
    }
    let storage = log.storage.clone();
    let path = path.to_owned();
    let found =
        tokio::task::spawn_blocking(move || detente_sequencer::read_published(&*storage, &path))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    match found {
        Ok(Some(tile)) => Ok(body(
            "application/octet-stream",
            "public, max-age=31536000, immutable",
            tile,
        )),
        Ok(None) => Err(ApiError::NotFound("no such log resource".into())),
        Err(e) => Err(storage_error(e)),
    }
}

/// The body of `GET /log/consistency`.
#[derive(Serialize)]
struct ConsistencyOut {
    from: u64,
    to: u64,
    proof: Vec<String>,
}

fn size_param(query: &str, name: &str) -> Result<Option<u64>, ApiError> {
    for (k, v) in form_pairs(query) {
        if k == name {
            return v.parse().map(Some).map_err(|_| {
                ApiError::BadRequest(format!("`{name}` must be a tree size, not {v:?}"))
            });
        }
    }
    Ok(None)
}

fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

/// `GET /log/consistency?from=N[&to=M]` (M defaults to the published size): the RFC 9162
/// consistency proof, public and immutable.
fn consistency(log: &LogService, query: &str) -> Result<Response, ApiError> {
    let from = size_param(query, "from")?
        .ok_or_else(|| ApiError::BadRequest("`from` (a tree size) is required".into()))?;
    let to = match size_param(query, "to")? {
        Some(t) => t,
        None => log.prover.current().map_err(proof_error)?.size,
    };
    let proof = log.prover.consistency(from, to).map_err(proof_error)?;
    json(
        "public, max-age=31536000, immutable",
        &ConsistencyOut {
            from,
            to,
            proof: proof.iter().map(|h| h.to_base64()).collect(),
        },
    )
}

/// The API error for a proof that cannot be made (503 while not yet sequenced).
pub(crate) fn proof_error(e: ProofError) -> ApiError {
    match e {
        ProofError::NoCheckpoint
        | ProofError::NotYetSequenced { .. }
        | ProofError::Unavailable(_) => ApiError::Unavailable(format!("{e}; retry shortly")),
        ProofError::BadRange { .. } => ApiError::BadRequest(e.to_string()),
        ProofError::Tiles(_) => ApiError::Internal(e.to_string()),
    }
}

/// The API error for a log storage failure: 503 when the database may come back.
fn storage_error(e: detente_store::published::LogStorageError) -> ApiError {
    match e {
        detente_store::published::LogStorageError::Store(s) => s.into(),
        other => ApiError::Internal(other.to_string()),
    }
}

/// The receipt of an object version the caller may read, or of the tombstone of one.
fn receipt<S: Store>(
    a: &App<S>,
    log: &LogService,
    p: &Principal,
    cid: &str,
    oid: &str,
    query: &str,
) -> Result<Receipt, ApiError> {
    let not_found = || ApiError::NotFound(format!("no receipt for {oid} in collection {cid}"));
    let version = form_pairs(query)
        .find(|(k, _)| k == "version")
        .map(|(_, v)| v);
    let exact = match &version {
        Some(v) => Some(parse_micros(v).map_err(|e| {
            ApiError::BadRequest(format!("`version` must be a STIX timestamp: {e}"))
        })?),
        None => None,
    };
    if !p.access(cid).0 {
        return Err(not_found());
    }
    // An unknown collection (possible for an admin, who may read every one) is the same 404.
    let page = match a.store.query_objects(&ObjectQuery {
        collection: cid.to_owned(),
        viewer: p.viewer(),
        ids: vec![oid.to_owned()],
        types: Vec::new(),
        versions: VersionMatch {
            all: false,
            first: false,
            last: exact.is_none(),
            exact: exact.into_iter().collect(),
        },
        spec_versions: Vec::new(),
        added_after: None,
        after: None,
        limit: 1,
        max_bytes: usize::MAX,
        with_body: false,
    }) {
        Err(StoreError::NotFound(_)) => return Err(not_found()),
        other => other?,
    };
    let (entry, version_text, nonce, index, leaf) = if let Some(o) = page.items.first() {
        let e = a
            .store
            .log_object_entry(o.date_added)?
            .ok_or_else(|| ApiError::Internal(format!("no log entry for {}", o.date_added)))?;
        (
            Entry::Object {
                contributor: e.contributor,
            },
            o.version.clone().unwrap_or_default(),
            e.nonce,
            e.index,
            e.leaf,
        )
    } else {
        let wanted = |t: &&detente_store::TombstoneLogEntry| {
            version
                .as_deref()
                .is_none_or(|v| parse_micros(&t.version).ok() == exact || t.version == v)
        };
        let t = a
            .store
            .log_tombstones(cid, oid, &p.viewer())?
            .into_iter()
            .rev()
            .find(|t| wanted(&t))
            .ok_or_else(not_found)?;
        (
            Entry::Tombstone {
                deleted_by: t.member,
                deleted_at: t.time,
                deleted_index: t.deleted_index,
            },
            t.version,
            t.nonce,
            t.index,
            t.leaf,
        )
    };
    let (latest, proof) = log.prover.inclusion(index).map_err(proof_error)?;
    let checkpoint = String::from_utf8(latest.note.clone())
        .map_err(|e| ApiError::Internal(format!("checkpoint is not UTF-8: {e}")))?;
    Ok(Receipt {
        collection: cid.to_owned(),
        object_id: oid.to_owned(),
        version: version_text,
        entry,
        nonce: encode(&nonce),
        log_index: index,
        leaf: encode(&leaf),
        checkpoint,
        inclusion_proof: proof.iter().map(|h| h.to_base64()).collect(),
    })
}

/// `GET /log/keys`: every key binding, in log order, each with an inclusion proof against the
/// latest checkpoint. 503 while the newest binding is not yet in a checkpoint. Any authenticated
/// member may ask: member names are not secrets among a node's members (they address TLP:RED
/// objects and name contributors in receipts), and every reader needs every contributor's
/// binding to check signatures.
fn bindings<S: Store>(a: &App<S>, log: &LogService) -> Result<Vec<KeyBindingReceipt>, ApiError> {
    a.store
        .key_bindings()?
        .into_iter()
        .map(|b| {
            let (latest, proof) = log.prover.inclusion(b.log_index).map_err(proof_error)?;
            let checkpoint = String::from_utf8(latest.note.clone())
                .map_err(|e| ApiError::Internal(format!("checkpoint is not UTF-8: {e}")))?;
            Ok(KeyBindingReceipt {
                member: b.member,
                vkey: b.vkey,
                time: b.time,
                superseded_by: b.superseded_by,
                nonce: encode(&b.nonce),
                log_index: b.log_index,
                leaf: encode(&b.leaf),
                checkpoint,
                inclusion_proof: proof.iter().map(|h| h.to_base64()).collect(),
            })
        })
        .collect()
}
