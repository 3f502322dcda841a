"""The same hooks under ECS-native blue/green deployments: the function returns hookStatus."""
import json
import os
import pathlib
import re
import time

import pytest

from emulators.ecs import EcsDeployment
from runtime import Runtime


@pytest.fixture
def rt(hookhost_bin, tmp_path):
    r = Runtime(hookhost_bin, tmp_path / "task", handler="auto")
    yield r
    r.stop()


def test_stage_script_succeeds(rt):
    rt.hook("POST_PRODUCTION_TRAFFIC_SHIFT", """
return function(event, ctx)
  assert(ctx.controller == 'ecs' and ctx.stage == 'POST_PRODUCTION_TRAFFIC_SHIFT')
  assert(ctx.hook == 'POST_PRODUCTION_TRAFFIC_SHIFT')
  assert(event.executionDetails.serviceArn:find('service/demo/web'))
end
""")
    res = EcsDeployment(rt.emu).run_stage("POST_PRODUCTION_TRAFFIC_SHIFT")
    assert res.status == "SUCCEEDED" and res.calls == 1, (res, rt.log())
    assert res.answers == [{"hookStatus": "SUCCEEDED"}]
    assert rt.emu.reports() == []  # no CodeDeploy report under ECS


def test_one_script_serves_both_controllers_through_the_stage_map(hookhost_bin, tmp_path):
    rt = Runtime(hookhost_bin, tmp_path / "task", handler="auto",
                 env={"HOOKHOST_ECS_STAGE_MAP": "POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic"})
    try:
        rt.hook("AfterAllowTraffic", "return function(e, ctx) return ctx.controller end\n")
        res = EcsDeployment(rt.emu).run_stage("POST_PRODUCTION_TRAFFIC_SHIFT")
        assert res.status == "SUCCEEDED", (res, rt.log())
        assert any("AfterAllowTraffic.lua" in l.get("message", "") for l in rt.log_lines())
    finally:
        rt.stop()


def test_handler_name_runs_for_an_ecs_event_without_a_stage(hookhost_bin, tmp_path):
    rt = Runtime(hookhost_bin, tmp_path / "task", handler="AfterAllowTraffic")
    try:
        rt.hook("AfterAllowTraffic", "return function(e, ctx) assert(ctx.controller == 'ecs') end\n")
        dep = EcsDeployment(rt.emu, nested=False, send_stage=False)  # the top-level shape
        res = dep.run_stage("POST_PRODUCTION_TRAFFIC_SHIFT")
        assert res.status == "SUCCEEDED", (res, rt.log())
    finally:
        rt.stop()


def test_in_progress_carries_hook_details_to_the_next_call(rt):
    rt.hook("POST_TEST_TRAFFIC_SHIFT", """
return function(event, ctx)
  local d = event.hookDetails or {}
  local n = (d.checks or 0) + 1
  if n < 3 then
    return ctx.in_progress{delay = 5, details = {checks = n, bucket = d.bucket}}
  end
  assert(d.bucket == 'approvals')
end
""")
    dep = EcsDeployment(rt.emu, hook_details={"bucket": "approvals"})
    res = dep.run_stage("POST_TEST_TRAFFIC_SHIFT")
    assert res.status == "SUCCEEDED" and res.calls == 3, (res, rt.log())
    assert res.answers[0] == {"hookStatus": "IN_PROGRESS", "callBackDelay": 5,
                              "hookDetails": {"checks": 1, "bucket": "approvals"}}
    assert res.payloads[2]["hookDetails"] == {"checks": 2, "bucket": "approvals"}


def test_in_progress_details_keep_marked_empty_lists(rt, hookhost, write):
    """json.empty_array in ctx.in_progress details is [] in the answer ECS gets, so in the
    hookDetails of its next call, and in `hookhost run`'s outcome; a plain {} stays {}."""
    script = """
local json = require("hookhost.json")
return function(event, ctx)
  local d = event.hookDetails or {}
  if not d.done then
    return ctx.in_progress{delay = 1, details = {done = json.empty_array, tags = {}, n = 1}}
  end
  assert(type(d.done) == 'table' and next(d.done) == nil and d.n == 1)
end
"""
    rt.hook("POST_TEST_TRAFFIC_SHIFT", script)
    res = EcsDeployment(rt.emu).run_stage("POST_TEST_TRAFFIC_SHIFT")
    assert res.status == "SUCCEEDED" and res.calls == 2, (res, rt.log())
    assert res.answers[0] == {"hookStatus": "IN_PROGRESS", "callBackDelay": 1,
                              "hookDetails": {"done": [], "tags": {}, "n": 1}}
    assert res.payloads[1]["hookDetails"] == {"done": [], "tags": {}, "n": 1}
    p = hookhost("run", "--event", ecs_event(write), write("h.lua", script))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.splitlines()[-1])["hookDetails"] == {"done": [], "tags": {}, "n": 1}


