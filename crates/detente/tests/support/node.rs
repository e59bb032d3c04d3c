//! Long-running `detente` processes (`serve`, `psi serve`), killed when the test ends however it
//! ends, and raw HTTP/1.1 to them over loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{BIN, TAXII, admin_secret, agent_trusting, basic, command, detente, ok, scrub_env};

/// A child process killed (and reaped) when dropped, also when the test panics.
pub struct Process {
    /// The process.
    pub child: Child,
    /// The address it printed in its `listening on ADDR` line.
    pub listening: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which output stream carries a process's `listening on` line.
pub enum Announces {
    /// Standard output (`detente psi serve`).
    Stdout,
    /// Standard error (`detente serve`'s log).
    Stderr,
}

impl Process {
    /// Spawns `cmd` as it is configured (its `listening` stays empty).
    pub fn spawn(cmd: &mut Command) -> Process {
        Process {
            child: cmd.spawn().unwrap(),
            listening: String::new(),
        }
    }

    /// Runs `cmd` to its end capturing stdout, stderr and exit status, draining both pipes
    /// while it runs; a run not over within `limit` (a hang) is killed and fails the test.
    pub fn output_within(mut cmd: Command, limit: Duration) -> Output {
        let mut process = Process::spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()));
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut b = Vec::new();
                if let Some(mut pipe) = pipe {
                    pipe.read_to_end(&mut b).unwrap();
                }
                b
            })
        };
        let out = drain(process.child.stdout.take().map(|p| Box::new(p) as _));
        let err = drain(process.child.stderr.take().map(|p| Box::new(p) as _));
        let start = Instant::now();
        let status = loop {
            if let Some(s) = process.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                start.elapsed() < limit,
                "{cmd:?} did not finish within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Output {
            status,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        }
    }

    /// Spawns `cmd` and returns once it printed `listening on ADDR` on `stream`; the rest of
    /// that stream is drained so the process never blocks on a full pipe, the other discarded.
    pub fn listen(mut cmd: Command, stream: Announces) -> Process {
        let (out, err) = match stream {
            Announces::Stdout => (Stdio::piped(), Stdio::null()),
            Announces::Stderr => (Stdio::null(), Stdio::piped()),
        };
        let mut child = cmd.stdout(out).stderr(err).spawn().unwrap();
        let pipe: Box<dyn Read + Send> = match stream {
            Announces::Stdout => Box::new(child.stdout.take().unwrap()),
            Announces::Stderr => Box::new(child.stderr.take().unwrap()),
        };
        // Owned from here, so the process is killed even if it never announces.
        let mut process = Process {
            child,
            listening: String::new(),
        };
        let mut lines = BufReader::new(pipe).lines();
        process.listening = loop {
            let line = lines
                .next()
                .expect("process exited before listening")
                .unwrap();
            if let Some(addr) = line.trim().strip_prefix("listening on ") {
                break addr.to_string();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        process
    }
}

/// A `detente serve` node.
pub struct Node {
    /// The node process (its pid is the node's, also when started through a wrapper that
    /// execs it, such as `prlimit`).
    pub process: Process,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Its base URL, `http://ADDR` or `https://ADDR`.
    pub url: String,
    /// The admin member's secret.
    pub admin_secret: String,
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

    /// Starts `detente serve` over HTTPS with `extra` flags (its certificate among them),
    /// and returns once `/healthz` answers to a client trusting only the CA in `ca`.
    pub fn start_tls(data: &Path, extra: &[&str], ca: &Path) -> Node {
        let mut node = Node::spawn(data, &[], extra);
        node.url = format!("https://{}", node.addr);
        let agent = agent_trusting(ca);
        for _ in 0..200 {
            if agent
                .get(format!("{}/healthz", node.url))
                .call()
                .is_ok_and(|r| r.status().as_u16() == 200)
            {
                return node;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("node at {} never became ready", node.url);
    }

    /// Like [`Node::start`], but returns as soon as the node listens (it may still be
    /// writing its store), for nodes `/healthz` over plain HTTP cannot reach.
    pub fn spawn(data: &Path, wrapper: &[&str], extra: &[&str]) -> Node {
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(BIN);
                scrub_env(&mut c);
                c
            }
            None => command(),
        };
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra);
        let process = Process::listen(cmd, Announces::Stderr);
        let addr = process.listening.clone();
        Node {
            url: format!("http://{addr}"),
            addr,
            admin_secret: admin_secret(data),
            process,
        }
    }

    /// Writes `objects` (STIX JSON texts) as a bundle to `file` and pushes it to `collection`
    /// with `detente push` as the admin, with `extra` flags; the push must succeed.
    pub fn push(&self, file: &Path, collection: &str, objects: &[String], extra: &[&str]) {
        std::fs::write(
            file,
            format!(
                r#"{{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[{}]}}"#,
                objects.join(",")
            ),
        )
        .unwrap();
        let api = format!("{}/api/", self.url);
        let mut args = vec![
            "push",
            file.to_str().unwrap(),
            "--url",
            &api,
            "--collection",
            collection,
            "--user",
            "admin",
        ];
        args.extend_from_slice(extra);
        ok(detente(&args, &[("DETENTE_SECRET", &self.admin_secret)]));
    }

    /// The node's process id.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
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
             Accept: {TAXII}\r\n\r\n"
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
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}
