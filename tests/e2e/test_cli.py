"""The built binary as a user runs it: hookhost run / check / --help / --version."""
import json
import os
import subprocess
import time

import pytest
from runtime import outcome


def test_help_and_version(hookhost):
    p = hookhost("--help")
    assert p.returncode == 0
    for cmd in ("serve", "run", "check", "sign"):
        assert f"hookhost {cmd}" in p.stdout
    p = hookhost("--version")
    assert p.returncode == 0 and p.stdout.startswith("hookhost ")
    for cmd in ("run", "check", "serve", "sign"):
        p = hookhost(cmd, "--help")
        assert p.returncode == 0 and p.stdout.startswith("Usage: hookhost " + cmd), cmd


def test_no_arguments_is_a_usage_error(hookhost):
    p = hookhost()
    assert p.returncode == 2 and "Usage:" in p.stderr


def test_unknown_command_and_option(hookhost, write):
    p = hookhost("frobnicate")
    assert p.returncode == 2 and "unknown command 'frobnicate'" in p.stderr
    s = write("ok.lua", "return function() end\n")
    p = hookhost("run", "--bogus", s)
    assert p.returncode == 2 and "unknown option --bogus" in p.stderr
    p = hookhost("run", s, "--timeout")
    assert p.returncode == 2
    p = hookhost("run", "--timeout", "abc", s)
    assert p.returncode == 2 and "--timeout abc" in p.stderr
    p = hookhost("run", "--hook", "../x", s)
    assert p.returncode == 2 and "--hook ../x" in p.stderr
    p = hookhost("run")
    assert p.returncode == 2 and "SCRIPT is missing" in p.stderr


def test_hook_that_succeeds(hookhost, write):
    s = write("AfterAllowTraffic.lua", """
return function(event, ctx)
  ctx.log.info("invalidating", {paths = {"/*"}})
  return {hook = ctx.hook, deployment = ctx.deployment_id, left = ctx.remaining_ms() > 0}
end
""")
    ev = write("event.json", json.dumps({"DeploymentId": "d-ABCDEFGH1",
                                         "LifecycleEventHookExecutionId": "abc123=="}))
    p = hookhost("run", "--event", ev, "--dry-run", s)
    assert p.returncode == 0, p.stderr
    o = outcome(p)
    assert o["status"] == "Succeeded" and o["reason"] == "ok"
    assert o["result"] == {"hook": "AfterAllowTraffic", "deployment": "d-ABCDEFGH1", "left": True}
    assert "invalidating" in p.stderr and '"paths":["\\/*"]' in p.stderr or '"/*"' in p.stderr


def test_event_from_stdin(hookhost, write):
    s = write("echo.lua", "return function(e) return e.x end\n")
    p = hookhost("run", "--event", "-", s, input='{"x": "y"}')
    assert p.returncode == 0 and outcome(p)["result"] == "y"


def test_hook_that_raises(hookhost, write):
    s = write("boom.lua", "return function()\n  error('the distribution is gone')\nend\n")
    p = hookhost("run", s)
    assert p.returncode == 1
    o = outcome(p)
    assert o["status"] == "Failed" and o["reason"] == "error"
    assert "boom.lua:2: the distribution is gone" in o["error"]
    assert "boom.lua:2: the distribution is gone" in p.stderr


def test_the_outcome_line_writes_slashes_as_they_are(hookhost, write):
    """The outcome line is JSON that people read: URLs and paths keep their '/' (cjson's legal
    but ugly '\\/' is undone), a string holding a backslash before '/' keeps it, the values
    decode to what the script gave, and a secret with '/' is still redacted."""
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSLASHKEY"
    ok = write("urls.lua", "return function() return {url = 'https://example.com/a/b', "
                           "odd = [[a\\/b]], secret = os.getenv('AWS_SECRET_ACCESS_KEY')} end\n")
    p = hookhost("run", ok, env={"AWS_SECRET_ACCESS_KEY": secret})
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip().splitlines()[-1]
    assert '"url":"https://example.com/a/b"' in line and "\\/" not in line.replace("\\\\", ""), line
    assert secret not in line and "K7MDENG" not in line, line
    result = outcome(p)["result"]
    assert result["url"] == "https://example.com/a/b" and result["odd"] == "a\\/b", result
    boom = write("dir/boom.lua", "return function() error('no such key: s3://bucket/x') end\n")
    p = hookhost("run", boom)
    line = p.stdout.strip().splitlines()[-1]
    assert p.returncode == 1 and "\\/" not in line, line
    assert f"{boom}:1: no such key: s3://bucket/x" in line
    assert outcome(p)["error"] == f"{boom}:1: no such key: s3://bucket/x"


