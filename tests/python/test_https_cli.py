"""HTTPS with a self-signed certificate, push/pull, metrics and health, and startup rules."""
import json
import os
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import requests
import stix2
from taxii2client.v21 import Collection, Server

from conftest import BIN, Node, TAXII, free_port


@pytest.fixture(scope="module")
def tls_node():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ca, ca_key = tmp / "ca.pem", tmp / "ca.key"
        cert, key, csr, ext = tmp / "cert.pem", tmp / "key.pem", tmp / "leaf.csr", tmp / "leaf.ext"
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)
        run("req", "-x509", *ec, "-days", "2", "-subj", "/CN=detente test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            "-keyout", str(ca_key), "-out", str(ca))
        run("req", *ec, "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                       "extendedKeyUsage=serverAuth\n")
        run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-days", "2", "-extfile", str(ext), "-out", str(cert))
        metrics_port = free_port()
        n = Node(tmp / "data", ["--tls-cert", str(cert), "--tls-key", str(key),
                                "--metrics-listen", f"127.0.0.1:{metrics_port}"])
        n.scheme = "https"
        n.verify = str(ca)
        n.cert = ca
        n.metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        # requests lets these variables override a session's `verify`; the test CA must win.
        saved = {k: os.environ.pop(k) for k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if k in os.environ}
        n.start()
        try:
            yield n
        finally:
            n.stop()
            os.environ.update(saved)


def test_https_with_taxii2client(tls_node):
    admin = tls_node.admin()
    cid = tls_node.value("collection", "add", "--title", "TLS")
    server = Server(f"{tls_node.base}/taxii2/", user=admin[0], password=admin[1], verify=tls_node.verify)
    assert server.api_roots[0].collections[0].id == cid
    coll = Collection(f"{tls_node.api}collections/{cid}/", user=admin[0], password=admin[1],
                      verify=tls_node.verify)
    ind = stix2.Indicator(pattern="[url:value = 'http://x.test/']", pattern_type="stix",
                          valid_from="2024-01-01T00:00:00Z")
    assert coll.add_objects({"objects": [json.loads(ind.serialize())]}).success_count == 1
    assert coll.get_object(ind.id)["objects"][0]["id"] == ind.id
    # Plain HTTP on the TLS port does not get through.
    with pytest.raises(requests.RequestException):
        requests.get(f"http://127.0.0.1:{tls_node.port}/taxii2/", timeout=5).raise_for_status()



def test_http2_over_tls(tls_node):
    """ALPN offers h2: an HTTP/2 client gets the same TAXII answers, errors included."""
    admin = tls_node.admin()
    cid = tls_node.value("collection", "add", "--title", "H2")
    ind = json.loads(stix2.Indicator(pattern="[domain-name:value = 'h2.test']", pattern_type="stix",
                                     valid_from="2024-01-01T00:00:00Z").serialize())
    objects = f"{tls_node.api}collections/{cid}/objects/"
    with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=str(tls_node.cert)),
                      auth=admin, timeout=10) as c:
        r = c.get(f"{tls_node.base}/taxii2/", headers={"Accept": TAXII})
        assert r.http_version == "HTTP/2"
        assert r.status_code == 200 and r.json()["api_roots"]
        r = c.post(objects, content=json.dumps({"objects": [ind]}),
                   headers={"Accept": TAXII, "Content-Type": TAXII})
        assert (r.http_version, r.status_code, r.json()["status"]) == ("HTTP/2", 202, "complete")
        r = c.get(f"{objects}{ind['id']}/", headers={"Accept": TAXII})
        assert r.http_version == "HTTP/2"
        assert r.json()["objects"] == [ind]
        assert r.headers["content-type"] == TAXII
        assert c.get(objects, headers={"Accept": "application/json"}).status_code == 406
        r = c.get(objects, headers={"Accept": TAXII}, auth=("admin", "wrong"))
        assert r.status_code == 401 and "www-authenticate" in r.headers

