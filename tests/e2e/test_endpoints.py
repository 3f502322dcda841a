"""hookhost's default endpoints agree with botocore's: the host and the signing region of the
services hooks call, in every partition botocore's data knows (aws, aws-cn, aws-us-gov, aws-iso,
aws-iso-b). botocore builds and signs a request for each (never sent: a before-send handler
answers it); $HOOKHOST_BUILD/tools/endpoint_resolve resolves the same pairs in one process."""
import http.server
import json
import os
import re
import subprocess
import threading

import botocore
import botocore.awsrequest
import botocore.config
import botocore.session
import pytest

from emulators import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from emulators.sigv4 import Rejection, Verifier
from runtime import outcome

BUILD = os.environ.get("HOOKHOST_BUILD", "build")
TOOL = os.path.join(BUILD, "tools", "endpoint_resolve")

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "il-central-1", "cn-north-1",
           "cn-northwest-1", "us-gov-west-1", "us-gov-east-1", "us-iso-east-1", "us-isob-east-1"]
# botocore service name -> (hookhost's name for it, an operation and its parameters)
SERVICES = {
    "cloudfront": ("cloudfront", "list_distributions", {}),
    "iam": ("iam", "list_users", {}),
    "route53": ("route53", "list_hosted_zones", {}),
    "codedeploy": ("codedeploy", "list_applications", {}),
    "cloudwatch": ("monitoring", "describe_alarms", {}),
    "logs": ("logs", "describe_log_groups", {}),
    "sns": ("sns", "list_topics", {}),
    "lambda": ("lambda", "list_functions", {}),
    "ecs": ("ecs", "list_clusters", {}),
    "ssm": ("ssm", "describe_parameters", {}),
    "secretsmanager": ("secretsmanager", "list_secrets", {}),
    "events": ("events", "list_rules", {}),
    "codepipeline": ("codepipeline", "list_pipelines", {}),
    "elbv2": ("elasticloadbalancing", "describe_load_balancers", {}),
}


def botocore_endpoint(session, service, region):
    client = session.create_client(service, region_name=region, aws_access_key_id="AKID",
                                   aws_secret_access_key="SECRET",
                                   config=botocore.config.Config(retries={"max_attempts": 0}))
    seen = {}

    def before_send(request, **_):
        auth = request.headers["Authorization"]
        auth = auth.decode() if isinstance(auth, bytes) else auth
        scope = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request", auth)
        u = re.match(r"(https://[^/]+)", request.url)
        seen.update(url=u.group(1), region=scope.group(1), signing=scope.group(2))
        return botocore.awsrequest.AWSResponse(request.url, 200, {}, None)

    client.meta.events.register("before-send", before_send)
    _, op, params = SERVICES[service]
    try:
        getattr(client, op)(**params)
    except Exception:  # the empty answer does not parse for every protocol; the request was seen
        pass
    return seen


def test_default_endpoints_match_botocore():
    if not os.path.exists(TOOL):
        pytest.skip(f"{TOOL} is missing: build it with `make unit` (or set HOOKHOST_BUILD)")
    session = botocore.session.get_session()
    pairs = [(s, r) for s in SERVICES for r in REGIONS]
    text = "".join(f"{SERVICES[s][0]} {r}\n" for s, r in pairs)
    out = subprocess.run([TOOL], input=text, capture_output=True, text=True, timeout=60,
                         check=True).stdout.splitlines()
    assert len(out) == len(pairs)
    wrong = []
    for (service, region), line in zip(pairs, out):
        want = botocore_endpoint(session, service, region)
        assert want, (service, region)
        got = dict(zip(("url", "region", "signing"), line.split()))
        if got != want:
            wrong.append(f"{service} {region}: hookhost {line!r}, botocore {want}")
    assert not wrong, "\n".join(wrong)


# ---- AWS_ENDPOINT_URL_<SERVICE>: named from the service id, as the AWS SDKs do --------------------

def sdk_variable(service_id):
    """The SDKs' rule: the model's serviceId, spaces as '_', upper-cased."""
    return "AWS_ENDPOINT_URL_" + service_id.replace(" ", "_").upper()


def botocore_services():
    """(model folder, serviceId, endpointPrefix, signingName) of every botocore model."""
    loader = botocore.session.get_session().get_component("data_loader")
    out = []
    for name in loader.list_available_services("service-2"):
        meta = loader.load_service_model(name, "service-2")["metadata"]
        out.append((name, meta["serviceId"], meta["endpointPrefix"],
                    meta.get("signingName", meta["endpointPrefix"])))
    return out


