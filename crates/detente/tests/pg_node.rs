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

/// `node`'s data directory beside `first`'s, holding the admin's credentials (the admin
/// member exists already on the shared database), and the node started on `url` with `extra`.
fn another_node(
    first: &std::path::Path,
    data: &std::path::Path,
    url: &str,
    extra: &[&str],
) -> Node {
    std::fs::create_dir_all(data).unwrap();
    std::fs::copy(
        first.join("admin.credentials"),
        data.join("admin.credentials"),
    )
    .unwrap();
    let mut args = vec!["--database-url", url];
    args.extend_from_slice(extra);
    Node::start(data, &[], &args)
}

/// `detente ARGS --data DATA --database-url URL`, which must succeed; its last line of
/// output (where a new id or secret is printed), if any.
fn admin(data: &std::path::Path, url: &str, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--data", data.to_str().unwrap(), "--database-url", url]);
    run_ok(&all).lines().last().unwrap_or_default().to_owned()
}

/// PSI abuse limits are the database's: a querier spreading sessions over three nodes is
/// charged once against one budget (the third node refuses once the sum exceeds it, where
/// nodes with budgets of their own would each have taken it), and a session id answered by
/// one node is refused as a replay by the others.
#[test]
fn psi_budget_and_replays_are_shared_by_nodes_on_one_database() {
    let pg = TestPg::start().unwrap();
    let url = pg.fresh_database().unwrap();
    let dir = support::tempdir();
    let budget = ["--psi-budget-items", "60", "--psi-budget-window", "3600"];
    let data: Vec<std::path::PathBuf> = (1..=3).map(|i| dir.path().join(format!("n{i}"))).collect();
    let mut args = vec!["--database-url", url.as_str()];
    args.extend(budget);
    let first = Node::start(&data[0], &[], &args);
    let nodes = [
        first,
        another_node(&data[0], &data[1], &url, &budget),
        another_node(&data[0], &data[2], &url, &budget),
    ];
    let coll = admin(&data[0], &url, &["collection", "add", "--title", "intel"]);
    // The answerer's set: 5 values.
    nodes[0].push(
        &dir.path().join("b.json"),
        &coll,
        &(0..5).map(indicator).collect::<Vec<_>>(),
        &[],
    );
    let peer = admin(
        &data[0],
        &url,
        &["member", "add", "peer", "--role", "reader"],
    );
    admin(
        &data[0],
        &url,
        &["collection", "grant", &coll, "peer", "psi"],
    );
    // Each session costs 20 querier items + 5 = 25 of the 60.
    let items = dir.path().join("items.txt");
    let values: Vec<String> = (0..20).map(|n| format!("evil{n}.example")).collect();
    std::fs::write(&items, values.join("\n")).unwrap();
    let query = |node: &Node| {
        detente(
            &[
                "psi",
                "query",
                "--peer",
                &node.url,
                "--collection",
                &coll,
                "--items",
                items.to_str().unwrap(),
                "--count-only",
                "--user",
                "peer",
            ],
            &[("DETENTE_SECRET", &peer)],
        )
    };
    assert_eq!(ok(query(&nodes[0])).trim(), "5");
    assert_eq!(ok(query(&nodes[1])).trim(), "5");
    let out = query(&nodes[2]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("HTTP 429") && err.contains("50 of 60"),
        "the third node charged the same budget: {err}"
    );
    // Raw sessions with chosen ids and no querier items cost 5 each.
    let send = |node: &Node, id: u8| {
        let body = detente_psi::Request {
            header: detente_psi::RequestHeader {
                session: detente_psi::SessionId([id; 16]),
                mode: detente_psi::Mode::CountOnly,
                count: 0,
            },
            points: Vec::new(),
        }
        .encode();
        agent()
            .post(format!("{}/psi/v1/collections/{coll}/session", node.url))
            .header("Authorization", basic(&format!("peer:{peer}")))
            .send(&body[..])
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(send(&nodes[0], 1), 200, "55 of 60");
    assert_eq!(
        send(&nodes[1], 1),
        409,
        "answered by node 1: a replay on node 2"
    );
    assert_eq!(send(&nodes[2], 1), 409, "and on node 3");
    assert_eq!(
        send(&nodes[2], 2),
        200,
        "60 of 60: the replays cost nothing"
    );
    assert_eq!(send(&nodes[1], 3), 429, "65 of 60");
    // Another member's budget is its own, on any node.
    let other = admin(
        &data[0],
        &url,
        &["member", "add", "other", "--role", "reader"],
    );
    admin(
        &data[0],
        &url,
        &["collection", "grant", &coll, "other", "psi"],
    );
    let out = detente(
        &[
            "psi",
            "query",
            "--peer",
            &nodes[2].url,
            "--collection",
            &coll,
            "--items",
            items.to_str().unwrap(),
            "--count-only",
            "--user",
            "other",
        ],
        &[("DETENTE_SECRET", &other)],
    );
    assert_eq!(ok(out).trim(), "5");
}

/// The credential cache of every node follows the database: a member whose secret is
/// rotated, whose token is revoked, whose grant is withdrawn or who is disabled through the
/// CLI on the shared database is refused by a node that had just authenticated it, on its
/// next request.
#[test]
fn credential_changes_reach_every_node_at_once() {
    let pg = TestPg::start().unwrap();
    let url = pg.fresh_database().unwrap();
    let dir = support::tempdir();
    let (d1, d2) = (dir.path().join("one"), dir.path().join("two"));
    let node1 = Node::start(&d1, &[], &["--database-url", &url]);
    let node2 = another_node(&d1, &d2, &url, &[]);
    let coll = admin(&d1, &url, &["collection", "add", "--title", "c"]);
    let old = admin(&d1, &url, &["member", "add", "alice", "--role", "reader"]);
    admin(&d1, &url, &["collection", "grant", &coll, "alice", "read"]);
    let token = admin(&d1, &url, &["token", "issue", "alice"]);
    let status = |node: &Node, auth: &str| {
        agent()
            .get(format!("{}/api/collections/{coll}/objects/", node.url))
            .header("Accept", TAXII)
            .header("Authorization", auth)
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    let by_secret = |s: &str| basic(&format!("alice:{s}"));
    let bearer = format!("Bearer {token}");
    // Both nodes have the member's credentials cached.
    for node in [&node1, &node2] {
        assert_eq!(status(node, &by_secret(&old)), 200);
        assert_eq!(status(node, &bearer), 200);
    }
    let new = admin(&d1, &url, &["member", "rotate", "alice"]);
    for node in [&node2, &node1] {
        assert_eq!(status(node, &by_secret(&old)), 401, "the old secret");
        assert_eq!(status(node, &by_secret(&new)), 200, "the new secret");
    }
    admin(&d2, &url, &["token", "revoke", &token]);
    assert_eq!(status(&node1, &bearer), 401, "a revoked token");
    admin(&d1, &url, &["collection", "revoke", &coll, "alice"]);
    assert_eq!(status(&node2, &by_secret(&new)), 404, "a withdrawn grant");
    admin(&d1, &url, &["collection", "grant", &coll, "alice", "read"]);
    assert_eq!(status(&node2, &by_secret(&new)), 200);
    admin(&d1, &url, &["member", "disable", "alice"]);
    for node in [&node2, &node1] {
        assert_eq!(status(node, &by_secret(&new)), 401, "a disabled member");
    }
}

/// `detente psi query --from-collection` on a node kept in PostgreSQL: `--database-url` is
/// where its items come from and where the session is audited (the data directory holds no
/// store at all).
#[test]
fn psi_query_from_a_collection_reads_the_postgres_store() {
    let pg = TestPg::start().unwrap();
    let url = pg.fresh_database().unwrap();
    let dir = support::tempdir();
    let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
    // This side: a node on PostgreSQL holding evil0..evil9.
    let local = Node::start(&ours, &[], &["--database-url", &url]);
    let mine = admin(&ours, &url, &["collection", "add", "--title", "ours"]);
    local.push(
        &dir.path().join("ours.json"),
        &mine,
        &(0..10).map(indicator).collect::<Vec<_>>(),
        &[],
    );
    assert!(!ours.join("detente.sqlite").exists());
    // The answering node (SQLite) holds evil5..evil14.
    let remote = Node::start(&theirs, &[], &[]);
    let t = theirs.to_str().unwrap();
    let coll = last_line(&run_ok(&[
        "collection",
        "add",
        "--title",
        "theirs",
        "--data",
        t,
    ]));
    remote.push(
        &dir.path().join("theirs.json"),
        &coll,
        &(5..15).map(indicator).collect::<Vec<_>>(),
        &[],
    );
    let secret = last_line(&run_ok(&[
        "member", "add", "peer", "--role", "reader", "--data", t,
    ]));
    run_ok(&["collection", "grant", &coll, "peer", "psi", "--data", t]);
    let found = ok(detente(
        &[
            "psi",
            "query",
            "--peer",
            &remote.url,
            "--collection",
            &coll,
            "--from-collection",
            &mine,
            "--data",
            ours.to_str().unwrap(),
            "--database-url",
            &url,
            "--user",
            "peer",
        ],
        &[("DETENTE_SECRET", &secret)],
    ));
    let mut found: Vec<&str> = found.lines().collect();
    found.sort_unstable();
    let want: Vec<String> = (5..10).map(|n| format!("evil{n}.example")).collect();
    assert_eq!(found, want);
    // The querier's audit row is in the database, read by any admin command on it.
    let audit = ok(detente(
        &["psi", "audit", "--json"],
        &[
            ("DETENTE_DATABASE_URL", &url),
            ("DETENTE_DATA", ours.to_str().unwrap()),
        ],
    ));
    let rows: Value = serde_json::from_str(&audit).unwrap();
    let querier: Vec<&Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["role"] == "querier")
        .collect();
    assert_eq!(querier.len(), 1, "{audit}");
    assert_eq!(querier[0]["result_items"], 5, "{audit}");
    assert_eq!(querier[0]["own_items"], 10, "{audit}");
    assert!(!ours.join("detente.sqlite").exists());
}
