"""CloudWatch (API 2010-08-01, the query protocol): DescribeAlarms only, for alarm gates.

Alarms are seeded by the test (`Emulators.seed_alarm(name, state)`); `composites_visible = False`
answers as to a caller whose permission is narrower than "*" (no composite alarms). DescribeAlarms
filters them
by AlarmNames.member.N, AlarmNamePrefix, StateValue and AlarmTypes.member.N, pages them with
MaxRecords (1..100, default 50) and NextToken, and answers
DescribeAlarmsResponse/DescribeAlarmsResult/{MetricAlarms|CompositeAlarms}/member. Errors are
the query protocol's <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>.
"""

import threading
import time
import uuid
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from .core import Response, Service, now_iso
from .sigv4 import Verifier

NS = "http://monitoring.amazonaws.com/doc/2010-08-01/"
STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
QUERY_REJECTIONS = {"missing": (403, "MissingAuthenticationToken"),
                    "incomplete": (400, "IncompleteSignature"),
                    "unknown_key": (403, "InvalidClientTokenId"),
                    "bad_token": (403, "InvalidClientTokenId"),
                    "mismatch": (403, "SignatureDoesNotMatch"),
                    "expired": (403, "SignatureDoesNotMatch")}


class QueryService(Service):
    """A query-protocol service: POST / with a form body holding Action and Version."""

    namespace = ""
    version = ""

    def params(self, req):
        ctype = req.headers.get("Content-Type", "")
        body = req.body.decode("utf-8", "replace") if ctype.startswith(
            "application/x-www-form-urlencoded") else ""
        return dict(parse_qsl(req.query, keep_blank_values=True)) | dict(
            parse_qsl(body, keep_blank_values=True))

    def operation(self, req):
        return self.params(req).get("Action") or "Unknown"

    def handle(self, req, op):
        params = self.params(req)
        if req.path != "/":
            return self.error(404, "NotFound", f"No such resource: {req.path}")
        if params.get("Version") != self.version:
            return self.error(400, "InvalidParameterValue",
                              f"Version must be {self.version}, not {params.get('Version')!r}")
        fn = getattr(self, "op_" + op, None)
        if fn is None:
            return self.error(400, "InvalidAction", f"Could not find operation {op} for version "
                              f"{self.version}")
        return fn(params)

    def members(self, params, name):
        """Values of name.member.1, name.member.2, ... in order."""
        out, n = [], 1
        while f"{name}.member.{n}" in params:
            out.append(params[f"{name}.member.{n}"])
            n += 1
        return out

    def result(self, op, inner):
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<{op}Response xmlns="{self.namespace}">'
                f"<{op}Result>{inner}</{op}Result><ResponseMetadata><RequestId>{uuid.uuid4()}"
                f"</RequestId></ResponseMetadata></{op}Response>")
        return Response(200, {"Content-Type": "text/xml", "x-amzn-RequestId": str(uuid.uuid4())},
                        body.encode())

    def error(self, status, code, message):
        request_id = str(uuid.uuid4())
        kind = "Sender" if status < 500 else "Receiver"
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="{self.namespace}">'
                f"<Error><Type>{kind}</Type><Code>{code}</Code><Message>{escape(message)}"
                f"</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        return Response(status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id},
                        body.encode())

    def rejection(self, rej):
        status, code = QUERY_REJECTIONS[rej.kind]
        return self.error(status, code, rej.message)


class CloudWatch(QueryService):
    name = "cloudwatch"
    namespace = NS
    version = "2010-08-01"

    def __init__(self, hub, keys, session_token=None, region="us-east-1"):
        super().__init__(hub)
        self.verifier = Verifier("monitoring", region, keys, session_token)
        self.region = region
        self.lock = threading.Lock()
        self.alarms = {}  # name -> alarm, kept sorted by name when listed (as CloudWatch does)
        # False models a caller whose cloudwatch:DescribeAlarms permission is narrower than "*":
        # CloudWatch then returns no composite alarm at all (DescribeAlarms API reference).
        self.composites_visible = True

    # ---- admin side -------------------------------------------------------------------------

    def seed_alarm(self, name, state="OK", reason=None, composite=False):
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}")
        with self.lock:
            self.alarms[name] = {"name": name, "state": state, "composite": bool(composite),
                                 "reason": reason or f"Seeded in state {state}",
                                 "updated": time.time()}

    # ---- HTTP side --------------------------------------------------------------------------

    def op_DescribeAlarms(self, p):
        names = self.members(p, "AlarmNames")
        prefix = p.get("AlarmNamePrefix")
        state = p.get("StateValue")
        types = self.members(p, "AlarmTypes") or ["MetricAlarm"]
        if len(names) > 100:
            return self.error(400, "ValidationError", "AlarmNames has at most 100 members")
        if names and prefix is not None:
            return self.error(400, "InvalidParameterCombination",
                              "AlarmNamePrefix and AlarmNames cannot be used together")
        if state is not None and state not in STATES:
            return self.error(400, "ValidationError", f"StateValue {state!r} is not valid")
        if any(t not in ("MetricAlarm", "CompositeAlarm") for t in types):
            return self.error(400, "ValidationError", "AlarmTypes: MetricAlarm or CompositeAlarm")
        try:
            max_records = int(p.get("MaxRecords", "50"))
            start = int(p.get("NextToken") or "0")
        except ValueError:
            return self.error(400, "InvalidNextToken", "The NextToken is not valid")
        if not 1 <= max_records <= 100:
            return self.error(400, "ValidationError", "MaxRecords must be from 1 to 100")
        with self.lock:
            hits = [a for _, a in sorted(self.alarms.items())
                    if (not names or a["name"] in names)
                    and (prefix is None or a["name"].startswith(prefix))
                    and (state is None or a["state"] == state)
                    and ("CompositeAlarm" if a["composite"] else "MetricAlarm") in types
                    and (self.composites_visible or not a["composite"])]
        if start < 0 or start > len(hits):
            return self.error(400, "InvalidNextToken", "The NextToken is not valid")
        page = hits[start:start + max_records]
        nxt = start + max_records if start + max_records < len(hits) else None

        def member(a):
            arn = f"arn:aws:cloudwatch:{self.region}:123456789012:alarm:{a['name']}"
            return (f"<member><AlarmName>{escape(a['name'])}</AlarmName><AlarmArn>{escape(arn)}"
                    f"</AlarmArn><StateValue>{a['state']}</StateValue><StateReason>"
                    f"{escape(a['reason'])}</StateReason><StateUpdatedTimestamp>"
                    f"{now_iso(a['updated'])}</StateUpdatedTimestamp></member>")
        metric = "".join(member(a) for a in page if not a["composite"])
        composite = "".join(member(a) for a in page if a["composite"])
        inner = (f"<MetricAlarms>{metric}</MetricAlarms><CompositeAlarms>{composite}"
                 f"</CompositeAlarms>" + (f"<NextToken>{nxt}</NextToken>" if nxt else ""))
        return self.result("DescribeAlarms", inner)
