//! Private set intersection sessions between nodes, over one collection's indicator values.
//!
//! `POST /psi/v1/collections/{id}/session` runs one [`detente_psi_net`] session for an
//! authenticated member holding the `psi` grant on the collection (or an admin). The
//! answerer's set is the indicator values of the collection's indicators that this member
//! may read under TLP, so a session never reveals holdings the member could not fetch. The
//! size cap is [`PsiService`]'s; the per-member sliding-window budget (charging |X| + |Y|)
//! and replay refusal are kept in the store ([`StoreAdmission`]), shared by every node on
//! one database. Every session that reaches the service is written to the audit
//! table, with both set sizes but never a result (the answerer does not learn one).
//! `GET /psi/v1/audit` returns the audit table to admins as JSON.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use detente_observable::Observable;
use detente_pattern::observable::comparisons;
use detente_psi::{Mode, RequestHeader, fits};
use detente_psi_net::NoProgress;
use detente_psi_net::server::{Admission, PsiService, SessionError, SessionFailure};
use detente_store::{
    PsiCharge, PsiChargeOutcome, PsiRole, PsiSessionRecord, Role, Store, StoreError, Viewer,
    retry_conflicts,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::App;
use crate::access::blocking;
use crate::auth::Principal;
use crate::error::ApiError;

/// Audit rows `GET /psi/v1/audit` returns at most.
const AUDIT_LIMIT: usize = 10_000;

/// Adds the PSI routes, answering under the node's cap, with the budgets and the replay set
/// in the store ([`StoreAdmission`]).
pub(crate) fn routes<S: Store>(
    router: Router<Arc<App<S>>>,
    app: &Arc<App<S>>,
) -> Router<Arc<App<S>>> {
    let service = Arc::new(PsiService::new(
        Arc::new(Vec::new()),
        app.config.psi.clone(),
        Arc::new(NoProgress),
    ));
    // Sessions compute on the runtime's blocking threads, which store work shares (the node
    // caps them): at most one session per core at a time, so they cannot take them all.
    let slots = Arc::new(Semaphore::new(
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    ));
    router
        .route(
            "/psi/v1/collections/{id}/session",
            post(
                move |State(app): State<Arc<App<S>>>,
                      Path(id): Path<String>,
                      headers: HeaderMap,
                      body: Body| {
                    let service = service.clone();
                    let slots = slots.clone();
                    async move {
                        let started = Instant::now();
                        // A refusal may come before the body is read, and then the
                        // connection cannot carry another request: say so, or a client that
                        // pooled it sends its next request into a closed socket.
                        let resp = session(&app, &service, &slots, id, &headers, body)
                            .await
                            .unwrap_or_else(|e| {
                                let mut r = e.into_response();
                                r.headers_mut().insert(
                                    header::CONNECTION,
                                    header::HeaderValue::from_static("close"),
                                );
                                r
                            });
                        app.metrics
                            .observe(resp.status().as_u16(), started.elapsed());
                        resp
                    }
                },
            ),
        )
        .route("/psi/v1/audit", get(audit::<S>))
}

/// The node's PSI budgets and replay set, kept in its store ([`Store::psi_charge`]): every
/// node on one database charges a member against one budget and refuses a session id that
/// any of them answered, also after a restart. The window is measured on the wall clock,
/// which the nodes share.
struct StoreAdmission<'a, S: Store> {
    app: &'a Arc<App<S>>,
}

