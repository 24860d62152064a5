#!/usr/bin/python3
"""
test_tier_s3.py: the cold tier end to end on S3, not only the S3 store.

The tier was tested against file:// and the S3 store through the
object_* functions; here the tier itself runs over s3://, twice:

1. against s3rver 3.7.1 (installed by scripts/s3rver.sh), a service the
   project did not write, with a primary bucket and a mirror bucket;
2. against the python mock of _s3mock.py, which checks the SigV4
   signature of every request with botocore: the whole run must make no
   request it refuses.

Each run imports ../shared/data/llamafactory/mllm_demo.json with
ftstore.import_media = on into a dataset of its own, offloads it, and
checks against hashes python computes from the jpg files itself:

- offload returns the number of distinct images; their objects are in
  the store (object_list, and s3rver's data directory or the mock's
  memory), byte for byte a header followed by the JPEG; no hot copy is
  left;
- ftstore.blob() gives bytes with the image's SHA-256 for every reference,
  on a cold cache and on a warm one (the warm read with the endpoint
  pointed at a closed port, so it cannot have come from the store);
- a corrupted object (its bytes changed in the store) is an XX001 error
  naming the blob, never wrong bytes, and nothing is cached;
- s3rver run: every object is also in the mirror bucket; with the
  primary's object corrupted, then deleted, reads come from the mirror
  with the right bytes;
- after the samples are deleted, ftstore.collect() with a zero grace
  period removes every object from the bucket(s).

Connects with PGHOST etc.; prints "N passed, N failed" last.
"""

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _s3mock  # noqa: E402
import _s3rver  # noqa: E402
from _s3rver import ENTRY, free_port  # noqa: E402
from _check import check, summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MLLM = (ROOT / ".." / "shared" / "data" / "llamafactory" / "mllm_demo.json").resolve()
BUCKET = "ftstore-tier"
MIRROR = "ftstore-mirror"
PREFIX = "cold"


def expected_images():
    """Per record (1-based), the SHA-256 of each image, from the files."""
    records = json.loads(MLLM.read_text())
    expect = {}
    for i, rec in enumerate(records, 1):
        expect[i] = [hashlib.sha256((MLLM.parent / img).read_bytes()).hexdigest()
                     for img in rec.get("images", [])]
    return expect


def object_key(hexhash):
    return f"{PREFIX}/blobs/{hexhash[:2]}/{hexhash}"


class S3rverStore:
    """Objects as s3rver keeps them: DIR/bucket/key._S3rver_object."""

    def __init__(self, data_dir):
        self.data_dir = data_dir

    def path(self, bucket, key):
        return Path(self.data_dir, bucket, key + "._S3rver_object")

    def get(self, bucket, key):
        p = self.path(bucket, key)
        return p.read_bytes() if p.is_file() else None

    def put(self, bucket, key, data):
        self.path(bucket, key).write_bytes(data)

    def keys(self, bucket):
        top = Path(self.data_dir, bucket)
        return sorted(str(p.relative_to(top))[:-len("._S3rver_object")]
                      for p in top.rglob("*._S3rver_object"))


class MockStore:
    def __init__(self, mock):
        self.mock = mock

    def get(self, bucket, key):
        obj = self.mock.objects.get(key)
        return obj[0] if obj else None

    def put(self, bucket, key, data):
        with self.mock.lock:
            self.mock.objects[key] = (data, self.mock.objects[key][1])

    def keys(self, bucket):
        with self.mock.lock:
            return sorted(self.mock.objects)


def settings(cur, values):
    for name, value in values.items():
        cur.execute("SELECT set_config(%s, %s, false)", (name, value))


def read_all(cur, dataset):
    """(record, ordinal, sha256 the catalog names, sha256 of blob())."""
    cur.execute("""
        SELECT s.record, b.ordinal, b.sha256,
               encode(sha256(ftstore.blob(s.sample, b.ordinal)), 'hex')
        FROM ftstore.samples s, ftstore.blobs(s.sample) b
        WHERE s.dataset_id = ftstore.dataset_id(%s) ORDER BY 1, 2""", (dataset,))
    return cur.fetchall()


def read_one(cur, dataset, record):
    """The sha256 of the first blob of a record, or the error it raised."""
    try:
        cur.execute("""
            SELECT encode(sha256(ftstore.blob(sample, 1)), 'hex')
            FROM ftstore.samples
            WHERE dataset_id = ftstore.dataset_id(%s) AND record = %s""",
                    (dataset, record))
        return cur.fetchone()[0], None
    except psycopg.Error as e:
        return None, e


