//! `detente serve --database-url`: nodes on one PostgreSQL database (a throwaway cluster, or
//! the server `DETENTE_TEST_PG_URL` names), with the admin commands on the same database.

mod support;

use detente_testpg::TestPg;
use serde_json::Value;
use support::{Node, TAXII, agent, basic, detente, last_line, ok, run_ok};

fn indicator(n: u32) -> String {
    format!(
        r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-{n:012}","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[domain-name:value = 'evil{n}.example']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}}"#
    )
}

/// One page of ids a node serves from a collection after `added_after`, and the page's
/// `X-TAXII-Date-Added-Last`.
fn page_on(node: &Node, coll: &str, added_after: Option<&str>) -> (Vec<String>, Option<String>) {
    let url = format!("{}/api/collections/{coll}/objects/", node.url);
    let mut req = agent()
        .get(&url)
        .query("limit", "7")
        .header("Accept", TAXII)
        .header(
            "Authorization",
            basic(&format!("admin:{}", node.admin_secret)),
        );
    if let Some(a) = added_after {
        req = req.query("added_after", a);
    }
    let mut r = req.call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let last = r
        .headers()
        .get("X-TAXII-Date-Added-Last")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let page = body["objects"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| o["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (page, last)
}

/// Every id a node serves from a collection, paging with `added_after` as a client would.
fn ids_on(node: &Node, coll: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (page, last) = page_on(node, coll, after.as_deref());
        if page.is_empty() {
            return ids;
        }
        ids.extend(page);
        after = last;
    }
}

#[test]
fn nodes_and_admin_commands_share_one_postgres_database() {
    let pg = TestPg::start().unwrap();
    let url = pg.fresh_database().unwrap();
    let dir = support::tempdir();
    let (data1, data2) = (dir.path().join("one"), dir.path().join("two"));
    let node1 = Node::start(&data1, &[], &["--database-url", &url]);
    assert!(
        !data1.join("detente.sqlite").exists(),
        "the store is the database, not a file"
    );
    let d1 = data1.to_str().unwrap();
    // An admin command on the database, by flag and by environment variable.
    let coll = last_line(&run_ok(&[
        "collection",
        "add",
        "--title",
        "shared",
        "--data",
        d1,
        "--database-url",
        &url,
    ]));
    let listed = ok(detente(
        &["collection", "list", "--data", d1],
        &[("DETENTE_DATABASE_URL", &url)],
    ));
    assert!(listed.contains(&coll), "{listed}");
    // A second node on the same database, with its own data directory: the admin member
    // exists already, so it gets the admin's credentials file by hand.
    std::fs::create_dir_all(&data2).unwrap();
    std::fs::copy(
        data1.join("admin.credentials"),
        data2.join("admin.credentials"),
    )
    .unwrap();
    let node2 = Node::start(&data2, &[], &["--database-url", &url]);
    // Both nodes take pushes at once while a reader pages node 1 with added_after: every
    // object is read exactly once, and both nodes then serve the same list.
    const PUSHES: u32 = 6;
    const PER_PUSH: u32 = 40;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let seen = std::thread::scope(|s| {
        for (k, node) in [&node1, &node2].into_iter().enumerate() {
            let (dir, coll, done) = (dir.path(), &coll, &done);
            s.spawn(move || {
                for p in 0..PUSHES {
                    let first = (u32::try_from(k).unwrap() * PUSHES + p) * PER_PUSH;
                    let objects: Vec<String> = (first..first + PER_PUSH).map(indicator).collect();
                    node.push(&dir.join(format!("b{k}-{p}.json")), coll, &objects, &[]);
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let reader = s.spawn(|| {
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst) == 2;
                let (page, last) = page_on(&node1, &coll, after.as_deref());
                if page.is_empty() && finished {
                    return seen;
                }
                seen.extend(page);
                after = last.or(after);
            }
        });
        reader.join().unwrap()
    });
    let mut want: Vec<String> = (0..2 * PUSHES * PER_PUSH)
        .map(|n| format!("indicator--00000000-0000-4000-8000-{n:012}"))
        .collect();
    let mut sorted = seen.clone();
    sorted.sort();
    want.sort();
    assert_eq!(
        sorted, want,
        "every pushed object read exactly once while pushing"
    );
    assert_eq!(ids_on(&node1, &coll), seen);
    assert_eq!(ids_on(&node2, &coll), seen);
    // A malformed URL is refused with a message that names the option, not the URL.
    let out = detente(
        &[
            "collection",
            "list",
            "--data",
            d1,
            "--database-url",
            "postgres://secret@[::1",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--database-url"), "{err}");
    assert!(!err.contains("secret@"), "{err}");
}

/// A node whose database goes away answers 503 with `Retry-After` (the client may come back),
/// never a 500, and says nothing of the cause.
#[test]
fn a_lost_database_is_503_with_retry_after() {
    let pg = TestPg::start().unwrap();
    if !pg.owned() {
        // The database is someone else's: it cannot be stopped here.
        return;
    }
    let url = pg.fresh_database().unwrap();
    let dir = support::tempdir();
    let data = dir.path().join("data");
    let node = Node::start(&data, &[], &["--database-url", &url]);
    let coll = last_line(&run_ok(&[
        "collection",
        "add",
        "--title",
        "c",
        "--data",
        data.to_str().unwrap(),
        "--database-url",
        &url,
    ]));
    assert_eq!(ids_on(&node, &coll), Vec::<String>::new());
    drop(pg);
    let mut r = agent()
        .get(format!("{}/api/collections/{coll}/objects/", node.url))
        .header("Accept", TAXII)
        .header(
            "Authorization",
            basic(&format!("admin:{}", node.admin_secret)),
        )
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let retry: u64 = r.headers()["Retry-After"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body = r.body_mut().read_to_string().unwrap();
    assert!(
        !body.contains("127.0.0.1") && !body.contains("postgres"),
        "{body}"
    );
}
