"""hookhost.aws end to end: Lua hook scripts run by `hookhost run` against the emulators, which
verify every SigV4 signature with botocore. Each test ends with zero signature failures.

Events here carry no DeploymentId (a "plain" event): `hookhost run` then sends no status report
of its own, so the emulators see only the script's calls.
"""
import json
import time
import urllib.parse

import pytest

from emulators import DEFAULT_SECRET_KEY, Emulators
from runtime import outcome

HEAD = """
local aws = require("hookhost.aws")
local xml = require("hookhost.xml")
"""

BATCH = """
local function batch(ref, paths)
  local items = {}
  for i, p in ipairs(paths) do items[i] = "<Path>" .. aws.xml_escape(p) .. "</Path>" end
  return '<?xml version="1.0" encoding="UTF-8"?>'
    .. '<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">'
    .. "<Paths><Quantity>" .. #paths .. "</Quantity><Items>" .. table.concat(items) .. "</Items></Paths>"
    .. "<CallerReference>" .. aws.xml_escape(ref) .. "</CallerReference></InvalidationBatch>"
end
local function invalidate(dist, ref, opts)
  local t = {service = "cloudfront", method = "POST",
             path = "/2020-05-31/distribution/" .. dist .. "/invalidation", body = batch(ref, {"/*"})}
  for k, v in pairs(opts or {}) do t[k] = v end
  return aws.rest_xml(t)
end
local function errt(err)
  return {code = err.code, message = err.message, status = err.status, request_id = err.request_id,
          retryable = err.retryable, attempts = err.attempts, text = tostring(err)}
end
"""


@pytest.fixture
def emu():
    e = Emulators.start(invalidation_seconds=0.2)
    try:
        yield e
        assert e.signature_failures == 0
    finally:
        e.stop()


def run_hook(hookhost, write, emu, body, *args, env=None, event=None, secrets=True):
    """Run HEAD + BATCH + body (a script returning a function) with the emulators' environment.
    Returns (proc, outcome, elapsed seconds)."""
    script = write("hook.lua", HEAD + BATCH + body)
    ev = write("event.json", json.dumps(event or {}))
    full = dict(emu.env())
    full.update(env or {})
    full = {k: v for k, v in full.items() if v is not None}
    t0 = time.monotonic()
    p = hookhost("run", "--event", ev, *args, script, env=full)
    elapsed = time.monotonic() - t0
    if secrets:  # nothing secret in the logs, whatever happened
        assert DEFAULT_SECRET_KEY not in p.stderr and DEFAULT_SECRET_KEY not in p.stdout
        assert "Signature=" not in p.stderr.replace("Signature=***", "")
    return p, outcome(p), elapsed


def requests_of(emu, service, operation=None):
    return [r for r in emu.requests(service) if operation is None or r["operation"] == operation]


# ---- the happy paths --------------------------------------------------------------------------

def test_cloudfront_invalidation_with_rest_xml(hookhost, write, emu):
    p, o, _ = run_hook(hookhost, write, emu, """
return function(event, ctx)
  local status, doc, headers = invalidate("E2EXAMPLE123", "deploy-42")
  assert(status, tostring(doc))
  local id = xml.text(doc, "Id")
  local st2, got = aws.rest_xml{service = "cloudfront",
                               path = "/2020-05-31/distribution/E2EXAMPLE123/invalidation/" .. id}
  assert(st2, tostring(got))
  return {status = status, id = id, state = xml.text(doc, "Status"), root = doc.name,
          location = headers.location, got = xml.text(got, "Id")}
end
""")
    assert p.returncode == 0, p.stderr
    r = o["result"]
    assert r["status"] == 201 and r["root"] == "Invalidation" and r["state"] == "InProgress"
    assert r["got"] == r["id"]
    assert r["location"].endswith("/invalidation/" + r["id"])
    invs = emu.invalidations("E2EXAMPLE123")
    assert [i["Id"] for i in invs] == [r["id"]]
    assert invs[0]["CallerReference"] == "deploy-42" and invs[0]["Paths"] == ["/*"]


