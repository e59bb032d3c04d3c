//! `detente scan` end to end: output contract, exit codes, bad input, sightings, follow; the
//! trust rules of issue 14 (corroboration, decay, false positives) and the real-data run.

mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use detente_scan::sighting::rfc3339_millis;
use support::{Process, command, tempdir};

const DAY_MS: i64 = 86_400_000;

const STIX: &str = r#"{"type":"bundle","id":"bundle--1","objects":[
 {"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000001","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern":"[domain-name:value = 'evil.com']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"},
 {"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000002","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern":"[ipv4-addr:value = '10.0.0.0/8'] OR [ipv4-addr:value = '10.1.0.0/16']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"},
 {"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000003","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern":"[ipv4-addr:value = '9.9.9.9']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","valid_until":"2024-02-01T00:00:00Z"},
 {"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000005","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern":"[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e' AND file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"},
 {"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000004","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern":"[url:value = 'http://bad.org/x.php']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}
]}"#;

fn setup() -> tempfile::TempDir {
    let d = tempdir();
    std::fs::write(d.path().join("ind.json"), STIX).unwrap();
    d
}

fn run(dir: &Path, args: &[&str]) -> Output {
    command()
        .arg("scan")
        .args(args)
        .current_dir(dir)
        .env("DETENTE_STATE_DIR", dir.join("state"))
        .output()
        .unwrap()
}

/// The hits of a scan that ran to its end (status 0 or 1).
fn hits(o: &Output) -> Vec<serde_json::Value> {
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{:?}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The one hit, of kind `pattern`, of a scan without problems (status 0).
fn one_pattern_hit(o: &Output) -> Vec<serde_json::Value> {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let h = hits(o);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["kind"], "pattern");
    h
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
    let h = one_pattern_hit(&o);
    assert_eq!(h[0]["line"], 1);
    assert_eq!(
        h[0]["indicator_id"],
        "indicator--00000000-0000-4000-8000-000000000005"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 complex patterns"));
}

#[test]
fn patterns_across_records_name_every_record_across_logs() {
    let d = tempdir();
    let p = "[domain-name:value = 'evil.example'] FOLLOWEDBY [ipv4-addr:value = '203.0.113.9'] WITHIN 300 SECONDS";
    let ind = serde_json::json!({"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--00000000-0000-4000-8000-000000000009",
         "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "pattern": p,
         "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"}]});
    std::fs::write(d.path().join("ind.json"), ind.to_string()).unwrap();
    let header = |fields: &str, types: &str| {
        format!(
            "#separator \\x09\n#set_separator\t,\n#path\tx\n#fields\t{fields}\n#types\t{types}\n"
        )
    };
    // Another name, the name, its address 100 s later (a hit), the address again 500 s later.
    let mut dns = header("ts\tquery\tanswers", "time\tstring\tvector[string]");
    dns.push_str("1700000000.000000\tquiet.example\t192.0.2.1\n");
    dns.push_str("1700000010.000000\tevil.example\t-\n");
    let mut conn = header("ts\tid.orig_h\tid.resp_h", "time\taddr\taddr");
    conn.push_str("1700000110.000000\t10.0.0.5\t203.0.113.9\n");
    conn.push_str("1700000610.000000\t10.0.0.5\t203.0.113.9\n");
    std::fs::write(d.path().join("1-dns.log"), dns).unwrap();
    std::fs::write(d.path().join("2-conn.log"), conn).unwrap();
    let o = run(
        d.path(),
        &["--indicators", "ind.json", "1-dns.log", "2-conn.log"],
    );
    let h = one_pattern_hit(&o);
    assert_eq!(h[0]["file"], "2-conn.log");
    assert_eq!(h[0]["line"], 6);
    assert_eq!(h[0]["observed"], "203.0.113.9");
    assert_eq!(h[0]["indicator"], p);
    assert_eq!(
        h[0]["records"],
        serde_json::json!([
            {"file": "1-dns.log", "line": 7, "field": "query", "observed": "evil.example"},
            {"file": "2-conn.log", "line": 6, "field": "id.resp_h", "observed": "203.0.113.9"},
        ])
    );
    // Without a time the record cannot enter the window: a warning, exit 1, no hit.
    std::fs::write(
        d.path().join("3.jsonl"),
        "{\"q\": \"evil.example\"}\n{\"ts\": 1700000700, \"a\": \"203.0.113.9\"}\n",
    )
    .unwrap();
    let o = run(d.path(), &["--indicators", "ind.json", "3.jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(hits(&o).is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("3.jsonl: 1 records selected by cross-record patterns carry no time"),
        "{err}"
    );
}

