"""End-to-end tests of the detente node through the real taxii2-client and stix2 packages."""
import datetime as dt
import json
import os
import uuid

import pytest
import requests
import stix2
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages
from taxii2client.exceptions import TAXIIServiceException

from conftest import MAX_CONTENT, TAXII

TLP_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
TLP_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
TLP_RED = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
TLP2_AMBER_STRICT = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"


def indicator(i=0, **kw):
    return stix2.Indicator(
        name=f"bad ip {i}", pattern=f"[ipv4-addr:value = '10.0.{i // 256 % 256}.{i % 256}']",
        pattern_type="stix", valid_from="2024-01-01T00:00:00Z", **kw)


def envelope(*objs):
    return {"objects": [json.loads(o.serialize()) if hasattr(o, "serialize") else o for o in objs]}


def all_objects(coll, **filters):
    out = []
    for page in as_pages(coll.get_objects, per_request=50, **filters):
        out.extend(page.get("objects", []))
    return out


@pytest.fixture(scope="module")
def admin(node):
    return node.admin()


@pytest.fixture(scope="module")
def coll_id(node):
    return node.value("collection", "add", "--title", "Main", "--description", "shared intel")


def collection(node, cid, auth):
    return Collection(f"{node.api}collections/{cid}/", user=auth[0], password=auth[1])


def test_discovery_api_root_and_collections(node, admin, coll_id):
    server = Server(f"{node.base}/taxii2/", user=admin[0], password=admin[1])
    assert server.title == "detente"
    assert [r.url for r in server.api_roots] == [node.api]
    assert server.default.url == node.api
    root = server.api_roots[0]
    assert "application/taxii+json;version=2.1" in root.versions
    assert root.max_content_length == MAX_CONTENT
    ids = [c.id for c in root.collections]
    assert coll_id in ids
    c = [c for c in root.collections if c.id == coll_id][0]
    assert c.can_read and c.can_write and c.title == "Main" and c.description == "shared intel"
    raw = node.get("/taxii2/", admin).json()
    assert raw["api_roots"] == ["/api/"]


def test_add_get_manifest_versions_delete(node, admin, coll_id):
    coll = collection(node, coll_id, admin)
    ind = indicator(1)
    status = coll.add_objects(stix2.v21.Bundle(ind, allow_custom=True).serialize() and json.dumps(envelope(ind)))
    assert status.status == "complete"
    assert status.total_count == 1 and status.success_count == 1 and status.failure_count == 0
    st = ApiRoot(node.api, user=admin[0], password=admin[1]).get_status(status.id)
    assert st.status == "complete" and st.success_count == 1
    got = coll.get_object(ind.id)
    assert got["objects"][0]["id"] == ind.id
    assert got["objects"][0] == json.loads(ind.serialize())
    # A new version of the same object.
    ind2 = ind.new_version(name="renamed")
    coll.add_objects(envelope(ind2))
    latest = coll.get_object(ind.id)["objects"]
    assert len(latest) == 1 and latest[0]["name"] == "renamed"
    every = coll.get_object(ind.id, version="all")["objects"]
    assert [o["modified"] for o in every] == [ind.serialize() and json.loads(ind.serialize())["modified"],
                                              json.loads(ind2.serialize())["modified"]]
    first = coll.get_object(ind.id, version="first")["objects"]
    assert first[0]["name"] == "bad ip 1"
    versions = coll.object_versions(ind.id)
    assert versions["versions"] == [json.loads(ind.serialize())["modified"],
                                    json.loads(ind2.serialize())["modified"]]
    manifest = coll.get_manifest(id=ind.id)
    assert manifest["objects"][0]["id"] == ind.id
    assert manifest["objects"][0]["version"] == json.loads(ind2.serialize())["modified"]
    assert manifest["objects"][0]["media_type"] == "application/stix+json;version=2.1"
    r = node.get(f"/api/collections/{coll_id}/objects/{ind.id}/", admin)
    assert r.headers["X-TAXII-Date-Added-First"].endswith("Z")
    assert len(r.headers["X-TAXII-Date-Added-Last"]) == len("2024-01-01T00:00:00.000000Z")
    # Delete one version, then all.
    coll.delete_object(ind.id, version=json.loads(ind2.serialize())["modified"])
    assert coll.get_object(ind.id)["objects"][0]["name"] == "bad ip 1"
    coll.delete_object(ind.id)
    r = node.get(f"/api/collections/{coll_id}/objects/{ind.id}/", admin)
    assert r.status_code == 404
    assert all(o["id"] != ind.id for o in coll.get_manifest().get("objects", []))


