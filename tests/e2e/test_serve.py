"""hookhost serve as a Lambda bootstrap against the emulators: every hook event ends with exactly
one accepted report, before the deadline, and the runtime keeps serving."""
import json
import os
import pathlib
import time

import pytest

from runtime import OK, Runtime, assert_one_report, assert_still_serving, body


def test_success(rt):
    ev = rt.hook_event()
    _, out = rt.invoke(ev)
    assert out["kind"] == "response"
    b = body(out)
    assert b["status"] == "Succeeded" and b["report"] == "accepted" and b["result"] == {"hook": "AfterAllowTraffic"}
    assert_one_report(rt, ev, "Succeeded", out)
    msgs = [l["message"] for l in rt.log_lines()]
    for phase in ("event received", "script started", "script finished", "report sent"):
        assert any(m.startswith(phase) for m in msgs), (phase, msgs)
    assert all(l.get("requestId") for l in rt.log_lines() if l.get("message", "").startswith("report sent"))


@pytest.mark.parametrize("script,reason", [
    ("return function() error('cloudfront is down') end\n", "error"),
    ("return function(\n", "syntax"),
    ("return function() while true do end end\n", "timeout"),
    ("return function() while true do pcall(function() while true do end end) end end\n", "timeout"),
    ("return function() local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end end\n",
     "memory"),
    ("return function() return false, 'alarm in ALARM' end\n", "returned false"),
])
def test_failing_scripts_report_failed(rt, script, reason):
    rt.env["HOOKHOST_MEMORY_MB"] = "32"
    rt.hook("AfterAllowTraffic", script)
    ev = rt.hook_event()
    # Filling 32 MiB takes a while under ASan; the memory case gets room to reach its cap.
    _, out = rt.invoke(ev, timeout=10 if reason == "memory" else 3)
    assert out["kind"] == "response"
    assert body(out)["status"] == "Failed" and body(out)["reason"] == reason, body(out)
    assert_one_report(rt, ev, "Failed", out)
    assert_still_serving(rt)


def test_missing_script(rt):
    (rt.task_root / "hooks" / "AfterAllowTraffic.lua").unlink()
    ev = rt.hook_event()
    _, out = rt.invoke(ev)
    assert body(out)["reason"] == "script missing"
    assert_one_report(rt, ev, "Failed", out)
    assert_still_serving(rt)