def test_hook_that_returns_false(hookhost, write):
    s = write("no.lua", "return function() return false, 'alarm HighErrors is in ALARM' end\n")
    p = hookhost("run", s)
    assert p.returncode == 1 and outcome(p)["error"] == "alarm HighErrors is in ALARM"


def test_on_error_succeeded_reports_succeeded_but_logs_the_failure(hookhost, write):
    s = write("boom.lua", "return function() error('x') end\n")
    p = hookhost("run", s, env={"HOOKHOST_ON_ERROR": "Succeeded"})
    assert p.returncode == 1
    assert outcome(p)["status"] == "Succeeded"
    assert "ERROR" in p.stderr and "HOOKHOST_ON_ERROR=Succeeded" in p.stderr
    p = hookhost("run", s, env={"HOOKHOST_ON_ERROR": "Maybe"})
    assert p.returncode == 2 and "HOOKHOST_ON_ERROR=Maybe" in p.stderr


def test_check_prints_file_and_line(hookhost, write):
    good = write("good.lua", "return function() end\n")
    bad = write("bad.lua", "return function()\n  local x = = 1\nend\n")
    p = hookhost("check", good, bad)
    assert p.returncode == 1
    assert f"{bad}:2:" in p.stderr
    p = hookhost("check", good)
    assert p.returncode == 0 and "1 script OK" in p.stderr


def test_syntax_error_fails_the_run(hookhost, write):
    bad = write("bad.lua", "return function(\n")
    p = hookhost("run", bad)
    assert p.returncode == 1 and outcome(p)["reason"] == "syntax"


@pytest.mark.parametrize("body", [
    "return function() while true do end end",
    "return function() while true do pcall(function() while true do end end) end end",
])
def test_infinite_loop_is_stopped_within_1_5_s(hookhost, write, body):
    s = write("loop.lua", body + "\n")
    t0 = time.monotonic()
    p = hookhost("run", "--timeout", "1", s)
    took = time.monotonic() - t0
    assert p.returncode == 1
    assert outcome(p)["reason"] == "timeout"
    assert took < 1.5, f"took {took:.2f} s"


def test_memory_bomb_is_stopped_under_the_cap(hookhost_bin, write, tmp_path):
    s = write("bomb.lua", """
return function()
  local t = {}
  for i = 1, 1e9 do t[i] = string.rep("x", 1024) .. i end
end
""")
    cap_mb = 64
    # The peak RSS of this run alone (and of the worker it forks): os.wait4's rusage, in KiB.
    # Its output is a few lines, far below a pipe's capacity, so waiting before reading is safe.
    p = subprocess.Popen([hookhost_bin, "run", s], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env={"HOOKHOST_MEMORY_MB": str(cap_mb), "PATH": "/usr/bin:/bin"})
    _, status, usage = os.wait4(p.pid, 0)
    out, err = p.stdout.read(), p.stderr.read()
    assert os.waitstatus_to_exitcode(status) == 1, err
    o = json.loads(out.splitlines()[-1])
    assert o["reason"] == "memory" and "not enough memory" in o["error"]
    assert o["memoryPeakBytes"] <= cap_mb << 20
    if not os.environ.get("HOOKHOST_SANITIZED"):  # ASan's shadow memory is not hookhost's
        assert usage.ru_maxrss < (cap_mb + 32) * 1024, f"peak RSS {usage.ru_maxrss} KiB"


def test_missing_script(hookhost):
    p = hookhost("run", "/nonexistent/AfterAllowTraffic.lua")
    assert p.returncode == 1
    o = outcome(p)
    assert o["reason"] == "script missing"
    assert "cannot open /nonexistent/AfterAllowTraffic.lua" in o["error"]


