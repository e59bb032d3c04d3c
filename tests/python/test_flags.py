"""Ingest flagging seen through the real taxii2-client: indicators matching a MISP warninglist
(the real lists in testdata/) or touching a protected asset get a note written by the node,
readable by those who can read the indicator and by no one else (docs/assets.md)."""
import json
from pathlib import Path

import stix2
from taxii2client.v21 import Collection, as_pages

from conftest import ROOT

LISTS = ROOT / "testdata" / "real" / "misp-warninglists" / "lists"
TLP_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
TLP_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"


def indicator(pattern, marking):
    return stix2.Indicator(pattern=pattern, pattern_type="stix", valid_from="2026-01-01T00:00:00Z",
                           object_marking_refs=[marking])


def objects(coll, **filters):
    out = []
    for page in as_pages(coll.get_objects, per_request=50, **filters):
        out.extend(page.get("objects", []))
    return out


def notes_by_indicator(coll):
    return {n["object_refs"][0]: n for n in objects(coll, type="note")}


def test_flags_are_notes_visible_through_taxii2_client(node):
    cid = node.value("collection", "add", "--title", "Flagged")
    members = {}
    for name, role, tlp in [("wl-author", "contributor", "amber"), ("wl-amber", "reader", "amber"),
                            ("wl-green", "reader", "green")]:
        members[name] = (name, node.value("member", "add", name, "--role", role, "--tlp", tlp))
        node.cli("collection", "grant", cid, name, "read-write" if role == "contributor" else "read")
    # Configured while the node runs: the whole real checkout (all five list types) for this
    # collection, and protected assets for the node.
    added = node.cli("warninglist", "add", str(LISTS), "--collection", cid)
    assert "added warninglist cloudflare" in added.stderr
    node.cli("asset", "add", "domain", "sos.ca.gov")
    node.cli("asset", "add", "cidr", "2001:db8:5::/48")

    listed = indicator("[domain-name:value = 'api.ipify.org']", TLP_GREEN)          # hostname
    cdn = indicator("[ipv4-addr:value = '103.21.244.10']", TLP_AMBER)               # cidr
    substring = indicator("[url:value = 'https://analyze.intezer.com/a']", TLP_GREEN)  # substring
    regex = indicator("[email-addr:value = 'abuse@evil.example']", TLP_GREEN)        # regex
    string = indicator("[file:hashes.'SHA-256' = "
                       "'01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b']",
                       TLP_GREEN)                                                    # string
    protected = indicator("[domain-name:value = 'results.sos.ca.gov']", TLP_GREEN)
    inside = indicator("[ipv6-addr:value = '2001:db8:5::53']", TLP_AMBER)
    plain = indicator("[domain-name:value = 'never-listed.example']", TLP_GREEN)
    posted = [listed, cdn, substring, regex, string, protected, inside, plain]
    author = Collection(f"{node.api}collections/{cid}/", user=members["wl-author"][0],
                        password=members["wl-author"][1])
    status = author.add_objects({"objects": [json.loads(o.serialize()) for o in posted]})
    assert status.success_count == len(posted)

    amber = Collection(f"{node.api}collections/{cid}/", user=members["wl-amber"][0],
                       password=members["wl-amber"][1])
    notes = notes_by_indicator(amber)
    assert set(notes) == {o.id for o in posted if o is not plain}
    kinds = {i: [(f["source"], f.get("list_type") or f.get("asset_type")) for f in n["x_detente_flags"]]
             for i, n in notes.items()}
    # With the whole checkout a value may be on several lists; the note names the first in
    # the order string, hostname, cidr, substring, regex (docs/detection.md).
    for o in (listed, cdn, substring, regex, string):
        assert [k for k in kinds[o.id] if k[0] == "warninglist"], (o.pattern, kinds[o.id])
    assert {t for k in kinds.values() for s, t in k if s == "warninglist"} == \
        {"string", "hostname", "cidr", "substring", "regex"}
    # (results.sos.ca.gov and 2001:db8::/32 are also on real lists: a hostname list and the
    # documentation ranges.)
    assert ("asset", "domain") in kinds[protected.id]
    assert ("asset", "cidr") in kinds[inside.id]
    for n in notes.values():
        stix2.parse(n, allow_custom=True)  # a valid STIX 2.1 note for the stix2 library too
        assert n["created_by_ref"] == notes[listed.id]["created_by_ref"]
    assert notes[cdn.id]["object_marking_refs"] == [TLP_AMBER]

    # The indicators are stored exactly as posted.
    stored = {o["id"]: o for o in objects(amber, type="indicator")}
    for o in posted:
        assert stored[o.id] == json.loads(o.serialize())

    # A GREEN reader sees the flags of GREEN indicators only.
    green = Collection(f"{node.api}collections/{cid}/", user=members["wl-green"][0],
                       password=members["wl-green"][1])
    assert set(notes_by_indicator(green)) == {listed.id, substring.id, regex.id, string.id, protected.id}

    # A member cannot post a note as the node.
    forged = stix2.Note(content="all clear", object_refs=[plain.id],
                        created_by_ref=notes[listed.id]["created_by_ref"])
    r = node.post(f"/api/collections/{cid}/objects/", members["wl-author"],
                  {"objects": [json.loads(forged.serialize())]})
    assert r.status_code == 422, r.text
    assert "only the node creates objects" in r.text

    # Admins list the flags on the data directory.
    flags = [json.loads(line) for line in node.cli("flags", "list").stdout.splitlines()]
    assert {f["indicator"] for f in flags if f["collection"] == cid} == set(notes)
