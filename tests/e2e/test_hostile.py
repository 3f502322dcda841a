"""Hostile input against `hookhost serve`: events, settings, AWS endpoints and credential helpers
that misbehave. Each case ends with a clear error, a Failed report when a hook is involved (or an
invocation error before the deadline when no report can be made), and a runtime that goes on.

Already covered elsewhere, not repeated here:
  - CR/LF in LifecycleEventHookExecutionId, '/' and '..' in DeploymentId, invalid JSON, a missing
    execution id: test_serve.py::test_bad_events_are_refused_and_the_runtime_goes_on
  - a 6 MB event: test_serve.py::test_six_megabyte_event (and test_cli.py for `hookhost run`)
  - `_HANDLER` with '..', absolute, empty or malformed:
    test_serve.py::test_bad_handler_fails_each_hook_with_a_report
  - an AWS endpoint that is slow past the hook's time, for `hookhost run`:
    test_aws.py::test_a_hanging_service_never_holds_the_hook_past_its_deadline
"""
import http.server
import json
import os
import pathlib
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from runtime import OK, Runtime, assert_one_report, assert_still_serving, body


# A hook that creates an invalidation through hookhost.aws and fails with the call's error.
INVALIDATE = """
local aws = require("hookhost.aws")
return function(event, ctx)
  local ref = ctx.deployment_id .. "-" .. ctx.execution_id
  local body = '<?xml version="1.0" encoding="UTF-8"?>'
    .. '<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">'
    .. '<Paths><Quantity>1</Quantity><Items><Path>/*</Path></Items></Paths>'
    .. '<CallerReference>' .. aws.xml_escape(ref) .. '</CallerReference></InvalidationBatch>'
  local status, doc = aws.rest_xml{service = "cloudfront", method = "POST",
    path = "/2020-05-31/distribution/E2EXAMPLE123/invalidation", body = body,
    operation = "CreateInvalidation"}
  if not status then error(doc) end
  return {status = status}
end
"""


def assert_json_log(rt):
    """Every line the runtime wrote is one JSON object, whatever bytes the input held."""
    for line in rt.log().splitlines():
        json.loads(line)


def raw_event(ev, extra=b""):
    return (b'{"DeploymentId":"' + ev["DeploymentId"].encode() +
            b'","LifecycleEventHookExecutionId":"' + ev["LifecycleEventHookExecutionId"].encode() +
            b'"' + extra + b"}")


# ---- events -------------------------------------------------------------------------------------

def test_non_utf8_bytes_in_event_fields_reach_the_script_and_the_hook_is_reported(rt):
    rt.hook("AfterAllowTraffic", """
return function(e, ctx)
  ctx.log.info("note", {note = e.note})
  return #e.note
end
""")
    ev = rt.hook_event()
    _, out = rt.invoke(raw_event(ev, b',"note":"\xff\xfe\xc3(\xed\xa0\x80"'))
    assert out["kind"] == "response"
    assert body(out)["status"] == "Succeeded" and body(out)["result"] == 7
    assert_one_report(rt, ev, "Succeeded", out)
    assert_json_log(rt)


def test_non_ascii_in_the_execution_id_is_refused_before_any_request(rt):
    ev = rt.hook_event()
    bad = raw_event({"DeploymentId": ev["DeploymentId"],
                     "LifecycleEventHookExecutionId": "abc\xe9"}).replace(b"\xc3\xa9", b"\xe9")
    _, out = rt.invoke(bad)
    assert out["kind"] == "error" and out["error_type"] == "Function.InvalidEvent"
    assert "LifecycleEventHookExecutionId is not" in body(out)["errorMessage"]
    assert rt.emu.requests("codedeploy") == []
    assert_still_serving(rt)


@pytest.mark.parametrize("field,value", [
    ("DeploymentId", "d-ABCDEFGH1\\u0000"),
    ("DeploymentId", "d-ABC\\u0000EFGH1"),
    ("LifecycleEventHookExecutionId", "abc\\u0000def"),
    ("LifecycleEventHookExecutionId", "\\u0000"),
])
def test_nul_bytes_in_ids_are_refused(rt, field, value):
    ev = rt.hook_event()
    ev[field] = "@@"
    raw = json.dumps(ev).replace('"@@"', '"' + value + '"')
    _, out = rt.invoke(raw)
    assert out["kind"] == "error" and out["error_type"] == "Function.InvalidEvent"
    assert f"{field} is not" in body(out)["errorMessage"]
    assert "\x00" not in out["body"] and "\\u0000" not in out["body"]
    assert rt.emu.requests("codedeploy") == []
    assert_json_log(rt)
    assert_still_serving(rt)