GEN_MODELS = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "gen-models")
TABLE_ROW = re.compile(r'^\{"([^"]*)", "([^"]*)", "([^"]*)", "([^"]*)"\},$')


def generated_table(tmp_path, data=None):
    """The rows of the C service table scripts/gen-models --c-table writes (what make compiles
    into src/aws.c), generated from data (botocore's own data/ folder by default)."""
    out = tmp_path / "aws_services.inc"
    argv = [GEN_MODELS, "--services", "sts", "--out", str(tmp_path / "models"),
            "--c-table", str(out)]
    if data:
        argv += ["--data", str(data)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    rows = []
    for line in out.read_text().splitlines():
        if not line.startswith("/*"):
            m = TABLE_ROW.match(line)
            assert m, line
            rows.append(m.groups())
    return rows


def test_the_service_table_is_botocores(tmp_path):
    """The generator's table is botocore's, loaded by botocore itself: every service, whatever
    --services says, in folder order."""
    rows = generated_table(tmp_path)
    want = sorted(botocore_services())
    assert len(rows) == len(want) > 300
    assert rows == want


def test_the_service_table_follows_the_models(tmp_path):
    """The table is made from the data folder given (make's BOTOCORE_DATA): a changed service id
    or signing name, a missing signing name (the endpoint prefix) and a new service show."""
    botocore_data = os.path.join(os.path.dirname(botocore.__file__), "data")
    data = tmp_path / "data"
    for name in ("stepfunctions", "sts"):
        src = os.path.join(botocore_data, name)
        version = sorted(os.listdir(src))[-1]
        dest = data / name / version
        dest.mkdir(parents=True)
        model = json.loads(open(os.path.join(src, version, "service-2.json")).read())
        if name == "stepfunctions":
            model["metadata"]["serviceId"] = "Step Functions X"
            model["metadata"]["signingName"] = "statesx"
        (dest / "service-2.json").write_text(json.dumps(model))
    extra = data / "hookhost-made-up" / "2020-01-01"
    extra.mkdir(parents=True)
    (extra / "service-2.json").write_text(json.dumps({
        "metadata": {"serviceId": "Made Up", "endpointPrefix": "made-up", "protocol": "json"},
        "operations": {}, "shapes": {}}))
    rows = generated_table(tmp_path, data)
    assert rows == [("hookhost-made-up", "Made Up", "made-up", "made-up"),
                    ("stepfunctions", "Step Functions X", "states", "statesx"),
                    ("sts", "STS", "sts", "sts")]
    # a value the C initializer cannot hold is refused, naming the service
    model = json.loads((extra / "service-2.json").read_text())
    model["metadata"]["serviceId"] = 'Made "Up"'
    (extra / "service-2.json").write_text(json.dumps(model))
    p = subprocess.run([GEN_MODELS, "--data", str(data), "--services", "sts", "--out",
                        str(tmp_path / "models"), "--c-table", str(tmp_path / "bad.inc")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "hookhost-made-up" in p.stderr, p.stderr
    assert not (tmp_path / "bad.inc").exists()


def test_every_service_name_reads_the_sdks_variable():
    """Every name that stands for exactly one botocore service (its endpoint prefix, its
    serviceId, its model folder) resolves to that service's signing name and to the variable the
    SDKs read, AWS_ENDPOINT_URL_<serviceId>; a prefix shared by services of different ids is
    refused unless the name is also one's id or folder."""
    if not os.path.exists(TOOL):
        pytest.skip(f"{TOOL} is missing: build it with `make unit` (or set HOOKHOST_BUILD)")
    rows = botocore_services()
    norm = lambda s: s.replace(" ", "_").replace("-", "_").upper()
    ids_by_prefix = {}
    for _, sid, prefix, _ in rows:
        ids_by_prefix.setdefault(prefix.lower(), set()).add(sid)
    cases = []
    ids_by_signing = {}
    for _, sid, _, signing in rows:
        ids_by_signing.setdefault(signing.lower(), set()).add(sid)
    for folder, sid, prefix, signing in rows:
        for name in (prefix, sid.replace(" ", "_"), folder, signing):
            others = ids_by_prefix.get(name.lower(), set()) - {sid}
            named_elsewhere = any(norm(name) in (norm(s), norm(f)) and s != sid
                                  for f, s, _, _ in rows)
            if others or named_elsewhere:
                continue  # the name also stands for another service
            if name == signing and name not in (prefix, folder) and norm(name) != norm(sid) \
                    and ids_by_signing[name.lower()] != {sid}:
                continue  # a signing name several services share stands for none of them
            cases.append((name, sid, signing))
    # hookhost's own table keeps its names for the services it documents (same ids as botocore)
    assert ("states", "SFN", "states") in cases and ("stepfunctions", "SFN", "states") in cases
    assert ("awsssoportal", "SSO", "awsssoportal") in cases and ("ses", "SES", "ses") in cases
    text = "".join(f"{name} us-east-1\n" for name, _, _ in cases)
    out = subprocess.run([TOOL], input=text, capture_output=True, text=True, timeout=60,
                         check=True).stdout.splitlines()
    assert len(out) == len(cases)
    wrong = []
    for (name, sid, signing), line in zip(cases, out):
        parts = line.split()
        if line.startswith("error") or parts[2] != signing or parts[3] != sdk_variable(sid):
            wrong.append(f"{name}: {line!r}, expected signing {signing}, {sdk_variable(sid)}")
    assert not wrong, f"{len(wrong)} of {len(cases)} wrong:\n" + "\n".join(wrong[:30])
    shared = subprocess.run([TOOL], input="email us-east-1\napigateway us-east-1\n",
                            capture_output=True, text=True, timeout=60).stdout.splitlines()
    assert shared[0].startswith("error: service 'email' is the endpoint prefix of several")
    assert shared[1].split()[2:] == ["apigateway", "AWS_ENDPOINT_URL_API_GATEWAY"]


class _StatesHandler(http.server.BaseHTTPRequestHandler):
    """A Step Functions stand-in: checks every SigV4 signature with botocore for the signing name
    states (emulators.sigv4.Verifier) and answers {}."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            self.server.verifier.verify("POST", self.path, self.headers, body)
            signature = "ok"
        except Rejection as e:
            signature = e.kind
        self.server.hits.append({"signature": signature, "body": body.decode(),
                                 "target": self.headers.get("X-Amz-Target")})
        data = b"{}" if signature == "ok" else b'{"__type": "InvalidSignatureException"}'
        self.send_response(200 if signature == "ok" else 403)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def states():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StatesHandler)
    srv.daemon_threads = True
    srv.hits = []
    srv.verifier = Verifier("states", "us-east-1", {DEFAULT_ACCESS_KEY: DEFAULT_SECRET_KEY})
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


SFN_HOOK = """
local aws = require("hookhost.aws")
local json = require("hookhost.json")
return function(event)
  local r, err = aws.json(event.service, "AWSStepFunctions", "ListStateMachines",
                          {maxResults = 10, tags = json.empty_array})
  if not r then return {err = tostring(err), code = err.code} end
  return {ok = true}
end
"""


@pytest.mark.parametrize("service", ["states", "SFN", "stepfunctions"])
def test_aws_endpoint_url_sfn_is_read_for_step_functions(hookhost, write, states, service):
    env = {"AWS_ENDPOINT_URL_SFN": states.url, "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY}
    p = hookhost("run", "--event", write("e.json", json.dumps({"service": service})),
                 write("sfn.lua", SFN_HOOK), env=env)
    assert outcome(p)["result"] == {"ok": True}, p.stderr
    assert len(states.hits) == 1 and states.hits[0]["signature"] == "ok"
    assert states.hits[0]["target"] == "AWSStepFunctions.ListStateMachines"
    assert json.loads(states.hits[0]["body"]) == {"maxResults": 10, "tags": []}


def test_the_old_variable_name_is_refused_not_ignored(hookhost, write, states):
    env = {"AWS_ENDPOINT_URL_STATES": states.url, "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY}
    p = hookhost("run", "--event", write("e.json", json.dumps({"service": "states"})),
                 write("sfn.lua", SFN_HOOK), env=env)
    r = outcome(p)["result"]
    assert r["code"] == "InvalidEndpoint" and states.hits == []
    assert ("AWS_ENDPOINT_URL_STATES is set, but the AWS SDKs' variable for states "
            "(service id \"SFN\") is AWS_ENDPOINT_URL_SFN: rename it") in r["err"]
