//! The authorization matrix, generated: every member kind (role × grant × clearance, plus
//! TLP:RED recipients and a second contributor) against every object kind (each TLP level,
//! RED with and without recipients, upper-case marking ids, granular markings, an object
//! with versions at several levels, value-identified copies from two contributors) on the
//! TAXII endpoints (discovery, API root, status, collections, objects, object, versions,
//! manifest, DELETE, POST), the federation feed and provenance, `/whoami` and
//! `/log/receipt` and `/log/keys`, checked against a model of what
//! each member may see: nothing above a member's view is returned, counted, listed,
//! receipted or deletable, and a hidden object answers exactly like an absent one.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;

use common::{COLL, Node, start};
use detente_store::{Access, Clearance, Role, Store};
use serde_json::{Value, json};

const ABSENT: &str = "indicator--00000000-0000-4000-8000-00000000dead";

/// A marking, as posted, and the level the model gives it (4 is RED).
const MARKINGS: [(&str, u8); 7] = [
    (
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        0,
    ),
    (
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        1,
    ),
    (
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        2,
    ),
    (
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        3,
    ),
    (
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        4,
    ),
    (
        "marking-definition--5E57C739-391A-4EB3-B6BE-7D15CA92D5ED",
        4,
    ),
    (
        "marking-definition--F88D31F6-486F-44DA-B317-01333BDE0B82",
        2,
    ),
];

/// A member of the matrix.
#[derive(Clone, Debug)]
struct M {
    name: String,
    role: Role,
    grant: Option<Access>,
    clearance: Clearance,
}

impl M {
    fn read(&self) -> bool {
        self.role == Role::Admin || self.grant.is_some_and(Access::read)
    }
    fn write(&self) -> bool {
        self.role == Role::Admin
            || (self.role == Role::Contributor && self.grant.is_some_and(Access::write))
    }
    fn level(&self) -> u8 {
        self.clearance.level().rank()
    }
}

/// One stored version in the model.
#[derive(Clone, Debug)]
struct V {
    id: String,
    /// `modified`, or for copies the `date_added` the node reports.
    version: String,
    level: u8,
    by: String,
    recipients: Vec<String>,
    body: Value,
    /// The id of the status of the POST that stored it.
    status: String,
}

impl V {
    fn seen_by(&self, m: &M) -> bool {
        m.read()
            && (self.level <= m.level()
                || (self.level == 4 && (m.name == self.by || self.recipients.contains(&m.name))))
    }
}

fn members() -> Vec<M> {
    let mut out = vec![
        M {
            name: "admin".into(),
            role: Role::Admin,
            grant: None,
            clearance: Clearance::AMBER_STRICT,
        },
        M {
            name: "owner".into(),
            role: Role::Contributor,
            grant: Some(Access::ReadWrite),
            clearance: Clearance::AMBER_STRICT,
        },
        M {
            name: "second".into(),
            role: Role::Contributor,
            grant: Some(Access::ReadWrite),
            clearance: Clearance::GREEN,
        },
    ];
    let grants = [
        None,
        Some(Access::Read),
        Some(Access::Write),
        Some(Access::ReadWrite),
        Some(Access::Psi),
        Some(Access::ReadPsi),
    ];
    for role in [Role::Contributor, Role::Reader] {
        for grant in grants {
            for clearance in [
                Clearance::CLEAR,
                Clearance::GREEN,
                Clearance::AMBER,
                Clearance::AMBER_STRICT,
            ] {
                out.push(M {
                    name: format!(
                        "{}-{}-{}",
                        role.as_str(),
                        grant.map_or("none", Access::as_str),
                        clearance.as_str()
                    )
                    .replace('+', "_"),
                    role,
                    grant,
                    clearance,
                });
            }
        }
    }
    out
}

fn indicator(n: u32, day: u32, markings: &[usize], granular: Option<usize>) -> Value {
    let mut o = json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2024-01-01T00:00:00.000Z",
        "modified": format!("2024-01-{day:02}T00:00:00.000Z"),
        "name": format!("indicator {n} v{day}"),
        "pattern": format!("[domain-name:value = 'n{n}.example']"),
        "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"
    });
    if !markings.is_empty() {
        o["object_marking_refs"] =
            json!(markings.iter().map(|&i| MARKINGS[i].0).collect::<Vec<_>>());
    }
    if let Some(g) = granular {
        o["granular_markings"] = json!([{ "marking_ref": MARKINGS[g].0, "selectors": ["name"] }]);
    }
    o
}

/// Posts every object kind; returns the model of what is stored.
fn populate(n: &Node, recipient: &str) -> Vec<V> {
    let mut model = vec![];
    let mut add = |n: &Node, by: &str, o: Value, level: u8, recipients: &[&str]| {
        let mut o = o;
        if !recipients.is_empty() {
            o["x_detente_recipients"] = json!(recipients);
        }
        let st = n.post(by, std::slice::from_ref(&o));
        assert_eq!(st["failure_count"], 0, "{st}");
        let version = st["successes"][0]["version"].as_str().unwrap().to_owned();
        model.push(V {
            id: o["id"].as_str().unwrap().to_owned(),
            version,
            level,
            by: by.to_owned(),
            recipients: recipients.iter().map(|r| (*r).to_owned()).collect(),
            body: o,
            status: st["id"].as_str().unwrap().to_owned(),
        });
    };
    add(n, "owner", indicator(1, 1, &[], None), 0, &[]);
    for (i, &(_, level)) in MARKINGS.iter().enumerate() {
        add(
            n,
            "owner",
            indicator(10 + i as u32, 1, &[i], None),
            level,
            &[],
        );
    }
    add(n, "owner", indicator(30, 1, &[4], None), 4, &[recipient]);
    add(n, "owner", indicator(31, 1, &[5], None), 4, &[recipient]);
    add(n, "owner", indicator(32, 1, &[1], Some(4)), 4, &[]);
    add(n, "owner", indicator(33, 1, &[], Some(6)), 2, &[]);
    // One object, versions at several levels (newest visible differs by member).
    for (day, marking) in [(1, 1), (2, 2), (3, 4), (4, 0), (5, 3)] {
        add(
            n,
            "owner",
            indicator(40, day, &[marking], None),
            MARKINGS[marking].1,
            &[],
        );
    }
    // A value both contributors hold, each under its own marking.
    let domain = |markings: &[usize]| {
        json!({"type": "domain-name", "spec_version": "2.1",
               "id": "domain-name--3c10e5f0-4a3d-5b3c-9d2a-6b0f5a1c2d3e", "value": "shared.example",
               "object_marking_refs": markings.iter().map(|&i| MARKINGS[i].0).collect::<Vec<_>>()})
    };
    add(n, "owner", domain(&[2]), 2, &[]);
    add(n, "second", domain(&[1]), 1, &[]);
    model
}

