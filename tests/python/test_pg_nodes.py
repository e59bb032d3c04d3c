"""Three `detente serve` processes on one PostgreSQL database (a throwaway cluster of this
test's own, or the server DETENTE_TEST_PG_URL names), driven by the real taxii2-client: pushes
through all three at once while a reader pages each node with added_after; every acknowledged
object is read exactly once from every node, and `detente verify --collection` passes against
each node (docs/node.md, "Storage backends")."""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import stix2
from taxii2client.v21 import Collection, as_pages

from conftest import BIN, Node, free_port

WRITERS = 3          # one contributor per node
ENVELOPES = 8        # envelopes each writer pushes
PER_ENVELOPE = 25    # indicators per envelope


def pg_bin():
    """The directory holding initdb and pg_ctl, found as crates/detente-testpg finds it."""
    if os.environ.get("DETENTE_TEST_PG_BIN"):
        return Path(os.environ["DETENTE_TEST_PG_BIN"])
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted((int(p.name), p / "bin") for p in Path("/usr/lib/postgresql").glob("*")
                      if p.name.isdigit() and (p / "bin" / "initdb").is_file())
    assert versions, "no PostgreSQL found (run scripts/setup)"
    return versions[-1][1]


def as_postgres(cmd):
    """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def pg_url():
    """The URL of a fresh, empty database."""
    name = f"detente_py_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    server = os.environ.get("DETENTE_TEST_PG_URL")
    if server:
        subprocess.run([str(pg_bin() / "psql"), server, "-c", f"CREATE DATABASE {name}"],
                       check=True, capture_output=True)
        yield server.rsplit("/", 1)[0].split("?")[0] + "/" + name
        return
    bindir = pg_bin()
    with tempfile.TemporaryDirectory(prefix="detente-pg-") as tmp:
        if os.geteuid() == 0:
            shutil.chown(tmp, "postgres")
        data = f"{tmp}/data"
        subprocess.run(as_postgres([str(bindir / "initdb"), "-D", data, "-U", "postgres",
                                    "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]),
                       check=True, capture_output=True)
        port = free_port()
        opts = (f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        subprocess.run(as_postgres([str(bindir / "pg_ctl"), "start", "-D", data, "-l",
                                    f"{tmp}/log", "-w", "-t", "60", "-o", opts]),
                       check=True, capture_output=True)
        try:
            subprocess.run(as_postgres([str(bindir / "createdb"), "-h", "127.0.0.1", "-p",
                                        str(port), "-U", "postgres", name]),
                           check=True, capture_output=True)
            yield f"postgres://postgres@127.0.0.1:{port}/{name}"
        finally:
            subprocess.run(as_postgres([str(bindir / "pg_ctl"), "stop", "-D", data, "-m",
                                        "immediate", "-w"]), capture_output=True)


@pytest.fixture(scope="module")
def nodes(pg_url):
    assert BIN.exists(), f"{BIN} missing: run cargo build --release -p detente"
    with tempfile.TemporaryDirectory() as tmp:
        started = []
        try:
            for i in range(3):
                data = Path(tmp) / f"node{i}"
                if started:
                    # The admin member is the database's: later nodes get its credentials.
                    data.mkdir()
                    shutil.copy(started[0].data / "admin.credentials", data / "admin.credentials")
                n = Node(data, extra=["--database-url", pg_url])
                n.start()
                started.append(n)
            yield started
        finally:
            for n in started:
                n.stop()


def indicator(writer, envelope, i):
    return stix2.Indicator(
        name=f"w{writer} e{envelope} i{i}",
        pattern=f"[ipv4-addr:value = '10.{writer}.{envelope}.{i}']",
        pattern_type="stix", valid_from="2026-01-01T00:00:00Z")


def read_page(node, cid, auth, added_after):
    """One page of object ids after `added_after`, and the page's X-TAXII-Date-Added-Last."""
    params = {"limit": "40"}
    if added_after:
        params["added_after"] = added_after
    r = node.get(f"/api/collections/{cid}/objects/", auth, params=params, timeout=30)
    assert r.status_code == 200, r.text
    ids = [o["id"] for o in r.json().get("objects", [])]
    return ids, r.headers.get("X-TAXII-Date-Added-Last")