def test_nul_bytes_elsewhere_in_the_event_reach_the_script_intact(rt):
    rt.hook("AfterAllowTraffic", "return function(e) return {n = #e.blob, nul = e.blob:find('\\0', 1, true)} end\n")
    ev = rt.hook_event()
    ev["blob"] = "a\x00b\x00"
    _, out = rt.invoke(ev)
    assert body(out)["result"] == {"n": 4, "nul": 2}
    assert_one_report(rt, ev, "Succeeded", out)


@pytest.mark.parametrize("exec_id", ["abc/../../x", "a?b=c#d", "%0d%0aHost:%20evil", "a\\b'\"<>"])
def test_printable_execution_ids_go_only_into_the_signed_json_body(rt, exec_id):
    """Any printable ASCII is a valid execution id (CodeDeploy's are base64): it must reach the
    report only as a JSON string, never a URL path, query or header."""
    dep = rt.emu.seed_deployment()
    ex = rt.emu.seed_hook_execution(dep, "AfterAllowTraffic", execution_id=exec_id)
    ev = {"DeploymentId": dep, "LifecycleEventHookExecutionId": ex}
    _, out = rt.invoke(ev)
    assert_one_report(rt, ev, "Succeeded", out)
    for r in rt.emu.requests():
        assert exec_id not in r["path"] and "evil" not in r["path"], r
        if r["service"] == "codedeploy":
            assert r["path"] == "/", r
        if r["service"] == "rapi":
            assert r["path"].startswith("/2018-06-01/runtime/"), r


def test_an_event_over_the_limit_is_refused_and_the_runtime_goes_on(rt):
    ev = rt.hook_event()
    ev["blob"] = "b" * (7 * 1000 * 1000)
    rid = rt.emu.queue_event(ev, timeout=5)
    out = rt.emu.wait_outcome(rid, 8)
    assert rt.alive(), rt.log()[-2000:]
    assert out is not None and out["kind"] == "error"
    assert_still_serving(rt)


def test_deeply_nested_json_is_a_clear_error_not_a_crash(rt):
    """cjson stops at JSON_MAX_DEPTH (128). With valid ids inside, the event cannot be reported:
    see the report (issue 9) on a fallback; here: a clear error, no crash, the runtime goes on."""
    ev = rt.hook_event()
    raw = raw_event(ev, b',"x":' + b"[" * 100000 + b"]" * 100000)
    _, out = rt.invoke(raw)
    assert out["kind"] == "error" and out["error_type"] == "Function.InvalidEvent"
    assert "nested" in body(out)["errorMessage"]
    assert rt.alive()
    assert_still_serving(rt)


def test_nesting_within_the_limit_reaches_the_script(rt):
    rt.hook("AfterAllowTraffic", """
return function(e)
  local d, t = 0, e.x
  while type(t) == "table" do d = d + 1; t = t[1] end
  return d
end
""")
    ev = rt.hook_event()
    _, out = rt.invoke(raw_event(ev, b',"x":' + b"[" * 100 + b"1" + b"]" * 100))
    assert body(out)["result"] == 100
    assert_one_report(rt, ev, "Succeeded", out)


@pytest.mark.parametrize("rid", ["../../x", "a/b", "a%2Fb", "a b"])
def test_a_request_id_unfit_for_a_url_is_never_put_in_one(rt, rid):
    """The Runtime API is trusted, but a request id that could reshape a URL is refused; the
    runtime exits (fails closed) and Lambda would restart it. Nothing was posted for it."""
    ev = rt.hook_event()
    rt.emu.queue_event(ev, request_id=rid, timeout=3)
    assert rt.wait_exit(10) not in (None, 0)
    assert "request id" in rt.log()
    for r in rt.emu.requests("rapi"):
        assert r["method"] == "GET", r
    assert rt.reports(ev) == []