def test_push_and_pull(tls_node, tmp_path):
    admin = tls_node.admin()
    cid = tls_node.value("collection", "add", "--title", "Push")
    objs = [json.loads(stix2.Indicator(pattern=f"[ipv4-addr:value = '198.51.100.{i % 250}']",
                                       pattern_type="stix", valid_from="2024-01-01T00:00:00Z",
                                       name=f"n{i}").serialize()) for i in range(2500)]
    bundle = {"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": objs}
    f = tmp_path / "bundle.json"
    f.write_text(json.dumps(bundle))
    creds = str(tls_node.data / "admin.credentials")
    common = ["--collection", cid, "--credentials", creds, "--ca-cert", str(tls_node.cert)]
    r = subprocess.run([str(BIN), "push", str(f), "--url", tls_node.api, "--batch", "700", *common],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "2500 accepted, 0 refused" in r.stderr
    out = tmp_path / "pulled.json"
    r = subprocess.run([str(BIN), "pull", "--url", tls_node.base, "--page", "333", "-o", str(out), *common],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    pulled = json.loads(out.read_text())
    assert pulled["type"] == "bundle"
    assert [o["id"] for o in pulled["objects"]] == [o["id"] for o in objs]
    assert pulled["objects"] == objs
    # Without trusting the certificate, the client refuses.
    r = subprocess.run([str(BIN), "pull", "--url", tls_node.api, "--collection", cid, "--credentials", creds],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    # A token works for pull too.
    token = tls_node.value("token", "issue", "admin")
    r = subprocess.run([str(BIN), "pull", "--url", tls_node.api, "--collection", cid, "--token", token,
                        "--ca-cert", str(tls_node.cert)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and len(json.loads(r.stdout)["objects"]) == 2500
    # The transparency log verifies over HTTPS with the node's CA, receipts included.
    key = tls_node.value("log-key")
    r = subprocess.run([str(BIN), "verify", "--url", tls_node.base, "--key", key,
                        "--state", str(tmp_path / "state"), *common],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"collection {cid}: 2500 object versions match their log entries" in r.stdout


def test_metrics_and_healthz(tls_node):
    assert requests.get(f"{tls_node.base}/healthz", verify=tls_node.verify).text == "ok\n"
    m = requests.get(tls_node.metrics).text
    assert "detente_http_requests_total{class=\"2xx\"}" in m
    stored = [l for l in m.splitlines() if l.startswith("detente_objects_stored_total ")]
    assert stored and int(stored[0].split()[1]) >= 1


def test_plain_http_refused_off_loopback(tmp_path):
    r = subprocess.run([str(BIN), "serve", "--data", str(tmp_path / "d"), "--listen", "0.0.0.0:0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--insecure-http" in r.stderr
    assert not (tmp_path / "d").exists()


def test_commands_need_a_data_dir(tmp_path):
    r = subprocess.run([str(BIN), "member", "list", "--data", str(tmp_path / "none")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "detente serve" in r.stderr
    env = dict(os.environ, DETENTE_DATA=str(tmp_path / "none"))
    r = subprocess.run([str(BIN), "collection", "list"], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode != 0 and str(tmp_path / "none") in r.stderr


def test_graceful_shutdown(tmp_path):
    n = Node(tmp_path / "d")
    n.start()
    assert oct((n.data / "admin.credentials").stat().st_mode & 0o777) == "0o600"
    assert (n.data / "node.ed25519").exists()
    n.proc.terminate()
    assert n.proc.wait(timeout=15) == 0
    n.stop()


def test_acknowledged_objects_survive_kill_9(tmp_path):
    n = Node(tmp_path / "d")
    n.start()
    try:
        admin = n.admin()
        cid = n.value("collection", "add", "--title", "Crash")
        objs = [json.loads(stix2.Indicator(pattern=f"[domain-name:value = 'h{i}.test']", pattern_type="stix",
                                           valid_from="2024-01-01T00:00:00Z").serialize()) for i in range(3000)]
        acked = []
        for i in range(0, 3000, 1000):
            r = n.post(f"/api/collections/{cid}/objects/", admin, {"objects": objs[i:i + 1000]})
            assert r.status_code == 202 and r.json()["status"] == "complete"
            acked.extend(o["id"] for o in objs[i:i + 1000])
        n.proc.kill()
        n.proc.wait()
        n.stop()
        n.start()
        coll = Collection(f"{n.api}collections/{cid}/", user=admin[0], password=admin[1])
        got = []
        from taxii2client.v21 import as_pages
        for page in as_pages(coll.get_objects, per_request=1000):
            got.extend(o["id"] for o in page.get("objects", []))
        assert got == acked
    finally:
        n.stop()
