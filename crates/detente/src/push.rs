//! `detente push`: send a STIX bundle to a TAXII 2.1 collection, in envelopes, with a
//! progress bar. Also the small TAXII client `detente pull` shares.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use serde_json::Value;
use ureq::Agent;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// The TAXII 2.1 media type.
const TAXII: &str = "application/taxii+json;version=2.1";
/// The largest response body the client reads.
const MAX_RESPONSE: u64 = 512 * 1024 * 1024;

/// Where and how to reach a collection.
#[derive(ClapArgs, Debug, Clone)]
pub struct Remote {
    /// The API root URL (e.g. https://node:8484/api/), or the server URL to discover it.
    #[arg(long)]
    url: String,
    /// Collection id.
    #[arg(long)]
    collection: String,
    /// How to authenticate.
    #[command(flatten)]
    pub login: Login,
}

/// How to authenticate to a node and which certificate to trust.
#[derive(ClapArgs, Debug, Clone)]
pub struct Login {
    /// Member name for HTTP Basic; the secret comes from DETENTE_SECRET.
    #[arg(long, requires = "secret")]
    user: Option<String>,
    /// The member's secret.
    #[arg(long, env = "DETENTE_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// A file holding `NAME:SECRET` (e.g. DIR/admin.credentials).
    #[arg(long, conflicts_with = "user")]
    credentials: Option<PathBuf>,
    /// A bearer token (`detente token issue`).
    #[arg(long, env = "DETENTE_TOKEN", hide_env_values = true, conflicts_with_all = ["user", "credentials"])]
    token: Option<String>,
    /// Trust this PEM certificate (e.g. the node's self-signed one).
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Do not verify the server's certificate.
    #[arg(long)]
    insecure: bool,
}

impl Login {
    /// An HTTP agent trusting what `--ca-cert`/`--insecure` say; HTTP error statuses are
    /// returned, not raised.
    pub fn agent(&self) -> anyhow::Result<Agent> {
        agent_trusting(self.ca_cert_pem()?.as_deref(), self.insecure)
    }

    /// The PEM text of `--ca-cert`, if given.
    pub fn ca_cert_pem(&self) -> anyhow::Result<Option<Vec<u8>>> {
        self.ca_cert
            .as_ref()
            .map(|path| {
                std::fs::read(path).with_context(|| format!("couldn't read {}", path.display()))
            })
            .transpose()
    }

    /// Whether `--insecure` was given.
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// The `Authorization` header value these options give.
    pub fn authorization(&self) -> anyhow::Result<String> {
        if let Some(t) = &self.token {
            return Ok(format!("Bearer {t}"));
        }
        let pair = match (&self.credentials, &self.user, &self.secret) {
            (Some(path), _, _) => std::fs::read_to_string(path)
                .with_context(|| format!("couldn't read {}", path.display()))?
                .trim()
                .to_owned(),
            (None, Some(u), Some(s)) => format!("{u}:{s}"),
            _ => bail!("give --credentials FILE, --user NAME with DETENTE_SECRET, or --token"),
        };
        use base64::Engine;
        Ok(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }
}

/// An HTTP agent trusting the PEM certificate `ca` (else the system roots), verifying
/// nothing if `insecure`; HTTP error statuses are returned, not raised.
pub fn agent_trusting(ca: Option<&[u8]>, insecure: bool) -> anyhow::Result<Agent> {
    let mut tls = TlsConfig::builder().disable_verification(insecure);
    if let Some(pem) = ca {
        let cert = Certificate::from_pem(pem).context("--ca-cert is not a PEM certificate")?;
        tls = tls.root_certs(RootCerts::new_with_certs(&[cert]));
    }
    Ok(Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .tls_config(tls.build())
        .build()
        .into())
}

/// Percent-encodes a query-string value.
pub fn query_escape(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A connection to one collection.
pub struct Client {
    agent: Agent,
    auth: String,
    /// The collection URL, ending in `/`.
    pub collection_url: String,
    /// The API root URL, ending in `/`.
    pub api_root: String,
    /// HTTP requests made so far.
    requests: std::cell::Cell<u64>,
}

/// The scheme and authority of an http(s) URL (`https://host:port`).
pub fn origin(url: &str) -> anyhow::Result<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .with_context(|| format!("{url:?} is not an http(s) URL"))?;
    let host_end = rest.find('/').unwrap_or(rest.len());
    Ok(&url[..url.len() - rest.len() + host_end])
}

impl Client {
    /// Connects (discovering the API root when `url` is a server URL).
    pub fn connect(r: &Remote) -> anyhow::Result<Client> {
        Self::connect_to(&r.url, &r.collection, &r.login)
    }

