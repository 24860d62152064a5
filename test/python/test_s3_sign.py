#!/usr/bin/python3
"""
test_s3_sign.py: the S3 store's SigV4 signer against independent ones.

ftstore.s3_sign_request() returns the Authorization header the store
would send for a fixed request.  It is compared with:

- AWS's published signatures: the get-vanilla and
  get-vanilla-query-order-key-case cases of the SigV4 test suite, and the
  GET object (with Range), PUT object, GET bucket lifecycle and GET bucket
  (list objects) examples of the S3 SigV4 documentation;
- botocore's S3SigV4Auth (python3-boto3) signing the very same requests:
  paths with and without encoding, sorted and unsorted query strings,
  valueless parameters, opaque continuation tokens, header values with
  runs of spaces, upper-case header names, ports, a real payload hash.

Also checks that a role that is not superuser may not call the signer.
Connects with PGHOST etc.; prints "N passed, N failed" last.
"""

import hashlib
import json
import sys

import psycopg
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from _check import check, summary  # noqa: E402


EMPTY = hashlib.sha256(b"").hexdigest()


def sign(cur, method, url, headers, payload_hash, amz_date, service="s3"):
    cur.execute("SELECT ftstore.s3_sign_request(%s, %s, %s, %s, %s, %s)",
                (method, url, json.dumps(headers), payload_hash, amz_date,
                 service))
    return cur.fetchone()[0]


def set_credentials(cur, key, secret, region):
    cur.execute("SELECT set_config('ftstore.s3_access_key_id', %s, false),"
                " set_config('ftstore.s3_secret_access_key', %s, false),"
                " set_config('ftstore.s3_region', %s, false)",
                (key, secret, region))


def botocore_sign(method, url, headers, payload_hash, amz_date, key, secret,
                  region, host):
    """botocore's header for the request, with the headers ftstore signs."""
    all_headers = dict(headers)
    all_headers.setdefault("host", host)
    all_headers.setdefault("x-amz-date", amz_date)
    all_headers["X-Amz-Content-SHA256"] = payload_hash
    request = AWSRequest(method=method, url=url, headers=all_headers)
    request.context["timestamp"] = amz_date
    signer = S3SigV4Auth(Credentials(key, secret), "s3", region)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical),
                                 request)
    names = signer.signed_headers(signer.headers_to_sign(request))
    return (f"AWS4-HMAC-SHA256 Credential={key}/{amz_date[:8]}/{region}/s3/"
            f"aws4_request, SignedHeaders={names}, Signature={signature}")


