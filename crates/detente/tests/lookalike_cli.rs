//! `detente lookalike` end to end: name lists and logs (Zeek TSV, JSON lines, syslog), the
//! NDJSON contract, exit codes, IDNs in both forms, real subdomains, and `generate`.

mod support;

use std::path::Path;
use std::process::Output;

use support::{command, tempdir};

fn run(dir: &Path, args: &[&str]) -> Output {
    command()
        .arg("lookalike")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("runs")
}

fn findings(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect()
}

/// The named fields of each finding, joined by spaces.
fn pick(f: &[serde_json::Value], keys: &[&str]) -> Vec<String> {
    f.iter()
        .map(|v| {
            keys.iter()
                .map(|k| match &v[*k] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn setup() -> tempfile::TempDir {
    let d = tempdir();
    std::fs::write(
        d.path().join("protected.txt"),
        "# election offices\nsos.ca.gov\nvote.org  # voter information\n\nfvap.gov\n",
    )
    .expect("write");
    d
}

#[test]
fn names_list_findings_and_contract() {
    let d = setup();
    let puny = cyrillic_s_puny();
    std::fs::write(
        d.path().join("names.txt"),
        format!("www.sos.ca.gov\ns0s.ca.gov\n{puny}\nsos-ca.gov.example.com\ngoogle.com\nvote-fvap.org\n"),
    )
    .expect("write");
    let o = run(
        d.path(),
        &["--protected", "protected.txt", "--names", "names.txt"],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let f = findings(&o);
    assert_eq!(
        pick(&f, &["line", "observed", "protected", "technique"]),
        vec![
            "2 s0s.ca.gov sos.ca.gov homoglyph".to_string(),
            format!("3 {puny} sos.ca.gov cyrillic"),
            "4 sos-ca.gov.example.com sos.ca.gov embedding".to_string(),
            "6 vote-fvap.org fvap.gov dictionary".to_string(),
        ]
    );
    // A list has neither file nor field; keys in contract order.
    let first = String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    assert!(first.starts_with(r#"{"line":2,"observed":"s0s.ca.gov","protected":"sos.ca.gov","technique":"homoglyph","score":"#), "{first}");
    assert!(f[0]["score"].as_f64().is_some_and(|s| s > 0.0 && s <= 1.0));
}

/// `ѕos.ca.gov` (Cyrillic s) in A-label form, spelled out so the test does not compute it with
/// the code under test (Python's IDNA codec gives it).
fn cyrillic_s_puny() -> String {
    "xn--os-doc.ca.gov".to_string()
}

#[test]
fn logs_zeek_json_syslog_with_fields() {
    let d = setup();
    let zeek = "#separator \\x09\n#set_separator\t,\n#fields\tts\tuid\tquery\tanswers\n#types\ttime\tstring\tstring\tvector[string]\n1700000000.0\tC1\twww.sos.ca.gov\t-\n1700000001.0\tC2\tsos-ca-gov.com\t10.0.0.1\n";
    std::fs::write(d.path().join("dns.log"), zeek).expect("write");
    std::fs::write(
        d.path().join("proxy.jsonl"),
        "{\"url\":\"https://vote.org.login-check.info/x\",\"client\":\"10.1.1.1\"}\n{\"url\":\"https://www.vote.org/\"}\n",
    )
    .expect("write");
    std::fs::write(
        d.path().join("mail.log"),
        "<13>Jan  1 00:00:00 mx1 postfix: from=<info@fvap-gov.com> ok\n",
    )
    .expect("write");
    let o = run(
        d.path(),
        &[
            "--protected",
            "protected.txt",
            "dns.log",
            "proxy.jsonl",
            "mail.log",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        pick(
            &findings(&o),
            &["file", "line", "field", "observed", "technique"]
        ),
        [
            "dns.log 6 query sos-ca-gov.com various",
            "proxy.jsonl 1 url vote.org.login-check.info dictionary",
            "mail.log 1 msg fvap-gov.com various",
        ]
    );
}

#[test]
fn nothing_found_exits_0_and_bad_input_exits_2_naming_it() {
    let d = setup();
    std::fs::write(d.path().join("names.txt"), "www.vote.org\nexample.com\n").expect("write");
    let o = run(
        d.path(),
        &["--protected", "protected.txt", "--names", "names.txt"],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());

    std::fs::write(d.path().join("bad.txt"), "sos.ca.gov\nnot a domain\n").expect("write");
    let o = run(
        d.path(),
        &["--protected", "bad.txt", "--names", "names.txt"],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.txt:2") && err.contains("not a domain"),
        "{err}"
    );

    let o = run(
        d.path(),
        &["--protected", "missing.txt", "--names", "names.txt"],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = run(d.path(), &["--protected", "protected.txt", "no-such.log"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(d.path(), &["--protected", "protected.txt"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn output_file_and_generate() {
    let d = setup();
    std::fs::write(d.path().join("names.txt"), "fvapp.gov\n").expect("write");
    let o = run(
        d.path(),
        &[
            "--protected",
            "protected.txt",
            "--names",
            "names.txt",
            "--output",
            "out.ndjson",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let text = std::fs::read_to_string(d.path().join("out.ndjson")).expect("written");
    assert!(text.contains(r#""technique":"addition""#), "{text}");

    let o = run(d.path(), &["generate", "fvap.gov"]);
    assert_eq!(o.status.code(), Some(0));
    let names = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = names.lines().collect();
    assert!(lines.len() > 500);
    assert!(
        lines
            .iter()
            .all(|l| l.is_ascii() && !l.contains(char::is_whitespace))
    );
    assert!(lines.contains(&"fvap.com") && lines.contains(&"fvapp.gov"));
    assert!(!lines.contains(&"fvap.gov"));
    // Every generated name is found again, each for fvap.gov.
    std::fs::write(d.path().join("gen.txt"), names.as_bytes()).expect("write");
    let o = run(
        d.path(),
        &["--protected", "protected.txt", "--names", "gen.txt"],
    );
    let f = findings(&o);
    let mut lines_found: Vec<u64> = f
        .iter()
        .filter(|v| v["protected"] == "fvap.gov")
        .filter_map(|v| v["line"].as_u64())
        .collect();
    lines_found.dedup();
    assert_eq!(lines_found.len(), lines.len());
    let o = run(d.path(), &["generate", "not a domain"]);
    assert_eq!(o.status.code(), Some(2));
}
