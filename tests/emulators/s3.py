"""S3 (API 2006-03-01, REST-XML): the object calls hooks make, on buckets seeded or created.

Operations: CreateBucket (PUT /bucket), PutObject, GetObject, HeadObject, DeleteObject,
DeleteObjects (POST /bucket?delete: Content-MD5 or an x-amz-checksum-* header required, as S3
does), ListObjectsV2 (GET /bucket?list-type=2: prefix, delimiter, max-keys, start-after,
continuation-token, encoding-type=url). Buckets are addressed by path (/bucket/key) or, when
the Host header has a label in front of the endpoint's host (mybucket.localhost:PORT), by
virtual host. Keys are the path's bytes after the bucket, percent-decoded ('+' is a plus).

Every request's signature is checked with S3's rules (sigv4.Verifier(s3=True): botocore's
S3SigV4Auth, x-amz-content-sha256 required, UNSIGNED-PAYLOAD accepted); a sent Content-MD5 or
x-amz-checksum-sha256/-sha1 must match the body (BadDigest). Errors are S3's
`<Error><Code/><Message/><RequestId/></Error>` with `x-amz-request-id` (HEAD: no body).
"""

import base64
import hashlib
import threading
import time
import uuid
from urllib.parse import parse_qsl, quote, unquote_to_bytes
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from .core import Response, Service, now_iso
from .sigv4 import Verifier

NS = "http://s3.amazonaws.com/doc/2006-03-01/"

_REJECTIONS = {
    "missing": (403, "AccessDenied"),
    "incomplete": (400, "AuthorizationHeaderMalformed"),
    "unknown_key": (403, "InvalidAccessKeyId"),
    "bad_token": (400, "InvalidToken"),
    "mismatch": (403, "SignatureDoesNotMatch"),
    "expired": (403, "RequestTimeTooSkewed"),
}