/// Logs of one period are merged by time (issue 14): given first, an hour of `conn.log` (Zeek)
/// holds the address at its start and again at its end; given second, a syslog log (RFC 3164,
/// no year) holds the name just before the first. Read one after the other, the name would
/// come an hour behind the latest time seen: late, no hit. Its year comes from `--syslog-year`
/// or the log's last write; placed in another year, it matches nothing.
#[test]
fn logs_of_one_period_merge_by_time_with_syslog_years() {
    let d = tempdir();
    let p = "[domain-name:value = 'evil.example'] FOLLOWEDBY [ipv4-addr:value = '203.0.113.9'] WITHIN 300 SECONDS";
    let ind = serde_json::json!({"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--00000000-0000-4000-8000-000000000009",
         "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "pattern": p,
         "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"}]});
    std::fs::write(d.path().join("ind.json"), ind.to_string()).unwrap();
    let conn = concat!(
        "#separator \\x09\n#set_separator\t,\n#path\tconn\n#fields\tts\tid.orig_h\tid.resp_h\n",
        "#types\ttime\taddr\taddr\n",
        "1700000100.000000\t10.0.0.5\t203.0.113.9\n",
        "1700003600.000000\t10.0.0.5\t203.0.113.9\n",
    );
    // 1700000050 is 2023-11-14T22:14:10Z.
    let syslog = concat!(
        "<30>Nov 14 22:13:30 gw dnsmasq[7]: query[A] quiet.example from 10.0.0.5\n",
        "<30>Nov 14 22:14:10 gw dnsmasq[7]: query[A] evil.example from 10.0.0.5\n",
    );
    std::fs::write(d.path().join("conn.log"), conn).unwrap();
    let dns = d.path().join("dns.syslog");
    std::fs::write(&dns, syslog).unwrap();
    let args = ["--indicators", "ind.json", "conn.log", "dns.syslog"];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = extra.to_vec();
        a.extend(args);
        run(d.path(), &a)
    };
    let want = serde_json::json!([
        {"file": "dns.syslog", "line": 2, "field": "msg", "observed": "evil.example"},
        {"file": "conn.log", "line": 6, "field": "id.resp_h", "observed": "203.0.113.9"},
    ]);
    let h = one_pattern_hit(&with(&["--syslog-year", "2023"]));
    assert_eq!(
        (&h[0]["file"], &h[0]["line"]),
        (&"conn.log".into(), &6.into())
    );
    assert_eq!(h[0]["records"], want);
    // Written this year (the file's time now), the records are of this year: no match.
    let o = with(&[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(hits(&o).is_empty());
    assert!(hits(&with(&["--syslog-year", "2024"])).is_empty());
    // Last written the day after: 2023.
    let written = UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 86_400);
    std::fs::File::options()
        .append(true)
        .open(&dns)
        .unwrap()
        .set_modified(written)
        .unwrap();
    assert_eq!(one_pattern_hit(&with(&[]))[0]["records"], want);
}