@pytest.mark.parametrize("text,message", [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"DeploymentId": "d-abc"}', "DeploymentId is not a deployment id"),
    ('{"DeploymentId": "d-ABCDEFGH1\\r\\nX: y", "LifecycleEventHookExecutionId": "e"}',
     "DeploymentId is not a deployment id"),
    ('{"DeploymentId": "d-ABCDEFGH1"}', "LifecycleEventHookExecutionId is missing"),
    ('{"DeploymentId": "d-ABCDEFGH1", "LifecycleEventHookExecutionId": "a\\nb"}',
     "LifecycleEventHookExecutionId is not"),
])
def test_malformed_event_file(hookhost, write, text, message):
    s = write("ok.lua", "return function() end\n")
    ev = write("event.json", text)
    p = hookhost("run", "--event", ev, s)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr
    assert "\r\nX: y" not in p.stderr


def test_event_file_missing_or_too_large(hookhost, write, tmp_path):
    s = write("ok.lua", "return function() end\n")
    p = hookhost("run", "--event", "/nonexistent.json", s)
    assert p.returncode == 2 and "--event /nonexistent.json: No such file" in p.stderr
    big = tmp_path / "big.json"
    big.write_text('{"x": "' + "a" * (7 * 1024 * 1024) + '"}')
    p = hookhost("run", "--event", str(big), s)
    assert p.returncode == 2 and "event limit" in p.stderr


def test_six_megabyte_event_is_accepted(hookhost, write, tmp_path):
    s = write("len.lua", "return function(e) return #e.blob end\n")
    ev = tmp_path / "six.json"
    ev.write_text('{"blob": "' + "b" * (6 * 1000 * 1000 - 20) + '"}')
    p = hookhost("run", "--event", str(ev), s)
    assert p.returncode == 0, p.stderr
    assert outcome(p)["result"] == 6 * 1000 * 1000 - 20


def test_json_logs(hookhost, write):
    s = write("log.lua", "return function(e, ctx) ctx.log.warn('careful', {n = 3}) end\n")
    p = hookhost("run", s, env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})
    assert p.returncode == 0
    lines = [json.loads(l) for l in p.stderr.splitlines()]
    warn = [l for l in lines if l["message"] == "careful"]
    assert len(warn) == 1
    assert warn[0]["level"] == "WARN" and warn[0]["n"] == 3 and warn[0]["requestId"] == "local"
    assert warn[0]["timestamp"].endswith("Z") and "T" in warn[0]["timestamp"]


def test_log_level_filters(hookhost, write):
    s = write("log.lua", "return function(e, ctx) ctx.log.debug('dbg') ctx.log.error('err') end\n")
    p = hookhost("run", s, env={"AWS_LAMBDA_LOG_LEVEL": "ERROR"})
    assert "dbg" not in p.stderr and "err" in p.stderr
    p = hookhost("run", s, env={"AWS_LAMBDA_LOG_LEVEL": "DEBUG"})
    assert "dbg" in p.stderr


def test_library_is_on_the_path(hookhost, write):
    s = write("lib.lua", "local ok = pcall(require, 'hookhost.nothing_here')\n"
                         "return function() return package.path end\n")
    p = hookhost("run", s)
    assert p.returncode == 0
    assert "/lua/?.lua" in outcome(p)["result"]


