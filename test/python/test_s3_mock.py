#!/usr/bin/python3
"""
test_s3_mock.py: the S3 store against a mock service that verifies every
signature with botocore (_s3mock.py), and under injected faults.

- Round trips through ftstore.object_put / object_get / object_head /
  object_delete / object_list: empty, 1 byte, 1 MB and a 12 MB object
  that goes up in three parts; the bytes the mock holds are compared with
  the originals, all of it over one connection, and every request the mock saw carried a signature
  botocore computes the same (none refused).  A wrong secret is refused.
- Listing with continuation tokens (pages of 3 keys, tokens that need
  escaping), keys relative to the store's prefix.
- Path-style and virtual-host-style addressing.
- Faults: 500 then success (two requests), 500 forever (a clean error
  after 1 + max_retries requests, naming the status and S3's code), 429,
  403 with an S3 XML error (not retried; the message names the code), a
  400 (not retried), a response slower than the timeout, a body shorter
  than its Content-Length, a corrupted body (returned exactly as sent, so
  the tier's hash check sees it), connection refused, a multipart upload
  failing at its second part (aborted on the service).
- Credentials: a role that is not superuser may not call the object
  functions; SHOW ALL lists no key setting; without credentials no store
  opens; no error message the test saw contains the secret or the access
  key.  (What other roles see of the settings is 063_s3_credentials.pl's.)

Connects with PGHOST etc.; prints "N passed, N failed" last.
"""

import hashlib
import os
import sys

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _s3mock  # noqa: E402
from _s3mock import ACCESS_KEY, REGION, SECRET_KEY, MockS3  # noqa: E402
from _check import check, summary  # noqa: E402

messages = []


def configure(cur, endpoint, **extra):
    settings = {
        "ftstore.s3_endpoint": endpoint,
        "ftstore.s3_region": REGION,
        "ftstore.s3_access_key_id": ACCESS_KEY,
        "ftstore.s3_secret_access_key": SECRET_KEY,
        "ftstore.s3_addressing": "path",
        "ftstore.s3_max_retries": "2",
        "ftstore.s3_retry_delay": "5",
        "ftstore.s3_timeout": "20000",
        "ftstore.s3_multipart_threshold": str(5 * 1024 * 1024),
        "ftstore.s3_part_size": str(5 * 1024 * 1024),
    }
    settings.update(extra)
    for name, value in settings.items():
        cur.execute("SELECT set_config(%s, %s, false)", (name, value))


def failure(cur, sql, params=()):
    """The error a statement raises (None if it succeeds)."""
    try:
        cur.execute(sql, params)
        return None
    except psycopg.Error as e:
        diag = e.diag
        messages.append(" ".join(filter(None, [diag.message_primary,
                                               diag.message_detail,
                                               diag.message_hint,
                                               diag.context])))
        return e


def put(cur, url, key, data):
    cur.execute("SELECT ftstore.object_put(%s, %s, %s)", (url, key, data))


def get(cur, url, key):
    cur.execute("SELECT ftstore.object_get(%s, %s)", (url, key))
    value = cur.fetchone()[0]
    return None if value is None else bytes(value)


def head(cur, url, key):
    cur.execute("SELECT ftstore.object_head(%s, %s)", (url, key))
    return cur.fetchone()[0]