def scenario(cur, name, store, endpoint, cache, mirror):
    """The tier over s3://; mirror is the mirror's bucket or None."""
    expect = expected_images()
    distinct = sorted({h for hs in expect.values() for h in hs})
    nrefs = sum(len(hs) for hs in expect.values())
    check(len(distinct) >= 2 and nrefs > len(distinct),
          f"{name}: mllm_demo.json shares images ({nrefs} references, {len(distinct)} images)")
    images = {hashlib.sha256(p.read_bytes()).hexdigest(): p.read_bytes()
              for p in (MLLM.parent / "mllm_demo_data").glob("*")}
    url = f"s3://{BUCKET}/{PREFIX}"
    dataset = f"mm_{name}"

    cur.execute("SET ftstore.import_media = on")
    cur.execute("SELECT imported, rejected FROM ftstore.import_file(%s, %s)",
                (dataset, str(MLLM)))
    check(cur.fetchone() == (len(expect), 0), f"{name}: every record imports")

    cur.execute("SELECT ftstore.offload(%s)", (dataset,))
    check(cur.fetchone()[0] == len(distinct),
          f"{name}: offload moves {len(distinct)} distinct images")

    cur.execute("SELECT key, bytes FROM ftstore.object_list(%s) ORDER BY key", (url,))
    listed = cur.fetchall()
    check([k for k, _ in listed] == [f"blobs/{h[:2]}/{h}" for h in distinct],
          f"{name}: object_list names one object per image: {listed}")
    for h in distinct:
        obj = store.get(BUCKET, object_key(h))
        # JPEGs are stored as they are: a 24-byte header, then the file.
        check(obj is not None and obj[24:] == images[h] and obj[:4] == b"FTB1",
              f"{name}: the store holds image {h} after its header")
    check(store.keys(BUCKET) == [object_key(h) for h in distinct],
          f"{name}: the bucket holds nothing else")
    if mirror:
        check(store.keys(mirror) == [object_key(h) for h in distinct]
              and all(store.get(mirror, object_key(h)) == store.get(BUCKET, object_key(h))
                      for h in distinct),
              f"{name}: the mirror holds the same objects")
        cur.execute("SELECT count(*) FROM ftstore.blob_catalog WHERE mirrored")
        check(cur.fetchone()[0] == len(distinct), f"{name}: the catalog says mirrored")
    cur.execute("SELECT count(*) FROM ftstore.blob_hot")
    check(cur.fetchone()[0] == 0, f"{name}: no hot copy is left")
    cur.execute("SELECT count(*) FROM ftstore.blob_catalog WHERE tier = 'cold'")
    check(cur.fetchone()[0] == len(distinct), f"{name}: every blob is cold")

    want = [(rec, i + 1, h, h) for rec, hs in sorted(expect.items())
            for i, h in enumerate(hs)]
    check(os.listdir(cache) == [], f"{name}: the cache starts empty")
    check(read_all(cur, dataset) == want,
          f"{name}: every reference reads from S3 with its image's SHA-256 (cold cache)")
    check(sorted(os.listdir(cache)) == distinct, f"{name}: each image was cached once")

    # Warm: the endpoint is a closed port, so these bytes are the cache's.
    settings(cur, {"ftstore.s3_endpoint": f"http://127.0.0.1:{free_port()}",
                   "ftstore.s3_max_retries": "0"})
    check(read_all(cur, dataset) == want,
          f"{name}: every reference reads with its SHA-256 from a warm cache")
    settings(cur, {"ftstore.s3_endpoint": endpoint, "ftstore.s3_max_retries": "2"})

    # A corrupted object: a clean error, never wrong bytes.
    rec = next(r for r, hs in sorted(expect.items()) if hs)
    h1 = expect[rec][0]
    good = store.get(BUCKET, object_key(h1))
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x55
    for bucket in [BUCKET] + ([mirror] if mirror else []):
        store.put(bucket, object_key(h1), bytes(bad))
    os.unlink(os.path.join(cache, h1))
    got, err = read_one(cur, dataset, rec)
    check(got is None and err is not None and err.sqlstate == "XX001"
          and h1 in err.diag.message_primary,
          f"{name}: a corrupted object is error XX001 naming the blob: "
          f"{got} {err and err.sqlstate} {err and err.diag.message_primary}")
    check(not os.path.exists(os.path.join(cache, h1)), f"{name}: nothing corrupt was cached")

    if mirror:
        # The primary's object corrupted, then missing: the mirror answers.
        store.put(mirror, object_key(h1), good)
        got, err = read_one(cur, dataset, rec)
        check(got == h1, f"{name}: with the primary corrupted, the mirror's bytes: {got} {err}")
        os.unlink(os.path.join(cache, h1))
        cur.execute("SELECT ftstore.object_delete(%s, %s)", (url, f"blobs/{h1[:2]}/{h1}"))
        check(cur.fetchone()[0] is True and store.get(BUCKET, object_key(h1)) is None,
              f"{name}: the primary's object is deleted")
        got, err = read_one(cur, dataset, rec)
        check(got == h1, f"{name}: with the primary's object gone, the mirror's bytes: {got} {err}")
    else:
        store.put(BUCKET, object_key(h1), good)

    # The collector: no sample left, no grace, no object left.
    cur.execute("DELETE FROM ftstore.samples WHERE dataset_id = ftstore.dataset_id(%s)",
                (dataset,))
    cur.execute("SET ftstore.collect_grace = 0")
    cur.execute("SELECT blobs, objects FROM ftstore.collect()")
    removed = cur.fetchone()
    # The primary lost h1's object above when there is a mirror.
    nobjects = len(distinct) * 2 - 1 if mirror else len(distinct)
    check(removed == (len(distinct), nobjects),
          f"{name}: collect removes {len(distinct)} blobs and {nobjects} objects: {removed}")
    check(store.keys(BUCKET) == [], f"{name}: the bucket is empty: {store.keys(BUCKET)}")
    if mirror:
        check(store.keys(mirror) == [], f"{name}: the mirror is empty: {store.keys(mirror)}")
    cur.execute("SELECT count(*) FROM ftstore.object_list(%s)", (url,))
    check(cur.fetchone()[0] == 0, f"{name}: object_list finds nothing")
    cur.execute("SELECT count(*) FROM ftstore.blob_catalog")
    check(cur.fetchone()[0] == 0, f"{name}: the catalog is empty")


