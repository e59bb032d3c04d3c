"""Fixtures: a real `detente` node started from the release binary on a free port."""
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("DETENTE_BIN", ROOT / "target" / "release" / "detente"))
TAXII = "application/taxii+json;version=2.1"
# Small enough that the 413 test stays fast; the node advertises it in the API root.
MAX_CONTENT = 2 * 1024 * 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One running node and helpers to drive its CLI."""

    def __init__(self, data, extra=()):
        self.data = Path(data)
        self.extra = list(extra)
        self.proc = None
        self.port = None
        self.scheme = "http"
        self.verify = True
        self.stdout = ""

    def cli(self, *args, check=True):
        r = subprocess.run([str(BIN), *args, "--data", str(self.data)],
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"detente {' '.join(args)} failed: {r.stderr}")
        return r

    def value(self, *args):
        """Runs a CLI command that prints one value; returns its last stdout line."""
        return self.cli(*args).stdout.strip().splitlines()[-1]

    def start(self):
        self.port = free_port()
        cmd = [str(BIN), "serve", "--data", str(self.data), "--listen", f"127.0.0.1:{self.port}",
               "--max-content-length", str(MAX_CONTENT), *self.extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                r = requests.get(f"{self.scheme}://127.0.0.1:{self.port}/healthz", timeout=1,
                                 verify=self.verify)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                raise AssertionError("detente serve exited early")
            time.sleep(0.05)
        raise AssertionError("detente serve did not come up")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.stdout += self.proc.stdout.read()
            self.proc.stdout.close()

    @property
    def base(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def api(self):
        return f"{self.base}/api/"

    def admin(self):
        name, secret = (self.data / "admin.credentials").read_text().strip().split(":", 1)
        return name, secret

    def get(self, path, auth, accept=TAXII, **kw):
        headers = {"Accept": accept} if accept is not None else {}
        headers.update(kw.pop("headers", {}))
        return requests.get(self.base + path, auth=auth, headers=headers, verify=self.verify, **kw)

    def post(self, path, auth, body, content_type=TAXII, accept=TAXII, **kw):
        headers = {"Accept": accept, "Content-Type": content_type}
        data = body if isinstance(body, (bytes, str)) else __import__("json").dumps(body)
        return requests.post(self.base + path, auth=auth, headers=headers, data=data,
                             verify=self.verify, **kw)

    def delete(self, path, auth, accept=TAXII, **kw):
        return requests.delete(self.base + path, auth=auth, headers={"Accept": accept},
                               verify=self.verify, **kw)


@pytest.fixture(scope="module")
def node():
    assert BIN.exists(), f"{BIN} missing: run cargo build --release -p detente"
    with tempfile.TemporaryDirectory() as tmp:
        n = Node(Path(tmp) / "data")
        n.start()
        try:
            yield n
        finally:
            n.stop()
