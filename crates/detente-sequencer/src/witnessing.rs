//! Getting the log's checkpoints cosigned by its witnesses (C2SP `tlog-witness`, client side).
//!
//! One thread per registered witness submits each new checkpoint with a consistency proof
//! from the size that witness last cosigned; it learns that size from a 409 when it does not
//! know it (at start it sends `old 0`). A witness that is down or refuses is retried with
//! exponential back-off capped at [`MAX_BACKOFF`] and never holds the log up: checkpoints keep
//! being published and served with whatever cosignatures they have. The HTTP client is the
//! caller's ([`Transport`]), so this crate stays free of one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use detente_store::{LogWitness, Store};
use detente_tlog::witness::add_checkpoint_body;
use detente_tlog::{Note, VerifierKey};

use crate::{Latest, Prover};

/// The longest pause between two attempts at one witness.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The first pause after a failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// How often a submitter looks for a new checkpoint, and the supervisor for new witnesses.
const POLL: Duration = Duration::from_millis(200);

/// Posts an `add-checkpoint` body to a witness.
pub trait Transport: Send + Sync + 'static {
    /// POSTs `body` to `URL/witness/add-checkpoint`; the status and body of the answer, or why
    /// there was none.
    fn add_checkpoint(&self, url: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String>;
}

/// What the log knows of one of its witnesses (for the status page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessStatus {
    /// The witness's base URL.
    pub url: String,
    /// The witness's verifier key.
    pub vkey: String,
    /// The largest size it cosigned for this log, as far as this process knows.
    pub cosigned_size: Option<u64>,
    /// When it last returned a cosignature.
    pub cosigned_at: Option<SystemTime>,
    /// The last failure, cleared by the next cosignature.
    pub last_error: Option<String>,
}

struct Slot {
    status: WitnessStatus,
    /// The checkpoint text cosigned and the signature line for it.
    cosignature: Option<(String, String)>,
}

/// Cosignatures collected for the log's checkpoints, shared with the server.
#[derive(Default)]
pub struct Witnessing {
    slots: Mutex<HashMap<String, Slot>>,
}

impl std::fmt::Debug for Witnessing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Witnessing")
    }
}

impl Witnessing {
    /// `note` with the cosignature lines collected for exactly its text appended.
    pub fn cosigned(&self, note: &[u8]) -> Vec<u8> {
        let Ok(parsed) = Note::parse(note) else {
            return note.to_vec();
        };
        let mut out = note.to_vec();
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let mut lines: Vec<&String> = slots
            .values()
            .filter_map(|s| s.cosignature.as_ref())
            .filter(|(text, _)| text == parsed.text())
            .map(|(_, line)| line)
            .collect();
        lines.sort();
        for line in lines {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// Every witness's status, ordered by URL.
    pub fn statuses(&self) -> Vec<WitnessStatus> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<WitnessStatus> = slots.values().map(|s| s.status.clone()).collect();
        out.sort_by(|a, b| a.url.cmp(&b.url).then(a.vkey.cmp(&b.vkey)));
        out
    }

    fn update(&self, vkey: &str, f: impl FnOnce(&mut Slot)) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = slots.get_mut(vkey) {
            f(s);
        }
    }

    /// Registers a witness; false if it was known.
    fn register(&self, w: &LogWitness) -> bool {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.contains_key(&w.vkey) {
            return false;
        }
        slots.insert(
            w.vkey.clone(),
            Slot {
                status: WitnessStatus {
                    url: w.url.clone(),
                    vkey: w.vkey.clone(),
                    cosigned_size: None,
                    cosigned_at: None,
                    last_error: None,
                },
                cosignature: None,
            },
        );
        true
    }
}

