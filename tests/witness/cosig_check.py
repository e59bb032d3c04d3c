"""An independent check of detente's witness, written only from the C2SP specs.

Python's `cryptography` plays the log: it makes an Ed25519 log key, builds RFC 6962 trees and
consistency proofs itself, signs checkpoints as signed notes, and submits them to a real
`detente serve` over `POST /witness/add-checkpoint`. Every cosignature returned is parsed and
verified here (cosignature/v1: key id, 8-byte timestamp, Ed25519 over
"cosignature/v1\\ntime <t>\\n" + checkpoint body), and the spec's status codes are checked.

Usage: cosig_check.py PATH-TO-detente
"""

import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

BIN = sys.argv[1]
ORIGIN = "python.test/log"
DASH = "\u2014"


def key_id(name, alg, pub):
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + pub).digest()[:4]


def leaf(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    if len(leaves) == 0:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node(mth(leaves[:k]), mth(leaves[k:]))


def subproof(m, leaves, complete):
    """RFC 6962 section 2.1.2 SUBPROOF."""
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = split(n)
    if m <= k:
        return subproof(m, leaves[:k], complete) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def b64(b):
    return base64.b64encode(b).decode()


class Log:
    def __init__(self, name):
        self.name = name
        self.sk = Ed25519PrivateKey.generate()
        self.pub = self.sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.id = key_id(name, 0x01, self.pub)

    def vkey(self):
        return f"{self.name}+{self.id.hex()}+{b64(bytes([1]) + self.pub)}"

    def note(self, origin, size, root):
        body = f"{origin}\n{size}\n{b64(root)}\n"
        sig = self.sk.sign(body.encode())
        return body, f"{body}\n{DASH} {self.name} {b64(self.id + sig)}\n"


def parse_vkey(vkey):
    name, hexid, rest = vkey.split("+", 2)
    raw = base64.b64decode(rest)
    assert raw[0] == 0x04, "witness keys are cosignature/v1 (type 0x04)"
    pub = raw[1:]
    assert len(pub) == 32
    assert key_id(name, 0x04, pub) == bytes.fromhex(hexid), "key id does not match the key"
    return name, bytes.fromhex(hexid), Ed25519PublicKey.from_public_bytes(pub)


def verify_cosignature(witness, body, reply):
    name, kid, pub = witness
    lines = [l for l in reply.split("\n") if l]
    assert lines, "no cosignature line"
    for line in lines:
        prefix, wname, sig64 = line.split(" ")
        assert prefix == DASH and wname == name, line
        raw = base64.b64decode(sig64, validate=True)
        assert len(raw) == 4 + 8 + 64, len(raw)
        assert raw[:4] == kid, "wrong key id"
        (ts,) = struct.unpack(">Q", raw[4:12])
        assert 0 < ts < 2**63 and abs(ts - time.time()) < 600, ts
        pub.verify(raw[12:], f"cosignature/v1\ntime {ts}\n".encode() + body.encode())
    return len(lines)


def post(url, old, proof, note):
    data = f"old {old}\n" + "".join(b64(h) + "\n" for h in proof) + "\n" + note
    req = urllib.request.Request(url, data=data.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    tmp = tempfile.mkdtemp()
    data = os.path.join(tmp, "w")
    port = free_port()
    proc = subprocess.Popen(
        [BIN, "serve", "--listen", f"127.0.0.1:{port}", "--origin", "w.test/log", "--data", data],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        url = base + "/witness/add-checkpoint"
        log = Log(ORIGIN)
        out = subprocess.run([BIN, "witness", "trust", log.vkey(), "--data", data], capture_output=True)
        assert out.returncode == 0, out.stderr
        wkey = subprocess.run(
            [BIN, "witness", "key", "--data", data], capture_output=True, check=True, text=True
        ).stdout.strip().split("\n")[-1]
        witness = parse_vkey(wkey)

        leaves = [leaf(f"entry {i}".encode()) for i in range(40)]
        checked = 0
        old = 0
        for size in [1, 2, 3, 7, 8, 13, 16, 17, 40]:
            body, note = log.note(ORIGIN, size, mth(leaves[:size]))
            proof = [] if old == 0 else subproof(old, leaves[:size], True)
            status, _, reply = post(url, old, proof, note)
            assert status == 200, (size, status, reply)
            checked += verify_cosignature(witness, body, reply)
            old = size

        # The spec's refusals, each checked independently of the Rust tests.
        _, note = log.note(ORIGIN, 40, mth(leaves[:40]))
        status, ctype, reply = post(url, 17, subproof(17, leaves[:40], True), note)
        assert (status, ctype, reply) == (409, "text/x.tlog.size", "40\n"), (status, ctype, reply)
        _, fork = log.note(ORIGIN, 40, mth([leaf(b"x")] + leaves[1:40]))
        assert post(url, 40, [], fork)[0] == 422
        stranger = Log("python.test/other")
        assert post(url, 0, [], stranger.note("python.test/other", 1, leaves[0])[1])[0] == 404
        impostor = Log(ORIGIN)
        assert post(url, 40, [], impostor.note(ORIGIN, 40, mth(leaves[:40]))[1])[0] == 403
        ev = subprocess.run(
            [BIN, "witness", "evidence", "--data", data], capture_output=True, check=True, text=True
        ).stdout
        kept = [json.loads(l) for l in ev.splitlines()]
        assert [(e["origin"], e["conflicting"]) for e in kept] == [(ORIGIN, fork)], ev
        print(f"witness cosignatures: {checked} verified independently with cryptography; status codes OK")
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