    /// Connects to `collection` at `url` (an API root or server URL) as `login`.
    pub fn connect_to(url: &str, collection: &str, r: &Login) -> anyhow::Result<Client> {
        Self::with_agent(r.agent()?, r.authorization()?, url, collection)
    }

    /// Connects to `collection` at `url` through `agent`, sending `auth` as `Authorization`.
    pub fn with_agent(
        agent: Agent,
        auth: String,
        url: &str,
        collection: &str,
    ) -> anyhow::Result<Client> {
        let mut client = Client {
            agent,
            auth,
            collection_url: String::new(),
            api_root: String::new(),
            requests: std::cell::Cell::new(0),
        };
        let mut root = url.to_owned();
        if !root.ends_with('/') {
            root.push('/');
        }
        let base = origin(&root)?.to_owned();
        if root == format!("{base}/") || root.ends_with("/taxii2/") {
            let discovery = client.get_json(&format!("{base}/taxii2/"))?;
            let default = discovery
                .get("default")
                .and_then(Value::as_str)
                .context("the server's discovery names no default API root; give its URL")?;
            root = if default.starts_with('/') {
                format!("{base}{default}")
            } else {
                default.to_owned()
            };
        }
        client.collection_url = format!("{root}collections/{collection}/");
        client.api_root = root;
        Ok(client)
    }

    /// Another handle on the same connection pool, login and collection, for another
    /// thread; it counts its own requests.
    pub fn fork(&self) -> Client {
        Client {
            agent: self.agent.clone(),
            auth: self.auth.clone(),
            collection_url: self.collection_url.clone(),
            api_root: self.api_root.clone(),
            requests: std::cell::Cell::new(0),
        }
    }

    /// Fails with the node's error description unless `status` is a success.
    pub fn check(status: u16, body: &str, what: &str) -> anyhow::Result<()> {
        if (200..300).contains(&status) {
            return Ok(());
        }
        let detail = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| {
                v.get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| body.chars().take(200).collect());
        bail!("{what} failed with HTTP {status}: {detail}")
    }

    /// The node's base URL (scheme, host and port), where `/log/` and `/whoami` are.
    pub fn base(&self) -> anyhow::Result<&str> {
        origin(&self.collection_url)
    }

    /// GETs a resource as this member; returns the status and body, whatever the status.
    pub fn get(&self, url: &str) -> anyhow::Result<(u16, String)> {
        let (status, body) = self.get_bytes(url)?;
        let body =
            String::from_utf8(body).with_context(|| format!("the answer of {url} is not UTF-8"))?;
        Ok((status, body))
    }

