"""Nothing secret leaves hookhost: not in its log lines (JSON and Text, at TRACE), not in what it
posts to the Runtime API, not in what reaches the services beyond the Authorization header itself.

The emulators run with a distinctive secret key and session token; every signature they verify
is captured (the Verifier is wrapped in this process), so each one can be searched for too. Runs:
a happy path, a fault run (500s, throttling, dropped connections, apply-then-fail, a hook that
fails with an AWS error), a run whose secret key is wrong (every call refused as
SignatureDoesNotMatch), and hooks that try to log their own credentials.
"""
import json
import re

import pytest

from emulators import sigv4 as emulator_sigv4
from runtime import Runtime

SECRET = "hhSecretKey/DoNotLog+0123456789abcdefXYZ"
WRONG_SECRET = "hhWrongSecret/AlsoNeverLogged+9876543210zz"
TOKEN = "hhSessionToken//DoNotLog//FQoGZXIvYXdzEOT" + "A" * 120 + "=="
ACCESS_KEY = "AKIDHHSECRETSTEST01"

INVALIDATE = """
local aws = require("hookhost.aws")
return function(event, ctx)
  ctx.log.trace("calling CloudFront", {deployment = ctx.deployment_id})
  local ref = ctx.deployment_id .. "-" .. ctx.execution_id
  local body = '<?xml version="1.0" encoding="UTF-8"?>'
    .. '<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">'
    .. '<Paths><Quantity>1</Quantity><Items><Path>/*</Path></Items></Paths>'
    .. '<CallerReference>' .. aws.xml_escape(ref) .. '</CallerReference></InvalidationBatch>'
  local status, doc, headers = aws.rest_xml{service = "cloudfront", method = "POST",
    path = "/2020-05-31/distribution/" .. (event.dist or "E2EXAMPLE123") .. "/invalidation",
    body = body, operation = "CreateInvalidation"}
  if not status then error(doc) end
  ctx.log.debug("created", {status = status, headers = headers})
  local d, err = aws.json("codedeploy", "CodeDeploy_20141006", "GetDeployment",
                          {deploymentId = ctx.deployment_id})
  if not d then error(err) end
  return {status = status}
end
"""

# A script that tries to leak what it can reach: the environment, and an AWS call's details.
LEAKY = """
local aws = require("hookhost.aws")
return function(event, ctx)
  local sk, tok = os.getenv("AWS_SECRET_ACCESS_KEY"), os.getenv("AWS_SESSION_TOKEN")
  ctx.log.info("env secret " .. tostring(sk), {secret = sk, token = tok})
  print("print token", tok)
  local d, err = aws.json("codedeploy", "CodeDeploy_20141006", "GetDeployment",
                          {deploymentId = ctx.deployment_id})
  ctx.log.warn("after call " .. tostring(sk) .. " " .. tostring(tok))
  error("failing with " .. tostring(sk) .. " and " .. tostring(tok))
end
"""


@pytest.fixture
def signatures(monkeypatch):
    """Every signature the emulators verified (header or presigned), captured as it arrives."""
    seen = set()
    real = emulator_sigv4.Verifier.verify

    def spy(self, method, target, headers, body):
        auth = headers.get("Authorization") or ""
        seen.update(re.findall(r"Signature=([0-9a-f]{64})", auth))
        seen.update(re.findall(r"X-Amz-Signature=([0-9a-f]{64})", target))
        return real(self, method, target, headers, body)

    monkeypatch.setattr(emulator_sigv4.Verifier, "verify", spy)
    return seen


def start(hookhost_bin, tmp_path, fmt, name, secret=SECRET):
    rt = Runtime(hookhost_bin, tmp_path / name, emulator_options={
        "access_key": ACCESS_KEY, "secret_key": SECRET, "session_token": TOKEN,
        "invalidation_seconds": 0.1, "log_path": str(tmp_path / f"{name}-emulators.jsonl")},
        env={"AWS_LAMBDA_LOG_FORMAT": fmt, "AWS_LAMBDA_LOG_LEVEL": "TRACE",
             "AWS_SECRET_ACCESS_KEY": secret, "AWS_MAX_ATTEMPTS": "3"})
    rt.hook("AfterAllowTraffic", INVALIDATE)
    return rt


def everything_recorded(rt, tmp_path, name):
    """Every byte that left the runtime other than the signed requests' own headers: its log,
    the emulators' request log (file and memory), the outcomes it posted, the reports."""
    parts = [rt.log()]
    log_file = tmp_path / f"{name}-emulators.jsonl"
    if log_file.exists():
        parts.append(log_file.read_text(errors="replace"))
    parts.append(json.dumps(rt.emu.requests()))
    parts.append(json.dumps(rt.emu.outcomes(), default=str))
    parts.append(json.dumps(rt.emu.report_attempts(), default=str))
    parts.append(json.dumps(rt.emu.init_errors(), default=str))
    return "\n".join(parts)


