//! `detente verify --collection`: every object version the member can read must be in the
//! log, unaltered, at the index its receipt names; and every version remembered from an
//! earlier run must still be served or have a tombstone in the log.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context as _;
use detente_logentry::receipt::{Entry, Receipt};
use detente_tlog::proof::verify_consistency;
use detente_tlog::{Checkpoint, Hash, Note, Verifiers};
use detente_tlog_client::{Report, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use detente_taxii_client::{Filter, VersionSelector, escape};

use crate::output::progress;
use crate::remote::{Client, Login};

/// What was checked.
pub struct Outcome {
    /// Object versions served and checked against their receipts.
    pub checked: usize,
    /// Remembered versions deleted since, each with a verified tombstone.
    pub tombstoned: usize,
    /// Precise descriptions of everything that failed.
    pub failures: Vec<String>,
}

/// A remembered receipt: where the version was logged and its leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Remembered {
    log_index: u64,
    leaf: String,
}

/// Remembered receipts of one collection, keyed by `object id` + ` ` + `version`.
type Memory = BTreeMap<String, Remembered>;

fn memory_file(collection: &str) -> String {
    let safe: String = collection
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("receipts-{safe}.json")
}

/// The version string an object is receipted under (`modified`, else `created`).
fn version_of(o: &Value) -> String {
    ["modified", "created"]
        .iter()
        .find_map(|k| o.get(k).and_then(Value::as_str))
        .unwrap_or("")
        .to_owned()
}

/// Checks receipts' checkpoints: signed by the pinned key, same log, and consistent with the
/// checkpoint `detente verify` just verified from the tiles.
pub(crate) struct Checkpoints<'a> {
    client: &'a Client,
    base: &'a str,
    verifiers: Verifiers,
    verified: &'a Report,
    seen: HashMap<String, Result<(), String>>,
}

impl<'a> Checkpoints<'a> {
    /// Checks against `verified`, fetching consistency proofs from the node at `base`.
    pub(crate) fn new(
        client: &'a Client,
        base: &'a str,
        verifiers: Verifiers,
        verified: &'a Report,
    ) -> Self {
        Checkpoints {
            client,
            base,
            verifiers,
            verified,
            seen: HashMap::new(),
        }
    }

    fn check(&mut self, r: &Receipt) -> Result<(), String> {
        self.check_note(&r.checkpoint)
    }

    /// Checks one signed checkpoint note (each distinct note once).
    pub(crate) fn check_note(&mut self, checkpoint: &str) -> Result<(), String> {
        if let Some(done) = self.seen.get(checkpoint) {
            return done.clone();
        }
        let result = self.check_new(checkpoint);
        self.seen.insert(checkpoint.to_owned(), result.clone());
        result
    }

    fn check_new(&self, checkpoint: &str) -> Result<(), String> {
        let note =
            Note::parse(checkpoint.as_bytes()).map_err(|e| format!("bad checkpoint: {e}"))?;
        note.verify(&self.verifiers)
            .map_err(|e| format!("its checkpoint is not signed by the pinned key: {e}"))?;
        let cp = Checkpoint::parse(note.text()).map_err(|e| format!("bad checkpoint: {e}"))?;
        let v = self.verified;
        if cp.origin != v.origin {
            return Err(format!(
                "its checkpoint is for log {:?}, not {:?}",
                cp.origin, v.origin
            ));
        }
        if cp.size == v.size {
            return if cp.root == v.root {
                Ok(())
            } else {
                Err(format!(
                    "fork: its checkpoint of size {} has root {}, the verified one {}",
                    cp.size, cp.root, v.root
                ))
            };
        }
        let ((a, ra), (b, rb)) = if cp.size < v.size {
            ((cp.size, cp.root), (v.size, v.root))
        } else {
            ((v.size, v.root), (cp.size, cp.root))
        };
        // Every tree extends the empty one (a node may have published nothing yet).
        if a == 0 {
            return Ok(());
        }
        let proof = self
            .consistency(a, b)
            .map_err(|e| format!("no consistency proof from {a} to {b}: {e:#}"))?;
        verify_consistency(a, b, &ra, &rb, &proof).map_err(|e| {
            format!(
                "its checkpoint of size {} is not consistent with the verified one of size {}: {e}",
                cp.size, v.size
            )
        })
    }

    fn consistency(&self, from: u64, to: u64) -> anyhow::Result<Vec<Hash>> {
        let url = format!("{}/log/consistency?from={from}&to={to}", self.base);
        let (status, body) = self.client.get(&url)?;
        anyhow::ensure!(status == 200, "GET {url}: HTTP {status}");
        let v: Value = serde_json::from_str(&body).context("not JSON")?;
        v.get("proof")
            .and_then(Value::as_array)
            .context("no `proof` array")?
            .iter()
            .map(|h| {
                h.as_str()
                    .context("proof hash is not a string")
                    .and_then(|s| Hash::from_base64(s).context("proof hash is not base64"))
            })
            .collect()
    }
}