def round_trips(cur, mock, url):
    blobs = {
        "rt/empty": b"",
        "rt/one": b"\x00",
        "rt/mb": os.urandom(1024 * 1024),
        "rt/multi": os.urandom(12 * 1024 * 1024 + 17),
    }
    for key, data in blobs.items():
        put(cur, url, key, data)
    for key, data in blobs.items():
        stored = mock.objects.get("tier/" + key, (None,))[0]
        check(stored == data, f"the service holds the bytes of {key}")
        check(get(cur, url, key) == data, f"object_get returns the bytes of {key}")
        check(head(cur, url, key) == len(data), f"object_head gives the size of {key}")
    check(mock.completed == [("tier/rt/multi", [1, 2, 3])],
          f"the 12 MB object went up in three parts: {mock.completed}")
    check(mock.count("PUT") == 3 + 3, f"3 plain PUTs and 3 part PUTs: {mock.count('PUT')}")

    # One backend, one connection: the handle outlives each call.
    check(len(mock.client_ports) == 1,
          f"{mock.count()} requests over {len(mock.client_ports)} connection(s)")

    check(get(cur, url, "rt/missing") is None, "object_get of a missing key is NULL")
    check(head(cur, url, "rt/missing") is None, "object_head of a missing key is NULL")
    cur.execute("SELECT ftstore.object_delete(%s, %s)", (url, "rt/one"))
    check(cur.fetchone()[0] is True, "object_delete of an object is true")
    check("tier/rt/one" not in mock.objects, "the deleted object is gone from the service")
    cur.execute("SELECT ftstore.object_delete(%s, %s)", (url, "rt/one"))
    check(cur.fetchone()[0] is False, "object_delete of a missing key is false")


def listing(cur, mock, url):
    keys = [f"lst/{i:02d}-{hashlib.sha1(str(i).encode()).hexdigest()[:8]}"
            for i in range(8)]
    for i, key in enumerate(keys):
        put(cur, url, key, b"x" * i)
    put(cur, url, "lstx/other", b"y")
    before = mock.count("GET")
    cur.execute("SELECT key, bytes, modified IS NOT NULL FROM ftstore.object_list(%s, %s) ORDER BY key",
                (url, "lst/"))
    rows = cur.fetchall()
    check(rows == [(k, i, True) for i, k in enumerate(keys)],
          f"object_list gives every key under the prefix with its size: {rows}")
    check(mock.count("GET") - before == 3, "8 keys in pages of 3 took 3 requests")
    cur.execute("SELECT count(*) FROM ftstore.object_list(%s)", (url,))
    check(cur.fetchone()[0] == len(mock.objects),
          "object_list without a prefix gives every object of the store")