def test_a_deadline_past_lambdas_longest_timeout_is_held_to_15_minutes(rt):
    """A Lambda-Runtime-Deadline-Ms centuries away would give a script unbounded time."""
    ev = rt.hook_event()
    rid = rt.emu.queue_event(ev, timeout=10 ** 9)
    out = rt.emu.wait_outcome(rid, 10)
    assert out["kind"] == "response"
    left = [l["message"] for l in rt.log_lines() if l.get("message", "").startswith("event received")]
    ms = int(left[-1].split(" ms left")[0].rsplit(" ", 1)[1])
    assert 890000 < ms <= 900000, left[-1]
    assert [r["status"] for r in rt.reports(ev)] == ["Succeeded"]


def test_a_script_cannot_inject_headers_or_request_lines(rt):
    """Header names and values, paths and queries from a script are checked before anything is
    signed or sent: CR/LF, NUL and spaces never reach the wire."""
    rt.hook("AfterAllowTraffic", r"""
local aws = require("hookhost.aws")
return function(e, ctx)
  local tries = {
    {headers = {["X-A"] = "a\r\nHost: evil"}},
    {headers = {["X-A\r\nHost"] = "evil"}},
    {headers = {["X-A"] = "a\0b"}},
    {path = "/x\r\nHost: evil"},
    {path = "/x HTTP/1.1\r\nX: y"},
    {query = "a=b\r\nHost: evil"},
    {query = "a=b#frag"},
  }
  local codes = {}
  for i, t in ipairs(tries) do
    t.service = "cloudfront"; t.path = t.path or "/2020-05-31/distribution"
    local ok, s, err = pcall(aws.request, t)
    codes[i] = ok and (s and "sent" or err.code) or "raised"
  end
  return codes
end
""")
    ev = rt.hook_event()
    _, out = rt.invoke(ev)
    codes = body(out)["result"]
    assert "sent" not in codes, codes
    assert rt.emu.requests("cloudfront") == []
    for r in rt.emu.requests():
        assert "evil" not in json.dumps(r)
    assert_one_report(rt, ev, "Succeeded", out)


def test_a_script_cannot_forge_its_outcome_through_proc_self_fd(rt):
    """A hook that writes an outcome frame saying "succeeded" into every descriptor it can open,
    then raises, is reported Failed with its own error; the next event gets its own outcome."""
    rt.hook("AfterAllowTraffic", """
return function()
  local json = '{"reason":0,"message":"","result":"\\"forged\\"","mem_peak":1,"duration_ms":1}'
  local frame = string.pack('=I4', #json) .. json
  for fd = 3, 64 do
    local f = io.open('/proc/self/fd/' .. fd, 'a')
    if f then f:write(frame); f:close() end
  end
  error('raised after forging')
end
""")
    ev = rt.hook_event()
    _, out = rt.invoke(ev)
    b = body(out)
    assert b["status"] == "Failed" and "raised after forging" in b["error"], b
    assert "result" not in b
    assert_one_report(rt, ev, "Failed", out)
    assert_still_serving(rt)


# ---- settings and the function package ----------------------------------------------------------

def test_hook_script_that_is_a_directory_fails_the_hook_with_a_report(rt):
    p = rt.task_root / "hooks" / "AfterAllowTraffic.lua"
    p.unlink()
    p.mkdir()
    ev = rt.hook_event()
    _, out = rt.invoke(ev)
    assert body(out)["status"] == "Failed", out
    assert "AfterAllowTraffic.lua" in body(out)["error"]
    assert_one_report(rt, ev, "Failed", out)
    p.rmdir()
    assert_still_serving(rt)


def test_hooks_folder_that_is_a_file_fails_the_hook_with_a_report(rt):
    shutil.rmtree(rt.task_root / "hooks")
    (rt.task_root / "hooks").write_text("not a folder")
    ev = rt.hook_event()
    _, out = rt.invoke(ev)
    assert body(out)["status"] == "Failed", out
    assert_one_report(rt, ev, "Failed", out)


def _can_drop_privileges():
    return os.geteuid() == 0 and shutil.which("setpriv")