def test_duplicate_post_is_not_an_error(node, admin, coll_id):
    coll = collection(node, coll_id, admin)
    ind = indicator(2)
    s1 = coll.add_objects(envelope(ind))
    s2 = coll.add_objects(envelope(ind, ind))
    assert s1.success_count == 1 and s2.success_count == 2 and s2.failure_count == 0
    assert len(coll.get_object(ind.id, version="all")["objects"]) == 1


def test_pagination_many_pages(node, admin):
    cid = node.value("collection", "add", "--title", "Paged")
    coll = collection(node, cid, admin)
    objs = [indicator(i) for i in range(1200)]
    for i in range(0, len(objs), 400):
        assert coll.add_objects(envelope(*objs[i:i + 400])).success_count == 400
    got = all_objects(coll)
    assert [o["id"] for o in got] == [o.id for o in objs]
    # Manifest pages, too.
    ids = []
    for page in as_pages(coll.get_manifest, per_request=77):
        ids.extend(r["id"] for r in page.get("objects", []))
    assert ids == [o.id for o in objs]
    # added_after paging with X-TAXII-Date-Added-Last (no cursor) loses nothing.
    seen, after = [], None
    while True:
        params = {"limit": "300"}
        if after:
            params["added_after"] = after
        r = node.get(f"/api/collections/{cid}/objects/", admin, params=params)
        body = r.json()
        seen.extend(o["id"] for o in body.get("objects", []))
        if not body.get("more"):
            break
        after = r.headers["X-TAXII-Date-Added-Last"]
    assert seen == [o.id for o in objs]
    # A server-side limit still paginates.
    r = node.get(f"/api/collections/{cid}/objects/", admin, params={"limit": "5"})
    assert r.json()["more"] is True and len(r.json()["objects"]) == 5 and r.json()["next"]


def test_filters(node, admin):
    cid = node.value("collection", "add", "--title", "Filters")
    coll = collection(node, cid, admin)
    ind = indicator(5)
    mal = stix2.Malware(name="x", is_family=False)
    ipv4 = stix2.IPv4Address(value="192.0.2.1")
    coll.add_objects(envelope(ind, mal, ipv4))
    ind2 = ind.new_version(name="v2")
    coll.add_objects(envelope(ind2))
    assert {o["id"] for o in all_objects(coll, type="malware")} == {mal.id}
    assert {o["id"] for o in all_objects(coll, type="indicator,malware")} == {ind.id, mal.id}
    assert all_objects(coll, type="campaign") == []
    assert {o["id"] for o in all_objects(coll, id=f"{mal.id},{ipv4.id}")} == {mal.id, ipv4.id}
    assert len([o for o in all_objects(coll, version="all") if o["id"] == ind.id]) == 2
    first = [o for o in all_objects(coll, version="first") if o["id"] == ind.id]
    assert first[0]["name"] == "bad ip 5"
    exact = all_objects(coll, version=json.loads(ind.serialize())["modified"])
    assert [o["name"] for o in exact] == ["bad ip 5"]
    assert len(all_objects(coll, spec_version="2.1")) == 3
    assert all_objects(coll, spec_version="2.0") == []
    r = node.get(f"/api/collections/{cid}/objects/", admin, params={"limit": "1"})
    last_of_first = r.headers["X-TAXII-Date-Added-Last"]
    later = all_objects(coll, added_after=last_of_first)
    # Latest versions in date_added order are mal, ipv4, ind2: the first page held mal.
    assert r.json()["objects"][0]["id"] == mal.id
    assert [o["id"] for o in later] == [ipv4.id, ind.id]
    assert node.get(f"/api/collections/{cid}/objects/", admin,
                    params={"added_after": "2999-01-01T00:00:00Z"}).json() == {}


