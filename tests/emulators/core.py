"""Plumbing shared by the emulated services: HTTP servers, the request log, fault injection.

Each service is a `Service` subclass that names the operation of a request and answers it with a
`Response`; the handler around it verifies SigV4 (for signed services), applies an injected fault,
logs the request and writes the answer. Answers are values, not writes to a socket, so that an
"apply then fail" fault can let a request take effect and still answer 500.
"""

import json
import select
import socket
import sys
import threading
import time
import traceback
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .sigv4 import Rejection

HOST = "127.0.0.1"
MAX_BODY = 8 * 1024 * 1024
FAULT_KINDS = ("http500", "http503", "throttle", "delay", "drop", "apply_then_fail", "hang", "error")

Response = namedtuple("Response", "status headers body")
class Request(namedtuple("Request", "method target path query headers body")):
    """A received request; the handler may add client_gone(), telling whether the client hung up."""


def now_iso(t=None):
    """RFC 3339 UTC with milliseconds, as AWS prints times."""
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def json_response(status, obj, headers=None):
    return Response(status, dict(headers or {}, **{"Content-Type": "application/json"}),
                    json.dumps(obj).encode())


class Fault:
    """An injected fault for the next `count` requests to `service` (and `operation`, if set)."""

    def __init__(self, kind, service, operation=None, count=1, seconds=0.0, status=None,
                 code=None, message=None):
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        if kind == "error" and not (status and code):
            raise ValueError("an 'error' fault needs status and code")
        self.kind, self.service, self.operation = kind, service, operation
        self.count, self.seconds = int(count), float(seconds)
        self.status, self.code, self.message = status, code, message

    def as_dict(self):
        return {k: v for k, v in vars(self).items() if v is not None}


class Hub:
    """State shared by every server of one emulator process: log, faults, stop signal."""

    def __init__(self, log_path=None):
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.signature_failures = 0
        self._log = []
        self._faults = []
        self._log_file = open(log_path, "a", buffering=1) if log_path else None

    def inject(self, fault):
        with self.lock:
            self._faults.append(fault)

    def clear_faults(self):
        with self.lock:
            self._faults.clear()

    def take_fault(self, service, operation):
        """Consume one use of the first fault that matches, or return None."""
        with self.lock:
            for f in self._faults:
                if f.service == service and f.operation in (None, operation):
                    f.count -= 1
                    if f.count <= 0:
                        self._faults.remove(f)
                    return f
        return None

    def record(self, entry):
        with self.lock:
            self._log.append(entry)
            if entry.get("signature") not in (None, "ok"):
                self.signature_failures += 1
            if self._log_file:
                self._log_file.write(json.dumps(entry) + "\n")

    def requests(self, service=None):
        with self.lock:
            return [dict(e) for e in self._log if service in (None, e["service"])]

    def close(self):
        self.stopping.set()
        if self._log_file:
            self._log_file.close()
            self._log_file = None


class Service:
    """One emulated service. Subclasses set `name`, implement operation() and handle(), and
    error() in the service's own error format. A signed service has a sigv4.Verifier."""

    name = ""
    verifier = None

    def __init__(self, hub):
        self.hub = hub
        self.base_url = ""

    def operation(self, req):
        raise NotImplementedError

    def handle(self, req, op):
        raise NotImplementedError

    def error(self, status, code, message):
        raise NotImplementedError

    def rejection(self, rej):
        """The answer to a request whose signature check failed."""
        raise NotImplementedError

    def fault_response(self, fault):
        """The answer for http500, http503, throttle and error faults."""
        if fault.kind == "error":
            return self.error(int(fault.status), fault.code, fault.message or "Injected error")
        if fault.kind == "http503":
            return self.error(503, "ServiceUnavailable", "Service is unavailable")
        if fault.kind == "throttle":
            return self.error(400, "Throttling", "Rate exceeded")
        return self.error(500, "InternalFailure", "Injected internal error")


