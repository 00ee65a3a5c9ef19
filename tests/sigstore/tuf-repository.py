"""Test-only TUF repository serving a Sigstore trusted root, built with python-tuf's
Metadata API (installed with sigstore-python): root, targets, snapshot and timestamp signed
with fresh Ed25519 keys, consistent snapshots, the target `trusted_root.json`.

Usage: tuf-repository.py DIR TRUSTED_ROOT [--expired] [--tampered]
Writes DIR/repo (served over HTTP on a free loopback port), DIR/root.json (the root to
bootstrap from), prints the repository's URL, and serves until killed. With --expired the
timestamp metadata expired yesterday; with --tampered the served target differs from the one
the metadata signs.
"""

import datetime
import functools
import hashlib
import http.server
import os
import sys
import threading

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer


def main():
    out, trusted_root_path = sys.argv[1], sys.argv[2]
    expired = "--expired" in sys.argv[3:]
    tampered = "--tampered" in sys.argv[3:]
    repo = os.path.join(out, "repo")
    os.makedirs(os.path.join(repo, "targets"), exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    later = now + datetime.timedelta(days=7)
    signers = {role: CryptoSigner.generate_ed25519() for role in ("root", "targets", "snapshot", "timestamp")}

    root = Root(expires=later, consistent_snapshot=True)
    for role, signer in signers.items():
        root.add_key(signer.public_key, role)

    data = open(trusted_root_path, "rb").read()
    target = TargetFile.from_data("trusted_root.json", data, ["sha256"])
    targets = Targets(expires=later, targets={"trusted_root.json": target})
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(repo, "targets", f"{digest}.trusted_root.json"), "wb") as f:
        f.write(data.replace(b"sigstore", b"sigstorE", 1) if tampered else data)

    serializer = JSONSerializer(compact=False)

    def write(signed, role, name):
        metadata = Metadata(signed)
        metadata.sign(signers[role])
        raw = metadata.to_bytes(serializer)
        with open(os.path.join(repo, name), "wb") as f:
            f.write(raw)
        return raw

    root_bytes = write(root, "root", "1.root.json")
    with open(os.path.join(out, "root.json"), "wb") as f:
        f.write(root_bytes)
    targets_bytes = write(targets, "targets", "1.targets.json")
    snapshot = Snapshot(expires=later, meta={"targets.json": MetaFile(version=1)})
    snapshot_bytes = write(snapshot, "snapshot", "1.snapshot.json")
    timestamp_expiry = now - datetime.timedelta(days=1) if expired else later
    timestamp = Timestamp(expires=timestamp_expiry, snapshot_meta=MetaFile(version=1))
    write(timestamp, "timestamp", "timestamp.json")

    handler = functools.partial(QuietHandler, directory=repo)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    main()
