"""What README.md and `run --help` tell a hook author matches what the runtime does."""
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_readme_lists_every_ctx_controller_the_runtime_sets(hookhost, write):
    s = write("h.lua", "return function(e, ctx) return ctx.controller end\n")
    events = {
        "codedeploy": {"DeploymentId": "d-ABCDEFGH1", "LifecycleEventHookExecutionId": "x"},
        "ecs": {"executionDetails": {"serviceArn": "arn:s", "targetServiceRevisionArn": "arn:r"}},
        "local": {},
    }
    seen = set()
    for name, ev in events.items():
        p = hookhost("run", "--dry-run", "--event", write(f"{name}.json", json.dumps(ev)), s)
        assert p.returncode == 0, p.stderr
        seen.add(json.loads(p.stdout.splitlines()[-1])["result"])
    assert seen == {"codedeploy", "ecs", "local"}
    seen.add("lambda")  # serve's plain invocations (tests/e2e/test_serve.py)
    readme = " ".join((ROOT / "README.md").read_text().split())
    m = re.search(r"`controller` \(([^)]*)\)", readme)
    assert m, "README.md: no `controller` (...) list"
    assert set(re.findall(r"`(\w+)`", m.group(1))) == seen, m.group(0)


def test_the_scripts_time_under_timeout_60_is_what_the_docs_say(hookhost, write):
    s = write("h.lua", "return function(e, ctx) return ctx.remaining_ms() end\n")
    p = hookhost("run", "--timeout", "60", s)
    assert p.returncode == 0, p.stderr
    left = json.loads(p.stdout.splitlines()[-1])["result"]
    assert 45000 < left <= 53800, left  # 60000 - reserve 6000 - grace 200, minus start-up
    started = re.search(r"script started: .*\(hook h, (\d+) ms", p.stderr)
    assert started and 53000 < int(started.group(1)) <= 53800, p.stderr
    help_text = " ".join(hookhost("run", "--help").stdout.split())
    assert "60000 - 6000 - 200 = 53800 ms" in help_text and "grace" in help_text
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "60000 − 6000 − 200 = 53,800 ms" in readme


def test_run_help_lists_report_not_delivered_as_exit_1(hookhost):
    text = " ".join(hookhost("run", "--help").stdout.split())
    one = text[text.index("; 1 "):text.index("; 2 ")]
    assert "report not delivered" in one and '"reported": false' in one, one


def test_the_readmes_aws_client_example_runs_as_shown(hookhost, write):
    """README's "Calling AWS" example, run offline against canned answers: two pages of tasks."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Calling AWS"):text.index("## Command reference")]
    m = re.search(r"```lua\n(.*?)```", section, re.S)
    assert m, "README.md: no Lua example under Calling AWS"
    stubs = [
        {"service": "ecs", "operation": "DescribeServices",
         "params": {"cluster": "web", "services": ["api"]},
         "answer": {"services": [{"serviceName": "api"}], "failures": []}},
        {"service": "ecs", "operation": "ListTasks", "params": {"cluster": "web"},
         "answer": {"taskArns": ["arn:t1", "arn:t2"], "nextToken": "n1"}},
        {"service": "ecs", "operation": "ListTasks", "params": {"cluster": "web", "nextToken": "n1"},
         "answer": {"taskArns": ["arn:t3"]}},
    ]
    p = hookhost("run", "--stub", write("stubs.json", json.dumps(stubs)), write("h.lua", m.group(1)))
    assert p.returncode == 0, p.stderr
    o = json.loads(p.stdout.splitlines()[-1])
    assert o["status"] == "Succeeded" and o["stubs_unused"] == 0, o
    counts = [int(c) for c in re.findall(r'tasks \{"count":(\d+)\}', p.stderr)]
    assert counts == [2, 1], p.stderr
