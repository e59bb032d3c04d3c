//! `detente sync`: one round of mirroring from partner nodes (`docs/federation.md`).
//!
//! Per partner: fetch its checkpoint, verify it with the pinned log key (and the witness
//! quorum), and, if it grew, fetch the new log entries bundle by bundle, extend the partner's
//! tree from the frontier accepted last time and require the recomputed root to be the signed
//! one: so the new checkpoint is proven consistent with the last accepted one, and every
//! entry below it is known. Then per mirror: page through the partner's feed (tombstones, then
//! object versions with their log entries), recompute each entry from the bytes received and
//! compare it with the partner's logged entry at that index, and apply what verifies in one
//! transaction with the mirror's new positions. What does not verify is refused, reported by
//! id with the reason, and never stored.

use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use clap::Args as ClapArgs;
use detente_server::federation::{Feed, FeedObject, FeedTombstone};
use detente_store::{MirrorPage, MirrorRecord, MirroredObject, PeerLog, PeerRecord, Store};
use detente_tlog::tile::{TILE_WIDTH, decode_bundle_for};
use detente_tlog::witness::check_quorum;
use detente_tlog::{Checkpoint, Hash, Note, TileId, TreeBuilder, VerifierKey, Verifiers};

use crate::push::{Client, agent_trusting, origin};
use crate::serve::{DataArgs, open_store};

/// Run one sync round: mirror new, changed and deleted objects from partner nodes.
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Only this partner.
    #[arg(long)]
    peer: Option<String>,
    /// Objects per feed page.
    #[arg(long, default_value_t = DEFAULT_PAGE)]
    page: usize,
}

/// Objects per feed page unless told otherwise.
pub const DEFAULT_PAGE: usize = 1000;

/// Log entries written to the store per transaction while a partner's log is fetched.
const LEAF_CHUNK: usize = 16 * TILE_WIDTH as usize;

/// What one mirror did in a round.
#[derive(Debug, Default)]
pub struct MirrorReport {
    /// The partner's collection.
    pub remote: String,
    /// The local collection.
    pub local: String,
    /// Objects new to the local collection.
    pub new: u64,
    /// New versions of objects held.
    pub updated: u64,
    /// Versions removed by partner tombstones.
    pub deleted: u64,
    /// Versions already held, identical.
    pub unchanged: u64,
    /// Refused: (id, reason).
    pub refused: Vec<(String, String)>,
    /// Whether versions newer than the partner's checkpoint wait for the next round.
    pub pending: bool,
}

/// What one partner's round did.
#[derive(Debug, Default)]
pub struct PeerReport {
    /// The partner.
    pub peer: String,
    /// The accepted checkpoint size before and after.
    pub log: (u64, u64),
    /// Why the round stopped early (the partner's log did not verify, or a fetch failed).
    pub failed: Option<String>,
    /// The mirrors.
    pub mirrors: Vec<MirrorReport>,
    /// HTTP requests made.
    pub requests: u64,
}

impl PeerReport {
    /// Whether anything was refused or failed.
    pub fn bad(&self) -> bool {
        self.failed.is_some() || self.mirrors.iter().any(|m| !m.refused.is_empty())
    }

    /// The report as the lines `detente sync` prints.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "peer {}: checkpoint {} -> {}, {} requests",
            self.peer, self.log.0, self.log.1, self.requests
        )];
        if let Some(f) = &self.failed {
            out.push(format!("peer {}: refused: {f}", self.peer));
        }
        for m in &self.mirrors {
            out.push(format!(
                "mirror {}:{} -> {}: new {}, updated {}, deleted {}, unchanged {}, refused {}{}",
                self.peer,
                m.remote,
                m.local,
                m.new,
                m.updated,
                m.deleted,
                m.unchanged,
                m.refused.len(),
                if m.pending {
                    " (newer versions wait for the partner's next checkpoint)"
                } else {
                    ""
                }
            ));
            for (id, why) in &m.refused {
                out.push(format!("refused {id}: {why}"));
            }
        }
        out
    }
}

/// Runs `detente sync`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.data)?;
    let reports = sync_all(&*store, args.peer.as_deref(), args.page)?;
    let mut bad = false;
    for r in &reports {
        for line in r.lines() {
            println!("{line}");
        }
        bad |= r.bad();
    }
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One round for every partner (or the one named).
pub fn sync_all<S: Store + ?Sized>(
    store: &S,
    only: Option<&str>,
    page: usize,
) -> anyhow::Result<Vec<PeerReport>> {
    let peers = match only {
        Some(name) => vec![
            store
                .peer(name)?
                .with_context(|| format!("no peer {name}"))?,
        ],
        None => store.peers()?,
    };
    Ok(peers
        .iter()
        .map(|p| sync_peer(store, p, page.max(1)))
        .collect())
}

