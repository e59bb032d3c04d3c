"""What the generators share: the SHA-256 of a file, for their manifests."""
import hashlib


def sha256_file(path):
    """Hex SHA-256 of the file at `path`, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