/// Starts the supervisor: it reads the registered witnesses from the store and runs one
/// submitter thread for each, including witnesses registered while the node runs.
pub fn start<S: Store + ?Sized, T: Transport>(
    store: Arc<S>,
    prover: Arc<Prover>,
    witnessing: Arc<Witnessing>,
    transport: Arc<T>,
) {
    std::thread::spawn(move || {
        loop {
            match store.log_witnesses() {
                Ok(list) => {
                    for w in list {
                        if witnessing.register(&w) {
                            let (p, ws, t) =
                                (prover.clone(), witnessing.clone(), transport.clone());
                            std::thread::spawn(move || submit_loop(&w, &p, &ws, &*t));
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "couldn't read the log's witnesses"),
            }
            std::thread::sleep(POLL * 5);
        }
    });
}

/// What one attempt came to.
enum Attempt {
    Cosigned(String),
    Learned(u64),
    Failed(String),
}

fn submit_loop<T: Transport + ?Sized>(
    w: &LogWitness,
    prover: &Prover,
    witnessing: &Witnessing,
    transport: &T,
) {
    let key = match VerifierKey::parse(&w.vkey) {
        Ok(k) => k,
        Err(e) => {
            witnessing.update(&w.vkey, |s| {
                s.status.last_error = Some(format!("unusable witness key: {e}"));
            });
            return;
        }
    };
    let mut known: Option<u64> = None;
    let mut done: Option<String> = None;
    let mut backoff = FIRST_BACKOFF;
    let mut learned_in_a_row = 0;
    loop {
        let Some(latest) = prover.latest() else {
            std::thread::sleep(POLL);
            continue;
        };
        let Ok(note) = Note::parse(&latest.note) else {
            std::thread::sleep(POLL);
            continue;
        };
        if done.as_deref() == Some(note.text()) {
            std::thread::sleep(POLL);
            continue;
        }
        match attempt(w, &key, prover, transport, known, &latest, &note) {
            Attempt::Cosigned(line) => {
                known = Some(latest.size);
                done = Some(note.text().to_owned());
                backoff = FIRST_BACKOFF;
                learned_in_a_row = 0;
                let text = note.text().to_owned();
                witnessing.update(&w.vkey, |s| {
                    s.cosignature = Some((text, line));
                    s.status.cosigned_size = Some(latest.size);
                    s.status.cosigned_at = Some(SystemTime::now());
                    s.status.last_error = None;
                });
                continue;
            }
            // A 409 is not a failure, but two in a row mean the witness keeps moving (or
            // another node submits for this origin): back off then.
            Attempt::Learned(size) if learned_in_a_row == 0 => {
                known = Some(size);
                learned_in_a_row += 1;
                witnessing.update(&w.vkey, |s| s.status.cosigned_size = Some(size));
                continue;
            }
            Attempt::Learned(size) => {
                known = Some(size);
                witnessing.update(&w.vkey, |s| {
                    s.status.cosigned_size = Some(size);
                    s.status.last_error = Some(format!("witness keeps answering 409 ({size})"));
                });
            }
            Attempt::Failed(why) => {
                learned_in_a_row = 0;
                tracing::warn!(witness = %w.url, error = %why, "witness did not cosign");
                witnessing.update(&w.vkey, |s| s.status.last_error = Some(why));
            }
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn attempt<T: Transport + ?Sized>(
    w: &LogWitness,
    key: &VerifierKey,
    prover: &Prover,
    transport: &T,
    known: Option<u64>,
    latest: &Latest,
    note: &Note,
) -> Attempt {
    let (size, note_bytes) = (latest.size, latest.note.as_slice());
    let old = known.unwrap_or(0);
    if old > size {
        return Attempt::Failed(format!(
            "the witness cosigned size {old} of this log, above the published {size}: \
             was the log rolled back?"
        ));
    }
    let proof = if old == 0 || old == size {
        Vec::new()
    } else {
        match prover.consistency(old, size) {
            Ok(p) => p,
            Err(e) => return Attempt::Failed(format!("consistency proof {old}..{size}: {e}")),
        }
    };
    let body = add_checkpoint_body(old, &proof, note_bytes);
    let (status, reply) = match transport.add_checkpoint(&w.url, &body) {
        Ok(r) => r,
        Err(e) => return Attempt::Failed(e),
    };
    let reply = String::from_utf8_lossy(&reply);
    match status {
        200 => {
            for line in reply.lines() {
                let with = format!(
                    "{}\n{line}\n",
                    String::from_utf8_lossy(note_bytes).trim_end()
                );
                let Ok(n) = Note::parse(with.as_bytes()) else {
                    continue;
                };
                if let Some(sig) = n.signatures().last()
                    && sig.name == key.name()
                    && sig.key_id == key.key_id()
                    && key.verify(note.text(), &sig.signature).is_some()
                {
                    return Attempt::Cosigned(line.to_owned());
                }
            }
            Attempt::Failed("the witness answered 200 without a valid cosignature".into())
        }
        409 => match reply.trim_end_matches('\n').parse::<u64>() {
            Ok(n) => Attempt::Learned(n),
            Err(_) => Attempt::Failed(format!("409 with a malformed size {reply:?}")),
        },
        s => Attempt::Failed(format!(
            "HTTP {s}: {}",
            reply.lines().next().unwrap_or_default()
        )),
    }
}