def test_codedeploy_json_get_deployment_and_report(hookhost, write, emu):
    dep = emu.seed_deployment()
    ex = emu.seed_hook_execution(dep, "AfterAllowTraffic")
    p, o, _ = run_hook(hookhost, write, emu, """
return function(event, ctx)
  local d = assert(aws.json("codedeploy", "CodeDeploy_20141006", "GetDeployment",
                            {deploymentId = event.dep}))
  local r, err = aws.json("codedeploy", "CodeDeploy_20141006",
                          "PutLifecycleEventHookExecutionStatus",
                          {deploymentId = event.dep, lifecycleEventHookExecutionId = event.ex,
                           status = "Succeeded"})
  assert(r, tostring(err))
  return {id = d.deploymentInfo.deploymentId, status = d.deploymentInfo.status,
          exec = r.lifecycleEventHookExecutionId}
end
""", event={"dep": dep, "ex": ex})
    assert p.returncode == 0, p.stderr
    assert o["result"]["id"] == dep and o["result"]["exec"] == ex
    assert [(r["execution_id"], r["status"]) for r in emu.reports(dep)] == [(ex, "Succeeded")]
    for r in requests_of(emu, "codedeploy"):
        assert r["signature"] == "ok"


# ---- errors -------------------------------------------------------------------------------------

def test_decoded_errors(hookhost, write, emu):
    dep = emu.seed_deployment()
    p, o, _ = run_hook(hookhost, write, emu, """
return function(event, ctx)
  local r, e1 = aws.json("codedeploy", "CodeDeploy_20141006", "PutLifecycleEventHookExecutionStatus",
                         {deploymentId = event.dep, lifecycleEventHookExecutionId = "nope",
                          status = "Succeeded"})
  assert(r == nil)
  local s, e2 = invalidate("ENOSUCHDIST", "ref-1")
  assert(s == nil)
  local ok, raised = pcall(error, e2)  -- error objects can be raised and print well
  return {json = errt(e1), xml = errt(e2), raised = tostring(raised), ok = ok}
end
""", event={"dep": dep})
    assert p.returncode == 0, p.stderr
    j, x = o["result"]["json"], o["result"]["xml"]
    assert j["code"] == "InvalidLifecycleEventHookExecutionIdException"
    assert j["status"] == 400 and j["retryable"] is False and j["attempts"] == 1
    assert j["request_id"] and j["message"]
    assert j["text"] == (f"InvalidLifecycleEventHookExecutionIdException: {j['message']} "
                         f"(HTTP 400, request id {j['request_id']})")
    assert x["code"] == "NoSuchDistribution" and x["status"] == 404 and x["attempts"] == 1
    assert x["message"] == "The specified distribution does not exist."
    assert x["request_id"] and x["retryable"] is False
    assert o["result"]["raised"].startswith("NoSuchDistribution: The specified distribution")
    assert o["result"]["ok"] is False


def test_an_unhandled_error_object_fails_the_hook_readably(hookhost, write, emu):
    p, o, _ = run_hook(hookhost, write, emu, """
return function(event, ctx)
  local s, err = invalidate("ENOSUCHDIST", "ref-1")
  error(err)
end
""")
    assert p.returncode == 1
    assert o["reason"] == "error" and o["error"].startswith("NoSuchDistribution: ")


# ---- retries and deadlines ----------------------------------------------------------------------

