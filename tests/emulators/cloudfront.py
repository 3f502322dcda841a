"""CloudFront (API 2020-05-31, REST-XML): invalidations only.

CallerReference semantics follow the API reference: the same reference with the same paths
returns the existing invalidation (201 again, nothing created); the same reference with other
paths is InvalidationBatchAlreadyExists. At most 15 wildcard paths may be in progress per
distribution. An invalidation turns Completed `complete_after` seconds after its creation.
"""

import re
import secrets
import string
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from .core import Response, Service, now_iso
from .sigv4 import Verifier

NS = "http://cloudfront.amazonaws.com/doc/2020-05-31/"
DEFAULT_DISTRIBUTION = "E2EXAMPLE123"
MAX_WILDCARDS_IN_PROGRESS = 15
_PATH_RE = re.compile(r"^/2020-05-31/distribution/([^/]+)/invalidation(?:/([^/]+))?$")
_REJECTIONS = {"missing": (403, "MissingAuthenticationToken"),
               "incomplete": (400, "IncompleteSignature"),
               "unknown_key": (403, "InvalidClientTokenId"),
               "bad_token": (403, "InvalidClientTokenId"),
               "mismatch": (403, "SignatureDoesNotMatch"),
               "expired": (403, "SignatureDoesNotMatch")}


