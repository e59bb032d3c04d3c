//! `detente-taxii-client` against real `detente serve` nodes (paging through objects and
//! manifests, `added_after`, POST and status, the node's errors as typed errors, TLS with the
//! node's own CA), and the one login convention of the commands built on it (`push`, `pull`,
//! `verify`, `scan`'s `taxii:` sources).

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use detente_taxii_client::{Client, Credentials, Error, Filter, Tls};
use serde_json::Value;

use support::{Node, certificates, command, detente, last_line, ok};

const PATIENCE: Duration = Duration::from_secs(30);

/// A collection on the node whose data directory is `data`; returns its id.
fn add_collection(data: &Path) -> String {
    last_line(&ok(detente(
        &[
            "collection",
            "add",
            "--title",
            "intel",
            "--data",
            data.to_str().unwrap(),
        ],
        &[],
    )))
}

/// Adds a reader member (granted `access` to `collection`, if any); returns its secret.
fn add_reader(data: &Path, name: &str, grant: Option<(&str, &str)>) -> String {
    let d = data.to_str().unwrap();
    let secret = last_line(&ok(detente(
        &[
            "member", "add", name, "--role", "reader", "--tlp", "amber", "--data", d,
        ],
        &[],
    )));
    if let Some((collection, access)) = grant {
        ok(detente(
            &["collection", "grant", collection, name, access, "--data", d],
            &[],
        ));
    }
    secret
}

/// The `i`-th test indicator.
fn indicator(i: usize) -> Value {
    serde_json::json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{i:012}"),
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "pattern": format!("[domain-name:value = 'host{i}.example']"),
        "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
    })
}

fn admin(node: &Node) -> Credentials {
    Credentials::Basic {
        user: "admin".into(),
        secret: node.admin_secret.clone(),
    }
}

/// Mozilla's roots only: nothing on this machine vouches for a test node.
fn no_roots() -> Tls {
    Tls::with_roots(None).unwrap()
}