def test_bootstrap_name_with_arguments_is_the_cli(hookhost_bin, tmp_path, write):
    boot = tmp_path / "bootstrap"
    boot.symlink_to(hookhost_bin)
    s = write("ok.lua", "return function() return 1 end\n")
    p = subprocess.run([str(boot), "--version"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and p.stdout.startswith("hookhost ")
    p = subprocess.run([str(boot), "run", s], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and json.loads(p.stdout.splitlines()[-1])["result"] == 1


def test_library_modules_see_the_running_hook(hookhost, write):
    """The host publishes ctx and the event as package.loaded["hookhost.context"/"hookhost.event"],
    and SHA-256 comes from OpenSSL through the C core."""
    s = write("pub.lua", """
return function(event, ctx)
  assert(require("hookhost.context") == ctx)
  assert(require("hookhost.event") == event)
  return require("hookhost.util").sha256_hex("abc")
end
""")
    p = hookhost("run", s)
    assert p.returncode == 0, p.stderr
    assert outcome(p)["result"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# ---- run against CodeDeploy: --region, --profile, and the "reported" field --------------------

@pytest.fixture
def codedeploy():
    from emulators import Emulators
    e = Emulators.start()
    try:
        yield e
    finally:
        e.stop()


def _hook_event(emu, write):
    dep = emu.seed_deployment()
    ex = emu.seed_hook_execution(dep, "AfterAllowTraffic")
    return dep, write("event.json", json.dumps({"DeploymentId": dep, "LifecycleEventHookExecutionId": ex}))


def test_run_region_flag_reaches_codedeploy_and_outcome_says_reported(hookhost, write, codedeploy):
    dep, ev = _hook_event(codedeploy, write)
    s = write("AfterAllowTraffic.lua", "return function() end\n")
    env = {k: v for k, v in codedeploy.env().items() if k != "AWS_REGION"}
    env["HOME"] = "/nonexistent"
    p = hookhost("run", "--event", ev, s, env=env)  # no region anywhere: not reported
    assert p.returncode == 1
    o = outcome(p)
    assert o["status"] == "Succeeded" and o["reported"] is False
    assert "but status Succeeded was NOT reported to CodeDeploy" in p.stderr and "no region for codedeploy" in p.stderr
    assert codedeploy.reports(dep) == []
    p = hookhost("run", "--region", codedeploy.region, "--event", ev, s, env=env)
    assert p.returncode == 0, p.stderr
    o = outcome(p)
    assert o["reported"] is True and o["report"] == "accepted"
    assert "status Succeeded reported to CodeDeploy (accepted)" in p.stderr
    assert [r["status"] for r in codedeploy.reports(dep)] == ["Succeeded"]
    assert codedeploy.signature_failures == 0


def test_run_profile_flag_takes_credentials_and_region_from_the_profile(hookhost, write, tmp_path, codedeploy):
    dep, ev = _hook_event(codedeploy, write)
    s = write("AfterAllowTraffic.lua", "return function() end\n")
    aws = tmp_path / "home" / ".aws"
    aws.mkdir(parents=True)
    (aws / "credentials").write_text(f"[deployer]\naws_access_key_id = {codedeploy.access_key}\n"
                                     f"aws_secret_access_key = {codedeploy.secret_key}\n")
    (aws / "config").write_text(f"[profile deployer]\nregion = {codedeploy.region}\n")
    env = {"HOME": str(tmp_path / "home"),
           "AWS_ENDPOINT_URL_CODEDEPLOY": codedeploy.env()["AWS_ENDPOINT_URL_CODEDEPLOY"]}
    p = hookhost("run", "--event", ev, s, env=env)  # the default profile does not exist
    assert p.returncode == 1 and outcome(p)["reported"] is False
    p = hookhost("run", "--profile", "deployer", "--event", ev, s, env=env)
    assert p.returncode == 0, p.stderr
    assert outcome(p)["reported"] is True
    assert [r["status"] for r in codedeploy.reports(dep)] == ["Succeeded"]


def test_run_dry_run_says_nothing_was_reported(hookhost, write):
    ev = write("event.json", json.dumps({"DeploymentId": "d-ABCDEFGH1", "LifecycleEventHookExecutionId": "abc"}))
    p = hookhost("run", "--dry-run", "--event", ev, write("x.lua", "return function() end\n"))
    assert p.returncode == 0
    assert outcome(p)["reported"] is False
    assert "dry run: status Succeeded NOT reported to CodeDeploy" in p.stderr
    p = hookhost("run", write("y.lua", "return function() end\n"))  # not a CodeDeploy event
    assert p.returncode == 0 and "reported" not in outcome(p)


@pytest.mark.parametrize("args,message", [
    (["--region", "us east 1"], "--region us east 1: expected a region name"),
    (["--region", "US-EAST-1"], "expected a region name"),
    (["--region", ""], "expected a region name"),
    (["--profile", "a]b"], "--profile a]b: expected a profile name"),
    (["--profile", "x" * 65], "expected a profile name"),
])
def test_run_region_and_profile_are_checked(hookhost, write, args, message):
    p = hookhost("run", *args, write("x.lua", "return function() end\n"))
    assert p.returncode == 2 and message in p.stderr


def test_run_help_warns_that_reports_are_real(hookhost):
    p = hookhost("run", "--help")
    assert "REPORTED TO THE REAL CodeDeploy" in p.stdout and "--dry-run" in p.stdout
    assert "--region REGION" in p.stdout and "--profile NAME" in p.stdout
    assert "could not be\nreported" in p.stdout or "could not be reported" in p.stdout.replace("\n", " ")


def test_readme_first_hook_commands_work_from_a_clone(hookhost_bin):
    """Every `build/hookhost run` command of the README's first-hook section, as written, from
    the repository root."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    readme = open(os.path.join(root, "README.md")).read()
    cmds = [line.strip() for line in readme.splitlines() if line.strip().startswith("build/hookhost run ")]
    assert len(cmds) >= 2, cmds
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HOOKHOST_", "_HANDLER", "LAMBDA_"))}
    for cmd in cmds:
        argv = cmd.split("#")[0].split()
        argv[0] = hookhost_bin
        p = subprocess.run(argv, cwd=root, capture_output=True, text=True, env=env, timeout=60)
        assert p.returncode == 0, f"{cmd}: exit {p.returncode}\n{p.stderr}"
        assert outcome(p)["status"] == "Succeeded", cmd


def test_a_result_over_the_limit_is_dropped_and_the_hook_still_succeeds(hookhost, write):
    s = write("big.lua", "return function() return string.rep('x', 9 * 1024 * 1024) end\n")
    p = hookhost("run", s)
    assert p.returncode == 0, p.stderr
    o = outcome(p)
    assert o["status"] == "Succeeded" and o["reason"] == "ok" and "result" not in o
    assert "over the 1048576-byte limit" in p.stderr and "it is dropped" in p.stderr


def test_io_write_and_stderr_go_through_the_log(hookhost, write):
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    s = write("writes.lua", """
return function()
  io.write("glued ")
  io.stdout:write("out line\\n")
  io.stderr:write("err line\\n")
  io.write("secret ", os.getenv("AWS_SECRET_ACCESS_KEY"), "\\n")
  local f = io.open("/dev/stdout", "a")
  if f then f:write("raw stdout\\n"); f:close() end
  io.write("no newline at the end")
end
""")
    p = hookhost("run", s, env={"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_SECRET_ACCESS_KEY": secret,
                                 "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE"})
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["status"] == "Succeeded", p.stdout
    logged = {}
    for l in p.stderr.splitlines():
        if l.startswith("{"):
            j = json.loads(l)
            logged[j["message"]] = j["level"]
    assert logged.get("glued out line") == "INFO", p.stderr
    assert logged.get("err line") == "WARN", p.stderr
    assert logged.get("secret ***") == "INFO", p.stderr
    assert logged.get("no newline at the end") == "INFO", p.stderr
    assert secret not in p.stderr and secret not in p.stdout


@pytest.mark.parametrize("use,reason", [
    ("ctx.log.info('tree', {tree = t})", "memory"),
    ("require('hookhost.aws').json('codedeploy', 'CodeDeploy_20141006', 'GetDeployment', t)",
     "memory"),
    ("do return t end", "ok"),  # a result too large is dropped; the hook's status stands
])
def test_json_of_a_table_repeating_a_subtable_stays_within_the_memory_cap(hookhost_bin, write,
                                                                         tmp_path, use, reason):
    # 2^25 leaves from a table of 25 small ones: ~200 MB of JSON, which cjson would build in
    # malloc'd memory outside Lua's cap.
    s = write("tree.lua", f"""
return function(event, ctx)
  local t = {{'x'}}
  for i = 1, 25 do t = {{t, t}} end
  {use}
end
""")
    cap_mb = 16
    peak = tmp_path / "peak"
    # Started from a small Python rather than from pytest: a process's peak RSS (ru_maxrss)
    # starts from its parent's RSS at the fork, and pytest's grows over a session.
    p = subprocess.run(["/usr/bin/python3", "-c", LAUNCH, str(peak), hookhost_bin, "run",
                        "--dry-run", s], capture_output=True, text=True, timeout=120,
                       env={"HOOKHOST_MEMORY_MB": str(cap_mb), "PATH": "/usr/bin:/bin",
                            "AWS_REGION": "us-east-1"})
    o = json.loads(p.stdout.splitlines()[-1])
    assert o["reason"] == reason, (o, p.stderr)
    if reason == "memory":
        assert "not enough memory" in o["error"]
    assert p.returncode == (0 if reason == "ok" else 1), p.stderr
    maxrss = int(peak.read_text())
    if not os.environ.get("HOOKHOST_SANITIZED"):  # ASan's shadow memory is not hookhost's
        assert maxrss < (cap_mb + 48) * 1024, f"peak RSS {maxrss} KiB"


# Run argv[2:], then write the peak RSS of it and its children (KiB) into argv[1].
LAUNCH = ("import resource, subprocess, sys\n"
          "rc = subprocess.call(sys.argv[2:])\n"
          "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
          "sys.exit(rc)\n")
