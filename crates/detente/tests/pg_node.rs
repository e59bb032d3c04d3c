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

/// The ids a node serves from a collection, paging with `added_after` as a client would.
fn ids_on(node: &Node, coll: &str) -> Vec<String> {
    let url = format!("{}/api/collections/{coll}/objects/", node.url);
    let mut ids = Vec::new();
    let mut added_after: Option<String> = None;
    loop {
        let mut req = agent()
            .get(&url)
            .query("limit", "2")
            .header("Accept", TAXII)
            .header(
                "Authorization",
                basic(&format!("admin:{}", node.admin_secret)),
            );
        if let Some(a) = &added_after {
            req = req.query("added_after", a);
        }
        let mut r = req.call().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let last = r
            .headers()
            .get("X-TAXII-Date-Added-Last")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        let page: Vec<String> = body["objects"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|o| o["id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        if page.is_empty() {
            return ids;
        }
        ids.extend(page);
        added_after = last;
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
    let bundle = dir.path().join("bundle.json");
    node1.push(&bundle, &coll, &[indicator(1), indicator(2)], &[]);
    node2.push(&bundle, &coll, &[indicator(3)], &[]);
    let want: Vec<String> = (1..=3)
        .map(|n| format!("indicator--00000000-0000-4000-8000-{n:012}"))
        .collect();
    assert_eq!(ids_on(&node1, &coll), want);
    assert_eq!(ids_on(&node2, &coll), want);
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