@pytest.mark.parametrize("accept", ["application/json", "application/xml", "*/*",
                                    "application/taxii+json;version=2.0", "text/html", None])
def test_406_for_non_taxii_accept(node, admin, coll_id, accept):
    for path in ["/taxii2/", "/api/", "/api/collections/", f"/api/collections/{coll_id}/objects/"]:
        r = node.get(path, admin, accept=accept)
        assert r.status_code == 406, path
        assert r.headers["Content-Type"] == TAXII
        assert r.json()["http_status"] == "406"


def test_taxii_without_version_is_accepted(node, admin):
    assert node.get("/taxii2/", admin, accept="application/taxii+json").status_code == 200


def test_401_everywhere(node, admin, coll_id):
    for path in ["/taxii2/", "/api/", "/api/collections/", f"/api/collections/{coll_id}/",
                 f"/api/collections/{coll_id}/objects/", "/api/status/x/", "/nowhere/"]:
        for auth in [None, ("admin", "wrong"), ("nobody", "x")]:
            r = node.get(path, auth)
            assert r.status_code == 401, (path, auth)
            assert "Basic" in r.headers["WWW-Authenticate"]
            assert r.headers["Content-Type"] == TAXII and r.json()["title"]
    r = requests.get(node.base + "/taxii2/", headers={"Accept": TAXII, "Authorization": "Bearer nope"})
    assert r.status_code == 401


def test_415_wrong_content_type(node, admin, coll_id):
    for ct in ["application/json", "application/stix+json;version=2.1", "text/plain",
               "application/taxii+json;version=2.0"]:
        r = node.post(f"/api/collections/{coll_id}/objects/", admin, envelope(indicator(9)), content_type=ct)
        assert r.status_code == 415, ct
        assert r.json()["http_status"] == "415"


def test_413_oversize(node, admin, coll_id):
    big = {"objects": [json.loads(indicator(1).serialize()) | {"x_pad": "a" * (MAX_CONTENT + 10)}]}
    r = node.post(f"/api/collections/{coll_id}/objects/", admin, big)
    assert r.status_code == 413 and r.json()["http_status"] == "413"
    # Just under the limit is not 413.
    ok = envelope(indicator(77))
    assert node.post(f"/api/collections/{coll_id}/objects/", admin, ok).status_code == 202


def manifest_ids(node, cid, auth):
    r = node.get(f"/api/collections/{cid}/manifest/", auth, params={"limit": "10000"})
    return [(o["id"], o["version"]) for o in r.json().get("objects", [])]


def test_bad_input_changes_nothing(node, admin, coll_id):
    before = manifest_ids(node, coll_id, admin)
    objs = f"/api/collections/{coll_id}/objects/"
    cases = [
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        (b"[1,2]", 422),
        (b'{"objects": "x"}', 422),
        (b'{"objects": []}', 422),
        (json.dumps({"objects": [{"type": "indicator", "id": "indicator--nope"}]}).encode(), 422),
        (json.dumps({"objects": [{"type": "indicator", "spec_version": "2.1"}]}).encode(), 422),
        (json.dumps({"objects": [json.loads(indicator(3).serialize()) | {"created": "yesterday"}]}).encode(), 422),
        (json.dumps({"objects": [json.loads(indicator(3).serialize()) | {"spec_version": "2.0"}]}).encode(), 422),
    ]
    for body, code in cases:
        r = node.post(objs, admin, body)
        assert r.status_code == code, (body, r.text)
        assert r.headers["Content-Type"] == TAXII and r.json()["description"]
    for params in [{"limit": "0"}, {"limit": "-3"}, {"limit": "many"}, {"added_after": "yesterday"},
                   {"next": "garbage"}, {"next": "A" * 40}, {"match[version]": "all,last"},
                   {"added_after": "2020-01-01T00:00:00Z&added_after=2021-01-01T00:00:00Z"}]:
        r = node.get(objs, admin, params=params)
        assert r.status_code == 400, params
        assert r.json()["http_status"] == "400"
    r = node.get(objs + "?limit=1&limit=2", admin)
    assert r.status_code == 400
    assert manifest_ids(node, coll_id, admin) == before