/// The versions of `id` a member sees, oldest version first.
fn seen<'a>(model: &'a [V], m: &M, id: &str) -> Vec<&'a V> {
    let mut v: Vec<&V> = model
        .iter()
        .filter(|v| v.id == id && v.seen_by(m))
        .collect();
    v.sort_by(|a, b| a.version.cmp(&b.version));
    v
}

fn ids(model: &[V]) -> BTreeSet<String> {
    model.iter().map(|v| v.id.clone()).collect()
}

fn envelope_objects(body: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(body).unwrap();
    v["objects"].as_array().cloned().unwrap_or_default()
}

/// A node with every member kind and every object kind, all of it sequenced into the log.
fn matrix_node() -> (Vec<M>, Node, Vec<V>) {
    let members = members();
    let specs: Vec<common::MemberSpec> = members
        .iter()
        .map(|m| (m.name.clone(), m.role, m.clearance, m.grant))
        .collect();
    let mut n = start(&specs);
    let model = populate(&n, "reader-read-clear");
    // A contributor key binding: every member sees every binding, nobody else any.
    let key = detente_tlog::NoteSigner::from_seed("owner-key", &[7; 32]).unwrap();
    n.store
        .bind_key("owner", &key.verifier().to_string())
        .unwrap();
    n.sequence();
    (members, n, model)
}