def connect(cache):
    conn = psycopg.connect(autocommit=True)
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS ftstore")
    cur.execute("LOAD 'ftstore'")
    settings(cur, {"ftstore.blob_cache_dir": cache,
                   "ftstore.s3_retry_delay": "10",
                   "ftstore.s3_max_retries": "2"})
    return conn, cur


def run_s3rver(tmp):
    data_dir = os.path.join(tmp, "s3rver")
    cache = os.path.join(tmp, "cache-s3rver")
    os.mkdir(data_dir)
    os.mkdir(cache)
    with _s3rver.running(data_dir, [BUCKET, MIRROR]) as (proc, port):
        if not check(port is not None, "s3rver listens"):
            return
        endpoint = f"http://127.0.0.1:{port}"
        conn, cur = connect(cache)
        with conn:
            settings(cur, {"ftstore.s3_endpoint": endpoint,
                           "ftstore.s3_access_key_id": "S3RVER",
                           "ftstore.s3_secret_access_key": "S3RVER",
                           "ftstore.s3_region": "us-east-1",
                           "ftstore.tier_url": f"s3://{BUCKET}/{PREFIX}",
                           "ftstore.tier_mirror_url": f"s3://{MIRROR}/{PREFIX}"})
            scenario(cur, "s3rver", S3rverStore(data_dir), endpoint, cache, MIRROR)


def run_mock(tmp):
    cache = os.path.join(tmp, "cache-mock")
    os.mkdir(cache)
    with _s3mock.MockS3(bucket=BUCKET) as mock:
        endpoint = f"http://127.0.0.1:{mock.port}"
        conn, cur = connect(cache)
        with conn:
            settings(cur, {"ftstore.s3_endpoint": endpoint,
                           "ftstore.s3_access_key_id": _s3mock.ACCESS_KEY,
                           "ftstore.s3_secret_access_key": _s3mock.SECRET_KEY,
                           "ftstore.s3_region": _s3mock.REGION,
                           "ftstore.tier_url": f"s3://{BUCKET}/{PREFIX}",
                           "ftstore.tier_mirror_url": ""})
            scenario(cur, "mock", MockStore(mock), endpoint, cache, None)
        methods = {r[0] for r in mock.requests}
        check(mock.bad_signatures == 0 and mock.verified == len(mock.requests),
              f"mock: every request is signed as botocore signs it "
              f"({mock.verified} verified, {mock.bad_signatures} refused)")
        check({"PUT", "GET", "DELETE"} <= methods,
              f"mock: the run made puts, gets and deletes: {sorted(methods)}")


def main():
    if not check(ENTRY.is_file(), f"s3rver is installed at {ENTRY} (scripts/s3rver.sh install)"):
        return summary()
    tmp = tempfile.mkdtemp(prefix="ftstore-tier-s3-")
    try:
        run_s3rver(tmp)
        run_mock(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