def test_mixed_envelope_partial_success(node, admin, coll_id):
    good = indicator(31)
    bad = json.loads(indicator(32).serialize()) | {"modified": "2000-01-01T00:00:00Z"}
    r = node.post(f"/api/collections/{coll_id}/objects/", admin, envelope(good, bad))
    assert r.status_code == 202
    st = r.json()
    assert st["status"] == "complete" and st["success_count"] == 1 and st["failure_count"] == 1
    assert bad["id"] in st["failures"][0]["message"] or st["failures"][0]["id"] == bad["id"]


def test_hostile_next_cursor(node, admin):
    cid = node.value("collection", "add", "--title", "Cursors")
    coll = collection(node, cid, admin)
    coll.add_objects(envelope(*[indicator(i) for i in range(10)]))
    path = f"/api/collections/{cid}/objects/"
    nxt = node.get(path, admin, params={"limit": "3"}).json()["next"]
    assert node.get(path, admin, params={"limit": "3", "next": nxt}).status_code == 200
    # Same cursor with other filters, on another collection, or tampered: 400.
    assert node.get(path, admin, params={"limit": "4", "next": nxt}).status_code == 400
    assert node.get(path, admin, params={"limit": "3", "match[type]": "indicator", "next": nxt}).status_code == 400
    other = node.value("collection", "add", "--title", "Other")
    assert node.get(f"/api/collections/{other}/objects/", admin, params={"limit": "3", "next": nxt}).status_code == 400
    tampered = nxt[:-2] + ("AA" if nxt[-2:] != "AA" else "BB")
    assert node.get(path, admin, params={"limit": "3", "next": tampered}).status_code == 400
    # Another member cannot reuse it.
    secret = node.value("member", "add", "cursor-thief", "--role", "reader")
    node.cli("collection", "grant", cid, "cursor-thief", "read")
    r = node.get(path, ("cursor-thief", secret), params={"limit": "3", "next": nxt})
    assert r.status_code == 400


def test_404s(node, admin, coll_id):
    assert node.get(f"/api/collections/{uuid.uuid4()}/", admin).status_code == 404
    assert node.get(f"/api/collections/{coll_id}/objects/indicator--{uuid.uuid4()}/", admin).status_code == 404
    assert node.get(f"/api/status/{uuid.uuid4()}/", admin).status_code == 404
    assert node.get("/other-root/", admin).status_code == 404
    assert node.get("/api/collections", admin).status_code == 404
    r = node.delete(f"/api/collections/{coll_id}/objects/indicator--{uuid.uuid4()}/", admin)
    assert r.status_code == 404 and r.json()["http_status"] == "404"


