"""Dry runs and canned answers (`hookhost run --dry-run [-v]`, `--stub FILE`), end to end.

One convention for every AWS call (aws.send in lua/hookhost/aws.lua): in a dry run nothing is
sent, each call is logged ("dry run: not sent: ...") and answers as a success, with its canned
answer when the stub file has one, else with the placeholder, which raises a clear error when a
field is read. `--stub FILE` alone runs the script's real path on canned answers, strictly.
The emulators are in the environment only to prove that nothing reaches them.
"""
import http.server
import json
import pathlib
import threading

import pytest

from emulators import Emulators
from runtime import outcome

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOOKS = ROOT / "lua" / "hooks"

SECRET = "fakeSecretKeyDoNotPrint0123456789abcdefXYZ"
TOKEN = "FwoGZXIvYXdzEFakeSessionTokenDoNotPrint0123456789"

GET_PARAMETER = """
local aws = require("hookhost.aws")
return function(event, ctx)
  local r, err = aws.json("ssm", "AmazonSSM", "GetParameter", {Name = "/app/url"})
  if not r then return {err = {code = err.code, message = err.message, status = err.status}} end
  return {value = r.Parameter.Value, dry_run = ctx.dry_run}
end
"""

ALARMS_XML = (
    '<DescribeAlarmsResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">'
    "<DescribeAlarmsResult><MetricAlarms><member><AlarmName>api-5xx</AlarmName>"
    "<StateValue>ALARM</StateValue><StateReason>Threshold Crossed</StateReason></member>"
    "</MetricAlarms><CompositeAlarms/></DescribeAlarmsResult></DescribeAlarmsResponse>")
PUBLISH_XML = (
    '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
    "<MessageId>m-123</MessageId></PublishResult></PublishResponse>")
TOPIC = "arn:aws:sns:eu-west-1:123456789012:deployments"


@pytest.fixture
def emu():
    e = Emulators.start(invalidation_seconds=0.2)
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture
def run(hookhost, write):
    """run(script_text, *args, stubs=None, event=None, env=None) -> (proc, outcome or None)."""
    n = [0]

    def go(text, *args, stubs=None, event=None, env=None):
        n[0] += 1
        argv = ["run", "--event", write(f"ev{n[0]}.json", json.dumps(event or {}))]
        if stubs is not None:
            argv += ["--stub", write(f"stubs{n[0]}.json",
                                     stubs if isinstance(stubs, str) else json.dumps(stubs))]
        p = hookhost(*argv, *args, write(f"h{n[0]}.lua", text),
                     env={"HOME": "/nonexistent", **(env or {})})
        o = None
        if p.stdout.strip():
            o = outcome(p)
        return p, o

    return go


# ---- dry runs -----------------------------------------------------------------------------------

def test_dry_run_needs_no_region_and_no_credentials(run):
    p, o = run("""
local aws = require("hookhost.aws")
return function(event, ctx)
  local r = assert(aws.json("ssm", "AmazonSSM", "GetParameter", {Name = "/app/url"}))
  local n = 0
  for _ in pairs(r) do n = n + 1 end
  local q = assert(aws.query("sts", "GetCallerIdentity", "2011-06-15"))
  return {placeholder = aws.is_placeholder(r) and aws.is_placeholder(q), fields = n,
          plain = aws.is_placeholder({})}
end
""", "--dry-run")
    assert p.returncode == 0, p.stderr
    assert o["result"] == {"placeholder": True, "fields": 0, "plain": False}
    n = len('{"Name":"\\/app\\/url"}')
    assert ("dry run: not sent: ssm GetParameter POST https://ssm.us-east-1.amazonaws.com/ "
            f"({n} bytes) (no region set) (not signed: no credentials)") in p.stderr
    assert "dry run: not sent: sts GetCallerIdentity POST https://sts.us-east-1.amazonaws.com/" \
        in p.stderr
    assert "MissingRegion" not in p.stderr + p.stdout


def test_placeholder_says_the_call_was_not_sent(run):
    p, o = run(GET_PARAMETER, "--dry-run", env={"AWS_REGION": "eu-west-1"})
    assert p.returncode == 1
    assert ('dry run: ssm GetParameter was not sent, so its result has no field "Parameter"; '
            "give it a canned answer (hookhost run --stub FILE) or test ctx.dry_run") in o["error"]
    assert o["error"].startswith(str(pathlib.Path(p.args[-1]))) or ".lua:" in o["error"]
    assert "dry run: not sent: ssm GetParameter POST https://ssm.eu-west-1.amazonaws.com/" \
        in p.stderr