def test_retries_under_500s_and_throttling_succeed_within_the_deadline(hookhost, write, emu):
    dep = emu.seed_deployment()
    emu.inject_fault("http500", "codedeploy", "GetDeployment", count=2)
    emu.inject_fault("throttle", "cloudfront", "CreateInvalidation", count=2)
    p, o, elapsed = run_hook(hookhost, write, emu, """
return function(event, ctx)
  local t0 = ctx.remaining_ms()
  local d, err = aws.json("codedeploy", "CodeDeploy_20141006", "GetDeployment", {deploymentId = event.dep})
  assert(d, tostring(err))
  local t1 = ctx.remaining_ms()
  local s, doc = invalidate("E2EXAMPLE123", "retry-1")
  assert(s, tostring(doc))
  return {id = d.deploymentInfo.deploymentId, inv = xml.text(doc, "Id"),
          json_ms = t0 - t1, xml_ms = t1 - ctx.remaining_ms(), left = ctx.remaining_ms()}
end
""", "--timeout", "20", event={"dep": dep})
    assert p.returncode == 0, p.stderr
    r = o["result"]
    assert r["id"] == dep and r["inv"]
    gd = requests_of(emu, "codedeploy", "GetDeployment")
    assert [q["status"] for q in gd] == [500, 500, 200]
    ci = requests_of(emu, "cloudfront", "CreateInvalidation")
    assert [q["status"] for q in ci] == [400, 400, 201]
    # two backoffs each: rand * 1 s, then rand * 2 s, so at most 3 s per call
    assert r["json_ms"] < 3500 and r["xml_ms"] < 3500
    assert r["left"] > 0 and elapsed < 10
    assert len(emu.invalidations("E2EXAMPLE123")) == 1
    print(f"retry timings: json {r['json_ms']} ms, rest-xml {r['xml_ms']} ms, run {elapsed:.2f} s")


def test_a_persistent_fault_gives_up_after_max_attempts(hookhost, write, emu):
    dep = emu.seed_deployment()
    emu.inject_fault("http503", "codedeploy", "GetDeployment", count=100)
    p, o, _ = run_hook(hookhost, write, emu, """
return function(event, ctx)
  local d, err = aws.json("codedeploy", "CodeDeploy_20141006", "GetDeployment", {deploymentId = event.dep})
  assert(d == nil)
  return errt(err)
end
""", "--timeout", "20", event={"dep": dep})
    assert p.returncode == 0, p.stderr
    e = o["result"]
    assert e["code"] == "ServiceUnavailable" and e["status"] == 503 and e["retryable"] is True
    assert e["attempts"] == 3 and "3 attempts" in e["text"]
    assert len(requests_of(emu, "codedeploy", "GetDeployment")) == 3


def test_a_hanging_service_never_holds_the_hook_past_its_deadline(hookhost, write, emu):
    delay = emu.inject_fault("delay", "cloudfront", "CreateInvalidation", count=100, seconds=5)
    p, o, elapsed = run_hook(hookhost, write, emu, """
return function(event, ctx)
  local s, err = invalidate("E2EXAMPLE123", "slow-1")
  ctx.log.info("call ended", {code = err and err.code, attempts = err and err.attempts,
                              left = ctx.remaining_ms()})
  return errt(err)
end
""", "--timeout", "2")
    assert elapsed < 2.5, (elapsed, p.stderr)
    # the call returns its error at the hook's deadline; the script may or may not get to
    # log it and return it before the deadline hook stops it (on a loaded machine under the
    # sanitizers the kill can come first), but the hook never runs past its time
    if p.returncode == 0:
        assert o["result"]["code"] in ("Timeout", "DeadlineExceeded") and o["result"]["attempts"] >= 2
    else:
        assert o["reason"] == "timeout", o
    ended = '"code":"Timeout"' in p.stderr or '"code":"DeadlineExceeded"' in p.stderr
    assert ended or p.returncode != 0, p.stderr
    if ended:
        assert '"attempts":2' in p.stderr or '"attempts":3' in p.stderr, p.stderr
    # an attempt that may be retried gets at most half the time left, so a hung one leaves room
    # for another (on a new connection); the last one ends at the deadline, no retry after it
    # (the emulator records a delayed request only when it answers, 5 s later: count the uses
    # of the fault instead)
    assert 2 <= 100 - delay.count <= 3, 100 - delay.count
    print(f"hanging service: run ended after {elapsed:.2f} s with --timeout 2")


