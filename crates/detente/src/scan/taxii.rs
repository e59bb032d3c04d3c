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
