#!/usr/bin/python3
"""
test_tier_verify.py: how an offload to S3 knows that a copy is good, and
that the faster cold reads still check every byte.

An offload removes the hot copy only once every copy is verified.  With
ftstore.offload_verify = digest (the default), a copy is good when the
service's ETag is the MD5 ftstore computed of the body it sent (each
part's, and the object's in either multipart form); any other answer is
read back and compared byte for byte, as every copy is with read_back.
Checked here against python's own MD5 and SHA-256 of the bytes:

1. the mock of _s3mock.py (every request's signature checked with
   botocore): a digest-mode offload of a plain, a compressible and a
   multipart blob sends no GET and stores the right bytes; a service that
   kept a damaged body (and says so in its ETag) is caught by the
   read-back, the blob stays hot and readable; ETags that are not MD5s
   cost a read-back and pass; a service that lies about its ETag is
   caught by read_back, and in digest mode by the first read, never
   with wrong bytes; a first GET cut short, retried, still gives the
   right bytes and cache file; the offload's PUTs go as UNSIGNED-PAYLOAD
   (the ETag check proves their bytes) and nothing else does, object_put
   signs its body; a JPEG's hot copy inline or out of line makes the
   same object (header and bytes), and under a key an encrypted one;
   33 blobs of lengths around MD5's block and padding limits, compressed
   ones and ones over 1 MB among them, offloaded in batches whose MD5s are
   computed together, need no read-back (every ETag matched);
2. s3rver 3.7.1 through a proxy that flips a byte of each PUT body on
   the way: s3rver takes a body whose Content-MD5 and
   x-amz-content-sha256 are wrong (it checks neither, so only ftstore's
   own check stands between a damaged body and a lost blob), and stores
   it; ftstore sees the ETag differ, reads back, refuses the copy and
   keeps the blob hot; without the damage, plain and multipart offloads
   send no GET, and cold reads give the right bytes and cache files.

Connects with PGHOST etc.; prints "N passed, N failed" last.
"""

import hashlib
import http.client
import os
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _s3mock  # noqa: E402
import _s3rver  # noqa: E402
from _s3rver import ENTRY  # noqa: E402
from _check import check, summary  # noqa: E402

BUCKET = "ftstore-verify"
PREFIX = "cold"
MB = 1024 * 1024


def settings(cur, values):
    for name, value in values.items():
        cur.execute("SELECT set_config(%s, %s, false)", (name, value))


def header(data, codec=0):
    """The 24-byte header ftstore writes before a plain blob."""
    n = len(data)
    return (b"FTB1" + bytes([1, codec, 0, 0]) + (0).to_bytes(4, "big")
            + n.to_bytes(8, "big") + n.to_bytes(4, "big"))