@pytest.mark.parametrize("body,reason", [
    ("return function() error('smoke test failed') end", "error"),
    ("return function() return false, 'alarm' end", "returned false"),
    ("return function() while true do end end", "timeout"),
    ("return function() local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end end",
     "memory"),
    ("return function(", "syntax"),
])
def test_every_failure_is_failed_never_a_function_error(hookhost_bin, tmp_path, body, reason):
    rt = Runtime(hookhost_bin, tmp_path / "task", handler="auto", env={"HOOKHOST_MEMORY_MB": "32"})
    try:
        rt.hook("PRE_SCALE_UP", body + "\n")
        res = EcsDeployment(rt.emu, invoke_timeout=3).run_stage("PRE_SCALE_UP")
        assert res.status == "FAILED" and res.answers == [{"hookStatus": "FAILED"}], (res, rt.log())
        assert any(reason in l.get("message", "") for l in rt.log_lines())
        outs = rt.emu.outcomes()
        assert all(o["outcome"]["before_deadline"] for o in outs)
    finally:
        rt.stop()


def test_worker_crash_is_failed(rt, tmp_path):
    import signal
    import time
    fifo, pidfile = tmp_path / "fifo", tmp_path / "pid"
    os.mkfifo(fifo)
    rt.hook("POST_SCALE_UP", f"""
return function()
  local pid = io.open('/proc/self/stat'):read('l'):match('^(%d+)')
  local f = io.open('{pidfile}', 'w'); f:write(pid); f:close()
  io.open('{fifo}', 'r')
end
""")
    dep = EcsDeployment(rt.emu)
    rid = rt.emu.queue_event(dep.payload("POST_SCALE_UP", None), timeout=8)
    for _ in range(500):
        if pidfile.exists() and pidfile.read_text():
            break
        time.sleep(0.01)
    os.kill(int(pidfile.read_text()), signal.SIGSEGV)
    out = rt.emu.wait_outcome(rid, 10)
    assert out["kind"] == "response" and json.loads(out["body"]) == {"hookStatus": "FAILED"}


def test_missing_stage_script_is_failed(rt):
    res = EcsDeployment(rt.emu).run_stage("RECONCILE_SERVICE")
    assert res.status == "FAILED"
    assert any("RECONCILE_SERVICE.lua" in l.get("message", "") for l in rt.log_lines())


def test_invalid_stage_is_failed(rt):
    rid = rt.emu.queue_event({"executionDetails": {"serviceArn": "arn:x", "targetServiceRevisionArn": "arn:y",
                                                   "lifecycleStage": "DROP TABLE"}})
    out = rt.emu.wait_outcome(rid, 10)
    assert out["kind"] == "response" and json.loads(out["body"]) == {"hookStatus": "FAILED"}


def test_in_progress_outside_ecs_is_an_error(hookhost_bin, tmp_path):
    rt = Runtime(hookhost_bin, tmp_path / "task")
    try:
        rt.hook("AfterAllowTraffic", "return function(e, ctx) return ctx.in_progress{delay = 1} end\n")
        ev = rt.hook_event()
        _, out = rt.invoke(ev)
        b = json.loads(out["body"])
        assert b["status"] == "Failed" and "only for ECS-native" in b["error"]
    finally:
        rt.stop()


def test_on_error_succeeded_applies_to_ecs(hookhost_bin, tmp_path):
    rt = Runtime(hookhost_bin, tmp_path / "task", handler="auto", env={"HOOKHOST_ON_ERROR": "Succeeded"})
    try:
        rt.hook("PRE_SCALE_UP", "return function() error('x') end\n")
        res = EcsDeployment(rt.emu).run_stage("PRE_SCALE_UP")
        assert res.status == "SUCCEEDED"
    finally:
        rt.stop()


