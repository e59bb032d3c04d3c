//! Members as adversaries of each other, on a real (in-process) node: a contributor cannot
//! hijack another's object (issue 10, recipe 1), learns nothing from a POST about copies it
//! cannot read (recipe 2), TLP fails closed (recipe 3), and deleting is the owner's or a
//! moderating admin's.

mod common;

use common::{COLL, Node};
use detente_store::{Access, Clearance, Role};
use serde_json::{Value, json};

const GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
const AMBER: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
const RED: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";

/// A node with `admin`, `alice` (contributor, AMBER, read-write), `mallory` (contributor,
/// GREEN, read-write), `dropbox` (contributor, GREEN, write only) and `reader` (GREEN, read).
fn start() -> Node {
    let m = |name: &str, role, clearance, grant| (name.to_owned(), role, clearance, grant);
    common::start(&[
        m("admin", Role::Admin, Clearance::AMBER_STRICT, None),
        m(
            "alice",
            Role::Contributor,
            Clearance::AMBER,
            Some(Access::ReadWrite),
        ),
        m(
            "mallory",
            Role::Contributor,
            Clearance::GREEN,
            Some(Access::ReadWrite),
        ),
        m(
            "dropbox",
            Role::Contributor,
            Clearance::GREEN,
            Some(Access::Write),
        ),
        m("reader", Role::Reader, Clearance::GREEN, Some(Access::Read)),
    ])
}

impl Node {
    /// GET under the collection as `user`: (status, body).
    fn get(&self, path: &str, user: &str) -> (u16, String) {
        self.call(
            "GET",
            &format!("/api/collections/{COLL}/{path}"),
            user,
            None,
        )
    }

    /// The objects `user` gets for one id (empty on 404).
    fn object(&self, id: &str, user: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("objects/{id}/"), user);
        if status == 404 {
            return vec![];
        }
        assert_eq!(status, 200, "{body}");
        let env: Value = serde_json::from_str(&body).unwrap();
        env["objects"].as_array().cloned().unwrap_or_default()
    }

    /// The ids in `user`'s page of latest versions.
    fn listed(&self, user: &str) -> Vec<String> {
        let (status, body) = self.get("objects/", user);
        assert_eq!(status, 200, "{body}");
        let env: Value = serde_json::from_str(&body).unwrap();
        env["objects"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn delete(&self, id: &str, user: &str) -> (u16, String) {
        self.call(
            "DELETE",
            &format!("/api/collections/{COLL}/objects/{id}/"),
            user,
            None,
        )
    }
}

fn indicator(n: u32, modified: &str, markings: &[&str], name: &str) -> Value {
    let mut o = json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2024-01-01T00:00:00.000Z",
        "modified": modified,
        "name": name,
        "pattern": "[domain-name:value = 'evil.example']",
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z"
    });
    if !markings.is_empty() {
        o["object_marking_refs"] = json!(markings);
    }
    o
}

fn domain(value: &str, markings: &[&str]) -> Value {
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::parse_str("00abedb4-aa42-466c-9c01-fed23315a9b7").unwrap(),
        json!({ "value": value }).to_string().as_bytes(),
    );
    let mut o = json!({"type": "domain-name", "spec_version": "2.1",
                       "id": format!("domain-name--{id}"), "value": value});
    if !markings.is_empty() {
        o["object_marking_refs"] = json!(markings);
    }
    o
}

