//! Contributor signatures in the client (`docs/signatures.md`): `detente keygen`, the signing
//! behind `detente push --sign` and the checking behind `detente pull --verify-signatures`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use detente_logentry::receipt::KeyBindingReceipt;
use detente_sign::parse_contributor_key;
use detente_tlog::{NoteSigner, VerifierKey, Verifiers};
use detente_tlog_client::{Fetcher as _, HttpFetcher, Options, State, verify_log};
use serde_json::Value;

use crate::output::print_value;
use crate::remote::Client;
use crate::verify::collection::{Checkpoints, fetch_receipt};

/// Make a contributor signing key.
#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// Write the signing key here (mode 0600); refused if the file exists.
    #[arg(long)]
    out: PathBuf,
    /// The key's name (part of the verifier key and its key id).
    #[arg(long, default_value = "detente-contributor")]
    name: String,
}

/// Runs `detente keygen`: writes a C2SP signer key and prints its verifier key last.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    if args.out.exists() {
        bail!(
            "{} exists; refusing to overwrite a key (choose another --out)",
            args.out.display()
        );
    }
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).context("couldn't get randomness for a key")?;
    let signer = NoteSigner::from_seed(&args.name, &seed)
        .map_err(|e| anyhow::anyhow!("key name {:?}: {e}", args.name))?;
    crate::data::write_private(&args.out, format!("{}\n", signer.to_skey()).as_bytes())?;
    eprintln!(
        "wrote the signing key to {}; bind its verifier key to the member with `detente member set-key NAME VKEY --data DIR`:",
        args.out.display()
    );
    print_value(&signer.verifier().to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// Reads a signing key written by `detente keygen`.
pub fn load_signer(path: &Path) -> anyhow::Result<NoteSigner> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("couldn't read the signing key {}", path.display()))?;
    NoteSigner::parse(text.trim())
        .map_err(|e| anyhow::anyhow!("{} is not a signing key: {e}", path.display()))
}

/// The authenticated member's name on the node (`GET /whoami`): what signatures name.
pub fn whoami(client: &Client) -> anyhow::Result<String> {
    let me: Value = client.get_json(&format!("{}/whoami", client.base()))?;
    me.get("member")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("the node's /whoami names no member")
}

/// Signs every object as `member`; the error names the object that could not be signed.
pub fn sign_all(objects: &mut [Value], member: &str, key: &NoteSigner) -> anyhow::Result<()> {
    for o in objects {
        let id = o
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        detente_sign::sign(o, member, key).with_context(|| format!("couldn't sign {id}"))?;
    }
    Ok(())
}

/// A key a signer may have signed with.
struct Bound {
    key: VerifierKey,
    /// Log index of the binding that replaced it.
    superseded_by: Option<u64>,
}

/// What checking one object's signature found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by the key of `binding` (the signer, or `peer:PARTNER/SIGNER` for a version
    /// mirrored from a partner); `superseded` is the log index of the binding that replaced
    /// that key since, if any.
    Verified {
        /// The name whose binding verified it.
        binding: String,
        /// Where that key was replaced.
        superseded: Option<u64>,
    },
    /// No signature.
    Unsigned,
    /// The signature is malformed, by an unknown key, or does not verify.
    Failed(String),
}

/// The contributor keys a reader checks signatures against.
pub struct Bindings {
    by_member: HashMap<String, Vec<Bound>>,
    /// How many bindings were fetched from the node and proven in its log.
    pub proven: usize,
}

/// Where `pull --verify-signatures` gets its keys from.
pub struct KeySources<'a> {
    /// The node's log verifier key, or `None` to use the one `detente verify` pinned.
    pub log_key: Option<&'a str>,
    /// `detente verify`'s state directory (pinned keys, last checkpoints).
    pub state: Option<PathBuf>,
    /// `NAME=VKEY` keys given on the command line (taken as current keys).
    pub signer_keys: &'a [String],
}