def ecs_event(write, details=None, name="ev.json"):
    ev = {"executionDetails": {"serviceArn": "arn:s", "targetServiceRevisionArn": "arn:r",
                               "lifecycleStage": "POST_SCALE_UP"}}
    if details is not None:
        ev["hookDetails"] = details
    return write(name, json.dumps(ev))


def test_run_prints_the_hook_status(hookhost, write):
    """IN_PROGRESS is said plainly: the outcome's status, what comes next, and the closing line
    (not "succeeded")."""
    s = write("h.lua", "return function(e, ctx) return ctx.in_progress{delay = 7, details = {a = 1}} end\n")
    p = hookhost("run", "--event", ecs_event(write), s)
    assert p.returncode == 0, p.stderr
    o = json.loads(p.stdout.splitlines()[-1])
    assert o["hookStatus"] == "IN_PROGRESS" and o["callBackDelay"] == 7 and o["hookDetails"] == {"a": 1}
    assert o["stage"] == "POST_SCALE_UP"
    assert o["status"] == "InProgress" and "after 7 s" in o["next"] and "result" not in o
    last = p.stderr.strip().splitlines()[-1]
    assert "hook h answered IN_PROGRESS" in last and "again after 7 s" in last, last
    assert "succeeded" not in p.stderr


def test_in_progress_called_but_not_returned_fails_the_hook(rt):
    """ctx.in_progress is a value: calling it and returning something else is a FAILED answer
    that says what to write, never a silent IN_PROGRESS."""
    rt.hook("POST_SCALE_UP", """
return function(event, ctx)
  ctx.in_progress{delay = 5, details = {step = 1}}
  return {checked = true}
end
""")
    res = EcsDeployment(rt.emu).run_stage("POST_SCALE_UP")
    assert res.status == "FAILED" and res.answers == [{"hookStatus": "FAILED"}], (res, rt.log())
    assert any("ctx.in_progress was called, but the function returned table instead of its value"
               in l.get("message", "") and "return ctx.in_progress{...}" in l.get("message", "")
               for l in rt.log_lines()), rt.log()


COUNTER = """
return function(event, ctx)
  local d = event.hookDetails or {}
  local n = (d.n or 0) + 1
  if n < %d then
    return ctx.in_progress{delay = %d, details = {n = n, bucket = d.bucket}}
  end
  return {calls = n, bucket = d.bucket}
end
"""


def test_run_follow_drives_the_in_progress_loop_to_its_answer(hookhost, write):
    s = write("h.lua", COUNTER % (3, 1))
    p = hookhost("run", "--follow", "--event", ecs_event(write, {"bucket": "b"}), s)
    assert p.returncode == 0, p.stderr
    outs = [json.loads(l) for l in p.stdout.splitlines()]
    assert [o["round"] for o in outs] == [1, 2, 3]
    assert [o["hookStatus"] for o in outs] == ["IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"]
    assert outs[0]["hookDetails"] == {"n": 1, "bucket": "b"}
    assert outs[1]["hookDetails"] == {"n": 2, "bucket": "b"}   # fed back: the script counted
    assert outs[2]["result"] == {"calls": 3, "bucket": "b"} and outs[2]["status"] == "Succeeded"
    rounds = [l for l in p.stderr.splitlines() if "hookhost run --follow: call" in l]
    assert len(rounds) == 2 and "calling again in 1 s" in rounds[0], p.stderr
    assert p.stderr.strip().splitlines()[-1].endswith("hookhost run: hook h succeeded")


def test_run_follow_cuts_the_delay_and_stops_after_max_rounds(hookhost, write):
    s = write("h.lua", COUNTER % (100, 600))
    start = time.monotonic()
    p = hookhost("run", "--follow", "--max-delay", "0", "--max-rounds", "3",
                 "--event", ecs_event(write), s)
    assert time.monotonic() - start < 30  # 600 s asked, cut to 0 by --max-delay
    assert p.returncode == 1, p.stderr
    outs = [json.loads(l) for l in p.stdout.splitlines()]
    assert [o["hookDetails"]["n"] for o in outs] == [1, 2, 3]
    assert "cut from the hook's delay by --max-delay" in p.stderr
    assert "still answers IN_PROGRESS after 3 calls (--max-rounds 3)" in p.stderr