def test_backoff_that_would_pass_the_deadline_gives_up_at_once(hookhost, write, emu):
    emu.inject_fault("http500", "cloudfront", "CreateInvalidation", count=100)
    p, o, elapsed = run_hook(hookhost, write, emu, """
return function(event, ctx)
  local s, err = invalidate("E2EXAMPLE123", "busy-1")
  local e = errt(err)
  e.left = ctx.remaining_ms()
  return e
end
""", "--timeout", "2", env={"AWS_MAX_ATTEMPTS": "20"})
    assert p.returncode == 0, p.stderr  # the script got its error back in time and returned
    e = o["result"]
    assert e["code"] == "InternalError" and e["status"] == 500
    assert e["left"] >= 0 and elapsed < 2.5
    assert "no time left for another attempt" in e["message"]
    sent = requests_of(emu, "cloudfront", "CreateInvalidation")
    assert e["attempts"] == len(sent) and 1 <= len(sent) < 20
    print(f"busy service: gave up after {e['attempts']} attempts with {e['left']} ms left, "
          f"run {elapsed:.2f} s")


def test_max_attempts_1_disables_retries(hookhost, write, emu):
    emu.inject_fault("http500", "cloudfront", "CreateInvalidation", count=1)
    emu.inject_fault("throttle", "cloudfront", "GetInvalidation", count=1)
    p, o, _ = run_hook(hookhost, write, emu, """
return function(event, ctx)
  local s, err = invalidate("E2EXAMPLE123", "once-1")
  -- and per call: max_attempts overrides AWS_MAX_ATTEMPTS
  local s2, err2 = aws.rest_xml{service = "cloudfront", max_attempts = 1,
                                path = "/2020-05-31/distribution/E2EXAMPLE123/invalidation/X"}
  return {a = errt(err), b = errt(err2)}
end
""", env={"AWS_MAX_ATTEMPTS": "1"})
    assert p.returncode == 0, p.stderr
    a, b = o["result"]["a"], o["result"]["b"]
    assert a["code"] == "InternalError" and a["attempts"] == 1 and a["retryable"] is True
    assert b["code"] == "Throttling" and b["attempts"] == 1
    assert len(requests_of(emu, "cloudfront")) == 2


def test_expired_token_refreshes_credentials_and_retries_once(hookhost, write, emu):
    dep = emu.seed_deployment()
    emu.inject_fault("error", "codedeploy", "GetDeployment", count=1, status=400,
                     code="ExpiredTokenException", message="The security token included in the request is expired")
    p, o, _ = run_hook(hookhost, write, emu, """
return function(event, ctx)
  return assert(aws.json("codedeploy", "CodeDeploy_20141006", "GetDeployment", {deploymentId = event.dep}))
end
""", event={"dep": dep})
    assert p.returncode == 0, p.stderr
    assert [q["status"] for q in requests_of(emu, "codedeploy", "GetDeployment")] == [400, 200]
    assert "refreshing credentials" in p.stderr


# ---- connections, configuration, dry run, session tokens ---------------------------------------

def test_calls_in_one_hook_reuse_one_connection_per_host(hookhost, write, emu):
    dep = emu.seed_deployment()
    p, o, _ = run_hook(hookhost, write, emu, """
return function(event, ctx)
  local before = aws.connections()
  for i = 1, 5 do
    assert(aws.json("codedeploy", "CodeDeploy_20141006", "GetDeployment", {deploymentId = event.dep}))
  end
  local after_json = aws.connections()
  for i = 1, 3 do assert(invalidate("E2EXAMPLE123", "reuse-" .. i)) end
  return {before = before, after_json = after_json, after = aws.connections()}
end
""", event={"dep": dep})
    assert p.returncode == 0, p.stderr
    assert o["result"] == {"before": 0, "after_json": 1, "after": 2}
    assert len(requests_of(emu, "codedeploy")) == 5 and len(requests_of(emu, "cloudfront")) == 3