#[test]
fn nothing_above_a_members_view_is_returned_listed_counted_or_deletable() {
    let (members, n, model) = matrix_node();
    let base = format!("/api/collections/{COLL}");
    let mut cases = 0usize;
    for m in &members {
        let who = &m.name;
        let visible_coll = m.read() || m.write();
        // Discovery, the API root and /whoami answer every member alike.
        for path in ["/taxii2/", "/api/", "/whoami"] {
            assert_eq!(n.call("GET", path, who, None).0, 200, "{who} {path}");
            cases += 1;
        }
        // A status is its poster's and the admins': for anyone else it does not exist.
        let absent_status = "00000000-0000-4000-8000-000000000000";
        let (_, absent) = n.call("GET", &format!("/api/status/{absent_status}/"), who, None);
        for v in model
            .iter()
            .filter(|v| v.by != "owner" || v.id.ends_with("01"))
        {
            let (st, body) = n.call("GET", &format!("/api/status/{}/", v.status), who, None);
            cases += 1;
            if m.role == Role::Admin || *who == v.by {
                assert_eq!(st, 200, "{who} status of {}", v.by);
            } else {
                assert_eq!(st, 404, "{who} status of {}", v.by);
                assert_eq!(
                    body.replace(&v.status, "X"),
                    absent.replace(absent_status, "X")
                );
            }
        }
        // The collections listing.
        let (st, body) = n.call("GET", "/api/collections/", who, None);
        assert_eq!(st, 200);
        let listed: Value = serde_json::from_str(&body).unwrap();
        let entry = listed["collections"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["id"] == COLL);
        assert_eq!(entry.is_some(), visible_coll, "{who} lists the collection");
        if let Some(c) = entry {
            assert_eq!(
                (c["can_read"].as_bool(), c["can_write"].as_bool()),
                (Some(m.read()), Some(m.write())),
                "{who}"
            );
        }
        cases += 1;
        let denied = if !visible_coll { 404 } else { 403 };
        // Pages and the manifest: exactly the newest visible version of each object.
        let expect_last: BTreeMap<String, String> = ids(&model)
            .into_iter()
            .filter_map(|id| seen(&model, m, &id).last().map(|v| (id, v.version.clone())))
            .collect();
        let expect_all: BTreeSet<(String, String)> = model
            .iter()
            .filter(|v| v.seen_by(m))
            .map(|v| (v.id.clone(), v.version.clone()))
            .collect();
        for path in [
            "objects/?limit=1000",
            "manifest/?limit=1000",
            "objects/?match[version]=all&limit=1000",
        ] {
            let (st, body) = n.call("GET", &format!("{base}/{path}"), who, None);
            cases += 1;
            if !m.read() {
                assert_eq!(st, denied, "{who} {path}");
                continue;
            }
            assert_eq!(st, 200, "{who} {path}: {body}");
            let items = envelope_objects(&body);
            let got: BTreeSet<(String, String)> = items
                .iter()
                .map(|o| {
                    let id = o["id"].as_str().unwrap().to_owned();
                    let version = o["version"]
                        .as_str()
                        .or(o["modified"].as_str())
                        .map(str::to_owned)
                        .unwrap_or_else(|| {
                            // A copy in a page: identify it by its body among the model's.
                            model
                                .iter()
                                .find(|v| v.body == *o)
                                .map(|v| v.version.clone())
                                .unwrap_or_default()
                        });
                    (id, version)
                })
                .collect();
            let want: BTreeSet<(String, String)> = if path.contains("match[version]=all") {
                expect_all.clone()
            } else {
                expect_last.clone().into_iter().collect()
            };
            assert_eq!(got, want, "{who} {path}");
            assert_eq!(items.len(), want.len(), "{who} {path}: counted once each");
        }
        // The federation feed (what a partner node mirrors): every version the member may
        // read, each once, and no tombstones (nothing was deleted).
        let (st, body) = n.call(
            "GET",
            &format!("{base}/federation/feed/?limit=1000"),
            who,
            None,
        );
        cases += 1;
        if m.read() {
            assert_eq!(st, 200, "{who} feed: {body}");
            let feed: Value = serde_json::from_str(&body).unwrap();
            let items: Vec<&Value> = feed["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| &e["object"])
                .collect();
            let got: BTreeSet<(String, String)> = items
                .iter()
                .map(|o| {
                    let v = model.iter().find(|v| v.body == **o).unwrap();
                    (v.id.clone(), v.version.clone())
                })
                .collect();
            assert_eq!(got, expect_all, "{who} feed");
            assert_eq!(items.len(), expect_all.len(), "{who} feed: each once");
            assert_eq!(feed["tombstones"], json!([]), "{who} feed");
        } else {
            assert_eq!(st, denied, "{who} feed");
        }
        let (_, absent_prov) = n.call(
            "GET",
            &format!("{base}/objects/{ABSENT}/provenance/"),
            who,
            None,
        );
        // Several objects' provenance at once, hidden and absent ones among them: readers
        // get the same empty answer whatever they may see (nothing here is mirrored).
        let all: Vec<String> = ids(&model).into_iter().chain([ABSENT.into()]).collect();
        let (st, body) = n.call(
            "GET",
            &format!("{base}/provenance/?match[id]={}", all.join(",")),
            who,
            None,
        );
        cases += 1;
        if m.read() {
            assert_eq!(st, 200, "{who} provenance of all: {body}");
            assert_eq!(body, r#"{"provenance":[]}"#, "{who} provenance of all");
        } else {
            assert_eq!(st, denied, "{who} provenance of all");
        }
        // Per object: by id, versions, receipt, DELETE by anyone but the owner and admins.
        let (_, absent_get) = n.call("GET", &format!("{base}/objects/{ABSENT}/"), who, None);
        let (absent_del_st, absent_del) =
            n.call("DELETE", &format!("{base}/objects/{ABSENT}/"), who, None);
        for id in ids(&model).iter().map(String::as_str).chain([ABSENT]) {
            let vs = seen(&model, m, id);
            let (st, body) = n.call("GET", &format!("{base}/objects/{id}/"), who, None);
            cases += 1;
            if !m.read() {
                assert_eq!(st, denied, "{who} GET {id}");
            } else if vs.is_empty() {
                assert_eq!(st, 404, "{who} GET {id}: {body}");
                assert_eq!(
                    body.replace(id, "X"),
                    absent_get.replace(ABSENT, "X"),
                    "{who} {id}"
                );
            } else {
                assert_eq!(st, 200, "{who} GET {id}");
                assert_eq!(
                    envelope_objects(&body),
                    vec![vs[vs.len() - 1].body.clone()],
                    "{who} GET {id}"
                );
            }
            let (st, body) = n.call("GET", &format!("{base}/objects/{id}/versions/"), who, None);
            cases += 1;
            if m.read() && !vs.is_empty() {
                assert_eq!(st, 200, "{who} versions {id}");
                let got: Vec<String> = serde_json::from_str::<Value>(&body).unwrap()["versions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect();
                let want: Vec<String> = vs.iter().map(|v| v.version.clone()).collect();
                assert_eq!(got, want, "{who} versions {id}");
            } else {
                assert_eq!(
                    st,
                    if m.read() { 404 } else { denied },
                    "{who} versions {id}"
                );
            }
            // Provenance: nothing here is mirrored; hidden answers like absent.
            let (st, body) = n.call(
                "GET",
                &format!("{base}/objects/{id}/provenance/"),
                who,
                None,
            );
            cases += 1;
            if !m.read() {
                assert_eq!(st, denied, "{who} provenance {id}");
            } else if vs.is_empty() {
                assert_eq!(st, 404, "{who} provenance {id}");
                assert_eq!(
                    body.replace(id, "X"),
                    absent_prov.replace(ABSENT, "X"),
                    "{who} provenance {id}"
                );
            } else {
                assert_eq!(st, 200, "{who} provenance {id}");
                assert_eq!(body, r#"{"provenance":[]}"#, "{who} provenance {id}");
            }
            let (st, _) = n.call("GET", &format!("/log/receipt/{COLL}/{id}"), who, None);
            cases += 1;
            assert_eq!(
                st,
                if vs.is_empty() { 404 } else { 200 },
                "{who} receipt {id}"
            );
            if m.role != Role::Admin && m.name != "owner" && m.name != "second" {
                let (st, body) = n.call("DELETE", &format!("{base}/objects/{id}/"), who, None);
                cases += 1;
                assert_eq!(st, absent_del_st, "{who} DELETE {id}");
                assert_eq!(
                    body.replace(id, "X"),
                    absent_del.replace(ABSENT, "X"),
                    "{who} DELETE {id}"
                );
            }
        }
    }
    // Nothing was deleted by anyone above.
    let (_, body) = n.call(
        "GET",
        &format!("{base}/objects/?match[version]=all&limit=1000"),
        "owner",
        None,
    );
    assert_eq!(
        envelope_objects(&body).len(),
        model.iter().filter(|v| v.by == "owner").count() + 1
    );
    // Writing: what a writer is told never depends on what it cannot read. A new version of
    // any of the owner's objects gets the same refusal, visible or hidden; a copy of a value
    // the owner holds (hidden or not) reads like a copy of a value nobody holds.
    let owned: Vec<&V> = model
        .iter()
        .filter(|v| v.by == "owner" && v.id.starts_with("indicator--"))
        .collect();
    for m in members
        .iter()
        .filter(|m| m.write() && m.role != Role::Admin && m.name != "owner")
    {
        let who = &m.name;
        let mut refusals = BTreeSet::new();
        // A new version, and a different object with a stored version's id and version.
        let attempts = owned.iter().flat_map(|v| {
            let mut newer = v.body.clone();
            newer["modified"] = json!("2024-02-01T00:00:00.000Z");
            let mut same = v.body.clone();
            same["name"] = json!("probe");
            [(v, newer), (v, same)]
        });
        for (v, o) in attempts {
            let (st, body) = n.call(
                "POST",
                &format!("{base}/objects/"),
                who,
                Some(&json!({ "objects": [o] })),
            );
            cases += 1;
            assert_eq!(st, 202, "{who} versions {}: {body}", v.id);
            let mut r: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(r["failure_count"], 1, "{who} versions {}: {body}", v.id);
            for k in ["id", "request_timestamp"] {
                r[k] = json!("");
            }
            // The version echoes the poster's own object.
            r["failures"][0]["version"] = json!("");
            refusals.insert(r.to_string().replace(&v.id, "X"));
        }
        assert_eq!(refusals.len(), 1, "{who}: {refusals:?}");
        let probe = |value: &str| {
            let uuid = if value == "shared.example" {
                "3c10e5f0-4a3d-5b3c-9d2a-6b0f5a1c2d3e".to_owned()
            } else {
                format!(
                    "3c10e5f0-4a3d-5b3c-9d2a-{:012x}",
                    who.len() * 7919 + who.bytes().map(usize::from).sum::<usize>()
                )
            };
            let o = json!({"type": "domain-name", "spec_version": "2.1",
                           "id": format!("domain-name--{uuid}"), "value": value});
            let (st, body) = n.call(
                "POST",
                &format!("{base}/objects/"),
                who,
                Some(&json!({ "objects": [o] })),
            );
            assert_eq!(st, 202, "{who}: {body}");
            let mut v: Value = serde_json::from_str(&body).unwrap();
            for k in ["id", "request_timestamp"] {
                v[k] = json!("");
            }
            v["successes"][0] = json!(
                v["successes"][0]["message"].as_str().map(|m| m
                    .split("/log/")
                    .next()
                    .unwrap_or("")
                    .to_owned())
            );
            v.to_string()
        };
        if m.name != "second" {
            cases += 1;
            assert_eq!(
                probe("shared.example"),
                probe(&format!("fresh-{who}.example")),
                "{who}"
            );
        }
    }
    // Tombstones in the feed: an admin removes every version of the object with versions at
    // several levels; each member's feed carries the tombstones of exactly the versions it
    // could read.
    let multi = "indicator--00000000-0000-4000-8000-000000000040";
    let (st, _) = n.call("DELETE", &format!("{base}/objects/{multi}/"), "admin", None);
    assert_eq!(st, 200);
    for m in &members {
        let who = &m.name;
        let (st, body) = n.call(
            "GET",
            &format!("{base}/federation/feed/?limit=1000"),
            who,
            None,
        );
        cases += 1;
        if !m.read() {
            assert_eq!(st, if m.write() { 403 } else { 404 }, "{who} feed");
            continue;
        }
        let feed: Value = serde_json::from_str(&body).unwrap();
        let got: BTreeSet<String> = feed["tombstones"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                assert_eq!(t["object_id"], multi, "{who}");
                t["version"].as_str().unwrap().to_owned()
            })
            .collect();
        let want: BTreeSet<String> = seen(&model, m, multi)
            .iter()
            .map(|v| v.version.clone())
            .collect();
        assert_eq!(got, want, "{who} tombstones");
    }
    println!(
        "authorization matrix: {} members x {} objects (+1 absent), {} versions: {cases} cases",
        members.len(),
        ids(&model).len(),
        model.len()
    );
}

/// What no answer outside a member's own view may contain: every object id, indicator
/// value and name, the shared value and the collection id.
fn secrets(model: &[V]) -> Vec<String> {
    let mut out: Vec<String> = ids(model).into_iter().collect();
    for v in model {
        for k in ["name", "value"] {
            if let Some(s) = v.body[k].as_str() {
                out.push(s.to_owned());
            }
        }
        if let Some(p) = v.body["pattern"].as_str() {
            out.extend(p.split('\'').nth(1).map(str::to_owned));
        }
    }
    out.push(COLL.to_owned());
    out.sort();
    out.dedup();
    out
}

fn assert_reveals_nothing(what: &str, body: &[u8], secrets: &[String]) {
    for s in secrets {
        assert!(
            !body.windows(s.len()).any(|w| w == s.as_bytes()),
            "{what} contains {s}"
        );
    }
}

impl Node {
    /// One request as `user`, or with no credentials: (status, body bytes).
    fn raw(&self, method: &str, path: &str, user: Option<&str>, body: &[u8]) -> (u16, Vec<u8>) {
        let url = format!("http://{}{path}", self.addr);
        let r = if method == "GET" {
            let mut req = self.agent.get(&url).header("Accept", common::TAXII);
            if let Some(u) = user {
                req = req.header("Authorization", common::basic(u));
            }
            req.call()
        } else {
            let mut req = self.agent.post(&url);
            if let Some(u) = user {
                req = req.header("Authorization", common::basic(u));
            }
            req.send(body)
        };
        let mut r = r.unwrap();
        (r.status().as_u16(), r.body_mut().read_to_vec().unwrap())
    }
}

/// The endpoints outside TAXII: the public log (checkpoint, consistency, tiles) and the
/// witness answer every caller, member or not, byte for byte alike and name nothing stored;
/// the status page and `/whoami` name no object; `/metrics` is not on the main listener; a
/// PSI session is open only to `psi` grants and answers for exactly the indicator values the
/// member may read under TLP (a real session through `detente-psi-net`'s client).
#[test]
fn public_endpoints_and_psi_reveal_nothing_above_a_members_view() {
    let (members, n, model) = matrix_node();
    let secrets = secrets(&model);
    let (st, checkpoint) = n.raw("GET", "/log/checkpoint", None, b"");
    assert_eq!(st, 200);
    let size: u64 = String::from_utf8_lossy(&checkpoint)
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .unwrap();
    assert!(size >= model.len() as u64, "{size}");
    let public = [
        "/log/checkpoint".to_owned(),
        "/log/consistency?from=1".to_owned(),
        format!("/log/consistency?from=3&to={}", size - 1),
        "/log/tile/0/000.p/".to_owned() + &size.to_string(),
        "/log/tile/entries/000.p/".to_owned() + &size.to_string(),
        "/signatures/extension-definition".to_owned(),
    ];
    let witness_bodies: [&[u8]; 2] = [b"old 0\n\nnot a checkpoint", &checkpoint];
    // A PSI querier's set: every value stored, and some nobody stored.
    let mut values: Vec<String> = model
        .iter()
        .filter_map(|v| v.body["pattern"].as_str())
        .filter_map(|p| p.split('\'').nth(1))
        .map(|v| detente_psi::normalize(v).unwrap())
        .chain(["absent-1.example", "absent-2.example"].map(str::to_owned))
        .collect();
    values.sort();
    values.dedup();
    let peer = format!("http://{}", n.addr);
    let mut cases = 0usize;
    let mut anonymous = BTreeMap::new();
    let callers = std::iter::once(None).chain(members.iter().map(Some));
    for m in callers {
        let who = m.map(|m| m.name.as_str());
        let tag = who.unwrap_or("anonymous");
        // The public log and the witness: one answer for everybody.
        for path in &public {
            let (st, body) = n.raw("GET", path, who, b"");
            cases += 1;
            assert_eq!(st, 200, "{tag} {path}");
            assert_reveals_nothing(path, &body, &secrets);
            let first = anonymous.entry(path.clone()).or_insert(body.clone());
            assert_eq!(*first, body, "{tag} {path}");
        }
        for (i, b) in witness_bodies.iter().enumerate() {
            let (st, body) = n.raw("POST", "/witness/add-checkpoint", who, b);
            cases += 1;
            assert!((400..500).contains(&st), "{tag} witness {i}: {st}");
            assert_reveals_nothing("witness", &body, &secrets);
            let key = format!("witness {i}");
            let first = anonymous.entry(key).or_insert(body.clone());
            assert_eq!(*first, body, "{tag} witness {i}");
        }
        // The status page: nothing about objects, and the same for everybody but the clock.
        let (st, page) = n.raw("GET", "/", who, b"");
        cases += 1;
        assert_eq!(st, 200);
        assert_reveals_nothing("/", &page, &secrets);
        let undated: Vec<u8> = page
            .iter()
            .filter(|b| !b.is_ascii_digit())
            .copied()
            .collect();
        let first = anonymous.entry("/".to_owned()).or_insert(undated.clone());
        assert_eq!(*first, undated, "{tag} /");
        // Metrics live on their own listener only: here the path is an unknown TAXII one.
        let (st, body) = n.raw("GET", "/metrics", who, b"");
        cases += 1;
        assert_eq!(st, if who.is_none() { 401 } else { 404 }, "{tag} /metrics");
        assert!(!String::from_utf8_lossy(&body).contains("# TYPE"), "{tag}");
        let Some(m) = m else {
            for path in ["/whoami", "/psi/v1/audit", "/log/keys", "/flags"] {
                assert_eq!(n.raw("GET", path, None, b"").0, 401, "{path}");
                cases += 1;
            }
            continue;
        };
        // /whoami: the caller's own name and role, nothing else.
        let (st, body) = n.raw("GET", "/whoami", who, b"");
        cases += 1;
        assert_eq!(st, 200);
        assert_reveals_nothing("/whoami", &body, &secrets);
        let me: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(me["member"], m.name.as_str());
        assert_eq!(me["role"], m.role.as_str());
        assert_eq!(me.as_object().map(|o| o.len()), Some(3), "{me}");
        // Key bindings: the same list for every member, naming no object.
        let (st, body) = n.raw("GET", "/log/keys", who, b"");
        cases += 1;
        assert_eq!(st, 200, "{tag} /log/keys");
        assert_reveals_nothing("/log/keys", &body, &secrets);
        let keys: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(keys.as_array().map(Vec::len), Some(1), "{keys}");
        assert_eq!(keys[0]["member"], "owner");
        let first = anonymous
            .entry("/log/keys".to_owned())
            .or_insert(body.clone());
        assert_eq!(*first, body, "{tag} /log/keys");
        // The PSI audit table is the admins'.
        let (st, _) = n.raw("GET", "/psi/v1/audit", who, b"");
        cases += 1;
        assert_eq!(st, if m.role == Role::Admin { 200 } else { 403 }, "{tag}");
        // The node's flags (every marking) are the admins'.
        let (st, _) = n.raw("GET", "/flags", who, b"");
        cases += 1;
        assert_eq!(
            st,
            if m.role == Role::Admin { 200 } else { 403 },
            "{tag} /flags"
        );
        // A PSI session: the answerer's set is what the member may read, whatever it may do.
        let options = detente_psi_net::client::QueryOptions {
            authorization: Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{}:pw", m.name))
            )),
            tls: None,
            mode: detente_psi::Mode::Intersection,
            max_peer_items: 1000,
        };
        let report = detente_psi_net::client::query_node(
            &peer,
            COLL,
            &values,
            &options,
            &detente_psi_net::NoProgress,
        );
        cases += 1;
        let may_psi = m.role == Role::Admin || m.grant.is_some_and(Access::psi);
        if !may_psi {
            let want = if m.role == Role::Admin || m.grant.is_some() {
                403
            } else {
                404
            };
            match report {
                Err(detente_psi_net::client::QueryError::Refused { status, .. }) => {
                    assert_eq!(status, want, "{tag} psi")
                }
                other => panic!("{tag} psi: {other:?}"),
            }
            continue;
        }
        let report = report.unwrap_or_else(|e| panic!("{tag} psi: {e}"));
        // TLP as for a TAXII GET, whether or not the grant also reads.
        let reader = M {
            grant: Some(Access::Read),
            ..m.clone()
        };
        let want: BTreeSet<String> = ids(&model)
            .into_iter()
            .filter_map(|id| seen(&model, &reader, &id).last().copied())
            .filter_map(|v| v.body["pattern"].as_str())
            .filter_map(|p| p.split('\'').nth(1))
            .map(|v| detente_psi::normalize(v).unwrap())
            .collect();
        let detente_psi::Outcome::Intersection(found) = report.outcome else {
            panic!("{tag}: not an intersection")
        };
        let got: BTreeSet<String> = found.iter().map(|&i| values[i].clone()).collect();
        assert_eq!(got, want, "{tag} psi");
        assert_eq!(report.peer_items, want.len(), "{tag} psi: the set's size");
    }
    println!(
        "public endpoints and PSI: {} callers (+ anonymous): {cases} cases",
        members.len()
    );
}

/// PSI limits against members who may not run sessions: a refused session (no credentials,
/// a wrong secret, no `psi` grant) records nothing in the store, so nobody can burn the
/// session id a querier is about to use or spend its budget; an answered id is refused as a
/// replay for every member, its own querier included.
#[test]
fn psi_refusals_record_nothing_and_answered_ids_are_refused_to_all() {
    let (members, n, _) = matrix_node();
    let path = format!("/psi/v1/collections/{COLL}/session");
    let session = |id: u8| {
        detente_psi::Request {
            header: detente_psi::RequestHeader {
                session: detente_psi::SessionId([id; 16]),
                mode: detente_psi::Mode::CountOnly,
                count: 0,
            },
            points: Vec::new(),
        }
        .encode()
    };
    let may_psi = |m: &M| m.role == Role::Admin || m.grant.is_some_and(Access::psi);
    let mut cases = 0usize;
    // Every refused caller tries the same id first.
    let (st, _) = n.raw("POST", &path, None, &session(1));
    assert_eq!(st, 401, "anonymous");
    let wrong = format!("{}:wrong", members[0].name);
    let url = format!("http://{}{path}", n.addr);
    let st = common::agent()
        .post(&url)
        .header(
            "Authorization",
            &format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(wrong)
            ),
        )
        .send(&session(1)[..])
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(st, 401, "a wrong secret");
    cases += 2;
    for m in members.iter().filter(|m| !may_psi(m)) {
        let (st, _) = n.raw("POST", &path, Some(&m.name), &session(1));
        assert!(st == 403 || st == 404, "{} psi: {st}", m.name);
        cases += 1;
    }
    let allowed: Vec<&M> = members.iter().filter(|m| may_psi(m)).collect();
    assert!(allowed.len() >= 3);
    let (st, _) = n.raw("POST", &path, Some(&allowed[0].name), &session(1));
    assert_eq!(st, 200, "the id nobody could burn");
    for m in &allowed {
        let (st, _) = n.raw("POST", &path, Some(&m.name), &session(1));
        assert_eq!(st, 409, "{} replays an answered id", m.name);
        cases += 1;
    }
    println!("PSI refusals: {cases} cases");
}