def test_run_follow_ends_on_failed(hookhost, write):
    s = write("h.lua", """
return function(event, ctx)
  if not event.hookDetails then return ctx.in_progress{delay = 0, details = {once = true}} end
  return false, 'gave up'
end
""")
    p = hookhost("run", "--follow", "--event", ecs_event(write), s)
    assert p.returncode == 1, p.stderr
    outs = [json.loads(l) for l in p.stdout.splitlines()]
    assert [o["hookStatus"] for o in outs] == ["IN_PROGRESS", "FAILED"]
    assert outs[1]["error"] == "gave up"


@pytest.mark.parametrize("args,message", [
    (["--follow"], "--follow drives the IN_PROGRESS calls of an ECS-native hook event"),
    (["--max-rounds", "3"], "--max-delay and --max-rounds go with --follow"),
    (["--follow", "--max-delay", "-1"], "--max-delay -1: expected whole seconds, 0 to 3600"),
    (["--follow", "--max-rounds", "0"], "--max-rounds 0: expected 1 to 1000"),
])
def test_run_follow_usage_errors(hookhost, write, args, message):
    s = write("h.lua", "return function() end\n")
    ev = write("cd.json", json.dumps({"DeploymentId": "d-ABCDEFGH1", "LifecycleEventHookExecutionId": "x"}))
    p = hookhost("run", *args, "--event", ev, s)
    assert p.returncode == 2 and message in p.stderr, p.stderr


def test_bad_stage_map_fails_hooks(hookhost_bin, tmp_path):
    rt = Runtime(hookhost_bin, tmp_path / "task", handler="auto",
                 env={"HOOKHOST_ECS_STAGE_MAP": "post scale up=AfterAllowTraffic"})
    try:
        res = EcsDeployment(rt.emu).run_stage("POST_SCALE_UP")
        assert res.status == "FAILED"
        assert any("HOOKHOST_ECS_STAGE_MAP" in l.get("message", "") for l in rt.log_lines())
    finally:
        rt.stop()


def test_a_function_mapped_to_one_stage_needs_no_stage_in_the_event(hookhost_bin, tmp_path):
    rt = Runtime(hookhost_bin, tmp_path / "task", handler="auto",
                 env={"HOOKHOST_ECS_STAGE_MAP": "POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic"})
    try:
        rt.hook("AfterAllowTraffic", "return function(e, ctx) assert(ctx.stage == nil) end\n")
        res = EcsDeployment(rt.emu, send_stage=False).run_stage("POST_PRODUCTION_TRAFFIC_SHIFT")
        assert res.status == "SUCCEEDED", (res, rt.log())
    finally:
        rt.stop()


def test_auto_without_a_stage_or_a_single_mapping_is_failed_with_a_clear_message(rt):
    rt.hook("POST_SCALE_UP", "return function() end\n")
    res = EcsDeployment(rt.emu, send_stage=False).run_stage("POST_SCALE_UP")
    assert res.status == "FAILED"
    assert any("does not name its lifecycle stage" in l.get("message", "") for l in rt.log_lines())


# A stage ECS's API reference does not list (yet): ECS adds stages with new deployment strategies.
NEW_STAGE = "POST_CANARY_TRAFFIC_SHIFT"


@pytest.mark.parametrize("stage,new", [("PRE_PRODUCTION_TRAFFIC_SHIFT", False), (NEW_STAGE, True)])
def test_a_named_script_runs_at_any_stage(hookhost_bin, tmp_path, stage, new):
    rt = Runtime(hookhost_bin, tmp_path / "task", handler="AfterAllowTraffic")
    try:
        rt.hook("AfterAllowTraffic", "return function(e, ctx) return {stage = ctx.stage} end\n")
        res = EcsDeployment(rt.emu).run_stage(stage, new_stage=new)
        assert res.status == "SUCCEEDED", (res, rt.log())
        assert any(f"ECS hook at {stage}" in l.get("message", "") for l in rt.log_lines())
    finally:
        rt.stop()


