"""The hook library (lua/hookhost/*.lua and hookhost.http.core) end to end: Lua scripts run by
`hookhost run` against the emulators, which verify every SigV4 signature with botocore, and
against a local http.server for hookhost.http. Every test with the emulators ends with zero
signature failures.

A script run with a CodeDeploy event (DeploymentId + LifecycleEventHookExecutionId) gets a ctx
tied to that hook execution, and `hookhost run` then reports its status to the emulated CodeDeploy
like the runtime does; plain events ({}) have no hook execution and no report.
"""
import http.server
import json
import pathlib
import re
import threading
import time

import pytest

from emulators import Emulators
from runtime import outcome

DIST = "E2EXAMPLE123"
TOPIC = "arn:aws:sns:us-east-1:123456789012:deployments"

HEAD = """
local cloudfront = require("hookhost.cloudfront")
local codedeploy = require("hookhost.codedeploy")
local cloudwatch = require("hookhost.cloudwatch")
local sns = require("hookhost.sns")
local http = require("hookhost.http")
local core = require("hookhost.http.core")
local function errt(err)
  if type(err) ~= "table" then return err end
  return {code = err.code, message = err.message, status = err.status, attempts = err.attempts,
          text = tostring(err)}
end
local function catch(f, ...)
  local ok, e = pcall(f, ...)
  if ok then return "no error" end
  return tostring(e)
end
"""


@pytest.fixture
def emu():
    e = Emulators.start(invalidation_seconds=0.3)
    try:
        yield e
        assert e.signature_failures == 0
    finally:
        e.stop()


@pytest.fixture
def lua(run_lua):
    """lua(emu, body, *args, event=None, env=None) -> (proc, outcome, seconds): run HEAD + body
    (a chunk returning a hook function) with the emulators' environment (emu may be None)."""

    def run(emu, body, *args, event=None, env=None):
        full = dict(emu.env()) if emu else {}
        full.update(env or {})
        r = run_lua(HEAD + body, *args, event=event, env=full)
        return r.proc, r.outcome, r.seconds

    return run


def hook_event(emu, lifecycle_event="AfterAllowTraffic"):
    dep = emu.seed_deployment()
    ex = emu.seed_hook_execution(dep, lifecycle_event)
    return {"DeploymentId": dep, "LifecycleEventHookExecutionId": ex}


def ops(emu, service, operation=None):
    return [r for r in emu.requests(service) if operation in (None, r["operation"])]


# ---- hookhost.cloudfront ------------------------------------------------------------------------

INVALIDATE = """
return function(event, ctx)
  local inv, err = cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/*"}, ctx = ctx}
  if not inv then return {err = errt(err)} end
  return inv
end
"""


def test_invalidate_in_a_hook_derives_the_caller_reference(emu, lua):
    ev = hook_event(emu)
    p, o, _ = lua(emu, INVALIDATE, event=ev)
    assert p.returncode == 0, p.stderr
    r = o["result"]
    assert r["status"] == "InProgress" and r["id"] and r["create_time"]
    assert r["location"].endswith("/2020-05-31/distribution/E2EXAMPLE123/invalidation/" + r["id"])
    assert re.fullmatch(r"hookhost-" + ev["DeploymentId"] + r"-[0-9a-f]{32}", r["caller_reference"])
    assert len(r["caller_reference"]) <= 128 and r["tries"] == 1
    (inv,) = emu.invalidations(DIST)
    assert inv["CallerReference"] == r["caller_reference"] and inv["Paths"] == ["/*"]
    # the same hook execution again (a redelivery to another process): the same invalidation
    p, o2, _ = lua(emu, INVALIDATE, event=ev)
    assert o2["result"]["id"] == r["id"] and len(emu.invalidations()) == 1
    assert [x["status"] for x in emu.reports(ev["DeploymentId"])] == ["Succeeded"]
    # another execution of the same deployment: another reference
    ev2 = {"DeploymentId": ev["DeploymentId"],
           "LifecycleEventHookExecutionId": emu.seed_hook_execution(ev["DeploymentId"])}
    p, o3, _ = lua(emu, INVALIDATE, event=ev2)
    assert o3["result"]["id"] != r["id"] and len(emu.invalidations()) == 2


def test_outside_a_hook_every_call_is_a_new_invalidation(emu, lua):
    ids = set()
    for _ in range(2):
        p, o, _ = lua(emu, INVALIDATE)
        assert p.returncode == 0, p.stderr
        assert re.fullmatch(r"hookhost-\d+-[0-9a-f]{16}", o["result"]["caller_reference"])
        ids.add(o["result"]["id"])
    assert len(ids) == 2 and len(emu.invalidations()) == 2


