//! `detente asset`: the registry of what the node's parties protect (domains, address
//! ranges, organisations), per node or per collection; indicators that touch one are flagged
//! at ingest, and `asset export` shares the registry as STIX (`docs/assets.md`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use detente_scan::norm;
use detente_store::{AssetKind, AssetRecord};
use serde_json::{Value as Json, json};

use crate::data::{DataArgs, open_store};

/// The namespace of STIX 2.1 cyber-observable ids (STIX 2.1 section 2.9).
const SCO_NAMESPACE: uuid::Uuid = uuid::uuid!("00abedb4-aa42-466c-9c01-fed23315a9b7");

/// Protected assets (changes apply to a running node from its next POST).
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Add a protected asset: `domain NAME`, `cidr RANGE` or `org NAME`.
    Add {
        /// domain, cidr or org.
        kind: String,
        /// The domain (Unicode or A-label), the address or range, or the organisation's name.
        value: String,
        /// For a domain: protect the name itself only, not its subdomains.
        #[arg(long)]
        no_subdomains: bool,
        /// Protect it in this collection only [default: every collection].
        #[arg(long)]
        collection: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Add the assets of a file: one per line, `[KIND] VALUE [no-subdomains]`; a line
    /// without a kind is a range if it parses as one, else a domain; `#` starts a comment.
    Import {
        /// The file.
        file: PathBuf,
        /// Protect them in this collection only [default: every collection].
        #[arg(long)]
        collection: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the assets: kind, value, subdomains, scope (tab-separated).
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Remove an asset.
    Remove {
        /// domain, cidr or org.
        kind: String,
        /// The value as added.
        value: String,
        /// The collection it was added to [default: node-wide].
        #[arg(long)]
        collection: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Print the assets as a STIX 2.1 bundle to share with partners.
    Export {
        /// Only the assets of this collection (and the node-wide ones).
        #[arg(long)]
        collection: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// An asset's value in the form the node matches: a lower-case A-label domain without outer
/// dots, a masked `addr/len`, or the name as given (trimmed).
pub fn canonical(kind: AssetKind, value: &str) -> anyhow::Result<String> {
    let v = value.trim();
    match kind {
        AssetKind::Domain => {
            let v = v.trim_matches('.');
            let ascii = if v.is_ascii() {
                v.to_ascii_lowercase()
            } else {
                detente_lookalike::to_ascii(v)
                    .with_context(|| format!("{v:?} is not a valid internationalised domain"))?
            };
            let mut buf = [0u8; norm::MAX_DOMAIN];
            match norm::normalize_domain(ascii.as_bytes(), &mut buf) {
                Some(d) => Ok(String::from_utf8_lossy(d).into_owned()),
                None => bail!("{v:?} is not a domain name (two labels or more, e.g. sos.ca.gov)"),
            }
        }
        AssetKind::Cidr => match norm::parse_cidr(v.as_bytes()) {
            Some((norm::Ip::V4(a), len)) => Ok(format!("{}/{len}", std::net::Ipv4Addr::from(a))),
            Some((norm::Ip::V6(a), len)) => Ok(format!("{}/{len}", std::net::Ipv6Addr::from(a))),
            None => bail!("{v:?} is not an IPv4 or IPv6 address or range (addr/len)"),
        },
        AssetKind::Org => {
            if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
                bail!("an organisation's name is 1-256 printable characters");
            }
            Ok(v.to_owned())
        }
    }
}

fn record(
    kind: AssetKind,
    value: &str,
    subdomains: bool,
    collection: &Option<String>,
) -> anyhow::Result<AssetRecord> {
    if !subdomains && kind != AssetKind::Domain {
        bail!("--no-subdomains is for domains");
    }
    Ok(AssetRecord {
        kind,
        value: canonical(kind, value)?,
        subdomains,
        collection: collection.clone(),
        added: 0,
    })
}

/// One line of an import file, or `None` for a blank or comment line.
fn parse_line(line: &str) -> anyhow::Result<Option<(AssetKind, String, bool)>> {
    let line = line.split('#').next().unwrap_or_default().trim();
    if line.is_empty() {
        return Ok(None);
    }
    let (first, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let (kind, rest) = match first.parse::<AssetKind>() {
        Ok(k) => (k, rest.trim()),
        Err(_) if norm::parse_cidr(line.as_bytes()).is_some() => (AssetKind::Cidr, line),
        Err(_) => (AssetKind::Domain, line),
    };
    let (value, subdomains) = match rest.strip_suffix("no-subdomains") {
        Some(v) if kind == AssetKind::Domain => (v.trim(), false),
        _ => (rest, true),
    };
    Ok(Some((kind, value.to_owned(), subdomains)))
}

/// The id of a STIX cyber-observable from its id-contributing value.
fn sco_id(object_type: &str, value: &str) -> String {
    let canonical = json!({ "value": value }).to_string();
    format!(
        "{object_type}--{}",
        uuid::Uuid::new_v5(&SCO_NAMESPACE, canonical.as_bytes())
    )
}

/// The assets as STIX: the node's identity, one `infrastructure` "protected assets" object
/// created by it, each domain and range as a `domain-name`/`ipv4-addr`/`ipv6-addr` linked to
/// it by a `consists-of` relationship, and each organisation as an `identity`.
fn export(identity: &Json, assets: &[AssetRecord], now: &str) -> Json {
    let node = identity["id"].as_str().unwrap_or_default();
    let named = |kind: &str, name: &str| {
        format!(
            "{kind}--{}",
            uuid::Uuid::new_v5(&SCO_NAMESPACE, format!("{node}/{name}").as_bytes())
        )
    };
    let infra = named("infrastructure", "protected-assets");
    let mut objects = vec![
        identity.clone(),
        json!({
            "type": "infrastructure", "spec_version": "2.1", "id": infra,
            "created": now, "modified": now, "created_by_ref": node,
            "name": "Protected assets",
            "description": "What the parties of this node protect: indicators for these names and ranges are flagged there.",
            "infrastructure_types": ["unknown"],
        }),
    ];
    for a in assets {
        let (object_type, value) = match a.kind {
            AssetKind::Domain => ("domain-name", a.value.as_str()),
            AssetKind::Cidr if a.value.contains(':') => ("ipv6-addr", a.value.as_str()),
            AssetKind::Cidr => ("ipv4-addr", a.value.as_str()),
            AssetKind::Org => {
                objects.push(json!({
                    "type": "identity", "spec_version": "2.1", "id": named("identity", &a.value),
                    "created": now, "modified": now, "created_by_ref": node,
                    "name": a.value, "identity_class": "organization",
                    "x_detente_protected": true,
                }));
                continue;
            }
        };
        let id = sco_id(object_type, value);
        let mut sco =
            json!({ "type": object_type, "spec_version": "2.1", "id": id, "value": value });
        if a.kind == AssetKind::Domain {
            sco["x_detente_subdomains"] = json!(a.subdomains);
        }
        objects.push(sco);
        objects.push(json!({
            "type": "relationship", "spec_version": "2.1",
            "id": named("relationship", &id),
            "created": now, "modified": now, "created_by_ref": node,
            "relationship_type": "consists-of", "source_ref": infra, "target_ref": id,
        }));
    }
    json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid::Uuid::new_v4()),
        "objects": objects,
    })
}

/// Runs `detente asset`.
pub fn run(command: Cmd) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::Add {
            kind,
            value,
            no_subdomains,
            collection,
            data,
        } => {
            let a = record(kind.parse()?, &value, !no_subdomains, &collection)?;
            let store = open_store(&data)?;
            let new = store
                .asset_add(&a)
                .with_context(|| format!("couldn't add {} {}", a.kind, a.value))?;
            eprintln!(
                "{} {} {} for {}",
                if new {
                    "protecting"
                } else {
                    "already protecting"
                },
                a.kind,
                a.value,
                collection.as_deref().unwrap_or("every collection")
            );
        }
        Cmd::Import {
            file,
            collection,
            data,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            // Every line is checked before anything is stored.
            let mut assets = Vec::new();
            for (n, line) in text.lines().enumerate() {
                let at = || format!("{}:{}", file.display(), n + 1);
                if let Some((kind, value, subdomains)) = parse_line(line).with_context(at)? {
                    assets.push(record(kind, &value, subdomains, &collection).with_context(at)?);
                }
            }
            let store = open_store(&data)?;
            let mut added = 0;
            for a in &assets {
                added += usize::from(
                    store
                        .asset_add(a)
                        .with_context(|| format!("couldn't add {} {}", a.kind, a.value))?,
                );
            }
            eprintln!(
                "{added} assets added, {} already there",
                assets.len() - added
            );
        }
        Cmd::List { data } => {
            let store = open_store(&data)?;
            let mut out = std::io::stdout().lock();
            for a in store.assets()? {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    a.kind,
                    a.value,
                    if a.kind != AssetKind::Domain {
                        "-"
                    } else if a.subdomains {
                        "subdomains"
                    } else {
                        "exact"
                    },
                    a.collection.as_deref().unwrap_or("node")
                )?;
            }
        }
        Cmd::Remove {
            kind,
            value,
            collection,
            data,
        } => {
            let kind: AssetKind = kind.parse()?;
            let value = canonical(kind, &value)?;
            open_store(&data)?
                .asset_remove(kind, &value, collection.as_deref())
                .with_context(|| format!("couldn't remove {kind} {value}"))?;
            eprintln!("no longer protecting {kind} {value}");
        }
        Cmd::Export { collection, data } => {
            let store = open_store(&data)?;
            let identity = detente_server::flags::node_identity_of(&*store)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let assets: Vec<AssetRecord> = store
                .assets()?
                .into_iter()
                .filter(|a| a.collection.is_none() || a.collection == collection)
                .collect();
            let now = detente_taxii::time::format_micros(detente_server::now_micros());
            let bundle = export(&identity, &assets, &now);
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &bundle)?;
            writeln!(out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_values() {
        assert_eq!(
            canonical(AssetKind::Domain, "SOS.CA.gov.").unwrap(),
            "sos.ca.gov"
        );
        assert_eq!(
            canonical(AssetKind::Domain, "bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert!(canonical(AssetKind::Domain, "localhost").is_err());
        assert_eq!(
            canonical(AssetKind::Cidr, "192.0.2.7/24").unwrap(),
            "192.0.2.0/24"
        );
        assert_eq!(
            canonical(AssetKind::Cidr, "2001:DB8::1").unwrap(),
            "2001:db8::1/128"
        );
        assert!(canonical(AssetKind::Cidr, "300.0.0.1").is_err());
        assert!(canonical(AssetKind::Org, " ").is_err());
    }

    #[test]
    fn import_lines() {
        assert_eq!(parse_line("# comment").unwrap(), None);
        assert_eq!(
            parse_line("sos.ca.gov").unwrap(),
            Some((AssetKind::Domain, "sos.ca.gov".into(), true))
        );
        assert_eq!(
            parse_line("domain vote.example no-subdomains # only the name").unwrap(),
            Some((AssetKind::Domain, "vote.example".into(), false))
        );
        assert_eq!(
            parse_line("198.51.100.0/24").unwrap(),
            Some((AssetKind::Cidr, "198.51.100.0/24".into(), true))
        );
        assert_eq!(
            parse_line("org Secretary of State").unwrap(),
            Some((AssetKind::Org, "Secretary of State".into(), true))
        );
    }

    #[test]
    fn export_is_valid_stix() {
        let identity = json!({"type": "identity", "spec_version": "2.1",
            "id": "identity--0b5c1f4c-2f1b-5a5e-9f0e-000000000001",
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "name": "detente node", "identity_class": "system"});
        let a = |kind, value: &str| AssetRecord {
            kind,
            value: value.into(),
            subdomains: true,
            collection: None,
            added: 0,
        };
        let b = export(
            &identity,
            &[
                a(AssetKind::Domain, "sos.ca.gov"),
                a(AssetKind::Cidr, "192.0.2.0/24"),
                a(AssetKind::Cidr, "2001:db8::/32"),
                a(AssetKind::Org, "Secretary of State"),
            ],
            "2026-02-01T00:00:00.000Z",
        );
        let objects = b["objects"].as_array().unwrap();
        assert_eq!(objects.len(), 2 + 3 * 2 + 1);
        for o in objects {
            detente_stix::validate_object(o).unwrap_or_else(|e| panic!("{e}: {o}"));
        }
        assert_eq!(objects[2]["id"], sco_id("domain-name", "sos.ca.gov"));
        assert_eq!(objects[4]["type"], "ipv4-addr");
        assert_eq!(objects[6]["type"], "ipv6-addr");
    }
}
