"""`hookhost test` and hookhost.testing: offline tests of hook scripts, run by the real binary.

The example package's tests (examples/package/tests) and the library's own offline tests
(tests/lua/offline) must pass; a failing test, a test file that does not load, a test that loops
or exhausts memory must each fail alone, with a message that says where, and make the command
exit 1; the closing line is always "N passed, N failed".
"""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "package"
CLOSING = re.compile(r"^(\d+) passed, (\d+) failed$")


def closing(p):
    """(passed, failed) from the last line of stdout, which must be the closing line."""
    last = p.stdout.rstrip("\n").split("\n")[-1]
    m = CLOSING.match(last)
    assert m, f"no closing line: {p.stdout!r}\n{p.stderr}"
    return int(m.group(1)), int(m.group(2))


def test_the_example_hooks_pass_their_offline_tests(hookhost):
    p = hookhost("test", "--task-root", str(EXAMPLES))
    assert p.returncode == 0, p.stdout + p.stderr
    passed, failed = closing(p)
    lines = p.stdout.splitlines()[:-1]
    assert failed == 0 and passed == len(lines) and passed >= 24
    assert all(line.startswith("ok    ") for line in lines)
    # every example hook has its tests, and every test file ran
    hooks = sorted(f.stem for f in (EXAMPLES / "hooks").glob("*.lua"))
    assert len(hooks) == 5
    for h in hooks:
        assert any(f"/tests/{h}_test.lua: " in line for line in lines), h


def test_the_library_offline_tests_pass(hookhost):
    p = hookhost("test", "--task-root", str(ROOT), str(ROOT / "tests" / "lua" / "offline"))
    assert p.returncode == 0, p.stdout + p.stderr
    passed, failed = closing(p)
    assert failed == 0 and passed >= 14


FAILING = """
local t = require("hookhost.testing")
t.test("passes", function() t.eq(1 + 1, 2) end)
t.test("fails an assertion", function()
  t.eq({a = 1, b = {2, 3}}, {a = 1, b = {2, 4}})
end)
t.test("raises", function() error("boom") end)
t.test("loops", function() while true do end end)
t.test("eats memory", function() local s = {} while true do s[#s + 1] = ("x"):rep(1 << 20) .. #s end end)
t.test("passes after all that", function() t.ok(true) end)
"""


def test_failing_tests_fail_alone_and_make_it_exit_1(hookhost, write, tmp_path):
    write("pkg/tests/a_test.lua", FAILING)
    write("pkg/tests/nested/syntax_test.lua", 'local t = require("hookhost.testing")\nt.test("x", function( end)\n')
    write("pkg/tests/top_error_test.lua", 'error("setup failed")\n')
    write("pkg/tests/empty_test.lua", "-- forgot the tests\n")
    write("pkg/tests/helper.lua", "error('not a test file: never run')\n")
    p = hookhost("test", "--timeout", "2", "--task-root", "pkg", env={"HOOKHOST_MEMORY_MB": "32"})
    assert p.returncode == 1, p.stdout + p.stderr
    assert closing(p) == (2, 7)
    out = p.stdout
    assert "ok    pkg/tests/a_test.lua: passes\n" in out
    assert ("FAIL  pkg/tests/a_test.lua: fails an assertion\n"
            "      pkg/tests/a_test.lua:5: t.eq: not equal\n"
            "        .b[2]: got 3, want 4\n") in out
    assert "FAIL  pkg/tests/a_test.lua: raises\n      pkg/tests/a_test.lua:7: boom\n" in out
    assert "FAIL  pkg/tests/a_test.lua: loops\n      (timeout: the test ran past its --timeout)" in out
    assert "FAIL  pkg/tests/a_test.lua: eats memory\n      (memory) not enough memory" in out
    assert "ok    pkg/tests/a_test.lua: passes after all that\n" in out
    assert ("FAIL  pkg/tests/nested/syntax_test.lua: (loading the file)\n"
            "      pkg/tests/nested/syntax_test.lua:2: <name> or '...' expected near 'end'\n") in out
    assert "FAIL  pkg/tests/top_error_test.lua: (loading the file)\n      pkg/tests/top_error_test.lua:1: setup failed\n" in out
    assert "FAIL  pkg/tests/empty_test.lua: (no tests)\n" in out
    assert "helper.lua" not in out
    # files in the order of their paths, whatever order the folder lists them in
    files = [m.group(1) for m in re.finditer(r"^(?:ok  |FAIL)  (\S+):", out, re.M)]
    assert files == sorted(files)


