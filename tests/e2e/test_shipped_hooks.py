"""The shipped hooks (lua/hooks/*.lua) end to end: `hookhost serve` as the Lambda bootstrap with
LAMBDA_TASK_ROOT=lua (as `make demo` runs it), CodeDeploy hook events from the emulated Runtime
API, and the status each one reports to the emulated CodeDeploy. Every signature is verified;
every test ends with zero signature failures.
"""
import http.server
import pathlib
import signal
import socket
import threading
import time

import pytest

from runtime import Runtime, body

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIST = "E2EXAMPLE123"


@pytest.fixture
def make_rt(hookhost_bin, tmp_path):
    made = []

    def make(handler, env=None, emulator_options=None):
        full = {"LAMBDA_TASK_ROOT": str(ROOT / "lua")}
        full.update(env or {})
        r = Runtime(hookhost_bin, tmp_path / f"task{len(made)}", handler=handler, env=full,
                    emulator_options=emulator_options or {"invalidation_seconds": 0.3})
        made.append(r)
        return r

    yield make
    for r in made:
        try:
            assert r.emu.signature_failures == 0
        finally:
            r.stop()


def run_event(rt, lifecycle_event, timeout=10.0):
    ev = rt.hook_event(lifecycle_event)
    t0 = time.time()
    rid, out = rt.invoke(ev, timeout=timeout)
    return ev, rid, out, time.time() - t0


def assert_reported(rt, ev, out, status):
    assert out["kind"] == "response", out
    assert [r["status"] for r in rt.reports(ev)] == [status], rt.log()
    assert out["before_deadline"]
    assert body(out)["status"] == status


def messages(rt):
    return [l.get("message", "") for l in rt.log_lines()]


# ---- AfterAllowTraffic: the CloudFront invalidation ---------------------------------------------

def test_after_allow_traffic_invalidates_everything(make_rt):
    rt = make_rt("AfterAllowTraffic", {"DistributionId": DIST})
    ev, _, out, _ = run_event(rt, "AfterAllowTraffic")
    assert_reported(rt, ev, out, "Succeeded")
    (inv,) = rt.emu.invalidations(DIST)
    assert inv["Paths"] == ["/*"] and inv["CallerReference"].startswith("hookhost-" + ev["DeploymentId"])
    assert body(out)["result"] == {"invalidation": inv["Id"], "status": "InProgress",
                                   "distribution": DIST}
    created = [l for l in rt.log_lines() if l.get("message", "").startswith("invalidation created")]
    assert len(created) == 1 and created[0]["id"] == inv["Id"] and inv["Id"] in created[0]["message"]


def test_after_allow_traffic_with_paths_and_wait(make_rt):
    rt = make_rt("AfterAllowTraffic", {"DistributionId": DIST,
                                       "INVALIDATION_PATHS": " /index.html, /assets/* ,,",
                                       "INVALIDATION_WAIT": "true"})
    ev, _, out, _ = run_event(rt, "AfterAllowTraffic")
    assert_reported(rt, ev, out, "Succeeded")
    (inv,) = rt.emu.invalidations()
    assert inv["Paths"] == ["/index.html", "/assets/*"] and inv["Status"] == "Completed"
    assert body(out)["result"]["status"] == "Completed"
    assert any(m.startswith("invalidation completed") for m in messages(rt))


def test_wait_ends_with_a_failed_report_before_the_deadline(make_rt):
    rt = make_rt("AfterAllowTraffic", {"DistributionId": DIST, "INVALIDATION_WAIT": "true"},
                 {"invalidation_seconds": 300})
    ev, _, out, secs = run_event(rt, "AfterAllowTraffic", timeout=3)
    assert_reported(rt, ev, out, "Failed")
    b = body(out)
    assert b["reason"] == "error", b  # the script gave up by itself, it was not killed
    assert "still InProgress" in b["error"] and "the hook's time" in b["error"]
    assert secs < 3.5 and len(rt.emu.invalidations()) == 1


@pytest.mark.parametrize("env, message", [
    ({}, "DistributionId is not set: set it to the CloudFront distribution id, e.g. E2EXAMPLE123"),
    ({"DistributionId": "e2example123"},
     'DistributionId="e2example123" is not a CloudFront distribution id'),
    ({"DistributionId": DIST, "INVALIDATION_PATHS": "index.html"},
     'INVALIDATION_PATHS: path "index.html" must start with /'),
    ({"DistributionId": DIST, "INVALIDATION_WAIT": "yes"},
     'INVALIDATION_WAIT="yes": expected true or false'),
    ({"DistributionId": "ENOSUCHDIST"},
     "CloudFront invalidation on ENOSUCHDIST failed: NoSuchDistribution"),
])
def test_after_allow_traffic_bad_configuration(make_rt, env, message):
    rt = make_rt("AfterAllowTraffic", env)
    ev, _, out, _ = run_event(rt, "AfterAllowTraffic")
    assert_reported(rt, ev, out, "Failed")
    assert message in body(out)["error"], body(out)
    assert rt.emu.invalidations() == []


