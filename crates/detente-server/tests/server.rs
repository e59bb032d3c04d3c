//! In-process tests of the service over real sockets: startup rules, hostile input (never
//! a 5xx, always a TAXII error body), and graceful shutdown.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use common::{COLL, TAXII};
use detente_server::{Config, Metrics, ServeError, credentials, serve};
use detente_store::{Clearance, NewMember, Role, Store};
use detente_store_sqlite::SqliteStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Running {
    addr: SocketAddr,
    auth: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    start_with(Config {
        max_content_length: 64 * 1024,
        ..Config::default()
    })
    .await
}

async fn start_with(config: Config) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(dir.path(), &[COLL]);
    common::member(
        &store,
        "admin",
        Role::Admin,
        Clearance::AMBER_STRICT,
        "s3cret",
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        config,
        Arc::new(store),
        Arc::new(Metrics::default()),
        listener,
        async {
            let _ = rx.await;
        },
    ));
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("admin:s3cret")
    );
    Running {
        addr,
        auth,
        stop,
        task,
        _dir: dir,
    }
}

/// Sends one raw HTTP/1.1 request; returns (status, content-type, body).
async fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let ct = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, ct, body.to_owned())
}

fn request(method: &str, target: &str, auth: &str, accept: &str, ct: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {auth}\r\n\
         Accept: {accept}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_taxii_errors_never_5xx() {
    let n = start().await;
    let objs = format!("/api/collections/{COLL}/objects/");
    let mut cases: Vec<Vec<u8>> = vec![
        request(
            "GET",
            &format!("{objs}?next=%00%ff"),
            &n.auth,
            TAXII,
            TAXII,
            b"",
        ),
        request(
            "GET",
            &format!("{objs}?limit=99999999999999999999999"),
            &n.auth,
            TAXII,
            TAXII,
            b"",
        ),
        request(
            "GET",
            &format!("{objs}?match[version]=%"),
            &n.auth,
            TAXII,
            TAXII,
            b"",
        ),
        request(
            "GET",
            &format!("{objs}?added_after=9999-99-99T99:99:99Z"),
            &n.auth,
            TAXII,
            TAXII,
            b"",
        ),
        request(
            "GET",
            &format!("{objs}?next={}", "A".repeat(5000)),
            &n.auth,
            TAXII,
            TAXII,
            b"",
        ),
        request(
            "GET",
            "/api/collections/%ff/objects/",
            &n.auth,
            TAXII,
            TAXII,
            b"",
        ),
        request(
            "GET",
            &format!("{objs}indicator--'%20OR%201=1/"),
            &n.auth,
            TAXII,
            TAXII,
            b"",
        ),
        request("PUT", &objs, &n.auth, TAXII, TAXII, b"{}"),
        request("POST", "/taxii2/", &n.auth, TAXII, TAXII, b"{}"),
        request(
            "POST",
            &objs,
            &n.auth,
            TAXII,
            TAXII,
            b"{\"objects\":[{\"type\":",
        ),
        request(
            "POST",
            &objs,
            &n.auth,
            TAXII,
            TAXII,
            b"{\"objects\":[1,null,\"x\",[]]}",
        ),
        request("POST", &objs, &n.auth, TAXII, TAXII, &vec![b'['; 100_000]),
        request("POST", &objs, &n.auth, TAXII, TAXII, &[b'{'; 60_000]),
        request("POST", &objs, "Basic !!!", TAXII, TAXII, b"{}"),
        request(
            "POST",
            &objs,
            "Bearer dtk_00000000000000ff_x",
            TAXII,
            TAXII,
            b"{}",
        ),
        request("GET", "/taxii2/", "Digest x", TAXII, TAXII, b""),
    ];
    // Deterministic pseudo-random garbage in paths, queries and bodies.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..150 {
        let mut junk = Vec::new();
        for _ in 0..(x % 40) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let c = b"abz09/%?&=[],.-_~\"'{}:"[(x % 22) as usize];
            junk.push(c);
        }
        let junk = String::from_utf8(junk).unwrap();
        cases.push(request(
            "GET",
            &format!("{objs}?{junk}"),
            &n.auth,
            TAXII,
            TAXII,
            b"",
        ));
        cases.push(request(
            "GET",
            &format!("/api/{junk}"),
            &n.auth,
            TAXII,
            TAXII,
            b"",
        ));
        cases.push(request(
            "POST",
            &objs,
            &n.auth,
            TAXII,
            TAXII,
            junk.as_bytes(),
        ));
    }
    for c in &cases {
        let (status, ct, body) = raw(n.addr, c).await;
        let shown = String::from_utf8_lossy(&c[..c.len().min(120)]).to_string();
        // Junk queries may be harmless (unknown parameters are ignored): 200 is fine.
        assert!(
            status == 200 || (400..500).contains(&status),
            "{status} for {shown}"
        );
        // hyper answers a bare 400 to a request line that is not HTTP; everything that
        // reaches the service gets a TAXII error body.
        if status >= 400 && !(status == 400 && body.is_empty()) {
            assert_eq!(ct, TAXII, "{shown}");
            let v: serde_json::Value =
                serde_json::from_str(&body).unwrap_or_else(|_| panic!("{shown}: {body}"));
            assert_eq!(v["http_status"], status.to_string(), "{shown}");
        }
    }
    // Nothing was stored by any of it.
    let (status, _, body) = raw(n.addr, &request("GET", &objs, &n.auth, TAXII, TAXII, b"")).await;
    assert_eq!((status, body.as_str()), (200, "{}"));
    // Oversize by Content-Length: 413 without reading the body.
    let big = format!(
        "POST {objs} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {}\r\nAccept: {TAXII}\r\n\
         Content-Type: {TAXII}\r\nContent-Length: 999999999\r\n\r\n",
        n.auth
    );
    assert_eq!(raw(n.addr, big.as_bytes()).await.0, 413);
    n.stop.send(()).unwrap();
    n.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn refuses_plain_http_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let r = serve(
        Config::default(),
        Arc::new(store),
        Arc::new(Metrics::default()),
        listener,
        async {},
    )
    .await;
    assert!(matches!(r, Err(ServeError::PlainHttpNotLoopback(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_accepting() {
    let n = start().await;
    let (status, _, _) = raw(
        n.addr,
        &request("GET", "/taxii2/", &n.auth, TAXII, TAXII, b""),
    )
    .await;
    assert_eq!(status, 200);
    n.stop.send(()).unwrap();
    n.task.await.unwrap().unwrap();
    assert!(TcpStream::connect(n.addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_gives_the_members_stable_identity() {
    let n = start().await;
    let get = |auth: String| {
        let addr = n.addr;
        async move { raw(addr, &request("GET", "/whoami", &auth, "*/*", TAXII, b"")).await }
    };
    let (status, ct, body) = get(n.auth.clone()).await;
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["member"], "admin");
    assert_eq!(v["identity"]["type"], "identity");
    assert_eq!(v["identity"]["name"], "admin");
    assert!(
        v["identity"]["id"]
            .as_str()
            .unwrap()
            .starts_with("identity--")
    );
    let (_, _, again) = get(n.auth.clone()).await;
    assert_eq!(again, body);
    assert_eq!(get("Basic eDp5".into()).await.0, 401);
}

/// Members and tokens hashed with Argon2 by older versions still log in, and their first
/// successful login replaces the hash by the keyed form, which then verifies on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_argon2_hashes_log_in_and_are_upgraded() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let n = start().await;
    let store = SqliteStore::open(&n._dir.path().join("db.sqlite")).unwrap();
    let argon2 = |secret: &str| {
        argon2::Argon2::default()
            .hash_password(
                secret.as_bytes(),
                &SaltString::encode_b64(&[3; 16]).unwrap(),
            )
            .unwrap()
            .to_string()
    };
    let member = store
        .add_member(&NewMember {
            name: "old".into(),
            role: Role::Reader,
            clearance: Clearance::GREEN,
            secret_hash: argon2("old-secret"),
        })
        .unwrap();
    store
        .add_token(&detente_store::TokenRecord {
            id: "0123456789abcdef".into(),
            member: member.id,
            secret_hash: argon2("tok"),
            revoked: false,
        })
        .unwrap();
    let basic = |s: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    };
    let get = |auth: String| {
        let addr = n.addr;
        async move {
            raw(addr, &request("GET", "/whoami", &auth, "*/*", TAXII, b""))
                .await
                .0
        }
    };
    assert_eq!(get(basic("old:wrong")).await, 401);
    assert_eq!(get("Bearer dtk_0123456789abcdef_wrong".into()).await, 401);
    assert!(
        store
            .member_by_name("old")
            .unwrap()
            .unwrap()
            .secret_hash
            .starts_with("$argon2")
    );
    assert_eq!(get(basic("old:old-secret")).await, 200);
    assert_eq!(get("Bearer dtk_0123456789abcdef_tok".into()).await, 200);
    let upgraded = store.member_by_name("old").unwrap().unwrap().secret_hash;
    assert!(upgraded.starts_with(credentials::HMAC_PREFIX), "{upgraded}");
    let token = store
        .token("0123456789abcdef")
        .unwrap()
        .unwrap()
        .secret_hash;
    assert!(token.starts_with(credentials::HMAC_PREFIX), "{token}");
    // A member change drops the credential cache: the keyed hashes now verify alone.
    store.set_disabled("admin", false).unwrap();
    assert_eq!(get(basic("old:old-secret")).await, 200);
    assert_eq!(get("Bearer dtk_0123456789abcdef_tok".into()).await, 200);
    assert_eq!(get(basic("old:wrong")).await, 401);
}

/// An object over `max_object_bytes` is a failure in the status while the rest of its
/// envelope is stored; pages stop at `max_page_bytes` and page on without losing anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_and_page_sizes_are_bounded() {
    let n = start_with(Config {
        max_object_bytes: 2000,
        max_page_bytes: 3000,
        ..Config::default()
    })
    .await;
    let tool = |i: usize, description_len: usize| {
        format!(
            "{{\"type\":\"tool\",\"spec_version\":\"2.1\",\"id\":\"tool--00000000-0000-4000-8000-{i:012}\",\
             \"created\":\"2026-01-01T00:00:00.000Z\",\"modified\":\"2026-01-01T00:00:00.000Z\",\
             \"name\":\"t{i}\",\"description\":\"{}\"}}",
            "d".repeat(description_len)
        )
    };
    let objs = format!("/api/collections/{COLL}/objects/");
    let mut envelope: Vec<String> = (0..5).map(|i| tool(i, 1200)).collect();
    envelope.insert(2, tool(99, 5000));
    let body = format!("{{\"objects\":[{}]}}", envelope.join(","));
    let (status, _, text) = raw(
        n.addr,
        &request("POST", &objs, &n.auth, TAXII, TAXII, body.as_bytes()),
    )
    .await;
    assert_eq!(status, 202, "{text}");
    let st: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(st["success_count"], 5, "{text}");
    assert_eq!(st["failure_count"], 1, "{text}");
    let failure = &st["failures"][0];
    assert_eq!(failure["id"], "tool--00000000-0000-4000-8000-000000000099");
    assert_eq!(failure["version"], "2026-01-01T00:00:00.000Z");
    let message = failure["message"].as_str().unwrap();
    assert!(message.contains("limit of 2000 bytes"), "{message}");

    let mut seen = Vec::new();
    let mut next = String::new();
    loop {
        let (status, _, text) = raw(
            n.addr,
            &request("GET", &format!("{objs}{next}"), &n.auth, TAXII, TAXII, b""),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let page: serde_json::Value = serde_json::from_str(&text).unwrap();
        let objects = page["objects"].as_array().unwrap();
        assert!(
            (1..=2).contains(&objects.len()),
            "{} objects",
            objects.len()
        );
        seen.extend(
            objects
                .iter()
                .map(|o| o["name"].as_str().unwrap().to_owned()),
        );
        if page["more"] != true {
            assert!(page.get("next").is_none());
            break;
        }
        next = format!("?next={}", page["next"].as_str().unwrap());
    }
    assert_eq!(seen, ["t0", "t1", "t2", "t3", "t4"]);
}
