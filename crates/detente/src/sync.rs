//! `detente sync`: one round of mirroring from partner nodes (`docs/federation.md`).
//!
//! Per partner: fetch its checkpoint, verify it with the pinned log key (and the witness
//! quorum), and, if it grew, fetch the new log entries bundle by bundle, extend the partner's
//! tree from the frontier accepted last time and require the recomputed root to be the signed
//! one: so the new checkpoint is proven consistent with the last accepted one, and every
//! entry below it is known. Then per mirror: page through the partner's feed (tombstones, then
//! object versions with their log entries), recompute each entry from the bytes received and
//! compare it with the partner's logged entry at that index, check its contributor signature
//! with the key the partner's log bound to its signer before that index (bindings are proven
//! against the partner's log entries as they arrive, and published in this node's log as
//! `peer:PARTNER/NAME`), and apply what verifies in one transaction with the mirror's new
//! positions. What does not verify is refused, reported by id with the reason, and never
//! stored.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use clap::Args as ClapArgs;
use detente_logentry::receipt::KeyBindingReceipt;
use detente_server::federation::{Feed, FeedObject, FeedTombstone};
use detente_store::{
    MirrorPage, MirrorRecord, MirroredObject, PeerKeyBinding, PeerLog, PeerRecord, Store,
};
use detente_tlog::tile::{TILE_WIDTH, decode_bundle_for};
use detente_tlog::witness::check_quorum;
use detente_tlog::{Checkpoint, Hash, Note, TileId, TreeBuilder, VerifierKey, Verifiers};
use rayon::prelude::*;

use crate::data::{DataArgs, open_store};
use crate::peer::{identity_name, signer_binding};
use crate::remote::{Client, agent_trusting, origin};
use crate::verify::collection::fetch_receipt;

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
    /// HTTP requests made for its feed.
    pub requests: u64,
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
    /// Key bindings and rotations seen in the partner's log this round, in its log order.
    pub keys: Vec<KeyChange>,
    /// The mirrors.
    pub mirrors: Vec<MirrorReport>,
    /// HTTP requests made.
    pub requests: u64,
}

/// A partner member's contributor key bound or swapped, as the partner's log shows it.
#[derive(Debug, Clone)]
pub struct KeyChange {
    /// The member's name on the partner.
    pub member: String,
    /// The key it replaced, if any.
    pub old: Option<String>,
    /// The key bound.
    pub new: String,
    /// The binding's entry in the partner's log.
    pub partner_index: u64,
}

impl PeerReport {
    /// Whether anything was refused or failed.
    pub fn bad(&self) -> bool {
        self.failed.is_some() || self.mirrors.iter().any(|m| !m.refused.is_empty())
    }

    /// The report as the lines `detente sync` prints.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "peer {}: checkpoint {} -> {}, {} key changes, {} requests",
            self.peer,
            self.log.0,
            self.log.1,
            self.keys.len(),
            self.requests
        )];
        if let Some(f) = &self.failed {
            out.push(format!("peer {}: refused: {f}", self.peer));
        }
        for k in &self.keys {
            out.push(format!(
                "key {}: {}: {} -> {} (entry {} of the partner's log)",
                self.peer,
                k.member,
                k.old.as_deref().unwrap_or("none"),
                k.new,
                k.partner_index
            ));
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
    let result = advance_log(store, peer, &client, &mut report.keys).and_then(|log| {
        report.log.1 = log.size;
        let mut keys = PartnerKeys::load(store, &peer.name)?;
        for m in store.mirrors(Some(&peer.name))? {
            let r = sync_mirror(store, peer, &client, &log, &mut keys, &m, page)?;
            report.mirrors.push(r);
        }
        Ok(())
    });
    if let Err(e) = result {
        report.failed = Some(format!("{e:#}"));
    }
    report.requests = client.requests() + report.mirrors.iter().map(|m| m.requests).sum::<u64>();
    report
}

