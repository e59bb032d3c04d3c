//! TAXII 2.1 client side of `detente scan`: `taxii:` indicator sources and `--push`.

use anyhow::{Context, Result, bail};
use base64::Engine;
use detente_scan::sources::{self, LoadOptions, Loaded};

const MEDIA: &str = "application/taxii+json;version=2.1";
/// Pages larger than this are refused rather than buffered.
const MAX_PAGE: u64 = 256 << 20;

/// `Authorization` header: from the environment (DETENTE_TOKEN as Bearer, or
/// DETENTE_USER/DETENTE_SECRET as Basic), else from the JSON config file named by
/// DETENTE_CREDENTIALS (default `$XDG_CONFIG_HOME/detente/credentials.json` or
/// `~/.config/detente/credentials.json`) with keys `token`, or `user` and `secret`.
fn authorization() -> Result<Option<String>> {
    let env = |k: &str| std::env::var(k).ok();
    let (mut token, mut user, mut secret) = (
        env("DETENTE_TOKEN"),
        env("DETENTE_USER"),
        env("DETENTE_SECRET"),
    );
    if token.is_none()
        && (user.is_none() || secret.is_none())
        && let Some(path) = credentials_path()
        && path.exists()
    {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        let get = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        token = get("token");
        user = get("user");
        secret = get("secret");
    }
    Ok(match (token, user, secret) {
        (Some(t), _, _) => Some(format!("Bearer {t}")),
        (None, Some(u), Some(s)) => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{s}"))
        )),
        _ => None,
    })
}

fn credentials_path() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("DETENTE_CREDENTIALS") {
        return Some(p.into());
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("detente/credentials.json"))
}

fn objects_url(api_root: &str, collection: &str) -> String {
    format!(
        "{}/collections/{collection}/objects/",
        api_root.trim_end_matches('/')
    )
}

/// Loads the indicators of `API-ROOT-URL#COLLECTION`, and the false-positive reports among its
/// sightings, following `next` pages.
pub fn fetch(spec: &str, opts: LoadOptions) -> Result<Loaded> {
    let Some((root, coll)) = spec.rsplit_once('#') else {
        bail!("taxii source {spec:?} must be taxii:API-ROOT-URL#COLLECTION");
    };
    let url = objects_url(root, coll);
    let mut objects = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut req = ureq::get(&url)
            .header("Accept", MEDIA)
            .query("match[type]", "indicator,sighting");
        if let Some(n) = &next {
            req = req.query("next", n);
        }
        if let Some(a) = authorization()? {
            req = req.header("Authorization", &a);
        }
        let mut resp = req.call().with_context(|| format!("GET {url}"))?;
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_PAGE)
            .read_to_string()
            .with_context(|| format!("reading {url}"))?;
        let env: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{url}: not a TAXII envelope"))?;
        if let Some(list) = env.get("objects").and_then(|o| o.as_array()) {
            objects.extend(list.iter().cloned());
        }
        let more = env.get("more").and_then(|m| m.as_bool()).unwrap_or(false);
        next = env.get("next").and_then(|n| n.as_str()).map(str::to_string);
        if !more || next.is_none() {
            break;
        }
    }
    let bundle = serde_json::json!({ "type": "bundle", "objects": objects });
    sources::load_bytes(spec, bundle.to_string().as_bytes(), opts)
        .with_context(|| format!("loading {url}"))
}

/// Counts the contributors of a `taxii:` source's indicators as the node does: from a
/// detente node's `…/scores/` (the members its log names, from what this member may read), each
/// indicator listed there is attested that many contributors and attributed to the source
/// alone, so `created_by_ref` claims (which one member can forge) count for nothing. A server
/// without `/scores/` (another TAXII server) leaves `created_by_ref` counting, with a note.
pub fn attest(spec: &str, loaded: &mut Loaded) -> Result<()> {
    let Some((root, coll)) = spec.rsplit_once('#') else {
        bail!("taxii source {spec:?} must be taxii:API-ROOT-URL#COLLECTION");
    };
    let url = format!("{}/collections/{coll}/scores/", root.trim_end_matches('/'));
    let mut counts: std::collections::HashMap<String, u32> = Default::default();
    let mut next: Option<String> = None;
    loop {
        let mut req = ureq::get(&url)
            .header("Accept", MEDIA)
            .query("limit", "10000")
            .config()
            .http_status_as_error(false)
            .build();
        if let Some(n) = &next {
            req = req.query("next", n);
        }
        if let Some(a) = authorization()? {
            req = req.header("Authorization", &a);
        }
        let mut resp = req.call().with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        if status != 200 {
            eprintln!(
                "note: {url}: status {status}, no contributor counts from the server; counting created_by_ref"
            );
            return Ok(());
        }
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_PAGE)
            .read_to_string()
            .with_context(|| format!("reading {url}"))?;
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

/// POSTs `objects` as one envelope to the collection's objects endpoint.
pub fn push(api_root: &str, collection: &str, objects: &[serde_json::Value]) -> Result<()> {
    let url = objects_url(api_root, collection);
    let body = serde_json::json!({ "objects": objects }).to_string();
    let mut req = ureq::post(&url)
        .header("Accept", MEDIA)
        .header("Content-Type", MEDIA);
    if let Some(a) = authorization()? {
        req = req.header("Authorization", &a);
    }
    let mut resp = req
        .send(body.as_bytes())
        .with_context(|| format!("POST {url}"))?;
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let status: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if let Some(f) = status.get("failure_count").and_then(|f| f.as_u64())
        && f > 0
    {
        bail!(
            "{url}: node rejected {f} of {} objects: {text}",
            objects.len()
        );
    }
    Ok(())
}

/// The pushing member's STIX identity on the detente node serving `api_root` (its
/// `/whoami`); `None` when the server is not a detente node (another TAXII server).
pub fn member_identity(api_root: &str) -> Result<Option<serde_json::Value>> {
    let rest = api_root
        .split_once("://")
        .map(|(_, r)| r)
        .with_context(|| format!("{api_root:?} is not an http(s) URL"))?;
    let origin = &api_root[..api_root.len() - rest.len() + rest.find('/').unwrap_or(rest.len())];
    let url = format!("{origin}/whoami");
    let mut req = ureq::get(&url)
        .header("Accept", "application/json")
        .config()
        .http_status_as_error(false)
        .build();
    if let Some(a) = authorization()? {
        req = req.header("Authorization", &a);
    }
    let mut resp = req.call().with_context(|| format!("GET {url}"))?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
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