/// Fetches a receipt (or anything proven against a checkpoint, such as the key bindings),
/// retrying while it is not yet in a checkpoint.
pub(crate) fn fetch_receipt<T: serde::de::DeserializeOwned>(
    client: &Client,
    url: &str,
) -> anyhow::Result<Result<T, String>> {
    for _ in 0..10 {
        let (status, body) = client.get(url)?;
        match status {
            200 => {
                return Ok(serde_json::from_str(&body)
                    .map_err(|e| format!("malformed receipt from {url}: {e}")));
            }
            503 => std::thread::sleep(std::time::Duration::from_millis(500)),
            _ => return Ok(Err(format!("no receipt (HTTP {status}) at {url}"))),
        }
    }
    Ok(Err(format!("{url} stayed unavailable (not yet sequenced)")))
}

/// Runs the collection check after the log itself verified as `verified`.
pub fn check(
    base: &str,
    collection: &str,
    login: &Login,
    state: &State,
    verified: &Report,
    verifiers: Verifiers,
) -> anyhow::Result<Outcome> {
    let base = base.trim_end_matches('/');
    let client = login.connect(base)?;
    let file = memory_file(collection);
    let remembered: Memory = match state.read(&file)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is corrupt", state.path(&file)))?,
        None => Memory::new(),
    };
    let mut checkpoints = Checkpoints::new(&client, base, verifiers, verified);
    let mut failures = Vec::new();
    let mut seen = Memory::new();
    let receipt_url = |id: &str, version: &str| {
        let mut u = format!("{base}/log/receipt/{collection}/{id}");
        if !version.is_empty() {
            u.push_str(&format!("?version={}", escape(version)));
        }
        u
    };
    let bar = progress(None, "objects checked");
    let filter = Filter {
        limit: Some(1000),
        versions: VersionSelector::all(),
        spec_versions: vec!["2.0".into(), "2.1".into()],
        ..Filter::default()
    };
    client.each_object(collection, &filter, |o| -> anyhow::Result<()> {
        let id = o.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
        let version = version_of(&o);
        let what = format!("{id} version {version:?}");
        let r = match fetch_receipt(&client, &receipt_url(&id, &version))? {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{what}: {e}"));
                return Ok(());
            }
        };
        if let Err(e) = check_object(&r, &o, collection, &id, &version, &mut checkpoints) {
            failures.push(format!("{what}: {e}"));
            return Ok(());
        }
        let key = format!("{id} {version}");
        let now = Remembered {
            log_index: r.log_index,
            leaf: r.leaf.clone(),
        };
        if let Some(before) = remembered.get(&key).filter(|b| **b != now) {
            failures.push(format!(
                "{what}: was logged at index {} before, now its receipt names index {}",
                before.log_index, now.log_index
            ));
        }
        seen.insert(key, now);
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();
    let checked = seen.len();
    let mut tombstoned = 0;
    for (key, before) in &remembered {
        if seen.contains_key(key) {
            continue;
        }
        let (id, version) = key.split_once(' ').unwrap_or((key, ""));
        let what = format!(
            "{id} version {version:?} (logged at index {})",
            before.log_index
        );
        let tomb = fetch_receipt::<Receipt>(&client, &receipt_url(id, version))?.and_then(|r| {
            check_tombstone(&r, before, &mut checkpoints)?;
            Ok(r)
        });
        match tomb {
            Ok(_) => tombstoned += 1,
            Err(e) => {
                failures.push(format!(
                    "{what} is no longer served and the log has no valid tombstone for it: {e}"
                ));
                // Keep remembering it so every later run reports it too.
                seen.insert(key.clone(), before.clone());
            }
        }
    }
    let bytes = serde_json::to_vec_pretty(&seen)?;
    state.write(&file, &bytes)?;
    Ok(Outcome {
        checked,
        tombstoned,
        failures,
    })
}

fn check_object(
    r: &Receipt,
    object: &Value,
    collection: &str,
    id: &str,
    version: &str,
    checkpoints: &mut Checkpoints<'_>,
) -> Result<(), String> {
    if r.collection != collection || r.object_id != id || r.version != version {
        return Err(format!(
            "the receipt is for {} version {:?} in {}",
            r.object_id, r.version, r.collection
        ));
    }
    if !matches!(r.entry, Entry::Object { .. }) {
        return Err("the object is served but its receipt is a tombstone".into());
    }
    r.check_entry(Some(object))
        .map_err(|e| format!("altered: the object served does not match the log ({e})"))?;
    r.check_inclusion().map_err(|e| e.to_string())?;
    checkpoints.check(r)
}

fn check_tombstone(
    r: &Receipt,
    before: &Remembered,
    checkpoints: &mut Checkpoints<'_>,
) -> Result<(), String> {
    match r.entry {
        Entry::Tombstone { deleted_index, .. } if deleted_index == before.log_index => {}
        Entry::Tombstone { deleted_index, .. } => {
            return Err(format!("the tombstone deletes entry {deleted_index}"));
        }
        Entry::Object { .. } => {
            return Err(format!(
                "a receipt for an object version (index {}) exists but the object is not listed",
                r.log_index
            ));
        }
    }
    r.check_entry(None).map_err(|e| e.to_string())?;
    r.check_inclusion().map_err(|e| e.to_string())?;
    checkpoints.check(r)
}
