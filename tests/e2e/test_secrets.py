"""Nothing secret leaves hookhost: not in its log lines (JSON and Text, at TRACE), not in what it
posts to the Runtime API, not in what reaches the services beyond the Authorization header itself.

The emulators run with a distinctive secret key and session token; every signature they verify
is captured (the Verifier is wrapped in this process), so each one can be searched for too. Runs:
a happy path, a fault run (500s, throttling, dropped connections, apply-then-fail, a hook that
fails with an AWS error), a run whose secret key is wrong (every call refused as
SignatureDoesNotMatch), and hooks that try to log their own credentials.
"""
import base64
import hashlib
import json
import re

import pytest

from emulators import sigv4 as emulator_sigv4
from runtime import Runtime

# Shaped like the real ones: base64 with '/' and '+' (which cjson writes as '\/' and '+'), and a
# session token of about 900 characters, longer than the runtime's 512- to 2048-byte messages.
SECRET = "hhSecretKey/DoNotLog+0123456789abcdefXYZ"
WRONG_SECRET = "hhWrongSecret/AlsoNeverLogged+9876543210zz"
TOKEN = "hhSessionToken//DoNotLog+/" + base64.b64encode(
    b"".join(hashlib.sha512(b"token%d" % i).digest() for i in range(10))).decode()
ACCESS_KEY = "AKIDHHSECRETSTEST01"
PIECE = 16  # a run of this many characters of a secret counts as a leak

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


def forms(secret):
    """A secret as it can be written: raw, as JSON writes it (cjson escapes '/' as '\\/'), and
    that JSON text inside another JSON string (json.dumps of a body)."""
    return {secret, secret.replace("/", "\\/"), secret.replace("/", "\\\\/")}


def leaked(text, secrets=(SECRET, WRONG_SECRET, TOKEN)):
    """The secrets (their first 12 characters) of which PIECE or more consecutive characters, in
    any of their forms, appear anywhere in text: whole, cut short, or cut out of the middle."""
    pieces = {}
    for s in secrets:
        for f in forms(s):
            for i in range(len(f) - PIECE + 1):
                pieces.setdefault(f[i:i + PIECE], s[:12])
    return {pieces[text[i:i + PIECE]] for i in range(len(text) - PIECE + 1)
            if text[i:i + PIECE] in pieces}


def assert_no_secret(text, signatures, *, extra=()):
    found = leaked(text, (SECRET, WRONG_SECRET, TOKEN, *extra))
    assert not found, f"secrets (or pieces of them) found: {sorted(found)}"
    for sig in signatures:
        assert sig not in text, f"signature {sig[:12]}... found"
    leaked_sigs = [m for m in re.findall(r"Signature=([^\s,\"&]*)", text) if m != "***"]
    assert not leaked_sigs, leaked_sigs
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


# ---- outcomes: what a script returns or raises goes back to Lambda and to the terminal --------

# Each script hands the credentials it can read to one way out of the runtime. The "x" run puts
# the token across the 2048-byte cut of an error message, so only a piece of it survives the cut.
OUTCOME_SCRIPTS = {
    "returns": 'return {secret = sk, token = tok, both = sk .. "|" .. tok}',
    "raises": 'error("failing with " .. sk .. " and " .. tok)',
    "raises_cut": 'error(string.rep("x", 1500) .. tok)',
    "returns_false": 'return false, "refused: " .. sk .. " " .. tok',
    "in_progress": 'return ctx.in_progress{delay = 1, details = {secret = sk, token = tok}}',
}
CREDS_PRELUDE = """
return function(event, ctx)
  local sk, tok = os.getenv("AWS_SECRET_ACCESS_KEY"), os.getenv("AWS_SESSION_TOKEN")
  assert(#tok > 800 and sk:find("/", 1, true) and tok:find("+", 1, true))
  %s
end
"""
ECS_EVENT = {"executionDetails": {"serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/demo/web",
                                  "targetServiceRevisionArn": "arn:aws:ecs:us-east-1:123456789012:"
                                                              "service-revision/demo/web/1",
                                  "lifecycleStage": "POST_PRODUCTION_TRAFFIC_SHIFT"}}


def assert_redacted_outcome(text):
    """No piece of a secret in any form, raw or decoded, and the place where one was is marked."""
    assert not leaked(text), (sorted(leaked(text)), text[:600])
    try:
        decoded = json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        decoded = text
    assert not leaked(decoded), decoded[:600]
    assert "***" in text, text[:600]


ANSWER_CASES = [(kind, script) for kind in ("codedeploy", "plain")
                for script in sorted(OUTCOME_SCRIPTS) if script != "in_progress"]
ANSWER_CASES.append(("ecs", "in_progress"))  # an ECS answer carries script text in hookDetails only