def test_ecs_native_invalidations_are_keyed_by_revision_and_stage(emu, lua):
    body = """
return function(event, ctx)
  assert(cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/*"}, ctx = ctx, event = event})
end
"""
    def ecs(rev, stage="POST_PRODUCTION_TRAFFIC_SHIFT"):
        return {"executionDetails": {"serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/c/web",
                                     "targetServiceRevisionArn": rev, "lifecycleStage": stage}}
    for ev in (ecs("arn:rev/1"), ecs("arn:rev/1"), ecs("arn:rev/2"), ecs("arn:rev/2", "POST_TEST_TRAFFIC_SHIFT")):
        p, o, _ = lua(emu, body, event=ev)
        assert p.returncode == 0, p.stderr + p.stdout
    refs = [i["CallerReference"] for i in emu.invalidations()]
    assert len(refs) == 3 and all(re.fullmatch(r"hookhost-ecs-[0-9a-f]{40}", r) for r in refs)


def test_paths_are_xml_escaped_and_the_quantity_matches(emu, lua):
    p, o, _ = lua(emu, """
return function(event, ctx)
  local paths = {"/a&b/<c>.html", "/q'\\"x", "/caf%C3%A9/*", "/plain"}
  local inv = assert(cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = paths,
                                           caller_reference = "ref-<&>"})
  return inv
end
""")
    assert p.returncode == 0, p.stderr
    (inv,) = emu.invalidations()
    assert inv["Paths"] == ["/a&b/<c>.html", "/q'\"x", "/caf%C3%A9/*", "/plain"]
    assert inv["CallerReference"] == "ref-<&>"
    assert o["result"]["paths"] == inv["Paths"]


def test_arguments_are_validated_before_anything_is_sent(emu, lua):
    p, o, _ = lua(emu, """
return function()
  local function inv(t) return catch(cloudfront.invalidate, t) end
  local many, stars = {}, {}
  for i = 1, 3001 do many[i] = "/f" .. i end
  for i = 1, 16 do stars[i] = "/d" .. i .. "/*" end
  return {
    no_dist = inv{paths = {"/*"}},
    lower = inv{distribution = "e2example123", paths = {"/*"}},
    url_trick = inv{distribution = "E2/../X", paths = {"/*"}},
    no_paths = inv{distribution = "E2EXAMPLE123"},
    empty = inv{distribution = "E2EXAMPLE123", paths = {}},
    no_slash = inv{distribution = "E2EXAMPLE123", paths = {"index.html"}},
    mid_star = inv{distribution = "E2EXAMPLE123", paths = {"/a*/b"}},
    long = inv{distribution = "E2EXAMPLE123", paths = {"/" .. string.rep("x", 4000)}},
    max_len = #string.rep("x", 3999),
    many = inv{distribution = "E2EXAMPLE123", paths = many},
    stars = inv{distribution = "E2EXAMPLE123", paths = stars},
    ctrl = inv{distribution = "E2EXAMPLE123", paths = {"/a\\nb"}},
    ref = inv{distribution = "E2EXAMPLE123", paths = {"/*"}, caller_reference = string.rep("r", 129)},
    get = catch(cloudfront.get_invalidation, "E2EXAMPLE123", "../x"),
  }
end
""")
    r = o["result"]
    assert "distribution is required" in r["no_dist"] and "E2EXAMPLE123" in r["no_dist"]
    assert "is not a CloudFront distribution id" in r["lower"]
    assert "is not a CloudFront distribution id" in r["url_trick"]
    assert "paths must be a non-empty list" in r["no_paths"] and "paths must be" in r["empty"]
    assert "must start with /" in r["no_slash"]
    assert "only be the last character" in r["mid_star"]
    assert "4001 characters long; CloudFront takes at most 4000" in r["long"]
    assert "3001 paths: CloudFront takes at most 3000" in r["many"]
    assert "16 wildcard paths: CloudFront allows at most 15" in r["stars"]
    assert "control character" in r["ctrl"] and "caller_reference must be" in r["ref"]
    assert "invalidation id" in r["get"]
    assert emu.requests("cloudfront") == []


@pytest.mark.parametrize("max_attempts, tries", [("3", 1), ("1", 2)])
def test_apply_then_fail_creates_one_invalidation(emu, lua, max_attempts, tries):
    """The 500 after the invalidation took effect is retried with the same CallerReference: by
    hookhost.aws (standard mode), or by the module itself when AWS_MAX_ATTEMPTS=1."""
    emu.inject_fault("apply_then_fail", "cloudfront", "CreateInvalidation")
    ev = hook_event(emu)
    p, o, _ = lua(emu, INVALIDATE, event=ev, env={"AWS_MAX_ATTEMPTS": max_attempts})
    assert p.returncode == 0, p.stderr
    assert o["result"]["tries"] == tries
    (inv,) = emu.invalidations()
    assert inv["Id"] == o["result"]["id"]
    assert [r["status"] for r in ops(emu, "cloudfront", "CreateInvalidation")] == [500, 201]