@pytest.mark.skipif(not _can_drop_privileges(), reason="needs root and setpriv to run as nobody")
def test_unreadable_hooks_folder_fails_the_hook_with_a_report(hookhost_bin, tmp_path):
    """chmod 000 does not stop root, so the runtime runs as nobody (setpriv), as in Lambda."""
    base = pathlib.Path(tmp_path) / "world"
    base.mkdir()
    base.chmod(0o755)
    os.chmod(tmp_path, 0o755)  # pytest's tmp folders are 0700: let nobody through
    for parent in pathlib.Path(tmp_path).parents:
        if parent == pathlib.Path("/tmp") or not str(parent).startswith("/tmp/"):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o711)
    rt = Runtime(hookhost_bin, base / "task", start=False)
    try:
        rt.hook("AfterAllowTraffic", OK)
        os.chmod(rt.task_root, 0o755)
        os.chmod(rt.task_root / "hooks", 0o000)
        log = open(rt.log_path, "ab")
        rt.proc = subprocess.Popen(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", hookhost_bin, "serve"],
            env=rt.env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        ev = rt.hook_event()
        _, out = rt.invoke(ev)
        assert body(out)["status"] == "Failed", (out, rt.log())
        assert "AfterAllowTraffic.lua" in body(out)["error"]
        assert_one_report(rt, ev, "Failed", out)
    finally:
        os.chmod(rt.task_root / "hooks", 0o755)
        rt.stop()


# ---- hostile AWS endpoints ----------------------------------------------------------------------

class _Silent:
    """Accepts connections and never answers (nor closes them) until stopped."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                pass

    def stop(self):
        self.stopping = True
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


class _Big(http.server.ThreadingHTTPServer):
    """Answers every request with a 200 whose body is larger than hookhost's 16 MiB limit."""
    daemon_threads = True
    size = (16 << 20) + 4096

    def __init__(self):
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                srv.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(srv.size))
                self.end_headers()
                chunk = b"<" + b"x" * 65535
                try:
                    for _ in range(srv.size // len(chunk) + 1):
                        self.wfile.write(chunk)
                except OSError:
                    pass

            do_GET = do_POST

        self.requests = 0
        super().__init__(("127.0.0.1", 0), H)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self):
        self.shutdown()
        self.server_close()


def _runtime_with_endpoint(hookhost_bin, tmp_path, url, extra=None):
    env = {"AWS_ENDPOINT_URL_CLOUDFRONT": url}
    env.update(extra or {})
    rt = Runtime(hookhost_bin, tmp_path / "task", env=env)
    rt.hook("AfterAllowTraffic", INVALIDATE)
    return rt


def test_an_aws_response_over_the_limit_fails_the_hook_with_a_report(hookhost_bin, tmp_path):
    big = _Big()
    rt = _runtime_with_endpoint(hookhost_bin, tmp_path, f"http://127.0.0.1:{big.port}")
    try:
        ev = rt.hook_event()
        _, out = rt.invoke(ev, timeout=10)
        b = body(out)
        assert b["status"] == "Failed" and b["reason"] == "error", b
        assert "ResponseTooLarge" in b["error"], b
        assert big.requests == 1  # too large is not retried
        assert_one_report(rt, ev, "Failed", out)
        assert_still_serving(rt)
    finally:
        rt.stop()
        big.stop()


def test_an_endpoint_that_never_answers_fails_the_hook_by_its_deadline(hookhost_bin, tmp_path):
    silent = _Silent()
    rt = _runtime_with_endpoint(hookhost_bin, tmp_path, f"http://127.0.0.1:{silent.port}")
    try:
        ev = rt.hook_event()
        t0 = time.time()
        _, out = rt.invoke(ev, timeout=3)
        took = time.time() - t0
        b = body(out)
        assert out["kind"] == "response" and b["status"] == "Failed", b
        assert b["reason"] in ("timeout", "error"), b
        assert_one_report(rt, ev, "Failed", out)
        assert took < 3.5, took
        assert_still_serving(rt)
    finally:
        rt.stop()
        silent.stop()


def _self_signed(tmp_path):
    key, crt = tmp_path / "key.pem", tmp_path / "crt.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return key, crt


