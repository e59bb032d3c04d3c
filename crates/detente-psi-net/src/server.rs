//! The answering side as an axum service.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use detente_psi::codec::REQUEST_HEADER_LEN;
use detente_psi::{
    AnswererPolicy, BudgetError, DecodeError, ProtocolError, ReplayGuard, Request, RequestHeader,
    SessionId, SlidingWindowBudget, accept,
};
use http_body_util::BodyExt;
use rand_core::OsRng;
use thiserror::Error;

use crate::{ProgressFactory, SESSION_PATH};

/// Most bytes of a refused request read before answering.
const DRAIN_LIMIT: usize = 64 << 20;

/// How the answerer limits its peers.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Largest querier set accepted in one session (checked from the header).
    pub max_items: u32,
    /// Items (|X| + |Y| per session) each peer may spend per window, and the window.
    pub budget: Option<(u64, Duration)>,
}

/// Why a session was refused or failed; each maps to one HTTP status.
#[derive(Debug, Error)]
pub enum SessionError {
    /// Missing or wrong bearer token (401).
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The request body is malformed or truncated (400).
    #[error("malformed PSI request: {0}")]
    Malformed(#[from] DecodeError),
    /// The body ended early or broke off (400).
    #[error("could not read request body: {0}")]
    Body(String),
    /// The request set is over the cap (413).
    #[error("request has {count} items; this server accepts at most {max} (--max-items)")]
    TooManyItems {
        /// Items in the request.
        count: u64,
        /// Cap.
        max: u64,
    },
    /// The session id was used before (409).
    #[error("session {0} was already used; replay refused")]
    Replayed(SessionId),
    /// The peer's budget is exhausted (429 + Retry-After) or too small for this session.
    #[error("{0}")]
    Budget(#[from] BudgetError),
    /// The protocol refused the request contents, e.g. an invalid point (422).
    #[error("PSI request rejected: {0}")]
    Protocol(ProtocolError),
    /// Where the replay set and budgets are kept cannot be reached now (503 + Retry-After).
    #[error("the answerer cannot check its limits now; retry in {}s", retry_after.as_secs().max(1))]
    Unavailable {
        /// Wait this long before retrying.
        retry_after: Duration,
    },
    /// The computation did not complete (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ProtocolError> for SessionError {
    fn from(e: ProtocolError) -> Self {
        match e {
            ProtocolError::TooManyItems { count, max } => SessionError::TooManyItems { count, max },
            ProtocolError::Replayed(s) => SessionError::Replayed(s),
            other => SessionError::Protocol(other),
        }
    }
}

impl SessionError {
    /// HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            SessionError::Unauthorized => StatusCode::UNAUTHORIZED,
            SessionError::Malformed(_) | SessionError::Body(_) => StatusCode::BAD_REQUEST,
            SessionError::TooManyItems { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            SessionError::Replayed(_) => StatusCode::CONFLICT,
            SessionError::Budget(BudgetError::Exhausted { .. }) => StatusCode::TOO_MANY_REQUESTS,
            SessionError::Budget(BudgetError::ExceedsBudget { .. }) => StatusCode::FORBIDDEN,
            SessionError::Protocol(_) => StatusCode::UNPROCESSABLE_ENTITY,
            SessionError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            SessionError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), format!("{self}\n")).into_response();
        let headers = response.headers_mut();
        match &self {
            SessionError::Budget(BudgetError::Exhausted { retry_after, .. }) => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            SessionError::Unavailable { retry_after } => {
                let secs = retry_after.as_secs().max(1);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            SessionError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// A finished session, as the answerer saw it (for audit logs: it never learns the result).
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// Peer key the budget was charged to.
    pub peer: String,
    /// Session id.
    pub session: SessionId,
    /// Requested mode.
    pub mode: detente_psi::Mode,
    /// Querier set size.
    pub request_items: usize,
    /// Answerer set size.
    pub own_items: usize,
    /// Bytes received and sent.
    pub bytes_in: usize,
    /// Bytes sent.
    pub bytes_out: usize,
    /// Time from the header check to the response.
    pub duration: Duration,
}

/// Where an answerer keeps its replay set and budgets, and how it consults them: in this
/// process ([`MemoryAdmission`]), or somewhere every answering process shares (a node's
/// database). The size cap is checked before either method is called.
pub trait Admission: Sync {
    /// Refuses a session from its header alone, recording nothing: a replayed session id,
    /// or a querier set that the peer's budget cannot take even on its own.
    fn precheck(
        &self,
        peer: &str,
        header: &RequestHeader,
    ) -> impl Future<Output = Result<(), SessionError>> + Send;

    /// Charges `cost` items (|X| + |Y|) to `peer`'s budget and records the session id, or
    /// refuses the session (replay, budget) without doing either.
    fn admit(
        &self,
        peer: &str,
        header: &RequestHeader,
        cost: u64,
    ) -> impl Future<Output = Result<(), SessionError>> + Send;
}

/// The replay set and per-peer budgets in this process's memory (a standalone answerer).
pub struct MemoryAdmission {
    replay: Mutex<HashSet<SessionId>>,
    budget: Option<Mutex<SlidingWindowBudget<String>>>,
    origin: Instant,
}

impl MemoryAdmission {
    /// An empty replay set and the budget `(items, window)` per peer, if any.
    pub fn new(budget: Option<(u64, Duration)>) -> Self {
        MemoryAdmission {
            replay: Mutex::new(HashSet::new()),
            budget: budget
                .map(|(limit, window)| Mutex::new(SlidingWindowBudget::new(limit, window))),
            origin: Instant::now(),
        }
    }

    fn precheck_now(&self, peer: &str, header: &RequestHeader) -> Result<(), SessionError> {
        let replayed = self
            .replay
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&header.session);
        if replayed {
            return Err(ProtocolError::Replayed(header.session).into());
        }
        if let Some(budget) = &self.budget {
            let mut budget = budget.lock().unwrap_or_else(PoisonError::into_inner);
            budget.check(
                &peer.to_string(),
                u64::from(header.count),
                self.origin.elapsed(),
            )?;
        }
        Ok(())
    }

    fn admit_now(&self, peer: &str, header: &RequestHeader, cost: u64) -> Result<(), SessionError> {
        // Both locks at once, so that of two sessions with one id only one is charged.
        let mut replay = self.replay.lock().unwrap_or_else(PoisonError::into_inner);
        if replay.contains(&header.session) {
            return Err(ProtocolError::Replayed(header.session).into());
        }
        if let Some(budget) = &self.budget {
            let mut budget = budget.lock().unwrap_or_else(PoisonError::into_inner);
            budget.charge(&peer.to_string(), cost, self.origin.elapsed())?;
        }
        replay.insert(header.session);
        Ok(())
    }
}

impl Admission for MemoryAdmission {
    fn precheck(
        &self,
        peer: &str,
        header: &RequestHeader,
    ) -> impl Future<Output = Result<(), SessionError>> + Send {
        std::future::ready(self.precheck_now(peer, header))
    }

    fn admit(
        &self,
        peer: &str,
        header: &RequestHeader,
        cost: u64,
    ) -> impl Future<Output = Result<(), SessionError>> + Send {
        std::future::ready(self.admit_now(peer, header, cost))
    }
}

/// Marks a session as checked for replay: the [`Admission`] recorded it before
/// [`accept`] is called.
struct RecordedByAdmission;

impl ReplayGuard for RecordedByAdmission {
    fn first_use(&mut self, _session: SessionId) -> bool {
        true
    }
}

/// The answerer's state shared by all sessions: its items, caps, and (for [`PsiService::handle`]
/// and [`PsiService::handle_with`]) its replay set and budgets in memory.
pub struct PsiService {
    items: Arc<Vec<String>>,
    config: ServeConfig,
    memory: MemoryAdmission,
    progress: Arc<dyn ProgressFactory>,
}

impl PsiService {
    /// A service answering over `items` (distinct, normalised values).
    pub fn new(
        items: Arc<Vec<String>>,
        config: ServeConfig,
        progress: Arc<dyn ProgressFactory>,
    ) -> Self {
        PsiService {
            items,
            memory: MemoryAdmission::new(config.budget),
            config,
            progress,
        }
    }

    fn policy(&self) -> AnswererPolicy {
        AnswererPolicy {
            max_request_items: self.config.max_items,
        }
    }

    /// Runs one session for `peer` (the budget key) over a streamed request body, answering
    /// over the items this service was made with.
    ///
    /// The header is read first; the cap, replay and budget checks happen before the
    /// points are read or any group operation is done. The budget is charged as soon as the
    /// header passes, so a session that fails later (malformed points) still counts.
    pub async fn handle(
        &self,
        peer: &str,
        body: Body,
    ) -> Result<(Vec<u8>, SessionRecord), SessionError> {
        let items = Arc::clone(&self.items);
        self.handle_with(peer, body, move || std::future::ready(Ok(items)))
            .await
            .map_err(|failure| failure.error)
    }

    /// Like [`PsiService::handle`], but the answerer's items come from `load`, called once
    /// the header has passed the size cap and before the budget is charged (the charge needs
    /// |Y|). A failure keeps what was known of the session, for audit logs.
    pub async fn handle_with<F, Fut>(
        &self,
        peer: &str,
        body: Body,
        load: F,
    ) -> Result<(Vec<u8>, SessionRecord), SessionFailure>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<Vec<String>>, SessionError>>,
    {
        self.handle_admitted(peer, body, load, &self.memory).await
    }

    /// Like [`PsiService::handle_with`], with the replay set and budgets of `admission`
    /// instead of this service's memory.
    pub async fn handle_admitted<F, Fut, A>(
        &self,
        peer: &str,
        body: Body,
        load: F,
        admission: &A,
    ) -> Result<(Vec<u8>, SessionRecord), SessionFailure>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<Vec<String>>, SessionError>>,
        A: Admission,
    {
        let started = Instant::now();
        let mut failure = SessionFailure {
            error: SessionError::Internal(String::new()),
            header: None,
            own_items: None,
            bytes_in: 0,
            duration: Duration::ZERO,
        };
        let fail = |mut failure: SessionFailure, error: SessionError, bytes_in: usize| {
            failure.error = error;
            failure.bytes_in = bytes_in;
            failure.duration = started.elapsed();
            failure
        };
        let mut body = body;
        let mut buf: Vec<u8> = Vec::new();
        let header = loop {
            if buf.len() >= REQUEST_HEADER_LEN {
                match RequestHeader::parse(&buf) {
                    Ok(h) => break h,
                    Err(e) => return Err(fail(failure, e.into(), buf.len())),
                }
            }
            match next_chunk(&mut body, &mut buf).await {
                Ok(true) => {}
                Ok(false) => {
                    let e = DecodeError::Truncated {
                        needed: REQUEST_HEADER_LEN,
                        got: buf.len(),
                    };
                    return Err(fail(failure, e.into(), buf.len()));
                }
                Err(e) => return Err(fail(failure, e, buf.len())),
            }
        };
        failure.header = Some(header);
        let expected = header.message_len();
        // The cap comes first: an oversized request costs neither the item load nor budget.
        let admitted = if header.count > self.config.max_items {
            Err(SessionError::TooManyItems {
                count: u64::from(header.count),
                max: u64::from(self.config.max_items),
            })
        } else if let Err(e) = admission.precheck(peer, &header).await {
            Err(e)
        } else {
            match load().await {
                Ok(items) => {
                    failure.own_items = Some(items.len());
                    let cost = u64::from(header.count) + items.len() as u64;
                    match admission.admit(peer, &header, cost).await {
                        Ok(()) => accept(&header, &self.policy(), &mut RecordedByAdmission)
                            .map(|session| (session, items))
                            .map_err(SessionError::from),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        };
        let (session, items) = match admitted {
            Ok(ok) => ok,
            Err(refusal) => {
                // Read (and drop) a bounded rest of the body so that the client, still
                // sending, sees the refusal instead of a reset connection.
                let mut sink = Vec::new();
                let mut drained = buf.len();
                while drained < expected.min(DRAIN_LIMIT) {
                    match next_chunk(&mut body, &mut sink).await {
                        Ok(true) => {}
                        _ => break,
                    }
                    drained += sink.len();
                    sink.clear();
                }
                return Err(fail(failure, refusal, drained));
            }
        };
        buf.reserve(expected.saturating_sub(buf.len()));
        let read = async {
            while buf.len() < expected && next_chunk(&mut body, &mut buf).await? {}
            if buf.len() == expected {
                // One more poll, so that data past the declared points is reported.
                next_chunk(&mut body, &mut buf).await?;
            }
            Ok::<_, SessionError>(())
        };
        if let Err(e) = read.await {
            return Err(fail(failure, e, buf.len()));
        }
        let bytes_in = buf.len();
        let request = match Request::decode(&buf, self.config.max_items) {
            Ok(r) => r,
            Err(e) => return Err(fail(failure, e.into(), bytes_in)),
        };
        drop(buf);
        let own = Arc::clone(&items);
        let progress = Arc::clone(&self.progress);
        let response = tokio::task::spawn_blocking(move || {
            let total = request.points.len() as u64 + own.len() as u64;
            let sink = progress.start("answering", total);
            session.respond(&request, &own, &mut OsRng, &*sink)
        })
        .await
        .map_err(|e| SessionError::Internal(e.to_string()))
        .and_then(|r| r.map_err(SessionError::from));
        let response = match response {
            Ok(r) => r,
            Err(e) => return Err(fail(failure, e, bytes_in)),
        };
        let bytes = response.encode();
        let record = SessionRecord {
            peer: peer.to_string(),
            session: header.session,
            mode: header.mode,
            request_items: header.count as usize,
            own_items: items.len(),
            bytes_in,
            bytes_out: bytes.len(),
            duration: started.elapsed(),
        };
        Ok((bytes, record))
    }
}

/// A session that did not complete, with what the answerer knew of it when it stopped.
#[derive(Debug)]
pub struct SessionFailure {
    /// Why it stopped (maps to the HTTP status).
    pub error: SessionError,
    /// The request header, if it was parsed.
    pub header: Option<RequestHeader>,
    /// The answerer's set size, if it was loaded.
    pub own_items: Option<usize>,
    /// Request bytes read.
    pub bytes_in: usize,
    /// Time from the start of the request to the refusal.
    pub duration: Duration,
}

/// Appends the next data frame to `buf`; false at the end of the body.
async fn next_chunk(body: &mut Body, buf: &mut Vec<u8>) -> Result<bool, SessionError> {
    loop {
        match body.frame().await {
            None => return Ok(false),
            Some(Err(e)) => return Err(SessionError::Body(e.to_string())),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                    return Ok(true);
                }
            }
        }
    }
}

/// Standalone router state: the service, an optional bearer token and an audit callback.
#[derive(Clone)]
pub struct Standalone {
    /// The PSI service.
    pub service: Arc<PsiService>,
    /// Token every request must present as `Authorization: Bearer`.
    pub token: Option<String>,
    /// Called after each successful session.
    pub on_session: Arc<dyn Fn(&SessionRecord) + Send + Sync>,
}

/// The standalone router: `POST /psi/v1/session`, budgets keyed by the peer's IP address.
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn router(state: Standalone) -> Router {
    Router::new()
        .route(SESSION_PATH, post(session_handler))
        .with_state(state)
}

async fn session_handler(
    State(state): State<Standalone>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(token) = &state.token
        && !bearer_matches(&headers, token)
    {
        return SessionError::Unauthorized.into_response();
    }
    match state.service.handle(&addr.ip().to_string(), body).await {
        Ok((bytes, record)) => {
            (state.on_session)(&record);
            ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Constant-time comparison of the presented bearer token.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(presented) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (presented.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
