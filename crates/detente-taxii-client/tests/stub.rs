//! What a detente node never does but other TAXII 2.1 servers may, against a scripted server
//! on loopback: a status that stays `pending` for a while, paging by `added_after` with
//! `X-TAXII-Date-Added-Last` when a page has no `next`, answers that are not TAXII.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::Duration;

use detente_taxii_client::{Client, Credentials, Error, Filter, Tls};

/// One scripted answer: status line, extra headers, body.
type Answer = (&'static str, &'static str, String);

/// Serves `answers` in order, one request per connection; returns the base URL and the
/// requests it saw (request line and headers, lower-cased).
fn server(answers: Vec<Answer>) -> (String, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for (status, headers, body) in answers {
            let (mut sock, _) = listener.accept().unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                let n = sock.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break p + 4;
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while buf.len() < head_end + len {
                let n = sock.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
            let reply = format!(
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(reply.as_bytes()).unwrap();
            seen.push(head);
        }
        seen
    });
    (url, handle)
}

const TAXII: &str = "Content-Type: application/taxii+json;version=2.1\r\n";

fn status(state: &str, done: u64) -> String {
    format!(
        r#"{{"id":"s-1","status":"{state}","total_count":2,"success_count":{done},"failure_count":0,"pending_count":{}}}"#,
        2 - done
    )
}

fn client(url: &str) -> Client {
    let creds = Credentials::Bearer("t0k".into());
    Client::connect(
        &format!("{url}/api1/"),
        &creds,
        &Tls::with_roots(None).unwrap(),
    )
    .unwrap()
}

#[test]
fn a_pending_status_is_polled_until_complete() {
    let (url, seen) = server(vec![
        ("202 Accepted", TAXII, status("pending", 0)),
        ("200 OK", TAXII, status("pending", 1)),
        ("200 OK", TAXII, status("complete", 2)),
    ]);
    let c = client(&url);
    let objects = [
        serde_json::json!({"id": "a"}),
        serde_json::json!({"id": "b"}),
    ];
    let done = c
        .add_objects("coll 1", &objects, Duration::from_secs(10))
        .unwrap();
    assert_eq!((done.status.as_str(), done.success_count), ("complete", 2));
    let seen = seen.join().unwrap();
    assert!(
        seen[0].starts_with("post /api1/collections/coll%201/objects/ "),
        "{}",
        seen[0]
    );
    assert!(seen[0].contains("content-type: application/taxii+json;version=2.1"));
    assert!(seen[0].contains("authorization: bearer t0k"));
    for s in &seen[1..] {
        assert!(s.starts_with("get /api1/status/s-1/ "), "{s}");
        assert!(
            s.contains("accept: application/taxii+json;version=2.1"),
            "{s}"
        );
    }
}

#[test]
fn a_status_still_pending_is_an_error() {
    let (url, _seen) = server(vec![
        ("202 Accepted", TAXII, status("pending", 0)),
        ("200 OK", TAXII, status("pending", 0)),
        ("200 OK", TAXII, status("pending", 0)),
        ("200 OK", TAXII, status("pending", 0)),
    ]);
    let c = client(&url);
    let e = c
        .add_objects("c", &[1], Duration::from_millis(300))
        .unwrap_err();
    assert!(
        matches!(&e, Error::Pending { id, url, .. } if id == "s-1" && url.ends_with("/api1/status/s-1/")),
        "{e}"
    );
}

#[test]
fn pages_without_next_resume_at_the_last_date_added() {
    let (url, seen) = server(vec![
        (
            "200 OK",
            "Content-Type: application/taxii+json; version=2.1\r\nX-TAXII-Date-Added-Last: 2026-01-01T00:00:00.000001Z\r\n",
            r#"{"more":true,"objects":[{"id":"a"}]}"#.into(),
        ),
        (
            "200 OK",
            TAXII,
            r#"{"more":false,"objects":[{"id":"b"}]}"#.into(),
        ),
    ]);
    let c = client(&url);
    let mut ids = Vec::new();
    let filter = Filter {
        types: vec!["indicator".into()],
        ..Filter::default()
    };
    c.each_object("c", &filter, |o| {
        ids.push(o["id"].as_str().unwrap_or("").to_owned());
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(ids, ["a", "b"]);
    let seen = seen.join().unwrap();
    assert!(
        seen[0].starts_with("get /api1/collections/c/objects/?match%5btype%5d=indicator "),
        "{}",
        seen[0]
    );
    assert!(
        seen[1].starts_with(
            "get /api1/collections/c/objects/?added_after=2026-01-01t00%3a00%3a00.000001z&match%5btype%5d=indicator "
        ),
        "{}",
        seen[1]
    );
}

#[test]
fn more_without_a_way_on_is_an_error_not_a_short_read() {
    let (url, _seen) = server(vec![(
        "200 OK",
        TAXII,
        r#"{"more":true,"objects":[{"id":"a"}]}"#.into(),
    )]);
    let e = client(&url)
        .each_object("c", &Filter::default(), |_| Ok::<_, Error>(()))
        .unwrap_err();
    assert!(
        matches!(&e, Error::Unexpected { message, .. } if message.contains("neither `next`")),
        "{e}"
    );
}

#[test]
fn an_answer_that_is_not_taxii_is_refused() {
    let (url, _seen) = server(vec![(
        "200 OK",
        "Content-Type: text/html\r\n",
        "<html>login</html>".into(),
    )]);
    let e = client(&url).status("s-1").unwrap_err();
    assert!(
        matches!(&e, Error::Unexpected { message, .. } if message.contains("text/html")),
        "{e}"
    );
}
