"""
s3rver 3.7.1 for the tests that need a real S3-compatible service.

scripts/s3rver.sh installs it into .s3rver/ (scripts/test.sh runs it
first); a test starts its own instance on 127.0.0.1 with running() and
stops it on the way out, whatever happened.  Not a test itself: the
leading underscore keeps scripts/test.sh from running it.
"""

import contextlib
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / ".s3rver" / "node_modules" / "s3rver" / "bin" / "s3rver.js"


def free_port():
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, proc, seconds=60):
    """True once proc accepts connections on port; False if it exits."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


@contextlib.contextmanager
def running(data_dir, buckets, extra_args=()):
    """
    s3rver serving buckets from data_dir: yields (proc, port), port None
    when it did not come up (proc.stderr then says why).
    """
    port = free_port()
    args = ["node",
            # s3rver makes its continuation tokens with DES, which the
            # OpenSSL 3 behind Node 18 and 20 keeps in its legacy provider.
            "--openssl-legacy-provider", str(ENTRY),
            "-d", str(data_dir), "-a", "127.0.0.1", "-p", str(port), "--silent",
            *extra_args]
    for bucket in buckets:
        args += ["--configure-bucket", bucket]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield proc, (port if wait_for(port, proc) else None)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