def assert_no_secret(text, signatures, *, extra=()):
    for s in (SECRET, WRONG_SECRET, TOKEN, *extra):
        assert s not in text, f"secret {s[:12]}... found"
        # and not a recognisable piece of it either (a truncated or split value)
        assert s[:24] not in text, f"a piece of secret {s[:12]}... found"
    for sig in signatures:
        assert sig not in text, f"signature {sig[:12]}... found"
    leaked = [m for m in re.findall(r"Signature=([^\s,\"&]*)", text) if m != "***"]
    assert not leaked, leaked
    assert "X-Amz-Security-Token=" not in text.replace("X-Amz-Security-Token=REDACTED", "")
    assert not re.search(r"AWS4-HMAC-SHA256 Credential=\S+, SignedHeaders=\S+, Signature=(?!\*\*\*)", text)


def run_events(rt, n, timeout=10):
    outs = []
    for _ in range(n):
        ev = rt.hook_event()
        _, out = rt.invoke(ev, timeout=timeout)
        outs.append((ev, out))
    return outs


@pytest.mark.parametrize("fmt", ["JSON", "Text"])
def test_happy_path_logs_no_secret(hookhost_bin, tmp_path, signatures, fmt):
    rt = start(hookhost_bin, tmp_path, fmt, "happy")
    try:
        for ev, out in run_events(rt, 3):
            assert json.loads(out["body"])["status"] == "Succeeded", (out, rt.log())
            assert [r["status"] for r in rt.reports(ev)] == ["Succeeded"]
        assert rt.emu.signature_failures == 0
        assert len(signatures) >= 9  # 3 x (CreateInvalidation, GetDeployment, the report)
        text = everything_recorded(rt, tmp_path, "happy")
        assert "TRACE" in text or '"level":"TRACE"' in text  # the level was really on
        assert_no_secret(text, signatures)
    finally:
        rt.stop()


@pytest.mark.parametrize("fmt", ["JSON", "Text"])
def test_fault_run_logs_no_secret(hookhost_bin, tmp_path, signatures, fmt):
    rt = start(hookhost_bin, tmp_path, fmt, "faults")
    emu = rt.emu
    try:
        emu.inject_fault("http500", "cloudfront", "CreateInvalidation")
        emu.inject_fault("throttle", "codedeploy", "GetDeployment")
        emu.inject_fault("drop", "codedeploy", "PutLifecycleEventHookExecutionStatus")
        run_events(rt, 1)
        emu.inject_fault("apply_then_fail", "codedeploy", "PutLifecycleEventHookExecutionStatus")
        emu.inject_fault("http503", "cloudfront", "CreateInvalidation")
        run_events(rt, 1)
        emu.inject_fault("error", "cloudfront", "CreateInvalidation", count=1, status=400,
                         code="InvalidArgument", message="bad argument " + "x" * 50)
        ev, out = run_events(rt, 1)[0]
        assert json.loads(out["body"])["status"] == "Failed"
        ev = rt.hook_event()
        ev["dist"] = "ENOSUCHDIST"
        _, out = rt.invoke(ev)
        assert "NoSuchDistribution" in json.loads(out["body"])["error"]
        emu.inject_fault("error", "codedeploy", "PutLifecycleEventHookExecutionStatus", count=10,
                         status=400, code="AccessDeniedException", message="not allowed")
        _, out = rt.invoke(rt.hook_event(), timeout=4)
        assert out["kind"] == "error"
        emu.clear_faults()
        assert emu.signature_failures == 0
        text = everything_recorded(rt, tmp_path, "faults")
        assert_no_secret(text, signatures)
    finally:
        rt.stop()


@pytest.mark.parametrize("fmt", ["JSON", "Text"])
def test_a_wrong_secret_key_is_refused_and_never_logged(hookhost_bin, tmp_path, signatures, fmt):
    rt = start(hookhost_bin, tmp_path, fmt, "wrong", secret=WRONG_SECRET)
    try:
        ev = rt.hook_event()
        _, out = rt.invoke(ev, timeout=5)
        assert out["kind"] == "error", out  # the report itself is refused: not delivered
        assert rt.emu.signature_failures >= 2
        text = everything_recorded(rt, tmp_path, "wrong")
        assert "SignatureDoesNotMatch" in text or "InvalidSignatureException" in text
        assert_no_secret(text, signatures)
    finally:
        rt.stop()


@pytest.mark.parametrize("fmt", ["JSON", "Text"])
def test_a_script_cannot_log_its_own_credentials(hookhost_bin, tmp_path, signatures, fmt):
    """The first event of a fresh runtime: no AWS call has been made by anyone yet when the
    script logs the environment's secret key and token."""
    rt = start(hookhost_bin, tmp_path, fmt, "leaky")
    rt.hook("AfterAllowTraffic", LEAKY)
    try:
        for ev, out in run_events(rt, 2):
            b = json.loads(out["body"])
            assert b["status"] == "Failed", b
            assert [r["status"] for r in rt.reports(ev)] == ["Failed"]
        text = everything_recorded(rt, tmp_path, "leaky")
        assert "env secret" in text and "after call" in text  # the lines were written...
        assert_no_secret(text, signatures)  # ...without the values
    finally:
        rt.stop()