fn ids(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn paging_added_after_post_and_status() {
    let dir = support::tempdir();
    let data = dir.path().join("node");
    let node = Node::start(&data, &[], &[]);
    let collection = add_collection(&data);
    // The server URL: the API root is discovered.
    let client = Client::connect(&node.url, &admin(&node), &no_roots()).unwrap();
    assert_eq!(client.api_root, format!("{}/api/", node.url));

    let first: Vec<Value> = (0..25).map(indicator).collect();
    let status = client.add_objects(&collection, &first, PATIENCE).unwrap();
    assert_eq!(
        (
            status.status.as_str(),
            status.total_count,
            status.success_count
        ),
        ("complete", 25, 25)
    );
    let again = client.status(&status.id).unwrap();
    assert_eq!(again.id, status.id);
    assert_eq!((again.success_count, again.failure_count), (25, 0));

    // Three pages of objects, four of manifest records, each followed by its `next`.
    let before = client.requests();
    let mut got = Vec::new();
    let filter = Filter {
        limit: Some(10),
        ..Filter::default()
    };
    client
        .each_object(&collection, &filter, |o| {
            got.push(o);
            Ok::<_, Error>(())
        })
        .unwrap();
    assert_eq!(client.requests() - before, 3);
    assert_eq!(got.len(), 25);
    assert_eq!(ids(&got), ids(&first));
    let mut records = Vec::new();
    let before = client.requests();
    let manifest = Filter {
        limit: Some(7),
        ..Filter::default()
    };
    client
        .each_manifest_record(&collection, &manifest, |r| {
            records.push(r);
            Ok::<_, Error>(())
        })
        .unwrap();
    assert_eq!(client.requests() - before, 4);
    assert_eq!(records.len(), 25);
    let last_added = records.iter().map(|r| r.date_added.clone()).max().unwrap();

    // What a later envelope added, and only that, comes after the first one's last date.
    let second: Vec<Value> = (100..105).map(indicator).collect();
    client.add_objects(&collection, &second, PATIENCE).unwrap();
    let after = Filter {
        added_after: Some(detente_taxii::time::parse_micros(&last_added).unwrap()),
        limit: Some(2),
        ..Filter::default()
    };
    let mut newer = Vec::new();
    client
        .each_object(&collection, &after, |o| {
            newer.push(o);
            Ok::<_, Error>(())
        })
        .unwrap();
    assert_eq!(ids(&newer), ids(&second));

    // A refused object is reported in the status, by id and with the node's reason.
    let mut bad = indicator(200);
    bad.as_object_mut().unwrap().remove("pattern");
    let status = client
        .add_objects(&collection, &[bad, indicator(201)], PATIENCE)
        .unwrap();
    assert_eq!((status.success_count, status.failure_count), (1, 1));
    assert_eq!(status.failures[0].id, indicator(200)["id"]);
    assert!(
        status.failures[0]
            .message
            .as_deref()
            .is_some_and(|m| !m.is_empty())
    );
}

#[test]
fn an_indicator_whose_stix_pattern_does_not_parse_is_refused() {
    let dir = support::tempdir();
    let data = dir.path().join("node");
    let node = Node::start(&data, &[], &[]);
    let collection = add_collection(&data);
    let client = Client::connect(&node.url, &admin(&node), &no_roots()).unwrap();
    let with = |i: usize, pattern: &str, language: &str| {
        let mut o = indicator(i);
        o["pattern"] = pattern.into();
        o["pattern_type"] = language.into();
        o
    };
    // Unbalanced bracket, a missing value, no brackets at all: each refused by name.
    let bad = [
        with(1, "[ipv4-addr:value = '10.0.0.1'", "stix"),
        with(2, "[ipv4-addr:value = ]", "stix"),
        with(3, "ipv4-addr:value = '10.0.0.1'", "stix"),
    ];
    // A valid pattern, and patterns in other languages (not this node's to judge).
    let good = [
        with(
            4,
            "[ipv4-addr:value = '10.0.0.4'] AND [domain-name:value = 'x.example']",
            "stix",
        ),
        with(5, "alert tcp any any -> any any (msg:\"x\";)", "snort"),
        with(6, "[not stix at all", "yara"),
    ];
    let all: Vec<Value> = bad.iter().chain(&good).cloned().collect();
    let status = client.add_objects(&collection, &all, PATIENCE).unwrap();
    assert_eq!((status.success_count, status.failure_count), (3, 3));
    let refused: BTreeSet<String> = status.failures.iter().map(|f| f.id.clone()).collect();
    assert_eq!(refused, ids(&bad));
    for f in &status.failures {
        let m = f.message.as_deref().unwrap_or("");
        assert!(
            m.starts_with(&format!(
                "{}: property `pattern`: not a valid STIX pattern: 1:",
                f.id
            )),
            "{m}"
        );
        assert_eq!(f.version, "2026-01-01T00:00:00.000Z");
    }
    // The parser's own position and reason, e.g. for the missing value.
    let missing = status
        .failures
        .iter()
        .find(|f| f.id == bad[1]["id"])
        .unwrap();
    let expected =
        detente_pattern::parse("[ipv4-addr:value = ]", detente_pattern::StixVersion::V21)
            .unwrap_err()
            .to_string();
    assert!(
        missing.message.as_deref().unwrap().ends_with(&expected),
        "{missing:?}"
    );
    // Only the valid ones are stored.
    let mut stored = Vec::new();
    client
        .each_object(&collection, &Filter::default(), |o| {
            stored.push(o);
            Ok::<_, Error>(())
        })
        .unwrap();
    assert_eq!(ids(&stored), ids(&good));
    // An envelope of nothing but bad patterns is refused as a whole, naming the reason.
    let e = client
        .add_objects(&collection, &bad[..1], PATIENCE)
        .unwrap_err();
    assert!(e.to_string().contains("not a valid STIX pattern"), "{e}");
}

/// The typed error of `result`, which must carry exactly the status and description the node
/// answers to a raw GET of `path` with `credentials`.
fn assert_nodes_error<T: std::fmt::Debug>(
    node: &Node,
    result: Result<T, Error>,
    path: &str,
    credentials: &str,
    status: u16,
) {
    let (raw_status, raw) = node
        .get(path, Some(credentials), Duration::from_secs(10))
        .unwrap();
    assert_eq!(raw_status, status, "{raw}");
    let described: Value = serde_json::from_str(&raw).unwrap();
    let description = described["description"].as_str().unwrap();
    match result.unwrap_err() {
        Error::Http {
            request,
            status: s,
            message,
            error,
        } => {
            assert_eq!(s, status);
            assert_eq!(message, description);
            assert!(
                request.starts_with(&format!("GET {}{path}", node.url)),
                "{request}"
            );
            assert_eq!(error.unwrap().description.as_deref(), Some(description));
        }
        other => panic!("expected Error::Http, got {other:?}"),
    }
}

#[test]
fn node_errors_are_typed_errors_with_the_nodes_message() {
    let dir = support::tempdir();
    let data = dir.path().join("node");
    let node = Node::start(&data, &[], &[]);
    let collection = add_collection(&data);
    let other = add_collection(&data);
    let secret = add_reader(&data, "reader", Some((&collection, "read")));
    let reader = Credentials::Basic {
        user: "reader".into(),
        secret: secret.clone(),
    };
    let api = format!("{}/api/", node.url);
    let client = Client::connect(&api, &reader, &no_roots()).unwrap();
    let login = format!("reader:{secret}");
    let each = |c: &str| client.each_object(c, &Filter::default(), |_| Ok::<_, Error>(()));
    // No grant on the other collection.
    let path = format!("/api/collections/{other}/objects/");
    let status = node
        .get(&path, Some(&login), Duration::from_secs(10))
        .unwrap()
        .0;
    assert!(status == 403 || status == 404, "{status}");
    assert_nodes_error(&node, each(&other), &path, &login, status);
    // Read-only: the POST is refused with the node's reason.
    match client.add_objects(&collection, &[indicator(1)], PATIENCE) {
        Err(Error::Http {
            request,
            status: 403,
            message,
            ..
        }) => {
            assert!(request.starts_with("POST "), "{request}");
            assert!(!message.is_empty());
        }
        other => panic!("expected HTTP 403, got {other:?}"),
    }
    // A wrong secret.
    let wrong = Client::connect(
        &api,
        &Credentials::Basic {
            user: "reader".into(),
            secret: "wrong".into(),
        },
        &no_roots(),
    )
    .unwrap();
    let path = format!("/api/collections/{collection}/objects/");
    assert_nodes_error(
        &node,
        wrong.each_object(&collection, &Filter::default(), |_| Ok::<_, Error>(())),
        &path,
        "reader:wrong",
        401,
    );
    // And a node that is not there.
    let gone = Client::connect("http://127.0.0.1:1/api/", &reader, &no_roots()).unwrap();
    assert!(
        matches!(gone.status("x"), Err(Error::Transport { url, .. }) if url.contains("127.0.0.1:1"))
    );
}

#[test]
fn tls_node_reached_through_its_ca_and_the_system_roots() {
    let dir = support::tempdir();
    let d = dir.path();
    let (ca_dir, other_dir) = (d.join("ca"), d.join("other-ca"));
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::create_dir_all(&other_dir).unwrap();
    let (ca, cert, key) = certificates(&ca_dir);
    let (other_ca, other_cert, other_key) = certificates(&other_dir);
    let data = d.join("node");
    let node = Node::start_tls(
        &data,
        &["--tls-cert", &cert, "--tls-key", &key],
        Path::new(&ca),
    );
    let collection = add_collection(&data);
    let api = format!("{}/api/", node.url);

    let trusting = no_roots().trust_file(Path::new(&ca)).unwrap();
    let client = Client::connect(&api, &admin(&node), &trusting).unwrap();
    let objects: Vec<Value> = (0..3).map(indicator).collect();
    assert_eq!(
        client
            .add_objects(&collection, &objects, PATIENCE)
            .unwrap()
            .success_count,
        3
    );
    // Without the node's CA the certificate is refused.
    let untrusting = Client::connect(&api, &admin(&node), &no_roots()).unwrap();
    match untrusting.status("x") {
        Err(Error::Transport { url, message }) => {
            assert!(url.starts_with(&node.url), "{url}");
            assert!(message.to_lowercase().contains("certificate"), "{message}");
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }

    // Every command that talks to a node takes --ca-cert.
    let env = [("DETENTE_SECRET", node.admin_secret.as_str())];
    let login = ["--user", "admin", "--ca-cert", &ca];
    let mut pull = vec!["pull", "--url", &api, "--collection", &collection];
    pull.extend(login);
    let bundle: Value = serde_json::from_str(&ok(detente(&pull, &env))).unwrap();
    assert_eq!(ids(bundle["objects"].as_array().unwrap()), ids(&objects));
    let log = d.join("hits.log");
    std::fs::write(&log, "host1.example\n").unwrap();
    let source = format!("taxii:{api}#{collection}");
    let mut scan = vec!["scan", "--indicators", &source, log.to_str().unwrap()];
    scan.extend(login);
    let hits = ok(detente(&scan, &env));
    assert_eq!(hits.lines().count(), 1, "{hits}");
    let state = d.join("state");
    let mut verify = vec![
        "verify",
        "--url",
        &node.url,
        "--state",
        state.to_str().unwrap(),
        "--collection",
        &collection,
    ];
    verify.extend(login);
    let key = last_line(&ok(detente(
        &["log-key", "--data", data.to_str().unwrap()],
        &[],
    )));
    verify.extend(["--key", &key]);
    assert!(ok(detente(&verify, &env)).ends_with("OK\n"));

    // --ca-cert adds to the system's roots (here SSL_CERT_FILE): a second node, whose CA
    // only the "system" knows, is reached while --ca-cert names the first node's CA.
    let other_data = d.join("other");
    let other = Node::start_tls(
        &other_data,
        &["--tls-cert", &other_cert, "--tls-key", &other_key],
        Path::new(&other_ca),
    );
    let other_collection = add_collection(&other_data);
    let other_api = format!("{}/api/", other.url);
    let pull_other = |system: Option<&str>| {
        let mut cmd = command();
        cmd.args([
            "pull",
            "--url",
            &other_api,
            "--collection",
            &other_collection,
        ])
        .args(login)
        .env("DETENTE_SECRET", &other.admin_secret);
        if let Some(bundle) = system {
            cmd.env("SSL_CERT_FILE", bundle);
        }
        cmd.output().unwrap()
    };
    let out = pull_other(Some(&other_ca));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = pull_other(Some(&ca));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("couldn't reach"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn one_login_convention_for_every_command() {
    let dir = support::tempdir();
    let d = dir.path();
    let data = d.join("node");
    let node = Node::start(&data, &[], &[]);
    let collection = add_collection(&data);
    let secret = add_reader(&data, "reader", Some((&collection, "read")));
    node.push(
        &d.join("bundle.json"),
        &collection,
        &[indicator(7).to_string()],
        &[],
    );
    let api = format!("{}/api/", node.url);
    let pull = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["pull", "--url", &api, "--collection", &collection];
        args.extend_from_slice(extra);
        detente(&args, env)
    };
    let pulled = |out: std::process::Output| {
        let bundle: Value = serde_json::from_str(&ok(out)).unwrap();
        ids(bundle["objects"].as_array().unwrap())
    };
    let want = ids(&[indicator(7)]);
    // --user with the secret in DETENTE_SECRET, or in --secret-file.
    assert_eq!(
        pulled(pull(&["--user", "reader"], &[("DETENTE_SECRET", &secret)])),
        want
    );
    let secret_file = d.join("secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let sf = secret_file.to_str().unwrap();
    assert_eq!(
        pulled(pull(&["--user", "reader", "--secret-file", sf], &[])),
        want
    );
    // --credentials: NAME:SECRET or JSON; and the same from the environment.
    let line = d.join("reader.credentials");
    std::fs::write(&line, format!("reader:{secret}\n")).unwrap();
    let json = d.join("reader.json");
    std::fs::write(
        &json,
        serde_json::json!({"user": "reader", "secret": secret}).to_string(),
    )
    .unwrap();
    for file in [&line, &json] {
        let f = file.to_str().unwrap();
        assert_eq!(pulled(pull(&["--credentials", f], &[])), want);
        assert_eq!(pulled(pull(&[], &[("DETENTE_CREDENTIALS", f)])), want);
    }
    assert_eq!(
        pulled(pull(
            &[],
            &[("DETENTE_USER", "reader"), ("DETENTE_SECRET", &secret)]
        )),
        want
    );
    // A bearer token.
    let token = last_line(&ok(detente(
        &["token", "issue", "reader", "--data", data.to_str().unwrap()],
        &[],
    )));
    assert_eq!(pulled(pull(&["--token", &token], &[])), want);
    assert_eq!(pulled(pull(&[], &[("DETENTE_TOKEN", &token)])), want);
    // A name without a secret, and no credentials at all, are refused before any request.
    let out = pull(&["--user", "reader"], &[]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no secret for reader"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let home = d.to_str().unwrap();
    let out = pull(&[], &[("HOME", home), ("XDG_CONFIG_HOME", home)]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("give --credentials FILE"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The node's own message reaches the user: this reader may not write.
    let out = detente(
        &[
            "push",
            d.join("bundle.json").to_str().unwrap(),
            "--url",
            &api,
            "--collection",
            &collection,
            "--user",
            "reader",
        ],
        &[("DETENTE_SECRET", &secret)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("failed with HTTP 403: "), "{err}");
}