#[test]
fn protected_domains_report_lookalikes_beside_hits() {
    let d = setup();
    std::fs::write(d.path().join("protected.txt"), "# ours\nsos.ca.gov\n").unwrap();
    std::fs::write(d.path().join("allow.txt"), "s0s.ca.gov\n").unwrap();
    std::fs::write(
        d.path().join("a.log"),
        "sos.ca.gov www.sos.ca.gov evil.com\nvisit sos-ca-gov.com and sos-ca-gov.com\nmail from s0s.ca.gov\n",
    )
    .unwrap();
    let args = [
        "--indicators",
        "ind.json",
        "--protected",
        "protected.txt",
        "--allowlist",
        "allow.txt",
        "--sightings",
        "s.json",
        "--identity",
        "tester",
        "a.log",
    ];
    let o = run(d.path(), &args);
    let h = hits(&o);
    let got: Vec<(u64, &str, &str, &str)> = h
        .iter()
        .map(|x| {
            (
                x["line"].as_u64().unwrap(),
                x["observed"].as_str().unwrap(),
                x["kind"].as_str().unwrap(),
                x["action"].as_str().unwrap(),
            )
        })
        .collect();
    // The protected domain and its real subdomain are never look-alikes; a name repeated in a
    // line is reported once; an allowlisted look-alike is `inform`.
    assert_eq!(
        got,
        [
            (1, "evil.com", "domain", "alert"),
            (2, "sos-ca-gov.com", "lookalike", "alert"),
            (3, "s0s.ca.gov", "lookalike", "inform"),
        ]
    );
    assert_eq!(h[1]["protected"], "sos.ca.gov");
    assert_eq!(h[1]["technique"], "various");
    assert_eq!(h[1]["score"], 90.0);
    assert_eq!(h[2]["technique"], "homoglyph");
    assert_eq!(h[2]["allowlist"]["entry"], "s0s.ca.gov");
    let bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("s.json")).unwrap()).unwrap();
    let objects = bundle["objects"].as_array().unwrap();
    let generated: Vec<&serde_json::Value> = objects
        .iter()
        .filter(|o| o["pattern_type"] == "detente-lookalike")
        .collect();
    // Only the alerting look-alike is sighted, through its generated indicator.
    assert_eq!(generated.len(), 1, "{objects:?}");
    assert_eq!(generated[0]["id"], h[1]["indicator_id"]);
    assert_eq!(generated[0]["pattern"], "various:sos.ca.gov");
    assert!(objects.iter().any(|o| o["type"] == "sighting"
        && o["sighting_of_ref"] == h[1]["indicator_id"]
        && o["count"] == 1));
    // The same id on every run and for every party.
    std::fs::write(d.path().join("b.log"), "sos-ca-gov.com\n").unwrap();
    let o = run(
        d.path(),
        &[
            "--indicators",
            "ind.json",
            "--protected",
            "protected.txt",
            "b.log",
        ],
    );
    assert_eq!(hits(&o)[0]["indicator_id"], h[1]["indicator_id"]);
    // A bad protected domain stops the scan, naming the line.
    std::fs::write(d.path().join("bad.txt"), "sos.ca.gov\nnot a domain\n").unwrap();
    let o = run(
        d.path(),
        &[
            "--indicators",
            "ind.json",
            "--protected",
            "bad.txt",
            "b.log",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.txt:2"));
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
    let mut cmd = command();
    cmd.args(["scan", "--indicators", "ind.json", "--follow", "grow.log"])
        .current_dir(d.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut scan = Process::spawn(&mut cmd);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"partial evil").unwrap();
    f.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    f.write_all(b".com line\n").unwrap();
    let mut out = BufReader::new(scan.child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    drop(scan);
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
    let o = command()
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

/// A domain-name indicator; `extra` adds properties.
fn indicator(n: u32, domain: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z",
        "pattern": format!("[domain-name:value = '{domain}']"), "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
    });
    if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

fn bundle(dir: &Path, name: &str, objects: Vec<serde_json::Value>) {
    let b = serde_json::json!({"type": "bundle", "id": "bundle--1", "objects": objects});
    std::fs::write(dir.join(name), b.to_string()).unwrap();
}

/// The hit on `domain`, which must be the only one.
fn on<'a>(h: &'a [serde_json::Value], domain: &str) -> &'a serde_json::Value {
    let mut it = h.iter().filter(|x| x["observed"] == domain);
    let x = it
        .next()
        .unwrap_or_else(|| panic!("no hit on {domain}: {h:?}"));
    assert!(it.next().is_none(), "{h:?}");
    x
}