def test_too_many_invalidations_in_progress_then_success(emu, lua):
    emu.inject_fault("error", "cloudfront", "CreateInvalidation", count=2, status=400,
                     code="TooManyInvalidationsInProgress", message="Processing your request")
    p, o, secs = lua(emu, INVALIDATE)
    assert p.returncode == 0, p.stderr
    assert o["result"]["status"] == "InProgress" and o["result"]["tries"] == 3
    assert len(emu.invalidations()) == 1
    assert [r["status"] for r in ops(emu, "cloudfront", "CreateInvalidation")] == [400, 400, 201]


def test_too_many_invalidations_gives_up_within_the_hooks_time(emu, lua):
    emu.inject_fault("error", "cloudfront", "CreateInvalidation", count=1000, status=400,
                     code="TooManyInvalidationsInProgress", message="Processing your request")
    p, o, secs = lua(emu, INVALIDATE, "--timeout", "4")
    assert p.returncode == 0 and o["status"] == "Succeeded", p.stderr  # the script returned err
    e = o["result"]["err"]
    assert e["code"] == "TooManyInvalidationsInProgress" and "gave up after" in e["message"]
    assert "the hook's time ran out" in e["message"]
    assert secs < 4 and len(ops(emu, "cloudfront")) >= 2
    p, o, secs = lua(emu, """
return function()
  local inv, err = cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/*"},
                                         max_wait_ms = 1500}
  return {err = errt(err)}
end
""")
    assert "max_wait_ms 1500 reached" in o["result"]["err"]["message"] and secs < 3


def test_throttling_past_the_cores_retries_is_waited_out(emu, lua):
    emu.inject_fault("throttle", "cloudfront", "CreateInvalidation", count=4)
    p, o, _ = lua(emu, INVALIDATE)
    assert p.returncode == 0, p.stderr
    assert o["result"]["tries"] == 2 and len(emu.invalidations()) == 1
    assert [r["status"] for r in ops(emu, "cloudfront")] == [400, 400, 400, 400, 201]


def test_invalidation_batch_already_exists_is_explained(emu, lua):
    p, o, _ = lua(emu, """
return function()
  assert(cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/a"}, caller_reference = "r1"})
  local again = assert(cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/a"},
                                             caller_reference = "r1"})
  local inv, err = cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/b"},
                                         caller_reference = "r1"}
  return {again = again.id, inv = inv, err = errt(err)}
end
""")
    r = o["result"]
    assert r.get("inv") is None
    e = r["err"]
    assert e["code"] == "InvalidationBatchAlreadyExists" and e["status"] == 409
    assert 'CallerReference "r1" was already used on distribution E2EXAMPLE123' in e["message"]
    assert "other paths than /b" in e["message"] and "another caller_reference" in e["message"]
    assert e["text"].startswith("InvalidationBatchAlreadyExists: ")
    assert len(emu.invalidations()) == 1


def test_errors_of_the_service_come_back_as_error_objects(emu, lua):
    p, o, _ = lua(emu, """
return function()
  local inv, err = cloudfront.invalidate{distribution = "ENOSUCHDIST", paths = {"/*"}}
  local g, gerr = cloudfront.get_invalidation("E2EXAMPLE123", "INOSUCH")
  return {inv = inv, err = errt(err), gerr = errt(gerr)}
end
""")
    r = o["result"]
    assert r["err"]["code"] == "NoSuchDistribution" and r["err"]["status"] == 404
    assert r["gerr"]["code"] == "NoSuchInvalidation"


def test_get_and_wait_invalidation(emu, lua):
    p, o, _ = lua(emu, """
return function(event, ctx)
  local inv = assert(cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/x", "/y/*"}})
  local got = assert(cloudfront.get_invalidation("E2EXAMPLE123", inv.id))
  local done = assert(cloudfront.wait_invalidation("E2EXAMPLE123", inv.id, {interval_ms = 100}))
  local waited = assert(cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/z"},
                                              wait = {interval_ms = 50}, ctx = ctx})
  return {got = got, done = done, waited = waited}
end
""")
    assert p.returncode == 0, p.stderr
    r = o["result"]
    assert r["got"]["status"] == "InProgress" and r["got"]["paths"] == ["/x", "/y/*"]
    assert r["done"]["status"] == "Completed" and r["done"]["polls"] >= 2
    assert 200 <= r["done"]["waited_ms"] < 2000
    assert r["waited"]["status"] == "Completed" and r["waited"]["waited_ms"] >= 200