/// Versions of the hidden object in [`hidden_and_absent_ids_answer_alike_in_time`].
const HIDDEN_VERSIONS: u32 = 400;

/// Interleaved rounds per method in [`hidden_and_absent_ids_answer_alike_in_time`].
const TIMING_ROUNDS: usize = 600;

/// Largest median difference allowed between a hidden and an absent id, per request.
const TIMING_SLACK: std::time::Duration = std::time::Duration::from_micros(20);

/// The timing of a by-id GET and DELETE: for a member who may not read it, an object above
/// its clearance with 400 versions answers as fast as an id nobody stored. The store decides
/// "may this viewer see any version" from a per-id gate before it scans versions. Measured
/// on the loaded 2-core development machine (load 19-21): with the gate, the median paired
/// difference was under 0.5 µs for both methods; with the gate bypassed (the per-version
/// scan it replaced), GET answered 276 µs slower for the hidden id, and the test failed.
///
/// Measured as the median of paired differences (hidden minus absent, the two requests of
/// a round back to back, their order flipping every round), which cancels drift in the
/// machine's load; the medians of the two samples are printed too. The bound,
/// [`TIMING_SLACK`], is a few times the spread of that median on a loaded 2-core machine
/// and well under the old scan's gap.
#[test]
fn hidden_and_absent_ids_answer_alike_in_time() {
    let n = start(&[
        (
            "owner".into(),
            Role::Contributor,
            Clearance::AMBER_STRICT,
            Some(Access::ReadWrite),
        ),
        (
            "mallory".into(),
            Role::Contributor,
            Clearance::CLEAR,
            Some(Access::ReadWrite),
        ),
    ]);
    let hidden = indicator(7, 1, &[2], None)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let versions: Vec<Value> = (0..HIDDEN_VERSIONS)
        .map(|i| {
            let mut o = indicator(7, 1, &[2], None);
            o["modified"] = json!(format!("2024-01-02T{:02}:{:02}:00.000Z", i / 60, i % 60));
            o
        })
        .collect();
    for chunk in versions.chunks(100) {
        let st = n.post("owner", chunk);
        assert_eq!(st["failure_count"], 0, "{st}");
    }
    let path = |id: &str| format!("/api/collections/{COLL}/objects/{id}/");
    for method in ["GET", "DELETE"] {
        let (hidden_st, hidden_body) = n.call(method, &path(&hidden), "mallory", None);
        let (absent_st, absent_body) = n.call(method, &path(ABSENT), "mallory", None);
        assert_eq!(hidden_st, absent_st, "{method}");
        assert_eq!(
            hidden_body.replace(&hidden, "X"),
            absent_body.replace(ABSENT, "X"),
            "{method}"
        );
        let (mut h, mut a, mut diff) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..TIMING_ROUNDS {
            let mut pair = [std::time::Duration::ZERO; 2];
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for k in order {
                let id = if k == 0 { hidden.as_str() } else { ABSENT };
                let t = std::time::Instant::now();
                let (st, _) = n.call(method, &path(id), "mallory", None);
                pair[k] = t.elapsed();
                assert_eq!(st, absent_st, "{method} {id}");
            }
            h.push(pair[0]);
            a.push(pair[1]);
            diff.push(pair[0].as_secs_f64() - pair[1].as_secs_f64());
        }
        let median = |v: &mut Vec<std::time::Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        diff.sort_by(f64::total_cmp);
        let d = diff[diff.len() / 2];
        let (mh, ma) = (median(&mut h), median(&mut a));
        println!(
            "{method} by id, not readable, {HIDDEN_VERSIONS} versions: hidden median {mh:?}, \
             absent median {ma:?}, median of paired differences {:.1} µs",
            d * 1e6
        );
        assert!(
            d.abs() <= TIMING_SLACK.as_secs_f64(),
            "{method}: hidden minus absent {:.1} µs (hidden {mh:?}, absent {ma:?})",
            d * 1e6
        );
    }
    // Nothing was deleted: the owner still reads every version.
    let (_, body) = n.call("GET", &format!("{}versions/", path(&hidden)), "owner", None);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["versions"].as_array().map(Vec::len),
        Some(usize::try_from(HIDDEN_VERSIONS).unwrap()),
        "{v}"
    );
}