@pytest.mark.parametrize("url,why", [
    ("ftp://127.0.0.1:1", "http or https"),
    ("http://user@127.0.0.1:1", "user information"),
    ("http://127.0.0.1:99999", "port"),
    ("codedeploy.local", "not a URL"),
])
def test_bad_endpoint_url_is_a_clear_error(hookhost, write, emu, url, why):
    p, o, _ = run_hook(hookhost, write, emu, """
return function(event, ctx)
  local d, err = aws.json("codedeploy", "CodeDeploy_20141006", "GetDeployment", {deploymentId = "d-ABCDEFGH1"})
  return errt(err)
end
""", env={"AWS_ENDPOINT_URL_CODEDEPLOY": url})
    assert p.returncode == 0, p.stderr
    e = o["result"]
    assert e["code"] == "InvalidEndpoint" and e["attempts"] == 0 and e["status"] == 0
    assert e["message"].startswith("AWS_ENDPOINT_URL_CODEDEPLOY=") and why in e["message"]
    assert emu.requests("codedeploy") == []


def test_missing_region_and_bad_settings(hookhost, write, emu):
    body = """
return function(event, ctx)
  local d, err = aws.json("codedeploy", "CodeDeploy_20141006", "GetDeployment", {deploymentId = "d-ABCDEFGH1"})
  return errt(err)
end
"""
    p, o, _ = run_hook(hookhost, write, emu, body, env={"AWS_REGION": None, "HOME": "/nonexistent"})
    assert o["result"]["code"] == "MissingRegion" and "AWS_REGION" in o["result"]["message"]
    p, o, _ = run_hook(hookhost, write, emu, body, env={"AWS_MAX_ATTEMPTS": "lots"})
    assert o["result"]["code"] == "InvalidConfiguration"
    assert "AWS_MAX_ATTEMPTS" in o["result"]["message"]
    assert emu.requests("codedeploy") == []


def test_dry_run_sends_nothing(hookhost, write, emu):
    p, o, _ = run_hook(hookhost, write, emu, """
return function(event, ctx)
  local d = aws.json("codedeploy", "CodeDeploy_20141006", "GetDeployment", {deploymentId = "d-ABCDEFGH1"})
  local status, x = invalidate("E2EXAMPLE123", "dry-1")
  local st, h, b, raw = aws.request{service = "sts", method = "POST", query = {Action = "GetCallerIdentity"}}
  return {json = d, xml_status = status, xml = x, raw = raw, st = st}
end
""", "--dry-run")
    assert p.returncode == 0, p.stderr
    r = o["result"]
    # every answer is a success whose result is the (empty) placeholder
    assert r["json"] == {} and r["xml_status"] == 200 and r["xml"] == {} and r["st"] == 200
    n = len('{"deploymentId":"d-ABCDEFGH1"}')
    assert ("dry run: not sent: codedeploy GetDeployment POST " + emu.codedeploy_url
            + "/ (%d bytes)" % n) in p.stderr
    assert ("dry run: not sent: cloudfront POST " + emu.cloudfront_url
            + "/2020-05-31/distribution/E2EXAMPLE123/invalidation") in p.stderr
    # the AWS default endpoint; the query stays out of the line
    assert "dry run: not sent: sts POST https://sts.us-east-1.amazonaws.com/ (0 bytes)" in p.stderr
    assert emu.requests() == []


def test_session_token(hookhost, write, tmp_path):
    token = "FwoGZXIvYXdzEXAMPLE-session-token-0123456789abcdef"
    with Emulators.start(session_token=token) as emu:
        dep = emu.seed_deployment()
        body = """
return function(event, ctx)
  local d, err = aws.json("codedeploy", "CodeDeploy_20141006", "GetDeployment", {deploymentId = event.dep})
  local s, doc = invalidate("E2EXAMPLE123", "tok-1")
  return {d = d and d.deploymentInfo.deploymentId, err = err and errt(err),
          inv = s and xml.text(doc, "Id"), xerr = not s and errt(doc) or nil}
end
"""
        p, o, _ = run_hook(hookhost, write, emu, body, event={"dep": dep})
        assert p.returncode == 0, p.stderr
        assert o["result"]["d"] == dep and o["result"]["inv"], o
        assert emu.signature_failures == 0
        assert token not in p.stderr and token not in p.stdout
        # a wrong token is refused, and the refusal decoded
        p, o, _ = run_hook(hookhost, write, emu, body, event={"dep": dep},
                           env={"AWS_SESSION_TOKEN": token + "x"})
        assert o["result"]["err"]["code"] == "UnrecognizedClientException"
        assert o["result"]["err"]["status"] == 403 and o["result"]["err"]["attempts"] == 1
        assert o["result"]["xerr"]["code"] == "InvalidClientTokenId"
        assert emu.signature_failures == 2