/// The failure messages of a status resource.
fn failures(status: &Value) -> Vec<String> {
    status["failures"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| f["message"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn now_plus(secs: i64) -> String {
    let t = detente_server::now_micros() + secs * 1_000_000;
    let s = detente_taxii::time::format_micros(t);
    // STIX `modified` has millisecond precision.
    format!("{}Z", &s[..23])
}

/// Recipe 1: another member's new version (far-future RED, or plausible GREEN) is refused,
/// and the owner's version is still what every reader, and the admin, gets.
#[test]
fn hijacking_another_members_object_is_refused() {
    let n = start();
    let original = indicator(1, "2024-01-01T00:00:00.000Z", &[GREEN], "alice's");
    assert!(failures(&n.post("alice", std::slice::from_ref(&original))).is_empty());
    let far = indicator(1, "9999-12-31T23:59:59.999Z", &[RED], "hijack");
    let soon_red = indicator(1, &now_plus(60), &[RED], "hijack");
    let green = indicator(1, &now_plus(0), &[GREEN], "hijack");
    // Each envelope carries one valid object of the poster's own: an envelope of refusals
    // only is a 422.
    let attempts = [
        ("mallory", &far),
        ("mallory", &soon_red),
        ("dropbox", &green),
    ];
    for (i, (who, attempt)) in (100..).zip(attempts) {
        let own = indicator(i, "2024-01-01T00:00:00.000Z", &[], "own");
        let st = n.post(who, &[attempt.clone(), own]);
        let f = failures(&st);
        assert_eq!(f.len(), 1, "{who}: {st}");
        assert!(
            f[0].contains("future") || f[0].contains("another member"),
            "{f:?}"
        );
    }
    // The owner's own far-future version is refused too: nothing stays "latest" forever.
    let st = n.post(
        "alice",
        &[far, indicator(200, "2024-01-01T00:00:00.000Z", &[], "own")],
    );
    assert!(
        failures(&st)[0].contains("more than 300 s in the future"),
        "{st}"
    );
    for reader in ["reader", "mallory", "alice", "admin"] {
        let got = n.object("indicator--00000000-0000-4000-8000-000000000001", reader);
        assert_eq!(got, vec![original.clone()], "{reader}");
        assert!(
            n.listed(reader)
                .contains(&"indicator--00000000-0000-4000-8000-000000000001".to_owned())
        );
    }
    let (_, versions) = n.get(
        "objects/indicator--00000000-0000-4000-8000-000000000001/versions/",
        "admin",
    );
    assert_eq!(
        serde_json::from_str::<Value>(&versions).unwrap()["versions"],
        json!(["2024-01-01T00:00:00.000Z"])
    );
    // The owner, and an admin, add versions.
    let v2 = indicator(1, &now_plus(0), &[GREEN], "alice's v2");
    assert!(failures(&n.post("alice", &[v2])).is_empty());
    let v3 = indicator(1, &now_plus(1), &[GREEN], "moderated");
    assert!(failures(&n.post("admin", std::slice::from_ref(&v3))).is_empty());
    assert_eq!(
        n.object("indicator--00000000-0000-4000-8000-000000000001", "reader"),
        vec![v3]
    );
}

/// The status of a probe with the status id, timestamps and versions taken out.
fn normalized(status: &Value) -> String {
    let mut s = status.clone();
    s["id"] = json!("");
    s["request_timestamp"] = json!("");
    for list in ["successes", "failures"] {
        if let Some(items) = s[list].as_array_mut() {
            for d in items {
                d["version"] = json!("");
                if let Some(m) = d["message"].as_str() {
                    let m = m.split("?version=").next().unwrap_or("").to_owned();
                    d["message"] = json!(m);
                }
            }
        }
    }
    s.to_string()
}

/// Recipe 2: posting a value-identified object someone else holds above the poster's view
/// reads exactly like posting one nobody holds, for a drop box and a GREEN member alike;
/// readers see only the copies they may.
#[test]
fn a_post_reveals_nothing_about_hidden_copies() {
    let with_hidden = start();
    let without = start();
    let secret = domain("secret.example", &[AMBER]);
    assert!(failures(&with_hidden.post("alice", &[secret])).is_empty());
    for prober in ["dropbox", "mallory"] {
        let probe = domain("secret.example", &[]);
        let a = with_hidden.post(prober, std::slice::from_ref(&probe));
        let b = without.post(prober, std::slice::from_ref(&probe));
        assert_eq!(normalized(&a), normalized(&b), "{prober}");
        assert!(failures(&a).is_empty(), "{a}");
        // Posting it again is "already present", on both nodes alike.
        let a = with_hidden.post(prober, std::slice::from_ref(&probe));
        let b = without.post(prober, &[probe]);
        assert_eq!(normalized(&a), normalized(&b), "{prober}");
        assert_eq!(a["successes"][0]["message"], "already present");
    }
    let id = domain("secret.example", &[])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The GREEN reader sees the two unmarked copies, never alice's AMBER one; alice sees all.
    let seen = with_hidden.object(&id, "reader");
    assert_eq!(
        seen.len(),
        1,
        "default `last`: the newest copy the reader may see"
    );
    assert!(seen[0].get("object_marking_refs").is_none());
    let (_, v) = with_hidden.get(&format!("objects/{id}/versions/"), "reader");
    let v: Value = serde_json::from_str(&v).unwrap();
    assert_eq!(v["versions"].as_array().unwrap().len(), 2);
    let (_, v) = with_hidden.get(&format!("objects/{id}/versions/"), "alice");
    let v: Value = serde_json::from_str(&v).unwrap();
    assert_eq!(v["versions"].as_array().unwrap().len(), 3);
    let (_, m) = with_hidden.get("manifest/", "reader");
    assert_eq!(
        serde_json::from_str::<Value>(&m).unwrap()["objects"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // mallory's DELETE removes its own copy only.
    assert_eq!(with_hidden.delete(&id, "mallory").0, 200);
    let (_, v) = with_hidden.get(&format!("objects/{id}/versions/"), "alice");
    let v: Value = serde_json::from_str(&v).unwrap();
    assert_eq!(v["versions"].as_array().unwrap().len(), 2);
}

/// Recipe 3: upper-case TLP:RED ids and granular RED markings keep an object from GREEN
/// readers; a TLP look-alike marking definition and upper-case object ids are refused.
#[test]
fn tlp_fails_closed() {
    let n = start();
    let upper = indicator(
        10,
        "2024-01-01T00:00:00.000Z",
        &["marking-definition--5E57C739-391A-4EB3-B6BE-7D15CA92D5ED"],
        "upper-case red",
    );
    let mut granular = indicator(11, "2024-01-01T00:00:00.000Z", &[GREEN], "granular red");
    granular["granular_markings"] = json!([{ "marking_ref": RED, "selectors": ["pattern"] }]);
    let mut granular_amber = indicator(12, "2024-01-01T00:00:00.000Z", &[], "granular amber");
    granular_amber["granular_markings"] = json!([{
        "marking_ref": "marking-definition--F88D31F6-486F-44DA-B317-01333BDE0B82",
        "selectors": ["name"]
    }]);
    let st = n.post("alice", &[upper, granular, granular_amber]);
    assert!(failures(&st).is_empty(), "{st}");
    for id in [10, 11, 12] {
        let id = format!("indicator--00000000-0000-4000-8000-{id:012}");
        for green in ["reader", "mallory"] {
            assert!(n.object(&id, green).is_empty(), "{green} reads {id}");
            assert!(!n.listed(green).contains(&id), "{green} lists {id}");
        }
        assert_eq!(
            n.object(&id, "alice").len(),
            1,
            "the contributor reads {id}"
        );
    }
    // The admin is no RED recipient either.
    assert!(
        n.object("indicator--00000000-0000-4000-8000-000000000010", "admin")
            .is_empty()
    );
    let lookalike = json!({
        "type": "marking-definition", "spec_version": "2.1",
        "id": "marking-definition--00000000-0000-4000-8000-000000000001",
        "created": "2024-01-01T00:00:00.000Z", "name": "TLP:RED",
        "definition_type": "statement", "definition": {"statement": "TLP:RED"}
    });
    let mut upper_id = indicator(13, "2024-01-01T00:00:00.000Z", &[], "x");
    upper_id["id"] = json!("indicator--0000000A-0000-4000-8000-000000000013");
    let ok = indicator(14, "2024-01-01T00:00:00.000Z", &[], "fine");
    let st = n.post("alice", &[lookalike, upper_id, ok]);
    let f = failures(&st);
    assert_eq!(f.len(), 2, "{st}");
    assert!(f[0].contains("looks like a TLP marking"), "{f:?}");
    assert!(f[1].contains("lower case"), "{f:?}");
}

/// A member deletes only what it contributed, and is answered for anything else exactly as
/// for an object that does not exist; an admin deletes any version, RED included.
#[test]
fn deleting_is_the_owners_or_a_moderators() {
    let n = start();
    let green = indicator(20, "2024-01-01T00:00:00.000Z", &[GREEN], "alice's");
    let mut red = indicator(21, "2024-01-01T00:00:00.000Z", &[RED], "alice's red");
    red["x_detente_recipients"] = json!(["mallory"]);
    assert!(failures(&n.post("alice", &[green.clone(), red])).is_empty());
    let refused = n.delete("indicator--00000000-0000-4000-8000-000000000020", "mallory");
    let absent = n.delete("indicator--00000000-0000-4000-8000-000000000099", "mallory");
    assert_eq!(refused.0, 404);
    assert_eq!(
        refused.1.replace("000000000020", "X"),
        absent.1.replace("000000000099", "X")
    );
    assert_eq!(
        n.object("indicator--00000000-0000-4000-8000-000000000020", "reader"),
        vec![green]
    );
    // mallory, a recipient, reads alice's RED object but cannot delete it; the admin, who
    // cannot read it, can.
    let red_id = "indicator--00000000-0000-4000-8000-000000000021";
    assert_eq!(n.object(red_id, "mallory").len(), 1);
    assert_eq!(n.delete(red_id, "mallory").0, 404);
    assert_eq!(n.delete(red_id, "admin").0, 200);
    assert!(n.object(red_id, "alice").is_empty());
    assert_eq!(n.delete(red_id, "admin").0, 404);
}

/// A TLP:RED object naming a recipient who is not a member is refused, naming it.
#[test]
fn unknown_red_recipients_are_refused() {
    let n = start();
    let mut typo = indicator(30, "2024-01-01T00:00:00.000Z", &[RED], "for mallory");
    typo["x_detente_recipients"] = json!(["mallory", "malory"]);
    let mut fine = indicator(31, "2024-01-01T00:00:00.000Z", &[RED], "for mallory");
    fine["x_detente_recipients"] = json!(["mallory"]);
    let st = n.post("alice", &[typo, fine]);
    let f = failures(&st);
    assert_eq!(f.len(), 1, "{st}");
    assert!(f[0].contains("no member named \"malory\""), "{f:?}");
    assert!(
        n.object("indicator--00000000-0000-4000-8000-000000000030", "mallory")
            .is_empty()
    );
    assert_eq!(
        n.object("indicator--00000000-0000-4000-8000-000000000031", "mallory")
            .len(),
        1
    );
}
