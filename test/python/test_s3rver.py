#!/usr/bin/python3
"""
test_s3rver.py: the S3 store against s3rver 3.7.1 (npm), a service the
project did not write.

Starts s3rver (installed by scripts/s3rver.sh into .s3rver) on 127.0.0.1
with a bucket and a data directory of its own, and stops it at the end.
Through ftstore.object_put / object_get / object_head / object_delete /
object_list:

- round trips of an empty object, 1 byte, 1 MB and a 12 MB object that
  goes up as a multipart upload of three parts; each object's bytes are
  also read from s3rver's data directory on disk, and its size from
  object_head;
- listing 5 objects in pages of 2 (continuation tokens), with their sizes
  and modification times;
- delete (true, then false), head and get of a missing key (NULL);
- virtual-host addressing (bucket.s3.localhost, which s3rver maps to the
  bucket with --service-endpoint localhost) as well as path-style.

Connects with PGHOST etc.; prints "N passed, N failed" last.
"""

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _s3rver  # noqa: E402
from _s3rver import ENTRY  # noqa: E402
from _check import check, summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "ftstore-test"


def on_disk(data_dir, key):
    """The bytes s3rver keeps for key: DIR/bucket/key._S3rver_object."""
    path = Path(data_dir, BUCKET, key + "._S3rver_object")
    return path.read_bytes() if path.is_file() else None


def main():
    if not check(ENTRY.is_file(), f"s3rver is installed at {ENTRY} (scripts/s3rver.sh install)"):
        return summary()

    data_dir = tempfile.mkdtemp(prefix="ftstore-s3rver-")
    try:
        # the service endpoint lets virtual-host addressing name the bucket
        with _s3rver.running(data_dir, [BUCKET],
                             ["--service-endpoint", "localhost"]) as (proc, port):
            if not check(port is not None, "s3rver listens"):
                print(proc.stderr.read().decode(errors="replace") if proc.poll() is not None else "")
                return summary()
            run(port, data_dir)
    finally:
        subprocess.run(["rm", "-rf", data_dir], check=False)

    return summary()


def run(port, data_dir):
    with psycopg.connect(autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS ftstore")
        cur.execute("LOAD 'ftstore'")
        for name, value in {
            "ftstore.s3_endpoint": f"http://127.0.0.1:{port}",
            "ftstore.s3_access_key_id": "S3RVER",
            "ftstore.s3_secret_access_key": "S3RVER",
            "ftstore.s3_region": "us-east-1",
            "ftstore.s3_multipart_threshold": str(5 * 1024 * 1024),
            "ftstore.s3_part_size": str(5 * 1024 * 1024),
            "ftstore.s3_list_max_keys": "2",
            "ftstore.s3_retry_delay": "10",
        }.items():
            cur.execute("SELECT set_config(%s, %s, false)", (name, value))

        url = f"s3://{BUCKET}/tier"
        blobs = {
            "rt/empty": b"",
            "rt/one": b"\x7f",
            "rt/mb": os.urandom(1024 * 1024),
            "rt/multi": os.urandom(12 * 1024 * 1024 + 3),
        }
        for key, data in blobs.items():
            cur.execute("SELECT ftstore.object_put(%s, %s, %s)", (url, key, data))
        for key, data in blobs.items():
            cur.execute("SELECT ftstore.object_get(%s, %s), ftstore.object_head(%s, %s)",
                        (url, key, url, key))
            got, size = cur.fetchone()
            check(bytes(got) == data, f"object_get returns the bytes of {key}")
            check(size == len(data), f"object_head gives {len(data)} for {key}: {size}")
            disk = on_disk(data_dir, "tier/" + key)
            check(disk is not None and hashlib.sha256(disk).digest() == hashlib.sha256(data).digest(),
                  f"s3rver's file for {key} holds the same bytes")

        # The multipart object is one object, not its parts.
        cur.execute("SELECT key, bytes FROM ftstore.object_list(%s, 'rt/') ORDER BY key", (url,))
        rows = cur.fetchall()
        check(rows == sorted((k, len(v)) for k, v in blobs.items()),
              f"object_list gives the four objects with their sizes: {rows}")

        # Five more under another prefix, listed in pages of two.
        for i in range(5):
            cur.execute("SELECT ftstore.object_put(%s, %s, %s)",
                        (url, f"pages/{i}", b"p" * (i + 1)))
        cur.execute("SELECT key, bytes, modified > now() - interval '1 hour'"
                    " FROM ftstore.object_list(%s, 'pages/') ORDER BY key", (url,))
        rows = cur.fetchall()
        check(rows == [(f"pages/{i}", i + 1, True) for i in range(5)],
              f"five objects listed through continuation tokens, with times: {rows}")
        cur.execute("SELECT count(*) FROM ftstore.object_list(%s)", (url,))
        check(cur.fetchone()[0] == 9, "the whole store lists 9 objects")

        cur.execute("SELECT ftstore.object_delete(%s, 'rt/one'), ftstore.object_delete(%s, 'rt/one')",
                    (url, url))
        check(cur.fetchone() == (True, False), "delete: true, then false")
        cur.execute("SELECT ftstore.object_head(%s, 'rt/one'), ftstore.object_get(%s, 'rt/one'),"
                    " ftstore.object_head(%s, 'never/was')", (url, url, url))
        check(cur.fetchone() == (None, None, None), "head and get of missing keys are NULL")
        check(on_disk(data_dir, "tier/rt/one") is None, "s3rver no longer holds the deleted object")

        # A bucket that does not exist: the error names S3's code.
        try:
            cur.execute("SELECT ftstore.object_put('s3://no-such-bucket', 'k', 'x')")
            check(False, "a put to a missing bucket fails")
        except psycopg.Error as e:
            check("NoSuchBucket" in e.diag.message_primary and "HTTP status 404" in e.diag.message_primary,
                  f"a missing bucket: {e.diag.message_primary}")

        # Virtual-host addressing: the bucket in the host name.
        cur.execute("SET ftstore.s3_addressing = virtual")
        cur.execute("SELECT set_config('ftstore.s3_endpoint', %s, false)", (f"http://s3.localhost:{port}",))
        data = os.urandom(3000)
        cur.execute("SELECT ftstore.object_put(%s, 'vhost/x', %s)", (url, data))
        cur.execute("SELECT ftstore.object_get(%s, 'vhost/x')", (url,))
        check(bytes(cur.fetchone()[0]) == data, "virtual-host addressing: round trip")
        check(on_disk(data_dir, "tier/vhost/x") == data, "virtual-host addressing: in the same bucket")


if __name__ == "__main__":
    sys.exit(main())