# ---- the query protocol, against botocore's serializer ------------------------------------------

def _botocore_query_pairs(service, operation, params):
    import botocore.session
    from botocore import serialize
    model = botocore.session.get_session().get_service_model(service)
    op = model.operation_model(operation)
    req = serialize.create_serializer("query").serialize_to_request(params, op)
    return sorted((k, str(v)) for k, v in req["body"].items())


def test_query_flattening_matches_botocore(hookhost, write, emu):
    p, o, _ = run_hook(hookhost, write, emu, """
return function(event, ctx)
  return {
    cw = aws.query_body("PutMetricData", "2010-08-01", {
      Namespace = "Deploy",
      MetricData = {
        {MetricName = "Hooks", Value = 1, Unit = "Count",
         Dimensions = {{Name = "Hook", Value = "AfterAllowTraffic"}, {Name = "App", Value = "web & api"}}},
        {MetricName = "Latency", Value = 12.5},
      },
    }),
    sns = aws.query_body("Publish", "2010-03-31", {
      TopicArn = "arn:aws:sns:us-east-1:123456789012:deploys",
      Message = "done: 100% ~ ok",
      MessageAttributes = aws.map({hook = {DataType = "String", StringValue = "AfterAllowTraffic"},
                                   count = {DataType = "Number", StringValue = "3"}}, "Name", "Value"),
    }),
    empty = aws.query_body("DescribeAlarms", "2010-08-01", {AlarmNames = {}, ActionPrefix = "x"}),
  }
end
""")
    assert p.returncode == 0, p.stderr
    r = o["result"]

    def pairs(body):
        return sorted(urllib.parse.parse_qsl(body, keep_blank_values=True))

    assert pairs(r["cw"]) == _botocore_query_pairs("cloudwatch", "PutMetricData", {
        "Namespace": "Deploy",
        "MetricData": [
            {"MetricName": "Hooks", "Value": 1, "Unit": "Count",
             "Dimensions": [{"Name": "Hook", "Value": "AfterAllowTraffic"},
                            {"Name": "App", "Value": "web & api"}]},
            {"MetricName": "Latency", "Value": 12.5}]})
    assert r["cw"].startswith("Action=PutMetricData&Version=2010-08-01&")
    assert pairs(r["sns"]) == _botocore_query_pairs("sns", "Publish", {
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:deploys", "Message": "done: 100% ~ ok",
        # entries are numbered in key order: aws.map sorts, botocore keeps the dict's order
        "MessageAttributes": {"count": {"DataType": "Number", "StringValue": "3"},
                              "hook": {"DataType": "String", "StringValue": "AfterAllowTraffic"}}})
    assert pairs(r["empty"]) == _botocore_query_pairs("cloudwatch", "DescribeAlarms",
                                                      {"AlarmNames": [], "ActionPrefix": "x"})


