//! What the witness tests share: a real `detente serve` process, killed however a test ends.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_detente");

/// A node process.
pub struct Node {
    /// The process.
    pub child: Child,
    /// Its base URL.
    pub url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An agent that returns error statuses as responses.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Starts `detente serve` on a free loopback port with the log origin `origin`, and waits until
/// it answers `/healthz`.
pub fn start_node(data: &Path, origin: &str) -> Node {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--origin",
            origin,
            "--data",
        ])
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take();
    let mut node = Node {
        child,
        url: String::new(),
    };
    let mut lines = BufReader::new(stderr.unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("node exited before listening").unwrap();
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    node.url = format!("http://{addr}");
    let a = agent();
    for _ in 0..200 {
        if a.get(&format!("{}/healthz", node.url))
            .call()
            .is_ok_and(|r| r.status().as_u16() == 200)
        {
            return node;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("node at {} never became ready", node.url);
}