def test_on_error_succeeded_still_logs_the_failure(make_rt):
    rt = make_rt("AfterAllowTraffic", {"HOOKHOST_ON_ERROR": "Succeeded"})
    ev, _, out, _ = run_event(rt, "AfterAllowTraffic")
    assert_reported(rt, ev, out, "Succeeded")
    errors = [l for l in rt.log_lines() if l.get("level") == "ERROR"]
    assert any("DistributionId is not set" in l["message"] for l in errors)


def test_redelivered_event_creates_one_invalidation_and_one_report(make_rt):
    """The first CreateInvalidation takes effect but answers 500; hookhost.aws retries it with the
    same CallerReference. The event is then redelivered to the same process (the runtime answers
    from memory) and to a fresh process (a new Lambda sandbox: the script runs again and gets the
    existing invalidation back)."""
    rt = make_rt("AfterAllowTraffic", {"DistributionId": DIST})
    rt.emu.inject_fault("apply_then_fail", "cloudfront", "CreateInvalidation")
    ev = rt.hook_event("AfterAllowTraffic")
    rid, out = rt.invoke(ev)
    assert_reported(rt, ev, out, "Succeeded")
    first = body(out)["result"]["invalidation"]
    _, out2 = rt.invoke(ev, request_id=rid)  # same process
    assert out2["kind"] == "response" and body(out2)["redelivered"] is True
    rt.proc.send_signal(signal.SIGTERM)  # a new sandbox
    rt.proc.wait(5)
    rt.start()
    _, out3 = rt.invoke(ev, request_id=rid)
    assert out3["kind"] == "response", rt.log()
    assert body(out3)["result"]["invalidation"] == first
    assert [i["Id"] for i in rt.emu.invalidations()] == [first]
    assert [r["status"] for r in rt.reports(ev)] == ["Succeeded"]
    results = [a["result"] for a in rt.emu.report_attempts()]
    assert results == ["accepted", "LifecycleEventAlreadyCompletedException"], results
    creates = [r["status"] for r in rt.emu.requests("cloudfront") if r["operation"] == "CreateInvalidation"]
    assert creates == [500, 201, 201]


def test_too_many_invalidations_in_progress_then_success(make_rt):
    rt = make_rt("AfterAllowTraffic", {"DistributionId": DIST})
    rt.emu.inject_fault("error", "cloudfront", "CreateInvalidation", count=2, status=400,
                        code="TooManyInvalidationsInProgress", message="Processing your request")
    ev, _, out, _ = run_event(rt, "AfterAllowTraffic", timeout=20)
    assert_reported(rt, ev, out, "Succeeded")
    assert len(rt.emu.invalidations()) == 1


def test_invalidation_batch_already_exists_is_explained(make_rt):
    rt = make_rt("AfterAllowTraffic", {"DistributionId": DIST})
    rt.emu.inject_fault("error", "cloudfront", "CreateInvalidation", status=409,
                        code="InvalidationBatchAlreadyExists", message="Invalidation batch exists")
    ev, _, out, _ = run_event(rt, "AfterAllowTraffic")
    assert_reported(rt, ev, out, "Failed")
    err = body(out)["error"]
    assert "InvalidationBatchAlreadyExists" in err and "was already used" in err
    assert "other paths" in err


def test_after_allow_traffic_under_ecs_native_deployments(make_rt):
    """The same shipped hook at ECS's POST_PRODUCTION_TRAFFIC_SHIFT stage: the answer is the
    hookStatus, and a second invocation of the stage (ECS retrying) gets the same invalidation."""
    from emulators.ecs import EcsDeployment
    rt = make_rt("auto", {"DistributionId": DIST,
                          "HOOKHOST_ECS_STAGE_MAP": "POST_PRODUCTION_TRAFFIC_SHIFT=AfterAllowTraffic"})
    dep = EcsDeployment(rt.emu)
    for _ in range(2):
        res = dep.run_stage("POST_PRODUCTION_TRAFFIC_SHIFT")
        assert res.status == "SUCCEEDED", (res, rt.log())
    (inv,) = rt.emu.invalidations()
    assert inv["CallerReference"].startswith("hookhost-ecs-")
    assert rt.emu.reports() == []
    other = EcsDeployment(rt.emu, revision="arn:aws:ecs:us-east-1:123456789012:service-revision/demo/web/124")
    assert other.run_stage("POST_PRODUCTION_TRAFFIC_SHIFT").status == "SUCCEEDED"
    assert len(rt.emu.invalidations()) == 2


# ---- BeforeAllowTraffic: the alarm gate ---------------------------------------------------------

