//! The node as a witness: C2SP `tlog-witness` `POST /witness/add-checkpoint`.
//!
//! Requests carry no credentials: the log's signature is the authentication, and only logs an
//! operator trusted (`detente witness trust`) get past 404. The decision is
//! [`detente_tlog::witness::decide`]; the new state is stored by compare-and-set, durably, before
//! the cosignature is returned, so two racing requests from one state cannot both be cosigned
//! and a crash never forgets a cosignature that was handed out. One committer thread writes the
//! compare-and-sets: those that queue while it waits for the disk go in its next transaction
//! (group commit), so the cost of a durable write is shared. A checkpoint that contradicts the
//! one cosigned is kept, with it, as evidence.

use std::sync::{Arc, Mutex, PoisonError, mpsc};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use detente_store::{Store, WitnessAdvance, WitnessEvidence, WitnessState};
use detente_tlog::witness::{AddCheckpoint, Cosigned, Refusal, SIZE_CONTENT_TYPE, decide};
use detente_tlog::{Cosigner, Hash, VerifierKey};

use crate::App;

/// The node's witness: its cosigning key.
#[derive(Clone, Debug)]
pub struct WitnessService {
    /// Signs `cosignature/v1` lines.
    pub cosigner: Cosigner,
}

/// Most compare-and-sets committed in one transaction.
const MAX_BATCH: usize = 512;

/// A compare-and-set waiting for the committer, and where its result goes.
struct Pending {
    op: WitnessAdvance,
    reply: mpsc::SyncSender<Result<bool, String>>,
}

/// The committer thread's queue.
pub(crate) struct Committer {
    queue: Mutex<mpsc::Sender<Pending>>,
}

impl Committer {
    /// Starts the committer thread over `store`.
    pub(crate) fn start<S: Store + ?Sized>(store: Arc<S>) -> Self {
        let (queue, rx) = mpsc::channel::<Pending>();
        std::thread::spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let (ops, replies): (Vec<WitnessAdvance>, Vec<_>) =
                    batch.into_iter().map(|p| (p.op, p.reply)).unzip();
                match store.witness_advance_batch(&ops) {
                    Ok(results) => {
                        for (reply, r) in replies.into_iter().zip(results) {
                            let _ = reply.send(Ok(r));
                        }
                    }
                    Err(e) => {
                        for reply in replies {
                            let _ = reply.send(Err(e.to_string()));
                        }
                    }
                }
            }
        });
        Committer {
            queue: Mutex::new(queue),
        }
    }

    /// Commits one compare-and-set (with whatever else is queued) and waits for it.
    fn advance(&self, op: WitnessAdvance) -> Result<bool, String> {
        let (reply, result) = mpsc::sync_channel(1);
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(Pending { op, reply })
            .map_err(|_| "the witness committer stopped".to_owned())?;
        result
            .recv()
            .map_err(|_| "the witness committer stopped".to_owned())?
    }
}

/// An answer other than a cosignature.
enum Answer {
    Refused(Refusal),
    Failed(String),
}

impl From<detente_store::StoreError> for Answer {
    fn from(e: detente_store::StoreError) -> Self {
        Answer::Failed(e.to_string())
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// `POST /witness/add-checkpoint`.
pub(crate) async fn add_checkpoint<S: Store>(
    State(app): State<Arc<App<S>>>,
    body: Bytes,
) -> Response {
    let (Some(witness), Some(committer)) =
        (app.config.witness.clone(), app.witness_commits.clone())
    else {
        return text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "this node is not a witness\n".into(),
        );
    };
    let store = app.store.clone();
    let outcome =
        tokio::task::spawn_blocking(move || handle(&*store, &witness, &committer, &body)).await;
    match outcome {
        Ok(Ok(lines)) => text(StatusCode::OK, "text/plain; charset=utf-8", lines),
        Ok(Err(Answer::Refused(Refusal::OldMismatch { latest, .. }))) => text(
            StatusCode::CONFLICT,
            SIZE_CONTENT_TYPE,
            format!("{latest}\n"),
        ),
        Ok(Err(Answer::Refused(r))) => text(
            StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST),
            "text/plain; charset=utf-8",
            format!("{r}\n"),
        ),
        Ok(Err(Answer::Failed(cause))) => {
            tracing::error!(%cause, "add-checkpoint failed");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                "internal error\n".into(),
            )
        }
        Err(e) => {
            tracing::error!(cause = %e, "add-checkpoint task failed");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                "internal error\n".into(),
            )
        }
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs().max(1))
}

/// Decides, records and cosigns one request; returns the cosignature line(s).
fn handle<S: Store + ?Sized>(
    store: &S,
    witness: &WitnessService,
    committer: &Committer,
    body: &[u8],
) -> Result<String, Answer> {
    let req = AddCheckpoint::parse(body).map_err(|e| Answer::Refused(Refusal::Malformed(e)))?;
    let origin = &req.checkpoint.origin;
    let keys: Vec<VerifierKey> = store
        .witness_trusted(origin)?
        .iter()
        .filter_map(|k| VerifierKey::parse(k).ok())
        .collect();
    let state = store.witness_state(origin)?;
    let last = state
        .as_ref()
        .map(|s| Hash::from_slice(&s.root).map(|root| Cosigned { size: s.size, root }))
        .transpose()
        .map_err(|e| Answer::Failed(format!("stored witness root for {origin}: {e}")))?;
    if let Err(refusal) = decide(&req, &keys, last.as_ref()) {
        if let (
            Refusal::Inconsistent {
                conflict: true,
                reason,
            },
            Some(s),
        ) = (&refusal, &state)
        {
            let kept = store.witness_record_evidence(&WitnessEvidence {
                origin: origin.clone(),
                cosigned: s.note.clone(),
                conflicting: req.note.to_bytes(),
                reason: reason.clone(),
                seen: crate::now_micros(),
            })?;
            if kept {
                tracing::warn!(%origin, %reason, "log equivocated; evidence kept");
            }
        }
        return Err(Answer::Refused(refusal));
    }
    let line = witness
        .cosigner
        .cosign(req.note.text(), now_secs())
        .map_err(|e| Answer::Failed(e.to_string()))?;
    let new = WitnessState {
        origin: origin.clone(),
        size: req.checkpoint.size,
        root: req.checkpoint.root.as_bytes().to_vec(),
        note: req.note.to_bytes(),
        updated: crate::now_micros(),
    };
    let op = WitnessAdvance {
        expected: state.map(|s| (s.size, s.root)),
        new,
    };
    if !committer.advance(op).map_err(Answer::Failed)? {
        // Another request moved the state first: this one's `old` is stale now.
        let latest = store.witness_state(origin)?.map_or(0, |s| s.size);
        return Err(Answer::Refused(Refusal::OldMismatch {
            old: req.old,
            latest,
        }));
    }
    Ok(format!("{line}\n"))
}