def test_raw_request_answers_200_and_the_placeholder(run, emu):
    p, o = run("""
local aws = require("hookhost.aws")
return function(event, ctx)
  local st, h, body, answer = aws.request{service = "codedeploy", method = "POST", operation = "X"}
  return {st = st, nh = next(h) == nil, body = body, p = aws.is_placeholder(answer)}
end
""", "--dry-run", env=emu.env())
    assert p.returncode == 0, p.stderr
    assert o["result"] == {"st": 200, "nh": True, "body": "", "p": True}
    assert emu.requests() == []


def test_verbose_dry_run_shows_headers_and_body_but_no_secret(run, emu):
    env = {**emu.env(), "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": TOKEN}
    script = """
local aws = require("hookhost.aws")
return function(event, ctx)
  aws.request{service = "sns", method = "POST", operation = "Publish",
              headers = {["X-Api-Key"] = "apikeyvalue-0123456789", ["X-Plain"] = "visible"},
              body = "Action=Publish&Message=" .. string.rep("m", 5000)}
end
"""
    p, o = run(script, "--dry-run", "-v", env=env)
    assert p.returncode == 0, p.stderr
    line = next(x for x in p.stderr.splitlines() if "dry run: not sent: sns Publish POST" in x)
    fields = json.loads(line[line.index("{"):])
    headers = fields["headers"]
    assert "X-Plain: visible" in headers and "X-Api-Key: ***" in headers
    assert "Authorization: ***" in headers and "X-Amz-Security-Token: ***" in headers
    assert any(h.startswith("X-Amz-Date: 20") for h in headers)
    assert any(h.startswith("Host: 127.0.0.1:") for h in headers)
    body = "Action=Publish&Message=" + "m" * 5000
    assert fields["body"] == body[:4096] + "... (%d bytes more)" % (len(body) - 4096)
    out = p.stdout + p.stderr
    for secret in (SECRET, TOKEN, SECRET[:12], TOKEN[:12], "apikeyvalue", "AWS4-HMAC-SHA256"):
        assert secret not in out
    assert "not signed" not in line
    assert emu.requests() == []
    # without -v: the one line, no fields
    p, o = run(script, "--dry-run", env=env)
    line = next(x for x in p.stderr.splitlines() if "dry run: not sent: sns Publish POST" in x)
    assert "headers" not in line and "mmmm" not in line


def test_verbose_needs_dry_run(hookhost, write):
    p = hookhost("run", "-v", write("x.lua", "return function() end\n"))
    assert p.returncode == 2 and "use it with --dry-run" in p.stderr


def test_modules_dry_values(run, emu):
    p, o = run("""
local sns = require("hookhost.sns")
local cloudfront = require("hookhost.cloudfront")
local cloudwatch = require("hookhost.cloudwatch")
local codedeploy = require("hookhost.codedeploy")
local aws = require("hookhost.aws")
return function(event, ctx)
  local id = sns.publish{topic_arn = "%s", message = "hi"}
  local inv = cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/*"}, wait = true}
  local got = cloudfront.get_invalidation("E2EXAMPLE123", "I123")
  local ok, alarms = cloudwatch.check_alarms{names = {"api-5xx"}}
  local d = codedeploy.get_deployment("d-ABCDEFGH1")
  local put = codedeploy.put_status("d-ABCDEFGH1", "e-1", "Succeeded")
  local targets = codedeploy.list_deployment_targets("d-ABCDEFGH1")
  local ev, err = codedeploy.current_lifecycle_event("d-ABCDEFGH1")
  return {id = id, inv_id = inv.id, inv_status = inv.status, got = got.status, ok = ok,
          alarms = #alarms, d = aws.is_placeholder(d), put = put, targets = #targets,
          ev = ev or false, err = err.code}
end
""" % TOPIC, "--dry-run", env=emu.env())
    assert p.returncode == 0, p.stderr
    assert o["result"] == {"id": "dry-run", "inv_id": "dry-run", "inv_status": "DryRun",
                           "got": "DryRun", "ok": True, "alarms": 0, "d": True, "put": True,
                           "targets": 0, "ev": False, "err": "DryRun"}
    assert "dry run: alarms not checked" in p.stderr
    assert emu.requests() == []