def _redact_target(target):
    """The request target without presigned signature or session token values."""
    path, sep, query = target.partition("?")
    if not sep:
        return path
    parts = []
    for pair in query.split("&"):
        name = pair.partition("=")[0]
        secret = name in ("X-Amz-Signature", "X-Amz-Security-Token")
        parts.append(f"{name}=REDACTED" if secret else pair)
    return path + "?" + "&".join(parts)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Answers go out in two writes (headers, then body); with Nagle's algorithm on, the body
    # waited ~40 ms for the client's delayed ACK of the headers, on every response.
    disable_nagle_algorithm = True

    def version_string(self):
        return "hookhost-emulator"

    def log_message(self, fmt, *args):
        pass  # the request log replaces the stderr access log

    def setup(self):
        super().setup()
        with self.server.conns_lock:
            self.server.conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.conns_lock:
                self.server.conns.discard(self.connection)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = lambda self: self._serve()

    def _serve(self):
        svc, hub = self.server.service, self.server.service.hub
        entry = {"time": now_iso(), "service": svc.name, "operation": None,
                 "method": self.command, "path": _redact_target(self.path), "status": None,
                 "signature": None, "fault": None}
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        refusal = None
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            refusal = svc.error(411, "MissingContentLength", "Chunked bodies are not supported")
        elif not 0 <= length <= MAX_BODY:
            refusal = svc.error(413, "RequestEntityTooLarge", "Bad or too large Content-Length")
        if refusal:  # the body is not read, so the connection cannot carry another request
            entry["status"] = refusal.status
            hub.record(entry)
            self._send(refusal, close=True)
            return
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        req = Request(self.command, self.path, path, query, self.headers, body)
        req.client_gone = self._client_gone
        op = entry["operation"] = svc.operation(req)
        resp = None
        if svc.verifier is not None:
            try:
                svc.verifier.verify(req.method, req.target, req.headers, req.body)
                entry["signature"] = "ok"
            except Rejection as rej:
                resp = svc.rejection(rej)
                entry["signature"] = rej.kind
                entry["error"] = rej.summary
        if resp is None:
            fault = hub.take_fault(svc.name, op)
            entry["fault"] = fault and fault.kind
            try:
                resp = self._apply(svc, hub, fault, req, op)
            except Exception as e:  # a bug in an emulator: answer 500 rather than hang up
                traceback.print_exc()
                resp = svc.error(500, "InternalFailure", f"emulator bug: {e!r}")
        if resp is None:  # drop, hang, or the emulator is stopping
            entry["status"] = "dropped"
            hub.record(entry)
            self._drop()
            return
        entry["status"] = resp.status
        hub.record(entry)
        self._send(resp)

    def _apply(self, svc, hub, fault, req, op):
        kind = fault and fault.kind
        if kind in ("http500", "http503", "throttle", "error"):
            return svc.fault_response(fault)
        if kind == "drop":
            return None
        if kind == "hang":
            hub.stopping.wait()
            return None
        if kind == "delay" and hub.stopping.wait(fault.seconds):
            return None
        resp = svc.handle(req, op)
        if kind == "apply_then_fail" and resp is not None:
            return svc.fault_response(Fault("http500", svc.name))
        return resp

    def _client_gone(self):
        """True when the client has closed its end (a long-poll whose runtime died): reading
        would return EOF at once. Such a request must not be given an event."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, resp, close=False):
        """Write resp; close=True when the request's body was not read (the connection ends)."""
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")  # also sets self.close_connection
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() closes connections and joins with a bound instead

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # a client hanging up is not news
            super().handle_error(request, client_address)


class Endpoint:
    """A Service served on 127.0.0.1 at a free port, in a daemon thread."""

    def __init__(self, service, handler=_Handler):
        self.server = _Server((HOST, 0), handler)
        self.server.service = service
        self.server.conns = set()
        self.server.conns_lock = threading.Lock()
        self.port = self.server.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        service.base_url = self.url
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        name=f"emulator-{service.name}", daemon=True)
        self._thread.start()

    def stop(self):
        """Stop accepting, cut open keep-alive connections, release the port."""
        self.server.shutdown()
        with self.server.conns_lock:
            conns = list(self.server.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server.server_close()
        self._thread.join(5)