def main():
    with psycopg.connect(autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS ftstore")

        # --- AWS's published vectors -----------------------------------
        suite_key, suite_secret = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        set_credentials(cur, suite_key, suite_secret, "us-east-1")
        prefix = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
                  "service/aws4_request, SignedHeaders=host;x-amz-date, Signature=")
        got = sign(cur, "GET", "https://example.amazonaws.com/", {}, EMPTY,
                   "20150830T123600Z", "service")
        check(got == prefix + "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
              f"SigV4 test suite get-vanilla: {got}")
        got = sign(cur, "GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1",
                   {}, EMPTY, "20150830T123600Z", "service")
        check(got == prefix + "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
              f"SigV4 test suite get-vanilla-query-order-key-case: {got}")

        doc_key, doc_secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        set_credentials(cur, doc_key, doc_secret, "us-east-1")
        host = "examplebucket.s3.amazonaws.com"
        stamp = "20130524T000000Z"
        doc = [
            ("GET object with Range", "GET", f"https://{host}/test.txt",
             {"Range": "bytes=0-9", "x-amz-content-sha256": EMPTY}, EMPTY,
             "host;range;x-amz-content-sha256;x-amz-date",
             "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
            ("PUT object", "PUT", f"https://{host}/test$file.text",
             {"Date": "Fri, 24 May 2013 00:00:00 GMT",
              "x-amz-storage-class": "REDUCED_REDUNDANCY",
              "x-amz-content-sha256": hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()},
             hashlib.sha256(b"Welcome to Amazon S3.").hexdigest(),
             "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
             "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
            ("GET bucket lifecycle", "GET", f"https://{host}/?lifecycle",
             {"x-amz-content-sha256": EMPTY}, EMPTY,
             "host;x-amz-content-sha256;x-amz-date",
             "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
            ("GET bucket (list objects)", "GET", f"https://{host}/?max-keys=2&prefix=J",
             {"x-amz-content-sha256": EMPTY}, EMPTY,
             "host;x-amz-content-sha256;x-amz-date",
             "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
        ]
        for name, method, url, headers, payload, signed, signature in doc:
            got = sign(cur, method, url, headers, payload, stamp)
            want = (f"AWS4-HMAC-SHA256 Credential={doc_key}/20130524/us-east-1/s3/"
                    f"aws4_request, SignedHeaders={signed}, Signature={signature}")
            check(got == want, f"S3 documentation example {name}: {got}")

        # --- botocore on the same requests --------------------------------
        key, secret, region = "AKIA-FTSTORE-TEST", "s3cr3t/with+odd=chars", "eu-west-3"
        set_credentials(cur, key, secret, region)
        body_hash = hashlib.sha256(b"x" * 1000).hexdigest()
        cases = [
            ("GET", "http://127.0.0.1:4569/bucket/tier/ab/cdef0123", {}, EMPTY),
            ("PUT", "http://127.0.0.1:4569/bucket/tier/ab/cdef0123", {}, body_hash),
            ("HEAD", "http://bucket.localhost:9000/a/b.c_d-e", {}, EMPTY),
            ("DELETE", "https://s3.example.test/bucket/k", {}, EMPTY),
            ("GET", "http://127.0.0.1:4569/bucket?list-type=2&max-keys=1000&prefix=tier%2Fab",
             {}, EMPTY),
            ("GET", "http://127.0.0.1:4569/bucket?prefix=p&list-type=2&continuation-token="
             "1%2Fab%2Bcd%3D%3D&max-keys=7", {}, EMPTY),
            ("POST", "http://127.0.0.1:4569/bucket/big?uploads=",
             {"Content-Type": "application/xml"}, EMPTY),
            ("PUT", "http://127.0.0.1:4569/bucket/big?uploadId=2~abc%2B%2F&partNumber=3",
             {}, body_hash),
            ("POST", "http://127.0.0.1:4569/bucket/big?uploadId=2~abc",
             {"Content-Type": "application/xml"}, body_hash),
            ("GET", "http://127.0.0.1:4569/bucket/x",
             {"X-Amz-Meta-Note": "  runs   of  spaces  ", "Range": "bytes=0-9"}, EMPTY),
            ("PUT", "http://127.0.0.1:4569/bucket/x",
             {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, "UNSIGNED-PAYLOAD"),
        ]
        for method, url, headers, payload in cases:
            stamp = "20261204T101112Z"
            all_headers = dict(headers)
            if not any(h.lower() == "x-amz-content-sha256" for h in headers):
                all_headers["x-amz-content-sha256"] = payload
            got = sign(cur, method, url, all_headers, payload, stamp)
            host = url.split("/")[2]
            want = botocore_sign(method, url, {k: v for k, v in all_headers.items()
                                               if k.lower() != "x-amz-content-sha256"},
                                 payload, stamp, key, secret, region, host)
            check(got == want, f"botocore agrees on {method} {url}:\n  ours {got}\n  boto {want}")

        # An unencoded path or query signs as its encoded form does.
        a = sign(cur, "GET", "http://h/bucket/test$file.text?prefix=a/b c", {}, EMPTY, stamp)
        b = sign(cur, "GET", "http://h/bucket/test%24file.text?prefix=a%2Fb%20c", {}, EMPTY, stamp)
        check(a == b, "encoded and unencoded URLs sign the same")

        # A different secret gives a different signature (the key is used).
        other = sign(cur, "GET", "http://h/bucket/k", {}, EMPTY, stamp)
        set_credentials(cur, key, secret + "x", region)
        check(sign(cur, "GET", "http://h/bucket/k", {}, EMPTY, stamp) != other,
              "the secret changes the signature")

        # The signing key is kept from one request to the next of the same
        # day, region, service and secret: a sequence in which each of them
        # changes, and changes back, must agree with botocore every time.
        url = "http://127.0.0.1:4569/bucket/tier/ab/cdef0123"
        sequence = [
            ("20261204T101112Z", "eu-west-3", secret),
            ("20261204T235959Z", "eu-west-3", secret),
            ("20261205T000000Z", "eu-west-3", secret),
            ("20261204T101112Z", "eu-west-3", secret),
            ("20261204T101112Z", "us-east-1", secret),
            ("20261204T101112Z", "eu-west-3", secret + "2"),
            ("20261204T101112Z", "eu-west-3", secret),
            ("20261204T101112Z", "eu-west-3", secret),
        ]
        for stamp, seq_region, seq_secret in sequence:
            set_credentials(cur, key, seq_secret, seq_region)
            got = sign(cur, "PUT", url, {"x-amz-content-sha256": body_hash},
                       body_hash, stamp)
            want = botocore_sign("PUT", url, {}, body_hash, stamp, key,
                                 seq_secret, seq_region, "127.0.0.1:4569")
            check(got == want, f"botocore agrees after a change of scope or secret"
                  f" ({stamp} {seq_region}):\n  ours {got}\n  boto {want}")
        set_credentials(cur, key, secret, region)

        # Only a superuser may sign.
        cur.execute("DROP ROLE IF EXISTS ftstore_sign_tester")
        cur.execute("CREATE ROLE ftstore_sign_tester LOGIN")
        cur.execute("SET ROLE ftstore_sign_tester")
        try:
            sign(cur, "GET", "http://h/bucket/k", {}, EMPTY, stamp)
            check(False, "a plain role could call s3_sign_request")
        except psycopg.errors.InsufficientPrivilege:
            check(True, "")
        cur.execute("RESET ROLE")
        cur.execute("DROP ROLE ftstore_sign_tester")

    return summary()


if __name__ == "__main__":
    sys.exit(main())