def test_wait_stops_at_its_timeout_and_before_the_hooks_time(lua):
    with Emulators.start(invalidation_seconds=60) as slow:
        p, o, secs = lua(slow, """
return function(event, ctx)
  local inv = assert(cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/*"}})
  local t0 = core.now_ms()
  local d, err = cloudfront.wait_invalidation("E2EXAMPLE123", inv.id, {timeout_ms = 700, interval_ms = 200})
  local short = core.now_ms() - t0
  local d2, err2 = cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/a"}, wait = true, ctx = ctx}
  return {err = errt(err), short = short, err2 = errt(err2), left = ctx.remaining_ms()}
end
""", "--timeout", "4")
        assert slow.signature_failures == 0
    assert p.returncode == 0, p.stderr
    r = o["result"]
    assert r["err"]["code"] == "WaitTimeout" and "the 700 ms wait limit" in r["err"]["message"]
    assert 600 <= r["short"] < 1200
    assert r["err2"]["code"] == "WaitTimeout" and "still InProgress" in r["err2"]["message"]
    assert "the hook's time" in r["err2"]["message"] and r["left"] > 0
    assert secs < 4


def test_dry_run_sends_nothing(emu, lua):
    p, o, _ = lua(emu, INVALIDATE, "--dry-run")
    assert p.returncode == 0, p.stderr
    assert o["result"]["status"] == "DryRun" and o["result"]["id"] == "dry-run"
    assert o["result"]["dry_run"] is True
    # the client names the service by its model's service id
    assert "dry run: not sent: CloudFront CreateInvalidation POST " in p.stderr
    assert emu.requests("cloudfront") == []


# ---- hookhost.codedeploy ------------------------------------------------------------------------

def test_codedeploy_reads(emu, lua):
    ev = hook_event(emu, "AfterAllowTestTraffic")
    p, o, _ = lua(emu, """
return function(event, ctx)
  local d = assert(codedeploy.get_deployment(ctx.deployment_id))
  local ids = assert(codedeploy.list_deployment_targets(ctx.deployment_id))
  local t = assert(codedeploy.get_deployment_target(ctx.deployment_id, ids[1]))
  local current, on = codedeploy.current_lifecycle_event(ctx.deployment_id)
  local missing, merr = codedeploy.get_deployment("d-NOSUCH123")
  return {app = d.applicationName, ids = ids, type = t.deploymentTargetType,
          events = #codedeploy.lifecycle_events(t), current = current, on = on,
          merr = errt(merr), bad = catch(codedeploy.get_deployment, "../x")}
end
""", event=ev)
    assert p.returncode == 0, p.stderr
    r = o["result"]
    assert r["app"] == "hookhost-app" and r["ids"] == ["hookhost-cluster:hookhost-service"]
    assert r["type"] == "ECSTarget" and r["events"] == 9
    assert r["current"] == "AfterAllowTestTraffic" and r["on"] == ["hookhost-cluster:hookhost-service"]
    assert r["merr"]["code"] == "DeploymentDoesNotExistException"
    assert "is not a CodeDeploy deployment id" in r["bad"]


CURRENT = """
return function(event)
  local name, err = codedeploy.current_lifecycle_event(event.dep)
  return {name = name, err = errt(err)}
end
"""


def test_current_lifecycle_event_none_or_several(emu, lua):
    dep = emu.seed_deployment()  # every event Pending
    p, o, _ = lua(emu, CURRENT, event={"dep": dep})
    e = o["result"]["err"]
    assert e["code"] == "NoLifecycleEvent" and "no hook-able lifecycle event is InProgress" in e["message"]
    assert dep in e["message"] and "_HANDLER" in e["message"]
    # Install is InProgress: not a hook-able event
    with emu.codedeploy.lock:
        emu.codedeploy.deployments[dep]["events"]["Install"] = "InProgress"
    p, o, _ = lua(emu, CURRENT, event={"dep": dep})
    assert o["result"]["err"]["code"] == "NoLifecycleEvent"
    with emu.codedeploy.lock:
        emu.codedeploy.deployments[dep]["events"]["BeforeInstall"] = "InProgress"
        emu.codedeploy.deployments[dep]["events"]["AfterInstall"] = "InProgress"
    p, o, _ = lua(emu, CURRENT, event={"dep": dep})
    e = o["result"]["err"]
    assert e["code"] == "AmbiguousLifecycleEvent" and "BeforeInstall, AfterInstall" in e["message"]