class CloudFront(Service):
    name = "cloudfront"

    def __init__(self, hub, keys, session_token=None, complete_after=1.0,
                 distributions=(DEFAULT_DISTRIBUTION,)):
        super().__init__(hub)
        self.verifier = Verifier("cloudfront", "us-east-1", keys, session_token)
        self.complete_after = float(complete_after)
        self.lock = threading.Lock()
        self.distributions = {d: [] for d in distributions}  # id -> invalidations, oldest first

    # ---- admin side -------------------------------------------------------------------------

    def seed_distribution(self, dist_id):
        with self.lock:
            self.distributions.setdefault(dist_id, [])

    def invalidations(self, dist_id=None):
        with self.lock:
            return [dict(self._view(inv), DistributionId=d, Paths=list(inv["paths"]))
                    for d, invs in self.distributions.items() if dist_id in (None, d)
                    for inv in invs]

    # ---- HTTP side --------------------------------------------------------------------------

    def operation(self, req):
        m = _PATH_RE.match(req.path)
        if not m:
            return "Unknown"
        if m.group(2):
            return "GetInvalidation" if req.method == "GET" else "Unknown"
        return {"POST": "CreateInvalidation", "GET": "ListInvalidations"}.get(req.method, "Unknown")

    def handle(self, req, op):
        m = _PATH_RE.match(req.path)
        if op == "Unknown":
            return self.error(404, "NotFound", f"No such operation: {req.method} {req.path}")
        dist_id = m.group(1)
        with self.lock:
            invs = self.distributions.get(dist_id)
            if invs is None:
                return self.error(404, "NoSuchDistribution", "The specified distribution does not exist.")
            if op == "CreateInvalidation":
                return self._create(dist_id, invs, req.body)
            if op == "GetInvalidation":
                inv = next((i for i in invs if i["id"] == m.group(2)), None)
                if inv is None:
                    return self.error(404, "NoSuchInvalidation", "The specified invalidation does not exist.")
                return self._xml(200, self._invalidation_xml(inv))
            return self._list(invs, req.query)

    def _create(self, dist_id, invs, body):
        if not body.strip():
            return self.error(400, "MissingBody", "This operation requires a body.")
        try:
            ref, paths = _parse_batch(body)
        except ValueError as e:
            return self.error(400, "MalformedXML", str(e))
        except _Inconsistent as e:
            return self.error(400, "InconsistentQuantities", str(e))
        if not paths or any(not p.startswith("/") for p in paths):
            return self.error(400, "InvalidArgument", "Your request contains one or more invalid "
                              "invalidation paths.")
        for inv in invs:
            if inv["caller_reference"] == ref:
                if sorted(inv["paths"]) != sorted(paths):
                    return self.error(409, "InvalidationBatchAlreadyExists",
                                      f"Invalidation batch specified in {ref} already exists.")
                return self._created(dist_id, inv)
        wildcards = sum(p.endswith("*") for i in invs if self._status(i) == "InProgress"
                        for p in i["paths"])
        if wildcards + sum(p.endswith("*") for p in paths) > MAX_WILDCARDS_IN_PROGRESS:
            return self.error(400, "TooManyInvalidationsInProgress",
                              "Your request contains too many invalidations.")
        now = time.time()
        inv = {"id": "I" + "".join(secrets.choice(string.ascii_uppercase + string.digits)
                                   for _ in range(13)),
               "created": now, "caller_reference": ref, "paths": paths,
               "completes_at": now + self.complete_after}
        invs.append(inv)
        return self._created(dist_id, inv)

    def _created(self, dist_id, inv):
        resp = self._xml(201, self._invalidation_xml(inv))
        resp.headers["Location"] = f"{self.base_url}/2020-05-31/distribution/{dist_id}/invalidation/{inv['id']}"
        return resp

    def _list(self, invs, query):
        params = dict(p.partition("=")[::2] for p in query.split("&") if p)
        try:
            max_items = max(1, min(int(params.get("MaxItems", "100")), 100))
        except ValueError:
            return self.error(400, "InvalidArgument", "MaxItems must be an integer.")
        newest_first = list(reversed(invs))
        marker = params.get("Marker", "")
        start = next((n + 1 for n, i in enumerate(newest_first) if i["id"] == marker), 0)
        page = newest_first[start:start + max_items]
        truncated = start + max_items < len(newest_first)
        items = "".join(f"<InvalidationSummary><Id>{i['id']}</Id><CreateTime>{now_iso(i['created'])}"
                        f"</CreateTime><Status>{self._status(i)}</Status></InvalidationSummary>"
                        for i in page)
        nxt = f"<NextMarker>{page[-1]['id']}</NextMarker>" if truncated else ""
        return self._xml(200, f"<InvalidationList xmlns=\"{NS}\"><Marker>{escape(marker)}</Marker>{nxt}"
                              f"<MaxItems>{max_items}</MaxItems><IsTruncated>{str(truncated).lower()}"
                              f"</IsTruncated><Quantity>{len(page)}</Quantity>"
                              + (f"<Items>{items}</Items>" if page else "") + "</InvalidationList>")

    def _status(self, inv):
        return "Completed" if time.time() >= inv["completes_at"] else "InProgress"

    def _view(self, inv):
        return {"Id": inv["id"], "Status": self._status(inv), "CreateTime": now_iso(inv["created"]),
                "CallerReference": inv["caller_reference"]}

    def _invalidation_xml(self, inv):
        paths = "".join(f"<Path>{escape(p)}</Path>" for p in inv["paths"])
        return (f"<Invalidation xmlns=\"{NS}\"><Id>{inv['id']}</Id><Status>{self._status(inv)}</Status>"
                f"<CreateTime>{now_iso(inv['created'])}</CreateTime><InvalidationBatch><Paths>"
                f"<Quantity>{len(inv['paths'])}</Quantity><Items>{paths}</Items></Paths>"
                f"<CallerReference>{escape(inv['caller_reference'])}</CallerReference>"
                f"</InvalidationBatch></Invalidation>")

    def _xml(self, status, doc):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + doc).encode()
        return Response(status, {"Content-Type": "text/xml", "x-amzn-RequestId": str(uuid.uuid4())}, body)

    def error(self, status, code, message):
        kind = "Sender" if status < 500 else "Receiver"
        request_id = str(uuid.uuid4())
        doc = (f"<ErrorResponse xmlns=\"{NS}\"><Error><Type>{kind}</Type><Code>{code}</Code>"
               f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId>"
               f"</ErrorResponse>")
        resp = self._xml(status, doc)
        resp.headers["x-amzn-RequestId"] = request_id
        return resp

    def rejection(self, rej):
        status, code = _REJECTIONS[rej.kind]
        return self.error(status, code, rej.message)

    def fault_response(self, fault):
        if fault.kind == "http500":
            return self.error(500, "InternalError", "We encountered an internal error. Please try again.")
        return super().fault_response(fault)


class _Inconsistent(Exception):
    pass


def _parse_batch(body):
    """(CallerReference, [Path...]) from an InvalidationBatch document. ValueError when the XML is
    malformed or lacks an element; _Inconsistent when Quantity differs from the Path count."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise ValueError(f"The XML you provided was not well-formed: {e}")
    ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    if root.tag != ns + "InvalidationBatch" or ns not in ("", "{%s}" % NS):
        raise ValueError("The XML document root must be InvalidationBatch in namespace " + NS)
    ref = root.findtext(ns + "CallerReference")
    quantity = root.findtext(f"{ns}Paths/{ns}Quantity")
    if not ref or quantity is None:
        raise ValueError("InvalidationBatch needs CallerReference and Paths/Quantity")
    try:
        quantity = int(quantity)
    except ValueError:
        raise ValueError("Paths/Quantity must be an integer")
    paths = [p.text or "" for p in root.findall(f"{ns}Paths/{ns}Items/{ns}Path")]
    if quantity != len(paths):
        raise _Inconsistent("The value of Quantity and the size of Items don't match.")
    return ref, paths