impl Bindings {
    /// Fetches the node's bindings (`/log/keys`) and proves each in its log: the log verifies
    /// against its key and the remembered checkpoint, each binding's leaf is recomputed and
    /// its inclusion checked against a checkpoint consistent with that one. Without a log key
    /// (given or pinned), only `signer_keys` are used.
    pub fn fetch(client: &Client, sources: &KeySources<'_>) -> anyhow::Result<Bindings> {
        let base = client.base();
        let mut out = Bindings {
            by_member: HashMap::new(),
            proven: 0,
        };
        for pair in sources.signer_keys {
            let (name, vkey) = pair
                .split_once('=')
                .with_context(|| format!("--signer-key {pair:?}: expected NAME=VKEY"))?;
            let key = parse_contributor_key(vkey)
                .map_err(|e| anyhow::anyhow!("--signer-key {name}: {e}"))?;
            out.by_member
                .entry(name.to_owned())
                .or_default()
                .push(Bound {
                    key,
                    superseded_by: None,
                });
        }
        let state_root = match &sources.state {
            Some(d) => d.clone(),
            None => crate::verify::default_state_dir()?,
        };
        let fetcher = HttpFetcher::with_agent(base, client.agent().clone());
        let state = State::new(&state_root, fetcher.location());
        let log_key = sources
            .log_key
            .map(VerifierKey::parse)
            .transpose()
            .context("parsing --log-key (expected name+hex+base64)")?;
        if log_key.is_none() && state.pinned_key()?.is_none() {
            if sources.signer_keys.is_empty() {
                bail!(
                    "--verify-signatures needs the node's log key to prove its key bindings: give \
                     --log-key (from `detente log-key` on the node), verify the node once with \
                     `detente verify --key`, or give --signer-key NAME=VKEY"
                );
            }
            return Ok(out);
        }
        let options = Options {
            key: log_key,
            skip_entries: true,
            witnesses: Vec::new(),
            quorum: 0,
        };
        let report = verify_log(&fetcher, Some(&state), &options)
            .map_err(|e| anyhow::anyhow!("the node's log does not verify: {e}"))?;
        let pinned = VerifierKey::parse(&report.key).context("the pinned log key is malformed")?;
        let mut checkpoints = Checkpoints::new(client, base, Verifiers::new(vec![pinned]), &report);
        let url = format!("{base}/log/keys");
        let receipts: Vec<KeyBindingReceipt> = fetch_receipt(client, &url)?
            .map_err(|e| anyhow::anyhow!("couldn't fetch the key bindings: {e}"))?;
        for r in receipts {
            let what = format!(
                "the key binding of {} at log index {}",
                r.member, r.log_index
            );
            r.check_entry()
                .and_then(|()| r.check_inclusion())
                .map_err(|e| anyhow::anyhow!("{what} is not in the node's log: {e}"))?;
            checkpoints
                .check_note(&r.checkpoint)
                .map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
            let key = parse_contributor_key(&r.vkey).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
            out.by_member.entry(r.member).or_default().push(Bound {
                key,
                superseded_by: r.superseded_by,
            });
            out.proven += 1;
        }
        Ok(out)
    }

    /// Whether a signature by `signer` may be a partner member's: the node recorded a
    /// partner binding of that name, so where the object came from decides whose key counts.
    pub fn has_partner_signer(&self, signer: &str) -> bool {
        self.by_member.keys().any(|name| {
            name.starts_with("peer:")
                && name
                    .rsplit_once('/')
                    .is_some_and(|(_, member)| member == signer)
        })
    }