def test_alarm_gate_open(make_rt):
    rt = make_rt("BeforeAllowTraffic", {"ALARM_NAMES": "api-5xx, api-latency", "ALARM_PREFIX": "db-"})
    rt.emu.seed_alarm("api-5xx", "OK")
    rt.emu.seed_alarm("api-latency", "OK")
    rt.emu.seed_alarm("db-cpu", "INSUFFICIENT_DATA")
    rt.emu.seed_alarm("unrelated", "ALARM")
    ev, _, out, _ = run_event(rt, "BeforeAllowTraffic")
    assert_reported(rt, ev, out, "Succeeded")
    assert sorted(body(out)["result"]["alarms"]) == ["api-5xx", "api-latency", "db-cpu"]


def test_alarm_gate_closed_names_the_alarm(make_rt):
    rt = make_rt("BeforeAllowTraffic", {"ALARM_PREFIX": "api-"})
    rt.emu.seed_alarm("api-5xx", "ALARM", reason="Threshold Crossed: 12 > 5")
    rt.emu.seed_alarm("api-latency", "OK")
    ev, _, out, _ = run_event(rt, "BeforeAllowTraffic")
    assert_reported(rt, ev, out, "Failed")
    b = body(out)
    assert b["reason"] == "returned false"
    assert b["error"] == "alarm gate closed: 1 alarm in ALARM: api-5xx (ALARM: Threshold Crossed: 12 > 5)"


@pytest.mark.parametrize("env, fault, message", [
    ({}, None, "neither ALARM_NAMES nor ALARM_PREFIX is set"),
    ({"ALARM_NAMES": "api-typo"}, None, "alarm gate closed: 1 alarm not found: api-typo"),
    ({"ALARM_NAMES": "x", "AWS_MAX_ATTEMPTS": "1"}, "http503",
     "CloudWatch DescribeAlarms failed: ServiceUnavailable"),
])
def test_alarm_gate_failures(make_rt, env, fault, message):
    rt = make_rt("BeforeAllowTraffic", env)
    rt.emu.seed_alarm("x", "OK")
    if fault:
        rt.emu.inject_fault(fault, "cloudwatch")
    ev, _, out, _ = run_event(rt, "BeforeAllowTraffic")
    assert_reported(rt, ev, out, "Failed")
    assert message in body(out)["error"], body(out)


# ---- AfterAllowTestTraffic: the smoke test ------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        status, text = self.server.answer
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def web():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.answer = (200, "service ok, version 42")
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/health"
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_smoke_test_passes(make_rt, web):
    rt = make_rt("AfterAllowTestTraffic", {"TEST_URL": web.url, "TEST_EXPECT_BODY": "version 42"})
    ev, _, out, _ = run_event(rt, "AfterAllowTestTraffic")
    assert_reported(rt, ev, out, "Succeeded")
    assert body(out)["result"]["status"] == 200 and body(out)["result"]["attempts"] == 1


def test_smoke_test_500_fails_with_a_clear_message(make_rt, web):
    web.answer = (500, "Internal Server Error")
    rt = make_rt("AfterAllowTestTraffic", {"TEST_URL": web.url, "TEST_RETRIES": "1"})
    ev, _, out, _ = run_event(rt, "AfterAllowTestTraffic")
    assert_reported(rt, ev, out, "Failed")
    err = body(out)["error"]
    assert err.startswith(f"smoke test failed: GET {web.url} answered 500, expected 200 (2 attempts over ")


def test_smoke_test_connection_refused(make_rt):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rt = make_rt("AfterAllowTestTraffic", {"TEST_URL": f"http://127.0.0.1:{port}/", "TEST_RETRIES": "0"})
    ev, _, out, _ = run_event(rt, "AfterAllowTestTraffic")
    assert_reported(rt, ev, out, "Failed")
    assert f"GET http://127.0.0.1:{port}/: connection failed" in body(out)["error"]


@pytest.mark.parametrize("env, message", [
    ({}, "TEST_URL is not set: set it to the URL to test through the test listener"),
    ({"TEST_URL": "ftp://x/"}, 'TEST_URL="ftp://x/" is not an http:// or https:// URL'),
    ({"TEST_URL": "WEB", "TEST_EXPECT_STATUS": "ok"}, 'TEST_EXPECT_STATUS="ok": expected an integer'),
    ({"TEST_URL": "WEB", "TEST_EXPECT_STATUS": "204", "TEST_RETRIES": "0"},
     "answered 200, expected 204"),
    ({"TEST_URL": "WEB", "TEST_EXPECT_BODY": "version 43", "TEST_RETRIES": "0"},
     'but the body does not contain "version 43"'),
])
def test_smoke_test_configuration_and_expectations(make_rt, web, env, message):
    env = {k: (web.url if v == "WEB" else v) for k, v in env.items()}
    rt = make_rt("AfterAllowTestTraffic", env)
    ev, _, out, _ = run_event(rt, "AfterAllowTestTraffic")
    assert_reported(rt, ev, out, "Failed")
    assert message in body(out)["error"], body(out)


def test_shipped_hooks_compile(hookhost):
    hooks = sorted(str(p) for p in (ROOT / "lua" / "hooks").glob("*.lua"))
    assert len(hooks) == 3
    p = hookhost("check", *hooks)
    assert p.returncode == 0, p.stdout + p.stderr