def jpeg(seed, size):
    """Bytes that start like a JPEG, the rest from a hash chain."""
    out = bytearray(b"\xff\xd8\xff\xe0")
    block = hashlib.sha256(f"{seed}".encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


def store(cur, dataset, blobs):
    """Samples of a new dataset, one per (bytes, media type)."""
    cur.execute("SELECT ftstore.create_dataset(%s)", (dataset,))
    for i, (data, media) in enumerate(blobs, 1):
        cur.execute("""
            INSERT INTO ftstore.samples (dataset_id, sample, source, record)
            SELECT ftstore.dataset_id(%s), ftstore.ftsample(jsonb_build_object(
              'messages', jsonb_build_array(
                jsonb_build_object('role', 'user', 'content', '<image>What?'),
                jsonb_build_object('role', 'assistant', 'content', 'This.')),
              'images', jsonb_build_array(ftstore.store_blob(%s, %s, %s)))),
              'verify', %s""", (dataset, dataset, data, media, i))


def offload(cur, dataset):
    """(blobs moved, None) or (None, the error)."""
    try:
        cur.execute("SELECT ftstore.offload(%s)", (dataset,))
        return cur.fetchone()[0], None
    except psycopg.Error as e:
        return None, e


def tiers(cur, dataset):
    cur.execute("""
        SELECT array_agg(c.tier ORDER BY s.record)
        FROM ftstore.samples s, ftstore.blobs(s.sample) b, ftstore.blob_catalog c
        WHERE s.dataset_id = ftstore.dataset_id(%s)
          AND c.sha256 = decode(b.sha256, 'hex')""", (dataset,))
    return cur.fetchone()[0]


def read(cur, dataset):
    """SHA-256 of blob() per record, or the error."""
    try:
        cur.execute("""
            SELECT array_agg(encode(sha256(ftstore.blob(s.sample, 1)), 'hex')
                             ORDER BY s.record)
            FROM ftstore.samples s
            WHERE s.dataset_id = (SELECT ftstore.dataset_id(%s))""", (dataset,))
        return cur.fetchone()[0], None
    except psycopg.Error as e:
        return None, e


def cache_files(cache):
    """name -> SHA-256 of the file; temporary files included."""
    return {n: hashlib.sha256(Path(cache, n).read_bytes()).hexdigest()
            for n in os.listdir(cache)}


def clear(cache):
    for n in os.listdir(cache):
        os.unlink(os.path.join(cache, n))


def key_of(data):
    h = hashlib.sha256(data).hexdigest()
    return f"{PREFIX}/blobs/{h[:2]}/{h}"


def connect(cache, endpoint, access, secret, region):
    conn = psycopg.connect(autocommit=True)
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS ftstore")
    cur.execute("LOAD 'ftstore'")
    settings(cur, {"ftstore.blob_cache_dir": cache,
                   "ftstore.s3_retry_delay": "10",
                   "ftstore.s3_max_retries": "2",
                   "ftstore.s3_endpoint": endpoint,
                   "ftstore.s3_access_key_id": access,
                   "ftstore.s3_secret_access_key": secret,
                   "ftstore.s3_region": region,
                   "ftstore.tier_url": f"s3://{BUCKET}/{PREFIX}",
                   "ftstore.tier_mirror_url": "",
                   # three parts for the 12 MB blob
                   "ftstore.s3_multipart_threshold": "5MB",
                   "ftstore.s3_part_size": "5MB"})
    return conn, cur


def run_mock(tmp):
    cache = os.path.join(tmp, "cache-mock")
    os.mkdir(cache)
    plain = jpeg("plain", 300 * 1024)
    text = (b"a line of text that zstd will shrink well\n" * 8000)
    large = jpeg("large", 12 * MB + 12345)
    blobs = [(plain, "image/jpeg"), (text, "text/plain"), (large, "image/jpeg")]
    want = [hashlib.sha256(d).hexdigest() for d, _ in blobs]

    with _s3mock.MockS3(bucket=BUCKET) as mock:
        conn, cur = connect(cache, f"http://127.0.0.1:{mock.port}",
                            _s3mock.ACCESS_KEY, _s3mock.SECRET_KEY, _s3mock.REGION)
        with conn:
            # 1. Digest mode: no read-back when every ETag is the MD5.
            store(cur, "v_mock", blobs)
            gets = mock.count("GET")
            first = len(mock.requests)
            moved, err = offload(cur, "v_mock")
            check(moved == 3 and err is None, f"mock: offload moves 3 blobs: {moved} {err}")
            # Its PUTs (2 objects, 3 parts) go unsigned, as the ETag check
            # proves their bytes; everything else is signed with its body.
            puts = [(r[1], r[2]) for r in mock.requests[first:] if r[0] == "PUT"]
            check(len(puts) == 5 and mock.unsigned == puts,
                  f"mock: the offload's 5 PUTs, and nothing else, go as UNSIGNED-PAYLOAD: "
                  f"{len(puts)} {len(mock.unsigned)}")
            check(sum(1 for r in mock.requests[first:] if r[0] == "POST") == 2,
                  "mock: the multipart upload's 2 POSTs are signed with their bodies")
            check(mock.count("GET") == gets,
                  f"mock: the digest-mode offload sends no GET ({mock.count('GET') - gets})")
            check(len(mock.completed) == 1 and mock.completed[0][1] == [1, 2, 3],
                  f"mock: the 12 MB blob went up in 3 parts: {mock.completed}")
            obj = mock.objects.get(key_of(plain))
            check(obj is not None and obj[0] == header(plain) + plain,
                  "mock: the plain blob's object is its header and its bytes")
            obj = mock.objects.get(key_of(large))
            check(obj is not None and obj[0] == header(large) + large,
                  "mock: the multipart blob's object is its header and its bytes")
            obj = mock.objects.get(key_of(text))
            check(obj is not None and obj[0][5] == 1 and len(obj[0]) < len(text) // 10,
                  "mock: the text blob is stored compressed (codec 1)")
            check(tiers(cur, "v_mock") == ["cold"] * 3, "mock: all three are cold")

            # Cold reads, every form; the cache files hold the right bytes.
            got, err = read(cur, "v_mock")
            check(got == want, f"mock: blob() reads each with its SHA-256: {err}")
            check(cache_files(cache) == {h: h for h in want},
                  f"mock: the cache holds each blob, and nothing else: {sorted(cache_files(cache))}")

            # A first GET cut short is retried; what the first attempt
            # left behind (digest, cache file) does not count.
            clear(cache)
            mock.faults = [("short", 5000)]
            got, err = read(cur, "v_mock")
            check(got == want and mock.faults == [],
                  f"mock: after a GET cut short and retried, the right bytes: {err}")
            check(cache_files(cache) == {h: h for h in want},
                  "mock: and the right cache files, with no temporary one left")

            # A corrupted object: an error, and no cache file of any kind.
            clear(cache)
            good = mock.objects[key_of(plain)]
            bad = bytearray(good[0])
            bad[100000] ^= 0x10
            mock.objects[key_of(plain)] = (bytes(bad), good[1])
            got, err = read(cur, "v_mock")
            check(got is None and err is not None and err.sqlstate == "XX001",
                  f"mock: a damaged plain object is error XX001: {got} {err}")
            check(cache_files(cache) == {}, f"mock: nothing cached: {cache_files(cache)}")
            mock.objects[key_of(plain)] = good

            # 2. A service that kept a damaged body: its ETag differs, the
            # read-back finds the damage, the blob stays hot.
            d2 = jpeg("damaged", 200 * 1024)
            store(cur, "v_damaged", [(d2, "image/jpeg")])
            gets = mock.count("GET")
            mock.faults = [("store_corrupt",)]
            moved, err = offload(cur, "v_damaged")
            check(moved is None and err is not None and err.sqlstate == "XX001"
                  and "does not read back as written" in err.diag.message_primary,
                  f"mock: a damaged copy is refused: {moved} {err}")
            check(mock.count("GET") == gets + 1, "mock: it was read back once")
            check(tiers(cur, "v_damaged") == ["hot"], "mock: the blob stays hot")
            got, err = read(cur, "v_damaged")
            check(got == [hashlib.sha256(d2).hexdigest()], f"mock: and reads right: {err}")

            # 3. ETags that are not MD5s (S3 with SSE-KMS): a read-back.
            d3 = jpeg("kms", 200 * 1024)
            store(cur, "v_kms", [(d3, "image/jpeg")])
            gets = mock.count("GET")
            mock.faults = [("etag", '"0123456789abcdef0123456789abcdef"')]
            moved, err = offload(cur, "v_kms")
            check(moved == 1 and mock.count("GET") == gets + 1,
                  f"mock: an ETag that is not the MD5 costs one read-back: {moved} {err}")
            check(tiers(cur, "v_kms") == ["cold"], "mock: and the blob goes cold")

            # 4. A service that lies (damaged body, ETag of the good one).
            d4 = jpeg("liar", 200 * 1024)
            store(cur, "v_liar", [(d4, "image/jpeg")])
            cur.execute("SET ftstore.offload_verify = read_back")
            gets = mock.count("GET")
            mock.faults = [("lying_etag",)]
            moved, err = offload(cur, "v_liar")
            check(moved is None and err is not None and err.sqlstate == "XX001"
                  and mock.count("GET") == gets + 1,
                  f"mock: read_back catches a lying ETag: {moved} {err}")
            check(tiers(cur, "v_liar") == ["hot"], "mock: the blob stays hot")
            gets = mock.count("GET")
            moved, err = offload(cur, "v_liar")
            check(moved == 1 and mock.count("GET") == gets + 1,
                  f"mock: read_back reads every copy back: {moved} {err}")
            cur.execute("RESET ftstore.offload_verify")
            # In digest mode the lie passes the offload; the first read
            # refuses the object, never returning its bytes.
            d5 = jpeg("liar2", 200 * 1024)
            store(cur, "v_liar2", [(d5, "image/jpeg")])
            mock.faults = [("lying_etag",)]
            moved, err = offload(cur, "v_liar2")
            check(moved == 1, f"mock: digest mode trusts the service's ETag: {moved} {err}")
            got, err = read(cur, "v_liar2")
            check(got is None and err is not None and err.sqlstate == "XX001",
                  f"mock: the damaged object is refused on read: {got} {err}")

            # 5. The forms of a JPEG's hot copy: out of line (read straight
            # in behind the header), inline (copied), and under a key
            # (encrypted, not plain).
            tiny = jpeg("tiny", 300)
            mid = jpeg("mid", 70 * 1024 + 3)
            store(cur, "v_forms", [(tiny, "image/jpeg"), (mid, "image/jpeg")])
            cur.execute("SELECT pg_column_size(h.data) < 1000 FROM ftstore.blob_hot h"
                        " WHERE h.sha256 = sha256(%s)", (tiny,))
            check(cur.fetchone()[0], "mock: the 300-byte blob's hot copy is inline")
            moved, err = offload(cur, "v_forms")
            check(moved == 2 and mock.objects[key_of(tiny)][0] == header(tiny) + tiny
                  and mock.objects[key_of(mid)][0] == header(mid) + mid,
                  f"mock: inline and out-of-line hot copies make the same objects: {moved} {err}")
            got, err = read(cur, "v_forms")
            check(got == [hashlib.sha256(tiny).hexdigest(), hashlib.sha256(mid).hexdigest()],
                  f"mock: and read back right: {err}")
            keyed = jpeg("keyed", 90 * 1024)
            store(cur, "v_keyed", [(keyed, "image/jpeg")])
            cur.execute("INSERT INTO ftstore.blob_keys (key)"
                        " VALUES (sha256('test_tier_verify key')) RETURNING id")
            key_id = cur.fetchone()[0]
            moved, err = offload(cur, "v_keyed")
            obj = mock.objects.get(key_of(keyed), (b"",))[0]
            check(moved == 1 and obj[:4] == b"FTB1" and obj[6] == 1
                  and int.from_bytes(obj[8:12], "big") == key_id
                  and keyed[4:4096] not in obj,
                  f"mock: under a key, a JPEG is stored encrypted: {moved} {err} {obj[:12]}")
            got, err = read(cur, "v_keyed")
            check(got == [hashlib.sha256(keyed).hexdigest()],
                  f"mock: and reads back right: {err}")
            cur.execute("UPDATE ftstore.blob_keys SET retired = true WHERE id = %s", (key_id,))

            # 6. Blobs prepared in batches of eight, their MD5s computed
            # together (md5_lanes.c): objects of every length around MD5's
            # 64-byte blocks and its 56-byte padding limit, compressed ones
            # among them, batches that end early at a blob over 1 MB. Had
            # any MD5 been wrong, its ETag would not match and the copy
            # would be read back: no GET means every one was right.
            sizes = ([n - 24 for n in (25, 55, 56, 57, 63, 64, 65, 119, 120, 121, 127, 128, 129)]
                     + [1000, 4096, 65512, 65536, 70001, 262144, 300007,
                        1024 * 1024, 1024 * 1024 + 1, 3 * MB + 5, 140, 77777, 2 * MB, 9, 12345])
            lanes = [(jpeg(f"lane{i}", n), "image/jpeg") for i, n in enumerate(sizes)]
            lanes += [((f"text {i} " * (i * 900 + 7)).encode(), "text/plain") for i in range(5)]
            store(cur, "v_lanes", lanes)
            gets = mock.count("GET")
            moved, err = offload(cur, "v_lanes")
            check(moved == len(lanes) and err is None and mock.count("GET") == gets,
                  f"mock: {len(lanes)} blobs in batches, every MD5 right, no read-back: "
                  f"{moved} {err} {mock.count('GET') - gets} GETs")
            check(all(mock.objects.get(key_of(d), (b"",))[0] == header(d) + d
                      for d, media in lanes if media == "image/jpeg"),
                  "mock: every plain object is its header and its bytes")
            got, err = read(cur, "v_lanes")
            check(got == [hashlib.sha256(d).hexdigest() for d, _ in lanes],
                  f"mock: and every blob reads back right: {err}")

            # A put nobody checks (ftstore.object_put) signs its body.
            unsigned = len(mock.unsigned)
            cur.execute("SELECT ftstore.object_put(%s, 'probe', %s)",
                        (f"s3://{BUCKET}/{PREFIX}", b"\x00probe\xff" * 1000))
            obj = mock.objects.get(f"{PREFIX}/probe")
            check(len(mock.unsigned) == unsigned and obj is not None
                  and obj[0] == b"\x00probe\xff" * 1000,
                  f"mock: object_put signs its body's SHA-256: {mock.unsigned[unsigned:]}")

        check(mock.bad_signatures == 0 and mock.verified == len(mock.requests),
              f"mock: every request is signed as botocore signs it "
              f"({mock.verified} verified, {mock.bad_signatures} refused)")


def s3rver_put(port, key, body, md5_b64, sha256_hex):
    """A PUT straight to s3rver with the given digests, signed by botocore."""
    amz_date = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    req = AWSRequest(method="PUT", url=f"http://127.0.0.1:{port}/{BUCKET}/{key}",
                     data=body,
                     headers={"Content-MD5": md5_b64,
                              "X-Amz-Content-SHA256": sha256_hex})
    req.context["timestamp"] = amz_date
    S3SigV4Auth(Credentials("S3RVER", "S3RVER"), "s3", "us-east-1").add_auth(req)
    # botocore puts the body's own SHA-256 in the header it signs; s3rver
    # checks no signature, so the wrong digest goes in afterwards.
    headers = dict(req.headers)
    headers["X-Amz-Content-SHA256"] = sha256_hex
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("PUT", f"/{BUCKET}/{key}", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("ETag")
    finally:
        conn.close()


def run_s3rver(tmp):
    import base64

    data_dir = os.path.join(tmp, "s3rver")
    cache = os.path.join(tmp, "cache-s3rver")
    os.mkdir(data_dir)
    os.mkdir(cache)
    files = _S3rverFiles(data_dir)
    with _s3rver.running(data_dir, [BUCKET]) as (proc, port):
        if not check(port is not None, "s3rver listens"):
            return

        # What s3rver checks of a body: neither digest.
        body = b"the body as sent" * 1000
        wrong = b"another body" * 10
        status, etag = s3rver_put(port, "direct/md5", body,
                                  base64.b64encode(hashlib.md5(wrong).digest()).decode(),
                                  hashlib.sha256(body).hexdigest())
        check(status == 200 and etag == '"' + hashlib.md5(body).hexdigest() + '"',
              f"s3rver: takes a body whose Content-MD5 is wrong: {status} {etag}")
        status, etag = s3rver_put(port, "direct/sha", body,
                                  base64.b64encode(hashlib.md5(body).digest()).decode(),
                                  hashlib.sha256(wrong).hexdigest())
        check(status == 200 and files.get("direct/sha") == body,
              f"s3rver: takes a body whose x-amz-content-sha256 is wrong: {status}")

        with _s3mock.CorruptingProxy(port) as proxy:
            conn, cur = connect(cache, f"http://127.0.0.1:{proxy.port}",
                                "S3RVER", "S3RVER", "us-east-1")
            with conn:
                # A body damaged on the way: s3rver keeps it, ftstore does not
                # take the copy.
                d1 = jpeg("proxy", 256 * 1024)
                store(cur, "v_proxy", [(d1, "image/jpeg")])
                proxy.corrupt_puts = True
                gets = proxy.count("GET")
                moved, err = offload(cur, "v_proxy")
                proxy.corrupt_puts = False
                check(moved is None and err is not None and err.sqlstate == "XX001",
                      f"s3rver: a body damaged in flight is refused: {moved} {err}")
                stored = files.get(key_of(d1))
                sent = header(d1) + d1
                check(stored is not None and len(stored) == len(sent)
                      and sum(a != b for a, b in zip(stored, sent)) == 1,
                      "s3rver: it stored the damaged body (one byte differs)")
                check(proxy.count("GET") == gets + 1, "s3rver: ftstore read it back once")
                check(tiers(cur, "v_proxy") == ["hot"], "s3rver: the blob stays hot")

                # Undamaged: no read-back, plain and multipart (s3rver's
                # multipart ETag is the MD5 of the whole object).
                large = jpeg("proxy-large", 11 * MB)
                store(cur, "v_clean", [(large, "image/jpeg")])
                gets = proxy.count("GET")
                moved, err = offload(cur, "v_proxy")
                check(moved == 1, f"s3rver: the same blob offloads undamaged: {moved} {err}")
                moved, err = offload(cur, "v_clean")
                check(moved == 1, f"s3rver: the multipart blob offloads: {moved} {err}")
                check(proxy.count("GET") == gets,
                      f"s3rver: with no damage, no GET ({proxy.count('GET') - gets})")
                check(files.get(key_of(d1)) == sent
                      and files.get(key_of(large)) == header(large) + large,
                      "s3rver: it holds both objects, byte for byte")

                clear(cache)
                want = {hashlib.sha256(d).hexdigest() for d in (d1, large)}
                got1, err1 = read(cur, "v_proxy")
                got2, err2 = read(cur, "v_clean")
                check((got1 or []) + (got2 or []) == [hashlib.sha256(d1).hexdigest(),
                                                      hashlib.sha256(large).hexdigest()],
                      f"s3rver: cold reads give the right bytes: {err1} {err2}")
                check(cache_files(cache) == {h: h for h in want},
                      f"s3rver: the cache holds both, right: {sorted(cache_files(cache))}")


class _S3rverFiles:
    """Objects as s3rver keeps them: DIR/bucket/key._S3rver_object."""

    def __init__(self, data_dir):
        self.data_dir = data_dir

    def get(self, key):
        p = Path(self.data_dir, BUCKET, key + "._S3rver_object")
        return p.read_bytes() if p.is_file() else None


def main():
    if not check(ENTRY.is_file(), f"s3rver is installed at {ENTRY} (scripts/s3rver.sh install)"):
        return summary()
    tmp = tempfile.mkdtemp(prefix="ftstore-tier-verify-")
    try:
        run_mock(tmp)
        run_s3rver(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