def test_one_file_or_several_paths(hookhost, write):
    a = write("x/one_test.lua", 'local t = require("hookhost.testing")\nt.test("a", function() end)\n')
    b = write("y/two.lua", 'local t = require("hookhost.testing")\nt.test("b", function() t.ok(false, "no") end)\n')
    p = hookhost("test", a, b)  # a file named on the command line runs whatever its name
    assert p.returncode == 1 and closing(p) == (1, 1)
    assert "      t.ok: no" in p.stdout.replace(b + ":2: ", "")


def test_usage_errors_and_no_tests(hookhost, write):
    p = hookhost("test", "--help")
    assert p.returncode == 0 and p.stdout.startswith("Usage: hookhost test")
    p = hookhost("test", "--frobnicate")
    assert p.returncode == 2 and "unknown option --frobnicate" in p.stderr
    p = hookhost("test", "--timeout", "0", "x")
    assert p.returncode == 2 and "--timeout 0" in p.stderr
    p = hookhost("test", "no/such/path")
    assert p.returncode == 2 and "no/such/path: no such file or folder" in p.stderr
    p = hookhost("test")  # the scratch folder has no tests/
    assert p.returncode == 2 and "tests is not a folder" in p.stderr
    write("empty/tests/README", "nothing here")
    p = hookhost("test", "--task-root", "empty")
    assert p.returncode == 1 and closing(p) == (0, 0) and "no *_test.lua files found" in p.stderr
    p = hookhost("--help")
    assert "hookhost test [PATH...]" in p.stdout


def test_the_task_root_comes_from_lambda_task_root(hookhost, write):
    write("pkg/hooks/Gate.lua", 'local h = require("helper")\nreturn function() return h.answer end\n')
    write("pkg/helper.lua", "return {answer = 42}\n")
    write("pkg/tests/gate_test.lua", """
local t = require("hookhost.testing")
t.test("a helper module beside the hooks is found", function()
  t.eq(t.run_hook("hooks/Gate.lua").result, 42)
end)
""")
    p = hookhost("test", env={"LAMBDA_TASK_ROOT": "pkg"})
    assert p.returncode == 0 and closing(p) == (1, 0), p.stdout + p.stderr


def test_nothing_leaves_the_machine(hookhost, write):
    """No credentials, no region, endpoints pointing nowhere: a test's AWS and HTTP calls are
    answered by its stubs, or fail it with a message that says which answer is missing."""
    write("pkg/hooks/Call.lua", """
local aws = require("hookhost.aws")
return function() return assert(aws.json("ssm", "AmazonSSM", "GetParameter", {Name = "/x"})) end
""")
    write("pkg/tests/call_test.lua", """
local t = require("hookhost.testing")
t.test("answered", function()
  local out = t.run_hook("hooks/Call.lua", {}, {stubs = {
    {service = "ssm", operation = "GetParameter", answer = {Parameter = {Value = "v"}}}}})
  t.eq(out.result.Parameter.Value, "v")
end)
t.test("not answered", function()
  t.expect_status(t.run_hook("hooks/Call.lua"), "succeeded")
end)
""")
    p = hookhost("test", "--task-root", "pkg",
                 env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                      "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"})
    assert closing(p) == (1, 1), p.stdout + p.stderr
    assert "message: stub: unexpected call ssm GetParameter (no answer left for ssm)" in p.stdout


# ---- the example hooks under `hookhost run`, against the emulators: what the offline tests
# ---- fake is what the real calls do