def test_put_status(emu, lua):
    dep = emu.seed_deployment()
    ex = emu.seed_hook_execution(dep, "BeforeAllowTraffic")
    p, o, _ = lua(emu, """
return function(event)
  local ok = codedeploy.put_status(event.dep, event.ex, "Succeeded")
  local again, err = codedeploy.put_status(event.dep, event.ex, "Failed")
  return {ok = ok, again = again, err = errt(err),
          bad = catch(codedeploy.put_status, event.dep, event.ex, "Done")}
end
""", event={"dep": dep, "ex": ex})
    r = o["result"]
    assert r["ok"] is True and r.get("again") is None
    assert r["err"]["code"] == "LifecycleEventAlreadyCompletedException"
    assert "Succeeded" in r["bad"] and "Failed" in r["bad"]
    assert [x["status"] for x in emu.reports(dep)] == ["Succeeded"]


# ---- hookhost.cloudwatch ------------------------------------------------------------------------

GATE = """
return function(event)
  local ok, detail, alarms = cloudwatch.check_alarms(event)
  local names = {}
  for i, a in ipairs(type(detail) == "table" and detail or alarms or {}) do names[i] = a.name end
  return {ok = ok, message = type(detail) ~= "table" and detail or nil, names = names,
          err = ok == nil and errt(detail) or nil}
end
"""


def test_alarm_gate(emu, lua):
    emu.seed_alarm("api-5xx", "OK")
    emu.seed_alarm("api-latency", "OK")
    emu.seed_alarm("db-cpu", "INSUFFICIENT_DATA")
    p, o, _ = lua(emu, GATE, event={"names": ["api-5xx", "api-latency", "db-cpu"]})
    assert o["result"]["ok"] is True and o["result"]["names"] == ["api-5xx", "api-latency", "db-cpu"]
    emu.seed_alarm("api-latency", "ALARM", reason="Threshold Crossed: 1 datapoint [2.5] > 1.0")
    p, o, _ = lua(emu, GATE, event={"names": ["api-5xx", "api-latency"]})
    r = o["result"]
    assert r["ok"] is False
    assert r["message"] == ("1 alarm in ALARM: api-latency (ALARM: Threshold Crossed: 1 datapoint "
                            "[2.5] > 1.0)")
    p, o, _ = lua(emu, GATE, event={"prefix": "db-", "insufficient_data": "fail"})
    assert o["result"]["ok"] is False and "db-cpu (INSUFFICIENT_DATA" in o["result"]["message"]
    # a name that does not exist closes the gate unless ignored
    p, o, _ = lua(emu, GATE, event={"names": ["api-5xx", "api-typo"]})
    assert o["result"]["ok"] is False and o["result"]["message"].startswith("1 alarm not found: api-typo (")
    p, o, _ = lua(emu, GATE, event={"names": ["api-5xx", "api-typo"], "missing": "ignore"})
    assert o["result"]["ok"] is True
    p, o, _ = lua(emu, GATE, event={"prefix": "nothing-"})
    assert o["result"]["ok"] is True and not o["result"]["names"]
    p, o, _ = lua(emu, "return function() return catch(cloudwatch.check_alarms, {}) end")
    assert "give names" in o["result"]


VERDICTS = """
return function(event)
  local ok, detail, alarms = cloudwatch.check_alarms(event)
  alarms = type(detail) == "table" and detail or alarms
  local v = {}
  for _, a in ipairs(alarms) do v[a.name] = a.verdict end
  for _, a in ipairs(alarms.missing) do v[a.name] = a.verdict end
  return {ok = ok, verdicts = v, found = #alarms}
end
"""


def test_alarm_gate_gives_a_verdict_per_alarm(emu, lua):
    """A missing alarm and one in ALARM are told apart without parsing the message: each alarm
    found has a verdict, and alarms.missing lists the named ones CloudWatch did not return."""
    emu.seed_alarm("api-5xx", "ALARM")
    emu.seed_alarm("api-latency", "OK")
    emu.seed_alarm("db-cpu", "INSUFFICIENT_DATA")
    names = ["api-5xx", "api-latency", "db-cpu", "api-typo"]
    p, o, _ = lua(emu, VERDICTS, event={"names": names})
    assert o["result"] == {"ok": False, "found": 3, "verdicts": {
        "api-5xx": "in_alarm", "api-latency": "ok", "db-cpu": "insufficient_data",
        "api-typo": "missing"}}, p.stderr
    emu.seed_alarm("api-5xx", "OK")
    p, o, _ = lua(emu, VERDICTS, event={"names": names, "missing": "ignore"})
    assert o["result"]["ok"] is True and o["result"]["verdicts"]["api-typo"] == "missing"


