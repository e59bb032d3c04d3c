//! A real `detente serve` process for tests, and raw HTTP/1.1 over loopback.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;

/// The `detente` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_detente");

/// A node process, killed when the test ends however it ends.
pub struct Node {
    /// The node process (its pid is the node's, also when started through a wrapper that
    /// execs it, such as `prlimit`).
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The admin member's secret.
    pub admin_secret: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// Starts `detente serve` on a free loopback port, run through `wrapper` (a command that
    /// execs the rest, or nothing), with `extra` serve flags; returns once `/healthz` answers.
    pub fn start(data: &Path, wrapper: &[&str], extra: &[&str]) -> Node {
        let node = Node::spawn(data, wrapper, extra);
        for _ in 0..200 {
            if node
                .get("/healthz", None, Duration::from_secs(2))
                .is_ok_and(|(status, _)| status == 200)
            {
                return node;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("node at {} never became ready", node.addr);
    }

    /// Like [`Node::start`], but returns as soon as the node listens (it may still be
    /// writing its store), for nodes `/healthz` over plain HTTP cannot reach.
    pub fn spawn(data: &Path, wrapper: &[&str], extra: &[&str]) -> Node {
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .env_remove("DETENTE_DATA")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("node exited before listening").unwrap();
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.to_string();
            }
        };
        // Keep draining the node's log so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let creds = std::fs::read_to_string(data.join("admin.credentials")).unwrap();
        let admin_secret = creds.trim().strip_prefix("admin:").unwrap().to_string();
        Node {
            child,
            addr,
            admin_secret,
        }
    }

    /// One `GET` on a fresh connection with optional Basic credentials (`name:secret`):
    /// (status, body).
    pub fn get(
        &self,
        path: &str,
        credentials: Option<&str>,
        timeout: Duration,
    ) -> std::io::Result<(u16, String)> {
        let auth = credentials
            .map(|c| format!("Authorization: {}\r\n", basic(c)))
            .unwrap_or_default();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\
             Accept: application/taxii+json;version=2.1\r\n\r\n"
        );
        self.exchange(request.as_bytes(), timeout)
    }

    /// Sends raw bytes on a fresh connection and reads the reply to its end: (status, body).
    pub fn exchange(&self, request: &[u8], timeout: Duration) -> std::io::Result<(u16, String)> {
        let addr = self.addr.parse().map_err(std::io::Error::other)?;
        let mut s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.write_all(request)?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_owned();
        Ok((status, body))
    }

    /// A line of `/proc/PID/status` of the node, in kB (e.g. `VmHWM`).
    pub fn proc_status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

/// An HTTP Basic `Authorization` value for `name:secret`.
pub fn basic(credentials: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}
