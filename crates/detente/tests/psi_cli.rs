//! End to end: the real `detente psi serve` and `detente psi query` processes on loopback.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::{Announces, Process, command, tempdir};

/// Starts `detente psi serve` on a free loopback port; its URL is the returned `listening`.
fn serve(items: &Path, extra: &[&str]) -> Process {
    let mut cmd = command();
    cmd.args(["psi", "serve", "--items"])
        .arg(items)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra);
    Process::listen(cmd, Announces::Stdout)
}

fn query(items: &Path, url: &str, extra: &[&str]) -> Output {
    command()
        .args(["psi", "query", "--items"])
        .arg(items)
        .args(["--peer", url])
        .args(extra)
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn serve_and_query_processes_agree_with_a_plain_set_intersection() {
    let tmp = tempdir();
    let dir = tmp.path();
    let answerer: Vec<String> = (0..2000)
        .map(|i| format!("srv{i}.bad-actor.example"))
        .collect();
    let mut querier: Vec<String> = (0..1800).map(|i| format!("cli{i}.phish.example")).collect();
    // 200 shared items, written in upper case by the querier, plus a duplicate and a comment.
    querier.extend((0..200).map(|i| format!("SRV{}.Bad-Actor.Example", i * 10)));
    querier.push("srv0.bad-actor.example.".to_string());
    querier.push("# not an item".to_string());
    let a = write(dir, "answerer.txt", &answerer);
    let q = write(dir, "querier.txt", &querier);
    let server = serve(&a, &["--token", "secret"]);

    let out = query(&q, &server.listening, &["--token", "secret"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    // Expected independently: the querier's own lines whose lower-cased, dot-stripped form
    // is an answerer line, in the querier's order.
    let answer_set: std::collections::HashSet<&str> = answerer.iter().map(String::as_str).collect();
    let expected: Vec<String> = querier
        .iter()
        .filter(|l| answer_set.contains(l.to_lowercase().trim_end_matches('.')))
        .cloned()
        .collect();
    assert_eq!(expected.len(), 201);
    assert_eq!(got, expected);

    let result = dir.join("count.txt");
    let out = query(
        &q,
        &server.listening,
        &[
            "--token",
            "secret",
            "--count-only",
            "--output",
            result.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&result).unwrap().trim(), "200");

    let out = query(&q, &server.listening, &["--token", "wrong"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}

#[test]
fn cap_and_budget_refusals_reach_the_user() {
    let tmp = tempdir();
    let dir = tmp.path();
    let answerer: Vec<String> = (0..50).map(|i| format!("a{i}.example")).collect();
    let querier: Vec<String> = (0..60).map(|i| format!("q{i}.example")).collect();
    let a = write(dir, "answerer.txt", &answerer);
    let q = write(dir, "querier.txt", &querier);

    let server = serve(&a, &["--max-items", "59"]);
    let out = query(&q, &server.listening, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("413") && err.contains("at most 59"), "{err}");
    drop(server);

    let server = serve(&a, &["--budget-items", "150", "--budget-window", "900"]);
    assert!(query(&q, &server.listening, &[]).status.success());
    let out = query(&q, &server.listening, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("429") && err.contains("retry after"), "{err}");
}

#[test]
fn plain_http_off_loopback_is_refused() {
    let tmp = tempdir();
    let dir = tmp.path();
    let f = write(dir, "items.txt", &["a.example".to_string()]);
    let out = query(&f, "http://192.0.2.1:7807", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = command()
        .args(["psi", "serve", "--items"])
        .arg(&f)
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("non-loopback"));
}
