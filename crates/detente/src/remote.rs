//! How every command that talks to a node logs in and which certificates it trusts: one set
//! of flags (`docs/client.md`), turned into `detente-taxii-client`'s credentials and TLS.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use detente_taxii_client::{Credentials, Tls};
use ureq::Agent;

pub use detente_taxii_client::{Client, origin};

/// The member's credentials and the certificates to trust.
///
/// Credentials come from the first of: `--token`, `--credentials FILE`, `--user NAME` (the
/// secret from `--secret-file`, else DETENTE_SECRET), then the same from the environment
/// (DETENTE_TOKEN, DETENTE_CREDENTIALS, DETENTE_USER), then
/// `$XDG_CONFIG_HOME/detente/credentials.json` (or `~/.config/…`) if it exists.
#[derive(ClapArgs, Debug, Clone)]
pub struct Login {
    /// Member name for HTTP Basic [env: DETENTE_USER]; the secret comes from --secret-file,
    /// else DETENTE_SECRET.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// A file holding the member's secret (its first line).
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// The secret itself: other local users can read it in the process list; prefer
    /// DETENTE_SECRET or --secret-file.
    #[arg(long, alias = "password", value_name = "SECRET", hide = true)]
    secret: Option<String>,
    /// A file holding `NAME:SECRET` (e.g. DIR/admin.credentials), or JSON with `token`, or
    /// `user` and `secret` [env: DETENTE_CREDENTIALS].
    #[arg(long, value_name = "FILE", conflicts_with = "user")]
    credentials: Option<PathBuf>,
    /// A bearer token (`detente token issue`) [env: DETENTE_TOKEN].
    #[arg(long, value_name = "TOKEN", conflicts_with_all = ["user", "credentials"])]
    token: Option<String>,
    /// Trust the certificates of this PEM file (e.g. the node's own CA) on top of the
    /// system's roots.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Do not verify the node's certificate.
    #[arg(long)]
    insecure: bool,
}

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `$XDG_CONFIG_HOME/detente/credentials.json`, or under `~/.config`.
fn default_credentials_file() -> Option<PathBuf> {
    let config = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("detente/credentials.json")).filter(|p| p.is_file())
}

impl Login {
    /// The member's secret for `--user`/DETENTE_USER.
    fn secret(&self, user: &str) -> anyhow::Result<String> {
        if let Some(path) = &self.secret_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("couldn't read {}", path.display()))?;
            return Ok(text.lines().next().unwrap_or("").to_owned());
        }
        match self.secret.clone().or_else(|| env("DETENTE_SECRET")) {
            Some(s) => Ok(s),
            None => bail!("no secret for {user}: set DETENTE_SECRET or give --secret-file FILE"),
        }
    }

    fn basic(&self, user: String) -> anyhow::Result<Credentials> {
        let secret = self.secret(&user)?;
        Ok(Credentials::Basic { user, secret })
    }

    /// The credentials these options and the environment give; `Anonymous` when none.
    pub fn credentials(&self) -> anyhow::Result<Credentials> {
        if let Some(t) = &self.token {
            return Ok(Credentials::Bearer(t.clone()));
        }
        if let Some(path) = &self.credentials {
            return Ok(Credentials::from_file(path)?);
        }
        if let Some(user) = &self.user {
            return self.basic(user.clone());
        }
        if let Some(t) = env("DETENTE_TOKEN") {
            return Ok(Credentials::Bearer(t));
        }
        if let Some(path) = env("DETENTE_CREDENTIALS") {
            return Ok(Credentials::from_file(&PathBuf::from(path))?);
        }
        if let Some(user) = env("DETENTE_USER") {
            return self.basic(user);
        }
        match default_credentials_file() {
            Some(path) => Ok(Credentials::from_file(&path)?),
            None => Ok(Credentials::Anonymous),
        }
    }

    /// The credentials, which must be some.
    pub fn required(&self) -> anyhow::Result<Credentials> {
        match self.credentials()? {
            Credentials::Anonymous => bail!(
                "give --credentials FILE, --user NAME (secret in DETENTE_SECRET or --secret-file), \
                 or --token (docs/client.md)"
            ),
            c => Ok(c),
        }
    }

    /// The certificates to trust: the system's roots, plus `--ca-cert`'s; none with
    /// `--insecure`.
    pub fn tls(&self) -> anyhow::Result<Tls> {
        let tls = Tls::system()?;
        let tls = match &self.ca_cert {
            Some(path) => tls.trust_file(path)?,
            None => tls,
        };
        Ok(tls.insecure(self.insecure))
    }

    /// A client of the node at `url` (API root, or server URL to discover it), logged in.
    pub fn connect(&self, url: &str) -> anyhow::Result<Client> {
        Ok(Client::connect(url, &self.required()?, &self.tls()?)?)
    }

    /// [`Login::connect`], anonymous when no credentials are given.
    pub fn connect_any(&self, url: &str) -> anyhow::Result<Client> {
        Ok(Client::connect(url, &self.credentials()?, &self.tls()?)?)
    }

    /// The PEM text of `--ca-cert`, if given (recorded for a partner, `detente peer add`).
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

    /// The `Authorization` header value these options give (credentials are required).
    pub fn authorization(&self) -> anyhow::Result<String> {
        self.required()?
            .authorization()
            .context("these credentials send no Authorization header")
    }
}

/// An HTTP agent trusting the system's roots and the PEM certificates `ca`, verifying
/// nothing if `insecure` (a partner's recorded CA, `detente sync`).
pub fn agent_trusting(ca: Option<&[u8]>, insecure: bool) -> anyhow::Result<Agent> {
    let tls = Tls::system()?;
    let tls = match ca {
        Some(pem) => tls.trust_pem(pem, "the recorded CA certificate")?,
        None => tls,
    };
    Ok(tls.insecure(insecure).agent())
}