def _serve_ok():
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.mark.parametrize("hook,env", [
    ("AfterAllowTraffic", {"DistributionId": "E2EXAMPLE123", "INVALIDATION_WAIT": "true"}),
    ("BeforeAllowTraffic", {"ALARM_NAMES": "api-5xx,api-latency"}),
    ("AfterAllowTestTraffic", {}),
])
def test_shipped_hooks_complete_in_a_dry_run(hookhost, write, hook, env):
    """No region, no credentials, a CodeDeploy event: every shipped hook succeeds, nothing is
    reported (nor would anything reach AWS)."""
    srv = _serve_ok()
    try:
        if hook == "AfterAllowTestTraffic":
            env = {"TEST_URL": "http://127.0.0.1:%d/health" % srv.server_address[1]}
        ev = write("ev.json", json.dumps({"DeploymentId": "d-ABCDEFGH1",
                                          "LifecycleEventHookExecutionId": "exec-1"}))
        p = hookhost("run", "--dry-run", "--event", ev, str(HOOKS / f"{hook}.lua"),
                     env={"HOME": "/nonexistent", **env})
    finally:
        srv.shutdown()
    assert p.returncode == 0, p.stderr
    o = outcome(p)
    assert o["status"] == "Succeeded" and o["reported"] is False
    assert "dry run: status Succeeded NOT reported to CodeDeploy" in p.stderr
    if hook == "AfterAllowTraffic":  # CloudFront is global: no region needed
        assert ("dry run: not sent: CloudFront CreateInvalidation POST https://cloudfront."
                "amazonaws.com/2020-05-31/distribution/E2EXAMPLE123/invalidation") in p.stderr
        assert "(not signed: no credentials)" in p.stderr and "no region set" not in p.stderr
    if hook == "BeforeAllowTraffic":
        assert ("dry run: not sent: CloudWatch DescribeAlarms POST https://monitoring.us-east-1."
                "amazonaws.com/") in p.stderr
        assert "(no region set) (not signed: no credentials)" in p.stderr
        assert "dry run: alarms not checked" in p.stderr


# ---- canned answers -----------------------------------------------------------------------------

def test_stub_answers_json_query_body_and_errors(run, emu):
    stubs = [
        {"service": "ssm", "operation": "GetParameter", "params": {"Name": "/app/url"},
         "answer": {"Parameter": {"Name": "/app/url", "Value": "https://example.com"}}},
        {"service": "monitoring", "operation": "DescribeAlarms",
         "params": {"AlarmNames": ["api-5xx"]}, "body": ALARMS_XML},
        {"service": "sns", "operation": "publish", "body": PUBLISH_XML, "status": 200},
        {"service": "sns", "operation": "Publish", "status": 403,
         "body": "<ErrorResponse><Error><Code>AuthorizationError</Code><Message>not allowed"
                 "</Message></Error></ErrorResponse>"},
        {"service": "ssm", "operation": "get_parameter",
         "error": {"code": "ParameterNotFound", "message": "no such parameter", "status": 400}},
    ]
    p, o = run("""
local aws = require("hookhost.aws")
local cloudwatch = require("hookhost.cloudwatch")
local sns = require("hookhost.sns")
return function(event, ctx)
  local r = assert(aws.json("ssm", "AmazonSSM", "GetParameter", {Name = "/app/url"}))
  local ok, why = cloudwatch.check_alarms{names = {"api-5xx"}}
  local id = sns.publish{topic_arn = "%s", message = "hi"}
  local id2, err2 = sns.publish{topic_arn = "%s", message = "again"}
  local r3, err3 = aws.json("ssm", "AmazonSSM", "GetParameter", {Name = "/other"})
  return {value = r.Parameter.Value, gate = ok, why = why, id = id, id2 = id2 or false,
          err2 = {code = err2.code, status = err2.status, message = err2.message},
          err3 = tostring(err3), dry_run = ctx.dry_run}
end
""" % (TOPIC, TOPIC), stubs=stubs, env=emu.env())
    assert p.returncode == 0, p.stderr
    r = o["result"]
    assert r["value"] == "https://example.com" and r["dry_run"] is False
    # the gate decides from the canned DescribeAlarms answer
    assert r["gate"] is False and "api-5xx (ALARM: Threshold Crossed)" in r["why"]
    assert r["id"] == "m-123" and r["id2"] is False
    assert r["err2"] == {"code": "AuthorizationError", "status": 403, "message": "not allowed"}
    assert r["err3"] == "ParameterNotFound: no such parameter (HTTP 400)"
    assert o["stubs_unused"] == 0
    assert "stub: ssm GetParameter answered by stub entry 1 (not sent)" in p.stderr
    assert emu.requests() == []


def test_stub_unexpected_call_raises(run, emu):
    p, o = run(GET_PARAMETER, stubs=[], env=emu.env())
    assert p.returncode == 1
    assert "stub: unexpected call ssm GetParameter (no answer left for ssm)" in o["error"]
    assert emu.requests() == []
    # another operation next in the service's queue is unexpected too
    p, o = run(GET_PARAMETER, stubs=[{"service": "ssm", "operation": "PutParameter",
                                      "answer": {}}], env=emu.env())
    assert p.returncode == 1
    assert "stub: unexpected call ssm GetParameter (the next answer for ssm is for PutParameter, " \
        "entry 1)" in o["error"]