impl<S: Store> StoreAdmission<'_, S> {
    async fn charge(
        &self,
        peer: &str,
        header: &RequestHeader,
        cost: u64,
        dry_run: bool,
    ) -> Result<(), SessionError> {
        let budget = self.app.config.psi.budget;
        let at = crate::now_micros();
        let now = Duration::from_micros(at.unsigned_abs());
        if let Some((limit, window)) = budget {
            // A session costing more than the whole budget needs no store to refuse.
            fits(&[], cost, limit, window, now)?;
        }
        let charge = PsiCharge {
            peer: peer.to_owned(),
            session: header.session.to_string(),
            cost,
            limit: budget.map(|(limit, _)| limit),
            window_micros: budget
                .map_or(0, |(_, w)| i64::try_from(w.as_micros()).unwrap_or(i64::MAX)),
            at,
            dry_run,
        };
        let outcome = blocking(self.app, move |a| {
            Ok(retry_conflicts(|| a.store.psi_charge(&charge))?)
        })
        .await
        .map_err(|e| match e {
            ApiError::StoreUnavailable { retry_after, .. } => SessionError::Unavailable {
                retry_after: Duration::from_secs(retry_after),
            },
            other => SessionError::Internal(other.to_string()),
        })?;
        match (outcome, budget) {
            (PsiChargeOutcome::Charged, _) => Ok(()),
            (PsiChargeOutcome::Replayed, _) => Err(SessionError::Replayed(header.session)),
            (PsiChargeOutcome::Exhausted { charges }, Some((limit, window))) => {
                let charges: Vec<(Duration, u64)> = charges
                    .into_iter()
                    .map(|(t, c)| (Duration::from_micros(t.unsigned_abs()), c))
                    .collect();
                Err(match fits(&charges, cost, limit, window, now) {
                    Err(e) => e.into(),
                    Ok(()) => SessionError::Internal(
                        "the store refused a charge that fits the budget".into(),
                    ),
                })
            }
            (PsiChargeOutcome::Exhausted { .. }, None) => Err(SessionError::Internal(
                "the store refused a charge without a budget".into(),
            )),
        }
    }
}

impl<S: Store> Admission for StoreAdmission<'_, S> {
    fn precheck(
        &self,
        peer: &str,
        header: &RequestHeader,
    ) -> impl Future<Output = Result<(), SessionError>> + Send {
        self.charge(peer, header, u64::from(header.count), true)
    }

    fn admit(
        &self,
        peer: &str,
        header: &RequestHeader,
        cost: u64,
    ) -> impl Future<Output = Result<(), SessionError>> + Send {
        self.charge(peer, header, cost, false)
    }
}

/// Whether the member may run PSI sessions against `collection`.
fn may_psi(p: &Principal, collection: &str) -> bool {
    p.member.role == Role::Admin || p.grants.get(collection).is_some_and(|a| a.psi())
}

async fn authenticate<S: Store>(
    app: &Arc<App<S>>,
    headers: &HeaderMap,
) -> Result<Arc<Principal>, ApiError> {
    let authz = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    blocking(app, move |a| {
        a.auth.authenticate(&*a.store, authz.as_deref())
    })
    .await
}

async fn session<S: Store>(
    app: &Arc<App<S>>,
    service: &PsiService,
    slots: &Semaphore,
    cid: String,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let principal = authenticate(app, headers).await?;
    let p = principal.clone();
    let lookup = cid.clone();
    let collection = blocking(app, move |a| Ok(a.store.collection(&lookup)?)).await?;
    // Collections the member has no grant on at all are invisible, as in TAXII.
    let collection = collection
        .filter(|c| p.member.role == Role::Admin || p.grants.contains_key(&c.id))
        .ok_or_else(|| ApiError::NotFound(format!("no collection {cid} here")))?;
    if !may_psi(&principal, &collection.id) {
        return Err(ApiError::Forbidden(
            "PSI sessions on this collection need the psi grant".into(),
        ));
    }
    let viewer = principal.viewer();
    let coll = collection.id.clone();
    let load_app = app.clone();
    let load = move || async move {
        blocking(&load_app, move |a| {
            Ok(collection_items(&*a.store, &coll, &viewer)?)
        })
        .await
        .map(Arc::new)
        .map_err(|e| SessionError::Internal(e.to_string()))
    };
    // The budget is per member, whatever token or address the member comes from.
    let budget_key = format!("member:{}", principal.member.id);
    let admission = StoreAdmission { app };
    let _slot = slots
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let result = service
        .handle_admitted(&budget_key, body, load, &admission)
        .await;
    let mut record = PsiSessionRecord {
        id: 0,
        time: crate::now_micros(),
        role: PsiRole::Answerer,
        session: String::new(),
        peer: principal.member.name.clone(),
        collection: collection.id.clone(),
        mode: String::new(),
        own_items: None,
        peer_items: None,
        result_items: None,
        bytes_in: 0,
        bytes_out: 0,
        duration_micros: 0,
        outcome: "ok".into(),
    };
    let reply = match result {
        Ok((bytes, r)) => {
            record.mode = mode_name(r.mode).into();
            record.session = r.session.to_string();
            record.own_items = Some(r.own_items as u64);
            record.peer_items = Some(r.request_items as u64);
            record.bytes_in = r.bytes_in as u64;
            record.bytes_out = bytes.len() as u64;
            record.duration_micros = micros(r.duration);
            Ok(bytes)
        }
        Err(SessionFailure {
            error,
            header,
            own_items,
            bytes_in,
            duration,
        }) => {
            record.mode = header.map_or("unknown", |h| mode_name(h.mode)).into();
            record.session = header.map(|h| h.session.to_string()).unwrap_or_default();
            record.own_items = own_items.map(|n| n as u64);
            record.peer_items = header.map(|h| u64::from(h.count));
            record.bytes_in = bytes_in as u64;
            record.duration_micros = micros(duration);
            let kind = if error.status().is_server_error() {
                "failed"
            } else {
                "refused"
            };
            record.outcome = format!("{kind}: {error}");
            Err(error)
        }
    };
    tracing::info!(
        member = %record.peer,
        collection = %record.collection,
        mode = %record.mode,
        querier_items = ?record.peer_items,
        own_items = ?record.own_items,
        outcome = %record.outcome,
        "psi session"
    );
    // A session that cannot be audited is not answered.
    let audit = record.clone();
    blocking(app, move |a| Ok(a.store.record_psi_session(&audit)?)).await?;
    Ok(match reply {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(e) => e.into_response(),
    })
}