    /// [`Client::get`] for a binary resource.
    pub fn get_bytes(&self, url: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        self.requests.set(self.requests.get() + 1);
        let mut resp = self
            .agent
            .get(url)
            .header("Accept", TAXII)
            .header("Authorization", &self.auth)
            .call()
            .with_context(|| format!("couldn't reach {url}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .with_context(|| format!("couldn't read the answer of {url}"))?;
        Ok((status, body))
    }

    /// HTTP requests this client made so far.
    pub fn requests(&self) -> u64 {
        self.requests.get()
    }

    /// GETs a TAXII resource; returns its JSON.
    pub fn get_json(&self, url: &str) -> anyhow::Result<Value> {
        let (status, body) = self.get(url)?;
        Self::check(status, &body, &format!("GET {url}"))?;
        serde_json::from_str(&body).with_context(|| format!("{url} did not answer JSON"))
    }

    /// Calls `each` on every object the collection's `objects/` endpoint returns for `query`
    /// (a query string without `next`), following `next` from page to page.
    pub fn each_object(
        &self,
        query: &str,
        mut each: impl FnMut(&Value) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let base = format!("{}objects/?{query}", self.collection_url);
        let mut url = base.clone();
        loop {
            let page = self.get_json(&url)?;
            for o in page
                .get("objects")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                each(o)?;
            }
            let more = page.get("more").and_then(Value::as_bool).unwrap_or(false);
            match page.get("next").and_then(Value::as_str) {
                Some(next) if more => url = format!("{base}&next={}", query_escape(next)),
                _ => return Ok(()),
            }
        }
    }

    /// POSTs an envelope; returns the status resource.
    pub fn post_envelope(&self, body: &str) -> anyhow::Result<Value> {
        self.requests.set(self.requests.get() + 1);
        let url = format!("{}objects/", self.collection_url);
        let mut resp = self
            .agent
            .post(&url)
            .header("Accept", TAXII)
            .header("Content-Type", TAXII)
            .header("Authorization", &self.auth)
            .send(body)
            .with_context(|| format!("couldn't reach {url}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_string()
            .with_context(|| format!("couldn't read the answer of {url}"))?;
        Self::check(status, &text, &format!("POST {url}"))?;
        serde_json::from_str(&text).with_context(|| format!("{url} did not answer JSON"))
    }
}

/// A progress bar on standard error (hidden when it is not a terminal).
pub fn progress(len: Option<u64>, what: &str) -> indicatif::ProgressBar {
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let template = match len {
        Some(_) => "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg} ({per_sec})",
        None => "{spinner} [{elapsed_precise}] {pos} {msg} ({per_sec})",
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}

/// Push a STIX bundle (or TAXII envelope) file to a collection.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// A STIX 2.1 bundle, a TAXII envelope, or a JSON list of objects.
    file: PathBuf,
    #[command(flatten)]
    remote: Remote,
    /// Objects per envelope.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Sign each object with this key (from `detente keygen`) as the authenticated member
    /// before sending it (docs/signatures.md).
    #[arg(long, value_name = "KEYFILE")]
    sign: Option<PathBuf>,
}

/// Runs `detente push`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("couldn't read {}", args.file.display()))?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.file.display()))?;
    let mut objects = match value {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("objects") {
            Some(Value::Array(a)) => a,
            _ => bail!("{} has no `objects` list", args.file.display()),
        },
        _ => bail!(
            "{} is neither a bundle, an envelope nor a list",
            args.file.display()
        ),
    };
    let client = Client::connect(&args.remote)?;
    if let Some(path) = &args.sign {
        let key = crate::signatures::load_signer(path)?;
        let member = crate::signatures::whoami(&client, client.base()?)?;
        crate::signatures::sign_all(&mut objects, &member, &key)?;
        eprintln!(
            "signed {} objects as {member} with key {}",
            objects.len(),
            key.verifier()
        );
    }
    let bar = progress(Some(objects.len() as u64), "objects");
    let (mut ok, mut failed) = (0u64, 0u64);
    for chunk in objects.chunks(args.batch) {
        let body = serde_json::json!({ "objects": chunk }).to_string();
        let status = client.post_envelope(&body)?;
        ok += status
            .get("success_count")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        failed += status
            .get("failure_count")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        for f in status
            .get("failures")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            bar.suspend(|| {
                eprintln!(
                    "refused {}: {}",
                    f.get("id").and_then(Value::as_str).unwrap_or("?"),
                    f.get("message").and_then(Value::as_str).unwrap_or("")
                );
            });
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    eprintln!(
        "pushed {} objects: {ok} accepted, {failed} refused",
        objects.len()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