def test_permission_table(node, admin):
    ro = node.value("collection", "add", "--title", "RO")
    wo = node.value("collection", "add", "--title", "WO")
    rw = node.value("collection", "add", "--title", "RW")
    hidden = node.value("collection", "add", "--title", "Hidden")
    seed = indicator(500)
    for c in (ro, wo, rw, hidden):
        collection(node, c, admin).add_objects(envelope(seed))
    members = {}
    for role in ("contributor", "reader"):
        name = f"perm-{role}"
        members[role] = (name, node.value("member", "add", name, "--role", role))
        node.cli("collection", "grant", ro, name, "read")
        node.cli("collection", "grant", wo, name, "write")
        node.cli("collection", "grant", rw, name, "read-write")
    expect = {
        # role: {collection: (can_read, can_write)}
        "contributor": {ro: (True, False), wo: (False, True), rw: (True, True)},
        # A reader never writes, whatever it is granted; a write grant alone leaves it no access.
        "reader": {ro: (True, False), rw: (True, False)},
    }
    for role, auth in members.items():
        listed = {c["id"]: (c["can_read"], c["can_write"])
                  for c in node.get("/api/collections/", auth).json().get("collections", [])}
        assert listed == expect[role], role
        for c in (ro, wo, rw, hidden):
            can = expect[role].get(c)
            objs = f"/api/collections/{c}/objects/"
            one = f"{objs}{seed.id}/"
            g = node.get(objs, auth).status_code
            own = indicator(501)
            p = node.post(objs, auth, envelope(own)).status_code
            d = node.delete(one, auth).status_code if can != (True, True) else None
            if can is None:
                assert (node.get(f"/api/collections/{c}/", auth).status_code, g, p, d) == (404, 404, 404, 404)
                for sub in ("manifest/", f"objects/{seed.id}/", f"objects/{seed.id}/versions/"):
                    assert node.get(f"/api/collections/{c}/{sub}", auth).status_code == 404
                continue
            assert g == (200 if can[0] else 403), (role, c)
            assert p == (202 if can[1] else 403), (role, c)
            if can == (True, True):
                # A member deletes only what it contributed: the admin's seed is as absent.
                assert node.delete(one, auth).status_code == 404
                assert node.delete(f"{objs}{own.id}/", auth).status_code == 200
            else:
                assert d == 403, (role, c)
            if not can[0]:
                for sub in ("manifest/", f"objects/{seed.id}/", f"objects/{seed.id}/versions/"):
                    assert node.get(f"/api/collections/{c}/{sub}", auth).status_code == 403


def test_status_is_private(node, admin, coll_id):
    secret = node.value("member", "add", "status-peer", "--role", "contributor")
    node.cli("collection", "grant", coll_id, "status-peer", "read-write")
    r = node.post(f"/api/collections/{coll_id}/objects/", admin, envelope(indicator(600)))
    sid = r.json()["id"]
    assert node.get(f"/api/status/{sid}/", admin).status_code == 200
    assert node.get(f"/api/status/{sid}/", ("status-peer", secret)).status_code == 404


def test_tlp_hiding_and_red_recipients(node, admin):
    cid = node.value("collection", "add", "--title", "TLP")
    names = {}
    for name, tlp in [("tlp-clear", "clear"), ("tlp-green", "green"), ("tlp-amber", "amber"),
                      ("tlp-strict", "amber+strict"), ("tlp-red-friend", "green"), ("tlp-author", "green")]:
        names[name] = (name, node.value("member", "add", name, "--role", "contributor", "--tlp", tlp))
        node.cli("collection", "grant", cid, name, "read-write")
    unmarked = indicator(700)
    green = indicator(701, object_marking_refs=[TLP_GREEN])
    amber = indicator(702, object_marking_refs=[TLP_AMBER])
    strict = indicator(703, object_marking_refs=[TLP2_AMBER_STRICT])
    red = indicator(704, object_marking_refs=[TLP_RED], custom_properties={"x_detente_recipients": ["tlp-red-friend"]},
                    allow_custom=True)
    author = collection(node, cid, names["tlp-author"])
    author.add_objects(envelope(unmarked, green, amber, strict, red))
    visible = {
        "tlp-clear": {unmarked.id},
        "tlp-green": {unmarked.id, green.id},
        "tlp-amber": {unmarked.id, green.id, amber.id},
        "tlp-strict": {unmarked.id, green.id, amber.id, strict.id},
        "tlp-red-friend": {unmarked.id, green.id, red.id},
        "tlp-author": {unmarked.id, green.id, red.id},
    }
    for name, ids in visible.items():
        coll = collection(node, cid, names[name])
        assert {o["id"] for o in all_objects(coll)} == ids, name
        assert {o["id"] for o in coll.get_manifest().get("objects", [])} == ids, name
        for hidden in {unmarked.id, green.id, amber.id, strict.id, red.id} - ids:
            r = node.get(f"/api/collections/{cid}/objects/{hidden}/", names[name])
            assert r.status_code == 404, (name, hidden)
            assert node.get(f"/api/collections/{cid}/objects/{hidden}/versions/", names[name]).status_code == 404
    # Paging counts only visible objects.
    r = node.get(f"/api/collections/{cid}/objects/", names["tlp-clear"], params={"limit": "1"})
    assert r.json().get("more") is False


