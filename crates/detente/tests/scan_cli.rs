//! `detente scan` end to end: output contract, exit codes, bad input, sightings, follow.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_detente");

const STIX: &str = r#"{"type":"bundle","id":"bundle--1","objects":[
 {"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000001","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern":"[domain-name:value = 'evil.com']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"},
 {"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000002","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern":"[ipv4-addr:value = '10.0.0.0/8'] OR [ipv4-addr:value = '10.1.0.0/16']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"},
 {"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000003","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern":"[ipv4-addr:value = '9.9.9.9']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","valid_until":"2024-02-01T00:00:00Z"},
 {"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000005","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern":"[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e' AND file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"},
 {"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000004","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern":"[url:value = 'http://bad.org/x.php']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}
]}"#;

fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("ind.json"), STIX).unwrap();
    d
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("scan")
        .args(args)
        .current_dir(dir)
        .env("DETENTE_STATE_DIR", dir.join("state"))
        .output()
        .unwrap()
}

fn hits(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn text_log_hits_and_contract() {
    let d = setup();
    std::fs::write(d.path().join("a.log"), "x notevil.com evil.com.au 9.9.9.9\nconnect a.Evil.COM. from 10.1.2.3:443\nGET http://BAD.org:80/x.php\n").unwrap();
    let o = run(d.path(), &["--indicators", "ind.json", "a.log"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let h = hits(&o);
    let first = String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    let keys = [
        "file",
        "line",
        "field",
        "observed",
        "indicator",
        "indicator_id",
        "kind",
        "action",
        "score",
    ];
    let pos: Vec<usize> = keys
        .iter()
        .map(|k| first.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{first}");
    assert_eq!(h[0].as_object().unwrap().len(), keys.len());
    let rows: Vec<(u64, &str, &str)> = h
        .iter()
        .map(|x| {
            (
                x["line"].as_u64().unwrap(),
                x["indicator"].as_str().unwrap(),
                x["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (2, "evil.com", "subdomain"),
            (2, "10.0.0.0/8", "cidr"),
            (2, "10.1.0.0/16", "cidr"),
            (3, "http://bad.org/x.php", "url")
        ]
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 expired"));
    // Exact-domain switch.
    let o = run(
        d.path(),
        &["--indicators", "ind.json", "--exact-domains", "a.log"],
    );
    assert!(hits(&o).iter().all(|x| x["kind"] != "subdomain"));
}

#[test]
fn complex_patterns_run_on_selected_records() {
    let d = setup();
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let other = "a".repeat(64);
    let log =
        format!("file x.exe md5={md5} sha256={sha256}\nfile y.exe md5={md5} sha256={other}\n");
    std::fs::write(d.path().join("a.log"), log).unwrap();
    let o = run(d.path(), &["--indicators", "ind.json", "a.log"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let h = hits(&o);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["kind"], "pattern");
    assert_eq!(h[0]["line"], 1);
    assert_eq!(
        h[0]["indicator_id"],
        "indicator--00000000-0000-4000-8000-000000000005"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 complex patterns"));
}

#[test]
fn allowlist_inform_drop_and_partial_cidr() {
    let d = setup();
    std::fs::write(
        d.path().join("allow.json"),
        r#"{"name":"test","type":"cidr","list":["10.1.2.0/24"]}"#,
    )
    .unwrap();
    std::fs::write(d.path().join("a.log"), "10.1.2.3\n10.1.3.3\n").unwrap();
    let o = run(
        d.path(),
        &[
            "--indicators",
            "ind.json",
            "--allowlist",
            "allow.json",
            "a.log",
        ],
    );
    let h = hits(&o);
    assert_eq!(h.len(), 4);
    assert!(
        h.iter()
            .filter(|x| x["line"] == 1)
            .all(|x| x["action"] == "inform")
    );
    assert!(
        h.iter()
            .filter(|x| x["line"] == 2)
            .all(|x| x["action"] == "alert")
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("allowlist entry 10.1.2.0/24 covers part of CIDR indicator 10.0.0.0/8"),
        "{err}"
    );
    let o = run(
        d.path(),
        &[
            "--indicators",
            "ind.json",
            "--allowlist",
            "allow.json",
            "--drop-allowlisted",
            "a.log",
        ],
    );
    assert!(
        hits(&o)
            .iter()
            .all(|x| x["line"] == 2 && x["action"] == "alert")
    );
}

#[test]
fn bad_input_warns_with_file_and_line_and_goes_on() {
    let d = setup();
    let p = d.path();
    // Truncated gzip: the readable part is still scanned.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..20000 {
        writeln!(gz, "line {i} host{i}.example.net").unwrap();
    }
    writeln!(gz, "evil.com").unwrap();
    let full = gz.finish().unwrap();
    std::fs::write(p.join("trunc.log.gz"), &full[..full.len() - 30]).unwrap();
    let mut garbage = b"evil.com first\n".to_vec();
    garbage.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    garbage.extend_from_slice(b"\n");
    garbage.extend(std::iter::repeat_n(b'a', 10 << 20));
    garbage.extend_from_slice(b"\nlast evil.com\n");
    std::fs::write(p.join("garbage.log"), &garbage).unwrap();
    std::fs::write(p.join("latin1.log"), b"ok\ncaf\xe9 evil.com\n").unwrap();
    std::fs::write(
        p.join("noheader.log"),
        "1521911720.865716\tC1\t10.47.1.100\t41772\tevil.com\n",
    )
    .unwrap();
    let o = run(
        p,
        &[
            "--indicators",
            "ind.json",
            "trunc.log.gz",
            "garbage.log",
            "latin1.log",
            "noheader.log",
            "--format",
            "auto",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("trunc.log.gz: read error"), "{err}");
    assert!(
        err.contains("garbage.log:2: binary data") || err.contains("garbage.log:2: invalid UTF-8"),
        "{err}"
    );
    assert!(err.contains("latin1.log:2: invalid UTF-8 in line"), "{err}");
    assert!(
        hits(&o)
            .iter()
            .any(|x| x["file"] == "latin1.log" && x["line"] == 2)
    );
    assert!(err.contains("exceeds the 1048576-byte limit"), "{err}");
    assert!(
        err.contains("noheader.log:1:") && err.contains("no #fields header"),
        "{err}"
    );
    let h = hits(&o);
    let garbage_lines: Vec<u64> = h
        .iter()
        .filter(|x| x["file"] == "garbage.log")
        .map(|x| x["line"].as_u64().unwrap())
        .collect();
    let last = garbage.iter().filter(|c| **c == b'\n').count() as u64;
    assert_eq!(garbage_lines.first(), Some(&1));
    assert_eq!(garbage_lines.last(), Some(&last));
    assert!(h.iter().any(|x| x["file"] == "noheader.log"));
    assert!(h.iter().filter(|x| x["file"] == "trunc.log.gz").count() <= 1);
    // Forced Zeek format without headers warns too.
    let o = run(
        p,
        &[
            "--indicators",
            "ind.json",
            "--format",
            "zeek",
            "noheader.log",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    // Usage errors exit 2.
    assert_eq!(run(p, &["a.log"]).status.code(), Some(2));
    assert_eq!(
        run(p, &["--indicators", "missing.json", "a.log"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn sightings_remember_identity() {
    let d = setup();
    std::fs::write(d.path().join("a.log"), "evil.com\nevil.com\n10.9.9.9\n").unwrap();
    let o = run(
        d.path(),
        &[
            "--indicators",
            "ind.json",
            "--sightings",
            "s1.json",
            "a.log",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let b: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("s1.json")).unwrap()).unwrap();
    let objs = b["objects"].as_array().unwrap();
    assert_eq!(objs[0]["type"], "identity");
    let ident = objs[0]["id"].as_str().unwrap().to_string();
    let s: Vec<_> = objs.iter().filter(|o| o["type"] == "sighting").collect();
    assert_eq!(s.len(), 2);
    let evil = s
        .iter()
        .find(|o| o["sighting_of_ref"] == "indicator--00000000-0000-4000-8000-000000000001")
        .unwrap();
    assert_eq!(evil["count"], 2);
    assert_eq!(evil["where_sighted_refs"][0], ident.as_str());
    run(
        d.path(),
        &[
            "--indicators",
            "ind.json",
            "--sightings",
            "s2.json",
            "a.log",
        ],
    );
    let b2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("s2.json")).unwrap()).unwrap();
    assert_eq!(b2["objects"][0]["id"], ident.as_str());
    run(
        d.path(),
        &[
            "--indicators",
            "ind.json",
            "--identity",
            "ACME CERT",
            "--sightings",
            "s3.json",
            "a.log",
        ],
    );
    let b3: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("s3.json")).unwrap()).unwrap();
    assert_eq!(b3["objects"][0]["name"], "ACME CERT");
    // Sighting times come from the records when the format has them.
    let log = "{\"ts\":\"2020-01-02T03:04:05.678Z\",\"q\":\"evil.com\"}\n{\"ts\":\"2020-01-01T00:00:00Z\",\"q\":\"evil.com\"}\n";
    std::fs::write(d.path().join("b.log"), log).unwrap();
    run(
        d.path(),
        &[
            "--indicators",
            "ind.json",
            "--sightings",
            "s4.json",
            "b.log",
        ],
    );
    let b4: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("s4.json")).unwrap()).unwrap();
    assert_eq!(b4["objects"][1]["first_seen"], "2020-01-01T00:00:00.000Z");
    assert_eq!(b4["objects"][1]["last_seen"], "2020-01-02T03:04:05.678Z");
}

#[test]
fn follow_reports_appended_lines() {
    let d = setup();
    let log = d.path().join("grow.log");
    std::fs::write(&log, "nothing here\n").unwrap();
    let mut child = Command::new(BIN)
        .args(["scan", "--indicators", "ind.json", "--follow", "grow.log"])
        .current_dir(d.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"partial evil").unwrap();
    f.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    f.write_all(b".com line\n").unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let h: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(h["line"], 2);
    assert_eq!(h["observed"], "evil.com");
}

/// A one-shot stand-in for a TAXII 2.1 server that is not detente, on loopback: serves one
/// indicator page, has no `/whoami` (404), accepts one POST, and hands back the raw requests it
/// saw.
fn taxii_stub() -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let (mut sock, _) = listener.accept().unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let header_end = loop {
                let n = sock.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break p + 4;
                }
            };
            let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < header_end + len {
                let n = sock.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
            let req = String::from_utf8_lossy(&buf).to_string();
            let body = if req.starts_with("GET") {
                serde_json::json!({"more": false, "objects": serde_json::from_str::<serde_json::Value>(STIX).unwrap()["objects"]}).to_string()
            } else {
                r#"{"id":"status--1","status":"complete","total_count":3,"success_count":3,"failure_count":0,"pending_count":0}"#.to_string()
            };
            let (status, body) = if req.starts_with("GET /whoami") {
                ("404 Not Found", "{}".to_string())
            } else if req.starts_with("GET") {
                ("200 OK", body)
            } else {
                ("202 Accepted", body)
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/taxii+json;version=2.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(resp.as_bytes()).unwrap();
            seen.push(req);
        }
        seen
    });
    (format!("http://{addr}/api1/"), handle)
}

#[test]
fn taxii_source_and_push() {
    let d = setup();
    std::fs::write(d.path().join("a.log"), "evil.com\n").unwrap();
    std::fs::write(
        d.path().join("creds.json"),
        r#"{"user": "alice", "secret": "s3cret"}"#,
    )
    .unwrap();
    let (root, server) = taxii_stub();
    let o = Command::new(BIN)
        .args([
            "scan",
            "--indicators",
            &format!("taxii:{root}#coll-1"),
            "--push",
            &root,
            "--collection",
            "coll-1",
            "a.log",
        ])
        .current_dir(d.path())
        .env("DETENTE_STATE_DIR", d.path().join("state"))
        .env("DETENTE_CREDENTIALS", d.path().join("creds.json"))
        .env_remove("DETENTE_USER")
        .env_remove("DETENTE_SECRET")
        .env_remove("DETENTE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(hits(&o).len(), 1);
    let seen = server.join().unwrap();
    assert!(
        seen[0].starts_with("GET /api1/collections/coll-1/objects/?"),
        "{}",
        seen[0]
    );
    assert!(
        seen[0]
            .to_ascii_lowercase()
            .contains("accept: application/taxii+json;version=2.1")
    );
    // alice:s3cret
    assert!(seen[0].contains("Basic YWxpY2U6czNjcmV0"), "{}", seen[0]);
    // Not a detente node: no member identity, so the remembered one is used.
    assert!(seen[1].starts_with("GET /whoami "), "{}", seen[1]);
    assert!(
        seen[2].starts_with("POST /api1/collections/coll-1/objects/ "),
        "{}",
        seen[2]
    );
    assert!(
        seen[2]
            .to_ascii_lowercase()
            .contains("content-type: application/taxii+json;version=2.1")
    );
    let body = &seen[2][seen[2].find("\r\n\r\n").unwrap() + 4..];
    let env: serde_json::Value = serde_json::from_str(body).unwrap();
    let types: Vec<&str> = env["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["identity", "sighting"]);
}