@pytest.mark.parametrize("stage,new", [("PRE_PRODUCTION_TRAFFIC_SHIFT", False), (NEW_STAGE, True)])
def test_auto_runs_any_stage_through_its_script_or_the_map(hookhost_bin, tmp_path, stage, new):
    rt = Runtime(hookhost_bin, tmp_path / "task", handler="auto",
                 env={"HOOKHOST_ECS_STAGE_MAP": f"POST_SCALE_UP=Other,{NEW_STAGE}=AfterAllowTraffic"})
    try:
        rt.hook(stage if stage != NEW_STAGE else "AfterAllowTraffic",
                f"return function(e, ctx) assert(ctx.stage == '{stage}') end\n")
        res = EcsDeployment(rt.emu).run_stage(stage, new_stage=new)
        assert res.status == "SUCCEEDED", (res, rt.log())
    finally:
        rt.stop()


def test_auto_with_a_stage_it_has_no_script_for_says_how_to_map_it(rt):
    res = EcsDeployment(rt.emu).run_stage(NEW_STAGE, new_stage=True)
    assert res.status == "FAILED" and res.answers == [{"hookStatus": "FAILED"}], res
    msgs = [l.get("message", "") for l in rt.log_lines()]
    assert any(f"no script for ECS stage {NEW_STAGE} (a stage new to this runtime)" in m and
               f"HOOKHOST_ECS_STAGE_MAP={NEW_STAGE}=<HookName>" in m for m in msgs), msgs


ROOT = pathlib.Path(__file__).resolve().parents[2]


def documented_ecs_configurations():
    """Every ECS-native configuration the READMEs give: the CDK app's ecsStages values (its
    default and each `-c ecsStages=`), the HOOKHOST_ECS_STAGE_MAP example, and the stage lists of
    the service-side examples (JSON and CDK)."""
    deploy = (ROOT / "deploy" / "README.md").read_text()
    readme = (ROOT / "README.md").read_text()
    stages = re.findall(r"\| `ecsStages` \| `([^`]+)`", deploy)
    stages += re.findall(r"-c ecsStages=(\S+)", deploy)
    maps = [m for row in re.findall(r"^\| `HOOKHOST_ECS_STAGE_MAP` \|.*$", readme, re.M)
            for m in re.findall(r"`([A-Z]+(?:_[A-Z0-9]+)+=[A-Za-z0-9_-]+(?:,[^`]*)?)`", row)]
    hook_lists = [re.findall(r"[A-Z][A-Z0-9_]{4,}", l)
                  for l in re.findall(r'"lifecycleStages": \[([^\]]*)\]', deploy)]
    hook_lists += [re.findall(r"DeploymentLifecycleStage\.([A-Z_]+)", l)
                   for l in re.findall(r"lifecycleStages: \[([^\]]*)\]", deploy)]
    return stages, maps, hook_lists


def test_the_documented_ecs_configurations_need_no_stage_in_the_event(hookhost_bin, tmp_path):
    """ECS's payloads carry lifecycleStage, but nothing promises it: every configuration the
    READMEs give must run its script from an event without one (one stage per function)."""
    stages, maps, hook_lists = documented_ecs_configurations()
    assert stages and maps and hook_lists, (stages, maps, hook_lists)
    configs = []
    for value in stages:  # as the CDK app turns ecsStages into the function's environment
        entries = [e.partition("=") for e in value.split(",")]
        stage_map = ",".join(f"{st}={script}" for st, eq, script in entries if eq)
        configs.append((stage_map, [(st, script or st) for st, _, script in entries]))
    for m in maps:
        configs.append((m, [tuple(e.split("=")) for e in m.split(",")]))
    for i, (stage_map, runs) in enumerate(configs):
        env = {"HOOKHOST_ECS_STAGE_MAP": stage_map} if stage_map else {}
        rt = Runtime(hookhost_bin, tmp_path / f"task{i}", handler="auto", env=env)
        try:
            for stage, script in runs:
                rt.hook(script, "return function(e, ctx) assert(ctx.controller == 'ecs') end\n")
                res = EcsDeployment(rt.emu, send_stage=False).run_stage(stage)
                assert res.status == "SUCCEEDED", (stage_map, stage, res, rt.log())
        finally:
            rt.stop()
    assert all(len(l) == 1 for l in hook_lists), hook_lists  # one stage per lifecycle hook