def faults(cur, mock, url):
    data = os.urandom(4096)

    n = mock.count()
    mock.faults = [("status", 500, "InternalError")]
    put(cur, url, "f/retry500", data)
    check(mock.count() - n == 2 and mock.objects["tier/f/retry500"][0] == data,
          "a 500 then a success: stored after two requests")

    n = mock.count()
    mock.faults = [("status", 429, "SlowDown")]
    check(get(cur, url, "f/retry500") == data, "a 429 then a success: read")
    check(mock.count() - n == 2, "the 429 was retried once")

    for status, code in ((500, "InternalError"), (503, "SlowDown"), (429, "SlowDown")):
        n = mock.count()
        mock.fault_forever = ("status", status, code)
        e = failure(cur, "SELECT ftstore.object_put(%s, %s, %s)", (url, "f/forever", data))
        mock.fault_forever = None
        check(e is not None and f"HTTP status {status}" in e.diag.message_primary
              and code in e.diag.message_primary and "f/forever" in e.diag.message_primary,
              f"{status} forever: a clean error naming status, code and key: {e}")
        check(mock.count() - n == 3, f"{status} forever: 1 + 2 retries, then the error")

    for status, code, sqlstate in ((403, "AccessDenied", "42501"),
                                   (400, "InvalidArgument", "38000")):
        n = mock.count()
        mock.faults = [("status", status, code)]
        e = failure(cur, "SELECT ftstore.object_put(%s, %s, %s)", (url, "f/denied", data))
        check(e is not None and code in e.diag.message_primary
              and e.diag.sqlstate == sqlstate
              and "Injected fault." in (e.diag.message_detail or ""),
              f"{status}: the error names S3's code and message: {e} {e and e.diag.sqlstate}")
        check(mock.count() - n == 1, f"{status} is not retried")

    # Slower than the timeout, every time: two attempts, then an error.
    cur.execute("SET ftstore.s3_timeout = 500")
    n = mock.count()
    mock.fault_forever = ("sleep", 2)
    e = failure(cur, "SELECT ftstore.object_get(%s, %s)", (url, "f/retry500"))
    mock.fault_forever = None
    cur.execute("SET ftstore.s3_timeout = 20000")
    check(e is not None and "imeout" in str(e) and e.diag.sqlstate == "08006",
          f"a response past the timeout is a connection failure: {e}")
    check(mock.count() - n == 3, "a timeout is retried")

    # A body shorter than its Content-Length, every time.
    n = mock.count()
    mock.fault_forever = ("short", 100)
    e = failure(cur, "SELECT ftstore.object_get(%s, %s)", (url, "f/retry500"))
    mock.fault_forever = None
    check(e is not None and "ended early" in e.diag.message_primary
          and "3996 bytes arrived of the 4096" in (e.diag.message_detail or ""),
          f"a short body is an error, never data: {e} {e and e.diag.message_detail}")
    check(mock.count() - n == 3, "a short body is retried")

    # Short once: the retry brings the whole object.
    mock.faults = [("short", 1)]
    check(get(cur, url, "f/retry500") == data, "a short body then a whole one: the whole one")

    # A corrupted body is returned exactly; the tier's hash check catches it.
    mock.faults = [("corrupt",)]
    got = get(cur, url, "f/retry500")
    check(got == bytes([data[0] ^ 0xFF]) + data[1:],
          "a corrupted body comes back exactly as the service sent it")
    check(hashlib.sha256(got).digest() != hashlib.sha256(data).digest(),
          "so the caller's hash check detects it")

    # A multipart upload failing at its second part is aborted.
    big = os.urandom(11 * 1024 * 1024)
    mock.faults = [None, None, ("status", 403, "AccessDenied")]
    e = failure(cur, "SELECT ftstore.object_put(%s, %s, %s)", (url, "f/big", big))
    check(e is not None and "part 2" in e.diag.message_primary
          and "AccessDenied" in e.diag.message_primary, f"part 2 refused: {e}")
    check(mock.aborted == ["tier/f/big"] and mock.uploads == {}
          and "tier/f/big" not in mock.objects,
          f"the failed multipart upload was aborted: {mock.aborted} {mock.uploads}")

    # Nobody listening.
    port = _s3mock.free_port()
    cur.execute("SELECT set_config('ftstore.s3_endpoint', %s, false)",
                (f"http://127.0.0.1:{port}",))
    e = failure(cur, "SELECT ftstore.object_head(%s, %s)", (url, "f/retry500"))
    check(e is not None and e.diag.sqlstate == "08006"
          and "connect" in e.diag.message_primary.lower()
          and "sent 3 times" in (e.diag.context or ""),
          f"connection refused: a clean error after the retries: {e} {e and e.diag.context}")
    cur.execute("SELECT set_config('ftstore.s3_endpoint', %s, false)",
                (f"http://127.0.0.1:{mock.port}",))

    # A wrong secret: the mock refuses the signature, and 403 is final.
    n = mock.count()
    bad = mock.bad_signatures
    cur.execute("SET ftstore.s3_secret_access_key = 'not-the-secret'")
    e = failure(cur, "SELECT ftstore.object_get(%s, %s)", (url, "f/retry500"))
    cur.execute("SELECT set_config('ftstore.s3_secret_access_key', %s, false)", (SECRET_KEY,))
    check(e is not None and "SignatureDoesNotMatch" in e.diag.message_primary,
          f"a wrong secret is refused by the verifying mock: {e}")
    check(mock.bad_signatures - bad == 1 and mock.count() - n == 1,
          "the refused request was not retried")
    mock.bad_signatures = bad

    # Keys that are not relative paths of the allowed characters.
    for key in ("../x", "a//b", "/abs", "a b", "a/./b", ""):
        e = failure(cur, "SELECT ftstore.object_put(%s, %s, %s)", (url, key, data))
        check(e is not None and e.diag.sqlstate == "22023", f"key {key!r} refused: {e}")