def test_alarm_gate_pages_names_prefix_and_composites(emu, lua):
    for i in range(230):
        emu.seed_alarm(f"web-{i:03d}", "OK")
    emu.seed_alarm("web-229", "ALARM")
    emu.seed_alarm("web-health", "ALARM", composite=True)
    emu.seed_alarm("other", "ALARM")
    names = [f"web-{i:03d}" for i in range(150)] + ["other"]
    p, o, _ = lua(emu, GATE, event={"names": names, "prefix": "web-"})
    r = o["result"]
    assert r["ok"] is False and len(r["names"]) == 232
    assert r["message"].startswith("3 alarms in ALARM: ")
    for n in ("other", "web-229", "web-health"):
        assert n in r["message"]
    calls = ops(emu, "cloudwatch", "DescribeAlarms")
    assert len(calls) == 2 + 3  # names in 2 groups of at most 100; the prefix in 3 pages of 100


def test_alarm_gate_fails_closed_when_a_named_alarm_is_missing_from_the_answer(emu, lua, hookhost, write):
    """A DescribeAlarms permission narrower than "*" makes CloudWatch leave composite alarms out of
    its answer: a named one in ALARM then closes the gate as "not found", saying why it may be
    missing, instead of opening it. (Matched by a prefix only, it cannot be missed: that is why
    the CDK stack grants the gate DescribeAlarms on "*", tests/dist/test_cdk.py.)"""
    emu.seed_alarm("api-5xx", "OK")
    emu.seed_alarm("web-health", "ALARM", composite=True)
    p, o, _ = lua(emu, GATE, event={"names": ["api-5xx", "web-health"]})
    assert o["result"]["ok"] is False and "web-health (ALARM" in o["result"]["message"]
    emu.cloudwatch.composites_visible = False
    p, o, _ = lua(emu, GATE, event={"names": ["api-5xx", "web-health"]})
    r = o["result"]
    assert r["ok"] is False and r["names"] == ["api-5xx"]
    assert r["message"] == ('1 alarm not found: web-health (a composite alarm is returned only when '
                            'cloudwatch:DescribeAlarms is allowed on Resource "*")')
    # The shipped gate script reports Failed with that message.
    ev = hook_event(emu, "BeforeAllowTraffic")
    script = pathlib.Path(__file__).resolve().parents[2] / "lua" / "hooks" / "BeforeAllowTraffic.lua"
    p = hookhost("run", "--event", write("gate-event.json", json.dumps(ev)), str(script),
                 env={**emu.env(), "ALARM_NAMES": "api-5xx,web-health"})
    assert p.returncode == 1
    assert [x["status"] for x in emu.reports(ev["DeploymentId"])] == ["Failed"]
    assert "alarm gate closed: 1 alarm not found: web-health" in p.stdout + p.stderr


def test_alarm_gate_dry_run_asks_nothing(emu, lua):
    p, o, _ = lua(emu, GATE, "--dry-run", event={"names": ["api-5xx"]})
    assert o["result"]["ok"] is True and emu.requests() == []
    assert "dry run: alarms not checked" in p.stderr


def test_library_uses_the_ctx_the_runtime_publishes(emu, lua):
    """package.loaded["hookhost.context"]: if the host publishes the running hook's ctx there,
    library calls made without ctx = ctx still derive the CallerReference from the execution."""
    ev = hook_event(emu)
    p, o, _ = lua(emu, """
return function(event, ctx)
  package.loaded["hookhost.context"] = ctx
  local inv = assert(cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/*"}})
  return {ref = inv.caller_reference}
end
""", event=ev)
    assert o["result"]["ref"].startswith("hookhost-" + ev["DeploymentId"] + "-"), o
    p, o, _ = lua(emu, """
return function(event, ctx)
  package.loaded["hookhost.context"], package.loaded["hookhost.event"] = ctx, event
  local inv = assert(cloudfront.invalidate{distribution = "E2EXAMPLE123", paths = {"/*"}})
  return {ref = inv.caller_reference}
end
""", event={"executionDetails": {"serviceArn": "arn:s", "targetServiceRevisionArn": "arn:r",
                                 "lifecycleStage": "POST_PRODUCTION_TRAFFIC_SHIFT"}})
    assert p.returncode == 0, p.stderr
    assert len(emu.invalidations()) == 2
    assert emu.invalidations()[1]["CallerReference"].startswith("hookhost-ecs-")


def test_alarm_gate_when_cloudwatch_fails(emu, lua):
    emu.inject_fault("http500", "cloudwatch", count=10)
    p, o, _ = lua(emu, GATE, event={"names": ["x"]}, env={"AWS_MAX_ATTEMPTS": "2"})
    r = o["result"]
    assert r.get("ok") is None and r["err"]["code"] == "InternalFailure" and r["err"]["attempts"] == 2


# ---- hookhost.sns -------------------------------------------------------------------------------

