"""A small S3 service on 127.0.0.1 for the S3 store's tests.

It keeps objects in memory and serves PUT, GET, HEAD, DELETE,
ListObjectsV2 (pages of at most `page_size` keys, with continuation
tokens) and multipart uploads (initiate, upload part, complete, abort).

Unlike s3rver, it checks the SigV4 signature of every request with
botocore (python3-boto3), an implementation independent of ftstore's, and
the body against x-amz-content-sha256; a request that fails either is
refused with 403 SignatureDoesNotMatch and counted in `bad_signatures`.
x-amz-content-sha256: UNSIGNED-PAYLOAD (S3 takes any body then) is
accepted on a PUT only, and the PUT listed in `unsigned` as (path, query).

Faults are queued in `faults`: each request takes the first one, if any.
A fault is a tuple whose first item names it:
  ("status", code, s3_code)  answer code with an S3 XML error
  ("sleep", seconds)         wait, then answer normally
  ("short", missing)         announce the whole body but send less, then close
  ("corrupt",)               answer normally but with one byte flipped
  ("store_corrupt",)         PUT: keep the body with one byte flipped, and
                             answer the MD5 of what was kept (a service
                             that received a damaged body)
  ("lying_etag",)            PUT: keep the body with one byte flipped, but
                             answer the MD5 of the body received
  ("etag", value)            PUT: keep the body, answer this ETag (a
                             service whose ETags are not MD5s)
`fault_forever`, when set, is used for every request instead.

CorruptingProxy forwards requests to another service (s3rver), flipping
one byte of every PUT body on the way while `corrupt_puts` is set.
"""

import hashlib
import http.client
import http.server
import socket
import ssl
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY = "ftstore-test-key"
SECRET_KEY = "ftstore/test+secret=key"
REGION = "eu-test-1"


def s3_error(code, message):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        "<RequestId>mock</RequestId></Error>"
    ).encode()


class _QuietServer(http.server.ThreadingHTTPServer):
    # A client that gave up (the timeout test) leaves a broken pipe here.
    def handle_error(self, request, client_address):
        pass