def test_query_protocol_against_sns_and_cloudwatch(hookhost, write, emu):
    topic = "arn:aws:sns:us-east-1:123456789012:deploys"
    gone = "arn:aws:sns:us-east-1:123456789012:gone"
    emu.seed_topic(gone, exists=False)
    emu.seed_alarm("web-5xx", state="ALARM", reason="Threshold crossed")
    emu.seed_alarm("web-latency")
    emu.inject_fault("throttle", "sns", "Publish", count=1)
    p, o, _ = run_hook(hookhost, write, emu, """
return function(event, ctx)
  local pub, err = aws.query("sns", "Publish", "2010-03-31", {
    TopicArn = event.topic, Subject = "deployed", Message = "AfterAllowTraffic done: 100% & <ok>",
    MessageAttributes = aws.map({hook = {DataType = "String", StringValue = "AfterAllowTraffic"}},
                                "Name", "Value")})
  assert(pub, tostring(err))
  local alarms = assert(aws.query("cloudwatch", "DescribeAlarms", "2010-08-01",
                                  {AlarmNames = {"web-5xx", "web-latency", "nope"}}))
  local states = {}
  for _, m in ipairs(xml.find_all(alarms, "DescribeAlarmsResult/MetricAlarms/member")) do
    states[xml.text(m, "AlarmName")] = xml.text(m, "StateValue")
  end
  local none, e2 = aws.query("sns", "Publish", "2010-03-31", {TopicArn = event.gone, Message = "x"})
  return {id = xml.text(pub, "PublishResult/MessageId"), states = states, err = errt(e2)}
end
""", event={"topic": topic, "gone": gone})
    assert p.returncode == 0, p.stderr
    r = o["result"]
    msgs = emu.published(topic)
    assert len(msgs) == 1 and msgs[0]["MessageId"] == r["id"]
    assert msgs[0]["Message"] == "AfterAllowTraffic done: 100% & <ok>"
    assert msgs[0]["Subject"] == "deployed"
    assert msgs[0]["MessageAttributes"] == {
        "hook": {"DataType": "String", "StringValue": "AfterAllowTraffic"}}
    assert [q["status"] for q in requests_of(emu, "sns", "Publish")][:2] == [400, 200]
    assert r["states"] == {"web-5xx": "ALARM", "web-latency": "OK"}
    assert r["err"]["code"] == "NotFound" and r["err"]["status"] == 404 and r["err"]["request_id"]


def test_bad_arguments_raise(hookhost, write, emu):
    cases = {
        "aws.request{}": "'service' is required",
        "aws.request{service = 'sns', method = 'get'}": "'method' must be an upper-case",
        "aws.request{service = 'sns', path = 'x'}": "'path' must start with '/'",
        "aws.request{service = 'sns', headers = {['X-A'] = 'a\\r\\nB: c'}}": "holds a line break",
        "aws.request{service = 'sns', headers = {['Bad Name'] = 'v'}}": "bad header name",
        "aws.request{service = 'sns', max_attempts = 0}": "'max_attempts' must be an integer",
        "aws.request{service = 'sns', query = {a = {}, b = function() end}}": "must be a string, number or boolean",
        "aws.json('codedeploy', 'X', 'Y', {}, {json_version = '2.0'})": "json_version",
        "aws.query_body('A', 'V', {1, 2})": "params must be a table with string keys",
        "aws.query_body('A', 'V', {x = {1, y = 2}})": "either a list or has string keys",
        "aws.xml_escape('a\\1b')": "control characters",
    }
    body = "return function()\n  local out = {}\n"
    for i, (expr, _) in enumerate(cases.items()):
        body += f"  out[{i + 1}] = select(2, pcall(function() return {expr} end))\n"
    body += "  return out\nend\n"
    p, o, _ = run_hook(hookhost, write, emu, body)
    assert p.returncode == 0, p.stderr
    got = o["result"]
    for i, (expr, want) in enumerate(cases.items()):
        assert want in str(got[i]), (expr, got[i])
    assert emu.requests() == []


def test_xml_escape_and_raw_request(hookhost, write, emu):
    p, o, _ = run_hook(hookhost, write, emu, """
return function(event, ctx)
  local st, h, body = aws.request{service = "cloudfront", method = "GET",
                                  path = "/2020-05-31/distribution/E2EXAMPLE123/invalidation",
                                  query = {MaxItems = 5}, headers = {["X-Trace"] = "t1"}}
  return {esc = aws.xml_escape([[<a href="x">Tom & 'Jerry'</a>]]), st = st,
          ctype = h["content-type"], has_list = body:find("InvalidationList", 1, true) ~= nil}
end
""")
    assert p.returncode == 0, p.stderr
    r = o["result"]
    assert r["esc"] == "&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;"
    assert r["st"] == 200 and r["has_list"] and "xml" in r["ctype"]
    q = requests_of(emu, "cloudfront", "ListInvalidations")
    assert len(q) == 1 and q[0]["signature"] == "ok"
