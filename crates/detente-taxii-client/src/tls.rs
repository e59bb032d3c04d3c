//! Which certificates the client trusts, and the HTTP agent built on them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::Agent;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, parse_pem};

use crate::Error;

/// How long one request may take, body included (a page of a large collection is big).
const TIMEOUT: Duration = Duration::from_secs(300);

/// Where distributions keep the system's CA bundle, tried in order when `SSL_CERT_FILE` is
/// not set (Debian and Ubuntu, Fedora and RHEL, openSUSE, Alpine).
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The certificates a client trusts: the system's roots plus any given (`--ca-cert`), or
/// none verified at all (`--insecure`).
#[derive(Clone)]
pub struct Tls {
    /// The system's roots; `None` when the system has no bundle.
    system: Option<Vec<Certificate<'static>>>,
    /// Certificates trusted on top of them.
    extra: Vec<Certificate<'static>>,
    insecure: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("system", &self.system.as_ref().map(Vec::len))
            .field("extra", &self.extra.len())
            .field("insecure", &self.insecure)
            .finish()
    }
}

/// The certificates of a PEM text (other sections, such as keys, are skipped).
fn certificates(pem: &[u8], what: &str) -> Result<Vec<Certificate<'static>>, Error> {
    let certs: Vec<Certificate<'static>> = parse_pem(pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(Error::Certificate(what.to_owned()));
    }
    Ok(certs)
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

impl Tls {
    /// Trusts the system's roots: the PEM bundle `SSL_CERT_FILE` names (as OpenSSL reads it),
    /// else the first of the distributions' usual bundles that exists; Mozilla's roots built
    /// into the client when there is none.
    pub fn system() -> Result<Tls, Error> {
        let bundle = match std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
            Some(path) => Some(PathBuf::from(path)),
            None => SYSTEM_BUNDLES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file()),
        };
        let system = match bundle {
            Some(path) => Some(certificates(&read(&path)?, &path.display().to_string())?),
            None => None,
        };
        Ok(Tls {
            system,
            extra: Vec::new(),
            insecure: false,
        })
    }

    /// Trusts the roots of the PEM bundle `pem` (`None`: Mozilla's, built in) and nothing
    /// else yet; [`Tls::system`] with the bundle chosen by the caller.
    pub fn with_roots(pem: Option<&[u8]>) -> Result<Tls, Error> {
        Ok(Tls {
            system: pem
                .map(|p| certificates(p, "the root bundle"))
                .transpose()?,
            extra: Vec::new(),
            insecure: false,
        })
    }

    /// Also trusts every certificate of the PEM text `pem` (a node's own CA, or several);
    /// `what` names it in errors.
    pub fn trust_pem(mut self, pem: &[u8], what: &str) -> Result<Tls, Error> {
        self.extra.extend(certificates(pem, what)?);
        Ok(self)
    }

    /// Also trusts every certificate of the PEM file `path` (`--ca-cert`).
    pub fn trust_file(self, path: &Path) -> Result<Tls, Error> {
        let pem = read(path)?;
        self.trust_pem(&pem, &path.display().to_string())
    }

    /// Verifies no certificate at all when `yes` (`--insecure`: for tests and first contact).
    pub fn insecure(mut self, yes: bool) -> Tls {
        self.insecure = yes;
        self
    }

    /// The roots a connection checks a node's certificate against.
    fn roots(&self) -> RootCerts {
        match (&self.system, self.extra.is_empty()) {
            (None, true) => RootCerts::WebPki,
            // Mozilla's built-in roots cannot be listed beside others: the extra ones only.
            (None, false) => RootCerts::new_with_certs(&self.extra),
            (Some(system), _) => system.iter().chain(&self.extra).cloned().into(),
        }
    }

    /// The TLS settings of a connection trusting these certificates, for other HTTP clients
    /// of the binary (PSI queries) to trust exactly what TAXII connections trust.
    pub fn tls_config(&self) -> TlsConfig {
        TlsConfig::builder()
            .disable_verification(self.insecure)
            .root_certs(self.roots())
            .build()
    }

    /// An HTTP agent (a connection pool) trusting these certificates. HTTP error statuses
    /// are answers, not errors: [`crate::Client`] reads the node's message from them.
    pub fn agent(&self) -> Agent {
        Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .tls_config(self.tls_config())
            .build()
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate (P-256, CN=test, valid until 2126), PEM.
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBdjCCARugAwIBAgIUYGd5so+3iPfErCgRoimPhixioyYwCgYIKoZIzj0EAwIw
DzENMAsGA1UEAwwEdGVzdDAgFw0yNjEyMDMxNzQ0MTZaGA8yMTI2MTEwOTE3NDQx
NlowDzENMAsGA1UEAwwEdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNky
W9Dr3us7WEpefqq/0befXQDP01oVNAx0ebHZwNZwnT3Nb2ha9CQKmHU/aPhqoYrD
wyKqthCieUvWP7tFb6qjUzBRMB0GA1UdDgQWBBQgwR1BOl6h/9T6ysVqserISOIj
PzAfBgNVHSMEGDAWgBQgwR1BOl6h/9T6ysVqserISOIjPzAPBgNVHRMBAf8EBTAD
AQH/MAoGCCqGSM49BAMCA0kAMEYCIQDyNzOJgjxwkvuS6CO6FiGU+zpr7qh5Kxyq
O+QoxEQLBAIhAJz6N1I/rcFTY0imonQXn0b5iYrGovumXfXHuzHGQ/S0
-----END CERTIFICATE-----
";

    fn count(roots: &RootCerts) -> Option<usize> {
        match roots {
            RootCerts::Specific(c) => Some(c.len()),
            _ => None,
        }
    }

    #[test]
    fn ca_certificates_are_added_to_the_system_roots() {
        let two = format!("{CERT}{CERT}");
        let tls = Tls::with_roots(Some(two.as_bytes())).unwrap();
        assert_eq!(count(&tls.roots()), Some(2));
        let tls = tls.trust_pem(CERT.as_bytes(), "ca.pem").unwrap();
        assert_eq!(count(&tls.roots()), Some(3));
    }

    #[test]
    fn without_a_system_bundle() {
        let tls = Tls::with_roots(None).unwrap();
        assert!(matches!(tls.roots(), RootCerts::WebPki));
        let tls = tls.trust_pem(CERT.as_bytes(), "ca.pem").unwrap();
        assert_eq!(count(&tls.roots()), Some(1));
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let e = Tls::with_roots(None)
            .unwrap()
            .trust_pem(b"not a certificate", "ca.pem")
            .unwrap_err();
        assert!(
            e.to_string().contains("ca.pem holds no PEM certificate"),
            "{e}"
        );
        let missing = Path::new("/nonexistent/ca.pem");
        let e = Tls::with_roots(None)
            .unwrap()
            .trust_file(missing)
            .unwrap_err();
        assert!(matches!(e, Error::Read { .. }), "{e}");
    }
}
