"""One hung attempt must not eat a call's whole time: an attempt that may be retried gets at most
half of what is left, and the retry goes out on a new connection. The emulators' `hang` fault
never answers (a black-holed, kept-alive connection looks the same to the client)."""
import pathlib

import pytest

from runtime import Runtime, assert_one_report, assert_still_serving, body

REPORT = "PutLifecycleEventHookExecutionStatus"


def test_a_hung_report_attempt_leaves_time_for_another(rt):
    # Warm the kept-alive connection first, so the hang hits a reused connection.
    assert_still_serving(rt)
    rt.emu.inject_fault("hang", "codedeploy", REPORT, count=1)
    ev = rt.hook_event()
    _, out = rt.invoke(ev, timeout=4)
    assert out["kind"] == "response", rt.log()
    b = body(out)
    assert b["report"] == "accepted" and b["reportAttempts"] == 2, b
    assert_one_report(rt, ev, "Succeeded", out)
    assert_still_serving(rt)


def test_a_looping_hook_still_reports_after_a_hung_attempt(hookhost_bin, tmp_path):
    """The report of a script stopped at the deadline has only the reserve: a hung first attempt
    must leave part of it for a second."""
    rt = Runtime(hookhost_bin, tmp_path / "task", env={"HOOKHOST_RESERVE_MS": "2000"},
                 start=False)
    rt.hook("AfterAllowTraffic", "return function() while true do end end\n")
    rt.emu.inject_fault("hang", "codedeploy", REPORT, count=1)
    rt.start()
    try:
        ev = rt.hook_event()
        _, out = rt.invoke(ev, timeout=5)
        assert out["kind"] == "response", rt.log()
        b = body(out)
        assert b["reason"] == "timeout" and b["report"] == "accepted", b
        assert b["reportAttempts"] == 2, b
        assert_one_report(rt, ev, "Failed", out)
    finally:
        rt.stop()


def test_a_scripts_aws_call_survives_one_hung_attempt(hookhost_bin, tmp_path):
    root = pathlib.Path(__file__).resolve().parents[2] / "lua"
    rt = Runtime(hookhost_bin, root, env={"DistributionId": "E2EXAMPLE123"}, start=False)
    rt.log_path = tmp_path / "runtime.log"
    rt.emu.inject_fault("hang", "cloudfront", "CreateInvalidation", count=1)
    rt.start()
    try:
        ev = rt.hook_event()
        _, out = rt.invoke(ev, timeout=6)
        assert body(out)["status"] == "Succeeded", rt.log()
        assert len(rt.emu.invalidations()) == 1
        assert_one_report(rt, ev, "Succeeded", out)
    finally:
        rt.stop()


@pytest.mark.parametrize("reserve", ["0", "50"])
def test_a_reserve_too_small_for_a_report_is_raised_with_a_warning(hookhost_bin, tmp_path,
                                                                    reserve):
    """HOOKHOST_RESERVE_MS=0 left a looping hook no time to report at all."""
    rt = Runtime(hookhost_bin, tmp_path / "task", env={"HOOKHOST_RESERVE_MS": reserve},
                 start=False)
    rt.hook("AfterAllowTraffic", "return function() while true do end end\n")
    rt.start()
    try:
        ev = rt.hook_event()
        _, out = rt.invoke(ev, timeout=3)
        assert out["kind"] == "response", rt.log()
        assert body(out)["reason"] == "timeout" and body(out)["report"] == "accepted"
        assert_one_report(rt, ev, "Failed", out)
        warn = [l for l in rt.log_lines() if l.get("level") == "WARN"
                and f"HOOKHOST_RESERVE_MS={reserve}" in l.get("message", "")]
        assert warn and "300 ms" in warn[0]["message"], rt.log()
    finally:
        rt.stop()