class _Tls:
    """A TLS listener with a self-signed certificate; counts handshakes and HTTP requests."""

    def __init__(self, key, crt):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(crt), str(key))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.handshakes = self.failed_handshakes = self.requests = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            c.settimeout(5)
            try:
                s = self.ctx.wrap_socket(c, server_side=True)
                self.handshakes += 1
                if s.recv(65536):
                    self.requests += 1
                    s.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")
                s.close()
            except (ssl.SSLError, OSError):
                self.failed_handshakes += 1
                c.close()

    def stop(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
def test_tls_endpoint_with_an_unknown_ca_fails_closed(hookhost_bin, tmp_path):
    key, crt = _self_signed(tmp_path)
    tls = _Tls(key, crt)
    rt = _runtime_with_endpoint(hookhost_bin, tmp_path, f"https://127.0.0.1:{tls.port}")
    try:
        ev = rt.hook_event()
        _, out = rt.invoke(ev, timeout=10)
        b = body(out)
        assert b["status"] == "Failed" and "TLSError" in b["error"], b
        assert_one_report(rt, ev, "Failed", out)
        assert tls.requests == 0 and tls.handshakes == 0  # nothing was sent over it
        assert tls.failed_handshakes == 1  # and no retry: a TLS failure is not transient
    finally:
        rt.stop()
        tls.stop()


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
def test_tls_endpoint_trusted_through_aws_ca_bundle_is_used(hookhost_bin, tmp_path):
    """The same server with its certificate as AWS_CA_BUNDLE: the request goes through (and the
    server's 500 is what the hook sees), so the failure above is the CA, nothing else."""
    key, crt = _self_signed(tmp_path)
    tls = _Tls(key, crt)
    rt = _runtime_with_endpoint(hookhost_bin, tmp_path, f"https://127.0.0.1:{tls.port}",
                                {"AWS_CA_BUNDLE": str(crt), "AWS_MAX_ATTEMPTS": "1"})
    try:
        ev = rt.hook_event()
        _, out = rt.invoke(ev, timeout=10)
        b = body(out)
        assert b["status"] == "Failed" and "TLSError" not in b["error"], b
        assert tls.requests == 1
        assert_one_report(rt, ev, "Failed", out)
    finally:
        rt.stop()
        tls.stop()


# ---- credential_process -------------------------------------------------------------------------

def _runtime_with_process(hookhost_bin, tmp_path, command):
    cfg = tmp_path / "aws-config"
    cfg.write_text(f"[profile hostile]\ncredential_process = {command}\n")
    rt = Runtime(hookhost_bin, tmp_path / "task", start=False,
                 env={"AWS_CONFIG_FILE": str(cfg), "AWS_PROFILE": "hostile",
                      "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")})
    del rt.env["AWS_ACCESS_KEY_ID"], rt.env["AWS_SECRET_ACCESS_KEY"]
    rt.hook("AfterAllowTraffic", OK)
    rt.start()
    return rt


def test_a_hanging_credential_process_cannot_hold_the_report_past_the_deadline(hookhost_bin, tmp_path):
    """The helper hangs longer than the invocation (its own timeout is 10 s): the report call's
    deadline cuts it short, and the invocation fails before the Lambda deadline, so that Lambda
    (asynchronous invocation) can retry. No report can be signed without credentials."""
    rt = _runtime_with_process(hookhost_bin, tmp_path, "sleep 30")
    try:
        ev = rt.hook_event()
        t0 = time.time()
        _, out = rt.invoke(ev, timeout=3, wait=20)
        assert out["kind"] == "error" and out["error_type"] == "Runtime.ReportNotDelivered", out
        assert "credential_process" in body(out)["errorMessage"]
        assert out["before_deadline"], (out, time.time() - t0)
        assert rt.reports(ev) == []
        assert rt.alive()
    finally:
        rt.stop()


@pytest.mark.parametrize("command,message", [
    ("echo not json", "not a JSON object"),
    ("printf '\\377\\376\\000garbage'", "not a JSON object"),
    ("echo '{\"Version\": 2, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"S\"}'", "Version"),
    ("echo '{\"Version\": 1}'", "AccessKeyId or SecretAccessKey missing"),
    ("echo boom >&2; exit 3", "credential_process"),
    ("head -c 200000 /dev/zero | tr '\\0' x", "credential_process"),
])
def test_a_credential_process_printing_garbage_is_a_clear_error(hookhost_bin, tmp_path, command, message):
    rt = _runtime_with_process(hookhost_bin, tmp_path, command)
    try:
        ev = rt.hook_event()
        _, out = rt.invoke(ev, timeout=5)
        assert out["kind"] == "error" and out["error_type"] == "Runtime.ReportNotDelivered", out
        msg = body(out)["errorMessage"]
        assert "CredentialsError" in msg and message in msg, msg
        assert out["before_deadline"]
        assert rt.alive()
    finally:
        rt.stop()