def test_sns_publish(emu, lua):
    emu.seed_topic("arn:aws:sns:us-east-1:123456789012:gone", exists=False)
    p, o, _ = lua(emu, """
return function()
  local id = assert(sns.publish{topic_arn = "arn:aws:sns:us-east-1:123456789012:deployments",
                                message = "traffic shifted & <ok>", subject = "hookhost",
                                attributes = {hook = "AfterAllowTraffic", stage = "prod"}})
  local none, err = sns.publish{topic_arn = "arn:aws:sns:us-east-1:123456789012:gone", message = "m"}
  return {id = id, err = errt(err), bad = catch(sns.publish, {topic_arn = "topic", message = "m"}),
          subj = catch(sns.publish, {topic_arn = "arn:aws:sns:us-east-1:123456789012:x",
                                     message = "m", subject = "a\\nb"}),
          fifo = assert(sns.publish{topic_arn = "arn:aws:sns:us-east-1:123456789012:d.fifo",
                                    message = "m", group_id = "g", deduplication_id = "x-1"}),
          dedup = catch(sns.publish, {topic_arn = "arn:aws:sns:us-east-1:123456789012:d.fifo",
                                      message = "m", deduplication_id = "has space"})}
end
""")
    assert p.returncode == 0, p.stderr
    r = o["result"]
    m, fifo = emu.published()
    assert fifo["MessageId"] == r["fifo"] and "deduplication_id must be" in r["dedup"]
    assert m["MessageId"] == r["id"] and m["Message"] == "traffic shifted & <ok>"
    assert m["Subject"] == "hookhost" and m["TopicArn"] == TOPIC
    assert m["MessageAttributes"] == {"hook": {"DataType": "String", "StringValue": "AfterAllowTraffic"},
                                      "stage": {"DataType": "String", "StringValue": "prod"}}
    assert r["err"]["code"] == "NotFound"
    assert "is not an SNS topic ARN" in r["bad"] and "subject must be one line" in r["subj"]


# ---- hookhost.http ------------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        srv = self.server
        with srv.lock:
            srv.hits.append({"path": self.path, "headers": dict(self.headers)})
            plan = srv.plan.pop(0) if srv.plan else srv.default
        status, body, delay = plan
        if delay:
            time.sleep(delay)
        data = body.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Test", "yes")
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass

    do_HEAD = do_GET


@pytest.fixture
def web():
    """A local http.server: web.plan is a list of (status, body, delay) answers, then default."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.lock = threading.Lock()
    srv.hits, srv.plan, srv.default = [], [], (200, '{"status": "ok", "version": 2}', 0)
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    t = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


GET = """
return function(event)
  local r, err = http.get(event.url, event.opts)
  if not r then return {err = err} end
  return {status = r.status, body = r.body, attempts = r.attempts, ms = r.elapsed_ms,
          xtest = r.headers["x-test"]}
end
"""


def test_http_get_success_and_expectations(web, lua):
    p, o, _ = lua(None, GET, event={"url": web.url + "/health?token=s3cret",
                                    "opts": {"expect_body": '"ok"', "expect_pattern": "version\"?:%s*2",
                                             "headers": {"X-Smoke": "1"}}})
    assert p.returncode == 0, p.stderr
    r = o["result"]
    assert r["status"] == 200 and r["attempts"] == 1 and r["xtest"] == "yes" and '"ok"' in r["body"]
    assert web.hits[0]["path"] == "/health?token=s3cret" and web.hits[0]["headers"]["X-Smoke"] == "1"


def test_http_retries_until_the_expected_status(web, lua):
    web.plan = [(503, "warming up", 0), (503, "warming up", 0)]
    p, o, _ = lua(None, GET, event={"url": web.url + "/", "opts": {"retry_delay_ms": 50}})
    assert o["result"]["status"] == 200 and o["result"]["attempts"] == 3


def test_http_failure_messages(web, lua):
    web.default = (500, "boom", 0)
    p, o, _ = lua(None, GET, event={"url": web.url + "/health?token=s3cret",
                                    "opts": {"expect_status": 200, "retry_delay_ms": 50}})
    err = o["result"]["err"]
    assert re.fullmatch(r"GET http://127\.0\.0\.1:\d+/health answered 500, expected 200 "
                        r"\(3 attempts over \d+\.\d s\)", err), err
    web.default = (200, "maintenance page", 0)
    p, o, _ = lua(None, GET, event={"url": web.url + "/", "opts": {"expect_body": "Welcome",
                                                                   "retries": 0}})
    assert o["result"]["err"].endswith('answered 200 but the body does not contain "Welcome" '
                                       '(body: "maintenance page") (1 attempt over 0.0 s)')
    p, o, _ = lua(None, GET, event={"url": web.url + "/", "opts": {"expect_pattern": "^Welcome",
                                                                   "retries": 0}})
    assert 'does not match the pattern "^Welcome"' in o["result"]["err"]
    p, o, _ = lua(None, GET, event={"url": web.url + "/", "opts": {"expect_status": [301, 302],
                                                                   "retries": 0}})
    assert "answered 200, expected 301 or 302" in o["result"]["err"]


def test_http_connection_refused_and_timeout(web, lua):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p, o, _ = lua(None, GET, event={"url": f"http://127.0.0.1:{port}/", "opts": {"retry_delay_ms": 10,
                                                                                 "retries": 1}})
    err = o["result"]["err"]
    assert f"GET http://127.0.0.1:{port}/: connection failed" in err and "(2 attempts over" in err
    web.default = (200, "slow", 3)
    p, o, secs = lua(None, GET, event={"url": web.url + "/", "opts": {"timeout_ms": 300,
                                                                      "retries": 0}})
    assert "timed out" in o["result"]["err"] and secs < 2.5


def test_http_never_outlives_the_hook(web, lua):
    web.default = (200, "slow", 10)
    p, o, secs = lua(None, GET, "--timeout", "2", event={"url": web.url + "/",
                                                         "opts": {"timeout_ms": 60000}})
    assert secs < 2.5
    assert o["status"] == "Succeeded" and "timed out" in o["result"]["err"]


def test_http_core_arguments(lua):
    p, o, _ = lua(None, """
