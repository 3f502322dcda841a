"""scripts/emulators as a process: the JSON line, the admin API, and every way it stops."""

import http.client
import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from emulators.clients import client

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "emulators"


@pytest.fixture
def proc():
    p = subprocess.Popen([str(SCRIPT), "--max-seconds", "30", "--invalidation-seconds", "0.1"],
                         stdout=subprocess.PIPE, text=True)
    info = json.loads(p.stdout.readline())
    yield p, info
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    p.wait(5)


def admin(info, method, path, body=None):
    req = urllib.request.Request(info["admin_url"] + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_command_prints_loopback_urls_and_serves_the_admin_api(proc):
    p, info = proc
    for key in ("rapi_url", "cloudfront_url", "codedeploy_url", "admin_url"):
        assert info[key].startswith("http://127.0.0.1:")
    assert info["rapi"] == info["rapi_url"][len("http://"):]
    assert admin(info, "GET", "/") == (200, info)

    status, dep = admin(info, "POST", "/deployments", {})
    assert status == 200 and dep["deployment_id"].startswith("d-")
    _, ex = admin(info, "POST", "/hook-executions", {"deployment_id": dep["deployment_id"]})
    event = {"DeploymentId": dep["deployment_id"],
             "LifecycleEventHookExecutionId": ex["execution_id"]}
    _, queued = admin(info, "POST", "/events", {"event": event, "timeout": 20})
    assert admin(info, "POST", "/faults", {"kind": "http500", "service": "cloudfront"})[0] == 200

    # a runtime takes the event and reports through CodeDeploy
    c = http.client.HTTPConnection(*info["rapi"].split(":"), timeout=5)
    c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse()
    assert json.loads(r.read()) == event
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    assert rid == queued["request_id"]
    client(SimpleNamespace(**info), "codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=dep["deployment_id"], lifecycleEventHookExecutionId=ex["execution_id"],
        status="Succeeded")
    c.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", b'{"status":"Succeeded"}')
    assert c.getresponse().status == 202

    status, out = admin(info, "GET", f"/outcomes?request_id={rid}&wait=2")
    assert status == 200
    (inv,) = out["invocations"]
    assert inv["outcome"]["kind"] == "response" and inv["outcome"]["before_deadline"]
    assert [r["status"] for r in out["reports"]] == ["Succeeded"]
    assert out["signature_failures"] == 0 and out["first_next_time"] is not None
    _, log = admin(info, "GET", "/requests?service=codedeploy")
    assert [e["operation"] for e in log["requests"]] == ["PutLifecycleEventHookExecutionStatus"]

    assert admin(info, "POST", "/faults", {"kind": "nope", "service": "rapi"})[0] == 400
    assert admin(info, "POST", "/hook-executions", {})[0] == 400
    status, err = admin(info, "POST", "/hook-executions", {"deployment_id": "d-NOSUCH123"})
    assert status == 400 and "no seeded deployment" in err["error"]
    assert admin(info, "GET", "/nowhere")[0] == 404

    assert admin(info, "POST", "/shutdown") == (200, {"status": "stopping"})
    assert p.wait(5) == 0


def test_sigterm_stops_the_command(proc):
    p, _ = proc
    p.send_signal(signal.SIGTERM)
    assert p.wait(5) == 0


def test_max_seconds_stops_the_command():
    start = time.monotonic()
    out = subprocess.run([str(SCRIPT), "--max-seconds", "0.5"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0 and time.monotonic() - start < 5
    assert set(json.loads(out.stdout)) >= {"rapi", "cloudfront_url", "codedeploy_url", "admin_url"}


def test_help_lists_the_options():
    out = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    for option in ("--max-seconds", "--session-token", "--region", "--log", "--distribution"):
        assert option in out.stdout