def checkpoint(node):
    r = requests.get(node.base + "/log/checkpoint", timeout=10)
    assert r.status_code == 200, r.text
    return r.text


def same_checkpoint_on_all_nodes(nodes, leaves):
    """Every node serves the same checkpoint, byte for byte, covering all `leaves` log
    entries (one log published through the database; `pg_failover.rs` holds the 2 s bound
    after the last push, this test reaches here after paging every node)."""
    deadline = time.time() + 10
    while time.time() < deadline:
        notes = [checkpoint(n) for n in nodes]
        sizes = [int(t.splitlines()[1]) for t in notes]
        if all(s == leaves for s in sizes) and len(set(notes)) == 1:
            return
        time.sleep(0.2)
    raise AssertionError(f"checkpoint sizes {sizes}, expected {leaves} and one note on every node")


def test_three_nodes_on_one_database(nodes, pg_url):
    db = ["--database-url", pg_url]
    first = nodes[0]
    cid = first.value("collection", "add", "--title", "Shared", *db)
    writers = []
    for w in range(WRITERS):
        name = f"writer{w}"
        writers.append((name, first.value("member", "add", name, "--role", "contributor", *db)))
        first.cli("collection", "grant", cid, name, "read-write", *db)
    reader = ("reader", first.value("member", "add", "reader", "--role", "reader", *db))
    first.cli("collection", "grant", cid, "reader", "read", *db)

    acked = []
    lock = threading.Lock()
    pushed = threading.Event()
    errors = []

    def push(w):
        try:
            node = nodes[w % len(nodes)]
            coll = Collection(f"{node.api}collections/{cid}/", user=writers[w][0],
                              password=writers[w][1])
            for e in range(ENVELOPES):
                objs = [indicator(w, e, i) for i in range(PER_ENVELOPE)]
                status = coll.add_objects(
                    json.dumps({"objects": [json.loads(o.serialize()) for o in objs]}))
                assert status.status == "complete", status
                assert status.success_count == PER_ENVELOPE, status
                with lock:
                    acked.extend(s["id"] for s in status.successes)
        except Exception as exc:  # reported by the main thread
            errors.append(exc)

    seen = {i: [] for i in range(len(nodes))}

    def page(i):
        try:
            after = None
            while True:
                finished = pushed.is_set()
                ids, last = read_page(nodes[i], cid, reader, after)
                seen[i].extend(ids)
                if finished and not ids:
                    return
                after = last or after
        except Exception as exc:
            errors.append(exc)

    pushers = [threading.Thread(target=push, args=(w,)) for w in range(WRITERS)]
    readers = [threading.Thread(target=page, args=(i,)) for i in range(len(nodes))]
    for t in pushers + readers:
        t.start()
    for t in pushers:
        t.join()
    pushed.set()
    for t in readers:
        t.join()
    assert not errors, errors

    assert len(acked) == WRITERS * ENVELOPES * PER_ENVELOPE
    for i, ids in seen.items():
        assert len(ids) == len(set(ids)), f"node {i} served an object twice while paging"
        assert sorted(ids) == sorted(acked), f"node {i} skipped acknowledged objects"
    # And every node serves them all to taxii2-client's own paging.
    for node in nodes:
        coll = Collection(f"{node.api}collections/{cid}/", user=reader[0], password=reader[1])
        ids = [o["id"] for p in as_pages(coll.get_objects, per_request=100)
               for o in p.get("objects", [])]
        assert sorted(ids) == sorted(acked)

    same_checkpoint_on_all_nodes(nodes, len(acked))
    with tempfile.TemporaryDirectory() as tmp:
        creds = Path(tmp) / "reader.credentials"
        creds.write_text(f"{reader[0]}:{reader[1]}\n")
        creds.chmod(0o600)
        for i, node in enumerate(nodes):
            key = node.value("log-key", *db)
            r = subprocess.run(
                [str(BIN), "verify", "--url", node.base, "--key", key, "--collection", cid,
                 "--credentials", str(creds), "--state", f"{tmp}/state{i}"],
                capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, f"verify against node {i}: {r.stdout}{r.stderr}"
            assert f"checkpoint: size {len(acked)}" in r.stdout, r.stdout