def test_tokens(node, admin, coll_id):
    token = node.value("token", "issue", "admin")
    assert token.startswith("dtk_")
    h = {"Accept": TAXII, "Authorization": f"Bearer {token}"}
    assert requests.get(node.base + "/taxii2/", headers=h).status_code == 200
    node.cli("token", "revoke", token)
    assert requests.get(node.base + "/taxii2/", headers=h).status_code == 401
    assert node.cli("token", "revoke", "0000000000000000", check=False).returncode != 0


def test_disable_and_rotate_apply_while_running(node):
    secret = node.value("member", "add", "rotator", "--role", "reader")
    auth = ("rotator", secret)
    assert node.get("/taxii2/", auth).status_code == 200
    new = node.value("member", "rotate", "rotator")
    assert new != secret
    assert node.get("/taxii2/", auth).status_code == 401
    assert node.get("/taxii2/", ("rotator", new)).status_code == 200
    node.cli("member", "disable", "rotator")
    assert node.get("/taxii2/", ("rotator", new)).status_code == 401
    listing = node.cli("member", "list").stdout
    assert any(line.startswith("rotator\treader\tgreen\tdisabled") for line in listing.splitlines())


def test_cli_errors(node):
    r = node.cli("member", "add", "admin", "--role", "reader", check=False)
    assert r.returncode != 0 and "already exists" in r.stderr
    r = node.cli("member", "add", "x1", "--role", "overlord", check=False)
    assert r.returncode != 0 and "role" in r.stderr
    r = node.cli("collection", "grant", str(uuid.uuid4()), "admin", "read", check=False)
    assert r.returncode != 0 and "not found" in r.stderr
    r = node.cli("collection", "add", "--title", "x", "--id", "nope", check=False)
    assert r.returncode != 0


def test_restart_keeps_everything(node, admin):
    cid = node.value("collection", "add", "--title", "Durable")
    coll = collection(node, cid, admin)
    objs = [indicator(900 + i) for i in range(50)]
    st = coll.add_objects(envelope(*objs))
    before = all_objects(coll)
    node.stop()
    node.start()
    assert node.admin() == admin
    coll = collection(node, cid, admin)
    assert all_objects(coll) == before
    assert ApiRoot(node.api, user=admin[0], password=admin[1]).get_status(st.id).success_count == 50
    # The admin secret is printed only on first start.
    assert node.stdout.strip().splitlines() == [admin[1]]


def test_versions_and_manifest_paging(node, admin):
    cid = node.value("collection", "add", "--title", "Versions")
    coll = collection(node, cid, admin)
    first = indicator(800)
    versions = [first]
    for i in range(6):
        versions.append(versions[-1].new_version(name=f"v{i}"))
    for v in versions:
        coll.add_objects(envelope(v))
    expected = [json.loads(v.serialize())["modified"] for v in versions]
    got, params = [], {"limit": "2"}
    path = f"/api/collections/{cid}/objects/{first.id}/versions/"
    while True:
        r = node.get(path, admin, params=params)
        assert r.status_code == 200 and "X-TAXII-Date-Added-Last" in r.headers
        body = r.json()
        got.extend(body["versions"])
        if not body.get("more"):
            break
        params = {"limit": "2", "next": body["next"]}
    assert got == expected
    # Manifest over all versions, paged; then delete the first version only.
    recs = []
    for page in as_pages(coll.get_manifest, per_request=3, version="all"):
        recs.extend(page.get("objects", []))
    assert [r["version"] for r in recs] == expected
    coll.delete_object(first.id, version="first")
    assert coll.object_versions(first.id)["versions"] == expected[1:]
    assert coll.get_object(first.id, version="first")["objects"][0]["modified"] == expected[1]