@pytest.mark.parametrize("kind,script", ANSWER_CASES)
def test_no_lambda_answer_carries_a_secret(hookhost_bin, tmp_path, kind, script):
    """The response body, the Function.HookFailed message and the ECS answer's hookDetails."""
    rt = start(hookhost_bin, tmp_path, "JSON", "answers")
    rt.hook("AfterAllowTraffic", CREDS_PRELUDE % OUTCOME_SCRIPTS[script])
    try:
        ev = rt.hook_event() if kind == "codedeploy" else ECS_EVENT if kind == "ecs" else {}
        _, out = rt.invoke(ev)
        if kind == "plain" and script != "returns":
            assert (out["kind"], out["error_type"]) == ("error", "Function.HookFailed"), out
        else:
            assert out["kind"] == "response", out
        if kind == "ecs":
            assert json.loads(out["body"])["hookStatus"] == "IN_PROGRESS", out
        assert_redacted_outcome(out["body"])
        assert_no_secret(everything_recorded(rt, tmp_path, "answers"), set())
    finally:
        rt.stop()


@pytest.mark.parametrize("script", sorted(set(OUTCOME_SCRIPTS) - {"in_progress"}))
@pytest.mark.parametrize("dry_run", [False, True])
def test_hookhost_run_prints_no_secret(hookhost, write, script, dry_run):
    s = write("AfterAllowTraffic.lua", CREDS_PRELUDE % OUTCOME_SCRIPTS[script])
    args = ["run", s]
    if dry_run:
        ev = write("ev.json", json.dumps({"DeploymentId": "d-ABCDEFGH1",
                                          "LifecycleEventHookExecutionId": "exec-1"}))
        args = ["run", "--dry-run", "--event", ev, s]
    p = hookhost(*args, env={"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
                             "AWS_SESSION_TOKEN": TOKEN, "AWS_REGION": "us-east-1"})
    assert p.returncode == (0 if script == "returns" else 1), p.stderr
    assert_redacted_outcome(p.stdout.strip().splitlines()[-1])
    assert_no_secret(p.stdout + p.stderr, set())


def test_a_signature_mismatch_echo_is_redacted_whatever_the_credentials_source(hookhost, write,
                                                                             tmp_path):
    """AWS answers a bad signature with the canonical request it expected, session token
    included, in a message the runtime cuts to 1024 bytes: the cut must not let a piece of the
    token through. The credentials come from a profile, read by the worker only, so neither the
    environment nor the parent process knows them as secrets."""
    from emulators import Emulators
    emu = Emulators.start(access_key=ACCESS_KEY, secret_key=SECRET, session_token=TOKEN)
    try:
        creds = write("credentials", f"[default]\naws_access_key_id = {ACCESS_KEY}\n"
                                     f"aws_secret_access_key = {WRONG_SECRET}\n"
                                     f"aws_session_token = {TOKEN}\n")
        s = write("h.lua", """
local aws = require("hookhost.aws")
return function(event, ctx)
  local d, err = aws.json("codedeploy", "CodeDeploy_20141006", "GetDeployment",
                          {deploymentId = "d-ABCDEFGH1"})
  assert(not d)
  ctx.log.warn("refused", {message = err.message})
  error(err)
end
""")
        env = {k: v for k, v in emu.env().items() if not k.startswith(("AWS_ACCESS", "AWS_SECRET",
                                                                       "AWS_SESSION"))}
        env.update({"AWS_SHARED_CREDENTIALS_FILE": creds, "AWS_CONFIG_FILE": str(tmp_path / "none"),
                    "AWS_MAX_ATTEMPTS": "1"})
        p = hookhost("run", s, env=env)
        assert p.returncode == 1, p.stderr
        o = json.loads(p.stdout.strip().splitlines()[-1])
        assert "SignatureDoesNotMatch" in o["error"] or "InvalidSignature" in o["error"], o
        assert "Canonical String" in o["error"], o  # the echo arrived (and was cut)...
        assert emu.signature_failures >= 1
        assert_no_secret(p.stdout + p.stderr, set())  # ...without a piece of the token
    finally:
        emu.stop()


def test_a_secret_across_the_message_cut_leaves_no_piece(hookhost, write):
    """An error message is cut to 2047 bytes. Cut first and redact after, and the 7 characters of
    the token that fit before the cut are too few to be recognised as a piece of it; redacted
    first, the whole token goes and nothing of it is left to cut."""
    s = write("AfterAllowTraffic.lua", """
return function(event, ctx)
  local tok = os.getenv("AWS_SESSION_TOKEN")
  local src, line = debug.getinfo(1, "S").source:sub(2), debug.getinfo(1, "l").currentline + 1
  error(string.rep("x", 2047 - #(src .. ":" .. line .. ": ") - 7) .. tok)
end
""")
    p = hookhost("run", s, env={"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
                                "AWS_SESSION_TOKEN": TOKEN, "AWS_REGION": "us-east-1"})
    assert p.returncode == 1, p.stderr
    err = json.loads(p.stdout.strip().splitlines()[-1])["error"]
    assert err.startswith(s + ":") and "xxxx" in err, err[:200]
    assert err.endswith("x***"), err[-40:]
    assert TOKEN[:7] not in p.stdout + p.stderr