#[test]
fn one_contributor_alone_never_alerts_at_k2() {
    let d = tempdir();
    let p = d.path();
    let a = serde_json::json!({"created_by_ref": "identity--00000000-0000-4000-8000-00000000000a"});
    let b = serde_json::json!({"created_by_ref": "identity--00000000-0000-4000-8000-00000000000b"});
    // Partner A says evil.example twice (two indicators, two files); A and B both say
    // shared.example; B's other file says nothing about who wrote it.
    bundle(
        p,
        "a1.json",
        vec![
            indicator(1, "evil.example", a.clone()),
            indicator(2, "shared.example", a.clone()),
        ],
    );
    bundle(p, "a2.json", vec![indicator(3, "evil.example", a.clone())]);
    bundle(p, "b.json", vec![indicator(4, "shared.example", b)]);
    bundle(
        p,
        "anon.json",
        vec![
            indicator(5, "anon.example", serde_json::json!({})),
            indicator(6, "anon.example", serde_json::json!({})),
        ],
    );
    std::fs::write(
        p.join("a.log"),
        "evil.example\nshared.example\nanon.example\n",
    )
    .unwrap();
    let srcs = [
        "--indicators",
        "a1.json",
        "--indicators",
        "a2.json",
        "--indicators",
        "b.json",
        "--indicators",
        "anon.json",
    ];
    let k2 = hits(&run(
        p,
        &[&srcs[..], &["--min-corroboration", "2", "a.log"]].concat(),
    ));
    let evil: Vec<_> = k2
        .iter()
        .filter(|x| x["observed"] == "evil.example")
        .collect();
    assert_eq!(evil.len(), 2, "{k2:?}");
    assert!(
        evil.iter()
            .all(|x| x["action"] == "inform" && x["contributors"] == 1),
        "{evil:?}"
    );
    let shared: Vec<_> = k2
        .iter()
        .filter(|x| x["observed"] == "shared.example")
        .collect();
    assert_eq!(shared.len(), 2);
    assert!(
        shared
            .iter()
            .all(|x| x["action"] == "alert" && x["contributors"] == 2)
    );
    // Unattributed indicators of one file are one contributor.
    assert!(
        k2.iter()
            .filter(|x| x["observed"] == "anon.example")
            .all(|x| x["action"] == "inform" && x["contributors"] == 1)
    );
    // K = 1 (the default) alerts on all and counts nothing.
    let k1 = hits(&run(p, &[&srcs[..], &["a.log"]].concat()));
    assert_eq!(k1.len(), 6);
    assert!(
        k1.iter()
            .all(|x| x["action"] == "alert" && x.get("contributors").is_none())
    );
    let o = run(
        p,
        &[&srcs[..], &["--min-corroboration", "0", "a.log"]].concat(),
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn scores_decay_drop_with_false_positives_and_expire() {
    let d = tempdir();
    let p = d.path();
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let ago = |days: i64| serde_json::Value::String(rfc3339_millis(now - days * DAY_MS));
    let fp = |n: u32, by: &str| {
        serde_json::json!({
            "type": "sighting", "spec_version": "2.1",
            "id": format!("sighting--00000000-0000-4000-8000-{n:012}"),
            "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z",
            "sighting_of_ref": "indicator--00000000-0000-4000-8000-000000000004",
            "created_by_ref": by, "x_detente_false_positive": true,
        })
    };
    bundle(
        p,
        "ind.json",
        vec![
            indicator(1, "fresh.example", serde_json::json!({"modified": ago(1)})),
            indicator(2, "old.example", serde_json::json!({"modified": ago(60)})),
            indicator(3, "doubted.example", serde_json::json!({"confidence": 20})),
            indicator(
                4,
                "reported.example",
                serde_json::json!({"modified": ago(1)}),
            ),
            indicator(
                5,
                "expired.example",
                serde_json::json!({"valid_until": ago(1)}),
            ),
        ],
    );
    // Two parties report indicator 4 as a false positive, one of them twice: a score of
    // 80 / 2 / 2 = 20 (the sightings come in a separate file).
    bundle(
        p,
        "fp.json",
        vec![
            fp(1, "identity--00000000-0000-4000-8000-00000000000b"),
            fp(2, "identity--00000000-0000-4000-8000-00000000000c"),
            fp(3, "identity--00000000-0000-4000-8000-00000000000c"),
        ],
    );
    std::fs::write(
        p.join("a.log"),
        "fresh.example\nold.example\ndoubted.example\nreported.example\nexpired.example\n",
    )
    .unwrap();
    let srcs = ["--indicators", "ind.json", "--indicators", "fp.json"];
    let score = |x: &serde_json::Value| x["score"].as_f64().unwrap();

    let flat = hits(&run(p, &[&srcs[..], &["a.log"]].concat()));
    assert_eq!(flat.len(), 4, "{flat:?}");
    assert!(flat.iter().all(|x| x["observed"] != "expired.example"));
    assert_eq!(score(on(&flat, "old.example")), 80.0);
    assert_eq!(on(&flat, "old.example")["action"], "alert");
    assert_eq!(score(on(&flat, "doubted.example")), 20.0);
    assert_eq!(on(&flat, "doubted.example")["action"], "inform");
    assert_eq!(score(on(&flat, "reported.example")), 20.0);
    assert_eq!(on(&flat, "reported.example")["action"], "inform");

    // MISP's NIDS model (τ = 120 days, δ = 2): after 60 days 80 × (1 − √½) ≈ 23.4 < 30;
    // after 1 day 80 × (1 − √(1/120)) ≈ 72.7.
    let aged = hits(&run(p, &[&srcs[..], &["--decay", "a.log"]].concat()));
    let old = on(&aged, "old.example");
    assert!((score(old) - 23.4).abs() < 0.11, "{old}");
    assert_eq!(old["action"], "inform");
    let fresh = on(&aged, "fresh.example");
    assert!((score(fresh) - 72.7).abs() < 0.11, "{fresh}");
    assert_eq!(fresh["action"], "alert");
    // A longer lifetime and a lower threshold bring the old one back.
    let lenient = hits(&run(
        p,
        &[
            &srcs[..],
            &[
                "--decay",
                "--decay-lifetime",
                "365",
                "--score-threshold",
                "20",
                "a.log",
            ],
        ]
        .concat(),
    ));
    assert_eq!(on(&lenient, "old.example")["action"], "alert");
}

const REAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/real");

fn real(p: &str) -> PathBuf {
    Path::new(REAL).join(p)
}

/// Runs `detente scan` with the real sources (GRIZZLY STEPPE CSV and Zeek intel feeds as
/// indicators, the MISP warninglists as allowlist, the WRCCDC Zeek logs) plus `extra`; a run that does not end within two
/// minutes (a hang) fails the test.
fn scan(extra: &[&str]) -> Output {
    let dir = tempdir();
    let mut cmd = command();
    cmd.arg("scan")
        .arg("--indicators")
        .arg(real("grizzly-steppe-jar-16-20296/JAR-16-20296A.csv"))
        .arg("--indicators")
        .arg(real("zeek-intel-feeds-criticalpathsecurity"))
        .arg("--allowlist")
        .arg(real("misp-warninglists/lists"))
        .args(extra)
        .arg(real("zeek-logs-wrccdc2018-brimdata"))
        .env("DETENTE_STATE_DIR", dir.path());
    Process::output_within(cmd, Duration::from_secs(120))
}

/// The warninglists' `string`, `hostname`, `substring` and IPv4 `cidr` entries, read here
/// independently of the scanner.
#[derive(Default)]
struct Lists {
    strings: HashSet<String>,
    hostnames: HashSet<String>,
    substrings: Vec<String>,
    nets: Vec<(u32, u32)>,
}

impl Lists {
    fn load() -> Self {
        let mut l = Lists::default();
        for e in std::fs::read_dir(real("misp-warninglists/lists")).unwrap() {
            let p = e.unwrap().path().join("list.json");
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let entries = v["list"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|x| x.as_str());
            match v["type"].as_str().unwrap_or("string") {
                "string" => l.strings.extend(entries.map(str::to_lowercase)),
                "hostname" => l
                    .hostnames
                    .extend(entries.map(|e| e.trim_matches('.').to_lowercase())),
                "substring" => l.substrings.extend(entries.map(str::to_string)),
                "cidr" => l.nets.extend(entries.filter_map(|e| {
                    let (a, len) = e.split_once('/').unwrap_or((e, "32"));
                    let a: Ipv4Addr = a.parse().ok()?;
                    let len: u32 = len.parse().ok()?;
                    Some((u32::from(a), len))
                })),
                _ => {}
            }
        }
        l
    }

    fn holds(&self, observed: &str) -> bool {
        let lower = observed.to_lowercase();
        if self.strings.contains(&lower) {
            return true;
        }
        let rest = lower.split_once("//").map_or(lower.as_str(), |(_, r)| r);
        let host = rest.split('/').next().unwrap_or_default();
        let host = host
            .split(':')
            .next()
            .unwrap_or_default()
            .trim_end_matches('.');
        let labels: Vec<&str> = host.split('.').collect();
        if (0..labels.len()).any(|i| self.hostnames.contains(&labels[i..].join("."))) {
            return true;
        }
        if self
            .substrings
            .iter()
            .any(|s| observed.contains(s.as_str()))
        {
            return true;
        }
        let Ok(a) = host.parse::<Ipv4Addr>() else {
            return false;
        };
        let a = u32::from(a);
        self.nets
            .iter()
            .any(|(n, len)| *len == 0 || (*len <= 32 && a >> (32 - len) == n >> (32 - len)))
    }
}

#[test]
fn real_feeds_on_real_logs_never_alert_on_warninglisted_values() {
    let o = scan(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{:?}: {err}",
        o.status
    );
    assert!(!err.contains("panicked"), "{err}");
    let h = hits(&o);
    assert!(h.len() >= 20, "only {} hits: {err}", h.len());
    let lists = Lists::load();
    let mut listed = 0;
    for x in &h {
        let observed = x["observed"].as_str().unwrap();
        if lists.holds(observed) {
            listed += 1;
            assert_eq!(x["action"], "inform", "{x}");
            assert!(x["allowlist"]["list"].is_string(), "{x}");
        }
        // Nothing is inform without a reason here: no corroboration or score rules are on.
        if x["action"] == "inform" {
            assert!(x["allowlist"].is_object(), "{x}");
        }
    }
    // The benign values the issue names (a CDN, a licence URL) are among them.
    assert!(listed >= 10, "{listed} warninglisted hits");
    assert!(h.iter().any(|x| x["observed"] == "cdn.jsdelivr.net"));

    // The same run with one list suppressed drops exactly that list's hits.
    let s = scan(&["--allowlist-action", "cisco_top1000=suppress"]);
    assert!(matches!(s.status.code(), Some(0 | 1)));
    let sh = hits(&s);
    let from_list = h
        .iter()
        .filter(|x| x["allowlist"]["list"] == "cisco_top1000")
        .count();
    assert!(from_list > 0);
    // Hits reported under another list may be on cisco_top1000 too; suppress wins for those.
    assert!(sh.len() <= h.len() - from_list);
    assert!(sh.iter().all(|x| x["allowlist"]["list"] != "cisco_top1000"));
    let alerts = |v: &[serde_json::Value]| v.iter().filter(|x| x["action"] == "alert").count();
    assert_eq!(alerts(&sh), alerts(&h));
}