/// One audit row as JSON (`docs/psi.md`, "Audit"): the store's record with its time in
/// RFC 3339 and its duration in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct AuditRow<'a>(pub &'a PsiSessionRecord);

impl AuditRow<'_> {
    /// When the session ended, RFC 3339.
    pub fn time(&self) -> String {
        detente_taxii::time::format_micros(self.0.time)
    }

    /// Wall time in milliseconds.
    pub fn duration_ms(&self) -> f64 {
        self.0.duration_micros as f64 / 1000.0
    }
}

impl Serialize for AuditRow<'_> {
    fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        use serde::ser::SerializeStruct;
        let r = self.0;
        let mut row = s.serialize_struct("AuditRow", 14)?;
        row.serialize_field("id", &r.id)?;
        row.serialize_field("time", &self.time())?;
        row.serialize_field("role", r.role.as_str())?;
        row.serialize_field("session", &r.session)?;
        row.serialize_field("peer", &r.peer)?;
        row.serialize_field("collection", &r.collection)?;
        row.serialize_field("mode", &r.mode)?;
        row.serialize_field("own_items", &r.own_items)?;
        row.serialize_field("peer_items", &r.peer_items)?;
        row.serialize_field("result_items", &r.result_items)?;
        row.serialize_field("bytes_in", &r.bytes_in)?;
        row.serialize_field("bytes_out", &r.bytes_out)?;
        row.serialize_field("duration_ms", &self.duration_ms())?;
        row.serialize_field("outcome", &r.outcome)?;
        row.end()
    }
}

async fn audit<S: Store>(State(app): State<Arc<App<S>>>, headers: HeaderMap) -> Response {
    let rows = async {
        let principal = authenticate(&app, &headers).await?;
        if principal.member.role != Role::Admin {
            return Err(ApiError::Forbidden(
                "only admins may read the PSI audit table".into(),
            ));
        }
        blocking(&app, |a| Ok(a.store.psi_sessions(AUDIT_LIMIT)?)).await
    };
    match rows.await {
        Ok(rows) => {
            let rows: Vec<AuditRow> = rows.iter().map(AuditRow).collect();
            match serde_json::to_string(&rows) {
                Ok(json) => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    json,
                )
                    .into_response(),
                Err(e) => ApiError::Internal(e.to_string()).into_response(),
            }
        }
        Err(e) => e.into_response(),
    }
}

/// The wire name of a mode, as the CLI spells it.
pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Intersection => "intersection",
        Mode::CountOnly => "count-only",
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The fields of an indicator the set is built from.
#[derive(Deserialize)]
struct IndicatorFields {
    pattern: Option<String>,
    pattern_type: Option<String>,
    #[serde(default)]
    revoked: bool,
}