/// A client of the partner's API root (discovered when the URL is the server's).
fn connect(peer: &PeerRecord) -> anyhow::Result<Client> {
    let agent = agent_trusting(peer.ca_cert.as_deref().map(str::as_bytes), false)?;
    // Mirrors name their collections; the client is used through its API root.
    Ok(Client::with_agent(
        agent,
        Some(peer.authorization.clone()),
        &peer.url,
    )?)
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

/// Verifies the partner's checkpoint and brings its accepted log up to it; returns it. The
/// key bindings among the new entries are proven and recorded (`keys` gets the changes)
/// before the checkpoint is accepted, so a round that fails there retries them next time.
fn advance_log<S: Store + ?Sized>(
    store: &S,
    peer: &PeerRecord,
    c: &Client,
    keys: &mut Vec<KeyChange>,
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
    // The key-binding entries among the new ones: few, kept to be proven below.
    let mut bindings: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
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
        for (i, e) in entries.iter().skip(skip).enumerate() {
            tree.append(detente_tlog::leaf_hash(e));
            if e.first() == Some(&detente_logentry::KIND_KEY_BINDING) {
                bindings.insert(idx + i as u64, e.to_vec());
            }
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
    if !bindings.is_empty() {
        *keys = record_bindings(store, peer, c, &bindings)?;
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

/// Proves the partner's key bindings at `entries` (index → leaf, from its verified log)
/// with its `/log/keys`, every one of them, and records them; returns the changes recorded
/// now. A binding the partner does not show, or shows with other fields than it logged, or
/// with a key that is not a contributor key, fails the round.
fn record_bindings<S: Store + ?Sized>(
    store: &S,
    peer: &PeerRecord,
    c: &Client,
    entries: &BTreeMap<u64, Vec<u8>>,
) -> anyhow::Result<Vec<KeyChange>> {
    let url = log_url(c, "keys")?;
    let receipts: Vec<KeyBindingReceipt> = fetch_receipt(c, &url)?
        .map_err(|e| anyhow!("couldn't fetch the partner's key bindings: {e}"))?;
    let mut proven = Vec::new();
    for r in receipts {
        let Some(leaf) = entries.get(&r.log_index) else {
            continue;
        };
        let what = format!(
            "the partner's key binding of {:?} at entry {}",
            r.member, r.log_index
        );
        r.check_entry().map_err(|e| anyhow!("{what}: {e}"))?;
        let served = base64::engine::general_purpose::STANDARD
            .decode(&r.leaf)
            .map_err(|e| anyhow!("{what}: malformed leaf: {e}"))?;
        if &served != leaf {
            bail!("{what} is not the entry at that index of its verified log");
        }
        detente_sign::parse_contributor_key(&r.vkey).map_err(|e| anyhow!("{what}: {e}"))?;
        proven.push(PeerKeyBinding {
            member: format!("{}/{}", identity_name(&peer.name), r.member),
            partner_member: r.member,
            vkey: r.vkey,
            partner_index: r.log_index,
            log_index: None,
        });
    }
    if let Some(missing) = entries
        .keys()
        .find(|i| !proven.iter().any(|b| b.partner_index == **i))
    {
        bail!("entry {missing} of the partner's log is a key binding its /log/keys does not show");
    }
    let known = store.peer_keys(&peer.name)?;
    let recorded = store.peer_keys_record(&peer.name, &proven)?;
    Ok(recorded
        .iter()
        .map(|b| KeyChange {
            member: b.partner_member.clone(),
            old: known
                .iter()
                .chain(proven.iter())
                .filter(|k| {
                    k.partner_member == b.partner_member && k.partner_index < b.partner_index
                })
                .max_by_key(|k| k.partner_index)
                .map(|k| k.vkey.clone()),
            new: b.vkey.clone(),
            partner_index: b.partner_index,
        })
        .collect())
}

/// A member's bindings in a partner's log, in log order: the binding's index and its key
/// (or why it does not parse).
type KeyHistory = Vec<(u64, Result<VerifierKey, String>)>;

/// A partner's contributor keys as its log binds them: per member, each key with the index of
/// its binding, in log order; and the members whose bindings this node published.
struct PartnerKeys {
    by_member: HashMap<String, KeyHistory>,
    published: HashSet<String>,
}

impl PartnerKeys {
    fn load<S: Store + ?Sized>(store: &S, peer: &str) -> anyhow::Result<PartnerKeys> {
        let mut by_member: HashMap<String, KeyHistory> = HashMap::new();
        let mut published = HashSet::new();
        for b in store.peer_keys(peer)? {
            if b.log_index.is_some() {
                published.insert(b.partner_member.clone());
            }
            by_member.entry(b.partner_member).or_default().push((
                b.partner_index,
                detente_sign::parse_contributor_key(&b.vkey),
            ));
        }
        Ok(PartnerKeys {
            by_member,
            published,
        })
    }

    /// Publishes the bindings of the signers among `signers` not published yet, so this
    /// node's readers can check the objects about to be stored.
    fn publish<S: Store + ?Sized>(
        &mut self,
        store: &S,
        peer: &str,
        signers: Vec<String>,
    ) -> anyhow::Result<()> {
        let mut new: Vec<String> = signers
            .into_iter()
            .filter(|s| !self.published.contains(s))
            .collect();
        new.sort();
        new.dedup();
        if !new.is_empty() {
            store.peer_keys_publish(peer, &new)?;
            self.published.extend(new);
        }
        Ok(())
    }

    /// Checks the contributor signature of a version logged at `index` by `contributor`
    /// against the key the partner's log bound to its signer before that index; the name of
    /// that binding on the partner if it is signed.
    fn check(
        &self,
        object: &serde_json::Value,
        contributor: &str,
        index: u64,
    ) -> Result<Option<String>, String> {
        let sig = match detente_sign::signature_of(object) {
            Ok(Some(sig)) => sig,
            Ok(None) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let name = signer_binding(contributor, &sig.signer).ok_or_else(|| {
            format!(
                "signed as {:?} but contributed by {contributor:?} on the partner",
                sig.signer
            )
        })?;
        let history = self.by_member.get(&name).map_or(&[][..], Vec::as_slice);
        let Some((bound_at, key)) = history.iter().rev().find(|(i, _)| *i < index) else {
            return Err(
                match history.iter().find(|(_, k)| key_id(k) == Some(sig.key_id)) {
                    Some((later, _)) => format!(
                        "signed with key {} of {name:?}, which the partner's log binds only at \
                     entry {later}, after the object's entry {index}",
                        sig.key_id_hex()
                    ),
                    None => format!(
                        "the partner's log binds no key to {name:?} before the object's entry {index}"
                    ),
                },
            );
        };
        let key = key
            .as_ref()
            .map_err(|e| format!("the key bound at entry {bound_at}: {e}"))?;
        if key.key_id() != sig.key_id {
            let later = history
                .iter()
                .find(|(i, k)| *i > index && key_id(k) == Some(sig.key_id));
            return Err(match later {
                Some((later, _)) => format!(
                    "signed with key {} of {name:?}, which the partner's log binds only at \
                     entry {later}, after the object's entry {index}",
                    sig.key_id_hex()
                ),
                None => format!(
                    "signed with key {}, but the key of {name:?} at the object's entry {index} \
                     is {:08x} (bound at entry {bound_at})",
                    sig.key_id_hex(),
                    key.key_id()
                ),
            });
        }
        detente_sign::verify(object, &sig.signer, key)
            .map(|_| Some(name))
            .map_err(|e| e.to_string())
    }
}

fn key_id(k: &Result<VerifierKey, String>) -> Option<u32> {
    k.as_ref().ok().map(VerifierKey::key_id)
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

/// GETs and reads one feed page.
fn fetch_feed(c: &Client, url: &str) -> anyhow::Result<Feed> {
    let (status, body) = c.get(url)?;
    Client::check(status, &body, &format!("GET {url}"))?;
    serde_json::from_str(&body).with_context(|| format!("{url} did not answer a federation feed"))
}

/// The positions after a whole page: its last object's `date_added` and last tombstone index.
fn feed_end(feed: &Feed, at: (i64, i64)) -> (i64, i64) {
    (
        feed.objects.last().map_or(at.0, |o| o.date_added),
        feed.tombstones
            .last()
            .map_or(at.1, |t| i64::try_from(t.index).unwrap_or(i64::MAX)),
    )
}

/// Pages through one mirror's feed, applying what verifies. A second thread fetches the next
/// page while this one checks (objects in parallel) and applies the current one, so the
/// partner building a page, the transfer, the checks and this node's writes overlap.
fn sync_mirror<S: Store + ?Sized>(
    store: &S,
    peer: &PeerRecord,
    c: &Client,
    log: &PeerLog,
    keys: &mut PartnerKeys,
    mirror: &MirrorRecord,
    page: usize,
) -> anyhow::Result<MirrorReport> {
    let start = (mirror.objects_after, mirror.tombstones_after);
    let base = format!(
        "{}collections/{}/federation/feed/",
        c.api_root, mirror.remote_collection
    );
    let feeder = c.fork();
    std::thread::scope(|scope| {
        // A rendezvous channel: the fetcher holds at most the next page while this thread
        // checks and applies the current one, so at most 2 pages are in memory.
        let (pages, receiver) = std::sync::mpsc::sync_channel::<anyhow::Result<Feed>>(0);
        let producer = scope.spawn(move || {
            let mut at = start;
            loop {
                let url = format!(
                    "{base}?objects_after={}&tombstones_after={}&limit={page}",
                    at.0, at.1
                );
                let feed = fetch_feed(&feeder, &url);
                let next = feed
                    .as_ref()
                    .ok()
                    .filter(|f| f.more)
                    .map(|f| feed_end(f, at));
                // The consumer is gone (done, or stopped early): nothing more to fetch.
                if pages.send(feed).is_err() {
                    break;
                }
                match next {
                    Some(n) if n != at => at = n,
                    _ => break,
                }
            }
            feeder.requests()
        });
        let result = apply_pages(store, peer, log, keys, mirror, start, &receiver);
        drop(receiver);
        let fetched = producer
            .join()
            .map_err(|_| anyhow!("the feed fetching thread panicked"))?;
        result.map(|mut r| {
            r.requests = fetched;
            r
        })
    })
}

/// Checks and applies the pages `pages` delivers, in order, from positions `at`.
fn apply_pages<S: Store + ?Sized>(
    store: &S,
    peer: &PeerRecord,
    log: &PeerLog,
    keys: &mut PartnerKeys,
    mirror: &MirrorRecord,
    mut at: (i64, i64),
    pages: &std::sync::mpsc::Receiver<anyhow::Result<Feed>>,
) -> anyhow::Result<MirrorReport> {
    let mut r = MirrorReport {
        remote: mirror.remote_collection.clone(),
        local: mirror.local_collection.clone(),
        ..MirrorReport::default()
    };
    while let Ok(feed) = pages.recv() {
        let feed = feed?;
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
        let mut signers = Vec::new();
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
            let ready = match feed.objects.iter().position(|o| o.index >= log.size) {
                Some(cut) => {
                    r.pending = true;
                    &feed.objects[..cut]
                }
                None => &feed.objects[..],
            };
            let leaves: Vec<Option<Vec<u8>>> = leaves.by_ref().take(ready.len()).collect();
            let shared: &PartnerKeys = keys;
            let checked: Vec<_> = ready
                .par_iter()
                .zip(leaves)
                .map(|(o, leaf)| check_object(o, &mirror.remote_collection, leaf, shared))
                .collect();
            for (o, checked) in ready.iter().zip(checked) {
                match checked {
                    Ok((m, signer)) => {
                        objects.push(m);
                        signers.extend(signer);
                    }
                    Err((id, why)) => r.refused.push((id, why)),
                }
                next.0 = o.date_added;
            }
        }
        if next == at {
            break;
        }
        keys.publish(store, &peer.name, signers)?;
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

/// Reads and verifies one partner object version: valid STIX 2.1, its entry recomputed
/// from the bytes received (with the partner's nonce, collection and contributor) is the one
/// the partner logged at that index, and its contributor signature, if it carries one,
/// verifies with the key the partner's log bound to its signer before that index. Refusals
/// name the object.
fn check_object(
    o: &FeedObject,
    collection: &str,
    leaf: Option<Vec<u8>>,
    keys: &PartnerKeys,
) -> Result<(MirroredObject, Option<String>), (String, String)> {
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
    // Canonicalized once: the partner's entry is checked with it here, and this node's own
    // entry is built from it when the page is stored.
    let canonical = detente_logentry::canonical_form(&value).map_err(|e| refuse(e.to_string()))?;
    let expect = detente_logentry::object_leaf_canonical(
        &detente_logentry::ObjectFields {
            collection,
            object_id: &object.id,
            version: object.version.as_deref().unwrap_or(""),
            member: &o.contributor,
        },
        &canonical,
        &nonce(&o.nonce).map_err(refuse)?,
    );
    if expect.to_bytes().as_slice() != leaf.as_slice() {
        return Err(refuse(format!(
            "its bytes do not match entry {} of the partner's log (altered after it was logged)",
            o.index
        )));
    }
    let signer = keys
        .check(&value, &o.contributor, o.index)
        .map_err(|why| refuse(format!("contributor signature: {why}")))?;
    // TLP:RED recipients are the partner's member names, which mean nothing here: a mirrored
    // RED object is visible to no local member.
    object.recipients.clear();
    Ok((
        MirroredObject {
            object,
            canonical,
            partner_index: o.index,
            partner_contributor: o.contributor.clone(),
            partner_date_added: o.date_added,
        },
        signer,
    ))
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
