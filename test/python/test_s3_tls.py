#!/usr/bin/python3
"""
test_s3_tls.py: the S3 store over https, with certificate verification.

openssl makes a throwaway CA and a server certificate for 127.0.0.1 (an
IP address in subjectAltName, no DNS name); the verifying mock service of
_s3mock.py serves TLS with it.

- With ftstore.s3_ca_file naming the CA, objects go up and come back.
- Without it, the system's CA bundle does not know the CA: the request
  fails with a certificate error (SQLSTATE 08006), and is not retried.
- With the CA but the endpoint named "localhost", which the certificate
  does not name, the host name check refuses the connection: verification
  of the name is on, too.
- A CA file that does not exist is an error, never a silent fallback.

Connects with PGHOST etc.; prints "N passed, N failed" last.
"""

import os
import subprocess
import sys
import tempfile

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _s3mock import ACCESS_KEY, REGION, SECRET_KEY, MockS3, tls_context  # noqa: E402
from _check import check, summary  # noqa: E402


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_certificates(d):
    ca_key, ca_crt = f"{d}/ca.key", f"{d}/ca.crt"
    srv_key, srv_csr, srv_crt = f"{d}/srv.key", f"{d}/srv.csr", f"{d}/srv.crt"
    ext = f"{d}/srv.ext"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
            "-out", ca_crt, "-days", "2", "-subj", "/CN=ftstore test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", srv_key,
            "-out", srv_csr, "-subj", "/CN=127.0.0.1")
    with open(ext, "w") as f:
        f.write("subjectAltName = IP:127.0.0.1\n"
                "basicConstraints = CA:FALSE\n"
                "keyUsage = digitalSignature, keyEncipherment\n"
                "extendedKeyUsage = serverAuth\n")
    openssl("x509", "-req", "-in", srv_csr, "-CA", ca_crt, "-CAkey", ca_key,
            "-CAcreateserial", "-out", srv_crt, "-days", "2", "-extfile", ext)
    return ca_crt, srv_crt, srv_key


def error_of(cur, sql, params=()):
    try:
        cur.execute(sql, params)
        return None
    except psycopg.Error as e:
        return e


def main():
    d = tempfile.mkdtemp(prefix="ftstore-tls-")
    os.chmod(d, 0o755)
    ca_crt, srv_crt, srv_key = make_certificates(d)

    with psycopg.connect(autocommit=True) as conn, \
            MockS3(tls_context=tls_context(srv_crt, srv_key)) as mock:
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS ftstore")
        cur.execute("LOAD 'ftstore'")
        for name, value in {
            "ftstore.s3_endpoint": f"https://127.0.0.1:{mock.port}",
            "ftstore.s3_region": REGION,
            "ftstore.s3_access_key_id": ACCESS_KEY,
            "ftstore.s3_secret_access_key": SECRET_KEY,
            "ftstore.s3_max_retries": "2",
            "ftstore.s3_retry_delay": "5",
        }.items():
            cur.execute("SELECT set_config(%s, %s, false)", (name, value))
        url = "s3://bucket/tls"

        # No CA file: the system bundle does not know our CA.
        e = error_of(cur, "SELECT ftstore.object_put(%s, 'a', 'x')", (url,))
        check(e is not None and e.diag.sqlstate == "08006"
              and "certificate" in str(e).lower(),
              f"without the CA the certificate is refused: {e}")
        check(mock.count() == 0, "no request reached the service")

        # A CA file that is not there.
        cur.execute("SELECT set_config('ftstore.s3_ca_file', %s, false)", (f"{d}/missing.crt",))
        e = error_of(cur, "SELECT ftstore.object_put(%s, 'a', 'x')", (url,))
        check(e is not None and e.diag.sqlstate == "08006",
              f"a missing CA file is an error: {e}")

        # The CA file: it works.
        cur.execute("SELECT set_config('ftstore.s3_ca_file', %s, false)", (ca_crt,))
        data = os.urandom(200000)
        cur.execute("SELECT ftstore.object_put(%s, 'a', %s)", (url, data))
        cur.execute("SELECT ftstore.object_get(%s, 'a')", (url,))
        check(bytes(cur.fetchone()[0]) == data, "with the CA file: a round trip over https")
        check(mock.objects["tls/a"][0] == data, "the service holds the bytes")
        check(mock.bad_signatures == 0 and mock.verified == mock.count() == 2,
              f"both requests correctly signed: {mock.verified} of {mock.count()}")

        # The right CA, the wrong name.
        cur.execute("SELECT set_config('ftstore.s3_endpoint', %s, false)",
                    (f"https://localhost:{mock.port}",))
        e = error_of(cur, "SELECT ftstore.object_get(%s, 'a')", (url,))
        check(e is not None and e.diag.sqlstate == "08006"
              and ("name" in str(e).lower() or "subject" in str(e).lower()),
              f"a certificate that does not name the host is refused: {e}")

    subprocess.run(["rm", "-rf", d], check=False)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