class S3(Service):
    name = "s3"

    def __init__(self, hub, keys, session_token=None, region="us-east-1"):
        super().__init__(hub)
        self.verifier = Verifier("s3", region, keys, session_token, s3=True)
        self.region = region
        self.lock = threading.Lock()
        self.buckets = {}  # name -> {key: {"body", "content_type", "metadata", "etag", "time"}}

    # ---- seeding and inspection -------------------------------------------------------------

    def seed_bucket(self, name):
        with self.lock:
            self.buckets.setdefault(name, {})

    def seed_object(self, bucket, key, body, content_type="binary/octet-stream"):
        with self.lock:
            self.buckets.setdefault(bucket, {})[key] = _object(body, content_type, {})

    def objects(self, bucket):
        """{key: body bytes} of a bucket."""
        with self.lock:
            return {k: o["body"] for k, o in self.buckets.get(bucket, {}).items()}

    # ---- requests ---------------------------------------------------------------------------

    def _split(self, req):
        """(bucket, key) of a request: the Host's label in front of the endpoint's host, or the
        path's first segment."""
        host = (req.headers.get("Host") or "").lower()
        base = self.base_url.split("://", 1)[1]
        port = base.rsplit(":", 1)[1]
        name = host[:-(len(port) + 1)] if host.endswith(":" + port) else host
        path = req.path
        for known in ("127.0.0.1", "localhost"):
            if name.endswith("." + known):
                bucket = name[:-(len(known) + 1)]
                key = path[1:]
                return bucket, unquote_to_bytes(key).decode("utf-8", "replace") if key else None
        parts = path[1:].split("/", 1)
        bucket = unquote_to_bytes(parts[0]).decode("utf-8", "replace") or None
        key = unquote_to_bytes(parts[1]).decode("utf-8", "replace") if len(parts) > 1 else None
        return bucket, key or None

    def operation(self, req):
        bucket, key = self._split(req)
        q = dict(parse_qsl(req.query, keep_blank_values=True))
        m = req.method
        if key is None:
            if m == "GET" and q.get("list-type") == "2":
                return "ListObjectsV2"
            if m == "POST" and "delete" in q:
                return "DeleteObjects"
            if m == "PUT" and not q:
                return "CreateBucket"
            return None
        return {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject",
                "DELETE": "DeleteObject"}.get(m)

    def handle(self, req, op):
        bad = _digest_problem(req)
        if bad:
            return self.error(400, *bad)
        if op is None:
            return self.error(501, "NotImplemented", "The emulator does not implement this call")
        bucket, key = self._split(req)
        with self.lock:
            if op == "CreateBucket":
                self.buckets.setdefault(bucket, {})
                return Response(200, {"Location": "/" + bucket, **self._rid()}, b"")
            objects = self.buckets.get(bucket)
            if objects is None:
                return self.error(404, "NoSuchBucket", "The specified bucket does not exist")
            return getattr(self, "op_" + op)(req, objects, key, bucket)

    def op_PutObject(self, req, objects, key, bucket):
        meta = {k[len("x-amz-meta-"):].lower(): v for k, v in req.headers.items()
                if k.lower().startswith("x-amz-meta-")}
        obj = _object(req.body, req.headers.get("Content-Type") or "binary/octet-stream", meta)
        objects[key] = obj
        return Response(200, {"ETag": obj["etag"], **self._rid()}, b"")

    def _object_headers(self, o):
        h = {"ETag": o["etag"], "Content-Type": o["content_type"],
             "Last-Modified": o["time"], **self._rid()}
        for k, v in o["metadata"].items():
            h["x-amz-meta-" + k] = v
        return h

    def op_GetObject(self, req, objects, key, bucket):
        o = objects.get(key)
        if o is None:
            return self.error(404, "NoSuchKey", "The specified key does not exist.")
        return Response(200, self._object_headers(o), o["body"])

    def op_HeadObject(self, req, objects, key, bucket):
        o = objects.get(key)
        if o is None:
            return Response(404, self._rid(), b"")
        return Response(200, self._object_headers(o), o["body"])  # HEAD: length, no body

    def op_DeleteObject(self, req, objects, key, bucket):
        objects.pop(key, None)
        return Response(204, self._rid(), b"")

    def op_DeleteObjects(self, req, objects, key, bucket):
        h = {k.lower() for k in req.headers.keys()}
        if "content-md5" not in h and not any(k.startswith("x-amz-checksum-") for k in h):
            return self.error(400, "InvalidRequest", "Missing required header for this request: "
                              "Content-Md5")
        try:
            root = ET.fromstring(req.body)
        except ET.ParseError:
            return self.error(400, "MalformedXML", "The XML you provided was not well-formed")
        ns = "{%s}" % NS
        quiet = (root.findtext(ns + "Quiet") or "false") == "true"
        out = []
        for o in root.findall(ns + "Object"):
            k = o.findtext(ns + "Key")
            objects.pop(k, None)
            if not quiet:
                out.append(f"<Deleted><Key>{escape(k or '')}</Key></Deleted>")
        return self._xml(200, f'<DeleteResult xmlns="{NS}">{"".join(out)}</DeleteResult>')

    def op_ListObjectsV2(self, req, objects, key, bucket):
        q = dict(parse_qsl(req.query, keep_blank_values=True))
        prefix, delim = q.get("prefix", ""), q.get("delimiter", "")
        try:
            max_keys = int(q.get("max-keys", "1000"))
        except ValueError:
            return self.error(400, "InvalidArgument", "max-keys must be an integer")
        url = q.get("encoding-type") == "url"
        enc = (lambda s: quote(s, safe="/")) if url else (lambda s: s)
        start = q.get("continuation-token") or q.get("start-after") or ""
        contents, prefixes, last, truncated = [], [], None, False
        for k in sorted(objects):
            if not k.startswith(prefix) or k <= start:
                continue
            if delim:
                i = k.find(delim, len(prefix))
                if i >= 0:
                    cp = k[:i + len(delim)]
                    if cp not in prefixes:
                        if len(contents) + len(prefixes) >= max_keys:
                            truncated = True
                            break
                        prefixes.append(cp)
                        last = k
                    continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            contents.append(k)
            last = k
        parts = [f'<ListBucketResult xmlns="{NS}"><Name>{escape(bucket)}</Name>',
                 f"<Prefix>{escape(enc(prefix))}</Prefix><KeyCount>{len(contents) + len(prefixes)}"
                 f"</KeyCount><MaxKeys>{max_keys}</MaxKeys>"
                 f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
        if delim:
            parts.append(f"<Delimiter>{escape(enc(delim))}</Delimiter>")
        if url:
            parts.append("<EncodingType>url</EncodingType>")
        if truncated and last is not None:
            parts.append(f"<NextContinuationToken>{escape(last)}</NextContinuationToken>")
        for k in contents:
            o = objects[k]
            parts.append(f"<Contents><Key>{escape(enc(k))}</Key><LastModified>{o['iso']}"
                         f"</LastModified><ETag>{escape(o['etag'])}</ETag><Size>{len(o['body'])}"
                         f"</Size><StorageClass>STANDARD</StorageClass></Contents>")
        for p in prefixes:
            parts.append(f"<CommonPrefixes><Prefix>{escape(enc(p))}</Prefix></CommonPrefixes>")
        parts.append("</ListBucketResult>")
        return self._xml(200, "".join(parts))

    # ---- answers ----------------------------------------------------------------------------

    @staticmethod
    def _rid():
        return {"x-amz-request-id": uuid.uuid4().hex[:16].upper()}

    def _xml(self, status, doc, rid=None):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + doc).encode()
        headers = {"Content-Type": "application/xml", **self._rid()}
        if rid:
            headers["x-amz-request-id"] = rid
        return Response(status, headers, body)

    def error(self, status, code, message):
        rid = self._rid()["x-amz-request-id"]
        return self._xml(status, f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
                                 f"<RequestId>{rid}</RequestId></Error>", rid)

    def rejection(self, rej):
        status, code = _REJECTIONS[rej.kind]
        return self.error(status, code, rej.message)

    def fault_response(self, fault):
        if fault.kind == "http500":
            return self.error(500, "InternalError", "We encountered an internal error. Please try again.")
        if fault.kind == "throttle":
            return self.error(503, "SlowDown", "Please reduce your request rate.")
        return super().fault_response(fault)


def _object(body, content_type, metadata):
    t = time.time()
    return {"body": bytes(body), "content_type": content_type, "metadata": metadata,
            "etag": '"%s"' % hashlib.md5(body).hexdigest(), "iso": now_iso(t),
            "time": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t))}


def _digest_problem(req):
    """(code, message) when a sent Content-MD5 or x-amz-checksum-sha256/-sha1 is not the body's."""
    for header, algo in (("Content-MD5", hashlib.md5), ("x-amz-checksum-sha256", hashlib.sha256),
                         ("x-amz-checksum-sha1", hashlib.sha1)):
        v = req.headers.get(header)
        if v is None:
            continue
        try:
            claimed = base64.b64decode(v, validate=True)
        except ValueError:
            return ("InvalidDigest", f"The {header} you specified is not valid.")
        if claimed != algo(req.body).digest():
            return ("BadDigest", f"The {header} you specified did not match what we received.")
    algo = req.headers.get("x-amz-sdk-checksum-algorithm")
    if algo and f"x-amz-checksum-{algo.lower()}" not in {k.lower() for k in req.headers.keys()}:
        return ("InvalidRequest", f"x-amz-sdk-checksum-algorithm {algo} without its checksum")
    return None