def credentials(cur, url):
    # What a role that is not superuser sees of the settings is the TAP
    # test 063_s3_credentials.pl's: it needs ftstore preloaded.  Here: the
    # object functions are not for it.
    cur.execute("DROP ROLE IF EXISTS ftstore_s3_plain")
    cur.execute("CREATE ROLE ftstore_s3_plain LOGIN")
    try:
        with psycopg.connect(user="ftstore_s3_plain", autocommit=True) as plain:
            pc = plain.cursor()
            for sql in ("SELECT ftstore.object_get(%s, 'k')",
                        "SELECT ftstore.object_put(%s, 'k', 'x')",
                        "SELECT ftstore.object_head(%s, 'k')",
                        "SELECT ftstore.object_delete(%s, 'k')",
                        "SELECT * FROM ftstore.object_list(%s, '')"):
                e = failure(pc, sql, (url,))
                check(e is not None and e.diag.sqlstate == "42501",
                      f"a plain role may not run {sql}: {e}")
    finally:
        cur.execute("DROP ROLE ftstore_s3_plain")

    # Even a superuser's SHOW ALL leaves them out.
    cur.execute("SHOW ALL")
    check(not any(r[0] in ("ftstore.s3_secret_access_key", "ftstore.s3_access_key_id")
                  for r in cur.fetchall()), "SHOW ALL of a superuser lists no key setting")

    # Without credentials, nothing is sent.
    cur.execute("RESET ftstore.s3_secret_access_key")
    e = failure(cur, "SELECT ftstore.object_head(%s, 'k')", (url,))
    check(e is not None and "credentials are not set" in e.diag.message_primary,
          f"no credentials, no store: {e}")
    cur.execute("SELECT set_config('ftstore.s3_secret_access_key', %s, false)", (SECRET_KEY,))


def main():
    with psycopg.connect(autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS ftstore")
        cur.execute("LOAD 'ftstore'")

        with MockS3(page_size=3) as mock:
            configure(cur, f"http://127.0.0.1:{mock.port}")
            url = "s3://bucket/tier"
            round_trips(cur, mock, url)
            listing(cur, mock, url)
            faults(cur, mock, url)
            credentials(cur, url)
            check(mock.bad_signatures == 0 and mock.verified > 40,
                  f"botocore verified all {mock.verified} signed requests"
                  f" ({mock.bad_signatures} refused)")

        with MockS3(bucket="vbucket", vhost=True, page_size=2) as mock:
            configure(cur, f"http://localhost:{mock.port}", **{"ftstore.s3_addressing": "virtual"})
            url = "s3://vbucket"
            data = os.urandom(70000)
            put(cur, url, "v/a", data)
            put(cur, url, "v/b", b"")
            put(cur, url, "v/c", b"c")
            check(mock.objects["v/a"][0] == data and get(cur, url, "v/a") == data,
                  "virtual-host addressing: the bucket in the host name")
            cur.execute("SELECT array_agg(key ORDER BY key) FROM ftstore.object_list(%s, 'v/')", (url,))
            check(cur.fetchone()[0] == ["v/a", "v/b", "v/c"], "virtual-host listing in pages of 2")
            check(mock.bad_signatures == 0 and mock.verified == mock.count(),
                  "virtual-host requests are correctly signed")

    leaked = [m for m in messages if SECRET_KEY in m or ACCESS_KEY in m]
    check(not leaked, f"no error message carries a credential: {leaked}")
    check(len(messages) > 20, f"errors were seen to check: {len(messages)}")

    return summary()


if __name__ == "__main__":
    sys.exit(main())
