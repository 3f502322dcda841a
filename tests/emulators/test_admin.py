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


def test_admin_routes_seed_alarms_and_topics_and_read_published_messages(proc):
    from botocore.exceptions import ClientError

    from emulators.test_cloudwatch import query_client

    p, info = proc
    assert admin(info, "POST", "/alarms", {"name": "api-5xx", "state": "ALARM",
                                           "reason": "5xx over 1%"}) == \
        (200, {"name": "api-5xx", "state": "ALARM"})
    assert admin(info, "POST", "/alarms", {"name": "api-latency"})[0] == 200  # OK by default
    status, err = admin(info, "POST", "/alarms", {"name": "x", "state": "RED"})
    assert status == 400 and "state must be one of" in err["error"], err
    assert admin(info, "POST", "/alarms", {"state": "OK"})[0] == 400  # no name
    cw = query_client(SimpleNamespace(**info), "cloudwatch", info["cloudwatch_url"])
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNamePrefix="api-")["MetricAlarms"]}
    assert alarms["api-5xx"]["StateValue"] == "ALARM"
    assert alarms["api-5xx"]["StateReason"] == "5xx over 1%"
    assert alarms["api-latency"]["StateValue"] == "OK"

    gone = "arn:aws:sns:us-east-1:123456789012:gone"
    topic = "arn:aws:sns:us-east-1:123456789012:deployments"
    assert admin(info, "POST", "/topics", {"arn": gone, "exists": False}) == \
        (200, {"arn": gone, "exists": False})
    sns = query_client(SimpleNamespace(**info), "sns", info["sns_url"])
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=gone, Message="m")
    assert e.value.response["Error"]["Code"] == "NotFound"
    assert admin(info, "POST", "/topics", {"arn": gone})[0] == 200  # exists again
    sns.publish(TopicArn=gone, Message="back")
    mid = sns.publish(TopicArn=topic, Message="deployed", Subject="hookhost")["MessageId"]

    status, out = admin(info, "GET", "/published")
    assert status == 200 and [m["Message"] for m in out["messages"]] == ["back", "deployed"]
    _, out = admin(info, "GET", "/published?topic_arn=" + topic)
    (m,) = out["messages"]
    assert (m["MessageId"], m["Subject"], m["TopicArn"]) == (mid, "hookhost", topic)

    from emulators.test_s3 import s3_client
    assert admin(info, "POST", "/buckets", {"name": "bkt"}) == (200, {"name": "bkt"})
    s3_client(SimpleNamespace(**info)).put_object(Bucket="bkt", Key="a b", Body=b"xyz")
    assert admin(info, "GET", "/objects?bucket=bkt") == (200, {"objects": {"a b": 3}})


def test_alarm_option_seeds_alarms_at_start():
    p = subprocess.Popen([str(SCRIPT), "--max-seconds", "30", "--alarm", "gate",
                          "--alarm", "errors=ALARM"], stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(p.stdout.readline())
        from emulators.test_cloudwatch import query_client
        cw = query_client(SimpleNamespace(**info), "cloudwatch", info["cloudwatch_url"])
        got = {a["AlarmName"]: a["StateValue"] for a in cw.describe_alarms()["MetricAlarms"]}
        assert got == {"gate": "OK", "errors": "ALARM"}
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(5)
    out = subprocess.run([str(SCRIPT), "--alarm", "x=RED", "--max-seconds", "0"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 2 and "--alarm x=RED" in out.stderr


def test_print_env_prints_export_lines_a_shell_can_source(tmp_path):
    p = subprocess.Popen([str(SCRIPT), "--max-seconds", "30", "--print-env",
                          "--session-token", "tok en'$x"], stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("export EMULATORS_ADMIN_URL="):
            line = p.stdout.readline()
            assert line, lines
            lines.append(line)
        assert all(l.startswith("export ") for l in lines), lines
        env_file = tmp_path / "emu.env"
        env_file.write_text("".join(lines))
        names = ["AWS_ENDPOINT_URL_CLOUDFRONT", "AWS_ENDPOINT_URL_CODEDEPLOY",
                 "AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_S3",
                 "AWS_LAMBDA_RUNTIME_API",
                 "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "EMULATORS_ADMIN_URL"]
        script = f". {env_file}; " + "; ".join(f'printf "%s\\n" "${n}"' for n in names)
        got = dict(zip(names, subprocess.run(["bash", "-c", script], capture_output=True,
                                             text=True, check=True).stdout.splitlines()))
        _, info = admin({"admin_url": got["EMULATORS_ADMIN_URL"]}, "GET", "/")
        assert got["AWS_ENDPOINT_URL_CLOUDFRONT"] == info["cloudfront_url"]
        assert got["AWS_ENDPOINT_URL_CODEDEPLOY"] == info["codedeploy_url"]
        assert got["AWS_ENDPOINT_URL_CLOUDWATCH"] == info["cloudwatch_url"]
        assert got["AWS_ENDPOINT_URL_SNS"] == info["sns_url"]
        assert got["AWS_ENDPOINT_URL_S3"] == info["s3_url"]
        assert got["AWS_LAMBDA_RUNTIME_API"] == info["rapi"]
        assert (got["AWS_REGION"], got["AWS_ACCESS_KEY_ID"]) == ("us-east-1", "AKIDEXAMPLE")
        assert got["AWS_SESSION_TOKEN"] == "tok en'$x"  # quoted for the shell
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(5)


def test_help_names_every_service_and_the_shell_options():
    out = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=10)
    text = " ".join(out.stdout.split())
    for service in ("Lambda Runtime API", "CloudFront", "CodeDeploy", "CloudWatch", "SNS", "S3"):
        assert service in text, service
    for route in ("POST /alarms", "POST /topics", "GET /published", "POST /buckets"):
        assert route in text, route
    assert "--print-env" in text and "AWS_ENDPOINT_URL_<SERVICE>" in text