/// One round for one partner; failures end up in the report.
fn sync_peer<S: Store + ?Sized>(store: &S, peer: &PeerRecord, page: usize) -> PeerReport {
    let mut report = PeerReport {
        peer: peer.name.clone(),
        ..PeerReport::default()
    };
    let accepted = peer.log.as_ref().map_or(0, |l| l.size);
    report.log = (accepted, accepted);
    let client = match connect(peer) {
        Ok(c) => c,
        Err(e) => {
            report.failed = Some(format!("{e:#}"));
            return report;
        }
    };
    let result = advance_log(store, peer, &client).and_then(|log| {
        report.log.1 = log.size;
        for m in store.mirrors(Some(&peer.name))? {
            let r = sync_mirror(store, peer, &client, &log, &m, page)?;
            report.mirrors.push(r);
        }
        Ok(())
    });
    if let Err(e) = result {
        report.failed = Some(format!("{e:#}"));
    }
    report.requests = client.requests();
    report
}

/// A client of the partner's API root (discovered when the URL is the server's).
fn connect(peer: &PeerRecord) -> anyhow::Result<Client> {
    let agent = agent_trusting(peer.ca_cert.as_deref().map(str::as_bytes), false)?;
    // Mirrors name their collections; the client is used through its API root.
    Client::with_agent(agent, peer.authorization.clone(), &peer.url, "")
}

fn log_url(c: &Client, path: &str) -> anyhow::Result<String> {
    Ok(format!("{}/log/{path}", origin(&c.api_root)?))
}

fn get_ok(c: &Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let (status, body) = c.get_bytes(url)?;
    if status != 200 {
        Client::check(
            status,
            &String::from_utf8_lossy(&body),
            &format!("GET {url}"),
        )?;
    }
    Ok(body)
}

/// Verifies the partner's checkpoint and brings its accepted log up to it; returns it.
fn advance_log<S: Store + ?Sized>(
    store: &S,
    peer: &PeerRecord,
    c: &Client,
) -> anyhow::Result<PeerLog> {
    let key = VerifierKey::parse(&peer.log_key)
        .map_err(|e| anyhow!("the pinned log key of {} is unreadable: {e}", peer.name))?;
    let note_bytes = get_ok(c, &log_url(c, "checkpoint")?)?;
    let checkpoint = open_checkpoint(&note_bytes, &key)?;
    if peer.quorum > 0 {
        let witnesses = peer
            .witnesses
            .iter()
            .map(|w| VerifierKey::parse(w).map_err(|e| anyhow!("witness key {w:?}: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let note = Note::parse(&note_bytes).map_err(|e| anyhow!("malformed checkpoint: {e}"))?;
        check_quorum(&note, &witnesses, peer.quorum as usize)
            .map_err(|e| anyhow!("checkpoint is not cosigned by enough witnesses: {e}"))?;
    }
    let (mut tree, from) = match &peer.log {
        Some(old) => {
            let previous = open_checkpoint(&old.note, &key)
                .context("the accepted partner checkpoint no longer verifies")?;
            if previous.origin != checkpoint.origin {
                bail!(
                    "checkpoint origin {:?} differs from the accepted {:?}",
                    checkpoint.origin,
                    previous.origin
                );
            }
            if checkpoint.size < old.size {
                bail!(
                    "the partner's log shrank: checkpoint size {} is below the accepted {} \
                     (rollback)",
                    checkpoint.size,
                    old.size
                );
            }
            if checkpoint.size == old.size {
                if checkpoint.root.0.as_slice() != old.root.as_slice() {
                    bail!(
                        "fork: size {} was accepted with another root than the partner signs now",
                        old.size
                    );
                }
                return Ok(old.clone());
            }
            (decode_frontier(old.size, &old.frontier)?, old.size)
        }
        None => (TreeBuilder::new(), 0),
    };
    let n = checkpoint.size;
    let started = std::time::Instant::now();
    let mut chunk: Vec<Vec<u8>> = Vec::new();
    let mut chunk_start = from;
    let mut idx = from;
    while idx < n {
        let tile = idx / TILE_WIDTH;
        let end = ((tile + 1) * TILE_WIDTH).min(n);
        let id = TileId {
            level: 0,
            index: tile,
            width: u16::try_from(end - tile * TILE_WIDTH).unwrap_or(u16::MAX),
        };
        let body = get_ok(c, &log_url(c, &id.entries_path())?)?;
        let entries = decode_bundle_for(id, &body)
            .map_err(|e| anyhow!("malformed entry bundle {}: {e}", id.entries_path()))?;
        let skip = usize::try_from(idx - tile * TILE_WIDTH).unwrap_or(0);
        for e in entries.iter().skip(skip) {
            tree.append(detente_tlog::leaf_hash(e));
            chunk.push(e.to_vec());
        }
        // Completed tiles are not needed here; dropping them keeps memory bounded.
        tree.take_full_tiles();
        idx = end;
        if chunk.len() >= LEAF_CHUNK {
            store.peer_leaves_put(&peer.name, chunk_start, &chunk)?;
            chunk_start = idx;
            chunk.clear();
        }
    }
    store.peer_leaves_put(&peer.name, chunk_start, &chunk)?;
    if tree.root() != checkpoint.root {
        bail!(
            "the partner's log entries up to {n} do not hash to its signed root: its history \
             is not consistent with the checkpoint of size {from} accepted before"
        );
    }
    let log = PeerLog {
        size: n,
        root: checkpoint.root.0.to_vec(),
        note: note_bytes,
        frontier: encode_frontier(tree.partial_hashes()),
    };
    if !store.peer_log_accept(&peer.name, peer.log.as_ref().map(|l| l.size), &log)? {
        bail!(
            "another sync accepted a checkpoint of {} meanwhile; run again",
            peer.name
        );
    }
    tracing::info!(
        peer = %peer.name,
        entries = n - from,
        ms = started.elapsed().as_millis() as u64,
        "verified the partner's new log entries"
    );
    Ok(log)
}

fn open_checkpoint(bytes: &[u8], key: &VerifierKey) -> anyhow::Result<Checkpoint> {
    let note = Note::parse(bytes).map_err(|e| anyhow!("malformed checkpoint: {e}"))?;
    let checkpoint =
        Checkpoint::parse(note.text()).map_err(|e| anyhow!("malformed checkpoint: {e}"))?;
    note.verify(&Verifiers::new(vec![key.clone()]))
        .map_err(|e| anyhow!("the checkpoint is not signed by the pinned log key {key}: {e}"))?;
    Ok(checkpoint)
}

/// The partial tiles of a tree: per level, one count byte then that many hashes.
fn encode_frontier(partials: &[Vec<Hash>]) -> Vec<u8> {
    let mut out = Vec::new();
    for level in partials {
        out.push(u8::try_from(level.len()).unwrap_or(u8::MAX));
        for h in level {
            out.extend_from_slice(h.as_bytes());
        }
    }
    out
}

fn decode_frontier(size: u64, bytes: &[u8]) -> anyhow::Result<TreeBuilder> {
    let mut partials = Vec::new();
    let mut rest = bytes;
    while let Some((&count, tail)) = rest.split_first() {
        let len = usize::from(count) * 32;
        let level = tail
            .get(..len)
            .context("the stored partner frontier is truncated")?;
        partials.push(
            level
                .chunks(32)
                .map(Hash::from_slice)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow!("the stored partner frontier is corrupt: {e}"))?,
        );
        rest = &tail[len..];
    }
    TreeBuilder::resume(size, partials)
        .map_err(|e| anyhow!("the stored partner frontier is corrupt: {e}"))
}

fn nonce(text: &str) -> Result<[u8; detente_logentry::NONCE_LEN], String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "the partner sent a malformed nonce".to_owned())
}

