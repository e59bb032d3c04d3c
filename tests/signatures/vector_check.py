"""An independent check of detente's contributor signature format, written from
docs/signatures.md, RFC 8785 and the C2SP signed-note key format only.

Reads testdata/signatures/vector.json (written by detente-sign from a fixed seed), and with
Python's `cryptography`: derives the key pair from the seed, checks the verifier key's text and
key id, recomputes the signing input (the object without the signature entry, `extensions`
dropped when emptied, in RFC 8785 form) and verifies the Ed25519 signature; then checks that
an altered object and an altered entry fail.

Usage: vector_check.py PATH-TO-vector.json
"""

import base64
import copy
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

EXT = "extension-definition--91b32a10-6cd0-4f08-b2bc-f92c7cde316c"


def jcs(value):
    # RFC 8785 for objects holding only strings, small integers, lists and objects: sorted
    # keys (all ASCII here, so code-point order is UTF-16 order), no whitespace, UTF-8.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def signing_input(obj):
    bare = copy.deepcopy(obj)
    ext = bare.get("extensions")
    if isinstance(ext, dict):
        ext.pop(EXT, None)
        if not ext:
            del bare["extensions"]
    return jcs(bare)


def main():
    v = json.load(open(sys.argv[1], encoding="utf-8"))
    seed = bytes.fromhex(v["seed_hex"])
    priv = Ed25519PrivateKey.from_private_bytes(seed)
    pub = priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    name, hexid, b64 = v["verifier_key"].split("+", 2)
    kid = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]
    assert hexid == kid.hex(), f"key id {hexid} != {kid.hex()}"
    assert base64.b64decode(b64) == b"\x01" + pub, "verifier key does not match the seed"
    assert v["signer_key"] == f"PRIVATE+KEY+{name}+{hexid}+" + base64.b64encode(
        b"\x01" + seed
    ).decode(), "signer key text"

    signed = v["signed"]
    entry = signed["extensions"][EXT]
    assert set(entry) == {"extension_type", "signer", "key_id", "signature"}, entry
    assert entry["extension_type"] == "property-extension"
    assert entry["signer"] == v["member"]
    assert entry["key_id"] == hexid
    msg = signing_input(signed)
    assert msg == v["signing_input"], f"signing input differs:\n{msg}\n{v['signing_input']}"
    assert msg == jcs(v["unsigned"]), "the signing input is not the unsigned object's JCS"
    sig = base64.b64decode(entry["signature"])
    assert len(sig) == 64
    priv.public_key().verify(sig, msg.encode("utf-8"))
    # Our own signature over the same input is the same (Ed25519 is deterministic).
    assert priv.sign(msg.encode("utf-8")) == sig, "signature differs from an independent one"

    altered = copy.deepcopy(signed)
    altered["pattern"] = "[ipv4-addr:value = '203.0.113.9']"
    try:
        priv.public_key().verify(sig, signing_input(altered).encode("utf-8"))
        raise SystemExit("an altered object verified")
    except InvalidSignature:
        pass
    print("signature vector: key, key id, signing input and Ed25519 signature check out")


main()
