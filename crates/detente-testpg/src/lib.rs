//! Tests only: a throwaway PostgreSQL cluster, so the PostgreSQL backend's tests need no
//! server set up beforehand.
//!
//! [`TestPg::start`] uses the server that `DETENTE_TEST_PG_URL` names if set (its role must
//! be allowed to create databases). Otherwise it runs `initdb` into a temporary directory,
//! starts `postgres` on a free loopback port with its unix socket in that directory, and
//! stops it and removes the directory when dropped. The binaries are found in
//! `DETENTE_TEST_PG_BIN`, else on `PATH`, else in the newest `/usr/lib/postgresql/*/bin`
//! (Debian's `postgresql` package, which `scripts/setup` installs). PostgreSQL refuses to
//! run as root, so as root the cluster runs as the `postgres` user (made by that package).
//!
//! The cluster trades durability for speed (`fsync=off`): it is for tests of behaviour, not
//! for measurements.
//!
//! Per-process state: none; each [`TestPg`] owns its cluster and stops it when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A PostgreSQL server for one test: its own cluster, or the one `DETENTE_TEST_PG_URL` names.
pub struct TestPg {
    url: String,
    cluster: Option<Cluster>,
    next_db: AtomicU32,
}

/// A cluster this process started.
struct Cluster {
    pg_ctl: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().into_owned();
        // Best effort: a failure to stop leaves a server whose directory is gone anyway.
        let _ = run(
            &self.pg_ctl,
            &["stop", "-D", &data, "-m", "immediate", "-w"],
            self.as_postgres,
        );
    }
}

fn run(bin: &Path, args: &[&str], as_postgres: bool) -> Result<String, String> {
    let mut cmd = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let out = cmd
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {}: {}\n{}",
            bin.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The directory holding `initdb` and `pg_ctl`.
fn bin_dir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("DETENTE_TEST_PG_BIN") {
        return Ok(PathBuf::from(d));
    }
    if let Some(path) = std::env::var_os("PATH")
        && let Some(d) = std::env::split_paths(&path).find(|d| d.join("initdb").is_file())
    {
        return Ok(d);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no PostgreSQL found (run scripts/setup): {e}"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| d.join("initdb").is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, d)| d)
        .ok_or_else(|| "no PostgreSQL found (run scripts/setup)".to_owned())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

impl TestPg {
    /// The server `DETENTE_TEST_PG_URL` names, or a fresh cluster of this process's own.
    pub fn start() -> Result<TestPg, String> {
        if let Ok(url) = std::env::var("DETENTE_TEST_PG_URL")
            && !url.is_empty()
        {
            return Ok(TestPg {
                url,
                cluster: None,
                next_db: AtomicU32::new(0),
            });
        }
        let bin = bin_dir()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("detente-pg-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        let data = dir.path().join("data");
        let root = dir.path().to_string_lossy().into_owned();
        if as_postgres {
            let out = Command::new("chown")
                .args(["postgres:", &root])
                .output()
                .map_err(|e| format!("chown: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "running as root, the cluster runs as the user postgres, which is missing \
                     (install Debian's postgresql package: scripts/setup): {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        let data_s = data.to_string_lossy().into_owned();
        run(
            &bin.join("initdb"),
            &[
                "-D",
                &data_s,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            as_postgres,
        )?;
        let pg_ctl = bin.join("pg_ctl");
        let log = dir.path().join("log").to_string_lossy().into_owned();
        // A port found free may be taken before the server binds it: try a few.
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let opts = format!(
                "-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB \
                 -c max_connections=200"
            );
            match run(
                &pg_ctl,
                &[
                    "start", "-D", &data_s, "-l", &log, "-w", "-t", "60", "-o", &opts,
                ],
                as_postgres,
            ) {
                Ok(_) => {
                    return Ok(TestPg {
                        url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                        cluster: Some(Cluster {
                            pg_ctl,
                            data,
                            as_postgres,
                            _dir: dir,
                        }),
                        next_db: AtomicU32::new(0),
                    });
                }
                Err(e) => {
                    last_err = format!(
                        "{e}\n{}",
                        std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
                    )
                }
            }
        }
        Err(last_err)
    }

    /// The URL of the server's maintenance database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether this process started the cluster (else it is `DETENTE_TEST_PG_URL`'s).
    pub fn owned(&self) -> bool {
        self.cluster.is_some()
    }

    /// Creates a new empty database and returns its URL.
    pub fn fresh_database(&self) -> Result<String, String> {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        // Unique across processes sharing one DETENTE_TEST_PG_URL server.
        let name = format!(
            "detente_t{}_{}_{n}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros())
                .unwrap_or(0)
        );
        let mut c = postgres::Client::connect(&self.url, postgres::NoTls)
            .map_err(|e| format!("connect to {}: {e}", self.url))?;
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| format!("create database {name}: {e}"))?;
        let (url, query) = match self.url.split_once('?') {
            Some((u, q)) => (u, format!("?{q}")),
            None => (self.url.as_str(), String::new()),
        };
        let base = url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .ok_or_else(|| format!("not a database URL: {}", self.url))?;
        Ok(format!("{base}/{name}{query}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_serves_and_stops() {
        let pg = TestPg::start().unwrap();
        let url = pg.fresh_database().unwrap();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let one: i32 = c.query_one("SELECT 1", &[]).unwrap().get(0);
        assert_eq!(one, 1);
        drop(c);
        let owned = pg.owned();
        drop(pg);
        if owned {
            assert!(
                postgres::Client::connect(&url, postgres::NoTls).is_err(),
                "the cluster is gone after drop"
            );
        }
    }
}