/// Pages through one mirror's feed, applying what verifies.
fn sync_mirror<S: Store + ?Sized>(
    store: &S,
    peer: &PeerRecord,
    c: &Client,
    log: &PeerLog,
    mirror: &MirrorRecord,
    page: usize,
) -> anyhow::Result<MirrorReport> {
    let mut r = MirrorReport {
        remote: mirror.remote_collection.clone(),
        local: mirror.local_collection.clone(),
        ..MirrorReport::default()
    };
    let mut at = (mirror.objects_after, mirror.tombstones_after);
    let base = format!(
        "{}collections/{}/federation/feed/",
        c.api_root, mirror.remote_collection
    );
    loop {
        let url = format!(
            "{base}?objects_after={}&tombstones_after={}&limit={page}",
            at.0, at.1
        );
        let (status, body) = c.get(&url)?;
        Client::check(status, &body, &format!("GET {url}"))?;
        let feed: Feed = serde_json::from_str(&body)
            .with_context(|| format!("{url} did not answer a federation feed"))?;
        // The partner's entries at the indices of the page, in feed order (tombstones, then
        // objects); one beyond the accepted checkpoint is never read.
        let indices: Vec<u64> = feed
            .tombstones
            .iter()
            .map(|t| t.index)
            .chain(feed.objects.iter().map(|o| o.index))
            .map(|i| i.min(log.size))
            .collect();
        let mut leaves = store.peer_leaves_at(&peer.name, &indices)?.into_iter();
        let mut next = at;
        let mut deleted = Vec::new();
        let mut objects = Vec::new();
        for t in &feed.tombstones {
            if t.index >= log.size {
                r.pending = true;
                break;
            }
            match check_tombstone(t, &mirror.remote_collection, leaves.next().flatten()) {
                Ok(()) => deleted.push(t.deleted_index),
                Err(why) => r.refused.push((t.object_id.clone(), why)),
            }
            next.1 = i64::try_from(t.index).unwrap_or(i64::MAX);
        }
        // Every tombstone took its entry unless the page stopped there.
        if !r.pending {
            for o in &feed.objects {
                if o.index >= log.size {
                    r.pending = true;
                    break;
                }
                match check_object(o, &mirror.remote_collection, leaves.next().flatten()) {
                    Ok(m) => objects.push(m),
                    Err((id, why)) => r.refused.push((id, why)),
                }
                next.0 = o.date_added;
            }
        }
        if next == at {
            break;
        }
        let applied = store.mirror_apply(&MirrorPage {
            mirror: mirror.id,
            expected: at,
            next,
            deleted,
            objects,
        })?;
        r.new += applied.new.len() as u64;
        r.updated += applied.updated.len() as u64;
        r.deleted += applied.deleted.len() as u64;
        r.unchanged += applied.unchanged;
        r.refused.extend(applied.refused);
        at = next;
        if !feed.more || r.pending {
            break;
        }
    }
    Ok(r)
}

