//! The test harness itself (`support/`): a node is killed and reaped however the test that
//! owns it ends, and a CLI run that hangs is killed and fails the test.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use support::{Node, Process, command, detente, ok, tempdir};

/// Whether process `pid` still exists (a zombie counts: it was not reaped).
fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn a_node_is_killed_and_reaped_when_its_test_panics() {
    let dir = tempdir();
    let data = dir.path().join("node");
    let mut pid = None;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let node = Node::start(&data, &[], &[]);
        pid = Some(node.pid());
        let (status, _) = node.get("/healthz", None, Duration::from_secs(5)).unwrap();
        assert_eq!(status, 200);
        panic!("the test fails while the node runs");
    }));
    assert!(outcome.is_err());
    let pid = pid.unwrap();
    assert!(!exists(pid), "node {pid} outlived its test");
    // Its admin credentials were read from the data directory it wrote.
    let creds = std::fs::read_to_string(data.join("admin.credentials")).unwrap();
    assert!(creds.starts_with("admin:"));
}

#[test]
fn a_hanging_run_is_killed_and_fails_the_test() {
    let dir = tempdir();
    let items = dir.path().join("items.txt");
    std::fs::write(&items, "a.example\n").unwrap();
    // `psi serve` never ends by itself.
    let mut cmd = command();
    cmd.args(["psi", "serve", "--listen", "127.0.0.1:0", "--items"])
        .arg(&items);
    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        Process::output_within(cmd, Duration::from_secs(1))
    }));
    assert!(
        outcome.is_err(),
        "a run that never ends was reported as ended"
    );
    assert!(start.elapsed() < Duration::from_secs(30));
    // The killed run was reaped: this thread, which spawned it, has no child left.
    let children = std::fs::read_to_string("/proc/thread-self/children").unwrap();
    assert_eq!(children.trim(), "", "left running: {children}");
}

#[test]
fn a_cli_run_captures_stdout_stderr_and_status() {
    let out = ok(detente(&["--version"], &[]));
    assert!(out.starts_with("detente "), "{out}");
    let bad = detente(&["no-such-command"], &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no-such-command"));
    assert!(bad.stdout.is_empty());
}