/// The distinct normalised indicator values of `collection`'s indicators that `viewer` may
/// read (see [`collection_values`]): the answerer's PSI set.
pub fn collection_items<S: Store + ?Sized>(
    store: &S,
    collection: &str,
    viewer: &Viewer,
) -> Result<Vec<String>, StoreError> {
    let mut seen = HashSet::new();
    Ok(collection_values(store, collection, viewer)?
        .iter()
        .filter_map(|v| detente_psi::normalize(v).ok())
        .filter(|v| seen.insert(v.clone()))
        .collect())
}

/// The distinct indicator values, as written, of `collection`'s indicators that `viewer`
/// may read: the latest version of each indicator, TLP applied by the store exactly as for a
/// TAXII GET, revoked indicators and non-STIX patterns skipped.
///
/// Only patterns that are an `OR` of `=` tests on observables count (the pattern engine's
/// [`comparisons`], the scanner's reading too); a CIDR block other than a single address is not
/// an item.
pub fn collection_values<S: Store + ?Sized>(
    store: &S,
    collection: &str,
    viewer: &Viewer,
) -> Result<Vec<String>, StoreError> {
    let mut seen = HashSet::new();
    let mut values = Vec::new();
    crate::access::each_latest(
        store,
        collection,
        viewer,
        &["indicator".to_owned()],
        |page| {
            for object in page {
                for value in indicator_values(&object.body) {
                    if seen.insert(value.clone()) {
                        values.push(value);
                    }
                }
            }
            Ok(())
        },
    )?;
    Ok(values)
}

/// The values an indicator's pattern tests for, as written (addresses without a `/32`
/// or `/128` suffix); none if the pattern is not simple.
fn indicator_values(body: &str) -> Vec<String> {
    let Ok(fields) = serde_json::from_str::<IndicatorFields>(body) else {
        return Vec::new();
    };
    let (Some(pattern), false) = (fields.pattern, fields.revoked) else {
        return Vec::new();
    };
    if fields.pattern_type.as_deref().is_some_and(|t| t != "stix") {
        return Vec::new();
    }
    let Ok(comparisons) = comparisons(&pattern) else {
        return Vec::new();
    };
    comparisons
        .into_iter()
        .filter_map(|(written, value)| match value {
            Observable::Net(ip, len) if len == ip.width() => Some(ip.to_string()),
            Observable::Net(..) => None,
            _ => Some(written),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indicator(pattern: &str, extra: &str) -> String {
        format!(
            r#"{{"type":"indicator","pattern":{},"pattern_type":"stix"{extra}}}"#,
            serde_json::to_string(pattern).unwrap()
        )
    }

    #[test]
    fn values_of_simple_patterns_normalised() {
        let sha = "AB".repeat(32);
        let body = indicator(
            &format!(
                "[domain-name:value = 'Evil.COM'] OR [ipv4-addr:value = '192.0.2.1/32'] OR \
                 [url:value = 'http://x.example/a'] OR [file:hashes.'SHA-256' = '{sha}'] OR \
                 [email-addr:value = 'Bob@Example.org'] OR [ipv6-addr:value = '2001:DB8::1']"
            ),
            "",
        );
        let normalised: Vec<String> = indicator_values(&body)
            .iter()
            .map(|v| detente_psi::normalize(v).unwrap())
            .collect();
        assert_eq!(
            normalised,
            [
                "domain:evil.com".to_string(),
                "ip:192.0.2.1".into(),
                "url:x.example/a".into(),
                format!("sha256:{}", sha.to_lowercase()),
                "email:bob@example.org".into(),
                "ip:2001:db8::1".into(),
            ]
        );
    }

    #[test]
    fn skips_blocks_revoked_complex_and_other_pattern_languages() {
        assert!(indicator_values(&indicator("[ipv4-addr:value = '10.0.0.0/8']", "")).is_empty());
        assert!(
            indicator_values(&indicator(
                "[domain-name:value = 'a.com']",
                r#","revoked":true"#
            ))
            .is_empty()
        );
        assert!(
            indicator_values(&indicator(
                "[domain-name:value = 'a.com' AND url:value = 'http://b.com/']",
                ""
            ))
            .is_empty()
        );
        let snort = r#"{"type":"indicator","pattern":"alert tcp any any","pattern_type":"snort"}"#;
        assert!(indicator_values(snort).is_empty());
        assert!(indicator_values("not json").is_empty());
    }
}