class MockS3:
    def __init__(self, bucket="bucket", tls_context=None, page_size=1000,
                 vhost=False):
        self.bucket = bucket
        self.page_size = page_size
        self.vhost = vhost
        self.objects = {}          # key -> (bytes, mtime)
        self.uploads = {}          # upload id -> {part number: bytes}
        self.aborted = []
        self.completed = []
        self.requests = []         # (method, path, query, status)
        self.client_ports = set()  # one per connection the client opened
        self.verified = 0
        self.bad_signatures = 0
        self.unsigned = []         # (path, query) of the unsigned PUTs
        self.faults = []
        self.fault_forever = None
        self.lock = threading.Lock()
        self._next_upload = 0

        handler = self._handler_class()
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        if tls_context is not None:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket,
                                                        server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def count(self, method=None):
        with self.lock:
            return sum(1 for r in self.requests
                       if method is None or r[0] == method)

    def take_fault(self):
        with self.lock:
            if self.fault_forever is not None:
                return self.fault_forever
            if self.faults:
                return self.faults.pop(0)
            return None

    def verify(self, method, host, raw_path, headers, body):
        """True when botocore computes the same signature for the request."""
        auth = headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return False
        fields = dict(part.strip().split("=", 1)
                      for part in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        access_key, date, region, service, term = fields["Credential"].split("/")
        if (access_key != ACCESS_KEY or region != REGION or service != "s3"
                or term != "aws4_request"):
            return False
        signed = fields["SignedHeaders"].split(";")
        for required in ("host", "x-amz-content-sha256", "x-amz-date"):
            if required not in signed:
                return False
        claimed = headers.get("x-amz-content-sha256")
        if claimed == "UNSIGNED-PAYLOAD":
            if method != "PUT":
                return False
        elif claimed != hashlib.sha256(body).hexdigest():
            return False
        amz_date = headers["x-amz-date"]
        if amz_date[:8] != date:
            return False
        skew = abs(datetime.now(timezone.utc).timestamp()
                   - datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
                   .replace(tzinfo=timezone.utc).timestamp())
        if skew > 900:
            return False
        request = AWSRequest(method=method, url=f"http://{host}{raw_path}",
                             headers={name: headers[name] for name in signed},
                             data=body)
        request.context["timestamp"] = amz_date
        signer = S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION)
        canonical = signer.canonical_request(request)
        signature = signer.signature(signer.string_to_sign(request, canonical),
                                     request)
        expected = (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{date}/{REGION}"
                    f"/s3/aws4_request, SignedHeaders={';'.join(signed)}, "
                    f"Signature={signature}")
        return auth == expected

    def _handler_class(self):
        mock = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", headers=None, head=False):
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)
                self._status(status)

            def _status(self, status):
                with mock.lock:
                    mock.requests[self.index] = mock.requests[self.index][:3] + (status,)

            def _handle(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query,
                                                    keep_blank_values=True))
                with mock.lock:
                    mock.client_ports.add(self.client_address[1])
                    self.index = len(mock.requests)
                    mock.requests.append((method, parts.path, query, None))

                if not mock.verify(method, self.headers.get("Host", ""),
                                   self.path, self.headers, body):
                    with mock.lock:
                        mock.bad_signatures += 1
                    return self._send(403, s3_error(
                        "SignatureDoesNotMatch",
                        "The request signature we calculated does not match."))
                with mock.lock:
                    mock.verified += 1
                    if self.headers.get("x-amz-content-sha256") == "UNSIGNED-PAYLOAD":
                        mock.unsigned.append((parts.path, query))

                # Where the bucket is named: host or path.
                host = self.headers.get("Host", "").split(":")[0]
                if mock.vhost:
                    if host != f"{mock.bucket}.localhost":
                        return self._send(404, s3_error("NoSuchBucket", host))
                    key = urllib.parse.unquote(parts.path[1:])
                else:
                    segs = parts.path.split("/", 2)
                    if len(segs) < 2 or segs[1] != mock.bucket:
                        return self._send(404, s3_error("NoSuchBucket", parts.path))
                    key = urllib.parse.unquote(segs[2]) if len(segs) > 2 else ""

                fault = mock.take_fault()
                if fault is not None:
                    if fault[0] == "status":
                        return self._send(fault[1], s3_error(fault[2], "Injected fault."),
                                          head=(method == "HEAD"))
                    if fault[0] == "sleep":
                        time.sleep(fault[1])
                return self._serve(method, key, query, body, fault)

            def _serve(self, method, key, query, body, fault):
                if method == "GET" and key == "" and query.get("list-type") == "2":
                    return self._list(query)
                if method == "POST" and "uploads" in query:
                    with mock.lock:
                        mock._next_upload += 1
                        upload = f"up+{mock._next_upload}/x="
                        mock.uploads[upload] = {}
                    return self._send(200, (
                        "<InitiateMultipartUploadResult>"
                        f"<Bucket>{mock.bucket}</Bucket><Key>{escape(key)}</Key>"
                        f"<UploadId>{escape(upload)}</UploadId>"
                        "</InitiateMultipartUploadResult>").encode())
                if method == "PUT" and "uploadId" in query:
                    parts = mock.uploads.get(query["uploadId"])
                    if parts is None:
                        return self._send(404, s3_error("NoSuchUpload", "no upload"))
                    parts[int(query["partNumber"])] = body
                    etag = '"' + hashlib.md5(body).hexdigest() + '"'
                    return self._send(200, headers={"ETag": etag})
                if method == "POST" and "uploadId" in query:
                    parts = mock.uploads.pop(query["uploadId"], None)
                    if parts is None:
                        return self._send(404, s3_error("NoSuchUpload", "no upload"))
                    text = body.decode()
                    numbers = [int(n) for n in
                               text.split("<PartNumber>")[1:] for n in [n.split("<")[0]]]
                    for n in numbers:
                        etag = '"' + hashlib.md5(parts[n]).hexdigest() + '"'
                        if f"<PartNumber>{n}</PartNumber><ETag>{etag}</ETag>" not in text:
                            return self._send(400, s3_error("InvalidPart", str(n)))
                    data = b"".join(parts[n] for n in numbers)
                    with mock.lock:
                        mock.objects[key] = (data, time.time())
                        mock.completed.append((key, numbers))
                    # S3's form: the MD5 of the parts' MD5s, then "-N".
                    etag = hashlib.md5(b"".join(hashlib.md5(parts[n]).digest()
                                                for n in numbers)).hexdigest()
                    return self._send(200, (
                        "<CompleteMultipartUploadResult>"
                        f"<Key>{escape(key)}</Key>"
                        f"<ETag>&quot;{etag}-{len(numbers)}&quot;</ETag>"
                        "</CompleteMultipartUploadResult>").encode())
                if method == "DELETE" and "uploadId" in query:
                    with mock.lock:
                        mock.uploads.pop(query["uploadId"], None)
                        mock.aborted.append(key)
                    return self._send(204)
                if method == "PUT":
                    kept = body
                    etag = '"' + hashlib.md5(body).hexdigest() + '"'
                    if fault is not None and fault[0] in ("store_corrupt", "lying_etag") and body:
                        kept = body[:len(body) // 2] + bytes([body[len(body) // 2] ^ 0x01]) \
                            + body[len(body) // 2 + 1:]
                        if fault[0] == "store_corrupt":
                            etag = '"' + hashlib.md5(kept).hexdigest() + '"'
                    if fault is not None and fault[0] == "etag":
                        etag = fault[1]
                    with mock.lock:
                        mock.objects[key] = (kept, time.time())
                    return self._send(200, headers={"ETag": etag})
                if method in ("GET", "HEAD"):
                    obj = mock.objects.get(key)
                    if obj is None:
                        return self._send(404, s3_error("NoSuchKey", key),
                                          head=(method == "HEAD"))
                    data = obj[0]
                    if method == "HEAD":
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self._status(200)
                        return None
                    if fault is not None and fault[0] == "short":
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data[:len(data) - fault[1]])
                        self.wfile.flush()
                        self.close_connection = True
                        self._status(200)
                        return None
                    if fault is not None and fault[0] == "corrupt" and data:
                        data = bytes([data[0] ^ 0xFF]) + data[1:]
                    return self._send(200, data)
                if method == "DELETE":
                    with mock.lock:
                        mock.objects.pop(key, None)
                    return self._send(204)
                return self._send(405, s3_error("MethodNotAllowed", method))

            def _list(self, query):
                prefix = query.get("prefix", "")
                size = min(int(query.get("max-keys", "1000")), mock.page_size)
                with mock.lock:
                    keys = sorted(k for k in mock.objects if k.startswith(prefix))
                start = query.get("continuation-token")
                if start is not None:
                    # The token is opaque to the client: here, the last key
                    # of the previous page with characters that need escaping.
                    after = start[len("tok+/="):]
                    keys = [k for k in keys if k > after]
                page, rest = keys[:size], keys[size:]
                out = ["<ListBucketResult>", f"<Name>{mock.bucket}</Name>",
                       f"<Prefix>{escape(prefix)}</Prefix>",
                       f"<KeyCount>{len(page)}</KeyCount>",
                       f"<IsTruncated>{'true' if rest else 'false'}</IsTruncated>"]
                if rest:
                    out.append("<NextContinuationToken>"
                               + escape("tok+/=" + page[-1])
                               + "</NextContinuationToken>")
                for k in page:
                    data, mtime = mock.objects[k]
                    stamp = datetime.fromtimestamp(mtime, timezone.utc)
                    out.append(f"<Contents><Key>{escape(k)}</Key>"
                               f"<LastModified>{stamp.strftime('%Y-%m-%dT%H:%M:%S.000Z')}"
                               f"</LastModified><Size>{len(data)}</Size></Contents>")
                out.append("</ListBucketResult>")
                return self._send(200, "".join(out).encode())

            def do_GET(self):
                self._handle("GET")

            def do_HEAD(self):
                self._handle("HEAD")

            def do_PUT(self):
                self._handle("PUT")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

        return Handler


class CorruptingProxy:
    """
    Forwards every request to a service on 127.0.0.1:upstream_port as it
    came, and its answer back; while corrupt_puts is set, one byte in the
    middle of each PUT body is flipped on the way.  Counts the requests
    by method in `methods`.
    """

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.corrupt_puts = False
        self.methods = {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.lock:
                    proxy.methods[method] = proxy.methods.get(method, 0) + 1
                    corrupt = proxy.corrupt_puts
                if method == "PUT" and corrupt and body:
                    mid = len(body) // 2
                    body = body[:mid] + bytes([body[mid] ^ 0x01]) + body[mid + 1:]
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "keep-alive", "expect")}
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port,
                                                  timeout=60)
                try:
                    conn.request(method, self.path, body=body if body else None,
                                 headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in ("connection", "keep-alive",
                                             "transfer-encoding", "content-length"):
                            self.send_header(k, v)
                    if method == "HEAD":
                        self.send_header("Content-Length",
                                         resp.getheader("Content-Length", "0"))
                        self.end_headers()
                    else:
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                finally:
                    conn.close()

            def do_GET(self):
                self._forward("GET")

            def do_HEAD(self):
                self._forward("HEAD")

            def do_PUT(self):
                self._forward("PUT")

            def do_POST(self):
                self._forward("POST")

            def do_DELETE(self):
                self._forward("DELETE")

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    def count(self, method):
        with self.lock:
            return self.methods.get(method, 0)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port():
    """A port nothing listens on now (for the connection-refused case)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_context(certfile, keyfile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    return ctx