import http.server
import json
import threading

import pytest

from emulators import Emulators
from luarun import LuaRunner
from runtime import outcome


class _Web(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.command, self.path, body.decode()))
        status = self.server.status.get(self.path, 200)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer


@pytest.fixture
def web():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Web)
    srv.seen, srv.status = [], {}
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def emu():
    e = Emulators.start(invalidation_seconds=0.3)
    try:
        yield e
        assert e.signature_failures == 0
    finally:
        e.stop()


def run_example(hookhost, write, name, env, event=None):
    script = EXAMPLES / "hooks" / f"{name}.lua"
    return LuaRunner(hookhost, write).script(script, event=event, env=env).proc


def test_example_alarm_gate_against_the_emulators(hookhost, write, emu):
    emu.seed_alarm("api-5xx", "OK")
    env = {**emu.env(), "ALARM_NAMES": "api-5xx,api-latency", "BUSINESS_DAYS": "Sun-Sat",
           "BUSINESS_HOURS": "00:00-24:00"}
    p = run_example(hookhost, write, "BeforeAllowTraffic", env)
    assert p.returncode == 1 and outcome(p)["error"] == "alarm gate closed: api-latency does not exist"
    emu.seed_alarm("api-latency", "ALARM")
    p = run_example(hookhost, write, "BeforeAllowTraffic", env)
    assert outcome(p)["error"] == "alarm gate closed: api-latency is in ALARM"
    emu.seed_alarm("api-latency", "OK")
    p = run_example(hookhost, write, "BeforeAllowTraffic", env)
    assert p.returncode == 0 and outcome(p)["result"]["open"] is True, p.stderr


def test_example_invalidate_wait_notify_against_the_emulators(hookhost, write, emu):
    topic = "arn:aws:sns:us-east-1:123456789012:deployments"
    p = run_example(hookhost, write, "AfterAllowTraffic",
                    {**emu.env(), "DistributionId": "E2EXAMPLE123", "TOPIC_ARN": topic})
    assert p.returncode == 0, p.stderr
    (inv,) = emu.invalidations("E2EXAMPLE123")
    assert sorted(inv["Paths"]) == ["/assets/*", "/index.html"] and inv["Status"] == "Completed"
    (msg,) = emu.published(topic)
    assert outcome(p)["result"] == {"invalidation": inv["Id"], "notified": True}
    assert msg["Subject"] == "cache invalidated on E2EXAMPLE123" and inv["Id"] in msg["Message"]


def test_example_smoke_test_and_ecs_bake_against_a_web_server(hookhost, write, web):
    env = {"SMOKE_URLS": f"{web.url}/health, {web.url}/version", "WEBHOOK_URL": f"{web.url}/hook"}
    p = run_example(hookhost, write, "AfterAllowTestTraffic", env)
    assert p.returncode == 0, p.stderr
    assert [(m, path) for m, path, _ in web.seen] == [("GET", "/health"), ("GET", "/version"),
                                                      ("POST", "/hook")]
    assert json.loads(web.seen[-1][2]) == {"text": "smoke test passed: 2 URLs"}
    ecs = {"executionDetails": {"serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/c/s",
                                "targetServiceRevisionArn": "arn:aws:ecs:us-east-1:123456789012:"
                                                            "service-revision/c/s/1"},
           "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT"}
    env = {"HEALTH_URL": f"{web.url}/health", "BAKE_DELAY": "30"}
    p = run_example(hookhost, write, "POST_TEST_TRAFFIC_SHIFT", env, ecs)
    assert p.returncode == 0, p.stderr
    o = outcome(p)
    assert o["hookStatus"] == "IN_PROGRESS" and o["hookDetails"] == {"healthy_checks": 1}, o
    p = run_example(hookhost, write, "POST_TEST_TRAFFIC_SHIFT", env,
                    {**ecs, "hookDetails": {"healthy_checks": 2}})
    assert outcome(p)["hookStatus"] == "SUCCEEDED", p.stdout
