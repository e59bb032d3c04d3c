//! The one harness of the `detente` binary's integration tests: the binary, temp dirs, CLI runs
//! with captured output, real `detente serve` nodes (plain HTTP and TLS) killed however a test
//! ends, and the small HTTP requests the tests make.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

pub mod node;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use base64::Engine;

// Each test binary imports only some of these.
#[allow(unused_imports)]
pub use node::{Announces, Node, Process};

/// The `detente` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_detente");

/// The TAXII 2.1 media type.
pub const TAXII: &str = "application/taxii+json;version=2.1";

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A `detente` command that ignores the environment's `DETENTE_*` settings, so a test sees
/// only what it passes.
pub fn command() -> Command {
    let mut cmd = Command::new(BIN);
    scrub_env(&mut cmd);
    cmd
}

/// Removes the `DETENTE_*` settings from `cmd`'s environment.
pub fn scrub_env(cmd: &mut Command) {
    for var in [
        "DETENTE_DATA",
        "DETENTE_USER",
        "DETENTE_SECRET",
        "DETENTE_TOKEN",
        "DETENTE_CREDENTIALS",
        "DETENTE_PSI_TOKEN",
        "DETENTE_STATE_DIR",
        "DETENTE_DATABASE_URL",
    ] {
        cmd.env_remove(var);
    }
}

/// Runs `detente ARGS` with `env` set and captures stdout, stderr and exit status.
pub fn detente(args: &[&str], env: &[(&str, &str)]) -> Output {
    command()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// The stdout of a run that must have succeeded (else the test fails showing its stderr).
pub fn ok(out: Output) -> String {
    succeeded(out, "")
}

/// Runs `detente ARGS`, which must succeed, and returns its stdout.
pub fn run_ok(args: &[&str]) -> String {
    succeeded(detente(args, &[]), &format!("{args:?}: "))
}

fn succeeded(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The last line of `s` (where the CLI prints a new id or secret).
pub fn last_line(s: &str) -> String {
    s.lines().last().unwrap().to_string()
}

/// The admin member's secret a node wrote to `DATA/admin.credentials`.
pub fn admin_secret(data: &Path) -> String {
    let creds = std::fs::read_to_string(data.join("admin.credentials")).unwrap();
    creds.trim().strip_prefix("admin:").unwrap().to_string()
}

/// An HTTP Basic `Authorization` value for `name:secret`.
pub fn basic(credentials: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

/// An HTTP agent that returns error statuses as responses, bounded so a hung node fails the
/// test instead of hanging it.
pub fn agent() -> ureq::Agent {
    build_agent(None)
}

/// Like [`agent`], trusting only the CA certificate in the PEM file `ca`.
pub fn agent_trusting(ca: &Path) -> ureq::Agent {
    build_agent(Some(ca))
}

fn build_agent(ca: Option<&Path>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap();
        let cert = ureq::tls::Certificate::from_pem(&pem).unwrap();
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
                .build(),
        );
    }
    config.build().into()
}

/// Copies the directory tree `from` to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A CA and a leaf certificate for 127.0.0.1 signed by it, made in `dir` with the openssl
/// command: the paths of the CA's certificate, the leaf's certificate and the leaf's key.
pub fn certificates(dir: &Path) -> (String, String, String) {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (ca, ca_key, cert, key, csr, ext) = (
        p("ca.pem"),
        p("ca.key"),
        p("cert.pem"),
        p("key.pem"),
        p("leaf.csr"),
        p("leaf.ext"),
    );
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-days",
        "2",
        "-subj",
        "/CN=detente test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
    ]);
    openssl(&args);
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend(["-subj", "/CN=127.0.0.1", "-keyout", &key, "-out", &csr]);
    openssl(&args);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &ext,
        "-out",
        &cert,
    ]);
    (ca, cert, key)
}