def test_stub_params_mismatch_raises(run):
    p, o = run(GET_PARAMETER, stubs=[{"service": "ssm", "operation": "GetParameter",
                                      "params": {"Name": "/other"}, "answer": {}}])
    assert p.returncode == 1
    assert 'stub: ssm GetParameter: params.Name is "/app/url", expected "/other"' in o["error"]


def test_unused_stubs_fail_the_run(run):
    p, o = run("return function() end\n", stubs=[
        {"service": "ssm", "operation": "GetParameter", "answer": {}},
        {"service": "sns", "operation": "Publish", "body": PUBLISH_XML}])
    assert p.returncode == 1
    assert o["status"] == "Succeeded" and o["stubs_unused"] == 2
    assert "WARN" in p.stderr and "stub entry 1 (ssm GetParameter) was not used" in p.stderr
    assert "stub entry 2 (sns Publish) was not used" in p.stderr
    assert "2 stub entries were never used" in p.stderr


def test_stub_run_reports_nothing_to_codedeploy(run, emu):
    dep = emu.seed_deployment()
    ex = emu.seed_hook_execution(dep, "AfterAllowTraffic")
    p, o = run(GET_PARAMETER, stubs=[{"service": "ssm", "operation": "GetParameter",
                                      "answer": {"Parameter": {"Value": "v"}}}],
               event={"DeploymentId": dep, "LifecycleEventHookExecutionId": ex}, env=emu.env())
    assert p.returncode == 0, p.stderr
    assert o["reported"] is False and o["result"]["value"] == "v"
    assert "stub run: status Succeeded NOT reported to CodeDeploy" in p.stderr
    assert emu.reports(dep) == [] and emu.requests() == []


def test_dry_run_with_stubs_is_not_strict(run, emu):
    stubs = [{"service": "ssm", "operation": "GetParameter", "params": {"Name": "/app/url"},
              "answer": {"Parameter": {"Value": "canned"}}},
             {"service": "sns", "operation": "Publish", "body": PUBLISH_XML}]
    p, o = run("""
local aws = require("hookhost.aws")
return function(event, ctx)
  local other = aws.json("ssm", "AmazonSSM", "GetParameter", {Name = "/not-stubbed"})
  local r = aws.json("ssm", "AmazonSSM", "GetParameter", {Name = "/app/url"})
  return {value = r.Parameter.Value, other = aws.is_placeholder(other), dry_run = ctx.dry_run}
end
""", "--dry-run", stubs=stubs, env=emu.env())
    assert p.returncode == 0, p.stderr
    assert o["result"] == {"value": "canned", "other": True, "dry_run": True}
    assert "stubs_unused" not in o
    assert "dry run: not sent: ssm GetParameter POST" in p.stderr
    assert emu.requests() == []


@pytest.mark.parametrize("text,message", [
    ("[1,", "not valid JSON"),
    ('{"service": "ssm"}', "expected a list (a JSON array) of entries"),
    ('[{"service": "ssm", "operation": "GetParameter", "answer": {}}, {"service": "ssm"}]',
     "stub entry 2: operation must be an API operation name"),
    ('[{"service": "ssm", "operation": "GetParameter"}]',
     "stub entry 1: give exactly one of answer, body or error"),
    ('[{"service": "ssm", "operation": "GetParameter", "answer": {}, "body": ""}]',
     "stub entry 1: give exactly one of answer, body or error"),
    ('[{"service": "ssm", "operation": "GetParameter", "answr": {}}]',
     'stub entry 1: unknown key "answr"'),
    ('[{"service": "ssm", "operation": "X", "body": "", "status": 42}]',
     "stub entry 1: status must be an HTTP status code"),
    ('[{"service": "ssm", "operation": "X", "error": {"message": "m"}}]',
     "stub entry 1: error.code must be a non-empty string"),
])
def test_stub_file_errors_name_the_file_and_entry(hookhost, write, text, message):
    f = write("bad-stubs.json", text)
    p = hookhost("run", "--stub", f, write("x.lua", "return function() end\n"))
    assert p.returncode == 2 and p.stdout == ""
    assert f"hookhost run: --stub {f}: " in p.stderr and message in p.stderr, p.stderr


def test_stub_file_missing(hookhost, write):
    p = hookhost("run", "--stub", "/nonexistent/stubs.json", write("x.lua", "return function() end\n"))
    assert p.returncode == 2 and "--stub /nonexistent/stubs.json: No such file" in p.stderr


def test_run_help_names_the_new_options(hookhost):
    p = hookhost("run", "--help")
    assert p.returncode == 0
    for s in ("--stub FILE", "--verbose", "stubs_unused", "no region or credentials"):
        assert s in p.stdout