def test_script_blocked_in_c_is_killed_before_the_reserve(rt, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    rt.hook("AfterAllowTraffic", f"return function() io.open('{fifo}', 'r') end\n")
    ev = rt.hook_event()
    _, out = rt.invoke(ev, timeout=2)
    assert body(out)["reason"] == "timeout" and "killed" in body(out)["error"]
    assert_one_report(rt, ev, "Failed", out)
    assert_still_serving(rt)


@pytest.mark.parametrize("sig", ["SIGSEGV", "SIGKILL"])
def test_worker_crash(rt, tmp_path, sig):
    import signal as sigmod
    fifo, pidfile = tmp_path / "fifo", tmp_path / "pid"
    os.mkfifo(fifo)
    rt.hook("AfterAllowTraffic", f"""
return function()
  local pid = io.open('/proc/self/stat'):read('l'):match('^(%d+)')
  local f = io.open('{pidfile}', 'w'); f:write(pid); f:close()
  io.open('{fifo}', 'r')
end
""")
    ev = rt.hook_event()
    rid = rt.emu.queue_event(ev, timeout=8)
    for _ in range(500):
        if pidfile.exists() and pidfile.read_text():
            break
        time.sleep(0.01)
    os.kill(int(pidfile.read_text()), getattr(sigmod, sig))
    out = rt.emu.wait_outcome(rid, timeout=10)
    assert body(out)["reason"] == "crash" and "signal" in body(out)["error"]
    assert_one_report(rt, ev, "Failed", out)
    assert_still_serving(rt)


def test_on_error_succeeded(hookhost_bin, tmp_path):
    rt = Runtime(hookhost_bin, tmp_path / "task", env={"HOOKHOST_ON_ERROR": "Succeeded"})
    try:
        rt.hook("AfterAllowTraffic", "return function() error('x') end\n")
        ev = rt.hook_event()
        _, out = rt.invoke(ev)
        assert body(out)["status"] == "Succeeded" and body(out)["reason"] == "error"
        assert_one_report(rt, ev, "Succeeded", out)
        assert any(l.get("level") == "ERROR" for l in rt.log_lines())
    finally:
        rt.stop()


def test_codedeploy_throttles_the_report_then_accepts(rt):
    rt.emu.inject_fault("throttle", "codedeploy", "PutLifecycleEventHookExecutionStatus", count=2)
    ev = rt.hook_event()
    _, out = rt.invoke(ev, timeout=15)
    assert out["kind"] == "response"
    assert body(out)["reportAttempts"] == 3
    assert_one_report(rt, ev, "Succeeded", out)


def test_report_applied_but_answered_500_is_not_reported_twice(rt):
    rt.emu.inject_fault("apply_then_fail", "codedeploy", "PutLifecycleEventHookExecutionStatus")
    ev = rt.hook_event()
    _, out = rt.invoke(ev, timeout=15)
    assert out["kind"] == "response" and body(out)["report"] == "already completed"
    assert_one_report(rt, ev, "Succeeded", out)


def test_codedeploy_refusing_the_report_fails_the_invocation(rt):
    rt.emu.inject_fault("error", "codedeploy", "PutLifecycleEventHookExecutionStatus", count=100,
                        status=400, code="AccessDeniedException", message="not allowed")
    ev = rt.hook_event()
    _, out = rt.invoke(ev, timeout=5)
    assert out["kind"] == "error" and out["error_type"] == "Runtime.ReportNotDelivered"
    assert "AccessDeniedException" in json.loads(out["body"])["errorMessage"]
    assert rt.reports(ev) == []
    assert out["before_deadline"]
    rt.emu.clear_faults()
    assert_still_serving(rt)


def test_report_failing_until_the_deadline_gives_up_in_time(rt):
    rt.emu.inject_fault("http503", "codedeploy", "PutLifecycleEventHookExecutionStatus", count=1000)
    ev = rt.hook_event()
    _, out = rt.invoke(ev, timeout=3)
    assert out["kind"] == "error" and out["before_deadline"]
    rt.emu.clear_faults()
    assert_still_serving(rt)


def test_redelivered_event_runs_once_and_reports_once(rt, tmp_path):
    counter = tmp_path / "runs"
    rt.hook("AfterAllowTraffic", f"""
return function()
  local f = io.open('{counter}', 'a'); f:write('x'); f:close()
end
""")
    ev = rt.hook_event()
    rid, out1 = rt.invoke(ev)
    _, out2 = rt.invoke(ev, request_id=rid)
    assert out1["kind"] == "response" and out2["kind"] == "response"
    assert body(out2)["redelivered"] is True
    assert counter.read_text() == "x"
    assert_one_report(rt, ev, "Succeeded", out2)


def test_redelivery_after_an_undelivered_report_retries_only_the_report(rt, tmp_path):
    counter = tmp_path / "runs"
    rt.hook("AfterAllowTraffic", f"""
return function()
  local f = io.open('{counter}', 'a'); f:write('x'); f:close()
end
""")
    rt.emu.inject_fault("error", "codedeploy", "PutLifecycleEventHookExecutionStatus", count=100,
                        status=400, code="AccessDeniedException")
    ev = rt.hook_event()
    rid, out1 = rt.invoke(ev, timeout=4)
    assert out1["kind"] == "error"
    rt.emu.clear_faults()
    _, out2 = rt.invoke(ev, request_id=rid)
    assert out2["kind"] == "response"
    assert counter.read_text() == "x"
    assert_one_report(rt, ev, "Succeeded", out2)


@pytest.mark.parametrize("raw,message", [
    ('{"DeploymentId": ', "invalid JSON"),
    ('{"DeploymentId": "d-ABCDEFGH1"}', "LifecycleEventHookExecutionId is missing"),
    ('{"DeploymentId": "d-ABC/../x", "LifecycleEventHookExecutionId": "e"}', "DeploymentId is not"),
    ('{"DeploymentId": "d-ABCDEFGH1", "LifecycleEventHookExecutionId": "a\\r\\nHost: evil"}',
     "LifecycleEventHookExecutionId is not"),
])
def test_bad_events_are_refused_and_the_runtime_goes_on(rt, raw, message):
    _, out = rt.invoke(raw)
    assert out["kind"] == "error" and out["error_type"] == "Function.InvalidEvent"
    assert message in json.loads(out["body"])["errorMessage"]
    assert rt.emu.reports() == []
    assert_still_serving(rt)


def test_six_megabyte_event(rt):
    rt.hook("AfterAllowTraffic", "return function(e) return #e.blob end\n")
    ev = rt.hook_event()
    ev["blob"] = "b" * (6 * 1000 * 1000 - 200)
    _, out = rt.invoke(ev, timeout=10)
    assert body(out)["result"] == len(ev["blob"])
    assert_one_report(rt, ev, "Succeeded", out)


def test_plain_invocation_returns_the_result_without_report(rt):
    rt.hook("AfterAllowTraffic", "return function(e) return {echo = e.x} end\n")
    _, out = rt.invoke({"x": 42})
    assert out["kind"] == "response" and json.loads(out["body"]) == {"echo": 42}
    assert rt.emu.reports() == []
    rt.hook("AfterAllowTraffic", "return function(e) error('nope') end\n")
    _, out = rt.invoke({"x": 1})
    assert out["kind"] == "error" and out["error_type"] == "Function.HookFailed"


def test_runtime_api_failing_once(rt):
    rt.emu.inject_fault("http500", "rapi", "Response")
    ev = rt.hook_event()
    _, out = rt.invoke(ev)
    assert out["kind"] == "response"
    assert_one_report(rt, ev, "Succeeded", out)
    assert_still_serving(rt)


def test_no_state_leaks_between_events(rt):
    rt.hook("AfterAllowTraffic", "return function() local seen = LEFTOVER; LEFTOVER = 1; "
                                  "return seen == nil end\n")
    for _ in range(3):
        _, out = rt.invoke(rt.hook_event())
        assert body(out)["result"] is True


def test_trace_id_and_ctx(rt):
    rt.hook("AfterAllowTraffic", "return function(e, ctx) return {trace = os.getenv('_X_AMZN_TRACE_ID'),"
                                 " request = ctx.request_id, controller = ctx.controller} end\n")
    ev = rt.hook_event()
    rid = rt.emu.queue_event(ev, trace_id="Root=1-abc-def;Sampled=1")
    out = rt.emu.wait_outcome(rid, 10)
    r = body(out)["result"]
    assert r == {"trace": "Root=1-abc-def;Sampled=1", "request": rid, "controller": "codedeploy"}


@pytest.mark.parametrize("handler,message", [
    ("", "_HANDLER is empty"),
    ("../etc/passwd.lua", "without '..'"),
    ("/etc/x.lua", "without '..'"),
    ("hooks/../../x.lua", "without '..'"),
    ("a.b", "neither a lifecycle event name"),
])
def test_bad_handler_fails_each_hook_with_a_report(hookhost_bin, tmp_path, handler, message):
    rt = Runtime(hookhost_bin, tmp_path / "task", handler=handler)
    try:
        ev = rt.hook_event()
        _, out = rt.invoke(ev)
        assert body(out)["status"] == "Failed" and message in body(out)["error"]
        assert_one_report(rt, ev, "Failed", out)
    finally:
        rt.stop()


def test_handler_as_a_script_path(hookhost_bin, tmp_path):
    rt = Runtime(hookhost_bin, tmp_path / "task", handler="custom/gate.lua")
    try:
        (rt.task_root / "custom").mkdir()
        (rt.task_root / "custom" / "gate.lua").write_text("return function(e, ctx) return ctx.hook end\n")
        ev = rt.hook_event()
        _, out = rt.invoke(ev)
        assert body(out)["result"] == "gate"
        assert_one_report(rt, ev, "Succeeded", out)
    finally:
        rt.stop()


def test_bad_setting_fails_hooks_but_not_the_runtime(hookhost_bin, tmp_path):
    rt = Runtime(hookhost_bin, tmp_path / "task", env={"HOOKHOST_MEMORY_MB": "lots"})
    try:
        rt.hook("AfterAllowTraffic", OK)
        ev = rt.hook_event()
        _, out = rt.invoke(ev)
        assert body(out)["status"] == "Failed" and "HOOKHOST_MEMORY_MB" in body(out)["error"]
        assert_one_report(rt, ev, "Failed", out)
        assert rt.emu.init_errors() == []
    finally:
        rt.stop()


def test_bootstrap_name_serves_and_api_gone_exits_non_zero(hookhost_bin, tmp_path):
    boot = tmp_path / "bootstrap"
    boot.symlink_to(hookhost_bin)
    rt = Runtime(hookhost_bin, tmp_path / "task", start=False)
    rt.hook("AfterAllowTraffic", OK)
    rt.start(argv0=str(boot))
    try:
        ev = rt.hook_event()
        _, out = rt.invoke(ev)
        assert_one_report(rt, ev, "Succeeded", out)
        rt.emu.stop()
        assert rt.wait_exit(15) not in (None, 0)
    finally:
        rt.stop()


def test_no_runtime_api_is_a_clear_error(hookhost):
    p = hookhost("serve")
    assert p.returncode == 1 and "AWS_LAMBDA_RUNTIME_API is not set" in p.stderr


def test_broken_runtime_posts_an_init_error_and_exits(hookhost_bin, tmp_path):
    rt = Runtime(hookhost_bin, tmp_path / "task", env={"AWS_MAX_ATTEMPTS": "many"}, start=False)
    rt.hook("AfterAllowTraffic", OK)
    rt.start()
    try:
        assert rt.wait_exit(10) == 1
        errs = rt.emu.init_errors()
        assert len(errs) == 1 and errs[0]["error_type"] == "Runtime.ConfigError"
        assert "AWS_MAX_ATTEMPTS" in json.loads(errs[0]["body"])["errorMessage"]
    finally:
        rt.stop()


def test_handler_auto_asks_codedeploy_which_hook_is_running(hookhost_bin, tmp_path):
    rt = Runtime(hookhost_bin, tmp_path / "task", handler="auto")
    try:
        rt.hook("BeforeAllowTraffic", "return function(e, ctx) return ctx.hook end\n")
        ev = rt.hook_event("BeforeAllowTraffic")
        _, out = rt.invoke(ev)
        b = body(out)
        assert b["hook"] == "BeforeAllowTraffic" and b["result"] == "BeforeAllowTraffic", rt.log()
        assert_one_report(rt, ev, "Succeeded", out)
    finally:
        rt.stop()


def test_handler_auto_without_an_in_progress_hook_fails_clearly(hookhost_bin, tmp_path):
    rt = Runtime(hookhost_bin, tmp_path / "task", handler="auto")
    try:
        dep = rt.emu.seed_deployment()  # no hook execution: nothing is InProgress
        ex = rt.emu.seed_hook_execution(rt.emu.seed_deployment(), "AfterAllowTraffic")
        ev = {"DeploymentId": dep, "LifecycleEventHookExecutionId": ex}
        _, out = rt.invoke(ev)
        msgs = " ".join(l.get("message", "") for l in rt.log_lines())
        assert "cannot tell which lifecycle event is running" in msgs
        # The Failed report names an execution of another deployment: CodeDeploy refuses it,
        # so the invocation fails (and Lambda may retry) instead of pretending.
        assert out["kind"] == "error" and out["error_type"] == "Runtime.ReportNotDelivered"
        assert rt.emu.reports() == []
    finally:
        rt.stop()


# ---- the shipped AfterAllowTraffic hook under CloudFront faults (the matrix) ----

@pytest.fixture
def shipped(hookhost_bin, tmp_path):
    """The runtime serving the repository's own lua/ folder, as in the function package."""
    root = pathlib.Path(__file__).resolve().parents[2] / "lua"
    r = Runtime(hookhost_bin, root, env={"DistributionId": "E2EXAMPLE123"}, start=False)
    r.log_path = tmp_path / "runtime.log"
    r.start()
    yield r
    r.stop()


def test_cloudfront_500s_then_success(shipped):
    shipped.emu.inject_fault("http500", "cloudfront", "CreateInvalidation", count=2)
    ev = shipped.hook_event()
    _, out = shipped.invoke(ev, timeout=15)
    assert body(out)["status"] == "Succeeded", shipped.log()
    assert len(shipped.emu.invalidations()) == 1
    assert_one_report(shipped, ev, "Succeeded", out)


def test_cloudfront_failing_for_good(shipped):
    shipped.emu.inject_fault("http500", "cloudfront", "CreateInvalidation", count=1000)
    ev = shipped.hook_event()
    _, out = shipped.invoke(ev, timeout=4)
    b = body(out)
    assert b["status"] == "Failed" and "CloudFront" in b["error"], b
    assert shipped.emu.invalidations() == []
    assert_one_report(shipped, ev, "Failed", out)
    shipped.emu.clear_faults()


def test_cloudfront_blocking_past_the_hook_time(shipped):
    shipped.emu.inject_fault("hang", "cloudfront", "CreateInvalidation", count=1000)
    ev = shipped.hook_event()
    _, out = shipped.invoke(ev, timeout=3)
    assert body(out)["status"] == "Failed"
    assert_one_report(shipped, ev, "Failed", out)
    shipped.emu.clear_faults()


def test_redelivered_after_an_applied_but_failed_invalidation(shipped):
    """The first CreateInvalidation takes effect but answers 500; the retry (and a later
    redelivery of the whole event) get the same invalidation back: one invalidation, one report."""
    shipped.emu.inject_fault("apply_then_fail", "cloudfront", "CreateInvalidation")
    ev = shipped.hook_event()
    rid, out1 = shipped.invoke(ev, timeout=15)
    _, out2 = shipped.invoke(ev, request_id=rid, timeout=15)
    assert out1["kind"] == "response" and out2["kind"] == "response"
    assert len(shipped.emu.invalidations()) == 1
    assert_one_report(shipped, ev, "Succeeded", out2)


def test_the_worker_keeps_its_connections_between_events(rt):
    """One worker process serves event after event (a fresh Lua state each): its kept-alive
    connection to CloudFront is reused, so the second event opens no new connection."""
    rt.hook("AfterAllowTraffic", """
local aws = require("hookhost.aws")
return function(event, ctx)
  local st, err = aws.rest_xml{service = "cloudfront", method = "GET",
                               path = "/2020-05-31/distribution/E2EXAMPLE123/invalidation"}
  assert(st, tostring(err))
  return aws.connections()
end
""")
    counts = []
    for _ in range(3):
        ev = rt.hook_event()
        _, out = rt.invoke(ev)
        counts.append(body(out)["result"])
    assert counts == [1, 1, 1], (counts, rt.log())


def test_remembered_answers_stay_short_whatever_the_results(rt):
    """The parent remembers the last 64 hook executions for redeliveries: their status, whether
    the report was delivered and a short answer, never a script's large result."""
    rt.hook("AfterAllowTraffic",
            "return function(event, ctx) return {hook = ctx.hook, pad = string.rep('x', 900000)} end\n")
    events = []
    for i in range(70):
        ev = rt.hook_event()
        rid, out = rt.invoke(ev)
        assert out["kind"] == "response" and len(body(out)["result"]["pad"]) == 900000
        events.append((ev, rid))
        if i == 9:
            rss_warm = rss_kib(rt.proc.pid)
    rss_end = rss_kib(rt.proc.pid)
    ev, rid = events[-1]
    _, again = rt.invoke(ev, request_id=rid)
    b = body(again)
    assert b["redelivered"] is True and b["status"] == "Succeeded"
    assert b["first"]["status"] == "Succeeded" and b["first"]["reason"] == "ok"
    assert "result" not in b["first"]
    assert_one_report(rt, ev, "Succeeded", again)
    if not os.environ.get("HOOKHOST_SANITIZED"):  # ASan's quarantine is not hookhost's
        # 60 more answers of ~0.9 MB each, kept in full, would add ~54 MiB.
        assert rss_end - rss_warm < 16 * 1024, (rss_warm, rss_end)


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_script_output_without_a_newline_is_logged_with_its_own_event(rt):
    rt.hook("AfterAllowTraffic", "return function() io.write('leftover from one') end\n")
    ev = rt.hook_event()
    rid, out = rt.invoke(ev)
    assert out["kind"] == "response"
    lines = [l for l in rt.log_lines() if l.get("message") == "leftover from one"]
    assert [l.get("requestId") for l in lines] == [rid], rt.log()
    assert_still_serving(rt)
    assert rt.log().count("leftover from one") == 1, rt.log()
