"""The Lambda Runtime API, version 2018-06-01, as seen by a custom runtime.

Errors follow Lambda's runtime API server (the runtime interface emulator's rapi handlers):
202 {"status":"OK"} for an accepted post, 400 InvalidRequestID for a request id that is not the
one in flight, 403 InvalidStateTransition for a second answer to the same invocation.
"""

import json
import re
import threading
import time
import uuid
from collections import deque

from .core import Response, Service, json_response

PREFIX = "/2018-06-01/runtime"
DEFAULT_ARN = "arn:aws:lambda:us-east-1:123456789012:function:hookhost"
_POST_RE = re.compile(r"^/2018-06-01/runtime/invocation/([^/]+)/(response|error)$")


def _error(status, error_type, message):
    return json_response(status, {"errorMessage": message, "errorType": error_type})


class Invocation:
    """One delivery of an event to the runtime. A redelivery (same request id) is a new one."""

    def __init__(self, request_id, body, timeout, function_arn, trace_id):
        self.request_id, self.body, self.timeout = request_id, body, float(timeout)
        self.function_arn, self.trace_id = function_arn, trace_id
        self.queued_at = time.time()
        self.delivered_at = None
        self.deadline_ms = None
        self.outcome = None

    def as_dict(self):
        return {"request_id": self.request_id, "timeout": self.timeout,
                "queued_at": self.queued_at, "delivered_at": self.delivered_at,
                "deadline_ms": self.deadline_ms, "outcome": self.outcome}


class RuntimeApi(Service):
    name = "rapi"

    def __init__(self, hub):
        super().__init__(hub)
        self.cond = threading.Condition()
        self.queue = deque()
        self.invocations = []  # every delivery, in order
        self.init_errors = []
        self.first_next_time = None

    # ---- admin side -------------------------------------------------------------------------

    def queue_event(self, event, timeout=30.0, request_id=None, function_arn=None, trace_id=None):
        if isinstance(event, str):
            body = event.encode()
        elif isinstance(event, (bytes, bytearray)):
            body = bytes(event)
        else:
            body = json.dumps(event).encode()
        request_id = request_id or str(uuid.uuid4())
        trace_id = trace_id or ("Root=1-%08x-%s;Parent=%s;Sampled=0"
                                % (int(time.time()), uuid.uuid4().hex[:24], uuid.uuid4().hex[:16]))
        inv = Invocation(request_id, body, timeout, function_arn or DEFAULT_ARN, trace_id)
        with self.cond:
            self.queue.append(inv)
            self.cond.notify_all()
        return request_id

    def outcomes(self, request_id=None):
        with self.cond:
            return [i.as_dict() for i in self.invocations if request_id in (None, i.request_id)]

    def wait_outcome(self, request_id, timeout=10.0):
        """The outcome of the latest delivery of request_id, waiting up to timeout seconds."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                done = [i for i in self.invocations if i.request_id == request_id]
                if done and done[-1].outcome is not None:
                    return dict(done[-1].outcome)
                left = end - time.monotonic()
                if left <= 0 or self.hub.stopping.is_set():
                    return None
                self.cond.wait(min(left, 0.25))

    # ---- HTTP side --------------------------------------------------------------------------

    def operation(self, req):
        if req.path == PREFIX + "/invocation/next":
            return "Next"
        if req.path == PREFIX + "/init/error":
            return "InitError"
        m = _POST_RE.match(req.path)
        if m:
            return "Response" if m.group(2) == "response" else "Error"
        return "Unknown"

    def handle(self, req, op):
        if op == "Next" and req.method == "GET":
            return self._next(req)
        if op in ("Response", "Error") and req.method == "POST":
            return self._answer(req, op)
        if op == "InitError" and req.method == "POST":
            with self.cond:
                self.init_errors.append({"time": time.time(), "body": req.body.decode("utf-8", "replace"),
                                         "error_type": req.headers.get("Lambda-Runtime-Function-Error-Type")})
                self.cond.notify_all()
            return json_response(202, {"status": "OK"})
        return _error(404, "NotFound", f"No route for {req.method} {req.path}")

    def _next(self, req=None):
        gone = getattr(req, "client_gone", None) or (lambda: False)
        with self.cond:
            if self.first_next_time is None:
                self.first_next_time = time.time()
            # Wait in short slices so that a stopping emulator never leaves this thread behind.
            # A runtime that died while waiting here must not swallow the next event (Lambda would
            # never hand an event to a dead sandbox).
            while not self.queue or gone():
                if self.hub.stopping.is_set() or gone():
                    return None
                self.cond.wait(0.25)
            inv = self.queue.popleft()
            inv.delivered_at = time.time()
            inv.deadline_ms = int((inv.delivered_at + inv.timeout) * 1000)
            self.invocations.append(inv)
        headers = {"Content-Type": "application/json",
                   "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                   "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                   "Lambda-Runtime-Invoked-Function-Arn": inv.function_arn,
                   "Lambda-Runtime-Trace-Id": inv.trace_id}
        return Response(200, headers, inv.body)

    def _answer(self, req, op):
        request_id = _POST_RE.match(req.path).group(1)
        received = time.time()
        with self.cond:
            found = [i for i in self.invocations if i.request_id == request_id]
            if not found:
                return _error(400, "InvalidRequestID", "Invalid request ID")
            inv = found[-1]
            if inv.outcome is not None:
                target = "InvocationResponse" if op == "Response" else "InvocationErrorResponse"
                return _error(403, "InvalidStateTransition",
                              f"State transition from ResponseSent to {target} failed for runtime. "
                              "Error: State transition is not allowed")
            inv.outcome = {"kind": "response" if op == "Response" else "error",
                           "body": req.body.decode("utf-8", "replace"),
                           "error_type": req.headers.get("Lambda-Runtime-Function-Error-Type"),
                           "time": received,
                           "before_deadline": received * 1000 <= inv.deadline_ms}
            self.cond.notify_all()
        return json_response(202, {"status": "OK"})

    def error(self, status, code, message):
        return _error(status, code, message)

    def fault_response(self, fault):
        if fault.kind == "throttle":
            return _error(429, "TooManyRequestsException", "Rate exceeded")
        if fault.kind == "http500":
            return _error(500, "InternalServerError", "Internal Server Error")
        return super().fault_response(fault)
