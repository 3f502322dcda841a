"""docs/HOOKS.md, "Calling any AWS API": the values the docs give for the generic calls, checked
against botocore's service models, and the example hook that uses them
(examples/package/hooks/BeforeInstall.lua: ECS DescribeServices and SSM GetParameter through
aws.json) run with `hookhost run` against local JSON services that verify the SigV4 signature
with botocore, the X-Amz-Target and Content-Type botocore would send, and the body against the
operation's input shape."""
import json
import pathlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
import pytest
from botocore.validate import ParamValidator

from emulators import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from emulators.sigv4 import Rejection, Verifier
from runtime import outcome

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOOK = ROOT / "examples" / "package" / "hooks" / "BeforeInstall.lua"
DOCS = (ROOT / "docs" / "HOOKS.md").read_text()

# What docs/HOOKS.md's table says: service, protocol, JSON version, target prefix, signing name.
DOCUMENTED = {
    "ecs": ("json", "1.1", "AmazonEC2ContainerServiceV20141113", "ecs"),
    "ssm": ("json", "1.1", "AmazonSSM", "ssm"),
    "codedeploy": ("json", "1.1", "CodeDeploy_20141006", "codedeploy"),
    "dynamodb": ("json", "1.0", "DynamoDB_20120810", "dynamodb"),
    "secretsmanager": ("json", "1.1", "secretsmanager", "secretsmanager"),
    "logs": ("json", "1.1", "Logs_20140328", "logs"),
    "events": ("json", "1.1", "AWSEvents", "events"),
}


@pytest.mark.parametrize("service", sorted(DOCUMENTED))
def test_the_documented_values_are_botocores(service):
    meta = botocore.session.get_session().get_service_model(service).metadata
    _, version, prefix, _ = DOCUMENTED[service]
    assert (meta["protocol"], meta.get("jsonVersion"), meta.get("targetPrefix"),
            meta.get("signingName") or meta["endpointPrefix"]) == DOCUMENTED[service]
    assert f"| `{service}` | `{version}` | `{prefix}` |" in DOCS


class JsonService(ThreadingHTTPServer):
    """A JSON-protocol AWS service on 127.0.0.1 that checks what botocore would check."""
    daemon_threads = True

    def __init__(self, name, answers):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.model = botocore.session.get_session().get_service_model(name)
        self.verifier = Verifier(self.model.metadata.get("signingName") or name, "us-east-1",
                                 {DEFAULT_ACCESS_KEY: DEFAULT_SECRET_KEY})
        self.answers = answers  # operation -> (status, body dict)
        self.calls = []
        self.problems = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        s = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        meta = s.model.metadata
        target = self.headers.get("X-Amz-Target", "")
        prefix, _, op = target.partition(".")
        problems = []
        try:
            s.verifier.verify("POST", self.path, self.headers, body)
        except Rejection as e:
            problems.append(f"signature: {e}")
        if prefix != meta["targetPrefix"] or op not in s.model.operation_names:
            problems.append(f"X-Amz-Target {target!r}")
        if self.headers.get("Content-Type") != f"application/x-amz-json-{meta['jsonVersion']}":
            problems.append(f"Content-Type {self.headers.get('Content-Type')!r}")
        params = json.loads(body or b"{}")
        if op in s.model.operation_names:
            report = ParamValidator().validate(params, s.model.operation_model(op).input_shape)
            if report.has_errors():
                problems.append(report.generate_report())
        s.calls.append((op, params))
        s.problems += problems
        status, answer = (400, {"__type": "BadRequest", "message": "; ".join(problems)}) \
            if problems else s.answers[op]
        out = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", f"application/x-amz-json-{meta['jsonVersion']}")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def test_the_example_hook_calls_ecs_and_ssm_as_botocore_would(hookhost):
    ecs = JsonService("ecs", {"DescribeServices": (200, {
        "services": [{"serviceName": "shop", "status": "ACTIVE", "runningCount": 2,
                      "desiredCount": 2}], "failures": []})})
    ssm = JsonService("ssm", {"GetParameter": (200, {
        "Parameter": {"Name": "/shop/url", "Type": "String", "Value": "https://x", "Version": 4}})})
    try:
        env = {"AWS_ENDPOINT_URL_ECS": ecs.url, "AWS_ENDPOINT_URL_SSM": ssm.url,
               "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY,
               "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY, "CLUSTER": "shop-cluster",
               "SERVICE": "shop", "CONFIG_PARAMETER": "/shop/url"}
        p = hookhost("run", str(HOOK), env=env)
        assert ecs.problems == [] and ssm.problems == []
        assert p.returncode == 0, p.stderr
        assert outcome(p)["result"] == {"running": 2, "parameter_version": 4}
        assert ecs.calls == [("DescribeServices", {"cluster": "shop-cluster", "services": ["shop"]})]
        assert ssm.calls == [("GetParameter", {"Name": "/shop/url"})]
        ssm.answers["GetParameter"] = (400, {"__type": "ParameterNotFound", "message": ""})
        p = hookhost("run", str(HOOK), env=env)
        assert p.returncode == 1
        assert "SSM parameter /shop/url does not exist" in outcome(p)["error"]
    finally:
        for s in (ecs, ssm):
            s.shutdown()
            s.server_close()
