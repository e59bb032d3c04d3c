//! TAXII 2.1 client side of `detente scan`: `taxii:` indicator sources and `--push`, through
//! `detente-taxii-client` with the scan's `--user`/`--token`/`--credentials`/`--ca-cert`.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use detente_scan::sources::{self, LoadOptions, Loaded};
use detente_taxii_client::{Client, Filter};

use crate::remote::Login;

/// How long a push waits for the node to finish processing the sightings.
const PATIENCE: Duration = Duration::from_secs(300);

/// Loads the indicators of `API-ROOT-URL#COLLECTION`, and the false-positive reports among its
/// sightings, following the node's pages.
pub fn fetch(spec: &str, login: &Login, opts: LoadOptions) -> Result<Loaded> {
    let Some((root, coll)) = spec.rsplit_once('#') else {
        bail!("taxii source {spec:?} must be taxii:API-ROOT-URL#COLLECTION");
    };
    let client = login.connect_any(root)?;
    let filter = Filter {
        types: vec!["indicator".into(), "sighting".into()],
        ..Filter::default()
    };
    let mut objects = Vec::new();
    client.each_object(coll, &filter, |o| {
        objects.push(o);
        Ok::<_, detente_taxii_client::Error>(())
    })?;
    let bundle = serde_json::json!({ "type": "bundle", "objects": objects });
    sources::load_bytes(spec, bundle.to_string().as_bytes(), opts)
        .with_context(|| format!("loading {}objects/", client.collection_url(coll)))
}

/// Counts the contributors of a `taxii:` source's indicators as the node does: from a
/// detente node's `…/scores/` (the members its log names, from what this member may read), each
/// indicator listed there is attested that many contributors and attributed to the source
/// alone, so `created_by_ref` claims (which one member can forge) count for nothing. A server
/// without `/scores/` (another TAXII server) leaves `created_by_ref` counting, with a note.
pub fn attest(spec: &str, login: &Login, loaded: &mut Loaded) -> Result<()> {
    let Some((root, coll)) = spec.rsplit_once('#') else {
        bail!("taxii source {spec:?} must be taxii:API-ROOT-URL#COLLECTION");
    };
    let client = login.connect_any(root)?;
    let url = format!("{}scores/", client.collection_url(coll));
    let mut counts: std::collections::HashMap<String, u32> = Default::default();
    let mut next: Option<String> = None;
    loop {
        let page_url = match &next {
            Some(n) => format!(
                "{url}?limit=10000&next={}",
                detente_taxii::filter::escape(n)
            ),
            None => format!("{url}?limit=10000"),
        };
        let (status, text) = client.get(&page_url)?;
        if status != 200 {
            eprintln!(
                "note: {url}: status {status}, no contributor counts from the server; counting created_by_ref"
            );
            return Ok(());
        }
        let page: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{url}: not JSON"))?;
        let rows = page
            .get("scores")
            .and_then(|r| r.as_array())
            .with_context(|| format!("{url}: no `scores`"))?;
        for r in rows {
            let (Some(id), Some(n)) = (r["indicator"].as_str(), r["contributors"].as_u64()) else {
                bail!("{url}: a row without `indicator` or `contributors`: {r}");
            };
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            let c = counts.entry(id.to_string()).or_default();
            *c = (*c).max(n);
        }
        next = page
            .get("next")
            .and_then(|n| n.as_str())
            .map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    let who = format!("taxii:{spec}");
    let indicators = loaded
        .indicators
        .iter_mut()
        .map(|i| (&i.id, &mut i.provenance));
    let patterns = loaded
        .patterns
        .iter_mut()
        .map(|p| (&p.id, &mut p.provenance));
    for (id, p) in indicators.chain(patterns) {
        if let Some(n) = counts.get(id.as_str()) {
            p.attested = *n;
            p.contributor = Some(who.clone());
        }
    }
    Ok(())
}

/// POSTs `objects` as one envelope to `collection`; every object must be accepted.
pub fn push(client: &Client, collection: &str, objects: &[serde_json::Value]) -> Result<()> {
    let status = client.add_objects(collection, objects, PATIENCE)?;
    if status.failure_count > 0 {
        let why: Vec<String> = status
            .failures
            .iter()
            .map(|f| format!("{}: {}", f.id, f.message.as_deref().unwrap_or("")))
            .collect();
        bail!(
            "{}: the node refused {} of {} objects: {}",
            client.collection_url(collection),
            status.failure_count,
            objects.len(),
            why.join("; ")
        );
    }
    Ok(())
}

/// The pushing member's STIX identity on the detente node `client` talks to (its
/// `/whoami`); `None` when the server is not a detente node (another TAXII server).
pub fn member_identity(client: &Client) -> Result<Option<serde_json::Value>> {
    let url = format!("{}/whoami", client.base());
    let (status, text) = client.get(&url)?;
    if status == 401 {
        bail!("{url}: the node refused our credentials");
    }
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    Ok(v.get("identity")
        .filter(|i| {
            status == 200
                && i["type"] == "identity"
                && i["id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("identity--"))
        })
        .cloned())
}