    /// Checks one object's signature against the keys of its signer as the contributor of
    /// that version here names it (`contributors`: the local member who posted it, or
    /// `peer:PARTNER` for a mirrored version; several if the node's provenance is ambiguous,
    /// none to take the signer as the contributor). Passes if one of them verifies.
    pub fn check(&self, object: &Value, contributors: &[String]) -> Verdict {
        let sig = match detente_sign::signature_of(object) {
            Ok(Some(s)) => s,
            Ok(None) => return Verdict::Unsigned,
            Err(e) => return Verdict::Failed(e.to_string()),
        };
        let own = [sig.signer.clone()];
        let contributors = if contributors.is_empty() {
            &own[..]
        } else {
            contributors
        };
        let mut failure = None;
        for contributor in contributors {
            match self.check_as(object, &sig, contributor) {
                Ok(verified) => return verified,
                Err(why) => {
                    failure.get_or_insert(why);
                }
            }
        }
        Verdict::Failed(failure.unwrap_or_default())
    }

    fn check_as(
        &self,
        object: &Value,
        sig: &detente_sign::Signature,
        contributor: &str,
    ) -> Result<Verdict, String> {
        let name = crate::peer::signer_binding(contributor, &sig.signer).ok_or_else(|| {
            format!(
                "signed as {:?} but contributed by {contributor:?}",
                sig.signer
            )
        })?;
        let bound = self
            .by_member
            .get(&name)
            .ok_or_else(|| format!("signer {name:?} has no key binding"))?;
        let mut matching = bound
            .iter()
            .filter(|b| b.key.key_id() == sig.key_id)
            .peekable();
        if matching.peek().is_none() {
            return Err(format!(
                "signer {name:?} has no key with id {} bound",
                sig.key_id_hex()
            ));
        }
        // Key ids are 32 bits: another key may share one, so every key with it is tried.
        let mut failure = String::new();
        for b in matching {
            match detente_sign::verify(object, &sig.signer, &b.key) {
                Ok(_) => {
                    return Ok(Verdict::Verified {
                        binding: name,
                        superseded: b.superseded_by,
                    });
                }
                Err(e) => failure = e.to_string(),
            }
        }
        Err(failure)
    }
}

/// Objects per provenance request: keeps its URL far below what servers accept (64 KiB).
pub const PROVENANCE_BATCH: usize = 200;

/// The contributors here of each object's version as the node's provenance endpoint names
/// them: `peer:PARTNER` for each partner it was mirrored from, none if it was not mirrored.
/// One request per [`PROVENANCE_BATCH`] objects.
pub fn mirrored_from(
    client: &Client,
    collection: &str,
    objects: &[Value],
) -> anyhow::Result<Vec<Vec<String>>> {
    let id_of = |o: &Value| o.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
    let mut out = Vec::with_capacity(objects.len());
    for chunk in objects.chunks(PROVENANCE_BATCH) {
        let mut ids: Vec<String> = chunk.iter().map(id_of).collect();
        ids.sort();
        ids.dedup();
        let list: Vec<String> = ids
            .iter()
            .map(|i| detente_taxii_client::escape(i))
            .collect();
        let url = format!(
            "{}provenance/?match[id]={}",
            client.collection_url(collection),
            list.join(",")
        );
        let prov: Value = client.get_json(&url)?;
        let mut by_id: HashMap<&str, Vec<&Value>> = HashMap::new();
        for p in prov
            .get("provenance")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
        {
            if let Some(id) = p.get("id").and_then(Value::as_str) {
                by_id.entry(id).or_default().push(p);
            }
        }
        for o in chunk {
            let version = ["modified", "created"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str));
            let mut peers: Vec<String> = by_id
                .get(id_of(o).as_str())
                .map_or(&[][..], Vec::as_slice)
                .iter()
                // Value-identified objects have no version of their own: every copy is a
                // candidate.
                .filter(|p| {
                    version.is_none_or(|v| p.get("version").and_then(Value::as_str) == Some(v))
                })
                .filter_map(|p| p.get("peer").and_then(Value::as_str))
                .map(crate::peer::identity_name)
                .collect();
            peers.sort();
            peers.dedup();
            out.push(peers);
        }
    }
    Ok(out)
}