return function()
  return {
    ftp = catch(core.request, {url = "ftp://example.com/"}),
    file = catch(http.get, "file:///etc/passwd"),
    header = catch(core.request, {url = "http://127.0.0.1:1/", headers = {["Bad Name"] = "x"}}),
    crlf = catch(core.request, {url = "http://127.0.0.1:1/", headers = {X = "a\\r\\nb"}}),
    method = catch(core.request, {url = "http://127.0.0.1:1/", method = "get"}),
    max = catch(core.request, {url = "http://127.0.0.1:1/", max_body = 0}),
    status = catch(http.get, "http://127.0.0.1:1/", {expect_status = "abc"}),
    slept = core.sleep_ms(30) >= 30,
    left = core.remaining_ms() > 0,
  }
end
""")
    r = o["result"]
    assert "must start with http:// or https://" in r["ftp"]
    assert "must be an http:// or https:// URL" in r["file"]
    assert "bad header name" in r["header"] and "line break" in r["crlf"]
    assert "upper-case" in r["method"] and "max_body" in r["max"]
    assert "expect_status" in r["status"] and r["slept"] and r["left"]


def test_http_body_limit(web, lua):
    web.default = (200, "x" * 5000, 0)
    p, o, _ = lua(None, """
return function(event)
  local s, h, b = core.request{url = event.url}
  local s2, msg, kind = core.request{url = event.url, max_body = 1000}
  return {len = #b, msg = msg, kind = kind}
end
""", event={"url": web.url + "/"})
    r = o["result"]
    assert r["len"] == 5000 and r["kind"] == "too_large" and "larger than 1000 bytes" in r["msg"]


@pytest.fixture
def tls_web(tmp_path, web):
    """web, also served over TLS with a self-signed certificate for 127.0.0.1 (openssl CLI)."""
    import shutil
    import ssl
    import subprocess
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.lock, srv.hits, srv.plan, srv.default = web.lock, web.hits, web.plan, web.default
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.url = f"https://127.0.0.1:{srv.server_address[1]}"
    srv.cert = str(cert)
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_https_verifies_certificates_and_honours_aws_ca_bundle(tls_web, lua):
    body = """
return function(event)
  local s, h, b = core.request{url = event.url}
  return {status = s, msg = h, kind = b}
end
"""
    p, o, _ = lua(None, body, event={"url": tls_web.url + "/"})
    r = o["result"]
    assert r.get("status") is None and r["kind"] == "tls", r
    assert "TLS verification failed" in r["msg"]
    p, o, _ = lua(None, body, event={"url": tls_web.url + "/"}, env={"AWS_CA_BUNDLE": tls_web.cert})
    assert o["result"]["status"] == 200, o


def test_lua_level_tests(hookhost):
    """tests/lua/*.lua: Lua-level checks of the library's pure parts, run as hooks."""
    import pathlib
    scripts = sorted((pathlib.Path(__file__).resolve().parents[1] / "lua").glob("test_*.lua"))
    assert scripts
    for s in scripts:
        p = hookhost("run", str(s))
        assert p.returncode == 0, f"{s.name}: {p.stdout}\n{p.stderr}"
        assert outcome(p)["result"]["checks"] > 0