/// A false-positive sighting of `of`, posted as `n` on `day` of February 2024.
fn false_positive(n: u32, of: &str, markings: &[usize], extra: Value) -> Value {
    let mut o = json!({
        "type": "sighting", "spec_version": "2.1",
        "id": format!("sighting--00000000-0000-4000-8000-{n:012}"),
        "created": "2024-02-01T00:00:00.000Z", "modified": "2024-02-01T00:00:00.000Z",
        "sighting_of_ref": of, "x_detente_false_positive": true
    });
    if !markings.is_empty() {
        o["object_marking_refs"] =
            json!(markings.iter().map(|&i| MARKINGS[i].0).collect::<Vec<_>>());
    }
    if let Value::Object(m) = extra {
        for (k, v) in m {
            o[k] = v;
        }
    }
    o
}

/// Corroboration counts and scores (`…/scores/`): each member's counts and scores are those
/// of the newest versions of the indicators and false-positive sightings it may read, and
/// nothing else. A hidden AMBER copy of a value does not raise the count a GREEN reader
/// sees, a hidden false-positive report (AMBER, or RED for a recipient) does not lower
/// anyone else's score, and a member reporting twice, once under a forged `created_by_ref`,
/// is one party.
#[test]
fn scores_count_only_what_a_member_may_read() {
    let (members, n, mut model) = matrix_node();
    let base = format!("/api/collections/{COLL}");
    let mut add = |by: &str, o: Value, level: u8, recipients: &[&str]| {
        let mut o = o;
        if !recipients.is_empty() {
            o["x_detente_recipients"] = json!(recipients);
        }
        let st = n.post(by, std::slice::from_ref(&o));
        assert_eq!(st["failure_count"], 0, "{st}");
        model.push(V {
            id: o["id"].as_str().unwrap().to_owned(),
            version: st["successes"][0]["version"].as_str().unwrap().to_owned(),
            level,
            by: by.to_owned(),
            recipients: recipients.iter().map(|r| (*r).to_owned()).collect(),
            body: o,
            status: st["id"].as_str().unwrap().to_owned(),
        });
    };
    let copy = |k: u32, value: &str, markings: &[usize]| {
        let mut o = indicator(k, 1, markings, None);
        o["pattern"] = json!(format!("[domain-name:value = '{value}']"));
        o
    };
    // `second` (GREEN) carries the value of the owner's CLEAR indicator 1 twice, and the
    // value of the owner's AMBER indicator 12 once.
    add("second", copy(901, "n1.example", &[]), 0, &[]);
    add("second", copy(902, "N1.example.", &[1]), 1, &[]);
    add("second", copy(903, "n12.example", &[]), 0, &[]);
    let one = "indicator--00000000-0000-4000-8000-000000000001";
    let second_copy = "indicator--00000000-0000-4000-8000-000000000901";
    add("second", false_positive(1, one, &[], json!({})), 0, &[]);
    add(
        "second",
        false_positive(
            2,
            one,
            &[1],
            json!({"created_by_ref": "identity--00000000-0000-4000-8000-000000000bad"}),
        ),
        1,
        &[],
    );
    add("owner", false_positive(3, one, &[2], json!({})), 2, &[]);
    add(
        "owner",
        false_positive(4, second_copy, &[4], json!({})),
        4,
        &["reader-read-green"],
    );
    // A report withdrawn by its newer version counts for nothing.
    add(
        "owner",
        false_positive(5, second_copy, &[], json!({})),
        0,
        &[],
    );
    add(
        "owner",
        false_positive(
            5,
            second_copy,
            &[],
            json!({"modified": "2024-03-01T00:00:00.000Z", "x_detente_false_positive": false}),
        ),
        0,
        &[],
    );
    let value_of = |v: &V| -> Option<String> {
        let p = v.body["pattern"].as_str()?;
        Some(
            p.split('\'')
                .nth(1)?
                .trim_end_matches('.')
                .to_ascii_lowercase(),
        )
    };
    let mut cases = 0usize;
    let mut raised = 0usize;
    for m in &members {
        let who = &m.name;
        let (st, body) = n.call("GET", &format!("{base}/scores/"), who, None);
        cases += 1;
        if !m.read() {
            let visible_coll = m.read() || m.write();
            assert_eq!(st, if visible_coll { 403 } else { 404 }, "{who} scores");
            continue;
        }
        assert_eq!(st, 200, "{who} scores: {body}");
        let got: Value = serde_json::from_str(&body).unwrap();
        let now =
            detente_indicator::object::parse_timestamp(got["time"].as_str().unwrap()).unwrap();
        let scoring = detente_indicator::Scoring {
            model: detente_indicator::DecayModel::NIDS_SIMPLE,
            decay: true,
            now,
        };
        // The model: the newest visible version of every object.
        let latest: Vec<&V> = ids(&model)
            .into_iter()
            .filter_map(|id| seen(&model, m, &id).last().copied())
            .collect();
        let indicators: Vec<(&V, String)> = latest
            .iter()
            .filter_map(|v| Some((*v, value_of(v)?)))
            .collect();
        let mut want = BTreeMap::new();
        for (v, value) in &indicators {
            let contributors: BTreeSet<&str> = indicators
                .iter()
                .filter(|(_, w)| w == value)
                .map(|(o, _)| o.by.as_str())
                .collect();
            let reporters: BTreeSet<&str> = latest
                .iter()
                .filter(|s| {
                    s.body["type"] == "sighting"
                        && s.body["sighting_of_ref"] == v.id.as_str()
                        && s.body["x_detente_false_positive"] == true
                })
                .map(|s| s.by.as_str())
                .collect();
            let provenance = detente_indicator::Provenance {
                since: detente_indicator::object::parse_timestamp(
                    v.body["modified"].as_str().unwrap(),
                ),
                false_positives: reporters.len() as u32,
                ..Default::default()
            };
            let score = detente_indicator::score::rounded(scoring.score(&provenance));
            want.insert(
                (
                    v.id.clone(),
                    v.body["pattern"]
                        .as_str()
                        .unwrap()
                        .split('\'')
                        .nth(1)
                        .unwrap()
                        .to_owned(),
                ),
                (contributors.len() as u64, reporters.len() as u64, score),
            );
        }
        let rows: BTreeMap<(String, String), (u64, u64, f64)> = got["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    (
                        r["indicator"].as_str().unwrap().to_owned(),
                        r["value"].as_str().unwrap().to_owned(),
                    ),
                    (
                        r["contributors"].as_u64().unwrap(),
                        r["false_positives"].as_u64().unwrap(),
                        r["score"].as_f64().unwrap(),
                    ),
                )
            })
            .collect();
        assert_eq!(rows, want, "{who} scores");
        assert_eq!(
            got["scores"].as_array().unwrap().len(),
            want.len(),
            "{who}: one row each"
        );
        // Paging: at any limit the pages are the rows in order, and how many pages there are
        // follows from what this member may read alone (`want`).
        let all: Vec<(String, String)> = score_keys(&got);
        for limit in [1, 2, 5] {
            let pages = score_pages(&n, &base, who, limit);
            let flat: Vec<(String, String)> = pages.iter().flat_map(|p| p.0.clone()).collect();
            assert_eq!(flat, all, "{who} limit {limit}");
            assert_eq!(
                pages.len(),
                want.len().div_ceil(limit).max(1),
                "{who} limit {limit}"
            );
            cases += pages.len();
        }
        // The cases the model must make differ between members, checked outright.
        let row = |id: &str| {
            rows.iter()
                .find(|((i, _), _)| i.ends_with(id))
                .map(|(_, r)| *r)
        };
        let amber = m.level() >= 2;
        assert_eq!(
            row("000000000903").map(|r| r.0),
            Some(if amber { 2 } else { 1 }),
            "{who}"
        );
        assert_eq!(row("000000000001").map(|r| r.0), Some(2), "{who}");
        let reports = 1 + u64::from(amber);
        assert_eq!(row("000000000001").map(|r| r.1), Some(reports), "{who}");
        let red = *who == "owner" || *who == "reader-read-green";
        assert_eq!(
            row("000000000901").map(|r| r.1),
            Some(u64::from(red)),
            "{who}"
        );
        raised += usize::from(amber);
        cases += rows.len();
    }
    assert!(raised > 0, "no member saw the AMBER copy");
    // A cursor serves the member it was given to, at its limit, and nothing forged.
    let readers: Vec<&M> = members.iter().filter(|m| m.read()).collect();
    let first = format!("{base}/scores/?limit=1");
    let (_, body) = n.call("GET", &first, &readers[0].name, None);
    let next = serde_json::from_str::<Value>(&body).unwrap()["next"]
        .as_str()
        .expect("more than one row")
        .to_owned();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut raw = b64.decode(&next).unwrap();
    raw[7] ^= 1;
    let forged = b64.encode(raw);
    for (who, limit, cursor) in [
        (&readers[1].name, 1, next.as_str()),
        (&readers[0].name, 2, next.as_str()),
        (&readers[0].name, 1, forged.as_str()),
    ] {
        let q = format!("{base}/scores/?limit={limit}&next={cursor}");
        let (st, body) = n.call("GET", &q, who, None);
        assert_eq!(st, 400, "{who} limit {limit}: {body}");
        cases += 1;
    }
    // Hidden objects change nothing a GREEN reader's pages show — neither rows nor their
    // number nor `more` — while an AMBER reader's pages show them (so the objects count).
    let green = members
        .iter()
        .find(|m| m.read() && m.level() == 1)
        .expect("a GREEN reader");
    let amber = members
        .iter()
        .find(|m| m.read() && m.level() >= 2)
        .expect("an AMBER reader");
    let before = [green, amber].map(|m| score_pages(&n, &base, &m.name, 2));
    for (k, value) in [(904, "n1.example"), (905, "hidden.example")] {
        let mut o = indicator(k, 1, &[2], None);
        o["pattern"] = json!(format!("[domain-name:value = '{value}']"));
        let st = n.post("owner", &[o]);
        assert_eq!(st["failure_count"], 0, "{st}");
    }
    let after = [green, amber].map(|m| score_pages(&n, &base, &m.name, 2));
    assert_eq!(
        after[0], before[0],
        "{}: hidden AMBER objects showed",
        green.name
    );
    assert_ne!(
        after[1], before[1],
        "{}: AMBER objects did not count",
        amber.name
    );
    cases += 2;
    println!("scores: {} members: {cases} cases", members.len());
}

/// The (indicator, value) of each row of a scores page, in order.
fn score_keys(page: &Value) -> Vec<(String, String)> {
    page["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["indicator"].as_str().unwrap().to_owned(),
                r["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `who`'s scores page by page at `limit`: each page's rows and its `more`.
fn score_pages(
    n: &Node,
    base: &str,
    who: &str,
    limit: usize,
) -> Vec<(Vec<(String, String)>, bool)> {
    let mut pages = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let q = match &next {
            Some(c) => format!("{base}/scores/?limit={limit}&next={c}"),
            None => format!("{base}/scores/?limit={limit}"),
        };
        let (st, body) = n.call("GET", &q, who, None);
        assert_eq!(st, 200, "{who} page {}: {body}", pages.len());
        let v: Value = serde_json::from_str(&body).unwrap();
        let more = v["more"].as_bool().unwrap_or(false);
        assert_eq!(more, v["next"].is_string(), "{who}: {body}");
        assert!(score_keys(&v).len() <= limit, "{who}: {body}");
        pages.push((score_keys(&v), more));
        next = v["next"].as_str().map(str::to_owned);
        if next.is_none() {
            return pages;
        }
        assert!(pages.len() < 1000, "{who}: pages without end");
    }
}