/// A partner tombstone's entry recomputed from its fields must be the logged one.
fn check_tombstone(
    t: &FeedTombstone,
    collection: &str,
    leaf: Option<Vec<u8>>,
) -> Result<(), String> {
    let leaf =
        leaf.ok_or_else(|| format!("entry {} of the partner's log is not mirrored", t.index))?;
    let expect = detente_logentry::tombstone_leaf(
        &detente_logentry::Tombstone {
            collection,
            object_id: &t.object_id,
            version: &t.version,
            member: &t.member,
            time: &t.time,
            deleted_index: t.deleted_index,
        },
        &nonce(&t.nonce)?,
    );
    if expect.to_bytes().as_slice() != leaf.as_slice() {
        return Err(format!(
            "the tombstone does not match entry {} of the partner's log",
            t.index
        ));
    }
    Ok(())
}

/// Reads and verifies one partner object version: valid STIX 2.1, and its entry recomputed
/// from the bytes received (with the partner's nonce, collection and contributor) is the one
/// the partner logged at that index. Refusals name the object.
fn check_object(
    o: &FeedObject,
    collection: &str,
    leaf: Option<Vec<u8>>,
) -> Result<MirroredObject, (String, String)> {
    let skew = i64::try_from(detente_server::DEFAULT_MAX_FUTURE_SKEW.as_micros()).unwrap_or(0);
    let value: serde_json::Value = serde_json::from_str(o.object.get())
        .map_err(|e| (String::new(), format!("not JSON: {e}")))?;
    let mut object =
        detente_server::prepare_object(o.object.get(), &value, detente_server::now_micros(), skew)
            .map_err(|d| {
                (
                    d.id,
                    format!("not valid STIX 2.1: {}", d.message.unwrap_or_default()),
                )
            })?;
    let refuse = |why: String| (object.id.clone(), why);
    let leaf = leaf.ok_or_else(|| {
        refuse(format!(
            "entry {} of the partner's log is not mirrored",
            o.index
        ))
    })?;
    let expect = detente_logentry::object_leaf(
        &detente_logentry::ObjectVersion {
            collection,
            object_id: &object.id,
            version: object.version.as_deref().unwrap_or(""),
            member: &o.contributor,
            object: &value,
        },
        &nonce(&o.nonce).map_err(refuse)?,
    )
    .map_err(|e| refuse(e.to_string()))?;
    if expect.to_bytes().as_slice() != leaf.as_slice() {
        return Err(refuse(format!(
            "its bytes do not match entry {} of the partner's log (altered after it was logged)",
            o.index
        )));
    }
    // TLP:RED recipients are the partner's member names, which mean nothing here: a mirrored
    // RED object is visible to no local member.
    object.recipients.clear();
    Ok(MirroredObject {
        object,
        partner_index: o.index,
        partner_contributor: o.contributor.clone(),
        partner_date_added: o.date_added,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_frontier_resumes_the_same_tree() {
        for size in [0u64, 1, 255, 256, 257, 70_000] {
            let mut tree = TreeBuilder::new();
            for i in 0..size {
                tree.append(detente_tlog::leaf_hash(&i.to_be_bytes()));
                tree.take_full_tiles();
            }
            let mut resumed =
                decode_frontier(size, &encode_frontier(tree.partial_hashes())).unwrap();
            assert_eq!(resumed.root(), tree.root(), "size {size}");
            let next = detente_tlog::leaf_hash(b"next");
            tree.append(next);
            resumed.append(next);
            assert_eq!(resumed.root(), tree.root(), "size {size} + 1");
        }
        assert!(decode_frontier(3, &encode_frontier(&[vec![]])).is_err());
        assert!(decode_frontier(1, &[1, 0, 0]).is_err());
    }
}
